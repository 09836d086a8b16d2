// Nodes leaving a loaded cluster, as operations do it: the reconnect storm after a kill -9, and a
// rolling restart (each node in turn taken out of the balancer, stopped with SIGTERM, which closes
// its sockets with 4200, and replaced by a new process). Three nodes on NATS and a Postgres of the
// test's own behind a TCP balancer (helpers/balancer.mjs); pusher-js subscribers with the resume
// plugin on every client (helpers/chaos-subscribers.mjs) record numbered messages per channel;
// publishers number theirs and retry each on another node with its Idempotency-Key until 200
// (helpers/chaos.mjs). Both must end with every number delivered to every subscriber once, in
// order, with no `recovered: false`. Each prints one line (STORM / ROLLING) with what it measured:
// the time until every client of the killed node is connected again and caught up, and the
// publish latencies during it.
//
// Scale (defaults run in ~30 s each, for CI):
//   RESTARTS_SUBSCRIBERS (150)  RESTARTS_CHANNELS (3)  RESTARTS_RATE total msgs/s (30)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, eventually, clusterSkip } from './helpers/herald.mjs';
import { startNats, allReady, awaitMesh, clusterLogs, CLUSTER_APP } from './helpers/cluster.mjs';
import { startBalancer } from './helpers/balancer.mjs';
import {
  envNumber, ownPostgres, startChaosCluster, startPublishing, subscriberWorker, drain, drainStatus, collectReports,
} from './helpers/chaos.mjs';

const num = (name, dflt) => Math.round(envNumber(name, dflt));
const SUBSCRIBERS = num('RESTARTS_SUBSCRIBERS', 150);
const CHANNELS = num('RESTARTS_CHANNELS', 3);
const RATE = num('RESTARTS_RATE', 30);
const HISTORY = 2000; // over a minute of each channel: every resume here must be whole
const RECOVERY_BOUND = 30000; // ms: a storm not over by then is a failure, not a slow run
const PLUGIN = new URL('../../clients/pusher-js-resume/index.mjs', import.meta.url).href;
const skip = clusterSkip('starts its own three-node cluster in every topology; the single-topology run covers it');

/** The cluster, the balancer, subscribers (subscriber k on channel k mod CHANNELS) and publishers. */
async function loadedCluster(t) {
  const nats = await startNats(t);
  const pg = await ownPostgres(t);
  const { nodes, startNode } = await startChaosCluster(t, nats, pg, { history: HISTORY });
  const balancer = await startBalancer(t, nodes.map((h) => ({ port: h.port, name: h.name })));
  const channels = Array.from({ length: CHANNELS }, (_, c) => `restart-${c}`);
  const plan = Array.from({ length: SUBSCRIBERS }, (_, k) => ({ index: k, channels: [k % CHANNELS] }));
  const worker = subscriberWorker({ key: CLUSTER_APP.key, port: balancer.port, channels, subscribers: plan, pluginUrl: PLUGIN });
  t.after(() => worker.close());
  await worker.ready;
  await worker.call('start');
  const live = [...nodes];
  let over = false;
  t.after(() => { over = true; });
  const pub = { retries: 0, failures: {}, latencies: [] };
  const timeline = [];
  const t0 = Date.now();
  const mark = (what) => timeline.push({ t: Date.now() - t0, what });
  const publish = (seconds) => startPublishing({
    live: () => live, channels, rate: RATE, until: Date.now() + seconds * 1000, stats: pub, timeline, t0, halted: () => over,
  });
  return { nodes, live, startNode, balancer, workers: [worker], plan, publish, pub, mark, timeline };
}

/** Every subscriber has every number, once and in order, and none was told `recovered: false`. */
async function assertNothingLost(c, last, label) {
  const status = await drain(c.workers, last, 30);
  await sleep(1000); // a duplicate still on its way would arrive now
  const r = await collectReports(c.workers, last);
  const expected = c.plan.reduce((sum, s) => sum + s.channels.reduce((a, ch) => a + last[ch], 0), 0);
  const why = `\n${label}; drain ${status.done}/${status.total} ${JSON.stringify(status.behind)}`
    + `\ntimeline: ${c.timeline.filter((x) => !x.what.startsWith('publish ')).map((x) => `${x.t}ms ${x.what}`).join('; ')}`
    + `\nanomalies: ${JSON.stringify(r.anomalies.slice(0, 3).map((a) => [a.kind, a.subscriber, a.channel, a.expected, a.got]))}`
    + `\nlogs:\n${clusterLogs(c.live, 30)}`;
  assert.equal(r.duplicates, 0, `duplicates delivered${why}`);
  assert.equal(r.outOfOrder, 0, `messages delivered out of order${why}`);
  assert.equal(r.gaps, 0, `messages lost (${r.gapPairs} pairs)${why}`);
  assert.equal(r.recoveredFalse, 0, `recovered:false (${JSON.stringify(r.reasons)}) although the stream keeps the history${why}`);
  assert.equal(r.delivered, expected, `deliveries${why}`);
  return r;
}

const pct = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : null;
};

test(`reconnect storm: kill -9 of the busiest of three nodes under load (${SUBSCRIBERS} resuming subscribers); `
  + 'its clients are connected and caught up on the others, nothing lost', { skip, timeout: 180000 }, async (t) => {
  const c = await loadedCluster(t);
  const publishing = c.publish(16);
  await sleep(5000);

  const perNode = c.balancer.perBackend();
  const victim = c.nodes.reduce((a, b) => ((perNode[b.name] ?? 0) > (perNode[a.name] ?? 0) ? b : a));
  const moving = perNode[victim.name] ?? 0;
  assert.ok(moving > 0, `no subscriber on any node? ${JSON.stringify(perNode)}`);
  c.live.splice(c.live.indexOf(victim), 1);
  c.balancer.remove(victim.port);
  const published = [...publishing.last];
  const killedAt = Date.now();
  c.mark(`kill -9 ${victim.name} with ${moving} of ${SUBSCRIBERS} subscribers (${JSON.stringify(perNode)})`);
  await victim.signal('SIGKILL');

  // Connected again: the balancer holds one connection per subscriber, none on the dead node.
  await eventually(() => c.balancer.connections() >= SUBSCRIBERS, {
    timeout: RECOVERY_BOUND, interval: 20, what: `every subscriber connected again (${JSON.stringify(c.balancer.perBackend())})`,
  });
  const connectedMs = Date.now() - killedAt;
  // Caught up: every subscriber has everything published before the kill.
  await eventually(async () => {
    const status = await drainStatus(c.workers, published);
    return status.done === status.total;
  }, {
    timeout: RECOVERY_BOUND, interval: 50, what: 'every subscriber caught up with what was published before the kill',
  });
  const caughtUpMs = Date.now() - killedAt;
  c.mark(`storm over: connected after ${connectedMs} ms, caught up after ${caughtUpMs} ms`);

  await publishing.done;
  const r = await assertNothingLost(c, publishing.last, `killed ${victim.name}`);
  assert.ok(r.reconnects >= moving, `the killed node's ${moving} clients reconnected (${r.reconnects} reconnects)`);
  assert.ok(r.recoveredTrue >= moving, `the killed node's ${moving} clients resumed (${r.recoveredTrue} recovered:true)`);
  console.log(`STORM ${JSON.stringify({
    subscribers: SUBSCRIBERS, moved: moving, connected_ms: connectedMs, caught_up_ms: caughtUpMs,
    reconnects: r.reconnects, recovered_true: r.recoveredTrue, delivered: r.delivered, duplicates: r.duplicates, gaps: r.gaps,
    publish_retries: c.pub.retries, publish_ms_p99: pct(c.pub.latencies, 0.99), publish_ms_max: Math.max(...c.pub.latencies),
  })}`);
});

test(`rolling restart: each of three nodes in turn out of the balancer, SIGTERM (4200), replaced; `
  + `${SUBSCRIBERS} resuming subscribers move and lose nothing`, { skip, timeout: 240000 }, async (t) => {
  const c = await loadedCluster(t);
  const STEP = 6; // seconds between restarts
  const publishing = c.publish(STEP * (c.nodes.length + 1));
  const moved = [];
  for (const [i, old] of [...c.nodes].entries()) {
    await sleep(STEP * 1000 - 2000);
    const before = c.balancer.perBackend()[old.name] ?? 0;
    // As a load balancer does once readyz fails: no new connections, the open ones stay until closed.
    c.balancer.remove(old.port);
    c.live.splice(c.live.indexOf(old), 1);
    c.mark(`SIGTERM ${old.name} with ${before} subscribers`);
    const exit = await old.signal('SIGTERM', 30000);
    assert.equal(exit.code, 0, `${old.name} exits 0 after SIGTERM (${JSON.stringify(exit)})`);
    const fresh = await c.startNode(`node${'ABC'[i]}${2}`);
    await allReady([fresh, ...c.live]);
    await awaitMesh([fresh, ...c.live]);
    c.live.push(fresh);
    c.balancer.add(fresh.port, fresh.name);
    moved.push(before);
    c.mark(`${fresh.name} in the balancer`);
    await eventually(() => c.balancer.connections() >= SUBSCRIBERS, {
      timeout: RECOVERY_BOUND, interval: 20, what: `every subscriber connected after ${old.name}'s restart`,
    });
  }
  await publishing.done;
  const r = await assertNothingLost(c, publishing.last, `rolled ${c.nodes.map((h) => h.name).join(', ')}`);
  const total = moved.reduce((a, b) => a + b, 0);
  assert.ok(r.reconnects >= total, `every client of a stopped node reconnected (${r.reconnects} reconnects, ${total} moved)`);
  console.log(`ROLLING ${JSON.stringify({
    subscribers: SUBSCRIBERS, moved, reconnects: r.reconnects, recovered_true: r.recoveredTrue, delivered: r.delivered,
    duplicates: r.duplicates, gaps: r.gaps, publish_retries: c.pub.retries, publish_ms_p99: pct(c.pub.latencies, 0.99),
  })}`);
});
