// Connection-ending errors: each is a pusher:error frame carrying the code,
// then a WebSocket close frame with the same code (never a bare TCP drop).
// 4200 is in shutdown.test, 4201 in connection.test, 4301 in
// client-events.test, 4009-by-terminate and 4302 in users.test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, connected, waitFor, pusherErrorCode, eventually, clusterSkip, refusedOverCount,
} from './helpers/herald.mjs';

/** Asserts the socket got pusher:error {code} and then a close frame {code}. */
async function expectRefusal(s, code) {
  const err = await s.error();
  assert.equal(err.data.code, code, `pusher:error code (message: ${err.data.message})`);
  assert.equal(typeof err.data.message, 'string');
  assert.ok(err.data.message.length > 0, 'error message is not empty');
  assert.equal(s.all((f) => f.event === 'pusher:connection_established').length, 0,
    'no connection_established before a refusal');
  const closed = await s.waitClosed();
  assert.equal(closed.code, code, 'close frame code');
  return err;
}

test('4001: unknown app key', async (t) => {
  const h = await startHerald(t);
  await expectRefusal(h.rawSocket('/app/no-such-key?protocol=7'), 4001);
});

test('4001 reaches pusher-js as a connection error and it does not keep retrying', async (t) => {
  const h = await startHerald(t);
  const client = h.pusherClient({ key: 'no-such-key' });
  const err = waitFor(client.connection, 'error', 5000, {
    filter: (e) => pusherErrorCode(e) === 4001,
    what: 'pusher-js error with code 4001',
  });
  const gaveUp = waitFor(client.connection, 'state_change', 5000, {
    filter: (s) => s.current === 'disconnected' || s.current === 'failed',
    what: 'pusher-js to give up (4000-4099 means do not reconnect)',
  });
  assert.equal(pusherErrorCode(await err), 4001);
  await gaveUp;
});

test('4003: app disabled (at creation and when disabled on a live node)', async (t) => {
  const h = await startHerald(t, { app: { enabled: false } });
  await expectRefusal(h.rawSocket(), 4003);

  await h.update({ enabled: true });
  await eventually(async () => {
    const s = h.rawSocket();
    const f = await s.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    return f.event === 'pusher:connection_established';
  }, { what: 're-enabled app to accept connections' });

  await h.update({ enabled: false });
  const s = await eventually(async () => {
    const sock = h.rawSocket();
    const f = await sock.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    return f.event === 'pusher:error' ? sock : false;
  }, { what: 'disabled app to refuse connections' });
  const err = s.all((f) => f.event === 'pusher:error')[0];
  assert.equal(err.data.code, 4003);
  assert.equal((await s.waitClosed()).code, 4003);
});

test('4004: app over its connection quota; a freed slot is reusable', async (t) => {
  const h = await startHerald(t, { app: { maxConnections: 2 } });
  const a = await h.rawConnected();
  await h.rawConnected();
  await expectRefusal(await refusedOverCount(() => h.rawSocket()), 4004);

  a.ws.close(1000);
  await a.waitClosed();
  await eventually(async () => {
    const s = h.rawSocket();
    const f = await s.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    return f.event === 'pusher:connection_established';
  }, { what: 'a connection to be accepted after one of two closed' });
});

test('4004 limit is per app: another app on the node is not affected', async (t) => {
  const h = await startHerald(t, { app: { maxConnections: 1 } });
  const other = await h.createApp('other');
  await h.rawConnected();
  await expectRefusal(await refusedOverCount(() => h.rawSocket()), 4004);
  const s = await eventually(async () => {
    const sock = h.rawSocket(`/app/${other.key}?protocol=7`);
    const f = await sock.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    return f.event === 'pusher:connection_established' ? sock : false;
  }, { what: 'the other app to accept a connection' });
  assert.ok(s.open);
});

test('4005: WebSocket upgrade on an unknown path', async (t) => {
  const h = await startHerald(t);
  await expectRefusal(h.rawSocket(`/nope/${h.app.key}?protocol=7`), 4005);
});

test('4006: protocol that is not a number', async (t) => {
  const h = await startHerald(t);
  await expectRefusal(h.rawSocket(`/app/${h.app.key}?protocol=abc`), 4006);
});

test('4007: unsupported protocol versions', async (t) => {
  const h = await startHerald(t);
  for (const v of ['2', '99']) {
    await expectRefusal(h.rawSocket(`/app/${h.app.key}?protocol=${v}`), 4007);
  }
  // while 7 is fine
  await h.rawConnected(`/app/${h.app.key}?protocol=7`);
});

test('4008: no protocol parameter', async (t) => {
  const h = await startHerald(t);
  await expectRefusal(h.rawSocket(`/app/${h.app.key}`), 4008);
  await expectRefusal(h.rawSocket(`/app/${h.app.key}?client=js&version=8.4.0`), 4008);
});

test('4009: origin not in the allowed list; allowed origins connect', async (t) => {
  const h = await startHerald(t, { app: { allowedOrigins: ['https://a.example', 'https://b.example'] } });
  await expectRefusal(h.rawSocket(undefined, { origin: 'https://evil.example' }), 4009);
  await h.rawConnected(undefined, { origin: 'https://a.example' });
  await h.rawConnected(undefined, { origin: 'https://b.example' });
});

test('an app with no allowed origins accepts any origin', async (t) => {
  const h = await startHerald(t);
  await h.rawConnected(undefined, { origin: 'https://anything.example' });
});

test('4100: node over capacity (HERALD_MAX_CONNECTIONS), across apps', {
  skip: clusterSkip('HERALD_MAX_CONNECTIONS is one process\'s capacity; the connections go to three nodes'),
}, async (t) => {
  const h = await startHerald(t, { env: { HERALD_MAX_CONNECTIONS: '2' } });
  const other = await h.createApp('other');
  await h.rawConnected();
  // the second app counts against the same node capacity
  await eventually(async () => {
    const sock = h.rawSocket(`/app/${other.key}?protocol=7`);
    const f = await sock.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    if (f.event !== 'pusher:connection_established') sock.close();
    return f.event === 'pusher:connection_established';
  }, { what: 'the other app to accept a connection' });
  await expectRefusal(h.rawSocket(), 4100);
});

test('4100: too many connections from one address (HERALD_MAX_CONNECTIONS_PER_ADDRESS); other addresses go on', {
  skip: clusterSkip('the limit is per node; the connections go to three nodes'),
}, async (t) => {
  const h = await startHerald(t, { env: { HERALD_MAX_CONNECTIONS_PER_ADDRESS: '2' } });
  const first = await h.rawConnected(undefined, { localAddress: '127.0.0.1' });
  await h.rawConnected(undefined, { localAddress: '127.0.0.1' });
  await expectRefusal(h.rawSocket(undefined, { localAddress: '127.0.0.1' }), 4100);
  await h.rawConnected(undefined, { localAddress: '127.0.0.2' });
  first.close();
  await eventually(async () => {
    const sock = h.rawSocket(undefined, { localAddress: '127.0.0.1' });
    const f = await sock.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    if (f.event !== 'pusher:connection_established') sock.close();
    return f.event === 'pusher:connection_established';
  }, { what: 'a place for the address once one of its connections closed' });
});

test('pusher-js connected to a healthy app is unaffected by refusals of others', async (t) => {
  const h = await startHerald(t, { app: { maxConnections: 1 } });
  const client = h.pusherClient();
  await connected(client);
  await expectRefusal(await refusedOverCount(() => h.rawSocket()), 4004);
  const ch = client.subscribe('still-fine');
  await waitFor(ch, 'pusher:subscription_succeeded');
  const got = waitFor(ch, 'ev');
  await h.serverSdk().trigger('still-fine', 'ev', { ok: 1 });
  assert.deepEqual(await got, { ok: 1 });
});

test('origin and connection-quota changes reach a live node', async (t) => {
  const h = await startHerald(t);
  await h.rawConnected(undefined, { origin: 'https://evil.example' });
  await h.update({ allowedOrigins: ['https://good.example'] });
  await eventually(async () => {
    const s = h.rawSocket(undefined, { origin: 'https://evil.example' });
    const f = await s.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    s.close();
    return f.event === 'pusher:error' && f.data.code === 4009;
  }, { what: 'origin https://evil.example to be refused with 4009 after the update' });
  await h.rawConnected(undefined, { origin: 'https://good.example' });

  await h.update({ allowedOrigins: '', maxConnections: 2 });
  await eventually(async () => {
    const s = h.rawSocket(undefined, { origin: 'https://good.example' });
    const f = await s.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    if (f.event === 'pusher:error') s.close();
    return f.event === 'pusher:error' && f.data.code === 4004;
  }, { what: 'the lowered connection quota to refuse with 4004' });
});

test('a client that closes gets the server\'s close frame back: a clean close, not a dropped connection', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  await s.subscribed('bye-channel');
  s.ws.close(1000, 'done here');
  const closed = await s.waitClosed();
  assert.equal(closed.code, 1000, `the close code the server echoed (1006 means no close frame came): ${JSON.stringify(closed)}`);
});
