// The Pusher HTTP API through the official server SDK, plus hand-signed
// requests for the error paths the SDK refuses to produce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startHerald, subscribed, waitFor, collect, eventually, signedFetch,
} from './helpers/herald.mjs';

async function sdkError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the request to fail');
}

async function rawOn(h, channel, userId) {
  const s = await h.rawConnected();
  let extra = {};
  if (channel.startsWith('presence-')) extra = h.auth(s.socketId, channel, { user_id: userId || `u-${s.socketId}` });
  else if (channel.startsWith('private-')) extra = h.auth(s.socketId, channel);
  await s.subscribed(channel, extra);
  return s;
}

test('POST events to one and to several channels; response is {}', async (t) => {
  const h = await startHerald(t);
  const [a, b, c] = await Promise.all(['one', 'two', 'three'].map((ch) => rawOn(h, ch)));
  const res = await h.serverSdk().trigger('one', 'solo', { n: 1 });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  assert.deepEqual((await a.event('solo', 'one')).data, { n: 1 });

  await h.serverSdk().trigger(['one', 'two', 'three'], 'multi', { n: 2 });
  for (const [s, ch] of [[a, 'one'], [b, 'two'], [c, 'three']]) {
    assert.deepEqual((await s.event('multi', ch)).data, { n: 2 });
  }
});

test('POST events accepts 100 channels and refuses 101 with 400', async (t) => {
  const h = await startHerald(t);
  const last = await rawOn(h, 'ch-99');
  const channels = Array.from({ length: 100 }, (_, i) => `ch-${i}`);
  await h.serverSdk().trigger(channels, 'wide', {});
  await last.event('wide', 'ch-99');
  const r = await signedFetch(h, 'POST', '/events', {
    body: { name: 'too-wide', data: '{}', channels: [...channels, 'ch-100'] },
  });
  assert.equal(r.status, 400);
  assert.ok(r.text.length > 0, 'error body says what is wrong');
});

test('socket_id excludes that connection from a trigger', async (t) => {
  const h = await startHerald(t);
  const sender = h.pusherClient();
  const other = h.pusherClient();
  const cs = sender.subscribe('feed');
  const co = other.subscribe('feed');
  await Promise.all([subscribed(cs), subscribed(co)]);
  const senderGot = collect(cs, 'update');
  const otherGot = waitFor(co, 'update');
  await h.serverSdk().trigger('feed', 'update', { v: 1 }, { socket_id: sender.connection.socket_id });
  assert.deepEqual(await otherGot, { v: 1 });
  const marker = waitFor(cs, 'marker');
  await h.serverSdk().trigger('feed', 'marker', {});
  await marker;
  assert.equal(senderGot.length, 0, 'excluded socket received the event');
});

test('info on POST events returns user_count and subscription_count per channel', async (t) => {
  const h = await startHerald(t, { app: { subscriptionCount: true } });
  await rawOn(h, 'presence-lobby', 'alice');
  await rawOn(h, 'presence-lobby', 'bob');
  await rawOn(h, 'presence-lobby', 'bob');
  await rawOn(h, 'counted');
  await rawOn(h, 'counted');
  const sdk = h.serverSdk();
  let res = await sdk.trigger('presence-lobby', 'ev', {}, { info: 'user_count' });
  assert.deepEqual(await res.json(), { channels: { 'presence-lobby': { user_count: 2 } } });
  res = await sdk.trigger('counted', 'ev', {}, { info: 'subscription_count' });
  assert.deepEqual(await res.json(), { channels: { counted: { subscription_count: 2 } } });
});

test('POST batch_events delivers each event, honours socket_id and returns aligned info', async (t) => {
  const h = await startHerald(t, { app: { subscriptionCount: true } });
  const a = await rawOn(h, 'b1');
  const b = await rawOn(h, 'b2');
  const p = await rawOn(h, 'presence-b', 'carol');
  const res = await h.serverSdk().triggerBatch([
    { channel: 'b1', name: 'e1', data: { i: 1 } },
    { channel: 'b2', name: 'e2', data: { i: 2 }, socket_id: b.socketId },
    { channel: 'presence-b', name: 'e3', data: 'text' },
  ]);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  assert.deepEqual((await a.event('e1', 'b1')).data, { i: 1 });
  assert.equal((await p.event('e3', 'presence-b')).rawData, 'text');
  await h.serverSdk().trigger('b2', 'marker', {});
  await b.event('marker', 'b2');
  assert.equal(b.all((f) => f.event === 'e2').length, 0, 'socket_id exclusion in batch');

  const withInfo = await h.serverSdk().triggerBatch([
    { channel: 'b1', name: 'i1', data: {}, info: 'subscription_count' },
    { channel: 'presence-b', name: 'i2', data: {}, info: 'user_count' },
    { channel: 'b2', name: 'i3', data: {} },
  ]);
  assert.deepEqual(await withInfo.json(), {
    batch: [{ subscription_count: 1 }, { user_count: 1 }, {}],
  });
});

test('batch_events takes up to 10 events and refuses 11 with 400', async (t) => {
  const h = await startHerald(t);
  const s = await rawOn(h, 'many');
  const ten = Array.from({ length: 10 }, (_, i) => ({ channel: 'many', name: `e${i}`, data: '{}' }));
  await h.serverSdk().triggerBatch(ten);
  await s.event('e9', 'many');
  const r = await signedFetch(h, 'POST', '/batch_events', {
    body: { batch: [...ten, { channel: 'many', name: 'e10', data: '{}' }] },
  });
  assert.equal(r.status, 400);
  assert.ok(r.text.length > 0);
});

test('GET channels lists occupied channels, filters by prefix, and gives user_count for presence', async (t) => {
  const h = await startHerald(t);
  await rawOn(h, 'news');
  await rawOn(h, 'private-ops');
  await rawOn(h, 'presence-a', 'u1');
  await rawOn(h, 'presence-a', 'u2');
  const sdk = h.serverSdk();
  let body = await (await sdk.get({ path: '/channels' })).json();
  assert.deepEqual(Object.keys(body.channels).sort(), ['news', 'presence-a', 'private-ops']);
  assert.deepEqual(body.channels.news, {});

  body = await (await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
  assert.deepEqual(body, { channels: { 'presence-a': { user_count: 2 } } });

  body = await (await sdk.get({ path: '/channels', params: { filter_by_prefix: 'private-' } })).json();
  assert.deepEqual(Object.keys(body.channels), ['private-ops']);

  const err = await sdkError(sdk.get({ path: '/channels', params: { info: 'user_count' } }));
  assert.equal(err.status, 400, 'user_count needs filter_by_prefix=presence-');
  assert.ok(err.body.length > 0);
});

test('GET channels/{name}: occupied, user_count, subscription_count', async (t) => {
  const h = await startHerald(t, { app: { subscriptionCount: true } });
  const sdk = h.serverSdk();
  let body = await (await sdk.get({ path: '/channels/empty' })).json();
  assert.equal(body.occupied, false);

  await rawOn(h, 'busy');
  await rawOn(h, 'busy');
  body = await (await sdk.get({ path: '/channels/busy', params: { info: 'subscription_count' } })).json();
  assert.deepEqual(body, { occupied: true, subscription_count: 2 });

  await rawOn(h, 'presence-p', 'x');
  await rawOn(h, 'presence-p', 'y');
  await rawOn(h, 'presence-p', 'y');
  body = await (await sdk.get({ path: '/channels/presence-p', params: { info: 'user_count' } })).json();
  assert.equal(body.occupied, true);
  assert.equal(body.user_count, 2);

  const err = await sdkError(sdk.get({ path: '/channels/busy', params: { info: 'user_count' } }));
  assert.equal(err.status, 400, 'user_count on a non-presence channel');
});

test('GET channels/{name}/users lists presence members once each; non-presence is 400', async (t) => {
  const h = await startHerald(t);
  await rawOn(h, 'presence-team', 'ann');
  await rawOn(h, 'presence-team', 'ben');
  await rawOn(h, 'presence-team', 'ben');
  const sdk = h.serverSdk();
  const body = await (await sdk.get({ path: '/channels/presence-team/users' })).json();
  assert.deepEqual(body.users.map((u) => u.id).sort(), ['ann', 'ben']);
  const err = await sdkError(sdk.get({ path: '/channels/public-team/users' }));
  assert.equal(err.status, 400);
});

test('payload over the limit is 413: default 10 KB, per-app override, batch too', async (t) => {
  const h = await startHerald(t);
  const s = await rawOn(h, 'big');
  const sdk = h.serverSdk();
  await sdk.trigger('big', 'fits', 'x'.repeat(10000));
  await s.event('fits', 'big');
  let err = await sdkError(sdk.trigger('big', 'huge', 'x'.repeat(11000)));
  assert.equal(err.status, 413);
  assert.ok(err.body.length > 0);
  err = await sdkError(sdk.triggerBatch([
    { channel: 'big', name: 'ok', data: 'small' },
    { channel: 'big', name: 'huge', data: 'x'.repeat(11000) },
  ]));
  assert.equal(err.status, 413);

  await h.update({ maxPayloadBytes: 100 });
  await eventually(async () => {
    const e = await sdk.trigger('big', 'mid', 'x'.repeat(200)).then(() => null, (x) => x);
    return e && e.status === 413;
  }, { what: '413 for 200 bytes after lowering the limit to 100' });
  await sdk.trigger('big', 'tiny', 'x'.repeat(50));
  await s.event('tiny', 'big');
});

test('signatures: wrong secret, tampered body, unknown key are 401 with a useful text', async (t) => {
  const h = await startHerald(t);
  const body = { name: 'ev', data: '{}', channels: ['x'] };
  let r = await signedFetch(h, 'POST', '/events', { body, secret: 'not-the-secret' });
  assert.equal(r.status, 401);
  assert.match(r.text, /signature/i);

  r = await signedFetch(h, 'POST', '/events', { body, signature: 'deadbeef' });
  assert.equal(r.status, 401);

  // replaying a signed request with another body: body_md5 no longer matches
  r = await signedFetch(h, 'POST', '/events', { body, sendBody: JSON.stringify({ ...body, name: 'evil' }) });
  assert.equal(r.status, 401);

  r = await signedFetch(h, 'POST', '/events', { body, key: 'unknown-key' });
  assert.equal(r.status, 401);

  r = await signedFetch(h, 'GET', '/channels', { secret: 'nope' });
  assert.equal(r.status, 401);

  r = await signedFetch(h, 'POST', '/events', { body });
  assert.equal(r.status, 200, `the same request correctly signed works: ${r.text}`);
});

test('timestamps: more than 600 s old or ahead is 401; within the window is fine', async (t) => {
  const h = await startHerald(t);
  const body = { name: 'ev', data: '{}', channels: ['x'] };
  const now = Math.floor(Date.now() / 1000);
  for (const ts of [now - 700, now + 700]) {
    const r = await signedFetch(h, 'POST', '/events', { body, timestamp: ts });
    assert.equal(r.status, 401, `timestamp offset ${ts - now}`);
    assert.match(r.text, /timestamp/i);
  }
  const r = await signedFetch(h, 'POST', '/events', { body, timestamp: now - 500 });
  assert.equal(r.status, 200, r.text);
});

test('missing auth parameters are refused', async (t) => {
  const h = await startHerald(t);
  const res = await fetch(`${h.url}/apps/${h.app.id}/channels`);
  assert.ok([400, 401].includes(res.status), `status ${res.status}`);
  assert.ok((await res.text()).length > 0);
});

test('unknown app id is 404; a disabled app is 403', async (t) => {
  const h = await startHerald(t);
  let r = await signedFetch(h, 'GET', '/channels', { appId: '999999' });
  assert.equal(r.status, 404);
  await h.update({ enabled: false });
  await eventually(async () => (await signedFetch(h, 'GET', '/channels')).status === 403,
    { what: 'HTTP API to answer 403 for the disabled app' });
  r = await signedFetch(h, 'POST', '/events', { body: { name: 'e', data: '{}', channel: 'x' } });
  assert.equal(r.status, 403);
});

test('bad request bodies and names are 400', async (t) => {
  const h = await startHerald(t);
  const cases = [
    { name: 'malformed JSON', body: '{"name": "e", ' },
    { name: 'missing name', body: { data: '{}', channels: ['x'] } },
    { name: 'missing data', body: { name: 'e', channels: ['x'] } },
    { name: 'no channel', body: { name: 'e', data: '{}' } },
    { name: 'invalid channel name', body: { name: 'e', data: '{}', channels: ['bad channel'] } },
    { name: 'channel name too long', body: { name: 'e', data: '{}', channels: ['c'.repeat(201)] } },
    { name: 'event name too long', body: { name: 'e'.repeat(201), data: '{}', channels: ['x'] } },
    { name: 'bad socket_id', body: { name: 'e', data: '{}', channels: ['x'], socket_id: 'abc' } },
  ];
  for (const c of cases) {
    const r = await signedFetch(h, 'POST', '/events', { body: c.body });
    assert.equal(r.status, 400, `${c.name}: ${r.text}`);
    assert.ok(r.text.length > 0, `${c.name} has an explanation`);
  }
});

test('terminate_connections answers {} for a user with no connections', async (t) => {
  const h = await startHerald(t);
  const res = await h.serverSdk().terminateUserConnections('nobody');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
});

test('a request body that stops arriving is answered 408 and its connection closed', async (t) => {
  const h = await startHerald(t, { env: { HERALD_REQUEST_BODY_TIMEOUT: '1' } });
  const socket = net.connect(h.port, '127.0.0.1');
  t.after(() => socket.destroy());
  let answer = '';
  socket.on('data', (d) => { answer += d; });
  const closed = new Promise((resolve) => socket.on('close', resolve));
  socket.write(`POST /apps/${h.app.id}/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
  await closed; // the server closes it: a trickling client holds no slot
  assert.match(answer, /^HTTP\/1\.1 408/, answer);
  assert.match(answer, /not received within/);
});
