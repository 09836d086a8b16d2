// Graceful shutdown: SIGTERM/SIGINT close every socket with 4200 (after a
// pusher:error 4200) so clients reconnect elsewhere, then exit 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, connected, subscribed, waitFor, pusherErrorCode,
} from './helpers/herald.mjs';

async function expect4200(s) {
  const err = await s.error(10000);
  assert.equal(err.data.code, 4200);
  assert.ok(err.data.message.length > 0);
  assert.equal((await s.waitClosed()).code, 4200);
}

test('SIGTERM closes every socket with 4200 and exits 0', async (t) => {
  const h = await startHerald(t);
  const other = await h.createApp('other');
  const sockets = [await h.rawConnected(), await h.rawConnected()];
  await sockets[0].subscribed('busy');
  await sockets[1].subscribed('private-busy', h.auth(sockets[1].socketId, 'private-busy'));
  // a socket of another app on the same node
  let otherSocket;
  for (let i = 0; i < 40 && !otherSocket; i++) {
    const s = h.rawSocket(`/app/${other.key}?protocol=7`);
    const f = await s.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    if (f.event === 'pusher:connection_established') otherSocket = s;
    else await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(otherSocket, 'second app never accepted a connection');
  sockets.push(otherSocket);

  const exited = h.signal('SIGTERM');
  await Promise.all(sockets.map(expect4200));
  const { code, signal } = await exited;
  assert.equal(signal, null, 'exited by itself, not killed');
  assert.equal(code, 0);
});

test('SIGINT is graceful too', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  const exited = h.signal('SIGINT');
  await expect4200(s);
  const { code } = await exited;
  assert.equal(code, 0);
});

test('pusher-js sees 4200 as "reconnect now" and the node stops accepting', async (t) => {
  const h = await startHerald(t);
  const client = h.pusherClient();
  await connected(client);
  await subscribed(client.subscribe('news'));
  const err = waitFor(client.connection, 'error', 10000, {
    filter: (e) => pusherErrorCode(e) === 4200,
    what: 'pusher-js error 4200',
  });
  const leaving = waitFor(client.connection, 'state_change', 10000, {
    filter: (s) => s.previous === 'connected',
    what: 'pusher-js to leave the connected state',
  });
  const exited = h.signal('SIGTERM');
  await err;
  await leaving;
  assert.equal((await exited).code, 0);
  await assert.rejects(fetch(`${h.url}/readyz`), 'nothing listens after exit');
  client.disconnect();
});

test('an idle node exits 0 on SIGTERM', async (t) => {
  const h = await startHerald(t);
  const { code, signal } = await h.signal('SIGTERM');
  assert.equal(signal, null);
  assert.equal(code, 0);
});
