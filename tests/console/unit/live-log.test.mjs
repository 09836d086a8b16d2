// The debug console's stream parser and event ring, run in Node (they are plain modules).
import test from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from '../../../web-console/sse.js';
import { EventRing, keyOf } from '../../../web-console/event-log.js';

test('the SSE parser joins data lines, keeps the last id and survives any chunking', () => {
  const stream = 'event: lifecycle\nid: 1\ndata: {"a":\ndata: 1}\n\n: keep-alive\n\nevent: lifecycle\r\nid: 2\r\ndata: {"b":2}\r\n\r\ndata: x\n\n';
  for (const size of [1, 2, 3, 7, stream.length]) {
    const got = [];
    const parser = new SseParser((e) => got.push(e));
    for (let i = 0; i < stream.length; i += size) parser.push(stream.slice(i, i + size));
    assert.deepEqual(got, [
      { event: 'lifecycle', data: '{"a":\n1}', id: '1' },
      { event: 'lifecycle', data: '{"b":2}', id: '2' },
      { event: 'message', data: 'x', id: '2' },
    ], `chunks of ${size}`);
  }
});

const ev = (i, extra = {}) => ({ id: String(i), time: 1000 + i, app_id: 'a', node: 'n', kind: 'connection_opened', socket_id: `s${i % 3}`, ...extra });

test('the ring keeps the last events once each, in order, and the filtered rows with them', () => {
  const ring = new EventRing(100);
  ring.setFilters({ kinds: [], channel: '', socket: 's1', user: '', text: '' });
  ring.add(Array.from({ length: 300 }, (_, i) => ev(i)));
  assert.ok(ring.entries.length >= 100 && ring.entries.length <= 600);
  ring.add(Array.from({ length: 400 }, (_, i) => ev(i + 300)));
  assert.ok(ring.entries.length <= 600, `at most capacity + slack, got ${ring.entries.length}`);
  assert.equal(ring.entries.at(-1).event.id, '699');
  assert.ok(ring.shown.every((e) => e.event.socket_id === 's1'));
  assert.equal(ring.shown.at(-1).event.id, '697');
  assert.equal(ring.shown[0].seq >= ring.entries[0].seq, true, 'no filtered row older than the ring');
  // a backlog overlapping what came live is merged once, older first
  const live = new EventRing(100);
  live.add([ev(5), ev(6)]);
  live.addBacklog([ev(6), ev(4), ev(3), ev(5)]);
  assert.deepEqual(live.entries.map((e) => e.event.id), ['3', '4', '5', '6']);
  assert.equal(live.add([ev(6)]), 0, 'a duplicate id is not added');
  // without ids: identical events in the stream are all kept; the backlog's copies of streamed ones are not
  const bare = (i) => ({ ...ev(i), id: undefined });
  const noIds = new EventRing(100);
  assert.equal(noIds.add([bare(7), bare(7), bare(8)]), 3);
  noIds.addBacklog([bare(6), bare(7), bare(8)]);
  assert.deepEqual(noIds.entries.map((e) => e.event.time), [1006, 1007, 1007, 1008]);
  assert.notEqual(keyOf(bare(1)), keyOf(bare(2)));
});

test('pausing counts the rows that came since', () => {
  const ring = new EventRing(100);
  ring.add([ev(1), ev(2)]);
  const mark = ring.seq;
  ring.add([ev(3), ev(4), ev(5)]);
  assert.equal(ring.countUpTo(mark), 2);
  assert.equal(ring.shown.length - ring.countUpTo(mark), 3);
});
