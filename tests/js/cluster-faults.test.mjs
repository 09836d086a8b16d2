// Cluster faults: a herald node killed with SIGKILL, nats-server restarted,
// one server of a 3-node NATS cluster stopped. Only bounded waits: what must
// happen has to happen within the node timeout (or the reconnect) plus a margin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { subscribed, waitFor, collect, eventually, sleep } from './helpers/herald.mjs';
import {
  startNats, startNatsCluster, startCluster, startNode, clusterSpec, allReady, awaitMesh,
  readyStatus, userIds, clusterLogs,
} from './helpers/cluster.mjs';

const NODE_TIMEOUT = 3; // seconds, what startCluster gives the nodes unless told otherwise
// The dead-node sweep runs with the 1 s heartbeat, so removal takes at most timeout + 1 s; the rest is slack.
const REMOVAL_WAIT = (NODE_TIMEOUT + 1 + 6) * 1000;
// How long nodes that are all back on NATS may take to agree on presence again.
const RECOVERY_WAIT = 4000;

/** pusher-js presence member of `channel` on node h. */
function member(h, userId, channel) {
  const client = h.pusherClient({ presence: { user_id: userId } });
  const ch = client.subscribe(channel);
  return { client, ch, ready: subscribed(ch, 8000) };
}

/** Waits until GET users lists `expected` (sorted) on every node in `nodes`. */
function membersAgree(nodes, channel, expected, timeout = 8000) {
  return eventually(async () => {
    for (const h of nodes) assert.deepEqual(await userIds(h, channel), expected, `GET users via ${h.name}`);
    return true;
  }, { timeout, what: `${nodes.map((h) => h.name).join(', ')} to list ${JSON.stringify(expected)} in ${channel}` });
}

/** alice on nodes[0], bob on nodes[1] and carol on nodes[2] in `channel`, once every node lists all three. */
async function aliceBobCarol(nodes, channel) {
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((id, i) => member(nodes[i], id, channel));
  await Promise.all([alice.ready, bob.ready, carol.ready]);
  await membersAgree(nodes, channel, ['alice', 'bob', 'carol']);
  return { alice, bob, carol };
}

/** pusher-js subscriber of a numbered feed on node h: `got` holds the numbers in arrival order. */
async function feedSubscriber(h, channel = 'feed') {
  const ch = h.pusherClient().subscribe(channel);
  const got = [];
  ch.bind('n', (d) => got.push(d.i));
  await subscribed(ch, 8000);
  return { h, ch, got, name: h.name };
}

/** Publishes numbers `from..to` through `via`, one request after the other. */
async function publishRange(via, from, to, channel = 'feed') {
  const sdk = via.serverSdk({ timeout: 3000 });
  for (let i = from; i <= to; i++) {
    // A publish answered 503 or not answered in time (the stream is being created, or is electing a
    // new leader after a NATS server went) is retried with the same idempotency key, so it is
    // stored and delivered once either way.
    const deadline = Date.now() + 15000;
    for (;;) {
      try {
        await sdk.trigger(channel, 'n', { i }, { idempotency_key: `${channel}:${i}` });
        break;
      } catch (e) {
        // Only a refusal (4xx) is final; 503s, timeouts and refused connections are retried.
        if (Date.now() > deadline || (e.status >= 400 && e.status < 500)) throw e;
        await sleep(250);
      }
    }
  }
}

/** Waits until every subscriber has received all of `numbers`. */
function receivedAll(subs, numbers, timeout = 8000) {
  return eventually(() => subs.every((s) => numbers.every((i) => s.got.includes(i))), {
    timeout,
    what: `${subs.map((s) => s.name).join(', ')} to receive ${numbers[0]}..${numbers.at(-1)} (got ${subs.map((s) => `${s.name}: ${JSON.stringify(s.got)}`).join('; ')})`,
  });
}

/** Each subscriber got every number at most once, in increasing order. */
function assertNoDuplicatesInOrder(subs) {
  for (const s of subs) {
    assert.equal(new Set(s.got).size, s.got.length, `duplicates on ${s.name}: ${JSON.stringify(s.got)}`);
    assert.deepEqual(s.got, [...s.got].sort((a, b) => a - b), `out of order on ${s.name}`);
  }
}

/** Publishes numbers from `next` on through `via` until every subscriber has one of them; returns the next unused number. */
async function publishUntilDelivered(via, subs, next, timeout = 20000) {
  const first = next;
  const sdk = via.serverSdk({ timeout: 2000 });
  await eventually(async () => {
    try {
      await sdk.trigger('feed', 'n', { i: next });
    } catch { /* the node may refuse while it reconnects */ }
    next += 1;
    return subs.every((s) => s.got.some((i) => i >= first));
  }, { timeout, interval: 200, what: `delivery through ${via.name} to resume on ${subs.map((s) => s.name).join(', ')}` });
  return next;
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

test('kill -9 of a node: its presence members are removed everywhere, the others stay', async (t) => {
  const nats = await startNats(t);
  const { nodes } = await startCluster(t, 3, { nats });
  const [A, B, C] = nodes;
  const CH = 'presence-room';
  const alice = member(A, 'alice', CH);
  const bob = member(B, 'bob', CH);
  const carol = member(C, 'carol', CH);
  const dave = member(C, 'dave', CH);
  await Promise.all([alice.ready, bob.ready, carol.ready, dave.ready]);
  await membersAgree(nodes, CH, ['alice', 'bob', 'carol', 'dave']);
  const removedOnA = collect(alice.ch, 'pusher:member_removed');
  const removedOnB = collect(bob.ch, 'pusher:member_removed');
  const gone = (m) => m.id === 'carol' || m.id === 'dave';

  const exit = await C.signal('SIGKILL');
  assert.equal(exit.signal, 'SIGKILL');
  await eventually(() => removedOnA.filter(gone).length === 2 && removedOnB.filter(gone).length === 2, {
    timeout: REMOVAL_WAIT,
    what: `member_removed carol and dave on alice (A) and bob (B) after C died (A: ${JSON.stringify(removedOnA)}, B: ${JSON.stringify(removedOnB)})`,
  }).catch((e) => { throw new Error(`${e.message}\n${clusterLogs([A, B])}`); });
  await membersAgree([A, B], CH, ['alice', 'bob'], REMOVAL_WAIT);
  assert.deepEqual(removedOnA.map((m) => m.id).sort(), ['carol', 'dave'], 'only C\'s members left (A)');
  assert.deepEqual(removedOnB.map((m) => m.id).sort(), ['carol', 'dave'], 'only C\'s members left (B)');
  assert.equal(alice.ch.members.count, 2);
  assert.equal(bob.ch.members.count, 2);
  const res = await A.serverSdk().get({ path: `/channels/${CH}`, params: { info: 'user_count' } });
  assert.equal((await res.json()).user_count, 2);

  // the survivors still talk to each other
  const got = waitFor(bob.ch, 'after', 8000, { what: 'event through A on bob (B)' });
  await A.serverSdk().trigger(CH, 'after', { ok: true });
  assert.deepEqual(await got, { ok: true });

  // carol's client comes back through another node (what a load balancer does): a new member again
  const back = waitFor(alice.ch, 'pusher:member_added', 8000, { filter: (m) => m.id === 'carol', what: 'member_added carol on A' });
  const carol2 = member(B, 'carol', CH);
  await carol2.ready;
  await back;
  await membersAgree([A, B], CH, ['alice', 'bob', 'carol']);
});

test('SIGTERM of a node: its presence members are removed everywhere at once, not after the node timeout', async (t) => {
  const nats = await startNats(t);
  const LONG_TIMEOUT = 30; // seconds: a removal within a few seconds is the goodbye, not the timeout
  const { nodes } = await startCluster(t, 3, { nats, nodeTimeout: LONG_TIMEOUT });
  const [A, B, C] = nodes;
  const CH = 'presence-lobby';
  const { alice, bob } = await aliceBobCarol(nodes, CH);
  const removedOnA = collect(alice.ch, 'pusher:member_removed');
  const removedOnB = collect(bob.ch, 'pusher:member_removed');

  const stoppedAt = Date.now();
  const exit = await C.signal('SIGTERM');
  assert.equal(exit.code, 0, 'C exits 0 after SIGTERM');
  await eventually(() => removedOnA.some((m) => m.id === 'carol') && removedOnB.some((m) => m.id === 'carol'), {
    timeout: 5000,
    what: `member_removed carol on A and B after C stopped (node timeout ${LONG_TIMEOUT} s)`,
  }).catch((e) => { throw new Error(`${e.message}\n${clusterLogs([A, B])}`); });
  await membersAgree([A, B], CH, ['alice', 'bob'], 5000);
  assert.ok(Date.now() - stoppedAt < LONG_TIMEOUT * 1000 / 2, 'removed long before the node timeout');
});

test('nats-server restart: delivery resumes on two nodes, nothing is delivered twice, presence holds', async (t) => {
  const nats = await startNats(t);
  // a blip shorter than the node timeout: nobody may be declared dead
  const { nodes } = await startCluster(t, 3, { nats, nodeTimeout: 10 });
  const [A, B, C] = nodes;
  const subs = [await feedSubscriber(A), await feedSubscriber(C)];
  const CH = 'presence-blip';
  const alice = member(A, 'alice', CH);
  const carol = member(C, 'carol', CH);
  await Promise.all([alice.ready, carol.ready]);
  await membersAgree(nodes, CH, ['alice', 'carol']);
  const removedOnA = collect(alice.ch, 'pusher:member_removed');
  const removedOnC = collect(carol.ch, 'pusher:member_removed');

  await publishRange(B, 1, 10);
  await receivedAll(subs, range(1, 10));

  await nats.stop();
  await eventually(async () => {
    for (const h of nodes) if (await readyStatus(h) === 200) return false;
    return true;
  }, { timeout: 8000, what: 'every node to report not-ready while NATS is down' });
  // While NATS is down nothing can be stored: a publish is refused with 503 at once (the SDK's 2 s
  // timeout would fail it otherwise), never accepted and lost.
  const down = B.serverSdk({ timeout: 2000 });
  for (let i = 11; i <= 15; i++) {
    const refused = await down.trigger('feed', 'n', { i }).then(() => null, (e) => e);
    assert.equal(refused?.status, 503, `publish ${i} while NATS is down: ${refused?.message ?? 'accepted'}`);
  }

  await nats.start();
  await allReady(nodes, 20000);
  let next = await publishUntilDelivered(B, subs, 16);
  await publishRange(B, next, next + 9);
  await receivedAll(subs, range(next, next + 9));
  next += 10;
  // a marker through the same node: anything still in flight on the channel is in by then
  const markers = subs.map((s) => waitFor(s.ch, 'done', 8000, { what: `marker on ${s.name}` }));
  await B.serverSdk().trigger('feed', 'done', {});
  await Promise.all(markers);
  assertNoDuplicatesInOrder(subs);
  for (const s of subs) assert.deepEqual(s.got.slice(0, 10), range(1, 10), `before the restart on ${s.name}`);

  await membersAgree(nodes, CH, ['alice', 'carol']);
  assert.deepEqual([...removedOnA, ...removedOnC], [], 'no member_removed for a NATS blip shorter than the node timeout');
  // presence changes flow again after the restart
  const added = waitFor(alice.ch, 'pusher:member_added', 8000, { filter: (m) => m.id === 'bob', what: 'member_added bob on A after the restart' });
  const bob = member(B, 'bob', CH);
  await bob.ready;
  await added;
});

test('nats-server down longer than the node timeout: after the restart every node lists every member again', async (t) => {
  const nats = await startNats(t);
  const { nodes } = await startCluster(t, 3, { nats });
  const [A, B, C] = nodes;
  const CH = 'presence-outage';
  const members = [member(A, 'alice', CH), member(B, 'bob', CH), member(C, 'carol', CH)];
  await Promise.all(members.map((m) => m.ready));
  await membersAgree(nodes, CH, ['alice', 'bob', 'carol']);

  await nats.stop();
  await sleep((NODE_TIMEOUT + 2) * 1000); // the outage itself, long enough for nodes to give up on each other
  await nats.start();
  await allReady(nodes, 20000);
  // Reconnected nodes can tell each other what they hold at once; the periodic full resync (15 s)
  // is a backstop for lost messages, not the recovery path, so the wait is shorter than it.
  await membersAgree(nodes, CH, ['alice', 'bob', 'carol'], RECOVERY_WAIT)
    .catch((e) => { throw new Error(`${e.message}\n${clusterLogs(nodes)}`); });
  for (const m of members) {
    await eventually(() => m.ch.members.count === 3, { what: `pusher-js member list of ${m.ch.members.me.id} back to 3` });
  }
});

test('3-node NATS cluster: stopping the NATS server of one herald node, it fails over and the others keep talking', async (t) => {
  const natsCluster = await startNatsCluster(t, 3);
  // The message stream on all three NATS servers, so losing one loses no stored message.
  const spec = clusterSpec({ env: { HERALD_NATS_REPLICAS: '3' } });
  // C gets every NATS URL; A and B one each, on the two servers C is not using
  const C = await startNode(t, spec, natsCluster.url, 2);
  await allReady([C]);
  const hasHerald = async (n) => (await n.connectionNames()).some((name) => name.startsWith('herald-'));
  const X = await eventually(async () => {
    for (const n of natsCluster.nodes) if (await hasHerald(n)) return n;
    return null;
  }, { what: 'the NATS server C is connected to' });
  const [Y, Z] = natsCluster.nodes.filter((n) => n !== X);
  const A = await startNode(t, spec, Y.url, 0);
  const B = await startNode(t, spec, Z.url, 1);
  const nodes = [A, B, C];
  await allReady(nodes);
  await awaitMesh(nodes);

  const CH = 'presence-nc';
  const { alice } = await aliceBobCarol(nodes, CH);
  const removedOnA = collect(alice.ch, 'pusher:member_removed');

  const sA = await feedSubscriber(A);
  const sB = await feedSubscriber(B);
  const sC = await feedSubscriber(C);
  await publishRange(C, 1, 10);
  await receivedAll([sA, sB], range(1, 10));
  await publishRange(A, 11, 20);
  await receivedAll([sB, sC], range(11, 20));

  await X.stop();
  // A and B never lost their NATS servers: A <-> B delivery goes on
  await publishRange(A, 21, 30);
  await receivedAll([sB], range(21, 30));
  await publishRange(B, 31, 40);
  await receivedAll([sA], range(31, 40));

  // C reconnects to a surviving server and gets deliveries again, and can publish
  const heraldsOn = async (n) => (await n.connectionNames()).filter((name) => name.startsWith('herald-')).length;
  await eventually(async () => (await heraldsOn(Y)) + (await heraldsOn(Z)) === 3 && (await readyStatus(C)) === 200,
    { timeout: 20000, what: 'C to reconnect to a surviving NATS server and be ready' });
  let next = await publishUntilDelivered(A, [sC], 41);
  await publishRange(A, next, next + 9);
  await receivedAll([sA, sB, sC], range(next, next + 9));
  next += 10;
  await publishRange(C, next, next + 9);
  await receivedAll([sA, sB, sC], range(next, next + 9));
  assertNoDuplicatesInOrder([sA, sB, sC]);

  // presence survived the failover, and changes on C still reach the others
  await membersAgree(nodes, CH, ['alice', 'bob', 'carol']);
  const added = waitFor(alice.ch, 'pusher:member_added', 8000, { filter: (m) => m.id === 'dave', what: 'member_added dave (C) on alice (A)' });
  const dave = member(C, 'dave', CH);
  await dave.ready;
  await added;
  await membersAgree(nodes, CH, ['alice', 'bob', 'carol', 'dave']);
  assert.deepEqual(removedOnA, [], 'no member_removed on A during the failover');
});

test('a node that joins a running cluster learns the subscriber counts the others hold', async (t) => {
  const nats = await startNats(t);
  const { nodes, spec } = await startCluster(t, 2, { nats, app: { subscriptionCount: true } });
  const [A, B] = nodes;
  const countIs = (n) => (d) => d.subscription_count === n;
  /** A pusher-js subscriber of `counted` on h, and the counts it heard. */
  const subscriber = async (h) => {
    const ch = h.pusherClient().subscribe('counted');
    const counts = collect(ch, 'pusher:subscription_count');
    await subscribed(ch);
    return counts;
  };
  await subscriber(A);
  await subscriber(A);
  const onB = await subscriber(B);
  await eventually(() => onB.some(countIs(3)), { what: `count 3 on B (heard ${JSON.stringify(onB)})` });

  // C starts after all of that: it has heard none of the counts as they changed.
  const C = await startNode(t, spec, nats.url, 2);
  await allReady([C]);
  await awaitMesh([A, B, C]);
  const seen = await subscriber(C);
  await eventually(() => seen.some(countIs(4)), {
    what: `C's subscriber to hear the cluster-wide count 4 (heard ${JSON.stringify(seen)})`,
  }).catch((e) => { throw new Error(`${e.message}\n${clusterLogs([A, B, C])}`); });
  assert.ok(!seen.some(countIs(1)), `C never says its own count is the whole cluster's: ${JSON.stringify(seen)}`);
});

/** A webhook endpoint that answers 200 and keeps every event it got: {url, received}. */
async function webhookReceiver(t) {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push(...JSON.parse(Buffer.concat(chunks).toString('utf8')).events);
      res.end('ok');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return { url: `http://127.0.0.1:${server.address().port}/hooks`, received };
}

test('a node that starts while members join decides no webhook twice', async (t) => {
  const { url, received } = await webhookReceiver(t);
  const webhooks = [{ url, events: ['member_added'] }];
  const nats = await startNats(t);
  const { nodes, spec } = await startCluster(t, 2, { nats, app: { webhooks } });
  const [A] = nodes;

  // C starts; until it has heard A and B it must not take itself for the deciding node.
  const starting = startNode(t, spec, nats.url, 2);
  const users = [];
  for (let i = 0; i < 30; i++) { // members join all through C's start (~3 s)
    const user = `user-${i}`;
    users.push(user);
    member(A, user, 'presence-start');
    await sleep(100);
  }
  const C = await starting;
  await allReady([C]);
  await eventually(() => users.every((u) => received.some((e) => e.user_id === u)), {
    timeout: 15000, what: 'member_added for every user',
  });
  await sleep(2000); // a duplicate would have come by now
  const added = received.filter((e) => e.name === 'member_added').map((e) => e.user_id).sort();
  assert.deepEqual(added, [...users].sort(), 'each member_added exactly once');
});

test('kill -9 of the deciding node: what happened before the others noticed still gets its webhook', async (t) => {
  const { url, received } = await webhookReceiver(t);
  const nats = await startNats(t);
  const { nodes } = await startCluster(t, 3, { nats, app: { webhooks: [{ url, events: ['member_added'] }] } });
  // The lowest node id decides cluster-wide events; each node logs its id when it joins.
  const idOf = (h) => /joined the cluster.*?node=([0-9a-f]+)|node=([0-9a-f]+).*?joined the cluster/.exec(h.logs())?.slice(1).find(Boolean);
  for (const h of nodes) assert.ok(idOf(h), `${h.name} logged its node id:\n${h.logs()}`);
  const [decider, ...others] = [...nodes].sort((a, b) => (idOf(a) < idOf(b) ? -1 : 1));
  member(others[0], 'before', 'presence-failover');
  await eventually(() => received.some((e) => e.user_id === 'before'), { what: 'member_added before the kill' });

  await decider.signal('SIGKILL');
  // Until the node timeout passes, the others still count the dead node as the one that decides.
  const during = member(others[1], 'during', 'presence-failover');
  await during.ready;
  await eventually(() => received.some((e) => e.user_id === 'during'), {
    timeout: REMOVAL_WAIT, what: `member_added for the member who joined while ${decider.name} lay dead undetected`,
  }).catch((e) => { throw new Error(`${e.message}\n${clusterLogs(others)}`); });
  assert.equal(received.filter((e) => e.name === 'member_added' && e.user_id === 'during').length, 1);
});
