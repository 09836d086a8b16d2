// The parts of the chaos and restart tests (chaos.test.mjs, cluster-restarts.test.mjs): a cluster of
// three nodes on NATS and on a Postgres of the test's own, publishers that number their messages per
// channel and retry each on another node with its Idempotency-Key until 200, and worker threads of
// pusher-js subscribers with the resume plugin (chaos-subscribers.mjs) whose counts are merged here.
import { Worker } from 'node:worker_threads';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { sleep, hmac, md5, heraldBin, run, parseJsonOutput, settingsFlags, startHeraldNode } from './herald.mjs';
import { allReady, clusterSpec, awaitMesh, CLUSTER_APP } from './cluster.mjs';

/** The positive number in environment variable `name`, or `dflt` when it is unset or empty. */
export function envNumber(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${JSON.stringify(v)}`);
  return n;
}

export const PUBLISH_TIMEOUT = 3000; // ms per HTTP attempt
const PUBLISH_GIVE_UP = 60000; // ms of failed attempts for one message: the test fails

// ------------------------------------------------------------- the cluster

const pgScript = new URL('../../../scripts/postgres-throwaway', import.meta.url).pathname;
const exec = promisify(execFile);

/** A Postgres of this test's own (it is stopped mid-run): {url, dir, pause(), resume()}. */
export async function ownPostgres(t) {
  const { stdout } = await exec(pgScript, [], { maxBuffer: 1 << 20 });
  const url = stdout.match(/HERALD_TEST_PG_URL=(\S+)/)?.[1];
  const dir = stdout.match(/HERALD_TEST_PG_DIR=(\S+)/)?.[1];
  if (!url || !dir) throw new Error(`scripts/postgres-throwaway said: ${stdout}`);
  t.after(() => exec(pgScript, ['stop', dir]).catch(() => {}));
  return { url, pause: () => exec(pgScript, ['pause', dir]), resume: () => exec(pgScript, ['resume', dir]) };
}

/**
 * Three nodes on NATS and on one Postgres, sharing the chaos app (created once, before them), each
 * channel keeping `history` messages: {nodes, startNode(name)}.
 */
export async function startChaosCluster(t, nats, pg, { history }) {
  const spec = clusterSpec({ app: { historyMaxMessages: history }, env: { HERALD_HISTORY_SIZE: String(history) } });
  const env = {
    ...spec.env,
    HERALD_NATS_URL: nats.url,
    HERALD_DATABASE_URL: pg.url,
    HERALD_MASTER_KEY: randomBytes(32).toString('base64'),
  };
  const setup = await mkdtemp(path.join(os.tmpdir(), 'herald-chaos-setup-'));
  const flags = ['--id', CLUSTER_APP.id, '--key', CLUSTER_APP.key, '--secret', CLUSTER_APP.secret];
  const app = parseJsonOutput(await run(await heraldBin(), ['apps', 'create', '--data-dir', setup, '--name', 'chaos',
    ...flags, ...settingsFlags(spec.app)], undefined, env));
  app.id = String(app.id);
  /** One more node of the cluster (a restart is a new process on a new port), ready. */
  const startNode = async (name) => {
    const h = await startHeraldNode(t, { existingApp: app, env });
    h.name = name;
    return h;
  };
  const nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await startNode(`node${'ABC'[i]}`));
  await allReady(nodes);
  await awaitMesh(nodes);
  return { nodes, startNode };
}

// ------------------------------------------------------------- publishing

/** POST /apps/{id}/events through node h with an Idempotency-Key; resolves with the status (0: no answer). */
export async function publishOnce(h, channel, i) {
  const body = JSON.stringify({ name: 'n', channel, data: JSON.stringify({ i }) });
  const apiPath = `/apps/${CLUSTER_APP.id}/events`;
  const params = {
    auth_key: CLUSTER_APP.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0', body_md5: md5(body),
  };
  const sorted = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
  const qs = new URLSearchParams({ ...params, auth_signature: hmac(CLUSTER_APP.secret, `POST\n${apiPath}\n${sorted}`) });
  try {
    const res = await fetch(`${h.url}${apiPath}?${qs}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `${channel}:${i}` },
      body,
      signal: AbortSignal.timeout(PUBLISH_TIMEOUT),
    });
    const text = await res.text();
    return { status: res.status, text };
  } catch (e) {
    return { status: 0, text: e.cause?.code || e.name || String(e) };
  }
}

/**
 * Publishers: one loop per channel, each message at its due time (or at once when behind), through
 * the live nodes in turn; a failed attempt is retried on the next node after a short backoff, with
 * the same Idempotency-Key, until 200. Per channel one message at a time, so publish order is i order.
 */
export function startPublishing({ live, channels, rate, until, stats, timeline, t0, halted }) {
  let turn = 0;
  const last = channels.map(() => 0);
  const period = (1000 * channels.length) / rate; // per channel
  const start = Date.now();
  async function deliver(channel, i) {
    const first = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (halted()) throw new Error('the test is over');
      const nodes = live();
      const h = nodes[turn++ % nodes.length];
      const { status, text } = await publishOnce(h, channel, i);
      if (status === 200) {
        const ms = Date.now() - first;
        stats.latencies.push(ms);
        return;
      }
      stats.retries++;
      stats.failures[status] = (stats.failures[status] || 0) + 1;
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        throw new Error(`publish ${channel}:${i} via ${h.name} refused with ${status}: ${text}`);
      }
      if (Date.now() - first > PUBLISH_GIVE_UP) {
        throw new Error(`publish ${channel}:${i} still failing after ${PUBLISH_GIVE_UP} ms (last: ${h.name} ${status} ${text})`);
      }
      if (attempt === 0) timeline.push({ t: Date.now() - t0, what: `publish ${channel}:${i} retried (${h.name}: ${status || text})` });
      await sleep(Math.min(25 * 2 ** attempt, 500));
    }
  }
  const loops = channels.map(async (channel, c) => {
    for (let i = 1; ; i++) {
      const due = start + (c / channels.length) * period + (i - 1) * period;
      if (due >= until || halted()) break;
      if (due > Date.now()) await sleep(due - Date.now());
      await deliver(channel, i);
      last[c] = i;
    }
  });
  return { last, done: Promise.all(loops) };
}

// ------------------------------------------------------------- subscribers

/** A worker thread holding a share of the subscribers (helpers/chaos-subscribers.mjs), driven by call(). */
export function subscriberWorker(workerData) {
  const w = new Worker(new URL('./chaos-subscribers.mjs', import.meta.url), { workerData });
  const pending = new Map();
  let seq = 0;
  let dead = null;
  const failAll = (e) => {
    dead = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  const ready = new Promise((resolve, reject) => {
    w.on('message', (m) => {
      if (m.ready) return resolve();
      const p = pending.get(m.id);
      if (!p) return undefined;
      pending.delete(m.id);
      return m.error ? p.reject(new Error(m.error)) : p.resolve(m.result);
    });
    w.on('error', (e) => { reject(e); failAll(e); });
    w.on('exit', (code) => {
      const e = new Error(`subscriber worker exited with ${code}`);
      reject(e);
      failAll(e);
    });
  });
  return {
    ready,
    call(cmd, args = {}) {
      if (dead) return Promise.reject(dead);
      const id = ++seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.postMessage({ id, cmd, ...args });
      });
    },
    async close() {
      if (!dead) await Promise.race([this.call('stop').catch(() => {}), sleep(2000)]);
      await w.terminate();
    },
  };
}

// ------------------------------------------------------------- results

const COUNTS = ['delivered', 'duplicates', 'outOfOrder', 'gaps', 'gapPairs', 'undrained', 'recoveredFalse', 'recoveredTrue', 'reconnects', 'anomalyCount'];

/** Every worker's `status` against `last` merged: {done, total, behind}. */
export async function drainStatus(workers, last) {
  const parts = await Promise.all(workers.map((w) => w.call('status', { last })));
  const status = { done: 0, total: 0, behind: [] };
  for (const p of parts) {
    status.done += p.done;
    status.total += p.total;
    status.behind.push(...p.behind);
  }
  return status;
}

/** Waits (bounded by `seconds`) until every subscriber has every number up to `last`; the status. */
export async function drain(workers, last, seconds) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const status = await drainStatus(workers, last);
    if (status.done === status.total || Date.now() > until) return status;
    await sleep(250);
  }
}

/** Every worker's `report` against `last` merged. */
export async function collectReports(workers, last) {
  const reports = await Promise.all(workers.map((w) => w.call('report', { last })));
  const r = { reasons: {}, anomalies: [], missing: [], recoveredFalsePairs: [], notConnected: [] };
  for (const k of COUNTS) r[k] = 0;
  for (const w of reports) {
    for (const k of COUNTS) r[k] += w[k];
    for (const [why, n] of Object.entries(w.reasons)) r.reasons[why] = (r.reasons[why] || 0) + n;
    r.anomalies.push(...w.anomalies);
    r.missing.push(...w.missing);
    r.recoveredFalsePairs.push(...w.recoveredFalsePairs);
    r.notConnected.push(...w.notConnected);
  }
  return r;
}
