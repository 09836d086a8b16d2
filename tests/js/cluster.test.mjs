// Cluster: three herald nodes joined by one nats-server behave as one server.
// Subscribers and publishers sit on different nodes: pusher-js clients and raw
// sockets on some nodes, the official server SDK publishing through another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  subscribed, waitFor, collect, connected, within, eventually,
} from './helpers/herald.mjs';
import { startNats, startCluster, userIds, channelNames } from './helpers/cluster.mjs';

/** Three nodes [A, B, C] on a fresh nats-server, sharing one app with `app` settings. */
async function cluster3(t, app = {}) {
  const nats = await startNats(t);
  const { nodes } = await startCluster(t, 3, { nats, app });
  return nodes;
}

/** pusher-js presence member of `channel` on node h. */
function member(h, userId, channel, info = {}) {
  const client = h.pusherClient({ presence: { user_id: userId, user_info: info } });
  const ch = client.subscribe(channel);
  return { client, ch, ready: subscribed(ch, 8000) };
}

/** Waits until node h lists `who` among the members of `channel`. */
function seesMember(h, channel, who) {
  return eventually(async () => (await userIds(h, channel)).includes(who),
    { what: `${h.name} to list ${who} in ${channel}` });
}

/** Waits until GET users and info=user_count give `expected` (sorted ids) on every node. */
async function membersAgree(nodes, channel, expected) {
  await eventually(async () => {
    for (const h of nodes) {
      const ids = await userIds(h, channel);
      assert.deepEqual(ids, expected, `GET users via ${h.name}`);
      const res = await h.serverSdk().get({ path: `/channels/${channel}`, params: { info: 'user_count' } });
      const body = await res.json();
      assert.equal(body.user_count, expected.length, `user_count via ${h.name}`);
      assert.equal(body.occupied, expected.length > 0, `occupied via ${h.name}`);
    }
    return true;
  }, { what: `every node to list ${JSON.stringify(expected)} in ${channel}` });
}

/** pusher-js client on h signed in as `user`, its #server-to-user channel subscribed. */
async function signedIn(h, user) {
  const client = h.pusherClient({ user });
  client.signin();
  await connected(client);
  await within(client.user.signinDonePromise, 5000, `signin of ${user.id} on ${h.name}`);
  await eventually(() => client.user.serverToUserChannel?.subscribed,
    { timeout: 5000, what: `#server-to-user-${user.id} subscribed on ${h.name}` });
  return client;
}

/** Raw socket on h signed in as `user` and subscribed to its #server-to-user channel. */
async function rawSignedIn(h, user) {
  const s = await h.rawConnected();
  s.send({ event: 'pusher:signin', data: h.signinData(s.socketId, user) });
  await s.event('pusher:signin_success');
  await s.subscribed(`#server-to-user-${user.id}`);
  return s;
}

/** Waits until a member with `id` is in `list` (filled by collect()); resolves with it. */
const arrives = (list, id, what) => eventually(() => list.find((m) => m.id === id), { timeout: 8000, what });

const range = (n) => Array.from({ length: n }, (_, i) => i + 1);

test('a publish through B reaches subscribers on A and C exactly once each, in order', async (t) => {
  const [A, B, C] = await cluster3(t);
  const subs = [A, C].map((h) => {
    const ch = h.pusherClient().subscribe('feed');
    return { h, ch, got: collect(ch, 'n') };
  });
  await Promise.all(subs.map((s) => subscribed(s.ch)));

  const sdk = B.serverSdk();
  for (const i of range(30)) await sdk.trigger('feed', 'n', { i });
  // a marker through the same node and channel comes after all 30
  const done = subs.map((s) => waitFor(s.ch, 'done', 8000, { what: `marker on ${s.h.name}` }));
  await sdk.trigger('feed', 'done', {});
  await Promise.all(done);
  for (const s of subs) {
    assert.deepEqual(s.got.map((d) => d.i), range(30), `events on ${s.h.name}`);
  }
});

test('an event published right after subscription_succeeded is delivered, through any node', async (t) => {
  const [A, B] = await cluster3(t);
  // subscription_succeeded promises every later event of the channel; the node must have its
  // interest in place on the bus before it says so, or a publish racing it is lost
  const s = await A.rawConnected();
  const lost = [];
  for (let i = 0; i < 100; i++) {
    const channel = `fresh-${i}`;
    await s.subscribed(channel);
    const via = i % 2 ? A : B;
    await via.serverSdk().trigger(channel, 'first', { i });
    await s.event('first', channel, 3000).catch(() => lost.push(`${channel} via ${via.name}`));
  }
  assert.deepEqual(lost, [], `events lost right after subscription_succeeded on A (${lost.length} of 100): ${lost.join(', ')}`);
});

test('one trigger to several channels reaches each channel\'s subscribers on other nodes', async (t) => {
  const [A, B, C] = await cluster3(t);
  const ca = A.pusherClient().subscribe('multi-a');
  const cc = C.pusherClient().subscribe('multi-c');
  await Promise.all([subscribed(ca), subscribed(cc)]);
  const got = [waitFor(ca, 'hello'), waitFor(cc, 'hello')];
  await B.serverSdk().trigger(['multi-a', 'multi-c', 'multi-nobody'], 'hello', { to: 'all' });
  for (const data of await Promise.all(got)) assert.deepEqual(data, { to: 'all' });
});

test('client events: private channel A to C, no echo; presence carries user_id', async (t) => {
  const [A, B, C] = await cluster3(t, { clientEvents: true });
  const alice = A.pusherClient({ presence: { user_id: 'alice' } });
  const carol = C.pusherClient({ presence: { user_id: 'carol' } });
  const bob = B.pusherClient({ presence: { user_id: 'bob' } });

  const pa = alice.subscribe('private-chat');
  const pc = carol.subscribe('private-chat');
  const pb = bob.subscribe('private-chat');
  await Promise.all([subscribed(pa), subscribed(pc), subscribed(pb)]);
  const echoed = collect(pa, 'client-typing');
  const atCarol = collect(pc, 'client-typing');
  const atBob = collect(pb, 'client-typing');
  const got = waitFor(pc, 'client-typing', 8000, { what: 'client-typing on carol (node C)' });
  assert.equal(pa.trigger('client-typing', { who: 'alice' }), true);
  assert.deepEqual(await got, { who: 'alice' });
  // A published the client event before this marker; both travel A -> NATS on one subject
  const markers = [pa, pb, pc].map((ch) => waitFor(ch, 'marker', 8000, { what: 'marker after client event' }));
  await A.serverSdk().trigger('private-chat', 'marker', {});
  await Promise.all(markers);
  assert.equal(echoed.length, 0, 'the sender must not get its own client event back from the bus');
  assert.equal(atCarol.length, 1, 'exactly one copy on C');
  assert.equal(atBob.length, 1, 'exactly one copy on B');

  const qa = alice.subscribe('presence-chat');
  const qc = carol.subscribe('presence-chat');
  await Promise.all([subscribed(qa), subscribed(qc)]);
  const wave = waitFor(qc, 'client-wave', 8000, { all: true, what: 'client-wave on carol (node C)' });
  qa.trigger('client-wave', { hi: true });
  const [data, metadata] = await wave;
  assert.deepEqual(data, { hi: true });
  assert.equal(metadata.user_id, 'alice');

  // and the other way round, C to A
  const back = waitFor(qa, 'client-wave', 8000, { all: true, what: 'client-wave on alice (node A)' });
  qc.trigger('client-wave', { back: true });
  const [data2, meta2] = await back;
  assert.deepEqual(data2, { back: true });
  assert.equal(meta2.user_id, 'carol');
});

test('presence across nodes: members, tabs on two nodes, one member_added and one member_removed', async (t) => {
  const nodes = await cluster3(t, { subscriptionCount: true });
  const [A, B, C] = nodes;
  const CH = 'presence-x';
  const subscriptions = async () => {
    const res = await A.serverSdk().get({ path: `/channels/${CH}`, params: { info: 'subscription_count' } });
    return (await res.json()).subscription_count;
  };

  const alice1 = member(A, 'alice', CH, { tab: 1 });
  await alice1.ready;
  const aliceAdded = collect(alice1.ch, 'pusher:member_added');
  await seesMember(B, CH, 'alice');

  const bob = member(B, 'bob', CH, { name: 'Bob' });
  const bobAdded = collect(bob.ch, 'pusher:member_added');
  const bobRemoved = collect(bob.ch, 'pusher:member_removed');
  const data = await bob.ready;
  assert.equal(data.count, 2, 'bob sees alice and himself');
  assert.deepEqual(Object.keys(data.members).sort(), ['alice', 'bob']);
  assert.deepEqual(data.members.alice, { tab: 1 });
  const added = await arrives(aliceAdded, 'bob', 'member_added bob on alice (A)');
  assert.deepEqual(added.info, { name: 'Bob' });
  await membersAgree(nodes, CH, ['alice', 'bob']);

  // alice's second tab, on C: no new member for anyone
  const alice2 = member(C, 'alice', CH, { tab: 2 });
  const tab2 = await alice2.ready;
  assert.equal(tab2.count, 2, 'alice + bob, not three members');
  // a sentinel joining on C after alice2: once bob has it, C's earlier join has been seen
  const carol = member(C, 'carol', CH);
  await carol.ready;
  await arrives(bobAdded, 'carol', 'member_added carol on bob (B)');
  assert.deepEqual(bobAdded.map((m) => m.id), ['carol'], 'no member_added for alice\'s second tab');
  await arrives(aliceAdded, 'carol', 'member_added carol on alice (A)');
  assert.deepEqual(aliceAdded.map((m) => m.id), ['bob', 'carol']);

  // closing alice's tab on A: she is still on C
  assert.equal(await subscriptions(), 4);
  alice1.client.disconnect();
  await eventually(async () => (await subscriptions()) === 3, { what: 'A to drop alice\'s first tab' });
  const dave = member(A, 'dave', CH);
  await dave.ready;
  await arrives(bobAdded, 'dave', 'member_added dave on bob (B)');
  assert.deepEqual(bobRemoved, [], 'no member_removed while alice still has a tab on C');
  await membersAgree(nodes, CH, ['alice', 'bob', 'carol', 'dave']);

  // closing the last tab: member_removed, once
  alice2.client.disconnect();
  await arrives(bobRemoved, 'alice', 'member_removed alice on bob (B)');
  carol.client.disconnect();
  await arrives(bobRemoved, 'carol', 'member_removed carol on bob (B)');
  assert.deepEqual(bobRemoved.map((m) => m.id), ['alice', 'carol']);
  assert.equal(bob.ch.members.count, 2);
  await membersAgree(nodes, CH, ['bob', 'dave']);
});

test('sendToUser through C reaches the user\'s connections on A and B, once each', async (t) => {
  const [A, B, C] = await cluster3(t);
  const onA = await signedIn(A, { id: 'alice' });
  const onB = await signedIn(B, { id: 'alice' });
  const other = await signedIn(B, { id: 'bob' });
  const got = [onA, onB].map((c) => collect(c.user, 'notice'));
  const bobGot = collect(other.user, 'notice');
  const received = [onA, onB].map((c) => waitFor(c.user, 'notice', 8000, { what: 'notice for alice' }));
  const sdk = C.serverSdk();
  await sdk.sendToUser('alice', 'notice', { text: 'hi' });
  for (const data of await Promise.all(received)) assert.deepEqual(data, { text: 'hi' });

  const markers = [onA, onB].map((c) => waitFor(c.user, 'marker', 8000, { what: 'marker for alice' }));
  await sdk.sendToUser('alice', 'marker', {});
  await Promise.all(markers);
  assert.deepEqual(got.map((g) => g.length), [1, 1], 'exactly one notice per connection');
  const bobMarker = waitFor(other.user, 'marker', 8000, { what: 'marker for bob' });
  await sdk.sendToUser('bob', 'marker', {});
  await bobMarker;
  assert.equal(bobGot.length, 0, 'bob got alice\'s event');
});

test('terminate_connections through C closes the user\'s connections on A and B with 4009', async (t) => {
  const [A, B, C] = await cluster3(t);
  const a1 = await rawSignedIn(A, { id: 'alice' });
  const a2 = await rawSignedIn(B, { id: 'alice' });
  const bob = await rawSignedIn(A, { id: 'bob' });
  const pj = await signedIn(A, { id: 'alice' });
  const pjError = waitFor(pj.connection, 'error', 8000, {
    filter: (e) => (e?.data?.code ?? e?.error?.data?.code) === 4009,
    what: 'pusher-js error 4009 on A',
  });

  const res = await C.serverSdk().terminateUserConnections('alice');
  assert.equal(res.status, 200);
  for (const [s, where] of [[a1, 'A'], [a2, 'B']]) {
    const err = await s.next((f) => f.event === 'pusher:error', 8000, `pusher:error 4009 on ${where}`);
    assert.equal(err.data.code, 4009);
    assert.equal((await s.waitClosed(8000)).code, 4009, `close code on ${where}`);
  }
  await pjError;
  assert.ok(bob.open, 'other users stay connected');
  bob.send({ event: 'pusher:ping', data: {} });
  await bob.event('pusher:pong');
});

test('channel queries through A count subscribers that are only on B and C', async (t) => {
  const nodes = await cluster3(t, { subscriptionCount: true });
  const [A, B, C] = nodes;
  const sockets = [];
  for (const [h, channel] of [[B, 'room-q'], [B, 'room-q'], [C, 'room-q'], [C, 'private-q'], [B, 'side-q']]) {
    const s = await h.rawConnected();
    const extra = channel.startsWith('private-') ? h.auth(s.socketId, channel) : {};
    await s.subscribed(channel, extra);
    sockets.push(s);
  }
  const info = async (h, channel) => {
    const res = await h.serverSdk().get({ path: `/channels/${channel}`, params: { info: 'subscription_count' } });
    assert.equal(res.status, 200);
    return res.json();
  };

  for (const h of nodes) {
    assert.deepEqual(await channelNames(h), ['private-q', 'room-q', 'side-q'], `GET /channels via ${h.name}`);
    assert.deepEqual(await channelNames(h, 'room-'), ['room-q'], `filter_by_prefix via ${h.name}`);
    assert.deepEqual(await info(h, 'room-q'), { occupied: true, subscription_count: 3 }, `room-q via ${h.name}`);
    assert.deepEqual(await info(h, 'private-q'), { occupied: true, subscription_count: 1 }, `private-q via ${h.name}`);
    assert.deepEqual(await info(h, 'room-nobody'), { occupied: false, subscription_count: 0 }, `room-nobody via ${h.name}`);
  }

  // leaving on C is seen through A
  sockets[2].close();
  sockets[3].close();
  await eventually(async () => (await info(A, 'room-q')).subscription_count === 2, { what: 'room-q count 2 via A' });
  await eventually(async () => JSON.stringify(await channelNames(A)) === '["room-q","side-q"]',
    { what: 'private-q to leave the list via A' });
  assert.deepEqual(await info(A, 'private-q'), { occupied: false, subscription_count: 0 });
});

test('concurrent publishers on one channel through every node: one order everywhere, none lost, none twice', async (t) => {
  const nodes = await cluster3(t, { historyMaxMessages: 1000 });
  const watchers = await Promise.all(nodes.map(async (h) => {
    const s = await h.rawConnected();
    await s.subscribed('hot');
    return { h, s };
  }));
  // Three publishers, one per node, eight requests in flight each: the nodes race for the channel.
  const PER_NODE = 150;
  const publisher = async (h, p) => {
    const sdk = h.serverSdk();
    let next = 0;
    const lane = async () => {
      while (next < PER_NODE) {
        const i = next++;
        await sdk.trigger('hot', 'n', { id: `${p}-${i}` });
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));
  };
  await Promise.all(nodes.map(publisher));

  const total = PER_NODE * nodes.length;
  const seen = (w) => w.s.all((f) => f.event === 'n' && f.channel === 'hot');
  await eventually(() => watchers.every((w) => seen(w).length >= total), {
    timeout: 15000, what: `${total} events on every node`,
  });
  const idOf = (data) => (typeof data === 'string' ? JSON.parse(data) : data).id;
  const order = (w) => seen(w).map((f) => `${f.serial}:${idOf(f.data)}`);
  const first = order(watchers[0]);
  assert.equal(new Set(first).size, total, 'every event once');
  for (const w of watchers) assert.deepEqual(order(w), first, `the same order on ${w.h.name}`);
  const serials = seen(watchers[0]).map((f) => f.serial);
  for (let k = 1; k < serials.length; k++) assert.ok(serials[k] > serials[k - 1], `serials increase at ${k}`);

  // The history holds the same order, each message chained to the one before it.
  const sdk = nodes[1].serverSdk();
  const res = await sdk.get({ path: '/channels/hot/history', params: { direction: 'forwards', limit: 1000 } });
  const { messages } = await res.json();
  assert.deepEqual(messages.map((m) => `${m.serial}:${idOf(m.data)}`), first, 'history order');
  for (let k = 1; k < messages.length; k++) {
    assert.equal(messages[k].prev, messages[k - 1].serial, `prev chain at ${k}`);
  }
});

/** Records held by the message streams of the nats-server `nats` (its monitoring endpoint). */
async function storedRecords(nats) {
  const res = await fetch(`http://127.0.0.1:${nats.monitorPort}/jsz?streams=true`);
  const body = await res.json();
  return (body.account_details ?? []).flatMap((a) => a.stream_detail ?? [])
    .filter((s) => s.name.includes('_MESSAGES'))
    .reduce((n, s) => n + s.state.messages, 0);
}

test('an app keeping 3 messages: reads show exactly 3 at once, the store is trimmed to 3 after history_trim_after', async (t) => {
  const nats = await startNats(t);
  const { nodes } = await startCluster(t, 3, {
    nats, app: { historyMaxMessages: 3 }, env: { HERALD_HISTORY_TRIM_AFTER: '4' },
  });
  const sdk = nodes[0].serverSdk();
  const last = async () => {
    const res = await nodes[1].serverSdk().get({ path: '/channels/kept3/history', params: { limit: 10 } });
    return (await res.json()).messages.map((m) => JSON.parse(m.data).i);
  };
  // One after another: one record each.
  for (let i = 1; i <= 10; i++) await sdk.trigger('kept3', 'n', { i });
  await new Promise((resolve) => setTimeout(resolve, 1000)); // two of the node's trimming rounds
  assert.equal(await storedRecords(nats), 10, 'not trimmed yet: the store holds all ten');
  assert.deepEqual(await last(), [10, 9, 8], 'the history shows the last 3 all the same');
  await eventually(async () => (await storedRecords(nats)) === 3,
    { timeout: 10000, what: 'the channel trimmed in the store to 3 records' });
  assert.deepEqual(await last(), [10, 9, 8]);
});
