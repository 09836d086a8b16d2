// Webhooks, as Pusher sends them, checked by a local receiver with the official
// `pusher` SDK's webhook helper (isValid: X-Pusher-Key + X-Pusher-Signature over
// the raw body, content type application/json; getEvents): channel_occupied on the
// first subscriber, channel_vacated ~3 s after the last one left (and neither when
// the channel fills again within that time), member_added/member_removed,
// client_event, batching, retries with backoff, the dead-letter list, every attempt
// in the admin API, and a queued webhook surviving a killed node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import PusherServer from 'pusher';
import {
  startHerald, eventually, sleep, freePort, clusterSkip,
} from './helpers/herald.mjs';

// Retries 200 ms, 400 ms, … apart instead of 1 s, 2 s, …
const FAST_RETRIES = { HERALD_WEBHOOK_RETRY_BASE_MS: '200' };

/**
 * A webhook receiver on a free port. Answers 500 to the first `fail` requests
 * (set `rx.fail` to change it), 200 after. Each request is kept as
 * {at, headers, rawBody, status}; `verify(app)` checks them with the SDK.
 */
async function startReceiver(t, { fail = 0 } = {}) {
  const rx = {
    fail,
    requests: [],
    app: null,
    /** The SDK's view of request r (valid only once rx.app is set). */
    webhook(r) {
      const sdk = new PusherServer({ appId: rx.app.id, key: rx.app.key, secret: rx.app.secret });
      return sdk.webhook({ headers: r.headers, rawBody: r.rawBody });
    },
    /** Events of the requests answered 2xx (a retried body counts once), each with receivedAt. */
    events() {
      return rx.requests
        .filter((r) => r.status < 300)
        .flatMap((r) => rx.webhook(r).getEvents().map((e) => ({ ...e, receivedAt: r.at })));
    },
    /** The first delivered event matching pred. */
    event(pred, timeout = 8000, what = 'a webhook event') {
      return eventually(() => rx.events().find(pred), { timeout, interval: 25, what });
    },
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const status = rx.requests.length < rx.fail ? 500 : 200;
      rx.requests.push({
        at: Date.now(), method: req.method, path: req.url, headers: req.headers, rawBody: Buffer.concat(chunks).toString('utf8'), status,
      });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'not now');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  rx.url = `http://127.0.0.1:${server.address().port}/pusher/webhooks`;
  t.after(() => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  }));
  return rx;
}

/** Herald with one app whose webhooks go to `rx` (and `rx` set to verify with its credentials). */
async function heraldWithWebhooks(t, rx, endpoint, { app = {}, env = FAST_RETRIES } = {}) {
  const h = await startHerald(t, { app: { ...app, webhooks: [{ url: rx.url, ...endpoint }] }, env });
  rx.app = h.app;
  return h;
}

/** Every request so far is a POST the SDK accepts as signed by the app's key. */
function assertAllValid(rx, h) {
  assert.ok(rx.requests.length > 0, 'no webhook request arrived');
  for (const r of rx.requests) {
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/pusher/webhooks');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-pusher-key'], h.app.key);
    assert.equal(rx.webhook(r).isValid(), true, `signature of ${r.rawBody}`);
  }
}

const names = (events) => events.map((e) => `${e.name}:${e.channel}${e.user_id ? `:${e.user_id}` : ''}`);

test('webhook endpoints are app settings, checked by the admin API', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const patch = (webhooks) => owner.api('PATCH', `/apps/${h.app.id}`, { settings: { webhooks } });

  let r = await patch([{ url: 'ftp://hooks.example/in', events: ['channel_occupied'] }]);
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'bad_request');
  assert.match(r.body.error.message, /http:\/\/ or https:\/\//);
  r = await patch([{ url: 'https://hooks.example/in', events: ['channel_occupid'] }]);
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.body.error.message, /channel_occupid/);
  r = await patch([{ url: 'https://hooks.example/in', events: [] }]);
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.body.error.message, /at least one event/);

  const endpoints = [
    { url: 'https://hooks.example/in', events: ['channel_occupied', 'channel_vacated'] },
    { url: 'https://other.example/presence', events: ['member_added'], channel_prefix: 'presence-' },
  ];
  r = await patch(endpoints);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.settings.webhooks, endpoints);

  r = await owner.api('GET', `/apps/${h.app.id}/webhooks/deliveries`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, []);
  r = await owner.api('GET', `/apps/${h.app.id}/webhooks/deliveries?status=lost`);
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.error.field, 'status');
  r = await owner.api('GET', '/apps/no-such-app/webhooks/deliveries');
  assert.equal(r.status, 404, JSON.stringify(r.body));
});

test('channel_occupied on the first subscriber and channel_vacated ~3 s after the last left, signed as Pusher signs', async (t) => {
  const rx = await startReceiver(t);
  const h = await heraldWithWebhooks(t, rx, { events: ['channel_occupied', 'channel_vacated'] });
  const a = await h.rawConnected();
  const b = await h.rawConnected();
  await a.subscribed('room-1');
  const occupied = await rx.event((e) => e.name === 'channel_occupied' && e.channel === 'room-1');
  assert.deepEqual(Object.keys(occupied).sort(), ['channel', 'name', 'receivedAt']);
  await b.subscribed('room-1');

  a.send({ event: 'pusher:unsubscribe', data: { channel: 'room-1' } });
  await sleep(300);
  const leftAt = Date.now();
  b.close();
  const vacated = await rx.event((e) => e.name === 'channel_vacated' && e.channel === 'room-1', 10000);
  const delay = vacated.receivedAt - leftAt;
  assert.ok(delay >= 2500 && delay < 7000, `channel_vacated came ${delay} ms after the last subscriber left`);
  assert.deepEqual(names(rx.events()), ['channel_occupied:room-1', 'channel_vacated:room-1'], 'one of each');

  assertAllValid(rx, h);
  const first = rx.webhook(rx.requests[0]);
  assert.ok(Math.abs(first.getTime().getTime() - rx.requests[0].at) < 5000, 'time_ms is when it was sent');
  // A signature made with another secret is refused by the same helper: the check is real.
  const forged = { ...rx.requests[0], headers: { ...rx.requests[0].headers, 'x-pusher-signature': '0'.repeat(64) } };
  assert.equal(rx.webhook(forged).isValid(), false);
});

test('a channel that fills again within 3 s sends neither channel_vacated nor a second channel_occupied', async (t) => {
  const rx = await startReceiver(t);
  const h = await heraldWithWebhooks(t, rx, { events: ['channel_occupied', 'channel_vacated'] });
  const s = await h.rawConnected();
  await s.subscribed('room-2');
  await rx.event((e) => e.name === 'channel_occupied');
  s.send({ event: 'pusher:unsubscribe', data: { channel: 'room-2' } });
  await sleep(1000);
  await s.subscribed('room-2');
  await sleep(4500);
  assert.deepEqual(names(rx.events()), ['channel_occupied:room-2'], 'the quick leave and return is not news');

  // Empty for good this time: channel_vacated does come.
  s.send({ event: 'pusher:unsubscribe', data: { channel: 'room-2' } });
  await rx.event((e) => e.name === 'channel_vacated', 10000);
  assert.deepEqual(names(rx.events()), ['channel_occupied:room-2', 'channel_vacated:room-2']);
  assertAllValid(rx, h);
});

test('member_added and member_removed on a presence channel, only for the channels of the prefix', async (t) => {
  const rx = await startReceiver(t);
  const h = await heraldWithWebhooks(t, rx, { events: ['member_added', 'member_removed'], channel_prefix: 'presence-' });
  const join = async (userId) => {
    const s = await h.rawConnected();
    await s.subscribed('presence-room', h.auth(s.socketId, 'presence-room', { user_id: userId }));
    return s;
  };
  const alice = await join('alice');
  const bob = await join('bob');
  await rx.event((e) => e.name === 'member_added' && e.user_id === 'bob');
  const leftAt = Date.now();
  bob.close();
  const removed = await rx.event((e) => e.name === 'member_removed', 10000);
  assert.equal(removed.user_id, 'bob');
  assert.ok(removed.receivedAt - leftAt >= 2500, `member_removed after ${removed.receivedAt - leftAt} ms`);
  // A member who drops and comes back within 3 s is neither removed nor added again.
  alice.close();
  await sleep(800);
  await join('alice');
  await sleep(4000);
  assert.deepEqual(names(rx.events()), [
    'member_added:presence-room:alice', 'member_added:presence-room:bob', 'member_removed:presence-room:bob',
  ]);
  for (const e of rx.events()) assert.deepEqual(Object.keys(e).sort(), ['channel', 'name', 'receivedAt', 'user_id']);
  assertAllValid(rx, h);

  // "Did my endpoint get member_removed for bob?", from the admin API alone.
  const owner = await h.owner();
  const deliveries = async (query) => {
    const r = await owner.api('GET', `/apps/${h.app.id}/webhooks/deliveries?${new URLSearchParams(query)}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const [bobRemoved, ...more] = await deliveries({ event: 'member_removed', user_id: 'bob', status: 'delivered' });
  assert.equal(more.length, 0, 'one delivery carried it');
  assert.deepEqual(JSON.parse(bobRemoved.body).events, [{ name: 'member_removed', channel: 'presence-room', user_id: 'bob' }]);
  assert.equal(bobRemoved.url, rx.url);
  assert.equal(bobRemoved.attempts.at(-1).status_code, 200);
  assert.deepEqual(await deliveries({ event: 'member_removed', user_id: 'alice' }), [], 'alice came back in time');
  assert.deepEqual(await deliveries({ user_id: 'bob', channel: 'presence-other' }), []);
  const bobs = await deliveries({ user_id: 'bob' });
  assert.ok(bobs.length >= 2 && bobs.every((d) => d.body.includes('"bob"')), 'added and removed');
  // paging: one at a time, older each time, until none is left
  const paged = [];
  for (let before; ;) {
    const page = await deliveries(before ? { limit: 1, before } : { limit: 1 });
    if (!page.length) break;
    paged.push(page[0].id);
    before = page[0].id;
  }
  assert.deepEqual(paged, (await deliveries({})).map((d) => d.id));
  const bad = await owner.api('GET', `/apps/${h.app.id}/webhooks/deliveries?event=member_gone`);
  assert.equal(bad.status, 400);
  assert.match(JSON.stringify(bad.body), /member_removed/);
});

test('cache_miss and subscription_count, only for the channels of the endpoint\'s prefix', async (t) => {
  const rx = await startReceiver(t);
  const h = await heraldWithWebhooks(t, rx, { events: ['cache_miss', 'subscription_count'], channel_prefix: 'cache-news' },
    { app: { subscriptionCount: true } });
  const s = await h.rawConnected();
  for (const channel of ['cache-news', 'cache-sports', 'plain']) await s.subscribed(channel);
  const miss = await rx.event((e) => e.name === 'cache_miss');
  assert.deepEqual({ ...miss, receivedAt: undefined }, { name: 'cache_miss', channel: 'cache-news', receivedAt: undefined });
  await rx.event((e) => e.name === 'subscription_count' && e.subscription_count === 1);
  const s2 = await h.rawConnected();
  await s2.subscribed('cache-news');
  await s2.subscribed('cache-sports');
  const two = await rx.event((e) => e.name === 'subscription_count' && e.subscription_count === 2);
  assert.equal(two.channel, 'cache-news');
  await sleep(1000); // anything about the other channels would have come by now
  const elsewhere = rx.events().filter((e) => e.channel !== 'cache-news');
  assert.deepEqual(elsewhere, [], 'nothing for channels outside the prefix');
  assertAllValid(rx, h);
});

test('client_event carries the event, its data as a string and the socket id; user_id on presence channels only', async (t) => {
  const rx = await startReceiver(t);
  const h = await heraldWithWebhooks(t, rx, { events: ['client_event'] }, { app: { clientEvents: true } });
  const member = async (channel, userId) => {
    const s = await h.rawConnected();
    const auth = channel.startsWith('presence-') ? h.auth(s.socketId, channel, { user_id: userId }) : h.auth(s.socketId, channel);
    await s.subscribed(channel, auth);
    return s;
  };
  const a = await member('private-chat');
  const b = await member('private-chat');
  a.send({ event: 'client-note', channel: 'private-chat', data: { n: 1 } });
  await b.event('client-note', 'private-chat');
  const privateEvent = await rx.event((e) => e.name === 'client_event' && e.channel === 'private-chat');
  assert.equal(privateEvent.event, 'client-note');
  assert.equal(typeof privateEvent.data, 'string');
  assert.deepEqual(JSON.parse(privateEvent.data), { n: 1 });
  assert.equal(privateEvent.socket_id, a.socketId);
  assert.equal('user_id' in privateEvent, false, 'no user_id on a private channel');

  const alice = await member('presence-chat', 'alice');
  const bob = await member('presence-chat', 'bob');
  alice.send({ event: 'client-wave', channel: 'presence-chat', data: 'hi' });
  await bob.event('client-wave', 'presence-chat');
  const presenceEvent = await rx.event((e) => e.name === 'client_event' && e.channel === 'presence-chat');
  assert.equal(presenceEvent.event, 'client-wave');
  assert.equal(presenceEvent.socket_id, alice.socketId);
  assert.equal(presenceEvent.user_id, 'alice');
  assertAllValid(rx, h);
});

test('events observed close together go out in one request', async (t) => {
  const rx = await startReceiver(t);
  const h = await heraldWithWebhooks(t, rx, { events: ['channel_occupied'] });
  const s = await h.rawConnected();
  for (const c of ['batch-a', 'batch-b', 'batch-c']) s.subscribe(c);
  await eventually(() => names(rx.events()).length === 3, { what: 'three channel_occupied events' });
  await sleep(300);
  assert.equal(rx.requests.length, 1, `requests: ${rx.requests.map((r) => r.rawBody).join(' | ')}`);
  assert.deepEqual(names(rx.events()).sort(), ['channel_occupied:batch-a', 'channel_occupied:batch-b', 'channel_occupied:batch-c']);
  assertAllValid(rx, h);
});

test('a failing endpoint gets the same signed body again with growing delays, and every attempt is listed', async (t) => {
  const rx = await startReceiver(t, { fail: 2 });
  const h = await heraldWithWebhooks(t, rx, { events: ['channel_occupied'] });
  const s = await h.rawConnected();
  await s.subscribed('retried');
  await eventually(() => rx.requests.length >= 3, { timeout: 20000, what: 'two failed attempts and a third that succeeds' });
  assert.deepEqual(rx.requests.map((r) => r.status), [500, 500, 200]);
  const [first, second, third] = rx.requests;
  assert.equal(second.rawBody, first.rawBody, 'a retry sends the same body');
  assert.equal(third.rawBody, first.rawBody);
  assert.equal(third.headers['x-pusher-signature'], first.headers['x-pusher-signature']);
  const gaps = [second.at - first.at, third.at - second.at];
  assert.ok(gaps[0] >= 150, `first retry after ${gaps[0]} ms`);
  assert.ok(gaps[1] > gaps[0], `backoff grows: ${gaps}`);
  assert.deepEqual(names(rx.events()), ['channel_occupied:retried']);
  assertAllValid(rx, h);
  await sleep(500);
  assert.equal(rx.requests.length, 3, 'nothing more once delivered');

  const owner = await h.owner();
  const delivery = await eventually(async () => {
    const r = await owner.api('GET', `/apps/${h.app.id}/webhooks/deliveries?status=delivered`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.find((d) => d.attempts.length === 3);
  }, { what: 'the delivery with its three attempts' });
  assert.equal(delivery.url, rx.url);
  assert.equal(delivery.status, 'delivered');
  assert.equal(delivery.body, first.rawBody);
  assert.equal(delivery.last_error, null);
  assert.deepEqual(delivery.attempts.map((a) => [a.status_code, a.error]), [[500, 'HTTP 500'], [500, 'HTTP 500'], [200, null]]);
  for (const a of delivery.attempts) {
    assert.equal(typeof a.latency_ms, 'number');
    assert.ok(a.latency_ms >= 0 && a.latency_ms < 5000, `latency ${a.latency_ms}`);
  }
  const ats = delivery.attempts.map((a) => a.at);
  assert.ok(ats[0] < ats[1] && ats[1] < ats[2], `attempt times ${ats}`);
  const pending = await owner.api('GET', `/apps/${h.app.id}/webhooks/deliveries?status=pending`);
  assert.deepEqual(pending.body, []);

  // and the lifecycle log has each attempt: two webhook_failed, then webhook_delivered
  const attempts = await eventually(async () => {
    const r = await owner.api('GET', `/apps/${h.app.id}/events?kind=webhook_failed,webhook_delivered&limit=100`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const mine = r.body.events.filter((e) => e.detail?.delivery === delivery.id);
    return mine.length === 3 && mine;
  }, { what: 'three webhook attempts in the lifecycle log' });
  const oldestFirst = attempts.sort((a, b) => a.detail.attempt - b.detail.attempt);
  assert.deepEqual(oldestFirst.map((e) => [e.kind, e.code, e.detail.attempt, e.detail.url]), [
    ['webhook_failed', 500, 1, rx.url], ['webhook_failed', 500, 2, rx.url], ['webhook_delivered', 200, 3, rx.url],
  ]);
  assert.equal(oldestFirst[0].reason, 'HTTP 500');
});

test('an endpoint that never answers ends on the dead-letter list after its last attempt', async (t) => {
    // Nothing listens on this port: every attempt is refused.
    const closedPort = await freePort();
    const h = await startHerald(t, {
      app: { webhooks: [{ url: `http://127.0.0.1:${closedPort}/gone`, events: ['channel_occupied'] }] },
      env: { HERALD_WEBHOOK_RETRY_BASE_MS: '1' }, // 1, 2, 4, … 256 ms
    });
    const s = await h.rawConnected();
    await s.subscribed('doomed');
    const owner = await h.owner();
    const dead = await eventually(async () => {
      const r = await owner.api('GET', `/apps/${h.app.id}/webhooks/deliveries?status=dead`);
      return r.body[0];
    }, { timeout: 30000, what: 'the delivery on the dead-letter list (needs webhook_retry_base_ms wired)' });
    assert.equal(dead.attempts.length, 10, 'ten attempts in all');
    for (const a of dead.attempts) {
      assert.equal(a.status_code, null);
      assert.ok(a.error && a.error.length > 0, 'each failed attempt says why');
    }
    assert.equal(dead.last_error, dead.attempts[9].error);
    assert.deepEqual(JSON.parse(dead.body).events, [{ name: 'channel_occupied', channel: 'doomed' }]);
  });

test('a queued webhook survives a killed node and is delivered after the restart',
  { skip: clusterSkip('restarts one process on its own data directory') }, async (t) => {
    const rx = await startReceiver(t, { fail: Infinity });
    const h = await heraldWithWebhooks(t, rx, { events: ['channel_occupied'] });
    const s = await h.rawConnected();
    await s.subscribed('durable');
    await eventually(() => rx.requests.length >= 1, { what: 'the first (failed) attempt' });
    await sleep(150); // the attempt is recorded, the delivery waits for its retry
    await h.signal('SIGKILL');
    const seenBeforeRestart = rx.requests.length;
    rx.fail = 0;

    const port = await freePort();
    const proc = spawn(h.bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', h.dataDir], {
      env: { ...process.env, HERALD_LOG: 'warn', HERALD_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8', ...FAST_RETRIES },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => proc.on('exit', resolve));
    t.after(async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    });
    const delivered = await eventually(() => rx.requests.slice(seenBeforeRestart).find((r) => r.status === 200), {
      timeout: 45000, what: 'the delivery from the restarted node',
    });
    assert.equal(delivered.rawBody, rx.requests[0].rawBody, 'the same queued body');
    assert.deepEqual(names(rx.events()), ['channel_occupied:durable']);
    assertAllValid(rx, h);
  });
