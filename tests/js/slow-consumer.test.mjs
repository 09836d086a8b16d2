// A client that stops reading: once the kernel's buffers and its outbound queue are full, the server
// closes it as a slow consumer (4100) rather than skipping messages. What it received is a gap-free
// prefix of the channel, and resuming from its last message brings exactly the rest, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, eventually, sleep } from './helpers/herald.mjs';

const FILLER = 'x'.repeat(9000); // under the app's 10 KB payload limit
const QUEUE = 8; // HERALD_OUTBOUND_QUEUE: frames waiting for one connection

/** Closes of `cause` counted in node's /metrics. */
async function closedBecause(node, appId, cause) {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n')
    .find((l) => l.startsWith(`herald_connections_closed_total{app="${appId}",cause="${cause}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test('a client that stops reading is closed as a slow consumer after a gap-free prefix, and resumes the rest', async (t) => {
  // Every message published here stays resumable (in a cluster the stream's own limit applies too).
  const h = await startHerald(t, {
    app: { historyMaxMessages: 2000 },
    env: { HERALD_OUTBOUND_QUEUE: String(QUEUE), HERALD_HISTORY_SIZE: '2000' },
  });
  const node = h.nodes?.[0] ?? h; // the first raw socket goes to node A
  const s = await h.rawConnected();
  await s.subscribed('slow');
  s.ws._socket.pause(); // the client reads nothing from now on

  // 13.5 MB for a client that reads nothing: the kernel holds a few MB (the server's send buffer
  // grows to 4 MB; a receive buffer grows only as its reader reads), the queue 8 frames more.
  const sdk = h.serverSdk();
  const published = 1500;
  for (let i = 1; i <= published; i++) await sdk.trigger('slow', 'm', { i, filler: FILLER });
  // Recorded once the close handshake is over (it waits up to 2 s for the client to read).
  await eventually(async () => await closedBecause(node, h.app.id, 'slow_consumer') >= 1,
    { timeout: 10000, what: 'the slow consumer\'s close, counted in /metrics' });

  s.ws._socket.resume();
  await s.waitClosed(10000);
  const got = s.all((f) => f.event === 'm' && f.channel === 'slow');
  const numbers = got.map((f) => f.data.i);
  assert.ok(numbers.length > 0 && numbers.length < published, `received ${numbers.length} of ${published}`);
  assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, j) => j + 1), 'a prefix with no gap');

  const last = got.at(-1);
  const again = await h.rawConnected();
  const ok = await again.subscribed('slow', { resume: { epoch: last.epoch, serial: last.serial } }, 10000);
  assert.equal(ok.recovered, true, JSON.stringify(ok));
  const rest = Array.from({ length: published - numbers.length }, (_, j) => numbers.length + j + 1);
  await eventually(() => again.all((f) => f.event === 'm').length >= rest.length,
    { timeout: 10000, what: `the ${rest.length} missed messages` });
  await sleep(100); // nothing more, nothing twice
  assert.deepEqual(again.all((f) => f.event === 'm').map((f) => f.data.i), rest, 'exactly the rest, in order');
});
