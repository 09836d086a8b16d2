// Connecting: handshake frame, heartbeat (client and server side), health
// endpoints and the apps CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import os from 'node:os';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import {
  startHerald, connected, waitFor, SOCKET_ID_RE, eventually, within, heraldBin, freePort, CLUSTER_TOPOLOGY,
} from './helpers/herald.mjs';

test('pusher-js connects and gets a socket id of the form \\d+.\\d+', async (t) => {
  const h = await startHerald(t);
  const client = h.pusherClient();
  const socketId = await connected(client);
  assert.match(socketId, SOCKET_ID_RE);
});

test('connection_established carries socket_id and activity_timeout, double-encoded', async (t) => {
  const h = await startHerald(t);
  const s = h.rawSocket();
  const f = await s.event('pusher:connection_established');
  assert.equal(typeof f.rawData, 'string', 'pusher: event data must be a JSON string');
  assert.match(f.data.socket_id, SOCKET_ID_RE);
  assert.equal(f.data.activity_timeout, 120, 'default activity timeout is 120 s');
  assert.equal(f.binary, false, 'frames are text frames');

  // socket ids are unique per connection
  const s2 = h.rawSocket();
  const f2 = await s2.event('pusher:connection_established');
  assert.notEqual(f2.data.socket_id, f.data.socket_id);
});

test('activity_timeout follows HERALD_ACTIVITY_TIMEOUT', async (t) => {
  const h = await startHerald(t, { env: { HERALD_ACTIVITY_TIMEOUT: '37' } });
  const s = h.rawSocket();
  const data = await s.established();
  assert.equal(data.activity_timeout, 37);
});

test('pusher:ping is answered with pusher:pong', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  s.send({ event: 'pusher:ping', data: {} });
  const pong = await s.event('pusher:pong');
  assert.deepEqual(pong.data ?? {}, {});
  // and again: the connection stays usable
  s.send({ event: 'pusher:ping', data: {} });
  await s.event('pusher:pong');
  assert.ok(s.open);
});

test('pusher-js gets a pong for its own activity ping and stays connected', async (t) => {
  const h = await startHerald(t, { env: { HERALD_ACTIVITY_TIMEOUT: '1' } });
  const client = h.pusherClient();
  await connected(client);
  // pusher-js pings after min(its timeout, server's 1 s) of silence.
  await waitFor(client.connection, 'message', 8000, {
    filter: (m) => m.event === 'pusher:pong',
    what: 'pusher:pong for pusher-js activity ping',
  });
  assert.equal(client.connection.state, 'connected');
});

function isServerPing(s) {
  return new Promise((resolve) => {
    s.on('ping', () => resolve('ws-ping'));
    s.on('frame', (f) => { if (f.event === 'pusher:ping') resolve('pusher:ping'); });
  });
}

test('the server pings an idle connection', async (t) => {
  const h = await startHerald(t, { env: { HERALD_ACTIVITY_TIMEOUT: '1', HERALD_PONG_TIMEOUT: '30' } });
  const s = await h.rawConnected();
  const kind = await within(isServerPing(s), 10000, 'a server ping within 10 s of idleness (activity timeout 1 s)');
  assert.ok(kind);
});

test('a client that answers pings is kept open across several ping rounds', async (t) => {
  const h = await startHerald(t, { env: { HERALD_ACTIVITY_TIMEOUT: '1', HERALD_PONG_TIMEOUT: '1' } });
  const s = await h.rawConnected();
  let pings = 0;
  const enough = new Promise((resolve) => {
    const bump = () => { if (++pings >= 3) resolve(); };
    s.on('ping', bump); // ws answers protocol pings automatically
    s.on('frame', (f) => {
      if (f.event === 'pusher:ping') { s.send({ event: 'pusher:pong', data: {} }); bump(); }
    });
  });
  await within(Promise.race([
    enough,
    s.closed.then((c) => { throw new Error(`closed with ${c.code} although pings were answered`); }),
  ]), 20000, 'three server pings (answered) within 20 s');
  assert.ok(s.open);
  await s.subscribed('still-here');
});

test('no pong: the server sends pusher:error 4201 and closes with 4201', async (t) => {
  const h = await startHerald(t, { env: { HERALD_ACTIVITY_TIMEOUT: '1', HERALD_PONG_TIMEOUT: '1' } });
  // autoPong off and pusher:ping frames ignored: a client that went silent.
  const s = h.rawSocket(undefined, { autoPong: false });
  await s.established();
  const err = await s.error(15000);
  assert.equal(err.data.code, 4201);
  assert.equal(typeof err.data.message, 'string');
  const closed = await s.waitClosed();
  assert.equal(closed.code, 4201);
});

test('/healthz and /readyz answer 200', async (t) => {
  const h = await startHerald(t);
  for (const p of ['/healthz', '/readyz']) {
    const res = await fetch(`${h.url}${p}`);
    assert.equal(res.status, 200, p);
  }
});

test('apps create keeps given credentials and defaults; apps list shows every app', async (t) => {
  const h = await startHerald(t, {
    credentials: { id: '4242', key: 'given-key', secret: 'given-secret' },
  });
  assert.equal(h.app.id, '4242');
  assert.equal(h.app.key, 'given-key');
  assert.equal(h.app.secret, 'given-secret');
  assert.equal(h.app.enabled, true);
  assert.equal(h.app.max_connections, 0);
  assert.equal(h.app.client_events, false);
  assert.equal(h.app.client_event_rate, 10);
  assert.equal(h.app.max_presence_members, 100);
  assert.equal(h.app.max_presence_member_bytes, 1024);
  assert.equal(h.app.max_payload_bytes, 10240);
  assert.equal(h.app.subscription_count, false);
  assert.equal(h.app.cache_ttl, 1800);

  const generated = await h.createApp('second', { clientEvents: true, maxConnections: 5, allowedOrigins: ['https://a.example'] });
  for (const k of ['id', 'key', 'secret']) {
    assert.ok(typeof generated[k] === 'string' && generated[k].length > 0, `generated ${k}`);
  }
  assert.notEqual(generated.key, h.app.key);
  assert.equal(generated.client_events, true);
  assert.equal(generated.max_connections, 5);
  assert.deepEqual([].concat(generated.allowed_origins), ['https://a.example']);

  const list = await h.listApps();
  assert.ok(Array.isArray(list));
  assert.deepEqual(list.map((a) => String(a.id)).sort(), ['4242', generated.id].sort());

  // an app created while the node runs is served without restart
  const s = await eventually(async () => {
    const sock = h.rawSocket(`/app/${generated.key}?protocol=7`, { origin: 'https://a.example' });
    const f = await sock.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error', 3000);
    return f.event === 'pusher:connection_established' ? sock : false;
  }, { what: 'the new app to accept connections' });
  assert.ok(s.open);
});

test('apps update changes settings and prints or persists them', async (t) => {
  const h = await startHerald(t);
  await h.update({ clientEvents: true, clientEventRate: 25, maxPayloadBytes: 2048, cacheTtl: 60 });
  const [app] = (await h.listApps()).filter((a) => String(a.id) === h.app.id);
  assert.equal(app.client_events, true);
  assert.equal(app.client_event_rate, 25);
  assert.equal(app.max_payload_bytes, 2048);
  assert.equal(app.cache_ttl, 60);
});

test('first start on an empty store creates a default app; off a terminal its credentials go to a 0600 file, not the output', async (t) => {
  const h = await startHerald(t, { noApp: true });
  const apps = await h.listApps();
  assert.equal(apps.length, 1, 'exactly one default app');
  const [app] = apps;
  const logs = h.logs();
  assert.ok(!logs.includes(app.secret), 'the secret is not in the output (it is not a terminal)');
  const file = path.join(h.dataDir, 'first-start-credentials.txt');
  assert.ok(logs.includes(file), `the output says where the credentials are: ${logs}`);
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'readable by the owner only');
  const saved = await readFile(file, 'utf8');
  for (const k of ['key', 'secret']) assert.ok(saved.includes(app[k]), `the file has the ${k}`);
  assert.ok(saved.includes(String(app.id)), 'the file has the app id');
  assert.ok(logs.includes('herald admins create'), 'with no admin yet, the output says how to create the first owner');
  // and the printed app works
  h.app = { ...app, id: String(app.id) };
  const client = h.pusherClient();
  await connected(client);
  const ch = client.subscribe('hello');
  await waitFor(ch, 'pusher:subscription_succeeded');
  const got = waitFor(ch, 'greet');
  await h.serverSdk().trigger('hello', 'greet', { hi: 1 });
  assert.deepEqual(await got, { hi: 1 });
});

test('a node whose database does not answer waits for it, says so on /readyz, then exits naming the host', async (t) => {
  const bin = await heraldBin();
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-nodb-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  // A database that resets every connection: a port held by this test, so no other process's
  // server can take it while the node retries.
  const dead = await new Promise((resolve) => {
    const srv = net.createServer((socket) => socket.resetAndDestroy());
    t.after(() => srv.close());
    srv.listen(0, '127.0.0.1', () => resolve(srv.address().port));
  });
  const proc = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    env: {
      ...process.env,
      HERALD_DATABASE_URL: `postgres://herald:secret-pw@127.0.0.1:${dead}/herald`,
      HERALD_MASTER_KEY: Buffer.alloc(32, 3).toString('base64'),
      HERALD_DATABASE_WAIT: '3',
      HERALD_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  t.after(() => proc.kill('SIGKILL'));
  const waiting = await eventually(async () => {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
    const text = r && r.status === 503 && (await r.text());
    return text && text.includes('waiting for') && text;
  }, { timeout: 3000, what: '/readyz while waiting' });
  assert.match(waiting, new RegExp(`waiting for the control database at 127\\.0\\.0\\.1:${dead}`));
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'the process is up');
  assert.notEqual(await exited, 0, 'it gives up after database_wait');
  assert.match(output, new RegExp(`127\\.0\\.0\\.1:${dead}.*did not answer for 3 s`), output);
  assert.ok(!output.includes('secret-pw'), 'the password stays out of the output');
});

test('with metrics_listen, /metrics is served there only', {
  skip: CLUSTER_TOPOLOGY && 'one process with its own metrics port',
}, async (t) => {
  const port = await freePort();
  const h = await startHerald(t, { env: { HERALD_METRICS_LISTEN: `127.0.0.1:${port}` } });
  assert.equal((await fetch(`${h.url}/metrics`)).status, 404, 'not on the public port');
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /herald_/);
});
