// User authentication: signin, server-to-user events, terminate_connections
// and the watchlist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, connected, waitFor, collect, subscribed, within,
} from './helpers/herald.mjs';

/** pusher-js client signed in as user (resolves once signin succeeded). */
async function signedIn(h, user) {
  const client = h.pusherClient({ user });
  client.signin();
  await connected(client);
  await within(client.user.signinDonePromise, 5000, `signin of ${user.id} to succeed`);
  // pusher-js subscribes #server-to-user-{id} once signed in; user events are delivered from then on.
  const channel = client.user.serverToUserChannel;
  if (!channel.subscribed) {
    await waitFor(channel, 'pusher:subscription_succeeded', 5000, { what: `${channel.name} subscribed` });
  }
  return client;
}

/** Raw socket signed in as user, then subscribed to its #server-to-user-{id}
 * channel as pusher-js does; resolves with the socket and signin_success frame. */
async function rawSignedIn(h, user) {
  const s = await h.rawConnected();
  s.send({ event: 'pusher:signin', data: h.signinData(s.socketId, user) });
  const ok = await s.event('pusher:signin_success');
  await s.subscribed(`#server-to-user-${user.id}`);
  return { s, ok };
}

test('pusher:signin with a valid signature answers pusher:signin_success with the user_data', async (t) => {
  const h = await startHerald(t);
  const user = { id: 'alice', user_info: { name: 'Alice' } };
  const { s, ok } = await rawSignedIn(h, user);
  assert.equal(typeof ok.data, 'object', 'signin_success data is an object');
  assert.equal(typeof ok.data.user_data, 'string');
  assert.deepEqual(JSON.parse(ok.data.user_data), user);
  assert.ok(s.open);

  const client = await signedIn(h, { id: 'bob' });
  assert.equal(client.user.user_data.id, 'bob');
});

test('pusher:signin with a bad signature is refused and the user gets nothing', async (t) => {
  const h = await startHerald(t);
  const good = await rawSignedIn(h, { id: 'alice' });
  const bad = await h.rawConnected();
  await bad.subscribed('side');
  const data = h.signinData(bad.socketId, { id: 'alice' });
  bad.send({ event: 'pusher:signin', data: { ...data, auth: `${h.app.key}:${'0'.repeat(64)}` } });
  const err = await bad.error();
  assert.ok(err.data.message.length > 0);
  assert.equal(bad.all((f) => f.event === 'pusher:signin_success').length, 0);

  // user_data signed for another socket is refused too
  const other = h.signinData('1.2', { id: 'alice' });
  if (bad.open) {
    bad.send({ event: 'pusher:signin', data: other });
    await bad.error();
    // and, not being signed in, it cannot take alice's server-to-user channel
    bad.subscribe('#server-to-user-alice');
    await bad.error();
  }

  await h.serverSdk().sendToUser('alice', 'private-note', { n: 1 });
  await good.s.event('private-note');
  if (bad.open) {
    await h.serverSdk().trigger('side', 'marker', {});
    await bad.event('marker', 'side');
    assert.equal(bad.all((f) => f.event === 'private-note').length, 0, 'unsigned connection got a user event');
  }
});

test('sendToUser reaches every connection signed in as that user, and only those', async (t) => {
  const h = await startHerald(t);
  const alice1 = await signedIn(h, { id: 'alice' });
  const alice2 = await signedIn(h, { id: 'alice' });
  const bob = await signedIn(h, { id: 'bob' });
  const bobGot = collect(bob.user, 'notice');
  const got = [waitFor(alice1.user, 'notice'), waitFor(alice2.user, 'notice')];
  await h.serverSdk().sendToUser('alice', 'notice', { text: 'for alice' });
  for (const data of await Promise.all(got)) assert.deepEqual(data, { text: 'for alice' });

  const bobMarker = waitFor(bob.user, 'marker');
  await h.serverSdk().sendToUser('bob', 'marker', {});
  await bobMarker;
  assert.equal(bobGot.length, 0, 'bob received alice\'s event');
});

test('server-to-user frames use the #server-to-user-{id} channel', async (t) => {
  const h = await startHerald(t);
  const { s } = await rawSignedIn(h, { id: 'carol' });
  await h.serverSdk().sendToUser('carol', 'hello', { a: 1 });
  const f = await s.event('hello');
  assert.equal(f.channel, '#server-to-user-carol');
  assert.deepEqual(f.data, { a: 1 });
});

test('a connection may subscribe only to its own user\'s #server-to-user channel', async (t) => {
  const h = await startHerald(t);
  const anon = await h.rawConnected();
  anon.subscribe('#server-to-user-alice');
  assert.equal((await anon.error()).data.code, null);
  const { s } = await rawSignedIn(h, { id: 'mallory' });
  s.subscribe('#server-to-user-alice');
  const err = await s.error();
  assert.equal(err.data.code, null);
  await rawSignedIn(h, { id: 'alice' });
  await h.serverSdk().sendToUser('alice', 'secret', {});
  await h.serverSdk().sendToUser('mallory', 'marker', {});
  await s.event('marker');
  assert.equal(s.all((f) => f.event === 'secret').length, 0, 'mallory got alice\'s event');
  assert.equal(anon.all((f) => f.event === 'secret').length, 0);
});

test('terminate_connections closes signed-in connections of the user with 4009, not presence-only ones', async (t) => {
  const h = await startHerald(t);
  const a1 = await rawSignedIn(h, { id: 'alice' });
  const a2 = await rawSignedIn(h, { id: 'alice' });
  const b = await rawSignedIn(h, { id: 'bob' });
  // presence member "alice" who never signed in
  const p = await h.rawConnected();
  await p.subscribed('presence-x', h.auth(p.socketId, 'presence-x', { user_id: 'alice' }));

  const res = await h.serverSdk().terminateUserConnections('alice');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});

  for (const { s } of [a1, a2]) {
    const err = await s.error();
    assert.equal(err.data.code, 4009);
    assert.equal((await s.waitClosed()).code, 4009);
  }
  await h.serverSdk().trigger('presence-x', 'still-here', {});
  await p.event('still-here', 'presence-x');
  assert.ok(p.open, 'presence-only connection must stay');
  assert.ok(b.s.open, 'other users stay');
  b.s.send({ event: 'pusher:ping', data: {} });
  await b.s.event('pusher:pong');
});

test('terminate_connections via pusher-js: the client sees 4009 and does not reconnect', async (t) => {
  const h = await startHerald(t);
  const client = await signedIn(h, { id: 'dave' });
  const err = waitFor(client.connection, 'error', 5000, {
    filter: (e) => (e?.data?.code ?? e?.error?.data?.code) === 4009,
    what: 'pusher-js error 4009',
  });
  const stopped = waitFor(client.connection, 'state_change', 5000, {
    filter: (s) => s.current === 'disconnected' || s.current === 'failed',
    what: 'pusher-js to stop after 4009',
  });
  await h.serverSdk().terminateUserConnections('dave');
  await err;
  await stopped;
});

test('watchlist: initial online snapshot after signin, then online/offline changes', async (t) => {
  const h = await startHerald(t);
  const bob = await signedIn(h, { id: 'bob' });
  const watcher = h.pusherClient({ user: { id: 'alice', watchlist: ['bob', 'carol'] } });
  const online = collect(watcher.user.watchlist, 'online');
  const offline = collect(watcher.user.watchlist, 'offline');
  const firstOnline = waitFor(watcher.user.watchlist, 'online', 5000, {
    filter: (e) => e.user_ids.includes('bob'), what: 'initial online [bob]',
  });
  watcher.signin();
  await firstOnline;
  assert.ok(!online.flatMap((e) => e.user_ids).includes('carol'), 'carol is not online yet');

  const carolOnline = waitFor(watcher.user.watchlist, 'online', 5000, {
    filter: (e) => e.user_ids.includes('carol'), what: 'online [carol]',
  });
  const carol = await signedIn(h, { id: 'carol' });
  await carolOnline;

  const carolOffline = waitFor(watcher.user.watchlist, 'offline', 5000, {
    filter: (e) => e.user_ids.includes('carol'), what: 'offline [carol]',
  });
  carol.disconnect();
  await carolOffline;
  assert.ok(!offline.flatMap((e) => e.user_ids).includes('bob'));
  // users not on the watchlist produce nothing
  await signedIn(h, { id: 'zed' });
  bob.disconnect();
  await waitFor(watcher.user.watchlist, 'offline', 5000, { filter: (e) => e.user_ids.includes('bob') });
  assert.ok(!online.flatMap((e) => e.user_ids).includes('zed'));
});

test('watchlist: a user with two connections goes offline only after the last one', async (t) => {
  const h = await startHerald(t);
  const w = await rawSignedIn(h, { id: 'alice', watchlist: ['bob'] });
  const isBob = (name) => (f) => f.event === 'pusher_internal:watchlist_events'
    && f.data.events.some((e) => e.name === name && e.user_ids.includes('bob'));
  // the initial snapshot may list bob as offline; count what comes after it
  const snapshot = await w.s.event('pusher_internal:watchlist_events');
  assert.ok(!isBob('online')(snapshot), 'bob is not online yet');
  const after = (pred) => w.s.frames.slice(w.s.frames.indexOf(snapshot) + 1).filter(pred);
  const b1 = await rawSignedIn(h, { id: 'bob' });
  await w.s.next(isBob('online'));
  const b2 = await rawSignedIn(h, { id: 'bob' });
  b1.s.ws.close(1000);
  await b1.s.waitClosed();
  b2.s.ws.close(1000);
  await w.s.next(isBob('offline'));
  // exactly one online and one offline for bob after the snapshot
  await w.s.subscribed('sync');
  await h.serverSdk().trigger('sync', 'marker', {});
  await w.s.event('marker', 'sync');
  assert.equal(after(isBob('offline')).length, 1, 'offline only after the last connection');
  assert.equal(after(isBob('online')).length, 1, 'second tab of an online user is not a new online event');
});

test('watchlist over 100 ids: signin succeeds, pusher:error 4302 follows, only the first 100 count', async (t) => {
  const h = await startHerald(t);
  const ids = Array.from({ length: 101 }, (_, i) => `w${i}`);
  const { s, ok } = await rawSignedIn(h, { id: 'watcher', watchlist: ids });
  assert.ok(ok.data.user_data);
  const err = await s.error();
  assert.equal(err.data.code, 4302);
  assert.ok(err.data.message.length > 0);
  // the connection stays
  s.send({ event: 'pusher:ping', data: {} });
  await s.event('pusher:pong');
  assert.ok(s.open);

  await rawSignedIn(h, { id: 'w100' }); // 101st: not watched
  await rawSignedIn(h, { id: 'w99' }); // 100th: watched
  const has = (id) => (f) => f.event === 'pusher_internal:watchlist_events'
    && f.data.events.some((e) => e.name === 'online' && e.user_ids.includes(id));
  await s.next(has('w99'));
  assert.equal(s.all(has('w100')).length, 0, 'the 101st id must not be watched');
});

test('signed-in users can still use channels normally', async (t) => {
  const h = await startHerald(t);
  const client = await signedIn(h, { id: 'erin' });
  const ch = client.subscribe('private-erin');
  await subscribed(ch);
  const got = waitFor(ch, 'ev');
  await h.serverSdk().trigger('private-erin', 'ev', { ok: true });
  assert.deepEqual(await got, { ok: true });
});
