// Cluster harness: a private nats-server (or a 3-node NATS cluster) per test,
// and several herald nodes joined through it. Every test gets its own NATS
// processes, ports, store directories and subject prefix, so cluster tests
// can run in parallel with each other and with the single-node suites.
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, startHeraldNode, eventually, sleep, within } from './herald.mjs';

export { freePort };

export const CLUSTER_APP = { id: '4242', key: 'cluster-key', secret: 'cluster-secret' };

async function natsBin() {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  try {
    await access('/usr/sbin/nats-server');
    return '/usr/sbin/nats-server';
  } catch {
    return 'nats-server';
  }
}

/** A unique NATS subject prefix for one test. */
export const uniquePrefix = () => `ht${randomBytes(6).toString('hex')}`;

// What nats-server logs once it listens, with the ports it chose (`-m -1`,
// `-cluster nats://127.0.0.1:-1` let it choose).
const LISTENING = {
  port: /Listening for client connections on [\d.]+:(\d+)/,
  monitorPort: /Starting http monitor on [\d.]+:(\d+)/,
  routePort: /Listening for route connections on [\d.]+:(\d+)/,
};

/** A port free now on 127.0.0.1 in 20000–32767: below the ephemeral range (32768–60999 here), so the
 * kernel never hands it to a socket bound to port 0 or to an outgoing connection. */
async function quietPort() {
  for (;;) {
    const candidate = 20000 + Math.floor(Math.random() * 12768);
    const free = await new Promise((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(candidate, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return candidate;
  }
}

/**
 * One nats-server process with JetStream and its own store dir. Its client port
 * is picked below the ephemeral range at the first start (see `start`), its monitor
 * and (with `cluster`) route ports are chosen by the server then; all are kept for
 * restarts. `cluster`: {name, routePort, routes: () =>
 * [route ports of the other servers]}.
 * Returns {url, port, monitorPort, routePort, logs(), stop(), kill(), restart(), start()}.
 */
async function natsProcess({ name = 'nats', port = -1, cluster = null } = {}) {
  const bin = await natsBin();
  const storeDir = await mkdtemp(path.join(os.tmpdir(), 'herald-nats-'));
  let proc = null;
  let logs = '';
  const n = {
    port,
    monitorPort: -1,
    routePort: cluster?.routePort ?? -1,
    storeDir,
    get url() { return `nats://127.0.0.1:${n.port}`; },
    logs: () => logs,
    get running() { return proc !== null && proc.exitCode === null && proc.signalCode === null; },

    /** Spawns nats-server and waits until it says it is ready (with its ports). The first start
     * picks the client port below the kernel's ephemeral range (retrying a taken one), so that
     * while this server is stopped for a restart no port chosen by the kernel for another test's
     * process can take its port. */
    async start(ms = 10000) {
      if (n.port !== -1) return n.startOnce(ms);
      for (let attempt = 0; ; attempt++) {
        n.port = await quietPort();
        try {
          return await n.startOnce(ms);
        } catch (e) {
          if (attempt >= 4 || !/address already in use/i.test(e.message)) throw e;
        }
      }
    },

    async startOnce(ms) {
      if (n.running) throw new Error(`${name} is already running`);
      const args = ['-a', '127.0.0.1', '-p', String(n.port), '-m', String(n.monitorPort), '-js', '-sd', storeDir, '-n', name];
      if (cluster) {
        const routes = cluster.routes().map((p) => `nats://127.0.0.1:${p}`);
        args.push('-cluster', `nats://127.0.0.1:${n.routePort}`, '-cluster_name', cluster.name);
        if (routes.length) args.push('-routes', routes.join(','));
      }
      const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      let startLogs = '';
      const keep = (d) => {
        logs = (logs + d.toString()).slice(-20000);
        startLogs += d.toString();
      };
      p.stdout.on('data', keep);
      p.stderr.on('data', keep);
      p.exited = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
      p.on('error', (e) => { logs += `\nspawn error: ${e.message}`; });
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (p.exitCode !== null || p.signalCode !== null) {
          throw new Error(`${name} exited (${p.exitCode ?? p.signalCode}) before it was ready:\n${logs}`);
        }
        if (startLogs.includes('Server is ready')) {
          for (const [field, re] of Object.entries(LISTENING)) {
            const m = startLogs.match(re);
            if (m) n[field] = Number(m[1]);
          }
          return n;
        }
        await sleep(20);
      }
      p.kill('SIGKILL');
      throw new Error(`${name} not ready after ${ms} ms:\n${logs}`);
    },
    /** Graceful stop (SIGTERM, SIGKILL after 10 s); resolves once the process has exited. */
    async stop() {
      if (!n.running) return;
      const p = proc;
      p.kill('SIGTERM');
      try {
        await within(p.exited, 10000, `${name} to exit after SIGTERM`);
      } catch {
        p.kill('SIGKILL');
        await p.exited;
      }
    },

    async kill() {
      if (!n.running) return;
      proc.kill('SIGKILL');
      await proc.exited;
    },

    /** Stops, then starts again on the same port with the same store dir. */
    async restart() {
      await n.stop();
      return n.start();
    },

    async dispose() {
      await n.kill();
      await rm(storeDir, { recursive: true, force: true });
    },

    /** Names of the client connections this server has (needs a monitor port). */
    async connectionNames() {
      const res = await fetch(`http://127.0.0.1:${n.monitorPort}/connz?limit=1000`);
      const body = await res.json();
      return (body.connections || []).map((c) => c.name || '');
    },
  };
  return n;
}

/** Starts a nats-server for one test: {url, port, stop(), kill(), restart()}. */
export async function startNats(t, { port } = {}) {
  const n = await natsProcess({ port: port ?? -1 });
  try {
    await n.start();
  } catch (e) {
    await n.dispose();
    throw e;
  }
  if (t) t.after(() => n.dispose());
  return n;
}

/**
 * Starts a NATS cluster of `size` routed servers: {nodes, urls, url (all, comma-separated)}.
 * JetStream clustering needs every server's routes before it starts, so route ports are
 * picked here; a server whose route port was taken meanwhile exits, and the cluster is
 * started again on other ports. Client and monitor ports are the servers' own choice.
 */
export async function startNatsCluster(t, size = 3) {
  for (let attempt = 0; ; attempt++) {
    const name = `hc${randomBytes(4).toString('hex')}`;
    const routePorts = [];
    for (let i = 0; i < size; i++) routePorts.push(await freePort());
    const nodes = [];
    for (let i = 0; i < size; i++) {
      nodes.push(await natsProcess({
        name: `${name}-n${i}`,
        cluster: { name, routePort: routePorts[i], routes: () => routePorts.filter((_, j) => j !== i) },
      }));
    }
    try {
      await Promise.all(nodes.map((n) => n.start()));
      // routes up: every server sees the others
      await eventually(async () => {
        for (const n of nodes) {
          const res = await fetch(`http://127.0.0.1:${n.monitorPort}/routez`);
          const body = await res.json();
          if ((body.num_routes ?? 0) < size - 1) return false;
        }
        return true;
      }, { timeout: 15000, what: `the ${size} NATS servers to route to each other` });
      if (t) t.after(() => Promise.all(nodes.map((n) => n.dispose())));
      return {
        nodes,
        get urls() { return nodes.map((n) => n.url); },
        get url() { return nodes.map((n) => n.url).join(','); },
      };
    } catch (e) {
      await Promise.all(nodes.map((n) => n.dispose()));
      if (attempt >= 2) throw e;
    }
  }
}

/** What a set of herald nodes share: app credentials, settings, prefix, node timeout. */
export function clusterSpec({ app = {}, env = {}, prefix = uniquePrefix(), nodeTimeout = '3' } = {}) {
  return {
    credentials: CLUSTER_APP,
    app,
    env: { NO_COLOR: '1', HERALD_NATS_PREFIX: prefix, HERALD_NODE_TIMEOUT: String(nodeTimeout), ...env },
    prefix,
  };
}

/** One herald node of `spec`, connected to `natsUrl` (one URL or several, comma-separated). */
export async function startNode(t, spec, natsUrl, index = 0) {
  const h = await startHeraldNode(t, {
    credentials: spec.credentials,
    app: spec.app,
    appName: 'cluster-app',
    env: { ...spec.env, HERALD_NATS_URL: natsUrl },
  });
  h.name = `node${'ABCDEFGH'[index] ?? index}`;
  return h;
}

/** GET readyz of a node: the status code, or 0 when it does not answer. */
export async function readyStatus(h) {
  try {
    const res = await fetch(`${h.url}/readyz`);
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Waits until every node answers readyz 200. */
export async function allReady(nodes, timeout = 20000) {
  await eventually(async () => {
    for (const h of nodes) if (await readyStatus(h) !== 200) return false;
    return true;
  }, { timeout, what: `readyz 200 on ${nodes.map((h) => h.name).join(', ')}` });
}

/** Occupied channel names as seen through node `h` (optionally filtered by prefix). */
export async function channelNames(h, prefix) {
  const res = await h.serverSdk().get({ path: '/channels', params: prefix ? { filter_by_prefix: prefix } : {} });
  if (res.status !== 200) throw new Error(`GET /channels via ${h.name}: ${res.status}`);
  return Object.keys((await res.json()).channels).sort();
}

/** Presence member ids of `channel` as seen through node `h`, sorted. */
export async function userIds(h, channel) {
  const res = await h.serverSdk().get({ path: `/channels/${channel}/users` });
  if (res.status !== 200) throw new Error(`GET users via ${h.name}: ${res.status}`);
  return (await res.json()).users.map((u) => u.id).sort();
}

/**
 * Waits until the nodes know each other: a raw socket on every node subscribes
 * a probe channel and each node's GET /channels lists all the probes (queries
 * are answered by every node the asking node has heard a heartbeat from). The
 * probes are closed again and waited out of the listing.
 */
export async function awaitMesh(nodes, timeout = 15000) {
  const tag = randomBytes(3).toString('hex');
  const probes = nodes.map((_, i) => `mesh-probe-${tag}-${i}`);
  const sockets = [];
  for (const [i, h] of nodes.entries()) {
    const s = await h.rawConnected();
    await s.subscribed(probes[i]);
    sockets.push(s);
  }
  const want = JSON.stringify(probes);
  await eventually(async () => {
    for (const h of nodes) {
      if (JSON.stringify(await channelNames(h, `mesh-probe-${tag}-`)) !== want) return false;
    }
    return true;
  }, { timeout, what: `every node to see the probe channels of all ${nodes.length} nodes` });
  for (const s of sockets) s.close();
  await eventually(async () => (await channelNames(nodes[0], `mesh-probe-${tag}-`)).length === 0,
    { timeout, what: 'the probe channels to be vacated' });
}

/**
 * Starts `n` herald nodes sharing one app and prefix, all connected to `nats`
 * (a startNats/startNatsCluster result, or a URL string; `urls` may give one
 * URL string per node instead), waits until they are ready and know each other.
 * Returns {nodes, spec, prefix}.
 */
export async function startCluster(t, n = 3, { nats, urls, env, app, nodeTimeout } = {}) {
  const spec = clusterSpec({ env, app, nodeTimeout });
  const natsUrl = typeof nats === 'string' ? nats : nats?.url;
  if (!natsUrl && !urls) throw new Error('startCluster needs nats or urls');
  const nodes = await Promise.all(Array.from({ length: n }, (_, i) => startNode(t, spec, urls ? urls[i] : natsUrl, i)));
  await allReady(nodes);
  await awaitMesh(nodes);
  return { nodes, spec, prefix: spec.prefix };
}

/** Log tails of the nodes (without readyz failures and NATS reconnect noise), for failure messages. */
export function clusterLogs(nodes, lines = 30) {
  const noise = /tower_http|nats: IO error/;
  return nodes.map((h) => {
    const tail = h.logs().split('\n').filter((l) => l && !noise.test(l)).slice(-lines).join('\n');
    return `----- ${h.name} (${h.url}) -----\n${tail}`;
  }).join('\n');
}
