// Channel kinds, authorization, names and unsubscribe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, connected, subscribed, waitFor, eventually, errorChannel, hmac,
} from './helpers/herald.mjs';

async function occupied(h, channel) {
  const res = await h.serverSdk().get({ path: `/channels/${channel}` });
  return (await res.json()).occupied;
}

test('public channel: pusher-js receives what the server SDK triggers, on every subscriber', async (t) => {
  const h = await startHerald(t);
  const clients = [h.pusherClient(), h.pusherClient(), h.pusherClient()];
  const channels = clients.map((c) => c.subscribe('news'));
  await Promise.all(channels.map((ch) => subscribed(ch)));
  const got = channels.map((ch) => waitFor(ch, 'headline'));
  await h.serverSdk().trigger('news', 'headline', { title: 'hello', n: 1 });
  for (const data of await Promise.all(got)) assert.deepEqual(data, { title: 'hello', n: 1 });
});

test('event data passes through as the string the SDK sent (double-encoded frame)', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  const ok = await s.subscribed('raw-news');
  assert.equal(ok.channel, 'raw-news');
  await h.serverSdk().trigger('raw-news', 'plain', 'just a string, not JSON');
  await h.serverSdk().trigger('raw-news', 'obj', { a: [1, 2] });
  const plain = await s.event('plain', 'raw-news');
  assert.equal(plain.rawData, 'just a string, not JSON');
  const obj = await s.event('obj', 'raw-news');
  assert.equal(typeof obj.rawData, 'string');
  assert.deepEqual(JSON.parse(obj.rawData), { a: [1, 2] });
});

test('private channel: a correctly signed subscription succeeds and receives events', async (t) => {
  const h = await startHerald(t);
  const client = h.pusherClient();
  const ch = client.subscribe('private-orders');
  await subscribed(ch);
  const got = waitFor(ch, 'created');
  await h.serverSdk().trigger('private-orders', 'created', { id: 7 });
  assert.deepEqual(await got, { id: 7 });
});

test('private channel: a bad signature gets pusher:error (code null), no subscription, connection stays', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  const cases = [
    { auth: `${h.app.key}:${'0'.repeat(64)}` }, // wrong digest
    {}, // no auth at all
    { auth: h.auth('1234.5678', 'private-vault').auth }, // signed for another socket
    { auth: `other-key:${hmac(h.app.secret, `${s.socketId}:private-vault`)}` }, // wrong key part
    { auth: h.auth(s.socketId, 'private-other').auth }, // signed for another channel
  ];
  for (const extra of cases) {
    s.subscribe('private-vault', extra);
    const err = await s.error();
    assert.equal(err.data.code, null, `code null for ${JSON.stringify(extra)}`);
    assert.ok(err.data.message.length > 0);
    assert.equal(errorChannel(err), 'private-vault');
  }
  assert.equal(s.all((f) => f.event === 'pusher_internal:subscription_succeeded').length, 0);
  assert.equal(await occupied(h, 'private-vault'), false, 'a rejected subscriber must not occupy the channel');
  // the connection is still usable
  await s.subscribed('private-vault', h.auth(s.socketId, 'private-vault'));
  assert.equal(await occupied(h, 'private-vault'), true);
});

test('private channel via pusher-js: a wrong signature never yields subscription_succeeded', async (t) => {
  const h = await startHerald(t);
  const client = h.pusherClient({
    channelAuth: (socketId, channel) => ({ auth: `${h.app.key}:${hmac('wrong-secret', `${socketId}:${channel}`)}` }),
  });
  await connected(client);
  const errors = [];
  client.connection.bind('error', (e) => errors.push(e));
  const ch = client.subscribe('private-secret');
  await eventually(() => errors.length > 0, { what: 'a pusher:error for the bad signature' });
  assert.equal(ch.subscribed, false);
  assert.equal(client.connection.state, 'connected');
});

test('private-encrypted channel: SDK-encrypted events reach pusher-js decrypted, ciphertext on the wire', async (t) => {
  const h = await startHerald(t);
  const client = h.pusherClient();
  const ch = client.subscribe('private-encrypted-dm');
  await subscribed(ch);
  const raw = await h.rawConnected();
  const auth = h.auth(raw.socketId, 'private-encrypted-dm');
  await raw.subscribed('private-encrypted-dm', { auth: auth.auth });

  const got = waitFor(ch, 'secret');
  await h.serverSdk().trigger('private-encrypted-dm', 'secret', { msg: 'hi there' });
  assert.deepEqual(await got, { msg: 'hi there' });
  const wire = await raw.event('secret', 'private-encrypted-dm');
  assert.ok(wire.data.nonce && wire.data.ciphertext, 'server passes the encrypted envelope through');
  assert.ok(!JSON.stringify(wire).includes('hi there'));
});

test('private-encrypted channel requires a valid signature too', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  s.subscribe('private-encrypted-x', { auth: `${h.app.key}:${'f'.repeat(64)}` });
  const err = await s.error();
  assert.equal(err.data.code, null);
  assert.equal(errorChannel(err), 'private-encrypted-x');
});

test('channel names: allowed characters up to 164 chars; anything else is rejected', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  const okNames = ['a', 'Az09_-=@,.;', 'x'.repeat(164), `private-${'p'.repeat(156)}`];
  for (const name of okNames) {
    const extra = name.startsWith('private-') ? h.auth(s.socketId, name) : {};
    await s.subscribed(name, extra);
  }
  const badNames = ['has space', 'bang!', 'slash/x', 'x'.repeat(165), '#server-to-user-bob', 'ümlaut', ''];
  for (const name of badNames) {
    s.subscribe(name);
    const err = await s.error();
    assert.equal(err.data.code, null, `code for ${JSON.stringify(name)}`);
    assert.ok(err.data.message.length > 0);
    if (name) assert.equal(errorChannel(err), name);
  }
  assert.equal(s.all((f) => f.event === 'pusher_internal:subscription_succeeded').length, okNames.length);
  // still usable
  await s.subscribed('after-bad-names');
});

test('unsubscribe stops delivery and frees the channel', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  await s.subscribed('ticker');
  assert.equal(await occupied(h, 'ticker'), true);
  s.send({ event: 'pusher:unsubscribe', data: { channel: 'ticker' } });
  await eventually(async () => (await occupied(h, 'ticker')) === false, { what: 'ticker to become unoccupied' });
  await h.serverSdk().trigger('ticker', 'tick', { n: 1 });
  await s.subscribed('ticker');
  await h.serverSdk().trigger('ticker', 'tick', { n: 2 });
  const tick = await s.event('tick', 'ticker');
  assert.deepEqual(tick.data, { n: 2 }, 'the event sent while unsubscribed was delivered');
});

test('pusher-js unsubscribe via the client library', async (t) => {
  const h = await startHerald(t);
  const client = h.pusherClient();
  await subscribed(client.subscribe('lib-unsub'));
  client.unsubscribe('lib-unsub');
  await eventually(async () => (await occupied(h, 'lib-unsub')) === false, { what: 'lib-unsub unoccupied' });
});

test('a closed connection leaves its channels', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  await s.subscribed('gone-soon');
  assert.equal(await occupied(h, 'gone-soon'), true);
  s.ws.close(1000);
  await eventually(async () => (await occupied(h, 'gone-soon')) === false, { what: 'gone-soon unoccupied' });
});

test('subscribing twice to the same channel does not duplicate deliveries', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  await s.subscribed('twice');
  s.subscribe('twice');
  // let the second subscribe be processed (it may or may not be acknowledged)
  s.send({ event: 'pusher:ping', data: {} });
  await s.event('pusher:pong');
  await h.serverSdk().trigger('twice', 'once', { n: 1 });
  await h.serverSdk().trigger('twice', 'marker', {});
  await s.event('marker', 'twice');
  assert.equal(s.all((f) => f.event === 'once').length, 1);
});
