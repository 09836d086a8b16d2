// The server side of a console test: the real herald binary on a free port with a fresh data
// directory (or, with HERALD_TEST_TOPOLOGY=cluster, a private nats-server and three nodes sharing a
// fresh Postgres database on HERALD_TEST_PG_URL), an owner admin, an admin-API client for set-up
// and checks, and pusher-js / server SDK clients beside the browser.
//
// Where the console comes from (HERALD_TEST_CONSOLE): `embedded` (default: the copy built into the
// binary, as served in production; the harness checks it matches web-console/ on disk), `disk`
// (the binary serves web-console/ from disk, HERALD_CONSOLE_DIR), or `proxy` (a small Node server
// in front of the node serves web-console/ with the same security headers: for binaries older than
// the console).
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, access } from 'node:fs/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import { startConsoleProxy } from './console-proxy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CONSOLE_DIR = path.resolve(here, '../../../web-console');
export const HERALD_BIN = process.env.HERALD_BIN || '/var/cache/herald-target/release/herald';
export const CLUSTER = process.env.HERALD_TEST_TOPOLOGY === 'cluster';
export const CONSOLE_MODE = process.env.HERALD_TEST_CONSOLE || 'embedded';
export const OWNER = { email: 'owner@console.test', password: 'a long owner password' };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy; the error names what was awaited. */
export async function eventually(fn, { timeout = 10000, interval = 100, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(interval);
  }
}

function runCli(args, input, env) {
  return new Promise((resolve, reject) => {
    const child = execFile(HERALD_BIN, args, { env: { ...process.env, HERALD_LOG: 'warn', ...env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`herald ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

const parseJson = (out) => JSON.parse(out.slice(out.search(/[[{]/)));

/** One herald process; resolves once /readyz answers 200. */
async function startNode({ dataDir, env }) {
  let logs = '';
  const proc = spawn(HERALD_BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    env: { ...process.env, HERALD_LOG: 'info', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d) => { logs = (logs + d.toString()).slice(-30000); };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  proc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await eventually(() => {
    if (proc.exitCode !== null) throw new Error(`herald exited (${proc.exitCode}):\n${logs}`);
    // eslint-disable-next-line no-control-regex
    const m = logs.replace(/\x1b\[[0-9;]*m/g, '').match(/herald listening(?: addr=|","addr":")[\d.]+:(\d+)/);
    return m && Number(m[1]);
  }, { timeout: 15000, interval: 20, what: 'herald to listen' }).catch((e) => { proc.kill('SIGKILL'); throw e; });
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${url}/readyz`)).status === 200, { timeout: 15000, what: `${url}/readyz` });
  return {
    url, port, proc, dataDir, logs: () => logs,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await proc.exited;
    },
  };
}

/** A private nats-server with JetStream (cluster topology). */
async function startNats() {
  const bin = await access('/usr/sbin/nats-server').then(() => '/usr/sbin/nats-server', () => 'nats-server');
  const storeDir = await mkdtemp(path.join(os.tmpdir(), 'herald-console-nats-'));
  let logs = '';
  const proc = spawn(bin, ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => { logs += d; });
  proc.stderr.on('data', (d) => { logs += d; });
  const port = await eventually(() => {
    if (proc.exitCode !== null) throw new Error(`nats-server exited:\n${logs}`);
    return logs.includes('Server is ready') && Number(logs.match(/Listening for client connections on [\d.]+:(\d+)/)?.[1]);
  }, { timeout: 10000, interval: 20, what: 'nats-server to be ready' });
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      proc.kill('SIGKILL');
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', r)));
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

function psql(sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [process.env.HERALD_TEST_PG_URL, '-v', 'ON_ERROR_STOP=1', '-c', sql],
      (err, out, stderr) => (err ? reject(new Error(`psql ${sql}: ${stderr || err.message}`)) : resolve(out)));
  });
}

/** A fresh Postgres database on HERALD_TEST_PG_URL (cluster topology). */
async function freshDatabase() {
  const base = process.env.HERALD_TEST_PG_URL;
  if (!base) throw new Error('HERALD_TEST_TOPOLOGY=cluster needs HERALD_TEST_PG_URL (run: eval "$(scripts/postgres-throwaway)")');
  const name = `herald_console_${randomUUID().replaceAll('-', '')}`;
  await psql(`CREATE DATABASE ${name}`);
  return { url: `${base.slice(0, base.lastIndexOf('/'))}/${name}`, drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {}) };
}

/** Fails clearly when the binary embeds another console than web-console/ holds. */
async function checkEmbedded(url) {
  const served = await (await fetch(`${url}/console/app.js`)).text();
  const disk = await readFile(path.join(CONSOLE_DIR, 'app.js'), 'utf8');
  if (served !== disk) {
    throw new Error(`${HERALD_BIN} embeds another web console than web-console/ on disk: rebuild it (cargo build --release), `
      + 'or run with HERALD_TEST_CONSOLE=disk (the binary reads web-console/) or HERALD_TEST_CONSOLE=proxy');
  }
}

/**
 * Starts herald for one test (`t` gets an after-hook stopping everything). `env` reaches every node.
 * Returns h: {url (where the browser goes), api, admin(email, password), owner, app, pusherClient(),
 * serverSdk(), nodes, logs()}.
 */
export async function startHerald(t, { env = {} } = {}) {
  const stops = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  t.after(stopAll);
  const masterKey = randomBytes(32).toString('base64');
  // The tests' webhook receivers listen on 127.0.0.1, an address webhooks may not reach unless
  // the operator allows it (a binary without the setting ignores it).
  let sharedEnv = { HERALD_MASTER_KEY: masterKey, HERALD_WEBHOOK_ALLOWED_NETWORKS: '["127.0.0.0/8"]', ...env };
  if (CONSOLE_MODE === 'disk') sharedEnv.HERALD_CONSOLE_DIR = CONSOLE_DIR;
  const nodeCount = CLUSTER ? 3 : 1;
  if (CLUSTER) {
    const db = await freshDatabase();
    stops.push(db.drop);
    const nats = await startNats();
    stops.push(nats.stop);
    sharedEnv = {
      ...sharedEnv, HERALD_DATABASE_URL: db.url, HERALD_NATS_URL: nats.url,
      HERALD_NATS_PREFIX: `hc${randomBytes(5).toString('hex')}`, HERALD_NODE_TIMEOUT: '3',
    };
  }
  const dirs = [];
  for (let i = 0; i < nodeCount; i++) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-console-test-'));
    dirs.push(dir);
    stops.push(() => rm(dir, { recursive: true, force: true }));
  }
  const cli = (args, input) => runCli([...args, '--data-dir', dirs[0]], input, sharedEnv);
  await cli(['migrate']);
  await cli(['admins', 'create', '--email', OWNER.email, '--role', 'owner'], `${OWNER.password}\n`);
  // One app made before the nodes start (so the node does not make its default app).
  const app = parseJson(await cli(['apps', 'create', '--name', 'first-app']));
  app.id = String(app.id);
  const nodes = [];
  for (const dir of dirs) {
    const node = await startNode({ dataDir: dir, env: sharedEnv });
    stops.push(node.stop);
    nodes.push(node);
  }
  if (CLUSTER) await sleep(1500); // heartbeats: every node hears the others
  const [first] = nodes;
  let url = first.url;
  if (CONSOLE_MODE === 'proxy') {
    const proxy = await startConsoleProxy(first.url, CONSOLE_DIR);
    stops.push(proxy.close);
    url = proxy.url;
  } else if (CONSOLE_MODE === 'embedded') {
    await checkEmbedded(first.url);
  }
  let clientIndex = 0;
  const clients = [];
  stops.push(async () => clients.forEach((c) => { try { c.disconnect(); } catch { /* gone */ } }));

  /** A raw admin-API call with `token`: {status, body}. */
  const call = async (method, p, body, token) => {
    const res = await fetch(`${first.url}/api/v1${p}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    return { status: res.status, body: json };
  };
  const login = async (email, password) => {
    const r = await call('POST', '/auth/login', { email, password });
    if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`);
    const token = r.body.access_token;
    return { token, api: (method, p, body) => call(method, p, body, token) };
  };
  const owner = await login(OWNER.email, OWNER.password);

  const h = {
    url,
    nodeUrl: first.url,
    nodes,
    /** The node the console is not on, when there is one (the last): where clients go to test that the console spans nodes. */
    otherNode: nodes[nodes.length - 1],
    app,
    cli,
    owner,
    login,
    logs: () => nodes.map((n, i) => `----- node ${i} -----\n${n.logs()}`).join('\n'),

    /** Creates an admin with `role` (of `tenantId` for tenant roles) and logs it in. */
    async admin(email, role, tenantId, password = 'a long admin password') {
      const r = await owner.api('POST', '/admins', { email, role, password, ...(tenantId ? { tenant_id: tenantId } : {}) });
      if (r.status !== 201) throw new Error(`create admin ${email}: ${r.status} ${JSON.stringify(r.body)}`);
      return { ...(await login(email, password)), email, password };
    },

    /** A tenant with one app: {tenant, app, key, secret}. */
    async tenantWithApp(slug, appName = `${slug}-app`) {
      const t1 = await owner.api('POST', '/tenants', { name: slug.toUpperCase(), slug });
      if (t1.status !== 201) throw new Error(`create tenant: ${t1.status} ${JSON.stringify(t1.body)}`);
      const a = await owner.api('POST', `/tenants/${t1.body.id}/apps`, { name: appName });
      if (a.status !== 201) throw new Error(`create app: ${a.status} ${JSON.stringify(a.body)}`);
      return { tenant: t1.body, app: a.body.app, key: a.body.key.key, secret: a.body.key.secret };
    },

    /**
     * A pusher-js client (Node) to `creds` ({key}, default the first app), on the next node, or on
     * node `options.node` (an index; -1 is the last node: in a cluster, another node than the
     * console's).
     */
    pusherClient(creds = app, options = {}) {
      const node = options.node === undefined ? nodes[clientIndex++ % nodes.length] : nodes.at(options.node);
      const sdk = h.serverSdk(creds);
      const client = new Pusher(creds.key, {
        cluster: 'herald', wsHost: '127.0.0.1', wsPort: node.port, forceTLS: false, enabledTransports: ['ws'], disableStats: true,
        channelAuthorization: {
          customHandler: ({ socketId, channelName }, cb) => {
            try {
              cb(null, sdk.authorizeChannel(socketId, channelName,
                channelName.startsWith('presence-') ? options.presence ?? { user_id: `u-${socketId}` } : undefined));
            } catch (e) { cb(e, null); }
          },
        },
        ...options.pusher,
      });
      clients.push(client);
      return client;
    },

    /** The official server SDK for `creds` ({id, key, secret}), publishing through the first node or `node` (a node). */
    serverSdk(creds = app, node = first) {
      return new PusherServer({
        appId: String(creds.id ?? creds.app_id), key: creds.key, secret: creds.secret, host: '127.0.0.1', port: String(node.port), useTLS: false,
      });
    },
  };
  return h;
}

/** Resolves once a pusher-js client is connected, with its socket id. */
export function connected(client, ms = 8000) {
  return eventually(() => client.connection.state === 'connected' && client.connection.socket_id, { timeout: ms, interval: 25, what: 'pusher-js to connect' });
}

/** Resolves with the close code the client's socket gets next. */
export function nextClose(client, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within ${ms} ms`)), ms);
    const onError = (err) => {
      const code = err?.data?.code ?? err?.error?.data?.code;
      if (code) { clearTimeout(timer); client.connection.unbind('error', onError); resolve(code); }
    };
    client.connection.bind('error', onError);
    // pusher-js reports the close code as a pusher:error before closing (the server sends one)
  });
}
