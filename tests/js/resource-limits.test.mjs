// Bounded resources, kept so (issue 17): a node that runs out of file descriptors keeps its live
// connections and serves again as soon as descriptors are free; a client that never finishes its
// request headers is cut off after 30 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import { heraldBin, freePort, run, parseJsonOutput, eventually, startHerald, CLUSTER_TOPOLOGY } from './helpers/herald.mjs';

const openSocket = (port) => new Promise((resolve) => {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('connect', () => resolve(socket));
  socket.on('error', () => resolve(socket));
});

const healthy = async (port) => (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => null))?.status === 200;

test('out of file descriptors: live connections go on and the node serves again once some are free', {
  skip: CLUSTER_TOPOLOGY && 'one process with its own descriptor limit',
}, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-fds-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bin = await heraldBin();
  const dataDir = path.join(dir, 'data');
  const app = parseJsonOutput(await run(bin, ['apps', 'create', '--data-dir', dataDir, '--name', 'fds']));
  const port = await freePort();
  const proc = spawn('sh', ['-c', 'ulimit -n 256 && exec "$0" serve --listen "$1" --data-dir "$2"', bin, `127.0.0.1:${port}`, dataDir], {
    env: { ...process.env, HERALD_LOG: 'error' },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  t.after(async () => { proc.kill('SIGKILL'); await exited; });
  await eventually(() => healthy(port), { timeout: 10000, what: '/healthz' });

  const client = new Pusher(app.key, { wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], cluster: '' });
  t.after(() => client.disconnect());
  const channel = client.subscribe('steady');
  await new Promise((resolve) => channel.bind('pusher:subscription_succeeded', resolve));

  // More sockets than the node has descriptors: the accept loop runs dry and backs off.
  const flood = await Promise.all(Array.from({ length: 400 }, () => openSocket(port)));
  t.after(() => flood.forEach((s) => s.destroy()));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(proc.exitCode, null, 'the node is still running');
  assert.equal(client.connection.state, 'connected', 'the live connection stayed');

  flood.forEach((s) => s.destroy());
  const freed = Date.now();
  await eventually(() => healthy(port), { timeout: 10000, what: '/healthz after the flood' });
  const recovered = Date.now() - freed;
  assert.ok(recovered < 5000, `serves again ${recovered} ms after descriptors are free`);

  const got = new Promise((resolve) => channel.bind('after', resolve));
  const sdk = new PusherServer({ appId: String(app.id), key: app.key, secret: app.secret, host: '127.0.0.1', port: String(port), useTLS: false });
  await sdk.trigger('steady', 'after', { ok: true });
  assert.deepEqual(await got, { ok: true }, 'the connection from before the flood still receives');
});

test('a client that never finishes its request headers is closed after 30 s', async (t) => {
  const h = await startHerald(t);
  const { hostname, port } = new URL(h.url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.on('connect', resolve));
  const opened = Date.now();
  socket.write('GET /app/key?protocol=7 HTTP/1.1\r\nHost: x\r\n');
  await new Promise((resolve) => { socket.on('close', resolve); socket.on('error', resolve); socket.resume(); });
  const held = Date.now() - opened;
  assert.ok(held >= 25000 && held < 45000, `closed after ${held} ms`);
});
