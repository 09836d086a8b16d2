// pusher_internal:subscription_count: per-app opt-in, sent on subscribe and
// unsubscribe on every channel type, throttled above 100 subscribers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, subscribed, waitFor, CLUSTER_TOPOLOGY } from './helpers/herald.mjs';

const countIs = (n) => (d) => d.subscription_count === n;

test('enabled: subscribers get the count on every subscribe and unsubscribe (pusher-js)', async (t) => {
  const h = await startHerald(t, { app: { subscriptionCount: true } });
  const a = h.pusherClient();
  const ca = a.subscribe('room');
  await waitFor(ca, 'pusher:subscription_count', 5000, { filter: countIs(1), what: 'count 1' });

  const b = h.pusherClient();
  const two = waitFor(ca, 'pusher:subscription_count', 5000, { filter: countIs(2), what: 'count 2 on a' });
  const cb = b.subscribe('room');
  await waitFor(cb, 'pusher:subscription_count', 5000, { filter: countIs(2), what: 'count 2 on b' });
  await two;
  assert.equal(ca.subscriptionCount, 2);

  const one = waitFor(ca, 'pusher:subscription_count', 5000, { filter: countIs(1), what: 'count back to 1' });
  b.unsubscribe('room');
  await one;

  // a disconnect counts as leaving too
  const c = h.pusherClient();
  c.subscribe('room');
  await waitFor(ca, 'pusher:subscription_count', 5000, { filter: countIs(2) });
  const back = waitFor(ca, 'pusher:subscription_count', 5000, { filter: countIs(1), what: 'count 1 after disconnect' });
  c.disconnect();
  await back;
});

test('the frame is pusher_internal:subscription_count with data.subscription_count', async (t) => {
  const h = await startHerald(t, { app: { subscriptionCount: true } });
  const s = await h.rawConnected();
  await s.subscribed('wire');
  const f = await s.event('pusher_internal:subscription_count', 'wire');
  assert.equal(f.data.subscription_count, 1);
});

for (const channel of ['private-counted', 'presence-counted']) {
  test(`sent on ${channel.split('-')[0]} channels too`, async (t) => {
    const h = await startHerald(t, { app: { subscriptionCount: true } });
    const a = h.pusherClient({ presence: { user_id: 'a' } });
    const ca = a.subscribe(channel);
    await subscribed(ca);
    const two = waitFor(ca, 'pusher:subscription_count', 5000, { filter: countIs(2), what: `count 2 on ${channel}` });
    h.pusherClient({ presence: { user_id: 'b' } }).subscribe(channel);
    await two;
  });
}

test('disabled by default: no subscription_count frames', async (t) => {
  const h = await startHerald(t);
  const a = await h.rawConnected();
  await a.subscribed('quiet');
  const b = await h.rawConnected();
  await b.subscribed('quiet');
  b.send({ event: 'pusher:unsubscribe', data: { channel: 'quiet' } });
  b.send({ event: 'pusher:ping', data: {} });
  await b.event('pusher:pong');
  await h.serverSdk().trigger('quiet', 'marker', {});
  await a.event('marker', 'quiet');
  assert.equal(a.all((f) => f.event === 'pusher_internal:subscription_count').length, 0);
});

test('can be switched on for a live app', async (t) => {
  const h = await startHerald(t);
  await h.update({ subscriptionCount: true });
  // poll: new subscriptions start carrying counts within a few seconds
  const deadline = Date.now() + 8000;
  for (let i = 0; ; i++) {
    const s = await h.rawConnected();
    await s.subscribed(`live-${i}`);
    await h.serverSdk().trigger(`live-${i}`, 'marker', {});
    await s.event('marker', `live-${i}`);
    if (s.all((f) => f.event === 'pusher_internal:subscription_count').length > 0) break;
    s.close();
    if (Date.now() > deadline) assert.fail('subscription_count never appeared after enabling it');
    await new Promise((r) => setTimeout(r, 200));
  }
});

test('above 100 subscribers the count is throttled (not sent on every change)', async (t) => {
  const h = await startHerald(t, { app: { subscriptionCount: true } });
  const observer = await h.rawConnected();
  await observer.subscribed('crowd');
  const others = [];
  for (let i = 0; i < 105; i++) others.push(h.rawConnected());
  const sockets = await Promise.all(others);
  await Promise.all(sockets.map((s) => s.subscribed('crowd')));

  const res = await h.serverSdk().get({ path: '/channels/crowd', params: { info: 'subscription_count' } });
  assert.equal((await res.json()).subscription_count, 106);

  await h.serverSdk().trigger('crowd', 'marker', {});
  await observer.event('marker', 'crowd');
  const counts = observer.all((f) => f.event === 'pusher_internal:subscription_count')
    .map((f) => f.data.subscription_count);
  const upTo100 = counts.filter((n) => n <= 100);
  // In a cluster, joins on two other nodes reported at the same moment move the count by 2 at once.
  const firstChange = (n) => n >= 2 && n <= (CLUSTER_TOPOLOGY ? 3 : 2);
  assert.ok(upTo100.length >= 90 && counts.some(firstChange),
    `each change up to 100 subscribers is sent, got ${counts.join(',')}`);
  const above = counts.filter((n) => n > 100);
  assert.ok(above.length <= 1, `at most one update above 100 within 30 s, got ${above.join(',')}`);
});
