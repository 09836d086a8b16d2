// TLS without a proxy: with tls_cert and tls_key the node's one port speaks wss:// and https://
// (pusher-js and the server SDK over TLS against a test certificate), and a new certificate is
// picked up on SIGHUP without a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import { heraldBin, freePort, run, parseJsonOutput, eventually, CLUSTER_TOPOLOGY } from './helpers/herald.mjs';

// The test certificate is self-signed: this process trusts any certificate (for pusher-js's ws,
// the SDK's https and fetch alike).
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const openssl = (args, cwd) => new Promise((resolve, reject) => execFile('openssl', args, { cwd }, (err, out, stderr) => (err ? reject(new Error(stderr)) : resolve(out))));

/** A self-signed certificate for 127.0.0.1 whose subject is `cn`, as cert.pem/key.pem in `dir`. */
async function certificate(dir, cn) {
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', 'key.pem', '-out', 'cert.pem'], dir);
}

/** The CN of the certificate the server presents on `port`. */
function presented(port) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().subject.CN);
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('pusher-js and the server SDK work over TLS on the node itself; SIGHUP loads a new certificate', {
  skip: CLUSTER_TOPOLOGY && 'one process with its own certificate',
}, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await certificate(dir, 'first');
  const bin = await heraldBin();
  const dataDir = path.join(dir, 'data');
  const app = parseJsonOutput(await run(bin, ['apps', 'create', '--data-dir', dataDir, '--name', 'tls']));
  const port = await freePort();
  const proc = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    env: { ...process.env, HERALD_LOG: 'warn', HERALD_TLS_CERT: path.join(dir, 'cert.pem'), HERALD_TLS_KEY: path.join(dir, 'key.pem') },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  t.after(async () => { proc.kill('SIGKILL'); await exited; });
  await eventually(async () => (await fetch(`https://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200,
    { timeout: 10000, what: 'https /readyz' });
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status, undefined, 'no plain HTTP on the TLS port');

  const client = new Pusher(app.key, { wsHost: '127.0.0.1', wssPort: port, forceTLS: true, enabledTransports: ['ws'], cluster: '' });
  t.after(() => client.disconnect());
  const channel = client.subscribe('secure');
  await new Promise((resolve) => channel.bind('pusher:subscription_succeeded', resolve));
  const got = new Promise((resolve) => channel.bind('hello', resolve));
  const sdk = new PusherServer({ appId: String(app.id), key: app.key, secret: app.secret, host: '127.0.0.1', port: String(port), useTLS: true });
  await sdk.trigger('secure', 'hello', { over: 'tls' });
  assert.deepEqual(await got, { over: 'tls' });

  assert.equal(await presented(port), 'first');
  const next = path.join(dir, 'next');
  await import('node:fs/promises').then((fs) => fs.mkdir(next));
  await certificate(next, 'second');
  await rename(path.join(next, 'key.pem'), path.join(dir, 'key.pem'));
  await rename(path.join(next, 'cert.pem'), path.join(dir, 'cert.pem'));
  proc.kill('SIGHUP');
  await eventually(async () => (await presented(port)) === 'second', { timeout: 5000, what: 'the new certificate' });
  assert.equal(client.connection.state, 'connected', 'the open connection stayed');
});
