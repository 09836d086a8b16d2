// Herald's stored-message extensions of the Pusher HTTP API (see the resume protocol):
// idempotent publishing (Idempotency-Key header, idempotency_key fields), the history API
// (GET /apps/{id}/channels/{name}/history), rewind on subscribe, and durable publishing
// (a publish answered 200 can be read back at once, through any node).
//
// In the cluster topology every request names its node: retries of one publish go through
// the nodes in turn, and history is read through another node than the one that published.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, signedFetch, hmac, md5, sleep, eventually, subscribed, collect,
} from './helpers/herald.mjs';

/** The nodes requests can go to: herald itself, or the cluster's three nodes. */
const nodesOf = (h) => h.nodes ?? [h];
/** Node `i` of h, wrapping around. */
const nodeAt = (h, i) => { const ns = nodesOf(h); return ns[i % ns.length]; };

const QUIET_MS = 500; // after the sentinel: time for a duplicate to show up

/**
 * A Pusher-signed request to one node with extra headers (which the signature does not cover).
 * Resolves with {status, text, json}.
 */
async function signed(node, method, apiPath, { body, query = {}, headers = {} } = {}) {
  const bodyText = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const fullPath = `/apps/${node.app.id}${apiPath}`;
  const params = {
    auth_key: node.app.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0', ...query,
  };
  if (bodyText !== undefined) params.body_md5 = md5(bodyText);
  const sorted = Object.keys(params).sort().map((k) => `${k.toLowerCase()}=${params[k]}`).join('&');
  const qs = new URLSearchParams({ ...params, auth_signature: hmac(node.app.secret, `${method}\n${fullPath}\n${sorted}`) });
  const res = await fetch(`${node.url}${fullPath}?${qs}`, {
    method,
    headers: { ...(bodyText !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: bodyText,
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* plain-text error body */ }
  return { status: res.status, text, json };
}

const describe = (r) => `${r.status} ${r.text}`;

/** POST events through `node`: one event {name, channel|channels, data, ...}, optional Idempotency-Key. */
function postEvent(node, event, key) {
  return signed(node, 'POST', '/events', {
    body: { ...event, data: typeof event.data === 'string' ? event.data : JSON.stringify(event.data) },
    headers: key === undefined ? {} : { 'idempotency-key': key },
  });
}

/** POST batch_events through `node`, optional Idempotency-Key. */
function postBatch(node, batch, key) {
  return signed(node, 'POST', '/batch_events', {
    body: { batch: batch.map((e) => ({ ...e, data: typeof e.data === 'string' ? e.data : JSON.stringify(e.data) })) },
    headers: key === undefined ? {} : { 'idempotency-key': key },
  });
}

/** Asserts that the request answered 200 with {}. */
function assertOk(r, what) {
  assert.equal(r.status, 200, `${what}: ${describe(r)}`);
  assert.deepEqual(r.json, {}, `${what}: body`);
}

/** GET history of `channel` through `node`; `query` values are stringified. */
function history(node, channel, query = {}) {
  const q = Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)]));
  return signedFetch(node, 'GET', `/channels/${channel}/history`, { query: q });
}

/** Reads every page of a channel's history, following next_cursor; returns the pages (bodies). */
async function readAll(node, channel, query = {}) {
  const pages = [];
  let cursor;
  for (;;) {
    const r = await history(node, channel, cursor === undefined ? query : { ...query, cursor });
    assert.equal(r.status, 200, `history page ${pages.length + 1} of ${channel}: ${describe(r)}`);
    pages.push(r.json);
    if (r.json.next_cursor === undefined) return pages;
    assert.ok(pages.length < 50, `history of ${channel} does not end: ${JSON.stringify(pages.slice(-2))}`);
    cursor = r.json.next_cursor;
  }
}

/** A raw socket (on the next node) subscribed to `channel`. */
async function rawSubscriber(h, channel) {
  const s = await h.rawConnected();
  await s.subscribed(channel);
  return s;
}

/** The stored events `s` received on `channel` (sentinels excluded), in arrival order. */
const received = (s, channel) => s.all((f) => f.channel === channel && !f.event.startsWith('pusher')
  && f.event !== 'sentinel');

/**
 * Publishes a sentinel on `channel` (SDK, no key), waits for every subscriber to get it, then a
 * little longer: a duplicate of anything published before would have arrived by then.
 */
async function settle(h, subscribers, channel) {
  const tag = Math.random().toString(36).slice(2);
  await h.serverSdk().trigger(channel, 'sentinel', { tag });
  await Promise.all(subscribers.map((s) => s.next((f) => f.channel === channel && f.event === 'sentinel'
    && f.data?.tag === tag, 8000, `sentinel ${tag} on ${channel}`)));
  await sleep(QUIET_MS);
}

/** [event, data] pairs of frames or history messages (data parsed). */
const pairs = (list) => list.map((m) => [m.event, typeof m.data === 'string' ? JSON.parse(m.data) : m.data]);

/** Every history message of a channel, oldest first (excluding sentinels). */
async function stored(node, channel) {
  const pages = await readAll(node, channel, { direction: 'forwards', limit: 1000 });
  return pages.flatMap((p) => p.messages).filter((m) => m.event !== 'sentinel');
}

// ------------------------------------------------------------- idempotent publishing

test('Idempotency-Key header: three sends answer 200 and deliver once; another key delivers again', async (t) => {
  const h = await startHerald(t);
  const ch = 'idem-header';
  const subs = [await rawSubscriber(h, ch), await rawSubscriber(h, ch)];
  const event = { name: 'e', channel: ch, data: { v: 'same body' } };

  for (let i = 0; i < 3; i++) assertOk(await postEvent(nodeAt(h, i), event, 'k1'), `send ${i + 1} with key k1`);
  for (let i = 0; i < 3; i++) assertOk(await postEvent(nodeAt(h, i + 1), event, 'k2'), `send ${i + 1} with key k2`);
  // k1 once more, after the channel moved on
  assertOk(await postEvent(nodeAt(h, 2), { ...event, data: { v: 'other' } }, 'k3'), 'send with key k3');
  assertOk(await postEvent(nodeAt(h, 1), event, 'k1'), 'late retry with key k1');
  await settle(h, subs, ch);

  const expected = [['e', { v: 'same body' }], ['e', { v: 'same body' }], ['e', { v: 'other' }]];
  for (const [k, s] of subs.entries()) {
    assert.deepEqual(pairs(received(s, ch)), expected, `subscriber ${k}: k1 once, k2 once, k3 once`);
  }
  assert.deepEqual(pairs(await stored(nodeAt(h, 0), ch)), expected, 'history holds each key once');
});

test('the app\'s idempotency window: a key is deduplicated within it and stored anew after it, on every node', async (t) => {
  const h = await startHerald(t, { app: { idempotencyWindow: 2 } }); // seconds; the stream's window is 120 s
  const ch = 'idem-window';
  const subs = [await rawSubscriber(h, ch)];
  const event = { name: 'e', channel: ch, data: { v: 'again' } };
  assertOk(await postEvent(nodeAt(h, 0), event, 'w1'), 'first send');
  assertOk(await postEvent(nodeAt(h, 1), event, 'w1'), 'retry within the window');
  await sleep(2500);
  assertOk(await postEvent(nodeAt(h, 2), event, 'w1'), 'the key after the window');
  assertOk(await postEvent(nodeAt(h, 0), event, 'w1'), 'and its retry, within the new window');
  await settle(h, subs, ch);
  const twice = [['e', { v: 'again' }], ['e', { v: 'again' }]];
  assert.deepEqual(pairs(received(subs[0], ch)), twice, 'once in each window');
  assert.deepEqual(pairs(await stored(nodeAt(h, 1), ch)), twice, 'history holds it once per window');
});

test('idempotency_key body field on POST events: once per key, and once per channel of a multi-channel event', async (t) => {
  const h = await startHerald(t);
  const [a, b] = ['idem-body-a', 'idem-body-b'];
  const sa = await rawSubscriber(h, a);
  const sb = await rawSubscriber(h, b);

  for (let i = 0; i < 3; i++) {
    assertOk(await postEvent(nodeAt(h, i), { name: 'e', channel: a, data: { n: 1 }, idempotency_key: 'body-1' }),
      `send ${i + 1} of body-1`);
  }
  assertOk(await postEvent(nodeAt(h, 0), { name: 'e', channel: a, data: { n: 1 }, idempotency_key: 'body-2' }),
    'body-2');
  for (let i = 0; i < 3; i++) {
    assertOk(await postEvent(nodeAt(h, i + 2), { name: 'both', channels: [a, b], data: { n: 2 }, idempotency_key: 'multi' }),
      `send ${i + 1} of the two-channel event`);
  }
  await settle(h, [sa], a);
  await settle(h, [sb], b);

  assert.deepEqual(pairs(received(sa, a)), [['e', { n: 1 }], ['e', { n: 1 }], ['both', { n: 2 }]]);
  assert.deepEqual(pairs(received(sb, b)), [['both', { n: 2 }]]);
  assert.deepEqual(pairs(await stored(nodeAt(h, 1), a)), [['e', { n: 1 }], ['e', { n: 1 }], ['both', { n: 2 }]]);
  assert.deepEqual(pairs(await stored(nodeAt(h, 2), b)), [['both', { n: 2 }]]);
});

test('batch_events: per-event idempotency_key fields make a retried batch deliver each event once', async (t) => {
  const h = await startHerald(t);
  const [a, b] = ['batch-a', 'batch-b'];
  const sa = await rawSubscriber(h, a);
  const sb = await rawSubscriber(h, b);
  const batch = [
    { channel: a, name: 'e', data: { i: 0 }, idempotency_key: 'ev-0' },
    { channel: b, name: 'e', data: { i: 1 }, idempotency_key: 'ev-1' },
    { channel: a, name: 'e', data: { i: 2 }, idempotency_key: 'ev-2' },
  ];
  for (let i = 0; i < 3; i++) assertOk(await postBatch(nodeAt(h, i), batch), `batch send ${i + 1}`);
  // a batch repeating one key and adding a new one: only the new event is delivered
  assertOk(await postBatch(nodeAt(h, 1), [
    { channel: a, name: 'e', data: { i: 2 }, idempotency_key: 'ev-2' },
    { channel: a, name: 'e', data: { i: 3 }, idempotency_key: 'ev-3' },
  ]), 'overlapping batch');
  await settle(h, [sa], a);
  await settle(h, [sb], b);

  assert.deepEqual(pairs(received(sa, a)), [['e', { i: 0 }], ['e', { i: 2 }], ['e', { i: 3 }]]);
  assert.deepEqual(pairs(received(sb, b)), [['e', { i: 1 }]]);
  assert.deepEqual(pairs(await stored(nodeAt(h, 2), a)), [['e', { i: 0 }], ['e', { i: 2 }], ['e', { i: 3 }]]);
});

test('batch_events with only an Idempotency-Key header: each event once per index, the events stay distinct', async (t) => {
  const h = await startHerald(t);
  const ch = 'batch-header';
  const subs = [await rawSubscriber(h, ch), await rawSubscriber(h, ch)];
  // three identical events: only their index tells them apart
  const batch = Array.from({ length: 3 }, () => ({ channel: ch, name: 'same', data: { x: 1 } }));
  for (let i = 0; i < 3; i++) assertOk(await postBatch(nodeAt(h, i), batch, 'bk'), `batch send ${i + 1} with key bk`);
  // the header stands for bk:0, bk:1, bk:2
  assertOk(await postEvent(nodeAt(h, 1), { name: 'same', channel: ch, data: { x: 1 } }, 'bk:1'), 'event with key bk:1');
  // another header key is another set of events
  assertOk(await postBatch(nodeAt(h, 2), batch.slice(0, 2), 'bk2'), 'batch with key bk2');
  await settle(h, subs, ch);

  const five = Array.from({ length: 5 }, () => ['same', { x: 1 }]);
  for (const [k, s] of subs.entries()) {
    assert.deepEqual(pairs(received(s, ch)), five, `subscriber ${k}: 3 events of bk, 2 of bk2`);
  }
  assert.deepEqual(pairs(await stored(nodeAt(h, 0), ch)), five);
});

test('an empty or over-200-byte idempotency key is refused with 400 and a message; 200 bytes is fine', async (t) => {
  const h = await startHerald(t);
  const ch = 'bad-keys';
  const s = await rawSubscriber(h, ch);
  const node = nodeAt(h, 1);
  const long = 'k'.repeat(201);
  const ev = { name: 'e', channel: ch, data: { bad: true } };
  const refused = [
    ['empty Idempotency-Key header', () => postEvent(node, ev, '')],
    ['201-byte Idempotency-Key header', () => postEvent(node, ev, long)],
    ['empty idempotency_key field', () => postEvent(node, { ...ev, idempotency_key: '' })],
    ['201-byte idempotency_key field', () => postEvent(node, { ...ev, idempotency_key: long })],
    ['201-byte key of multi-byte characters', () => postEvent(node, { ...ev, idempotency_key: `${'é'.repeat(100)}x` })],
    ['empty idempotency_key in a batch event', () => postBatch(node, [{ ...ev, idempotency_key: 'fine' },
      { ...ev, idempotency_key: '' }])],
    ['201-byte idempotency_key in a batch event', () => postBatch(node, [{ ...ev, idempotency_key: long }])],
    ['empty Idempotency-Key header on a batch', () => postBatch(node, [ev], '')],
    ['201-byte Idempotency-Key header on a batch', () => postBatch(node, [ev], long)],
  ];
  const wrong = [];
  for (const [what, send] of refused) {
    const r = await send();
    if (r.status !== 400 || !r.text.trim()) wrong.push(`${what}: ${describe(r)} (expected 400 with a message)`);
  }
  // the limit itself is accepted, in the header and in the body
  const k200 = 'k'.repeat(200);
  assertOk(await postEvent(node, { ...ev, data: { ok: 1 } }, k200), '200-byte header key');
  assertOk(await postEvent(node, { ...ev, data: { ok: 1 } }, k200), '200-byte header key, again');
  assertOk(await postEvent(node, { ...ev, data: { ok: 2 }, idempotency_key: `${'é'.repeat(100)}` }), '200-byte body key');
  await settle(h, [s], ch);
  assert.deepEqual(wrong, [], 'every invalid key is refused');
  assert.deepEqual(pairs(received(s, ch)), [['e', { ok: 1 }], ['e', { ok: 2 }]], 'no refused event was delivered');
  assert.deepEqual(pairs(await stored(nodeAt(h, 2), ch)), [['e', { ok: 1 }], ['e', { ok: 2 }]],
    'no refused event was stored');
});

test('the official pusher SDK (no keys): trigger and triggerBatch deliver every event, identical ones too', async (t) => {
  const h = await startHerald(t);
  const [a, b] = ['sdk-a', 'sdk-b'];
  const client = h.pusherClient();
  const ca = client.subscribe(a);
  const cb = client.subscribe(b);
  await Promise.all([subscribed(ca), subscribed(cb)]);
  const gotA = collect(ca, 'e');
  const gotB = collect(cb, 'e');
  const sdk = h.serverSdk();
  for (const data of [{ n: 1 }, { n: 1 }, { n: 2 }]) {
    const res = await sdk.trigger(a, 'e', data);
    assert.equal(res.status, 200);
  }
  await sdk.trigger([a, b], 'e', { n: 3 });
  const res = await sdk.triggerBatch([
    { channel: a, name: 'e', data: { n: 4 } },
    { channel: a, name: 'e', data: { n: 4 } },
    { channel: b, name: 'e', data: { n: 5 } },
  ]);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  const expectA = [{ n: 1 }, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 4 }];
  const expectB = [{ n: 3 }, { n: 5 }];
  await eventually(() => gotA.length >= expectA.length && gotB.length >= expectB.length,
    { what: `SDK events (a: ${JSON.stringify(gotA)}, b: ${JSON.stringify(gotB)})` });
  await sleep(QUIET_MS);
  assert.deepEqual(gotA, expectA);
  assert.deepEqual(gotB, expectB);
  assert.deepEqual((await stored(nodeAt(h, 0), a)).map((m) => JSON.parse(m.data)), expectA, 'SDK events are stored');
  assert.deepEqual((await stored(nodeAt(h, 1), b)).map((m) => JSON.parse(m.data)), expectB);
});

// ------------------------------------------------------------- history API

/**
 * Publishes `count` events {i} on `channel` through the nodes in turn, each followed by an event on
 * `noise` (so that in a cluster the channel's serials are not consecutive). Returns the data sent.
 */
async function publishNumbered(h, channel, count, { noise = `${channel}-noise`, from = 1, gapMs = 0 } = {}) {
  const sent = [];
  for (let i = from; i < from + count; i++) {
    assertOk(await postEvent(nodeAt(h, i), { name: `n${i}`, channel, data: { i } }), `publish ${i} on ${channel}`);
    sent.push({ i });
    if (noise) assertOk(await postEvent(nodeAt(h, i + 1), { name: 'noise', channel: noise, data: { i } }), 'noise');
    if (gapMs) await sleep(gapMs);
  }
  return sent;
}

/** Checks the history messages `ms` (oldest first) of a fresh channel against what was published. */
function assertChain(ms, numbers, what) {
  assert.deepEqual(ms.map((m) => [m.event, JSON.parse(m.data)]), numbers.map((i) => [`n${i}`, { i }]), `${what}: events`);
  for (const [k, m] of ms.entries()) {
    assert.equal(typeof m.serial, 'number', `${what}: serial is a number`);
    assert.equal(typeof m.data, 'string', `${what}: data is a string`);
    assert.ok(Number.isInteger(m.published_at) && m.published_at > 1.5e12, `${what}: published_at is Unix ms`);
    if (k > 0) {
      assert.ok(m.serial > ms[k - 1].serial, `${what}: serials increase (${ms[k - 1].serial}, ${m.serial})`);
      assert.equal(m.prev, ms[k - 1].serial, `${what}: prev of message ${k} is the serial before it`);
      assert.ok(m.published_at >= ms[k - 1].published_at, `${what}: published_at does not go back`);
    }
  }
}

test('history: backwards (the default) and forwards pages, cursors, prev chain, epoch', async (t) => {
  const h = await startHerald(t);
  const ch = 'hist-7';
  const s = await rawSubscriber(h, ch);
  const before = Date.now();
  await publishNumbered(h, ch, 7);
  const after = Date.now();
  const frames = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((i) => s.event(`n${i}`, ch)));

  // backwards, 3 a page: 7 6 5 | 4 3 2 | 1
  const back = await readAll(nodeAt(h, 1), ch, { limit: 3 });
  assert.deepEqual(back.map((p) => p.messages.map((m) => JSON.parse(m.data).i)), [[7, 6, 5], [4, 3, 2], [1]],
    `backwards pages: ${JSON.stringify(back)}`);
  for (const p of back) {
    assert.equal(p.channel, ch);
    assert.equal(typeof p.epoch, 'string', 'epoch is a string');
    assert.equal(p.epoch, frames[0].epoch, 'history epoch = the epoch of delivered events');
  }
  assert.equal(back[0].next_cursor, back[0].messages[2].serial, 'backwards cursor: the last serial of the page');
  assert.ok(!('next_cursor' in back[2]), 'no next_cursor on the last page');
  const backAll = back.flatMap((p) => p.messages);
  const oldestFirst = [...backAll].reverse();
  assertChain(oldestFirst, [1, 2, 3, 4, 5, 6, 7], 'backwards');
  assert.equal(oldestFirst[0].prev, 0, 'the first message of a fresh channel has prev 0');
  assert.deepEqual(oldestFirst.map((m) => m.serial), frames.map((f) => f.serial), 'serials = those of delivered events');
  for (const m of oldestFirst) {
    assert.ok(m.published_at >= before - 5 && m.published_at <= after + 5,
      `published_at ${m.published_at} within the publishing time [${before}, ${after}]`);
  }

  // forwards, 3 a page: 1 2 3 | 4 5 6 | 7
  const fwd = await readAll(nodeAt(h, 2), ch, { direction: 'forwards', limit: 3 });
  assert.deepEqual(fwd.map((p) => p.messages.map((m) => JSON.parse(m.data).i)), [[1, 2, 3], [4, 5, 6], [7]],
    `forwards pages: ${JSON.stringify(fwd)}`);
  assert.ok(!('next_cursor' in fwd[2]), 'no next_cursor on the last page');
  assert.deepEqual(fwd.flatMap((p) => p.messages), oldestFirst, 'forwards reads the same messages');
  for (const p of fwd) assert.equal(p.epoch, frames[0].epoch);

  // defaults: backwards, up to 100
  const all = await history(nodeAt(h, 0), ch);
  assert.equal(all.status, 200, describe(all));
  assert.deepEqual(all.json.messages, backAll, 'default query = backwards, everything');
  assert.ok(!('next_cursor' in all.json), 'no next_cursor when everything fits');
  assert.deepEqual((await history(nodeAt(h, 0), ch, { direction: 'backwards', limit: 1000 })).json.messages, backAll);
  // a page that holds exactly the rest is the last one
  for (const direction of ['backwards', 'forwards']) {
    const r = await history(nodeAt(h, 1), ch, { direction, limit: 7 });
    assert.equal(r.json.messages.length, 7, `${direction} limit 7`);
    assert.ok(!('next_cursor' in r.json), `${direction} limit 7: no next_cursor (${describe(r)})`);
  }
  const one = await history(nodeAt(h, 2), ch, { limit: 1 });
  assert.deepEqual(one.json.messages, [backAll[0]], 'limit 1: the newest message');
  assert.equal(one.json.next_cursor, backAll[0].serial);
});

test('history: start and end (Unix ms, inclusive) select a time window, in both directions', async (t) => {
  const h = await startHerald(t);
  const ch = 'hist-window';
  await publishNumbered(h, ch, 3, { from: 1, noise: null });
  await sleep(40);
  const t1 = Date.now();
  await sleep(5);
  await publishNumbered(h, ch, 3, { from: 4, noise: null, gapMs: 5 });
  await sleep(5);
  const t2 = Date.now();
  await sleep(40);
  await publishNumbered(h, ch, 3, { from: 7, noise: null });

  const all = (await readAll(nodeAt(h, 1), ch, { direction: 'forwards' })).flatMap((p) => p.messages);
  assertChain(all, [1, 2, 3, 4, 5, 6, 7, 8, 9], 'all');
  const nums = (ms) => ms.map((m) => JSON.parse(m.data).i);
  const read = async (query) => (await readAll(nodeAt(h, 2), ch, query)).flatMap((p) => p.messages);

  assert.deepEqual(nums(await read({ start: t1, end: t2 })), [6, 5, 4], 'backwards window');
  assert.deepEqual(nums(await read({ start: t1, end: t2, direction: 'forwards' })), [4, 5, 6], 'forwards window');
  assert.deepEqual(nums(await read({ start: t1, end: t2, limit: 2 })), [6, 5, 4], 'backwards window, 2 a page');
  assert.deepEqual(nums(await read({ start: t1, end: t2, limit: 2, direction: 'forwards' })), [4, 5, 6],
    'forwards window, 2 a page');
  assert.deepEqual(nums(await read({ start: t1 })), [9, 8, 7, 6, 5, 4], 'start only');
  assert.deepEqual(nums(await read({ end: t2, direction: 'forwards' })), [1, 2, 3, 4, 5, 6], 'end only');

  // inclusive bounds: exactly the published_at of messages 4 and 6
  const [m4, m6] = [all[3], all[5]];
  const exact = await read({ start: m4.published_at, end: m6.published_at, direction: 'forwards' });
  assert.deepEqual(nums(exact), [4, 5, 6], `bounds are inclusive: [${m4.published_at}, ${m6.published_at}]`);
  const empty = await history(nodeAt(h, 0), ch, { start: t2 + 1, end: t2 + 2 });
  assert.deepEqual([empty.status, empty.json?.messages, 'next_cursor' in (empty.json ?? {})], [200, [], false],
    `an empty window: ${describe(empty)}`);
});

test('history: an app with historyMaxMessages 3 shows only the last 3, however it is paged', async (t) => {
  const h = await startHerald(t, { app: { historyMaxMessages: 3 } });
  const ch = 'hist-max3';
  await publishNumbered(h, ch, 7);
  const nums = (pages) => pages.flatMap((p) => p.messages).map((m) => JSON.parse(m.data).i);
  const cases = [
    [{}, [7, 6, 5]],
    [{ direction: 'forwards' }, [5, 6, 7]],
    [{ limit: 3 }, [7, 6, 5]],
    [{ limit: 2 }, [7, 6, 5]],
    [{ limit: 1 }, [7, 6, 5]],
    [{ direction: 'forwards', limit: 2 }, [5, 6, 7]],
    [{ direction: 'forwards', limit: 1 }, [5, 6, 7]],
  ];
  const wrong = [];
  for (const [k, [query, expected]] of cases.entries()) {
    const pages = await readAll(nodeAt(h, k), ch, query);
    const got = nums(pages);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      wrong.push(`${JSON.stringify(query)}: read ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    }
  }
  assert.deepEqual(wrong, [], 'every query reads exactly the last 3 messages');
});

test('history: bad parameters are 400, a bad signature 401, an empty channel has no messages', async (t) => {
  const h = await startHerald(t);
  const ch = 'hist-errors';
  await publishNumbered(h, ch, 2, { noise: null });
  const node = nodeAt(h, 1);
  for (const query of [
    { direction: 'sideways' }, { direction: '' }, { limit: 0 }, { limit: 1001 }, { limit: -1 }, { limit: 'ten' },
    { cursor: 'abc' }, { start: 'yesterday' }, { end: '1.5' },
  ]) {
    const r = await history(node, ch, query);
    assert.equal(r.status, 400, `${JSON.stringify(query)}: ${describe(r)}`);
    assert.ok(r.text.trim().length > 0, `${JSON.stringify(query)}: the 400 says what is wrong`);
  }
  for (const limit of [1, 1000]) assert.equal((await history(node, ch, { limit })).status, 200, `limit ${limit}`);

  const badSig = await signedFetch(node, 'GET', `/channels/${ch}/history`, { signature: 'f'.repeat(64) });
  assert.equal(badSig.status, 401, describe(badSig));
  const wrongSecret = await signedFetch(node, 'GET', `/channels/${ch}/history`, { secret: 'not-the-secret' });
  assert.equal(wrongSecret.status, 401, describe(wrongSecret));
  // the signature covers the query: change a parameter after signing
  const params = {
    auth_key: node.app.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0', limit: '1',
  };
  const p = `/apps/${node.app.id}/channels/${ch}/history`;
  const sorted = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
  const sig = hmac(node.app.secret, `GET\n${p}\n${sorted}`);
  const tampered = await fetch(`${node.url}${p}?${new URLSearchParams({ ...params, limit: '2', auth_signature: sig })}`);
  assert.equal(tampered.status, 401, `tampered query: ${tampered.status} ${await tampered.text()}`);

  for (const name of ['bad!name', 'bad*name', `x${'y'.repeat(200)}`]) {
    const r = await history(node, name);
    assert.equal(r.status, 400, `channel ${name}: ${describe(r)}`);
    assert.ok(r.text.trim().length > 0);
  }

  for (const direction of ['backwards', 'forwards']) {
    const r = await history(nodeAt(h, 2), 'never-used', { direction });
    assert.equal(r.status, 200, describe(r));
    assert.equal(r.json.channel, 'never-used');
    assert.equal(typeof r.json.epoch, 'string');
    assert.deepEqual(r.json.messages, [], `${direction}: no messages`);
    assert.ok(!('next_cursor' in r.json), `${direction}: no next_cursor`);
  }
});

// ------------------------------------------------------------- rewind on subscribe

/** Subscribes a new raw socket (on the next node) with `extra`; returns {s, ok, replay} after a quiet time. */
async function rewindSubscribe(h, channel, extra) {
  const s = await h.rawConnected();
  s.subscribe(channel, extra);
  const ok = await s.event('pusher_internal:subscription_succeeded', channel, 8000);
  await sleep(300);
  const replay = s.frames.slice(s.frames.indexOf(ok) + 1).filter((f) => f.channel === channel);
  return { s, ok, replay };
}

/** The replayed frames `replay` are exactly history messages `ms` (oldest first), with the epoch. */
function assertReplay({ ok, replay }, ms, epoch, what) {
  assert.equal(ok.recovered, true, `${what}: recovered true (${JSON.stringify(ok)})`);
  assert.equal(ok.recovery_reason, undefined, `${what}: no recovery_reason`);
  assert.equal(ok.epoch, epoch, `${what}: subscription_succeeded epoch`);
  assert.deepEqual(replay.map((f) => [f.event, f.rawData, f.epoch, f.serial]),
    ms.map((m) => [m.event, m.data, epoch, m.serial]), `${what}: the replay follows subscription_succeeded`);
  if (ms.length) {
    assert.ok(ok.serial < ms[0].serial && ok.serial >= ms[0].prev,
      `${what}: subscription serial ${ok.serial} is just before the first replayed one (${ms[0].prev}..${ms[0].serial})`);
  }
}

test('rewind on subscribe: a count gives the last messages, then the live stream, on every node', async (t) => {
  const h = await startHerald(t);
  const ch = 'rewind-count';
  await publishNumbered(h, ch, 5);
  const page = await history(nodeAt(h, 0), ch, { direction: 'forwards' });
  const ms = page.json.messages;
  assert.equal(ms.length, 5, describe(page));
  const { epoch } = page.json;

  const subs = [];
  for (let k = 0; k < nodesOf(h).length; k++) {
    const r = await rewindSubscribe(h, ch, { rewind: 2 });
    assertReplay(r, ms.slice(3), epoch, `rewind 2 on node ${k}`);
    subs.push(r);
  }
  const more = await rewindSubscribe(h, ch, { rewind: 10 });
  assertReplay(more, ms, epoch, 'rewind 10 (more than there is)');
  subs.push(more);
  // then live, without a duplicate
  assertOk(await postEvent(nodeAt(h, 1), { name: 'n6', channel: ch, data: { i: 6 } }), 'live event');
  await settle(h, subs.map((r) => r.s), ch);
  for (const [k, { s }] of subs.entries()) {
    const got = received(s, ch).filter((f) => f.event !== 'noise').map((f) => f.data.i);
    assert.deepEqual(got, k === subs.length - 1 ? [1, 2, 3, 4, 5, 6] : [4, 5, 6], `subscriber ${k}: replay, then live`);
  }
  // a plain subscribe has no recovered field and no replay
  const plain = await rewindSubscribe(h, ch, {});
  assert.equal(plain.ok.recovered, undefined);
  assert.deepEqual(plain.replay, []);
  // rewind of an empty channel: recovered, nothing replayed
  const empty = await rewindSubscribe(h, 'rewind-empty', { rewind: 5 });
  assert.equal(empty.ok.recovered, true, JSON.stringify(empty.ok));
  assert.deepEqual(empty.replay, []);
});

test('rewind on subscribe: "60s" gives every recent message, up to historyMaxMessages', async (t) => {
  const h = await startHerald(t);
  const ch = 'rewind-secs';
  await publishNumbered(h, ch, 5);
  const page = await history(nodeAt(h, 0), ch, { direction: 'forwards' });
  for (let k = 0; k < nodesOf(h).length; k++) {
    assertReplay(await rewindSubscribe(h, ch, { rewind: '60s' }), page.json.messages, page.json.epoch,
      `rewind 60s on node ${k}`);
  }

  const h3 = await startHerald(t, { app: { historyMaxMessages: 3 } });
  await publishNumbered(h3, ch, 5);
  const page3 = await history(nodeAt(h3, 0), ch);
  const last3 = [...page3.json.messages].reverse();
  assert.deepEqual(last3.map((m) => JSON.parse(m.data).i), [3, 4, 5], describe(page3));
  for (let k = 0; k < nodesOf(h3).length; k++) {
    assertReplay(await rewindSubscribe(h3, ch, { rewind: '60s' }), last3, page3.json.epoch,
      `historyMaxMessages 3, rewind 60s on node ${k}`);
    assertReplay(await rewindSubscribe(h3, ch, { rewind: 10 }), last3, page3.json.epoch,
      `historyMaxMessages 3, rewind 10 on node ${k}`);
  }
});

// ------------------------------------------------------------- durable publishing

test('durable publish: a publish answered 200 is in the history at once, read through another node', async (t) => {
  const h = await startHerald(t);
  const ch = 'durable';
  const n = nodesOf(h).length;
  let expected = 0;
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < n; i++) {
      expected++;
      const key = round % 2 ? `d-${expected}` : undefined;
      const r = round === 3
        ? await postBatch(nodeAt(h, i), [{ channel: ch, name: 'd', data: { k: expected } }], key)
        : await postEvent(nodeAt(h, i), { name: 'd', channel: ch, data: { k: expected } }, key);
      assertOk(r, `publish ${expected} through node ${i}`);
      const reader = nodeAt(h, i + 1);
      const newest = await history(reader, ch, { limit: 1 });
      assert.equal(newest.status, 200, describe(newest));
      assert.deepEqual(newest.json.messages.map((m) => JSON.parse(m.data)), [{ k: expected }],
        `publish ${expected} (node ${i}) is the newest message read through node ${(i + 1) % n}`);
      const fwd = await history(nodeAt(h, i + 2), ch, { direction: 'forwards', limit: 1000 });
      assert.equal(fwd.json.messages.length, expected, `forwards through node ${(i + 2) % n}: ${describe(fwd)}`);
    }
  }
});
