// The pusher-js resume plugin (clients/pusher-js-resume) with real pusher-js and the real herald:
// a network cut through a TCP proxy, pusher-js reconnects by itself, and the plugin resumes each
// channel where it stopped. Plus the plugin's logic against a fake pusher object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  startHerald, startHeraldNode, subscribed, waitFor, eventually, sleep, clusterSkip,
} from './helpers/herald.mjs';
import { startTcpProxy } from './helpers/tcp-proxy.mjs';
import { enableResume } from '../../clients/pusher-js-resume/index.mjs';

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => from + k);
const RECONNECT_WAIT = 15000; // pusher-js retries 1 s after a close; the rest is slack

/** Proxy targets: herald, or in the cluster topology nodes A, C, B, so the client starts on A and
 * reconnects to C while the publishes go through B (the node after the first client's). */
function proxyTargets(h) {
  return h.nodes ? [h.nodes[0], h.nodes[2], h.nodes[1]].map((n) => n.port) : [h.port];
}

/** Records what a pusher-js client sends (after the plugin) and every raw frame it receives. */
function wireLog(client) {
  const sent = [];
  const received = [];
  const cm = client.connection;
  const send = cm.send_event.bind(cm);
  cm.send_event = (event, data, channel) => {
    sent.push({ event, data, channel });
    return send(event, data, channel);
  };
  let transport = null;
  const onMessage = (m) => {
    try { received.push(JSON.parse(m.data)); } catch { /* not JSON */ }
  };
  cm.bind('connected', () => {
    transport?.unbind('message', onMessage);
    transport = cm.connection?.transport ?? null;
    transport?.bind('message', onMessage);
  });
  return {
    sent,
    received,
    subscribes: (channel) => sent.filter((f) => f.event === 'pusher:subscribe' && f.data.channel === channel),
    succeeded: (channel) => received.filter((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === channel),
    events: (channel, event = 'n') => received.filter((f) => f.channel === channel && f.event === event),
  };
}

/** A pusher-js client through the proxy, with the plugin (unless plugin: false) and a wire log. */
function client(h, proxy, { plugin = true, ...options } = {}) {
  const c = h.pusherClient({ wsPort: proxy.port });
  const wire = wireLog(c);
  const recoveries = [];
  const resume = plugin
    ? enableResume(c, { onRecovery: (name, r) => recoveries.push([name, r]), ...options })
    : null;
  return { c, wire, resume, recoveries };
}

/** Subscribes `c` to a numbered feed: `got` holds the numbers in arrival order. */
async function feed(c, channel = 'feed') {
  const ch = c.subscribe(channel);
  const got = [];
  ch.bind('n', (d) => got.push(d.i));
  await subscribed(ch, 8000);
  return { ch, got };
}

/** Publishes numbers from..to on `channel`, one request after the other. */
async function publish(sdk, from, to, channel = 'feed') {
  for (let i = from; i <= to; i++) await sdk.trigger(channel, 'n', { i });
}

/** Waits until `got` equals `expected`, then a little longer to catch late duplicates. */
async function receivedExactly(got, expected, what) {
  await eventually(() => got.length >= expected.length, {
    timeout: 8000, what: `${what}: ${JSON.stringify(expected)} (got ${JSON.stringify(got)})`,
  });
  await sleep(300);
  assert.deepEqual(got, expected, what);
}

const recoveryOn = (ch) => waitFor(ch, 'herald:recovery', RECONNECT_WAIT, { what: `herald:recovery on ${ch.name}` });

test('resume after a dropped network: every missed event once, in order, then the live ones', async (t) => {
  const h = await startHerald(t);
  const proxy = await startTcpProxy(t, proxyTargets(h));
  const { c, wire, resume, recoveries } = client(h, proxy);
  const { ch, got } = await feed(c);
  const sdk = h.serverSdk();
  await publish(sdk, 1, 3);
  await receivedExactly(got, [1, 2, 3], 'live events before the cut');
  const last = wire.events('feed').at(-1);
  assert.equal(typeof last.epoch, 'string', 'stored events carry an epoch string');
  assert.equal(typeof last.serial, 'number', 'stored events carry a serial');
  assert.deepEqual(resume.position('feed'), { epoch: last.epoch, serial: last.serial });

  const recovery = recoveryOn(ch);
  const resubscribed = waitFor(ch, 'pusher:subscription_succeeded', RECONNECT_WAIT);
  proxy.cutAll({ hold: true });
  await publish(sdk, 4, 8); // while the client is away
  await sleep(200);
  assert.deepEqual(got, [1, 2, 3], 'nothing arrives while the network is cut');
  proxy.restore();

  assert.deepEqual(await recovery, { recovered: true, reason: null });
  await resubscribed;
  assert.deepEqual(recoveries, [['feed', { recovered: true, reason: null }]], 'onRecovery');
  await publish(sdk, 9, 10);
  await receivedExactly(got, range(1, 10), 'missed events once and in order, then live ones');

  // on the wire: the resubscribe carried the position, the missed events came right after the answer
  const subs = wire.subscribes('feed');
  assert.equal(subs.length, 2);
  assert.equal(subs[0].data.resume, undefined, 'a first subscribe does not resume');
  assert.deepEqual(subs[1].data.resume, { epoch: last.epoch, serial: last.serial });
  const ok = wire.succeeded('feed');
  assert.equal(ok[0].recovered, undefined, 'no recovered field without a resume');
  assert.equal(ok[1].recovered, true);
  assert.equal(ok[1].recovery_reason, undefined);
  assert.equal(ok[1].serial, last.serial, 'the resumed stream starts after the client\'s serial');
  const after = wire.received.slice(wire.received.indexOf(ok[1]) + 1).filter((f) => f.channel === 'feed');
  assert.deepEqual(after.slice(0, 5).map((f) => [f.event, JSON.parse(f.data).i]), range(4, 8).map((i) => ['n', i]),
    'the replay follows subscription_succeeded immediately');
  const serials = wire.events('feed').map((f) => f.serial);
  for (let k = 1; k < serials.length; k++) assert.ok(serials[k] > serials[k - 1], `serials increase: ${serials}`);
  assert.deepEqual(resume.position('feed'), { epoch: last.epoch, serial: serials.at(-1) });
});

test('resume past the retained history: recovered false, reason expired, no partial replay', async (t) => {
  const h = await startHerald(t, { app: { historyMaxMessages: 3 } });
  const proxy = await startTcpProxy(t, proxyTargets(h));
  const { c, wire, resume, recoveries } = client(h, proxy);
  const { ch, got } = await feed(c);
  const sdk = h.serverSdk();
  await publish(sdk, 1, 2);
  await receivedExactly(got, [1, 2], 'live events before the cut');
  const before = resume.position('feed');

  const recovery = recoveryOn(ch);
  proxy.cutAll({ hold: true });
  await publish(sdk, 3, 10); // 8 events, the app keeps 3
  proxy.restore();

  assert.deepEqual(await recovery, { recovered: false, reason: 'expired' });
  assert.deepEqual(recoveries, [['feed', { recovered: false, reason: 'expired' }]]);
  await publish(sdk, 11, 11);
  await receivedExactly(got, [1, 2, 11], 'nothing replayed, live events again');
  const ok = wire.succeeded('feed').at(-1);
  assert.equal(ok.recovered, false);
  assert.equal(ok.recovery_reason, 'expired');
  assert.ok(ok.serial >= before.serial + 8, `subscription_succeeded serial ${ok.serial} is the current position`);
  const after = wire.received.slice(wire.received.indexOf(ok) + 1).filter((f) => f.channel === 'feed');
  assert.deepEqual(after.map((f) => JSON.parse(f.data).i), [11], 'the first event after the answer is the live one');
  assert.deepEqual(resume.position('feed'), { epoch: after[0].epoch, serial: after[0].serial });
});

test('resume across a kill -9 of a single node on its data directory: recovered, nothing lost', {
  skip: clusterSkip('the cluster keeps its history in JetStream (cluster-faults tests)'),
}, async (t) => {
  const h1 = await startHeraldNode(t);
  const proxy = await startTcpProxy(t, [h1.port]);
  const { c, wire, resume, recoveries } = client(h1, proxy);
  const { ch, got } = await feed(c);
  await publish(h1.serverSdk(), 1, 2);
  await receivedExactly(got, [1, 2], 'live events before the kill');
  const before = resume.position('feed');

  const recovery = recoveryOn(ch);
  proxy.cutAll({ hold: true });
  await publish(h1.serverSdk(), 3, 4); // answered 200 while the client is away
  await h1.signal('SIGKILL');
  const h2 = await startHeraldNode(t, { dataDir: h1.dataDir, existingApp: h1.app });
  proxy.setTargets([h2.port]);
  await publish(h2.serverSdk(), 5, 5);
  proxy.restore();

  assert.deepEqual(await recovery, { recovered: true, reason: null });
  await receivedExactly(got, [1, 2, 3, 4, 5], 'what was published before the kill, then after it');
  const ok = wire.succeeded('feed').at(-1);
  assert.equal(ok.recovered, true);
  assert.equal(ok.epoch, before.epoch, 'the restarted node kept its epoch');
  assert.deepEqual(recoveries, [['feed', { recovered: true, reason: null }]]);
});

test('resume after the server lost its history (a new data directory): recovered false, reason epoch_changed', {
  skip: clusterSkip('the cluster keeps its history in JetStream across node restarts'),
}, async (t) => {
  const h1 = await startHerald(t);
  const proxy = await startTcpProxy(t, [h1.port]);
  const { c, wire, resume } = client(h1, proxy);
  const { ch, got } = await feed(c);
  await publish(h1.serverSdk(), 1, 2);
  await receivedExactly(got, [1, 2], 'live events before the restart');
  const before = resume.position('feed');

  const recovery = recoveryOn(ch);
  proxy.cutAll({ hold: true });
  await h1.signal('SIGKILL');
  // the same app on a new process with a new data directory: its history starts over, in a new epoch
  const h2 = await startHerald(t, { credentials: { id: h1.app.id, key: h1.app.key, secret: h1.app.secret } });
  proxy.setTargets([h2.port]);
  await publish(h2.serverSdk(), 3, 4); // serials 1 and 2 again, of the new epoch
  proxy.restore();

  assert.deepEqual(await recovery, { recovered: false, reason: 'epoch_changed' });
  await publish(h2.serverSdk(), 5, 5);
  await receivedExactly(got, [1, 2, 5], 'nothing replayed across epochs, live events again');
  const ok = wire.succeeded('feed').at(-1);
  assert.equal(ok.recovery_reason, 'epoch_changed');
  assert.notEqual(ok.epoch, before.epoch, 'subscription_succeeded names the new epoch');
  assert.equal(resume.position('feed').epoch, ok.epoch);
});

test('an app unsubscribe forgets the position: the next subscribe starts fresh', async (t) => {
  const h = await startHerald(t);
  const proxy = await startTcpProxy(t, proxyTargets(h));
  const { c, wire, resume, recoveries } = client(h, proxy);
  const first = await feed(c);
  const sdk = h.serverSdk();
  await publish(sdk, 1, 2);
  await receivedExactly(first.got, [1, 2], 'first subscription');
  assert.ok(resume.position('feed'));

  c.unsubscribe('feed');
  assert.equal(resume.position('feed'), null, 'unsubscribe forgets');
  await publish(sdk, 3, 4); // may still be in flight to the client: it must not bring the position back
  await sleep(300);
  assert.equal(resume.position('feed'), null, 'frames after the unsubscribe are not recorded');

  const second = await feed(c);
  let recoveryEvents = 0;
  second.ch.bind('herald:recovery', () => { recoveryEvents += 1; });
  await publish(sdk, 5, 5);
  await receivedExactly(second.got, [5], 'the new subscription gets live events only');
  const subs = wire.subscribes('feed');
  assert.equal(subs.length, 2);
  assert.equal(subs[1].data.resume, undefined, 'no resume field after an app unsubscribe');
  assert.equal(wire.succeeded('feed').at(-1).recovered, undefined, 'the server answers a plain subscribe');
  assert.equal(recoveryEvents, 0);
  assert.deepEqual(recoveries, []);
  assert.equal(resume.position('feed').serial, wire.events('feed').at(-1).serial, 'tracked again');
});

test('without the plugin pusher-js works as before: no resume, no recovered, events missed while away', async (t) => {
  const h = await startHerald(t);
  const proxy = await startTcpProxy(t, proxyTargets(h));
  const { c, wire } = client(h, proxy, { plugin: false });
  const { ch, got } = await feed(c);
  const sdk = h.serverSdk();
  await publish(sdk, 1, 1);
  await receivedExactly(got, [1], 'live event');

  const resubscribed = waitFor(ch, 'pusher:subscription_succeeded', RECONNECT_WAIT);
  proxy.cutAll({ hold: true });
  await publish(sdk, 2, 3);
  proxy.restore();
  await resubscribed;
  await publish(sdk, 4, 4);
  await receivedExactly(got, [1, 4], 'what was published while away is lost');
  const subs = wire.subscribes('feed');
  assert.equal(subs.length, 2);
  for (const f of subs) assert.equal('resume' in f.data, false, 'plain pusher-js subscribes');
  for (const ok of wire.succeeded('feed')) assert.equal('recovered' in ok, false, 'no recovered field');
  assert.equal(typeof wire.events('feed').at(-1).serial, 'number', 'the extra fields are on the wire (pusher-js ignores them)');
});

test('storage keeps the position across a page reload', async (t) => {
  const h = await startHerald(t);
  const proxy = await startTcpProxy(t, proxyTargets(h));
  const storage = mapStorage();
  const page1 = client(h, proxy, { storage });
  const one = await feed(page1.c);
  const sdk = h.serverSdk();
  await publish(sdk, 1, 2);
  await receivedExactly(one.got, [1, 2], 'first page');
  page1.c.disconnect(); // the page goes away (no unsubscribe)
  await publish(sdk, 3, 4);

  const page2 = client(h, proxy, { storage });
  const ch = page2.c.subscribe('feed');
  const got = [];
  ch.bind('n', (d) => got.push(d.i));
  assert.deepEqual(await recoveryOn(ch), { recovered: true, reason: null });
  await publish(h.serverSdk(), 5, 5);
  await receivedExactly(got, [3, 4, 5], 'the reloaded page gets what it missed, then live events');
  assert.equal(page2.wire.subscribes('feed')[0].data.resume.serial, page1.wire.events('feed').at(-1).serial);
});

// ------------------------------------------------------------- the plugin's logic, no server

/** A Web Storage stand-in. */
function mapStorage() {
  const m = new Map();
  return {
    m,
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  };
}

/** The bind/unbind/emit of pusher-js's Dispatcher, enough for the plugin. */
class FakeDispatcher {
  constructor() { this.callbacks = new Map(); }
  bind(event, fn) { this.callbacks.set(event, [...(this.callbacks.get(event) || []), fn]); }
  unbind(event, fn) { this.callbacks.set(event, (this.callbacks.get(event) || []).filter((f) => f !== fn)); }
  emit(event, data) { for (const fn of this.callbacks.get(event) || []) fn(data); }
  count(event) { return (this.callbacks.get(event) || []).length; }
}

/** The parts of a Pusher instance the plugin touches; methods on the prototype, as in pusher-js. */
class FakePusher {
  constructor() {
    this.key = 'app-key';
    this.sent = [];
    this.channels = new Map();
    this.connection = new FakeDispatcher();
    this.connection.state = 'connecting';
  }
  connect() {
    const transport = new FakeDispatcher();
    this.connection.connection = { transport };
    this.connection.state = 'connected';
    // pusher-js resubscribes from its own 'connected' listener, bound before any plugin's
    for (const name of this.channels.keys()) this.send_event('pusher:subscribe', { channel: name, auth: '' });
    this.connection.emit('connected');
    return transport;
  }
  disconnect() {
    this.connection.connection = null; // ConnectionManager#abandonConnection
    this.connection.state = 'disconnected';
  }
  channel(name) { return this.channels.get(name); }
  subscribe(name) {
    const ch = new FakeDispatcher();
    this.channels.set(name, ch);
    this.send_event('pusher:subscribe', { channel: name, auth: '' });
    return ch;
  }
  unsubscribe(name) {
    this.channels.delete(name);
    this.send_event('pusher:unsubscribe', { channel: name });
  }
  send_event(event, data, channel) {
    this.sent.push({ event, data, channel });
    return true;
  }
}

const frame = (transport, f) => transport.emit('message', { data: typeof f === 'string' ? f : JSON.stringify(f) });
const lastSubscribe = (p) => p.sent.filter((s) => s.event === 'pusher:subscribe').at(-1).data;

test('plugin logic: positions from raw frames, resume on resubscribe, recovery reports, forget', () => {
  const p = new FakePusher();
  const reports = [];
  const resume = enableResume(p, { onRecovery: (name, r) => reports.push([name, r]) });
  const ch = p.subscribe('a');
  assert.equal(lastSubscribe(p).resume, undefined, 'nothing known yet');
  let transport = p.connect();
  frame(transport, { event: 'pusher_internal:subscription_succeeded', channel: 'a', data: '{}', epoch: '7', serial: 0 });
  assert.deepEqual(resume.position('a'), { epoch: '7', serial: 0 }, 'subscription_succeeded gives the start');
  frame(transport, { event: 'n', channel: 'a', data: '{}', epoch: '7', serial: 4 });
  frame(transport, { event: 'client-x', channel: 'a', data: '{}' }); // client events carry no position
  frame(transport, { event: 'n', channel: 'other', data: '{}', epoch: '7', serial: 9 }); // not subscribed
  frame(transport, 'not json');
  frame(transport, { event: 'pusher:pong', data: '{}' });
  assert.deepEqual(resume.position('a'), { epoch: '7', serial: 4 });
  assert.equal(resume.position('other'), null);

  // a reconnect: the resubscribe resumes, the listener moves to the new transport
  const old = transport;
  transport = p.connect();
  assert.equal(old.count('message'), 0, 'the old transport is let go');
  assert.deepEqual(lastSubscribe(p), { channel: 'a', auth: '', resume: { epoch: '7', serial: 4 } });
  const seen = [];
  ch.bind('herald:recovery', (r) => seen.push(r));
  frame(transport, {
    event: 'pusher_internal:subscription_succeeded', channel: 'a', data: '{}', epoch: '8', serial: 12, recovered: false, recovery_reason: 'epoch_changed',
  });
  frame(old, { event: 'n', channel: 'a', data: '{}', epoch: '7', serial: 5 }); // a straggler on the dead transport
  assert.deepEqual(seen, [{ recovered: false, reason: 'epoch_changed' }]);
  assert.deepEqual(reports, [['a', { recovered: false, reason: 'epoch_changed' }]]);
  assert.deepEqual(resume.position('a'), { epoch: '8', serial: 12 });
  frame(transport, { event: 'pusher_internal:subscription_succeeded', channel: 'a', data: '{}', epoch: '8', serial: 12, recovered: true });
  assert.deepEqual(seen.at(-1), { recovered: true, reason: null });

  // the caller's position object is a copy; the subscribe data of pusher-js is not mutated
  resume.position('a').serial = 999;
  assert.equal(resume.position('a').serial, 12);

  // frames still arriving after pusher.disconnect() never reached the app: they must not count
  p.disconnect();
  frame(transport, { event: 'n', channel: 'a', data: '{}', epoch: '8', serial: 20 });
  assert.equal(resume.position('a').serial, 12, 'frames of an abandoned connection are ignored');
  transport = p.connect();

  p.unsubscribe('a');
  assert.equal(resume.position('a'), null);
  frame(transport, { event: 'n', channel: 'a', data: '{}', epoch: '8', serial: 13 });
  assert.equal(resume.position('a'), null, 'in-flight frames after an unsubscribe are ignored');
  p.subscribe('a');
  assert.equal(lastSubscribe(p).resume, undefined);
  frame(transport, { event: 'n', channel: 'a', data: '{}', epoch: '8', serial: 14 });
  resume.forget('a');
  p.connect();
  assert.equal(lastSubscribe(p).resume, undefined, 'forget()');
});

test('plugin logic: attaches at once when already connected; storage; disable restores pusher-js', () => {
  const storage = mapStorage();
  const p = new FakePusher();
  p.subscribe('b');
  const transport = p.connect();
  const resume = enableResume(p, { storage });
  frame(transport, { event: 'n', channel: 'b', data: '{}', epoch: '3', serial: 41 });
  assert.deepEqual(resume.position('b'), { epoch: '3', serial: 41 });
  assert.deepEqual(JSON.parse(storage.getItem('herald-resume:app-key:b')), { epoch: '3', serial: 41 });

  // a new page: same storage, new client
  const p2 = new FakePusher();
  const resume2 = enableResume(p2, { storage });
  p2.subscribe('b');
  assert.deepEqual(lastSubscribe(p2).resume, { epoch: '3', serial: 41 });
  storage.setItem('herald-resume:app-key:bad', '{not json');
  assert.equal(resume2.position('bad'), null, 'unreadable storage entries are ignored');
  p2.unsubscribe('b');
  assert.equal(storage.getItem('herald-resume:app-key:b'), null, 'unsubscribe removes the stored position');

  resume.disable();
  assert.equal(Object.hasOwn(p, 'send_event'), false, 'send_event is pusher-js\'s again');
  assert.equal(Object.hasOwn(p, 'unsubscribe'), false);
  assert.equal(transport.count('message'), 0);
  assert.equal(p.connection.count('connected'), 0);
  p.connect();
  assert.equal(lastSubscribe(p).resume, undefined, 'disabled: no resume');
});

test('the node serves the plugin itself at /clients/pusher-js-resume.mjs, as a module with an ETag', async (t) => {
  const h = await startHerald(t);
  const res = await fetch(`${h.url}/clients/pusher-js-resume.mjs`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /javascript/);
  const served = await res.text();
  const file = await readFile(new URL('../../clients/pusher-js-resume/index.mjs', import.meta.url), 'utf8');
  assert.equal(served, file, 'the file of clients/pusher-js-resume, as built into the binary');
  const again = await fetch(`${h.url}/clients/pusher-js-resume.mjs`, { headers: { 'if-none-match': res.headers.get('etag') } });
  assert.equal(again.status, 304);
});
