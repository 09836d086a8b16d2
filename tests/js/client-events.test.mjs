// Client events: private/presence only, client- prefix, no echo, user_id on
// presence, per-app switch and rate limit (4301).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, subscribed, waitFor, collect, eventually, errorChannel,
} from './helpers/herald.mjs';

/** Raw socket subscribed to `channel` (signing it when needed). */
async function rawMember(h, channel, userId) {
  const s = await h.rawConnected();
  let extra = {};
  if (channel.startsWith('presence-')) extra = h.auth(s.socketId, channel, { user_id: userId || `u-${s.socketId}` });
  else if (channel.startsWith('private-')) extra = h.auth(s.socketId, channel);
  await s.subscribed(channel, extra);
  return s;
}

/** Triggers a marker via the HTTP API and waits for it on raw socket s:
 * frames the server queued for s on that channel before are in by then. */
async function barrier(h, s, channel) {
  const name = `marker-${Math.random().toString(36).slice(2)}`;
  await h.serverSdk().trigger(channel, name, {});
  await s.event(name, channel);
}

test('private channel: a client event reaches other subscribers and is not echoed to the sender', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const alice = h.pusherClient();
  const bob = h.pusherClient();
  const ca = alice.subscribe('private-chat');
  const cb = bob.subscribe('private-chat');
  await Promise.all([subscribed(ca), subscribed(cb)]);
  const echoed = collect(ca, 'client-typing');
  const got = waitFor(cb, 'client-typing');
  assert.equal(ca.trigger('client-typing', { who: 'alice' }), true);
  assert.deepEqual(await got, { who: 'alice' });

  const marker = waitFor(ca, 'marker');
  await h.serverSdk().trigger('private-chat', 'marker', {});
  await marker;
  assert.equal(echoed.length, 0, 'the sender must not get its own client event');
});

test('presence channel: the delivered client event carries the sender user_id', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const alice = h.pusherClient({ presence: { user_id: 'alice' } });
  const bob = h.pusherClient({ presence: { user_id: 'bob' } });
  const ca = alice.subscribe('presence-chat');
  const cb = bob.subscribe('presence-chat');
  await Promise.all([subscribed(ca), subscribed(cb)]);
  const got = waitFor(cb, 'client-wave', 5000, { all: true });
  ca.trigger('client-wave', { hi: true });
  const [data, metadata] = await got;
  assert.deepEqual(data, { hi: true });
  assert.equal(metadata.user_id, 'alice');

  // and on the wire
  const raw = await rawMember(h, 'presence-chat', 'carol');
  ca.trigger('client-wave', { again: true });
  const f = await raw.event('client-wave', 'presence-chat');
  assert.equal(f.user_id, 'alice');
  assert.deepEqual(f.data, { again: true });
});

test('private channel client event frames carry no user_id and keep their data', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const a = await rawMember(h, 'private-x');
  const b = await rawMember(h, 'private-x');
  a.send({ event: 'client-note', channel: 'private-x', data: { n: 1 } });
  const f = await b.event('client-note', 'private-x');
  assert.deepEqual(f.data, { n: 1 });
  assert.equal(f.user_id, undefined);
});

test('client events on a public channel are refused with pusher:error; connection stays', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const a = await rawMember(h, 'lobby');
  const b = await rawMember(h, 'lobby');
  a.send({ event: 'client-shout', channel: 'lobby', data: {} });
  const err = await a.error();
  assert.equal(err.data.code, null);
  assert.equal(errorChannel(err), 'lobby');
  await barrier(h, b, 'lobby');
  assert.equal(b.all((f) => f.event === 'client-shout').length, 0);
  a.send({ event: 'pusher:ping', data: {} });
  await a.event('pusher:pong');
});

test('client events on a channel the sender has not subscribed are refused', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const a = await h.rawConnected();
  const b = await rawMember(h, 'private-room');
  a.send({ event: 'client-sneak', channel: 'private-room', data: {} });
  const err = await a.error();
  assert.equal(err.data.code, null);
  assert.equal(errorChannel(err), 'private-room');
  await barrier(h, b, 'private-room');
  assert.equal(b.all((f) => f.event === 'client-sneak').length, 0);
  assert.ok(a.open);
});

test('events from clients must start with client-', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const a = await rawMember(h, 'private-room');
  const b = await rawMember(h, 'private-room');
  for (const name of ['hello', 'pusher_internal:member_added', 'pusher:fake']) {
    a.send({ event: name, channel: 'private-room', data: {} });
    const err = await a.error();
    assert.equal(err.data.code, null, `code for ${name}`);
  }
  await barrier(h, b, 'private-room');
  assert.equal(b.all((f) => ['hello', 'pusher_internal:member_added', 'pusher:fake'].includes(f.event)).length, 0);
  assert.ok(a.open);
});

test('client events are off by default and can be switched on for a live app', async (t) => {
  const h = await startHerald(t);
  const a = await rawMember(h, 'private-room');
  const b = await rawMember(h, 'private-room');
  a.send({ event: 'client-x', channel: 'private-room', data: { n: 0 } });
  const err = await a.error();
  assert.equal(err.data.code, null);
  assert.equal(errorChannel(err), 'private-room');
  await barrier(h, b, 'private-room');
  assert.equal(b.all((f) => f.event === 'client-x').length, 0);

  await h.update({ clientEvents: true });
  let n = 0;
  await eventually(async () => {
    n += 1;
    a.send({ event: 'client-x', channel: 'private-room', data: { n } });
    await barrier(h, b, 'private-room');
    return b.all((f) => f.event === 'client-x').length > 0;
  }, { what: 'client events to be delivered after enabling them', interval: 200 });
  assert.ok(a.open);
});

test('over 10 client events per second (default) closes the sender with 4301', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const a = await rawMember(h, 'private-burst');
  const b = await rawMember(h, 'private-burst');
  for (let i = 0; i < 30; i++) a.send({ event: 'client-burst', channel: 'private-burst', data: { i } });
  const err = await a.next((f) => f.event === 'pusher:error' && f.data.code === 4301, 5000, 'pusher:error 4301');
  assert.ok(err.data.message.length > 0);
  assert.equal((await a.waitClosed()).code, 4301);
  // the other member is unaffected, and got only the events within the limit
  await barrier(h, b, 'private-burst');
  const delivered = b.all((f) => f.event === 'client-burst').length;
  assert.ok(delivered >= 1 && delivered < 30, `delivered ${delivered} of 30`);
});

test('rate limit is per app: a lower rate trips sooner, a higher one allows the burst', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true, clientEventRate: 3 } });
  const a = await rawMember(h, 'private-r');
  for (let i = 0; i < 8; i++) a.send({ event: 'client-r', channel: 'private-r', data: { i } });
  assert.equal((await a.waitClosed()).code, 4301);

  const h2 = await startHerald(t, { app: { clientEvents: true, clientEventRate: 100 } });
  const x = await rawMember(h2, 'private-r');
  const y = await rawMember(h2, 'private-r');
  for (let i = 0; i < 25; i++) x.send({ event: 'client-r', channel: 'private-r', data: { i } });
  await barrier(h2, x, 'private-r');
  await eventually(() => y.all((f) => f.event === 'client-r').length === 25, { what: 'all 25 client events at rate 100' });
  assert.ok(x.open, 'sender under its app rate stays connected');
});

test('pusher-js trigger on a presence channel between two tabs of different users, both directions', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const alice = h.pusherClient({ presence: { user_id: 'alice' } });
  const bob = h.pusherClient({ presence: { user_id: 'bob' } });
  const ca = alice.subscribe('presence-duo');
  const cb = bob.subscribe('presence-duo');
  await Promise.all([subscribed(ca), subscribed(cb)]);
  const toBob = waitFor(cb, 'client-ping', 5000, { all: true });
  const toAlice = waitFor(ca, 'client-pong', 5000, { all: true });
  ca.trigger('client-ping', {});
  cb.trigger('client-pong', {});
  assert.equal((await toBob)[1].user_id, 'alice');
  assert.equal((await toAlice)[1].user_id, 'bob');
});
