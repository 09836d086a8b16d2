// The deployment test: what deploy/compose.yaml describes, brought up as processes (stack.mjs): a fresh
// Postgres database, a 3-server NATS cluster with JetStream, three Herald nodes started at the same
// moment on that empty database with one shared master key, and nginx running deploy/nginx.conf in
// front of them. Then, as a user of that deployment would: pusher-js subscribes through nginx, the
// official `pusher` SDK publishes through nginx, a node is stopped with SIGTERM and its clients land on
// the other nodes and resume with nothing lost; exactly one default app exists; the admin surfaces
// answer only private addresses; X-Forwarded-For names the client.
//
// Addresses: everything listens on 127.0.0.1. Requests "from the internet" come from 127.0.0.2 and
// 127.0.0.3 (loopback too, but not in nginx.conf's private list, which names 127.0.0.1 alone).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';
import { enableResume } from '../../clients/pusher-js-resume/index.mjs';
import {
  freshDatabase, startNatsCluster, nodeEnvironment, nodeDir, spawnNode, startNginx, cli, quietPort,
  eventually, within, sleep,
} from './stack.mjs';

const OUTSIDE = '127.0.0.2'; // a public client, as nginx sees it
const OUTSIDE_WS = '127.0.0.3';
const NAMES = ['herald-1', 'herald-2', 'herald-3'];
/** The end of a process's output, without backtrace frames (RUST_BACKTRACE may be set). */
const tail = (text, n = 4000) => {
  const kept = text.split('\n').filter((l) => !/^\s+(\d+: |at )/.test(l)).join('\n');
  return kept.length > n ? `…${kept.slice(-n)}` : kept;
};

/** GET through nginx from `localAddress`: {status, body}. */
function get(base, path, { localAddress = '127.0.0.1', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { localAddress, headers }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

/** Resolves with the first `event` on a pusher-js dispatcher passing `filter`. */
function waitFor(emitter, event, ms, { filter = () => true, what = event } = {}) {
  return new Promise((resolve, reject) => {
    const handler = (data) => {
      if (!filter(data)) return;
      clearTimeout(timer);
      emitter.unbind(event, handler);
      resolve(data);
    };
    const timer = setTimeout(() => {
      emitter.unbind(event, handler);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    emitter.bind(event, handler);
  });
}

const errorCode = (e) => e?.data?.code ?? e?.error?.data?.code ?? e?.error?.code ?? null;

/** A raw WebSocket to `url` from `localAddress`: resolves with {ws, socketId} once established. */
function rawSocket(url, { localAddress, headers } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress, headers });
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no connection_established from ${url}`)); }, 10000);
    ws.on('message', (m) => {
      const frame = JSON.parse(m.toString());
      if (frame.event !== 'pusher:connection_established') return;
      clearTimeout(timer);
      resolve({ ws, socketId: JSON.parse(frame.data).socket_id });
    });
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

describe('deployment: deploy/compose.yaml as processes, behind deploy/nginx.conf', { timeout: 300000 }, () => {
  const s = { nodes: [], started: [], apps: [], disposers: [] };

  before(async () => {
    const db = await freshDatabase();
    s.db = db;
    s.disposers.push(() => db.dispose());
    const nats = await startNatsCluster(3);
    s.disposers.push(() => nats.dispose());
    s.masterKey = randomBytes(32).toString('base64');
    s.env = nodeEnvironment({
      databaseUrl: db.url, natsUrl: nats.url, masterKey: s.masterKey, prefix: `hd${randomBytes(4).toString('hex')}`,
    });
    // compose starts the three nodes together once Postgres and NATS are healthy: so here.
    const dirs = await Promise.all(NAMES.map(nodeDir));
    s.nodes = NAMES.map((name, i) => spawnNode(name, s.env, dirs[i]));
    s.disposers.push(() => Promise.all(s.nodes.map((n) => n.dispose())));
    s.started = await Promise.allSettled(s.nodes.map((n) => n.ready()));
    s.up = s.nodes.filter((_, i) => s.started[i].status === 'fulfilled');
    // nginx needs three upstream addresses: a node that did not come up gets a port nothing listens on.
    const ports = await Promise.all(s.nodes.map(async (n) => n.port ?? quietPort()));
    s.nginx = await startNginx(ports);
    s.disposers.push(() => s.nginx.dispose());

    // The default app, as an operator finds it: `herald apps list` with the cluster's settings.
    const list = await cli(s.env, ['apps', 'list']);
    s.apps = list.json ?? [];
    s.cliCwd = list.cwd;
    s.disposers.push(() => rm(list.cwd, { recursive: true, force: true }));
    s.app = s.apps[0];
    // An owner for the admin API, created with the CLI, logged in through nginx.
    const password = 'a long deploy-test password';
    const admin = await cli(s.env, ['admins', 'create', '--email', 'ops@deploy.test', '--role', 'owner'], `${password}\n`);
    s.disposers.push(() => rm(admin.cwd, { recursive: true, force: true }));
    const login = await fetch(`${s.nginx.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ops@deploy.test', password }),
    });
    if (login.status !== 200) throw new Error(`admin login through nginx: ${login.status} ${await login.text()}`);
    s.token = (await login.json()).access_token;
  });

  after(async () => {
    for (const c of s.clients ?? []) c.disconnect();
    for (const dispose of s.disposers.reverse()) await dispose().catch((e) => console.error(e));
  });

  const admin = async (path) => {
    const res = await fetch(`${s.nginx.url}/api/v1${path}`, { headers: { authorization: `Bearer ${s.token}` } });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const sdk = (extra = {}) => new PusherServer({
    appId: s.app.id, key: s.app.key, secret: s.app.secret,
    host: '127.0.0.1', port: String(s.nginx.port), useTLS: false, timeout: 5000, ...extra,
  });
  const warnings = () => s.nodes.map((n) => `${n.name}: ${tail(n.output().split('\n').filter((l) => /"level":"(WARN|ERROR)"/.test(l)).join('\n'), 1200)}`).join('\n');
  const requireApp = () => assert.ok(s.app, `no app in the database: ${JSON.stringify(s.apps)}`);

  test('three nodes started at the same moment on one empty database all become ready', () => {
    const failures = s.started
      .map((r, i) => (r.status === 'rejected' ? `${NAMES[i]}: ${tail(r.reason.message)}` : null))
      .filter(Boolean);
    assert.deepEqual(failures, [], `nodes that did not come up:\n${failures.join('\n\n')}`);
  });

  test('once every node is ready, a publish through nginx is answered 200 at once', async () => {
    requireApp();
    const started = Date.now();
    const outcome = await sdk({ timeout: 15000 }).trigger('first-publish', 'n', { i: 1 })
      .then((r) => r.status, (e) => `${e.status} ${e.message} ${e.body ?? ''}`);
    const ms = Date.now() - started;
    assert.equal(outcome, 200, `the first publish after start (${ms} ms); nodes' warnings:\n${warnings()}`);
    assert.ok(ms < 3000, `the first publish after start took ${ms} ms`);
  });

  test('exactly one default app exists', () => {
    const summary = s.apps.map((a) => ({ id: a.id, name: a.name, tenant_id: a.tenant_id }));
    assert.equal(s.apps.length, 1, `apps in the database: ${JSON.stringify(summary)}`);
    assert.equal(s.apps[0].name, 'default');
  });

  test('no node writes the default app\'s secret to its process log (JSON logs, not a terminal)', () => {
    requireApp();
    for (const n of s.nodes) {
      for (const a of s.apps) {
        assert.ok(!n.output().includes(a.secret), `${n.name}'s output carries the secret of app ${a.id}:\n${tail(n.output(), 1500)}`);
      }
    }
  });

  test('`herald apps list` against the cluster\'s database leaves nothing in the directory it runs in', async () => {
    assert.deepEqual(await readdir(s.cliCwd), [], 'a read-only command created a store where it ran');
  });

  test('nginx: admin API, console and metrics answer private addresses only; the rest answers anyone', async () => {
    requireApp();
    const base = s.nginx.url;
    for (const path of ['/metrics', '/api/v1/openapi.json', `/api/v1/apps/${s.app.id}/events/live`, '/console/']) {
      const outside = await get(base, path, { localAddress: OUTSIDE });
      assert.equal(outside.status, 403, `${path} from ${OUTSIDE}`);
    }
    for (const path of ['/metrics', '/api/v1/openapi.json', '/console/']) {
      const inside = await get(base, path);
      assert.equal(inside.status, 200, `${path} from 127.0.0.1: ${inside.body.slice(0, 200)}`);
    }
    assert.equal((await get(base, '/healthz', { localAddress: OUTSIDE })).status, 200, '/healthz from outside');
    // The Pusher HTTP API is public (signed): the SDK from outside lists channels.
    const outsideSdk = sdk({ agent: new http.Agent({ localAddress: OUTSIDE }) });
    const res = await outsideSdk.get({ path: '/channels' });
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(await res.json()), ['channels']);
  });

  test('X-Forwarded-For through nginx names the client (HERALD_TRUSTED_PROXIES), and cannot be forged', async () => {
    requireApp();
    const url = `ws://127.0.0.1:${s.nginx.port}/app/${s.app.key}?protocol=7&client=js&version=8.4.0`;
    const plain = await rawSocket(url, { localAddress: OUTSIDE_WS });
    const forged = await rawSocket(url, { localAddress: OUTSIDE_WS, headers: { 'X-Forwarded-For': '203.0.113.9' } });
    try {
      for (const { socketId } of [plain, forged]) {
        const view = await eventually(async () => {
          const r = await admin(`/apps/${s.app.id}/connections/${socketId}`);
          return r.status === 200 && r.body;
        }, { timeout: 5000, what: `the connection ${socketId} in the admin API` });
        assert.equal(view.remote_address, OUTSIDE_WS, `remote_address of ${socketId}`);
      }
    } finally {
      plain.ws.close();
      forged.ws.close();
    }
  });

  test('the lifecycle log\'s live stream (SSE) passes nginx as it is written', async () => {
    requireApp();
    const abort = new AbortController();
    const res = await fetch(`${s.nginx.url}/api/v1/apps/${s.app.id}/events/live?kind=publish_accepted`, {
      headers: { authorization: `Bearer ${s.token}`, accept: 'text/event-stream' }, signal: abort.signal,
    });
    try {
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /text\/event-stream/);
      const reader = res.body.getReader();
      let text = '';
      const seen = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`the stream ended: ${text}`);
          text += new TextDecoder().decode(value);
          // Only publish_accepted events pass the filter, and only this test publishes now.
          if (/^event: lifecycle$/m.test(text) && text.includes('publish_accepted')) return text;
        }
      })();
      // The stream is confirmed with a round trip before it starts: publish until an event shows.
      const publisher = sdk({ timeout: 12000 });
      let stop = false;
      const results = [];
      const publishing = (async () => {
        for (let i = 0; !stop && i < 60; i++) {
          results.push(await publisher.trigger('sse-probe', 'ping', { i }).then((r) => r.status, (e) => `${e.status} ${e.message} ${e.error?.message ?? ""} ${e.error?.cause?.message ?? ""}`));
          await sleep(250);
        }
      })();
      try {
        await within(seen, 30000, 'a publish_accepted event through nginx')
          .catch((e) => { throw new Error(`${e.message}; the stream sent ${JSON.stringify(text)}; publishes: ${JSON.stringify(results)}`); });
      } finally {
        stop = true;
        await publishing;
      }
    } finally {
      abort.abort();
    }
  });

  test('a node without the cluster\'s master key refuses to start, saying what to set', async (t) => {
    // With database_url set, a node must never generate a key of its own (the others could not read
    // what it stores, nor it theirs), and one with another key must be told at once, not fail later.
    const cases = {
      'no master key, empty database': { ...s.env, HERALD_DATABASE_URL: await s.db.another(), HERALD_MASTER_KEY: undefined },
      'no master key, the cluster\'s database': { ...s.env, HERALD_MASTER_KEY: undefined },
      'another master key, the cluster\'s database': { ...s.env, HERALD_MASTER_KEY: randomBytes(32).toString('base64') },
    };
    for (const [name, env] of Object.entries(cases)) {
      await t.test(name, async () => {
        const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
        const dir = await nodeDir('keyless');
        const node = spawnNode(`keyless node (${name})`, clean, dir);
        try {
          const outcome = await node.ready(20000).then(
            () => ({ ready: true }),
            async () => (node.running ? { hung: true } : { exited: await node.exited }),
          );
          assert.ok(!outcome.ready, `with ${name} the node started and answered /readyz 200:\n${tail(node.output(), 1500)}`);
          assert.ok(!outcome.hung, `with ${name} the node neither became ready nor exited within 20 s:\n${tail(node.output(), 1500)}`);
          assert.notEqual(outcome.exited.code, 0, 'exit status');
          assert.match(node.output(), /HERALD_MASTER_KEY/, `the refusal says what to set:\n${tail(node.output(), 1500)}`);
          if (!env.HERALD_MASTER_KEY) {
            assert.deepEqual(await readdir(path.join(dir, 'data')).catch(() => []), [], 'no key (or anything) generated into the data directory');
          }
        } finally {
          await node.dispose();
        }
      });
    }
  });

  test('pusher-js through nginx, the pusher SDK publishing through nginx: a node stopped with SIGTERM, its clients resume on the others with nothing lost', async () => {
    requireApp();
    assert.ok(s.up.length >= 2, `a failover needs two nodes up, ${s.up.length} are`);
    const CHANNEL = 'deploy-feed';
    const byPort = (port) => new Pusher(s.app.key, {
      cluster: 'herald', wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true,
    });

    // Which node id is which process: a raw socket to each node, looked up in the admin API.
    const nodeIds = new Map();
    for (const n of s.up) {
      const { ws, socketId } = await rawSocket(`ws://127.0.0.1:${n.port}/app/${s.app.key}?protocol=7`);
      const view = await eventually(async () => {
        const r = await admin(`/apps/${s.app.id}/connections/${socketId}`);
        return r.status === 200 && r.body;
      }, { timeout: 5000, what: `${n.name}'s probe connection in the admin API` });
      nodeIds.set(view.node, n);
      ws.close();
    }
    const nodeOf = async (socketId) => {
      const view = await eventually(async () => {
        const r = await admin(`/apps/${s.app.id}/connections/${socketId}`);
        return r.status === 200 && r.body;
      }, { timeout: 5000, what: `connection ${socketId} in the admin API` });
      return nodeIds.get(view.node)?.name ?? `unknown node ${view.node}`;
    };

    // Six subscribers through nginx (least_conn spreads them over the nodes), each with the resume plugin.
    s.clients = [];
    const subs = [];
    for (let k = 0; k < 6; k++) {
      const client = byPort(s.nginx.port);
      s.clients.push(client);
      const recoveries = [];
      const resume = enableResume(client, { onRecovery: (channel, r) => recoveries.push([channel, r]) });
      const ch = client.subscribe(CHANNEL);
      const got = [];
      ch.bind('n', (d) => got.push(d.i));
      subs.push({ name: `client${k + 1}`, client, ch, got, recoveries, resume });
    }
    await Promise.all(subs.map((c) => waitFor(c.ch, 'pusher:subscription_succeeded', 15000, { what: `${c.name} subscribed` })));
    for (const c of subs) {
      c.socketId = c.client.connection.socket_id;
      c.node = await nodeOf(c.socketId);
    }
    const counts = Object.fromEntries(s.up.map((n) => [n.name, subs.filter((c) => c.node === n.name).length]));
    const victim = s.up.reduce((a, b) => (counts[b.name] > counts[a.name] ? b : a));
    assert.ok(counts[victim.name] > 0, `no client landed on any node? ${JSON.stringify(counts)}`);
    const moving = subs.filter((c) => c.node === victim.name);
    const staying = subs.filter((c) => c.node !== victim.name);

    // One publisher through nginx, one message after the other, each retried with its idempotency key
    // until answered 200 (a publish in flight on the stopping node may get no answer).
    const publisher = sdk();
    const pub = { next: 1, stop: false, retries: [] };
    pub.done = (async () => {
      while (!pub.stop) {
        const i = pub.next;
        const deadline = Date.now() + 20000;
        for (;;) {
          try {
            await publisher.trigger(CHANNEL, 'n', { i }, { idempotency_key: `${CHANNEL}:${i}` });
            break;
          } catch (e) {
            pub.retries.push(`${i}: ${e.status ?? ''} ${e.message}`.slice(0, 200));
            if (Date.now() > deadline || (e.status >= 400 && e.status < 500)) throw e;
            await sleep(200);
          }
        }
        pub.next = i + 1;
        await sleep(50);
      }
    })();
    pub.done.catch(() => {}); // awaited below

    try {
      await eventually(() => subs.every((c) => c.got.length >= 5), { timeout: 15000, what: 'every client to receive five messages' });
      // A position names the stream's epoch: a client can resume on another node only if every node
      // serves the same one.
      const epochs = Object.fromEntries(subs.map((c) => [`${c.name} on ${c.node}`, c.resume.position(CHANNEL)?.epoch]));
      assert.equal(new Set(Object.values(epochs)).size, 1, `the nodes serve different epochs of the message stream, so a client moving between them cannot resume: ${JSON.stringify(epochs)}`);

      const closes = moving.map((c) => waitFor(c.client.connection, 'error', 20000, {
        filter: (e) => errorCode(e) === 4200, what: `${c.name}: pusher:error 4200 from the stopping node`,
      }));
      const recovered = moving.map((c) => waitFor(c.ch, 'herald:recovery', 30000, { what: `${c.name}: herald:recovery` }));
      const exit = await victim.terminate(30000);
      assert.deepEqual(exit, { code: 0, signal: null }, `${victim.name} exits 0 by itself after SIGTERM:\n${tail(victim.output(), 1500)}`);
      await Promise.all(closes);
      const outcomes = await Promise.all(recovered);
      for (const [k, c] of moving.entries()) {
        assert.deepEqual(outcomes[k], { recovered: true, reason: null }, `${c.name} resumed`);
        const socketId = c.client.connection.socket_id;
        assert.notEqual(socketId, c.socketId, `${c.name} has a new connection`);
        const now = await nodeOf(socketId);
        assert.notEqual(now, victim.name, `${c.name} landed on another node`);
      }

      // More messages after every client is back, then stop publishing.
      const resumedAt = pub.next;
      await eventually(() => pub.next >= resumedAt + 20, { timeout: 20000, what: 'twenty more publishes' });
    } finally {
      pub.stop = true;
    }
    await pub.done;
    const last = pub.next - 1;
    const expected = Array.from({ length: last }, (_, k) => k + 1);
    await eventually(() => subs.every((c) => c.got.length >= last), {
      timeout: 15000,
      what: `every client to have 1..${last} (${subs.map((c) => `${c.name}: ${c.got.length}`).join(', ')})`,
    });
    await sleep(500); // a late duplicate would show now
    for (const c of subs) {
      assert.deepEqual(c.got, expected, `${c.name} (${c.node}${moving.includes(c) ? ', moved' : ''}) got every message once, in order`);
    }
    for (const c of staying) {
      assert.equal(c.client.connection.socket_id, c.socketId, `${c.name} on ${c.node} kept its connection`);
      assert.deepEqual(c.recoveries, [], `${c.name} never had to resume`);
    }
    for (const c of moving) assert.deepEqual(c.recoveries, [[CHANNEL, { recovered: true, reason: null }]], `${c.name}'s onRecovery`);
  });
});
