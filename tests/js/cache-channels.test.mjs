// Cache channels: the last event is replayed to new subscribers, a
// pusher:cache_miss otherwise; per-app TTL; client events are not cached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, subscribed, waitFor, eventually,
} from './helpers/herald.mjs';

/** Raw subscribe to a (possibly private/presence) channel; returns the socket
 * and the first frame after subscription_succeeded. */
async function rawSubscribe(h, channel, userId = 'u1') {
  const s = await h.rawConnected();
  let extra = {};
  if (channel.startsWith('presence-')) extra = h.auth(s.socketId, channel, { user_id: userId });
  else if (channel.startsWith('private-')) extra = { auth: h.auth(s.socketId, channel).auth };
  await s.subscribed(channel, extra);
  const first = await s.next((f) => f.channel === channel && !String(f.event).startsWith('pusher_internal:'));
  return { s, first };
}

async function cacheInfo(h, channel) {
  const res = await h.serverSdk().get({ path: `/channels/${channel}`, params: { info: 'cache' } });
  return res.json();
}

test('cache miss: an empty cache channel answers pusher:cache_miss after subscribing', async (t) => {
  const h = await startHerald(t);
  const { first } = await rawSubscribe(h, 'cache-empty');
  assert.equal(first.event, 'pusher:cache_miss');

  const client = h.pusherClient();
  const ch = client.subscribe('cache-empty-2');
  await waitFor(ch, 'pusher:cache_miss');
});

for (const channel of ['cache-prices', 'private-cache-prices', 'presence-cache-prices']) {
  test(`${channel}: the last event is replayed first to a new subscriber`, async (t) => {
    const h = await startHerald(t);
    const sdk = h.serverSdk();
    await sdk.trigger(channel, 'price', { v: 1 });
    await sdk.trigger(channel, 'price', { v: 2 });
    const { s, first } = await rawSubscribe(h, channel);
    assert.equal(first.event, 'price');
    assert.deepEqual(first.data, { v: 2 });
    assert.equal(s.all((f) => f.event === 'price').length, 1, 'only the last event is replayed');
    assert.equal(s.all((f) => f.event === 'pusher:cache_miss').length, 0);

    // pusher-js sees it as a normal event
    const client = h.pusherClient({ presence: { user_id: 'js' } });
    const ch = client.subscribe(channel);
    const got = waitFor(ch, 'price');
    assert.deepEqual(await got, { v: 2 });

    // later events still flow live, and become the new cached one
    await sdk.trigger(channel, 'price', { v: 3 });
    assert.deepEqual((await s.event('price', channel)).data, { v: 3 });
    const late = await rawSubscribe(h, channel, 'u2');
    assert.deepEqual(late.first.data, { v: 3 });
  });
}

test('private-encrypted-cache: the encrypted last event is replayed and pusher-js decrypts it', async (t) => {
  const h = await startHerald(t);
  const channel = 'private-encrypted-cache-vault';
  await h.serverSdk().trigger(channel, 'sealed', { secret: 42 });
  const { first } = await rawSubscribe(h, channel);
  assert.equal(first.event, 'sealed');
  assert.ok(first.data.nonce && first.data.ciphertext);
  const client = h.pusherClient();
  const ch = client.subscribe(channel);
  assert.deepEqual(await waitFor(ch, 'sealed'), { secret: 42 });
});

test('a non-cache channel replays nothing', async (t) => {
  const h = await startHerald(t);
  await h.serverSdk().trigger('plain', 'old', { v: 1 });
  const s = await h.rawConnected();
  await s.subscribed('plain');
  await h.serverSdk().trigger('plain', 'marker', {});
  const first = await s.next((f) => f.channel === 'plain' && !String(f.event).startsWith('pusher_internal:'));
  assert.equal(first.event, 'marker');
});

test('batch triggers fill the cache too', async (t) => {
  const h = await startHerald(t);
  await h.serverSdk().triggerBatch([
    { channel: 'cache-batch', name: 'b', data: { n: 1 } },
    { channel: 'cache-batch', name: 'b', data: { n: 2 } },
  ]);
  const { first } = await rawSubscribe(h, 'cache-batch');
  assert.deepEqual(first.data, { n: 2 });
});

test('client events are not cached', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const channel = 'private-cache-chat';
  const { s: a, first: missA } = await rawSubscribe(h, channel);
  assert.equal(missA.event, 'pusher:cache_miss');
  const { s: b } = await rawSubscribe(h, channel);
  a.send({ event: 'client-msg', channel, data: { hi: 1 } });
  await b.event('client-msg', channel);
  const { first } = await rawSubscribe(h, channel);
  assert.equal(first.event, 'pusher:cache_miss');
});

test('GET channels/{name}?info=cache returns the cached data and a TTL within the default 1800 s', async (t) => {
  const h = await startHerald(t);
  await h.serverSdk().trigger('cache-info', 'ev', { x: 'y' });
  const info = await cacheInfo(h, 'cache-info');
  assert.ok(info.cache, `no cache field in ${JSON.stringify(info)}`);
  assert.equal(typeof info.cache.data, 'string');
  assert.ok(info.cache.data.includes('"x"'), `cache.data ${info.cache.data}`);
  assert.ok(info.cache.ttl > 1700 && info.cache.ttl <= 1800, `ttl ${info.cache.ttl}`);
});

test('the cache TTL is per app', async (t) => {
  const h = await startHerald(t, { app: { cacheTtl: 60 } });
  await h.serverSdk().trigger('cache-short', 'ev', {});
  const info = await cacheInfo(h, 'cache-short');
  assert.ok(info.cache.ttl > 0 && info.cache.ttl <= 60, `ttl ${info.cache.ttl}`);
});

test('a cached event expires after the app TTL, then subscribers get cache_miss', async (t) => {
  const h = await startHerald(t, { app: { cacheTtl: 1 } });
  await h.serverSdk().trigger('cache-brief', 'ev', { v: 1 });
  await eventually(async () => {
    const { s, first } = await rawSubscribe(h, 'cache-brief');
    s.close();
    return first.event === 'pusher:cache_miss';
  }, { timeout: 10000, interval: 250, what: 'the cached event to expire (TTL 1 s)' });
});

test('pusher-js subscriber on a cache channel gets the cached event once, then live ones', async (t) => {
  const h = await startHerald(t);
  await h.serverSdk().trigger('cache-live', 'tick', { n: 1 });
  const client = h.pusherClient();
  const ch = client.subscribe('cache-live');
  const ticks = [];
  ch.bind('tick', (d) => ticks.push(d.n));
  await subscribed(ch);
  await eventually(() => ticks.length === 1, { what: 'cached tick' });
  const next = waitFor(ch, 'tick');
  await h.serverSdk().trigger('cache-live', 'tick', { n: 2 });
  await next;
  assert.deepEqual(ticks, [1, 2]);
});
