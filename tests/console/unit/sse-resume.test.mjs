// The live stream's reader (web-console/sse.js) against a fake server: it sends the access token,
// reconnects after a drop with Last-Event-ID (the last id seen, or the newest the backlog loaded
// when the stream carried none), and says so through its states.
import test from 'node:test';
import assert from 'node:assert/strict';
import { openStream } from '../../../web-console/sse.js';

/** A fetch that answers each call with the next of `bodies` (an SSE text, ended after it), recording the request headers. */
function fakeFetch(bodies) {
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, headers: { ...init.headers } });
    const body = bodies.shift();
    if (body === undefined) {
      // the last connection stays open until aborted
      return new Response(new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(': live\n\n'));
          init.signal.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
        },
      }), { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
  return { fetch, requests };
}

const lifecycle = (id) => `event: lifecycle\nid: ${id}\ndata: {"id":"${id}","time":1,"app_id":"a","node":"n","kind":"signin"}\n\n`;

test('a dropped stream reconnects with Last-Event-ID, the last id it carried', async (t) => {
  const { fetch, requests } = fakeFetch([`: live\n\n${lifecycle('100-n-1')}${lifecycle('100-n-2')}`]);
  const real = globalThis.fetch;
  globalThis.fetch = fetch;
  t.after(() => { globalThis.fetch = real; });
  const got = [];
  const states = [];
  const close = openStream('/api/v1/apps/a/events/live', {
    onEvent: (e) => got.push(e.id),
    onState: (s) => states.push(s),
    resumeFrom: () => 'from-the-backlog',
  });
  t.after(close);
  const deadline = Date.now() + 5000;
  while (requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(requests.length, 2, 'reconnected after the drop');
  assert.equal(requests[0].headers['last-event-id'], undefined, 'the first request resumes from nothing');
  assert.equal(requests[1].headers['last-event-id'], '100-n-2', 'the reconnect resumes after the last id carried');
  assert.deepEqual(got, ['100-n-1', '100-n-2']);
  assert.deepEqual(states.slice(0, 4), ['connecting', 'live', 'reconnecting', 'reconnecting']);
});

test('a stream that carried no event resumes after the newest event the backlog loaded', async (t) => {
  const { fetch, requests } = fakeFetch([': live\n\n']);
  const real = globalThis.fetch;
  globalThis.fetch = fetch;
  t.after(() => { globalThis.fetch = real; });
  let newest = null;
  const close = openStream('/api/v1/apps/a/events/live', { onEvent: () => {}, resumeFrom: () => newest });
  t.after(close);
  newest = '99-n-7'; // the backlog's answer arrives while the first stream is open
  const deadline = Date.now() + 5000;
  while (requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(requests[1]?.headers['last-event-id'], '99-n-7');
});
