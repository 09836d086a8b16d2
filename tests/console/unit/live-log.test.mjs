// The debug console's stream parser and event ring, run in Node (they are plain modules).
import test from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from '../../../web-console/sse.js';
import { EventRing } from '../../../web-console/event-log.js';

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
  assert.equal(ring.entries.length, 100, 'never more than its capacity');
  ring.add(Array.from({ length: 400 }, (_, i) => ev(i + 300)));
  assert.equal(ring.entries.length, 100);
  assert.equal(ring.entries[0].event.id, '600');
  assert.equal(ring.entries.at(-1).event.id, '699');
  assert.ok(ring.shown.every((e) => e.event.socket_id === 's1'));
  assert.equal(ring.shown.at(-1).event.id, '697');
  assert.equal(ring.shown[0].seq >= ring.entries[0].seq, true, 'no filtered row older than the ring');
  assert.equal(ring.lastId(), '699');
});

test('the backlog, the live stream and its replay after a reconnect overlap: each id is kept once', () => {
  const live = new EventRing(100);
  live.add([ev(5), ev(6)]);
  live.addBacklog([ev(6), ev(4), ev(3), ev(5)]);
  assert.deepEqual(live.entries.map((e) => e.event.id), ['3', '4', '5', '6'], 'the backlog before what came live, oldest first');
  // a reconnect with Last-Event-ID 6 replays from shortly before it
  assert.equal(live.add([ev(4), ev(5), ev(6), ev(7)]), 1, 'only the missed event is added');
  assert.deepEqual(live.entries.map((e) => e.event.id), ['3', '4', '5', '6', '7']);
  // two events alike in every field but the id are both kept
  const twins = new EventRing(100);
  assert.equal(twins.add([{ ...ev(1), id: 'a' }, { ...ev(1), id: 'b' }]), 2);
  // cleared events do not come back with a replay; new ones do
  live.clear();
  assert.equal(live.add([ev(6), ev(7), ev(8)]), 1);
  assert.deepEqual(live.entries.map((e) => e.event.id), ['8']);
  // an event logged before ids existed (empty id) is shown, never merged
  const old = new EventRing(100);
  assert.equal(old.add([{ ...ev(1), id: '' }, { ...ev(1), id: '' }]), 2);
});

test('pausing counts the rows that came since', () => {
  const ring = new EventRing(100);
  ring.add([ev(1), ev(2)]);
  const mark = ring.seq;
  ring.add([ev(3), ev(4), ev(5)]);
  assert.equal(ring.countUpTo(mark), 2);
  assert.equal(ring.shown.length - ring.countUpTo(mark), 3);
});
