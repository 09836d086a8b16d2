// The cluster topology of startHerald (HERALD_TEST_TOPOLOGY=cluster): a
// private nats-server and three herald nodes sharing one control store (a
// fresh Postgres database on HERALD_TEST_PG_URL, as a real cluster shares
// one), behind the `h` interface the single-node suites use, so the whole
// behaviour suite runs with its clients and publishers spread over three nodes:
// - every pusherClient()/rawSocket()/rawConnected() goes to the next node,
//   round-robin (the first to node A);
// - serverSdk() talks to the node after the last client's (the one the next
//   client would get), so a publish is never served by the last client's node;
// - url/port/wsBase are node A's, for tests that make HTTP requests by hand
//   (admin-API calls among them: their changes reach every node through the
//   shared store, as in production);
// - update(), createApp(), owner() and the CLI change the shared store once.
// Before the test starts, every node has heard every other node's heartbeat
// (awaitMesh), probed through a harness app in a tenant of its own so that the
// probe connections count against no quota of the test's app.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  startHeraldNode, run, parseJsonOutput, settingsFlags, heraldBin,
} from './herald.mjs';
import { PG_URL, freshDatabase } from './postgres.mjs';
import { startNats, clusterSpec, allReady, awaitMesh } from './cluster.mjs';

const NODES = 3;
const NODE_TIMEOUT = 3; // seconds
const PROBE_TENANT = 'harness-probe';

const alnum = (n) => Array.from(randomBytes(n), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');

/** Credentials in the shape herald generates: a numeric id, 20-character key and secret. */
export function generatedCredentials() {
  return { id: String(randomInt(1000000, 9999999)), key: alnum(20), secret: alnum(20) };
}

/** Every node of the test uses the same database and the same master key (app secrets are
 * encrypted with it in the store). */
async function sharedStore() {
  if (!PG_URL) {
    throw new Error('the cluster topology needs HERALD_TEST_PG_URL (the nodes share one Postgres control store); '
      + 'scripts/test starts a throwaway server, or run: eval "$(scripts/postgres-throwaway)"');
  }
  const db = await freshDatabase(null);
  return { db, env: { HERALD_DATABASE_URL: db.url, HERALD_MASTER_KEY: randomBytes(32).toString('base64') } };
}

/**
 * The cluster topology for one test. A setup that fails is tried once more, saying so on stderr
 * with the nats-server's state and log: nats-server 2.9 could crash when three nodes updated the
 * stream at once (herald now updates a stream only when its settings changed, see
 * server/src/cluster/streams.rs); a setup failure of that kind stays visible in the output.
 */
export async function startClusterHerald(t, options = {}) {
  try {
    return await startClusterOnce(t, options);
  } catch (e) {
    console.error(`cluster topology: the setup failed, trying once more:\n${e.message}`);
    return startClusterOnce(t, options);
  }
}

async function startClusterOnce(t, options) {
  const credentials = { ...generatedCredentials(), ...(options.credentials || {}) };
  const probe = generatedCredentials();
  const spec = clusterSpec({ app: options.app, env: options.env, nodeTimeout: NODE_TIMEOUT });

  let nats = null;
  let db = null;
  let setupDir = null;
  const nodes = [];
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(nodes.map((n) => n.stop()));
    if (nats) await nats.dispose();
    if (db) await db.drop();
    if (setupDir) await rm(setupDir, { recursive: true, force: true });
  };
  if (t) t.after(stopAll);

  let app = null;
  try {
    const shared = await sharedStore();
    db = shared.db;
    nats = await startNats(null);
    const env = { ...spec.env, ...shared.env, HERALD_NATS_URL: nats.url };
    // CLI commands on the shared store before any node runs (the data directory holds nothing then)
    setupDir = await mkdtemp(path.join(os.tmpdir(), 'herald-cluster-setup-'));
    const bin = await heraldBin();
    const cli = (args) => run(bin, [...args, '--data-dir', setupDir], undefined, env);
    const start = (i) => startHeraldNode(null, { existingApp: app, noApp: options.noApp, env }).then((node) => {
      node.name = `node${'ABC'[i]}`;
      nodes[i] = node;
      return node;
    });
    // With noApp, node A starts alone on the empty store and creates its default app; the
    // others find it there.
    if (options.noApp) {
      await start(0);
    } else {
      app = parseJsonOutput(await cli(['apps', 'create', '--name', options.appName || 'test-app',
        ...credentialFlags(credentials), ...settingsFlags(options.app)]));
      app.id = String(app.id);
    }
    await cli(['tenants', 'create', '--name', 'harness mesh probe', '--slug', PROBE_TENANT]);
    await cli(['apps', 'create', '--tenant', PROBE_TENANT, '--name', 'mesh-probe', ...credentialFlags(probe)]);
    const starting = await Promise.allSettled(
      Array.from({ length: NODES }, (_, i) => i).filter((i) => !nodes[i]).map(start),
    );
    const failed = starting.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    await allReady(nodes);
    // probe views of the nodes: the harness app instead of the test's
    await awaitMesh(nodes.map((node) => ({
      name: node.name,
      url: node.url,
      rawConnected: () => node.rawConnected(`/app/${probe.key}?protocol=7`),
      serverSdk: () => node.serverSdk({ appId: probe.id, key: probe.key, secret: probe.secret }),
    })));
  } catch (e) {
    if (nats && e instanceof Error) {
      e.message += `\n----- nats-server on ${nats.url} (${nats.running ? 'running' : 'not running'}), its log tail -----\n`
        + nats.logs().slice(-3000);
    }
    await stopAll();
    throw e;
  }

  const [first] = nodes;
  let clients = 0;
  /** node.app follows h.app, which a test may replace */
  const on = (node) => { node.app = h.app; return node; };
  const nextClientNode = () => on(nodes[clients++ % nodes.length]);
  const publisherNode = () => on(nodes[clients % nodes.length]);

  const h = {
    topology: 'cluster',
    nodes,
    nats,
    prefix: spec.prefix,
    url: first.url,
    wsBase: first.wsBase,
    port: first.port,
    app: first.app, // replaceable: methods read h.app
    dataDir: first.dataDir,
    bin: first.bin,
    proc: first.proc,
    cli: first.cli,
    logs: () => nodes.map((node) => `----- ${node.name} (${node.url}) -----\n${node.logs()}`).join('\n'),
    exited: Promise.all(nodes.map((node) => node.exited)).then(([a]) => a),

    serverSdk(extra = {}) {
      return publisherNode().serverSdk(extra);
    },

    pusherClient(opts = {}) {
      return nextClientNode().pusherClient(opts);
    },

    rawSocket(p, wsOptions) {
      return nextClientNode().rawSocket(p, wsOptions);
    },

    async rawConnected(p, wsOptions) {
      const s = h.rawSocket(p, wsOptions);
      await s.established();
      return s;
    },

    auth(socketId, channel, presenceData) {
      return on(first).auth(socketId, channel, presenceData);
    },

    signinData(socketId, userData) {
      return on(first).signinData(socketId, userData);
    },

    /** The shared store changes once; every node reloads it within about a second. */
    update(settings) {
      return on(first).update(settings);
    },

    createApp(name, settings = {}) {
      return first.createApp(name, settings, generatedCredentials());
    },

    /** The shared store's apps, without the harness's probe app. */
    async listApps() {
      return (await first.listApps()).filter((a) => String(a.id) !== probe.id);
    },

    /** The owner is created in the shared store; the session is node A's. */
    owner(email, password) {
      return first.owner(email, password);
    },

    /** Sends the signal to every node; resolves once all have exited, with the first
     * abnormal exit ({code, signal}) if there is one, else node A's. */
    async signal(sig, ms = 15000) {
      const exits = await Promise.all(nodes.map((node) => node.signal(sig, ms)));
      return exits.find((x) => x.code !== 0 || x.signal !== null) ?? exits[0];
    },

    stop: stopAll,
  };
  return h;
}

function credentialFlags({ id, key, secret }) {
  return ['--id', id, '--key', key, '--secret', secret];
}
