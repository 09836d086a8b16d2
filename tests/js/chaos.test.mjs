// Chaos: no message lost. A private nats-server, three herald nodes and a TCP
// balancer in front of them (helpers/balancer.mjs); pusher-js subscribers with
// the resume plugin (clients/pusher-js-resume) connect through the balancer
// and record numbered messages per channel; publishers send `{i}` per channel
// at a steady rate through the HTTP API of the nodes in turn, with an
// Idempotency-Key and retries (on another node) until 200. Meanwhile the
// balancer drops a random ~20% of the subscriber connections every 2-3 s, one
// node is killed with SIGKILL (at 30% of the run), nats-server is restarted
// (at 60%; same port, same store, down 4 s; one more cut 1 s before, so that
// the reconnected clients resume as NATS goes down), and the Postgres the nodes
// share (their own throwaway server) is stopped at 40% for CHAOS_PG_DOWN
// seconds (default 4; the benchmark's is 30). At the end every
// subscriber must have, per channel, every number from 1 (they all subscribed
// before the first publish) to the last published, once each and in order,
// and no channel may have been reported lost (recovered:false): JetStream
// keeps the history across node and NATS restarts.
//
// Scale (defaults run in ~30 s, for CI):
//   CHAOS_SUBSCRIBERS (24)  CHAOS_CHANNELS (3)  CHAOS_RATE total msgs/s (30)  CHAOS_SECONDS (20)
//   CHAOS_CHANNELS_PER_SUBSCRIBER (all)   CHAOS_CUT_FRACTION (0.2)
//   CHAOS_WORKERS (subscriber worker threads; default one per 500 subscribers, at most CPUs - 1)
//   CHAOS_DRAIN_SECONDS (bounded wait for the last messages; 30 + 1 per 50 subscribers)
//   CHAOS_HISTORY (messages kept per channel; default a minute of a channel, at least 1000)
//   CHAOS_REPORT (path of the JSON report; default: a temp file, written when the test fails)
//   CHAOS_PLUGIN (path of another resume plugin module to try)
//   CHAOS_PG_DOWN (seconds the shared Postgres is stopped; default 4)
// The benchmark: CHAOS_SUBSCRIBERS=2000 CHAOS_RATE=200 CHAOS_SECONDS=300 node --test chaos.test.mjs
// (a subscriber holds one fd here and the balancer two: 2000 subscribers need ~6,100 open files).
// It prints one line: CHAOS {"published":…,"delivered":…,"duplicates":…,"gaps":…,…}, where
// gaps counts the numbers never delivered (on pairs not reported recovered:false), delivered
// every event the subscribers got, and seconds the time from the first publish to the end of
// the drain. The report file has the timeline, each anomaly with the subscriber's recent
// connections (and the node each went to), subscribes sent, and raw frames around it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sleep, eventually, clusterSkip } from './helpers/herald.mjs';
import { startNats, allReady, readyStatus, clusterLogs, CLUSTER_APP } from './helpers/cluster.mjs';
import { startBalancer } from './helpers/balancer.mjs';
import {
  envNumber, ownPostgres, startChaosCluster, startPublishing, subscriberWorker, drain, collectReports,
} from './helpers/chaos.mjs';

const SUBSCRIBERS = Math.round(envNumber('CHAOS_SUBSCRIBERS', 24));
const CHANNELS = Math.round(envNumber('CHAOS_CHANNELS', 3));
const RATE = envNumber('CHAOS_RATE', 30);
const SECONDS = envNumber('CHAOS_SECONDS', 20);
const PER_SUBSCRIBER = Math.min(CHANNELS, Math.round(envNumber('CHAOS_CHANNELS_PER_SUBSCRIBER', CHANNELS)));
const WORKERS = Math.min(SUBSCRIBERS, Math.round(envNumber('CHAOS_WORKERS',
  Math.min(Math.max(1, (os.availableParallelism?.() ?? os.cpus().length) - 1), Math.ceil(SUBSCRIBERS / 500)))));
const CUT_FRACTION = envNumber('CHAOS_CUT_FRACTION', 0.2);
const DRAIN_SECONDS = envNumber('CHAOS_DRAIN_SECONDS', 30 + SUBSCRIBERS / 50);
// Messages kept per channel (the app's historyMaxMessages and the nodes' HERALD_HISTORY_SIZE): a
// minute of each channel, so that a subscriber that lagged or was cut off can always resume (the
// app default, 100 messages, is 2 s of a channel at CHAOS_RATE=150).
const HISTORY = Math.round(envNumber('CHAOS_HISTORY', Math.max(1000, Math.ceil((RATE / CHANNELS) * 60))));
const KILL_AT = 0.3; // of the run: SIGKILL one node
const NATS_RESTART_AT = 0.6; // of the run: restart nats-server
// at least (and until every live node has noticed): longer than PUBLISH_TIMEOUT, so that a publish the
// node holds over the outage is given up by the publisher and retried elsewhere with its Idempotency-Key
const NATS_DOWN_MS = 4000;
const PG_STOP_AT = 0.4; // of the run: stop the nodes' Postgres
const PG_DOWN_MS = envNumber('CHAOS_PG_DOWN', 4) * 1000;
const RECONNECT_DELAY = 1000; // pusher-js retries a dropped connection after 1 s
const PLUGIN = process.env.CHAOS_PLUGIN
  ? new URL(`file://${path.resolve(process.env.CHAOS_PLUGIN)}`).href
  : new URL('../../clients/pusher-js-resume/index.mjs', import.meta.url).href;

// ------------------------------------------------------------- report

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : null);

/** The serial and number of a raw event frame of `channel`, or null. */
function frameInfo([t, raw], t0, balancer) {
  try {
    const f = JSON.parse(raw);
    let d = f.data;
    try { d = JSON.parse(d); } catch { /* not JSON */ }
    return {
      at: t - t0, event: f.event, channel: f.channel, i: d?.i, epoch: f.epoch, serial: f.serial,
      ...(f.recovered !== undefined ? { recovered: f.recovered, reason: f.recovery_reason } : {}),
      ...(f.event === 'pusher:connection_established' ? { node: balancer.backendOf(d?.socket_id) } : {}),
    };
  } catch {
    return { at: t - t0, raw: String(raw).slice(0, 200) };
  }
}

/** Log entries with relative times and the node of each connection. */
function annotate(log, t0, balancer) {
  return (log || []).map((e) => ({
    ...e, t: e.t - t0, ...(e.socketId ? { node: balancer.backendOf(e.socketId) } : {}),
  }));
}

function describeAnomaly(a, t0, balancer, timeline) {
  const at = a.t - t0;
  const near = timeline.filter((x) => Math.abs(x.t - at) <= 3000 && !x.what.startsWith('publish ')).map((x) => `${x.t}ms ${x.what}`);
  const after = a.framesAfter.map((f) => frameInfo(f, t0, balancer)).filter((f) => f.channel === a.channel);
  const before = a.framesBefore.map((f) => frameInfo(f, t0, balancer)).filter((f) => f.channel === a.channel);
  return {
    summary: `${a.kind} on subscriber ${a.subscriber} ${a.channel}: expected ${a.expected}, got ${a.got} at +${at}ms, `
      + `connection ${a.socketId} on ${balancer.backendOf(a.socketId) ?? '?'} (${a.state})`
      + `${a.afterRecoveredFalse ? ', after recovered:false on this channel' : ''}`,
    afterRecoveredFalse: a.afterRecoveredFalse,
    nearbyChaos: near,
    log: annotate(a.log, t0, balancer).slice(-12),
    framesBefore: before.slice(-4),
    framesAfter: after.slice(0, 4),
  };
}

// ------------------------------------------------------------- the test

test(`chaos: no message lost (${SUBSCRIBERS} subscribers, ${CHANNELS} channels, ${RATE} msgs/s, ${SECONDS} s; `
  + `connection cuts, kill -9 of a node, Postgres down ${PG_DOWN_MS / 1000} s, nats-server restart)`, {
  skip: clusterSkip('starts its own three-node cluster in every topology; the single-topology run covers it'),
  timeout: (SECONDS + DRAIN_SECONDS + 300 + SUBSCRIBERS / 10) * 1000,
}, async (t) => {
  const nats = await startNats(t);
  const pg = await ownPostgres(t);
  const { nodes } = await startChaosCluster(t, nats, pg, { history: HISTORY });
  const balancer = await startBalancer(t, nodes.map((h) => ({ port: h.port, name: h.name })));
  const channels = Array.from({ length: CHANNELS }, (_, c) => `chaos-${c}`);

  // subscribers, spread over the workers; subscriber k takes channels k, k+1, .. (mod CHANNELS)
  const plan = Array.from({ length: SUBSCRIBERS }, (_, k) => ({
    index: k, channels: Array.from({ length: PER_SUBSCRIBER }, (_, j) => (k + j) % CHANNELS),
  }));
  const workers = [];
  t.after(() => Promise.all(workers.map((w) => w.close())));
  for (let w = 0; w < WORKERS; w++) {
    const share = plan.filter((_, k) => k % WORKERS === w);
    const worker = subscriberWorker({ key: CLUSTER_APP.key, port: balancer.port, channels, subscribers: share, pluginUrl: PLUGIN });
    workers.push(worker);
  }
  await Promise.all(workers.map((w) => w.ready));
  await Promise.all(workers.map((w) => w.call('start')));
  const connectedAtStart = balancer.perBackend();

  // publishing and chaos
  const t0 = Date.now();
  const until = t0 + SECONDS * 1000;
  const timeline = [{ t: 0, what: `start: ${JSON.stringify(connectedAtStart)} connections per node` }];
  const mark = (what) => timeline.push({ t: Date.now() - t0, what });
  const live = [...nodes];
  const pubStats = { retries: 0, failures: {}, latencies: [] };
  let over = false; // the test ended (maybe failed): loops still running stop
  t.after(() => { over = true; });
  const publishing = startPublishing({
    live: () => live, channels, rate: RATE, until, stats: pubStats, timeline, t0, halted: () => over,
  });

  const cuts = (async () => {
    let cut = 0;
    for (;;) {
      await sleep(2000 + Math.random() * 1000);
      if (Date.now() > until - 1000 || over) return cut;
      const n = balancer.cut(CUT_FRACTION);
      cut += n;
      mark(`cut ${n} of ${n + balancer.connections()} connections`);
    }
  })();

  const victim = nodes[Math.floor(Math.random() * nodes.length)];
  const faults = (async () => {
    await sleep(t0 + KILL_AT * SECONDS * 1000 - Date.now());
    live.splice(live.indexOf(victim), 1);
    mark(`kill -9 ${victim.name} (${JSON.stringify(balancer.perBackend())} connections per node)`);
    await victim.signal('SIGKILL');
    balancer.remove(victim.port);
    mark(`${victim.name} dead, out of the balancer`);

    // pusher-js reconnects 1 s after a drop: these resume while nats-server goes down
    await sleep(t0 + NATS_RESTART_AT * SECONDS * 1000 - RECONNECT_DELAY - Date.now());
    const n = balancer.cut(CUT_FRACTION);
    mark(`cut ${n} of ${n + balancer.connections()} connections (to resume as NATS stops)`);
    await sleep(t0 + NATS_RESTART_AT * SECONDS * 1000 - Date.now());
    mark('nats-server stopping');
    const down = Date.now();
    await nats.stop();
    mark('nats-server stopped');
    // a real outage: the nodes notice (readyz fails) before NATS is back
    await eventually(async () => {
      for (const h of live) if (await readyStatus(h) === 200) return false;
      return true;
    }, { timeout: 8000, what: 'every live node to report not-ready while NATS is down' })
      .then(() => mark(`${live.map((h) => h.name).join(', ')} not ready`))
      .catch((e) => mark(`still ready? ${e.message}`));
    await sleep(down + NATS_DOWN_MS - Date.now());
    await nats.start();
    mark('nats-server started');
    await allReady(live, 30000);
    mark(`${live.map((h) => h.name).join(', ')} ready again`);
  })();

  const postgresDown = (async () => {
    await sleep(t0 + PG_STOP_AT * SECONDS * 1000 - Date.now());
    mark('postgres stopping');
    await pg.pause();
    mark('postgres stopped');
    await sleep(PG_DOWN_MS);
    await pg.resume();
    mark('postgres started');
  })();

  await Promise.all([cuts, faults, postgresDown, publishing.done]);
  const last = publishing.last;
  const published = last.reduce((a, b) => a + b, 0);
  mark(`publishing over: last ${JSON.stringify(last)}`);

  // bounded wait for every subscriber to have the last number of each of its channels
  const status = await drain(workers, last, DRAIN_SECONDS);
  mark(`drain: ${status.done}/${status.total} complete`);
  await sleep(1000); // a duplicate still on its way would arrive now
  const elapsed = (Date.now() - t0) / 1000;

  const r = await collectReports(workers, last);
  const expected = plan.reduce((sum, s) => sum + s.channels.reduce((a, c) => a + last[c], 0), 0);
  const lat = pubStats.latencies.sort((a, b) => a - b);
  const summary = {
    published,
    delivered: r.delivered,
    duplicates: r.duplicates,
    gaps: r.gaps,
    recovered_false: r.recoveredFalse,
    reconnects: r.reconnects,
    subscribers: SUBSCRIBERS,
    seconds: Math.round(elapsed * 10) / 10,
    expected,
    out_of_order: r.outOfOrder,
    recovered_true: r.recoveredTrue,
    ...(r.recoveredFalse ? { recovery_reasons: r.reasons } : {}),
    ...(r.undrained ? { undrained_pairs: r.undrained } : {}), // the drain ended with these behind
    channels: CHANNELS,
    rate: RATE,
    cuts: balancer.stats.cut, // connections cut
    killed: victim.name,
    publish_retries: pubStats.retries,
    publish_ms_p50: pct(lat, 0.5),
    publish_ms_p99: pct(lat, 0.99),
    publish_ms_max: lat.at(-1) ?? null,
  };
  console.log(`CHAOS ${JSON.stringify(summary)}`);

  const clean = r.duplicates === 0 && r.gaps === 0 && r.outOfOrder === 0 && r.recoveredFalse === 0;
  let where = '';
  if (!clean || process.env.CHAOS_REPORT) {
    const file = process.env.CHAOS_REPORT || path.join(os.tmpdir(), `herald-chaos-${process.pid}-${t0}.json`);
    const details = {
      summary,
      timeline,
      publishFailures: pubStats.failures,
      balancer: balancer.stats,
      // silent ones first: a jump after recovered:false is what the plugin announced
      anomalies: r.anomalies.map((a) => describeAnomaly(a, t0, balancer, timeline))
        .sort((a, b) => Number(a.afterRecoveredFalse) - Number(b.afterRecoveredFalse)),
      missing: r.missing.map((m) => ({
        ...m,
        socketIds: m.socketIds.map((s) => `${s}@${balancer.backendOf(s) ?? '?'}`),
        log: annotate(m.log, t0, balancer),
        frames: m.frames.map((f) => frameInfo(f, t0, balancer)).filter((f) => f.channel === m.channel || !f.channel),
      })),
      recoveredFalsePairs: r.recoveredFalsePairs.map((p) => ({
        ...p,
        at: p.at.map((x) => ({
          ...x, t: x.t - t0, node: balancer.backendOf(x.socketId), log: annotate(x.log, t0, balancer),
        })),
      })),
      notConnected: r.notConnected.map((n) => ({ ...n, log: annotate(n.log, t0, balancer) })),
      drainBehind: status.behind,
      logs: clusterLogs(nodes, 200),
      nats: nats.logs().slice(-4000),
    };
    await writeFile(file, JSON.stringify(details, null, 1));
    where = `\nfull report: ${file}\ntimeline: ${timeline.filter((x) => !x.what.startsWith('publish ')).map((x) => `${x.t}ms ${x.what}`).join('; ')}`
      + `\nfirst anomalies:\n${details.anomalies.slice(0, 5).map((a) => `  ${a.summary}\n    near: ${a.nearbyChaos.join('; ')}\n    before: ${JSON.stringify(a.framesBefore)}\n    after: ${JSON.stringify(a.framesAfter)}\n    log: ${JSON.stringify(a.log.slice(-6))}`).join('\n')}`
      + `\nfirst pairs with missing numbers: ${JSON.stringify(details.missing.slice(0, 3).map((m) => ({ subscriber: m.subscriber, channel: m.channel, ranges: m.ranges, socketIds: m.socketIds })))}`
      + `\nfirst recovered:false: ${details.recoveredFalsePairs.slice(0, 3).map((p) => `subscriber ${p.subscriber} ${p.channel}: `
        + `${p.at.map((x) => `${x.reason} at +${x.t}ms on ${x.node ?? '?'} after ${x.lastBefore}, log ${JSON.stringify(x.log.slice(-5))}`).join(', ')}`).join('\n  ')}`;
  }

  assert.equal(r.duplicates, 0, `duplicates delivered${where}`);
  assert.equal(r.outOfOrder, 0, `messages delivered out of order${where}`);
  assert.equal(r.gaps, 0, `messages lost without recovered:false (${r.gapPairs} subscriber-channel pairs, ${r.undrained} of them still behind when the ${DRAIN_SECONDS} s drain ended)${where}`);
  assert.equal(r.recoveredFalse, 0, `recovered:false reported (${JSON.stringify(r.reasons)}) although JetStream keeps the history${where}`);
  assert.equal(r.delivered, expected, `deliveries${where}`);
});
