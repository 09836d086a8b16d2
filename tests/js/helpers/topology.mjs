// The cluster topology of startHerald (HERALD_TEST_TOPOLOGY=cluster): a
// private nats-server and three herald nodes with the same app (credentials
// and settings), behind the `h` interface the single-node suites use, so the
// whole behaviour suite runs with its clients and publishers spread over
// three nodes:
// - every pusherClient()/rawSocket()/rawConnected() goes to the next node,
//   round-robin (the first to node A);
// - serverSdk() talks to the node after the last client's (the one the next
//   client would get), so a publish is never served by the last client's node;
// - url/port/wsBase are node A's, for tests that make HTTP requests by hand;
// - update() and createApp() change every node's store (each node has its own
//   SQLite data dir; createApp passes the same generated credentials to all);
// - owner() creates the admin on every node's store and logs in to node A, so
//   admin-API changes reach node A's store only.
// Before the test starts, every node has heard every other node's heartbeat
// (awaitMesh), probed through a harness app in a tenant of its own so that the
// probe connections count against no quota of the test's app.
import { randomBytes, randomInt } from 'node:crypto';
import {
  startHeraldNode, run, parseJsonOutput, settingsFlags,
} from './herald.mjs';
import { startNats, clusterSpec, allReady, awaitMesh } from './cluster.mjs';

const NODES = 3;
const NODE_TIMEOUT = 3; // seconds
const PROBE_TENANT = 'harness-probe';

const alnum = (n) => Array.from(randomBytes(n), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');

/** Credentials in the shape herald generates: a numeric id, 20-character key and secret. */
export function generatedCredentials() {
  return { id: String(randomInt(1000000, 9999999)), key: alnum(20), secret: alnum(20) };
}

export async function startClusterHerald(t, options = {}) {
  if (options.noApp) {
    throw new Error('noApp is not supported in the cluster topology: every node would create its own default '
      + 'app with other credentials (skip the test with clusterSkip)');
  }
  const credentials = { ...generatedCredentials(), ...(options.credentials || {}) };
  const probe = generatedCredentials();
  const spec = clusterSpec({ app: options.app, env: options.env, nodeTimeout: NODE_TIMEOUT });

  let nats = null;
  const nodes = [];
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(nodes.map((n) => n.stop()));
    if (nats) await nats.dispose();
  };
  if (t) t.after(stopAll);

  try {
    nats = await startNats(null);
    const starting = await Promise.allSettled(Array.from({ length: NODES }, (_, i) => startHeraldNode(null, {
      credentials,
      app: options.app,
      appName: options.appName,
      env: { ...spec.env, HERALD_NATS_URL: nats.url },
      prepare: async ({ bin, dataDir }) => {
        await run(bin, ['tenants', 'create', '--data-dir', dataDir, '--name', 'harness mesh probe', '--slug', PROBE_TENANT]);
        await run(bin, ['apps', 'create', '--data-dir', dataDir, '--tenant', PROBE_TENANT, '--name', 'mesh-probe',
          '--id', probe.id, '--key', probe.key, '--secret', probe.secret]);
      },
    }).then((node) => {
      node.name = `node${'ABC'[i]}`;
      nodes[i] = node;
      return node;
    })));
    const failed = starting.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const started = starting.map((r) => r.value);
    await allReady(started);
    // probe views of the nodes: the harness app instead of the test's
    await awaitMesh(started.map((node) => ({
      name: node.name,
      url: node.url,
      rawConnected: () => node.rawConnected(`/app/${probe.key}?protocol=7`),
      serverSdk: () => node.serverSdk({ appId: probe.id, key: probe.key, secret: probe.secret }),
    })));
  } catch (e) {
    await stopAll();
    throw e;
  }

  const [first] = nodes;
  let clients = 0;
  /** node.app follows h.app, which a test may replace */
  const on = (node) => { node.app = h.app; return node; };
  const nextClientNode = () => on(nodes[clients++ % nodes.length]);
  const publisherNode = () => on(nodes[clients % nodes.length]);
  const everyNode = (fn) => Promise.all(nodes.map((node) => fn(on(node))));

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

    async update(settings) {
      const [out] = await everyNode((node) => node.update(settings));
      return out;
    },

    /** The same app (generated credentials) on every node. */
    async createApp(name, settings = {}) {
      const c = generatedCredentials();
      const [a] = await everyNode(async (node) => parseJsonOutput(await run(node.bin, [
        'apps', 'create', '--data-dir', node.dataDir, '--name', name,
        '--id', c.id, '--key', c.key, '--secret', c.secret, ...settingsFlags(settings),
      ])));
      a.id = String(a.id);
      return a;
    },

    /** Node A's apps, without the harness's probe app. */
    async listApps() {
      return (await on(first).listApps()).filter((a) => String(a.id) !== probe.id);
    },

    /** The owner exists in every node's store; the session is node A's. */
    async owner(email = 'owner@herald.test', password = 'correct horse battery staple') {
      await Promise.all(nodes.slice(1).map((node) => run(node.bin,
        ['admins', 'create', '--data-dir', node.dataDir, '--email', email, '--role', 'owner'], `${password}\n`)));
      return on(first).owner(email, password);
    },

    /** Sends the signal to every node; resolves once all have exited, with the first
     * abnormal exit ({code, signal}) if there is one, else node A's. */
    async signal(sig, ms = 15000) {
      const exits = await everyNode((node) => node.signal(sig, ms));
      return exits.find((x) => x.code !== 0 || x.signal !== null) ?? exits[0];
    },

    stop: stopAll,
  };
  return h;
}
