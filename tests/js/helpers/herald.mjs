// Test harness: runs the real `herald` binary on a free port with a fresh data
// directory and one app, and hands out pusher-js clients, the official server
// SDK and raw WebSockets pointed at it. Every test gets its own process.
import { spawn, execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import { RawSocket } from './raw-socket.mjs';
import { sleep, within, eventually } from './wait.mjs';

export * from './wait.mjs';
export * from './sign.mjs';
export { RawSocket } from './raw-socket.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const HERALD_BIN =
  process.env.HERALD_BIN ||
  (process.env.CARGO_TARGET_DIR
    ? path.join(process.env.CARGO_TARGET_DIR, 'release', 'herald')
    : '/var/cache/herald-target/release/herald');
// Fallback when neither is set and the cache dir does not exist: the repo's target/.
const REPO_BIN = path.resolve(here, '../../../target/release/herald');

// A fixed 32-byte master key for private-encrypted- channels (base64).
export const ENCRYPTION_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
export const SOCKET_ID_RE = /^\d+\.\d+$/;

/** The herald binary the tests run. */
export async function heraldBin() {
  if (process.env.HERALD_BIN) return process.env.HERALD_BIN;
  try {
    await access(HERALD_BIN);
    return HERALD_BIN;
  } catch {
    return REPO_BIN;
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    // The kernel may hand a closed port out again at once: never give one out twice (a node once
    // got its own listening port as its "dead" database's and talked HTTP to itself).
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}
const handedOut = new Set();

/** Runs a herald CLI command; `env` adds to the process environment (a shared store's URL, say). */
export function run(bin, args, input, env = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { env: { ...process.env, HERALD_LOG: 'warn', ...env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    // a CLI that exits without reading stdin must not crash the test run with EPIPE
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** {maxConnections: 1, clientEvents: true, allowedOrigins: [..], webhooks: [{url, events}]} -> CLI flags */
export function settingsFlags(settings = {}) {
  const names = {
    enabled: '--enabled',
    maxConnections: '--max-connections',
    clientEvents: '--client-events',
    clientEventRate: '--client-event-rate',
    maxPresenceMembers: '--max-presence-members',
    maxPresenceMemberBytes: '--max-presence-member-bytes',
    maxPayloadBytes: '--max-payload-bytes',
    subscriptionCount: '--subscription-count',
    cacheTtl: '--cache-ttl',
    allowedOrigins: '--allowed-origins',
    historyMaxMessages: '--history-max-messages',
    historyMaxAge: '--history-max-age',
    idempotencyWindow: '--idempotency-window',
    logPayloadPreviews: '--log-payload-previews',
    webhooks: '--webhooks',
  };
  const flags = [];
  for (const [k, v] of Object.entries(settings)) {
    if (!(k in names)) throw new Error(`unknown app setting ${k}`);
    if (k === 'webhooks') flags.push(names[k], JSON.stringify(v));
    else flags.push(names[k], Array.isArray(v) ? v.join(',') : String(v));
  }
  return flags;
}

/** Parses the first JSON value printed by the CLI (ignores any log lines). */
export function parseJsonOutput(stdout) {
  const start = stdout.search(/[[{]/);
  if (start < 0) throw new Error(`no JSON in CLI output: ${stdout}`);
  return JSON.parse(stdout.slice(start));
}

// ------------------------------------------------------------- topology

/**
 * HERALD_TEST_TOPOLOGY selects what startHerald starts: "single" (the
 * default) is one herald process; "cluster" is a private nats-server and three
 * herald nodes sharing the app, with clients spread over the nodes round-robin
 * and publishers on another node than the last client (helpers/topology.mjs).
 */
export const TOPOLOGY = process.env.HERALD_TEST_TOPOLOGY || 'single';
if (!['single', 'cluster'].includes(TOPOLOGY)) {
  throw new Error(`HERALD_TEST_TOPOLOGY must be "single" or "cluster", not ${JSON.stringify(TOPOLOGY)}`);
}
export const CLUSTER_TOPOLOGY = TOPOLOGY === 'cluster';

/** For test(name, { skip: clusterSkip('why') }, fn): skips the test in the cluster topology only. */
export function clusterSkip(reason) {
  return CLUSTER_TOPOLOGY ? `cluster topology: ${reason}` : false;
}

/**
 * Checks something the control plane changed a moment ago: at once on one node; in the cluster
 * topology the other nodes reload the shared store within about a second, so `check` (returning
 * truthy when the change shows) is retried for a few seconds.
 */
export async function propagated(check, what) {
  if (!CLUSTER_TOPOLOGY) {
    const out = await check();
    if (!out) throw new Error(`not so at once: ${what}`);
    return out;
  }
  return eventually(check, { timeout: 4000, what });
}

/**
 * A raw socket refused by a count the whole cluster keeps (a connection quota). One node refuses
 * the first socket over it; in the cluster topology the nodes learn each other's counts by
 * heartbeat (about a second late), so sockets are opened, and closed again when accepted, until
 * one is refused. Resolves with the refused socket (its pusher:error frame stays unread).
 */
export async function refusedOverCount(open, what = 'a connection over the quota to be refused') {
  const attempt = async () => {
    const s = open();
    const first = await s.next((f) => f.event === 'pusher:connection_established' || f.event === 'pusher:error',
      5000, what).catch(() => null);
    if (first?.event === 'pusher:error') {
      s.taken.delete(first); // left for the caller to read
      return s;
    }
    s.close();
    await s.waitClosed().catch(() => {});
    return false;
  };
  return propagated(attempt, what);
}

// ------------------------------------------------------------- the server

/**
 * Starts herald for one test, in the topology HERALD_TEST_TOPOLOGY selects:
 * one process, or three clustered nodes behind the same `h` interface.
 * `t` (a node:test context) gets an after-hook that closes every client and
 * stops every process.
 * options: { app: settings, appName, credentials: {id,key,secret}, env, noApp }
 */
export async function startHerald(t, options = {}) {
  if (CLUSTER_TOPOLOGY) {
    const { startClusterHerald } = await import('./topology.mjs');
    return startClusterHerald(t, options);
  }
  return startHeraldNode(t, options);
}

/**
 * Starts one herald process (whatever the topology). `t` (a node:test
 * context) gets an after-hook that closes every client and kills the process.
 * options: { app: settings, appName, credentials: {id,key,secret}, env, noApp, existingApp, dataDir }
 * `env` reaches the server and every CLI command the harness runs (HERALD_DATABASE_URL for a
 * shared store); `existingApp` is an app already in that store, so none is created; `dataDir`
 * is the data directory of a node that ran before (a restart), instead of a new one.
 */
export async function startHeraldNode(t, options = {}) {
  const bin = await heraldBin();
  const dataDir = options.dataDir ?? await mkdtemp(path.join(os.tmpdir(), 'herald-test-'));
  const env = options.env || {};
  const cli = (args, input) => run(bin, args, input, env);
  // options.noApp: start on an empty store (herald then creates its default app)
  let app = options.existingApp ?? null;
  if (!options.noApp && !app) app = await createAppWith(cli, dataDir, options.appName || 'test-app', options.credentials, options.app);

  // The server chooses its port (`--listen 127.0.0.1:0`) and logs it: a port picked here and
  // handed over could be taken by another test's process in between.
  let logs = '';
  const proc = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    // Webhook receivers of the tests listen on loopback, which the egress policy refuses by default.
    env: { ...process.env, HERALD_LOG: 'info', HERALD_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d) => { logs = (logs + d.toString()).slice(-20000); };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  proc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let port;
  try {
    port = await listeningPort(proc, () => logs);
    await waitReady(`http://127.0.0.1:${port}`, proc, () => logs);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }

  const url = `http://127.0.0.1:${port}`;
  const wsBase = `ws://127.0.0.1:${port}`;
  const clients = [];
  const sockets = [];
  let stopped = false;

  const h = {
    url,
    wsBase,
    port,
    app, // replaceable: methods read h.app
    dataDir,
    bin,
    proc,
    logs: () => logs,
    exited: proc.exited,

    serverSdk(extra = {}) {
      return new PusherServer({
        appId: h.app?.id,
        key: h.app?.key,
        secret: h.app?.secret,
        host: '127.0.0.1',
        port: String(port),
        useTLS: false,
        encryptionMasterKeyBase64: ENCRYPTION_MASTER_KEY,
        ...extra,
      });
    },

    /** pusher-js client. opts.presence = {user_id, user_info} for presence
     * channels, opts.user = {id, user_info, watchlist} for signin, and
     * opts.channelAuth(socketId, channelName, sdk) to override channel auth. */
    pusherClient(opts = {}) {
      const { presence, user, channelAuth, key = h.app.key, ...rest } = opts;
      const sdk = h.serverSdk();
      const client = new Pusher(key, {
        cluster: 'herald',
        wsHost: '127.0.0.1',
        wsPort: port,
        forceTLS: false,
        enabledTransports: ['ws'],
        disableStats: true,
        channelAuthorization: {
          customHandler: ({ socketId, channelName }, cb) => {
            try {
              const data = channelAuth
                ? channelAuth(socketId, channelName, sdk)
                : sdk.authorizeChannel(socketId, channelName,
                  channelName.startsWith('presence-') ? presence || { user_id: `u-${socketId}` } : undefined);
              cb(null, data);
            } catch (e) {
              cb(e, null);
            }
          },
        },
        userAuthentication: {
          customHandler: ({ socketId }, cb) => {
            try {
              cb(null, sdk.authenticateUser(socketId, user || { id: `u-${socketId}` }));
            } catch (e) {
              cb(e, null);
            }
          },
        },
        ...rest,
      });
      clients.push(client);
      return client;
    },

    /** Raw WebSocket; path defaults to the app's endpoint with protocol 7. */
    rawSocket(p = `/app/${h.app.key}?protocol=7&client=js&version=8.4.0&flash=false`, wsOptions = {}) {
      const s = new RawSocket(`${wsBase}${p}`, wsOptions);
      sockets.push(s);
      return s;
    },

    /** Raw socket that has received connection_established. */
    async rawConnected(p, wsOptions) {
      const s = h.rawSocket(p, wsOptions);
      await s.established();
      return s;
    },

    /** Channel auth for raw sockets. */
    auth(socketId, channel, presenceData) {
      return h.serverSdk().authorizeChannel(socketId, channel, presenceData);
    },

    /** pusher:signin frame data for raw sockets. */
    signinData(socketId, userData) {
      return h.serverSdk().authenticateUser(socketId, userData);
    },

    cli,

    async update(settings) {
      const out = await cli(['apps', 'update', h.app.id, '--data-dir', dataDir, ...settingsFlags(settings)]);
      return out.trim() ? parseJsonOutput(out) : undefined;
    },

    async createApp(name, settings = {}, credentials = {}) {
      return createAppWith(cli, dataDir, name, credentials, settings);
    },

    /** An owner admin (created with the CLI) logged in to the admin API: {token, api(method, path, body)}. */
    async owner(email = 'owner@herald.test', password = 'correct horse battery staple') {
      await cli(['admins', 'create', '--data-dir', dataDir, '--email', email, '--role', 'owner'], `${password}\n`);
      const call = async (method, p, body, token) => {
        const res = await fetch(`${url}/api/v1${p}`, {
          method,
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        return { status: res.status, body: text ? JSON.parse(text) : null };
      };
      const login = await call('POST', '/auth/login', { email, password });
      if (login.status !== 200) throw new Error(`owner login failed: ${JSON.stringify(login.body)}`);
      const token = login.body.access_token;
      return { token, api: (method, p, body) => call(method, p, body, token) };
    },

    async listApps() {
      return parseJsonOutput(await cli(['apps', 'list', '--data-dir', dataDir]));
    },

    /** Sends a signal; resolves with {code, signal} once herald exits (15 s max). */
    signal(sig, ms = 15000) {
      proc.kill(sig);
      return within(proc.exited, ms, `herald to exit after ${sig}`);
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of clients) {
        try { c.disconnect(); } catch { /* already gone */ }
      }
      for (const s of sockets) s.close();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await proc.exited;
      if (!process.env.HERALD_TEST_KEEP) await rm(dataDir, { recursive: true, force: true });
      else console.error(`kept ${dataDir}; server log tail:\n${logs}`);
    },
  };
  if (t) t.after(() => h.stop());
  return h;
}

/** `herald apps create` with the given credentials ({id, key, secret}, each optional) and settings. */
async function createAppWith(cli, dataDir, name, credentials = {}, settings = {}) {
  const flags = [];
  for (const field of ['id', 'key', 'secret']) if (credentials?.[field]) flags.push(`--${field}`, credentials[field]);
  const app = parseJsonOutput(await cli(['apps', 'create', '--data-dir', dataDir, '--name', name, ...flags, ...settingsFlags(settings)]));
  app.id = String(app.id);
  return app;
}

/** The port herald says it listens on (its "herald listening" log line). */
async function listeningPort(proc, logs, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    // eslint-disable-next-line no-control-regex
    // pretty (`herald listening addr=…`) or JSON (`"message":"herald listening","addr":"…"`) logs
    const m = logs().replace(/\x1b\[[0-9;]*m/g, '').match(/herald listening(?: addr=|","addr":")[\d.]+:(\d+)/);
    if (m) return Number(m[1]);
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`herald exited (${proc.exitCode ?? proc.signalCode}) before listening:\n${logs()}`);
    }
    await sleep(20);
  }
  throw new Error(`herald did not say where it listens after ${ms} ms:\n${logs()}`);
}

async function waitReady(url, proc, logs, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`herald exited (${proc.exitCode ?? proc.signalCode}) before ready:\n${logs()}`);
    }
    try {
      const res = await fetch(`${url}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch { /* not listening yet */ }
    await sleep(50);
  }
  throw new Error(`herald not ready at ${url}/readyz after ${ms} ms:\n${logs()}`);
}
