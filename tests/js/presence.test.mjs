// Presence channels: member lists, member_added/removed across tabs, limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, subscribed, waitFor, collect, errorChannel,
} from './helpers/herald.mjs';

const CH = 'presence-room';

function join(h, userId, info = {}, channel = CH) {
  const client = h.pusherClient({ presence: { user_id: userId, user_info: info } });
  const ch = client.subscribe(channel);
  return { client, ch, ready: subscribed(ch) };
}

async function users(h, channel = CH) {
  const res = await h.serverSdk().get({ path: `/channels/${channel}/users` });
  return (await res.json()).users.map((u) => u.id).sort();
}

/** Raw presence subscribe; resolves with the frame that answered it. */
async function rawJoin(h, userId, info, channel = CH) {
  const s = await h.rawConnected();
  const auth = h.auth(s.socketId, channel, { user_id: userId, user_info: info });
  s.subscribe(channel, auth);
  const f = await s.next((x) => (x.event === 'pusher_internal:subscription_succeeded' || x.event === 'pusher:error'));
  return { s, f };
}

/** Triggers a marker on the channel and waits until `ch` has it: everything
 * the server sent that channel before is delivered by then. */
async function barrier(h, ch, channel = CH) {
  const got = waitFor(ch, 'marker', 5000, { what: `marker on ${channel}` });
  await h.serverSdk().trigger(channel, 'marker', {});
  await got;
}

test('subscription_succeeded carries ids, hash and count of current members', async (t) => {
  const h = await startHerald(t);
  const a = join(h, 'alice', { name: 'Alice' });
  await a.ready;
  const b = join(h, 'bob', { name: 'Bob' });
  await b.ready;
  assert.equal(b.ch.members.count, 2);
  assert.equal(b.ch.members.me.id, 'bob');
  assert.deepEqual(b.ch.members.get('alice').info, { name: 'Alice' });

  const { s, f } = await rawJoin(h, 'carol', { name: 'Carol' });
  assert.equal(typeof f.rawData, 'string');
  const p = f.data.presence;
  assert.equal(p.count, 3);
  assert.deepEqual([...p.ids].sort(), ['alice', 'bob', 'carol']);
  assert.deepEqual(p.hash.alice, { name: 'Alice' });
  assert.deepEqual(p.hash.carol, { name: 'Carol' });
  s.close();
});

test('member_added on join and member_removed on leave reach other members', async (t) => {
  const h = await startHerald(t);
  const a = join(h, 'alice');
  await a.ready;
  const added = waitFor(a.ch, 'pusher:member_added', 5000, { filter: (m) => m.id === 'bob' });
  const b = join(h, 'bob', { role: 'admin' });
  await b.ready;
  const m = await added;
  assert.deepEqual(m.info, { role: 'admin' });
  assert.equal(a.ch.members.count, 2);

  const removed = waitFor(a.ch, 'pusher:member_removed', 5000, { filter: (x) => x.id === 'bob' });
  b.client.disconnect();
  await removed;
  assert.equal(a.ch.members.count, 1);
  assert.deepEqual(await users(h), ['alice']);
});

test('members are per user_id across tabs: one member_added, member_removed only after the last tab', async (t) => {
  const h = await startHerald(t);
  const a = join(h, 'alice');
  await a.ready;
  const addedBob = collect(a.ch, 'pusher:member_added');
  const removedBob = collect(a.ch, 'pusher:member_removed');

  const tab1 = await rawJoin(h, 'bob', { tab: 1 });
  assert.equal(tab1.f.event, 'pusher_internal:subscription_succeeded');
  const tab2 = await rawJoin(h, 'bob', { tab: 2 });
  assert.equal(tab2.f.event, 'pusher_internal:subscription_succeeded');
  assert.equal(tab2.f.data.presence.count, 2, 'alice + bob, not three members');
  assert.deepEqual([...tab2.f.data.presence.ids].sort(), ['alice', 'bob']);
  await barrier(h, a.ch);
  assert.equal(addedBob.filter((m) => m.id === 'bob').length, 1, 'exactly one member_added for bob');
  assert.deepEqual(await users(h), ['alice', 'bob']);

  tab1.s.ws.close(1000);
  await tab1.s.waitClosed();
  await barrier(h, a.ch);
  assert.equal(removedBob.length, 0, 'no member_removed while bob still has a tab');
  assert.deepEqual(await users(h), ['alice', 'bob']);

  const gone = waitFor(a.ch, 'pusher:member_removed', 5000, { filter: (m) => m.id === 'bob' });
  tab2.s.ws.close(1000);
  await gone;
  await barrier(h, a.ch);
  assert.equal(removedBob.filter((m) => m.id === 'bob').length, 1, 'exactly one member_removed for bob');
  assert.deepEqual(await users(h), ['alice']);
});

test('a member does not get member_added for itself', async (t) => {
  const h = await startHerald(t);
  const a = join(h, 'alice');
  const added = collect(a.ch, 'pusher:member_added');
  await a.ready;
  await barrier(h, a.ch);
  assert.equal(added.length, 0);
});

test('presence subscribe without channel_data, or with tampered channel_data, is refused', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  const good = h.auth(s.socketId, CH, { user_id: 'mallory' });
  s.subscribe(CH, { auth: good.auth });
  let err = await s.error();
  assert.equal(err.data.code, null);
  assert.equal(errorChannel(err), CH);

  s.subscribe(CH, { auth: good.auth, channel_data: JSON.stringify({ user_id: 'admin' }) });
  err = await s.error();
  assert.equal(err.data.code, null);
  assert.equal(s.all((f) => f.event === 'pusher_internal:subscription_succeeded').length, 0);
  await s.subscribed(CH, good); // the right one still works afterwards
});

test('per-app member limit: the next distinct user is refused, the connection stays, other tabs of members still join', async (t) => {
  const h = await startHerald(t, { app: { maxPresenceMembers: 2 } });
  const a = join(h, 'alice');
  const b = join(h, 'bob');
  await Promise.all([a.ready, b.ready]);
  const c = await rawJoin(h, 'carol', {});
  assert.equal(c.f.event, 'pusher:error');
  assert.equal(c.f.data.code, null);
  assert.equal(errorChannel(c.f), CH);
  assert.ok(c.f.data.message.length > 0);
  assert.deepEqual(await users(h), ['alice', 'bob']);
  // carol's connection is still usable
  await c.s.subscribed('public-after-limit');
  // a second tab of an existing member is not a new member
  const a2 = await rawJoin(h, 'alice', {});
  assert.equal(a2.f.event, 'pusher_internal:subscription_succeeded');
  // once someone leaves, carol can join
  b.client.disconnect();
  await waitFor(a.ch, 'pusher:member_removed', 5000, { filter: (m) => m.id === 'bob' });
  const c2 = await rawJoin(h, 'carol', {});
  assert.equal(c2.f.event, 'pusher_internal:subscription_succeeded');
});

test('default member limit is 100', async (t) => {
  const h = await startHerald(t);
  const joins = [];
  for (let i = 0; i < 100; i++) joins.push(rawJoin(h, `user-${i}`, {}));
  const members = await Promise.all(joins);
  for (const m of members) assert.equal(m.f.event, 'pusher_internal:subscription_succeeded', JSON.stringify(m.f.data));
  const extra = await rawJoin(h, 'user-100', {});
  assert.equal(extra.f.event, 'pusher:error');
  assert.equal(errorChannel(extra.f), CH);
  assert.equal((await users(h)).length, 100);
});

test('user_info over 1 KB (default) is refused; smaller info is fine', async (t) => {
  const h = await startHerald(t);
  const big = await rawJoin(h, 'big', { bio: 'x'.repeat(1100) });
  assert.equal(big.f.event, 'pusher:error');
  assert.equal(big.f.data.code, null);
  assert.equal(errorChannel(big.f), CH);
  const ok = await rawJoin(h, 'small', { bio: 'x'.repeat(800) });
  assert.equal(ok.f.event, 'pusher_internal:subscription_succeeded');
  // the refused connection is still open and usable
  await big.s.subscribed('public-after-big');
});

test('user_info limit is per app', async (t) => {
  const h = await startHerald(t, { app: { maxPresenceMemberBytes: 200 } });
  const big = await rawJoin(h, 'big', { bio: 'x'.repeat(300) });
  assert.equal(big.f.event, 'pusher:error');
  const ok = await rawJoin(h, 'small', { bio: 'x'.repeat(100) });
  assert.equal(ok.f.event, 'pusher_internal:subscription_succeeded');
});

test('events triggered on a presence channel reach its members', async (t) => {
  const h = await startHerald(t);
  const a = join(h, 'alice');
  await a.ready;
  const got = waitFor(a.ch, 'news');
  await h.serverSdk().trigger(CH, 'news', { x: 1 });
  assert.deepEqual(await got, { x: 1 });
});
