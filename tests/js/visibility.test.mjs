// Visibility: the connection registry (list, filter, page, read and close an app's live
// connections over every node), the lifecycle log (query and live SSE stream), Prometheus metrics
// and the health checks, all through the admin API and tenant-scoped. Cross-node behaviour runs on
// a 2-node cluster of its own whatever HERALD_TEST_TOPOLOGY says.
import test from 'node:test';
import assert from 'node:assert/strict';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import {
  startHerald, startHeraldNode, eventually, sleep, signedFetch, clusterSkip, CLUSTER_TOPOLOGY,
} from './helpers/herald.mjs';
import { startNats, startCluster } from './helpers/cluster.mjs';

const UA = 'herald-visibility-test/1.0';
const CONNECTION_FIELDS = [
  'app_id', 'bytes_in', 'bytes_out', 'channels', 'client', 'connected_at', 'last_activity', 'messages_in',
  'messages_out', 'node', 'protocol', 'queue_depth', 'remote_address', 'socket_id', 'user_agent', 'user_id', 'version',
].sort();
const EVENT_FIELDS = ['id', 'time', 'app_id', 'node', 'kind', 'socket_id', 'user_id', 'channel', 'code', 'reason', 'detail'];

/** The node whose admin API and metrics a test uses: the only one, or node A of the cluster topology. */
const nodeA = (h) => h.nodes?.[0] ?? h;

const withUA = { headers: { 'user-agent': UA } };

// ------------------------------------------------------------- admin API

async function adminCall(url, token, method, p, body) {
  const res = await fetch(`${url}/api/v1${p}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: res.status, body: json };
}

/** An admin created by the owner through the admin API, logged in: {token, api(method, path, body)}. */
async function adminOf(h, owner, { email, role, tenantId }) {
  const password = `${email} has a long password`;
  const made = await owner.api('POST', '/admins', { email, password, role, tenant_id: tenantId });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const login = await adminCall(h.url, null, 'POST', '/auth/login', { email, password });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const token = login.body.access_token;
  return { token, api: (method, p, body) => adminCall(h.url, token, method, p, body) };
}

async function listConnections(admin, appId, query = '') {
  const r = await admin.api('GET', `/apps/${appId}/connections${query}`);
  assert.equal(r.status, 200, `GET connections${query}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const socketIds = (page) => page.connections.map((c) => c.socket_id);

/** Every page of a listing with `limit`, following next_cursor: the pages' socket ids. */
async function allPages(admin, appId, limit, extra = '') {
  const pages = [];
  let cursor = null;
  for (let i = 0; i < 50; i++) {
    const q = `?limit=${limit}${extra}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await listConnections(admin, appId, q);
    assert.ok(page.connections.length <= limit, `page of ${page.connections.length} > limit ${limit}`);
    pages.push(socketIds(page));
    if (!('next_cursor' in page)) return pages;
    assert.equal(typeof page.next_cursor, 'string');
    assert.equal(page.connections.length, limit, 'only the last page may be short');
    cursor = page.next_cursor;
  }
  throw new Error('more than 50 pages');
}

async function events(admin, appId, query = '') {
  const r = await admin.api('GET', `/apps/${appId}/events${query}`);
  assert.equal(r.status, 200, `GET events${query}: ${JSON.stringify(r.body)}`);
  assert.deepEqual(Object.keys(r.body), ['events']);
  return r.body.events;
}

/** Waits until the log (queried with `query`) has an event passing `pred`; resolves with it. */
function logged(admin, appId, query, pred, what) {
  return eventually(async () => (await events(admin, appId, query)).find(pred), { timeout: 10000, what });
}

const q = (params) => `?${new URLSearchParams(params)}`;

/** Shape every lifecycle event must have. */
function assertEventShape(e, appId) {
  for (const k of Object.keys(e)) assert.ok(EVENT_FIELDS.includes(k), `unexpected event field ${k}: ${JSON.stringify(e)}`);
  assert.equal(typeof e.time, 'number');
  assert.match(e.id, /^\d{13}-[0-9a-f]{1,8}-[0-9a-f]{16}$/, 'an id that sorts by time');
  assert.equal(e.app_id, appId);
  assert.equal(typeof e.node, 'string');
  assert.ok(e.node.length > 0, 'event names its node');
  assert.equal(typeof e.kind, 'string');
}

// ------------------------------------------------------------- live stream (SSE)

/** Opens GET …/events/live and parses `event: lifecycle` blocks as they arrive. */
async function openLive(t, url, token, appId, query = '') {
  const abort = new AbortController();
  const res = await fetch(`${url}/api/v1/apps/${appId}/events/live${query}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  const live = {
    status: res.status,
    contentType: res.headers.get('content-type'),
    events: [],
    waiters: [],
    close: () => abort.abort(),
    /** The first event (seen or to come) passing pred. */
    next(pred, ms = 8000, what = 'a lifecycle event') {
      const seen = live.events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          live.waiters = live.waiters.filter((w) => w !== waiter);
          reject(new Error(`timed out after ${ms} ms waiting for ${what} on the live stream; got ${JSON.stringify(live.events)}`));
        }, ms);
        const waiter = (e) => {
          if (!pred(e)) return false;
          clearTimeout(timer);
          resolve(e);
          return true;
        };
        live.waiters.push(waiter);
      });
    },
  };
  t.after(() => live.close());
  if (res.status !== 200) {
    live.body = await res.text();
    return live;
  }
  (async () => {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let name = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue; // keep-alive comment
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') name = val;
            else if (field === 'data') data.push(val);
          }
          if (data.length === 0) continue;
          assert.equal(name, 'lifecycle', `SSE event name of ${block}`);
          const e = JSON.parse(data.join('\n'));
          live.events.push(e);
          live.waiters = live.waiters.filter((w) => !w(e));
        }
      }
    } catch { /* aborted */ }
  })();
  return live;
}

// ------------------------------------------------------------- metrics

/**
 * parse-prometheus-text-format throws on a histogram whose _sum/_count lines come before its
 * _bucket lines (yunyu/parse-prometheus-text-format#14), an order the text format allows and
 * Prometheus reads. Moves each histogram family's bucket lines first; nothing else changes.
 */
function bucketsFirst(text) {
  const lines = text.split('\n');
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const m = /^# TYPE (\S+) histogram$/.exec(lines[i]);
    out.push(lines[i++]);
    if (!m) continue;
    const samples = [];
    while (i < lines.length && lines[i] !== '' && !lines[i].startsWith('#')) samples.push(lines[i++]);
    const isBucket = (l) => l.startsWith(`${m[1]}_bucket`);
    out.push(...samples.filter(isBucket), ...samples.filter((l) => !isBucket(l)));
  }
  return out.join('\n');
}

async function scrape(node) {
  const res = await fetch(`${node.url}/metrics`); // no auth
  const text = await res.text();
  assert.equal(res.status, 200, text);
  let families;
  assert.doesNotThrow(() => { families = parsePrometheusTextFormat(bucketsFirst(text)); }, 'the metrics parse');
  const byName = new Map(families.map((f) => [f.name, f]));
  /** Sum of the samples of family `name` whose labels include `labels`. */
  const value = (name, labels = {}) => {
    const f = byName.get(name);
    if (!f) return 0;
    return f.metrics
      .filter((m) => Object.entries(labels).every(([k, v]) => (m.labels || {})[k] === v))
      .reduce((sum, m) => sum + Number(m.value), 0);
  };
  return { text, contentType: res.headers.get('content-type'), families, byName, value };
}

// ================================================================ connection registry

test('the connection registry lists connections oldest first with their facts, filters them and pages with cursors', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const appId = h.app.id;
  const t0 = Date.now();
  const a = await h.rawConnected(undefined, withUA);
  await sleep(5);
  const b = await h.rawConnected(undefined, withUA);
  await sleep(5);
  const c = await h.rawConnected();
  await a.subscribed('vis-room');
  await a.subscribed('vis-other');
  a.send({ event: 'pusher:signin', data: h.signinData(a.socketId, { id: 'alice' }) });
  await a.event('pusher:signin_success');
  await b.subscribed('vis-room');

  const all = await eventually(async () => {
    const page = await listConnections(owner, appId);
    const view = page.connections.find((v) => v.socket_id === a.socketId);
    return page.connections.length === 3 && view?.user_id === 'alice' && view.channels.length === 2 && page;
  }, { what: 'the three connections, alice signed in on two channels' });
  assert.deepEqual(socketIds(all), [a.socketId, b.socketId, c.socketId], 'oldest first');
  assert.ok(!('next_cursor' in all), 'one page holds them all');
  const [va, vb, vc] = all.connections;
  for (const v of all.connections) {
    assert.deepEqual(Object.keys(v).sort(), CONNECTION_FIELDS);
    assert.equal(v.app_id, appId);
    assert.equal(typeof v.node, 'string');
    assert.ok(v.node.length > 0);
    assert.equal(v.remote_address, '127.0.0.1');
    assert.equal(v.client, 'js');
    assert.equal(v.version, '8.4.0');
    assert.equal(v.protocol, 7);
    assert.ok(v.connected_at >= t0 - 1000 && v.connected_at <= Date.now(), `connected_at ${v.connected_at}`);
    assert.ok(v.last_activity >= v.connected_at, 'last_activity after connected_at');
    for (const k of ['messages_in', 'bytes_in', 'messages_out', 'bytes_out', 'queue_depth']) {
      assert.ok(Number.isInteger(v[k]) && v[k] >= 0, `${k} = ${v[k]}`);
    }
  }
  assert.equal(va.user_agent, UA);
  assert.equal(vc.user_agent, null, 'no User-Agent header, none listed');
  assert.equal(va.user_id, 'alice');
  assert.equal(vb.user_id, null);
  assert.deepEqual([...va.channels].sort(), ['vis-other', 'vis-room']);
  assert.deepEqual(vb.channels, ['vis-room']);
  assert.deepEqual(vc.channels, []);
  assert.ok(va.messages_in >= 3 && va.bytes_in > 0, `a sent two subscribes and a signin: ${JSON.stringify(va)}`);
  assert.ok(va.messages_out >= 4 && va.bytes_out > 0, `a got established, two subscription_succeeded, signin_success: ${JSON.stringify(va)}`);

  // Filters.
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?user_id=alice')), [a.socketId]);
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?user_id=bob')), []);
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?channel=vis-room')), [a.socketId, b.socketId]);
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?channel=vis-other')), [a.socketId]);
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?channel=vis-nowhere')), []);
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?channel=vis-room&user_id=alice')), [a.socketId]);
  const onNodeOfA = all.connections.filter((v) => v.node === va.node).map((v) => v.socket_id);
  assert.deepEqual(socketIds(await listConnections(owner, appId, q({ node: va.node }))), onNodeOfA);
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?node=no-such-node')), []);
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?max_age=3600')), socketIds(all));
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?min_age=0')), socketIds(all));
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?min_age=3600')), []);

  // Paging: every connection exactly once, in order.
  const ones = await allPages(owner, appId, 1);
  assert.deepEqual(ones, [[a.socketId], [b.socketId], [c.socketId]]);
  assert.deepEqual(await allPages(owner, appId, 2), [[a.socketId, b.socketId], [c.socketId]]);
  assert.deepEqual(await allPages(owner, appId, 1, '&channel=vis-room'), [[a.socketId], [b.socketId]]);
  for (const bad of ['0', '1001']) {
    const r = await owner.api('GET', `/apps/${appId}/connections?limit=${bad}`);
    assert.equal(r.status, 400, `limit=${bad}: ${JSON.stringify(r.body)}`);
  }

  // One connection.
  let one = await owner.api('GET', `/apps/${appId}/connections/${a.socketId}`);
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.equal(one.body.socket_id, a.socketId);
  assert.equal(one.body.user_id, 'alice');
  for (const unknown of ['123.456', 'not-a-socket']) {
    one = await owner.api('GET', `/apps/${appId}/connections/${unknown}`);
    assert.equal(one.status, 404, `${unknown}: ${JSON.stringify(one.body)}`);
  }

  // Counters move: one ping in, one pong out.
  const before = (await owner.api('GET', `/apps/${appId}/connections/${b.socketId}`)).body;
  await sleep(5);
  const ping = JSON.stringify({ event: 'pusher:ping', data: {} });
  b.sendText(ping);
  await b.event('pusher:pong');
  const after = await eventually(async () => {
    const r = await owner.api('GET', `/apps/${appId}/connections/${b.socketId}`);
    return r.body.messages_out > before.messages_out && r.body;
  }, { what: 'the pong counted' });
  assert.equal(after.messages_in, before.messages_in + 1, 'one message in');
  assert.equal(after.bytes_in, before.bytes_in + Buffer.byteLength(ping), 'the ping\'s bytes');
  assert.equal(after.messages_out, before.messages_out + 1, 'one message out');
  assert.ok(after.bytes_out > before.bytes_out);
  assert.ok(after.last_activity > before.last_activity, `last_activity ${before.last_activity} -> ${after.last_activity}`);

  // A closed connection leaves the registry.
  c.close();
  await eventually(async () => !socketIds(await listConnections(owner, appId)).includes(c.socketId),
    { what: 'the closed connection to leave the listing' });
  assert.equal((await owner.api('GET', `/apps/${appId}/connections/${c.socketId}`)).status, 404);
});

test('DELETE closes a connection with the close code and reason asked for, and only those codes', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const appId = h.app.id;
  const cases = [
    { query: '', code: 4009 },
    { query: q({ code: 4009, reason: 'Banned for spamming' }), code: 4009, reason: 'Banned for spamming' },
    { query: q({ code: 4100, reason: 'Too busy, come back later' }), code: 4100, reason: 'Too busy, come back later' },
    { query: q({ code: 4200, reason: 'Reconnect now please' }), code: 4200, reason: 'Reconnect now please' },
  ];
  for (const { query, code, reason } of cases) {
    const s = await h.rawConnected();
    const r = await owner.api('DELETE', `/apps/${appId}/connections/${s.socketId}${query}`);
    assert.equal(r.status, 204, `DELETE${query}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body, null, 'no body');
    const err = await s.error();
    assert.equal(err.data.code, code, JSON.stringify(err));
    if (reason) assert.equal(err.data.message, reason);
    else assert.ok(typeof err.data.message === 'string' && err.data.message.length > 0, JSON.stringify(err));
    const closed = await s.waitClosed();
    assert.equal(closed.code, code, `close code for ${query || 'the default'}`);
    const e = await logged(owner, appId, q({ kind: 'connection_closed', socket_id: s.socketId }), () => true,
      `connection_closed of ${s.socketId}`);
    assertEventShape(e, appId);
    assert.equal(e.code, code);
    assert.equal(e.reason, err.data.message);
    assert.equal(e.detail.by, 'server');
    assert.equal(e.detail.cause, 'admin');
    await eventually(async () => (await owner.api('DELETE', `/apps/${appId}/connections/${s.socketId}`)).status === 404,
      { what: 'DELETE of the closed connection to answer 404' });
  }

  const s = await h.rawConnected();
  const bad = [q({ code: 1000 }), q({ code: 4001 }), q({ code: 4201 }), q({ code: 'soon' }), q({ reason: 'x'.repeat(101) })];
  for (const query of bad) {
    const r = await adminCall(h.url, owner.token, 'DELETE', `/apps/${appId}/connections/${s.socketId}${query}`);
    assert.equal(r.status, 400, `DELETE${query}: ${JSON.stringify(r.body)}`);
  }
  assert.ok(s.open, 'refused DELETEs leave the connection open');
  assert.equal((await owner.api('GET', `/apps/${appId}/connections/${s.socketId}`)).status, 200);
  assert.equal((await owner.api('DELETE', `/apps/${appId}/connections/123.456`)).status, 404);
  assert.equal((await owner.api('DELETE', `/apps/no-such-app/connections/${s.socketId}`)).status, 404);
  assert.ok(s.open);
});

test('malformed query parameters of the registry and the log get the admin API\'s JSON error', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const appId = h.app.id;
  for (const [method, p, field] of [
    ['DELETE', `/apps/${appId}/connections/1.2?code=soon`, 'code'],
    ['GET', `/apps/${appId}/connections?limit=many`, 'limit'],
    ['GET', `/apps/${appId}/connections?min_age=-1`, 'min_age'],
    ['GET', `/apps/${appId}/events?since=yesterday`, 'since'],
    ['GET', `/apps/${appId}/events?limit=all`, 'limit'],
  ]) {
    const r = await adminCall(h.url, owner.token, method, p);
    assert.equal(r.status, 400, `${method} ${p}: ${JSON.stringify(r.body)}`);
    assert.equal(typeof r.body, 'object', `${method} ${p} answers JSON, not ${JSON.stringify(r.body)}`);
    assert.equal(r.body?.error?.code, 'bad_request', `${method} ${p}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, new RegExp(field), `${method} ${p} names ${field}`);
  }
});

test('tenant admins see only their own tenant\'s connections and events; viewers read but cannot disconnect', async (t) => {
  const h = await startHerald(t);
  const A = nodeA(h); // admin-API changes reach node A's store only in the cluster topology
  const owner = await h.owner();
  const tenant = async (slug) => {
    const r = await owner.api('POST', '/tenants', { name: slug, slug });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  };
  const [xId, yId] = [await tenant('xanadu'), await tenant('yoyodyne')];
  const made = await owner.api('POST', `/tenants/${yId}/apps`, { name: 'yoyodyne app' });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const yApp = made.body.app.id;
  const yKey = made.body.key.key;
  const xAdmin = await adminOf(h, owner, { email: 'admin@xanadu.test', role: 'tenant_admin', tenantId: xId });
  const yAdmin = await adminOf(h, owner, { email: 'admin@yoyodyne.test', role: 'tenant_admin', tenantId: yId });
  const yViewer = await adminOf(h, owner, { email: 'viewer@yoyodyne.test', role: 'tenant_viewer', tenantId: yId });

  const sy = await eventually(() => A.rawConnected(`/app/${yKey}?protocol=7&client=js&version=8.4.0`),
    { what: 'a connection to the new app' });
  const sd = await A.rawConnected(); // the default tenant's app

  // Y's admin sees Y's connection and events, and nothing of the default app.
  const yList = await eventually(async () => {
    const page = await listConnections(yAdmin, yApp);
    return page.connections.length === 1 && page;
  }, { what: 'Y\'s connection listed' });
  assert.deepEqual(socketIds(yList), [sy.socketId]);
  assert.equal(yList.connections[0].app_id, yApp);
  const yOpened = await logged(yAdmin, yApp, q({ kind: 'connection_opened' }), (e) => e.socket_id === sy.socketId, 'Y\'s connection_opened');
  assertEventShape(yOpened, yApp);
  assert.ok(!JSON.stringify(await events(yAdmin, yApp)).includes(sd.socketId), 'Y\'s log has nothing of the default app');
  assert.equal((await yAdmin.api('GET', `/apps/${h.app.id}/connections`)).status, 404);
  assert.equal((await yAdmin.api('GET', `/apps/${h.app.id}/events`)).status, 404);

  // X's admin cannot see or touch Y's app.
  for (const [method, p] of [
    ['GET', `/apps/${yApp}/connections`],
    ['GET', `/apps/${yApp}/connections/${sy.socketId}`],
    ['DELETE', `/apps/${yApp}/connections/${sy.socketId}`],
    ['GET', `/apps/${yApp}/events`],
    ['GET', `/apps/${yApp}/events?kind=connection_opened`],
  ]) {
    const r = await xAdmin.api(method, p);
    assert.equal(r.status, 404, `${method} ${p} as X's admin: ${JSON.stringify(r.body)}`);
  }
  const xLive = await openLive(t, h.url, xAdmin.token, yApp);
  assert.equal(xLive.status, 404, `live stream of Y's app as X's admin: ${xLive.body}`);
  assert.ok(sy.open, 'X\'s DELETE did not close Y\'s connection');

  // Y's viewer reads, but may not disconnect.
  assert.deepEqual(socketIds(await listConnections(yViewer, yApp)), [sy.socketId]);
  assert.equal((await yViewer.api('GET', `/apps/${yApp}/connections/${sy.socketId}`)).status, 200);
  assert.ok((await events(yViewer, yApp)).some((e) => e.socket_id === sy.socketId));
  const viewerLive = await openLive(t, h.url, yViewer.token, yApp);
  assert.equal(viewerLive.status, 200);
  viewerLive.close();
  const denied = await yViewer.api('DELETE', `/apps/${yApp}/connections/${sy.socketId}`);
  assert.equal(denied.status, 403, JSON.stringify(denied.body));
  await sleep(200);
  assert.ok(sy.open, 'the viewer\'s DELETE did not close the connection');

  // Y's admin may.
  assert.equal((await yAdmin.api('DELETE', `/apps/${yApp}/connections/${sy.socketId}`)).status, 204);
  assert.equal((await sy.waitClosed()).code, 4009);
  assert.ok(sd.open, 'the default app\'s connection is untouched');
});

test('X-Forwarded-For names the client only when the peer is a trusted proxy',
  { skip: clusterSkip('per-process address logic; two single servers are enough') }, async (t) => {
    const plain = await startHerald(t);
    const trusting = await startHerald(t, { env: { HERALD_TRUSTED_PROXIES: '["127.0.0.1"]' } });
    const forwarded = (h, xff) => h.rawConnected(undefined, { headers: { 'x-forwarded-for': xff } });
    const cases = [
      { xff: '203.0.113.7', trusted: '203.0.113.7' },
      { xff: '198.51.100.9, 127.0.0.1', trusted: '198.51.100.9' },
    ];
    for (const [h, trust] of [[plain, false], [trusting, true]]) {
      const owner = await h.owner();
      for (const { xff, trusted } of cases) {
        const s = await forwarded(h, xff);
        const want = trust ? trusted : '127.0.0.1';
        const view = await owner.api('GET', `/apps/${h.app.id}/connections/${s.socketId}`);
        assert.equal(view.status, 200, JSON.stringify(view.body));
        assert.equal(view.body.remote_address, want, `X-Forwarded-For: ${xff} (proxy ${trust ? '' : 'not '}trusted)`);
        const opened = await logged(owner, h.app.id, q({ kind: 'connection_opened', socket_id: s.socketId }), () => true,
          'connection_opened');
        assert.equal(opened.detail.remote_address, want, 'the log agrees');
      }
    }
  });

// ================================================================ lifecycle log

test('the lifecycle log records connections, subscriptions, signins, publishes and client events with the right fields', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const owner = await h.owner();
  const appId = h.app.id;
  const t0 = Date.now();
  const find = (kind, pred, what = kind, extra = {}) => logged(owner, appId, q({ kind, ...extra }), pred, what);

  // connection_opened
  const s = await h.rawConnected(undefined, withUA);
  const opened = await find('connection_opened', (e) => e.socket_id === s.socketId);
  assertEventShape(opened, appId);
  assert.ok(opened.time >= t0 - 1000 && opened.time <= Date.now(), `time ${opened.time}`);
  assert.deepEqual(opened.detail, { remote_address: '127.0.0.1', user_agent: UA, client: 'js', version: '8.4.0', protocol: 7 });

  // subscription_succeeded
  await s.subscribed('vis-public');
  const subscribed = await find('subscription_succeeded', (e) => e.socket_id === s.socketId && e.channel === 'vis-public');
  assertEventShape(subscribed, appId);

  // subscription_refused: bad channel auth; the reason is the error the client got
  const badSig = 'bad'.padEnd(64, '0');
  s.subscribe('private-vis', { auth: `${h.app.key}:${badSig}` });
  const refusal = await s.error();
  const refused = await find('subscription_refused', (e) => e.socket_id === s.socketId);
  assertEventShape(refused, appId);
  assert.equal(refused.channel, 'private-vis');
  // A signature error keeps what was signed (and any signature) out of the log.
  assert.equal(refused.reason, 'Invalid signature');
  assert.ok(refusal.data.message.startsWith('Invalid signature'), refusal.data.message);
  assert.ok(!refusal.data.message.includes(badSig), 'the client is not sent its signature back');

  // signin
  const signin = h.signinData(s.socketId, { id: 'alice' });
  s.send({ event: 'pusher:signin', data: signin });
  await s.event('pusher:signin_success');
  const signedIn = await find('signin', (e) => e.socket_id === s.socketId);
  assertEventShape(signedIn, appId);
  assert.equal(signedIn.user_id, 'alice');

  // signin_refused
  const s2 = await h.rawConnected();
  s2.send({ event: 'pusher:signin', data: { auth: `${h.app.key}:${'1'.repeat(64)}`, user_data: JSON.stringify({ id: 'mallory' }) } });
  const signinError = await s2.error();
  const signinRefused = await find('signin_refused', (e) => e.socket_id === s2.socketId);
  assertEventShape(signinRefused, appId);
  assert.equal(signinRefused.reason, 'Invalid signature');
  assert.ok(!JSON.stringify(signinRefused).includes('mallory'), 'user data stays out of the log');
  assert.equal(signinRefused.user_id, undefined, 'a refused signin names no user');

  // client_event
  const chatAuth = h.auth(s.socketId, 'private-vis-chat');
  await s.subscribed('private-vis-chat', chatAuth);
  const listener = await h.rawConnected();
  await listener.subscribed('private-vis-chat', h.auth(listener.socketId, 'private-vis-chat'));
  s.send({ event: 'client-typing', channel: 'private-vis-chat', data: { typing: true } });
  await listener.event('client-typing', 'private-vis-chat');
  const clientEvent = await find('client_event', (e) => e.socket_id === s.socketId);
  assertEventShape(clientEvent, appId);
  assert.equal(clientEvent.channel, 'private-vis-chat');
  assert.equal(clientEvent.detail.event, 'client-typing');

  // publish_accepted: messages, bytes and a preview of the body
  const publish = { name: 'news', channels: ['vis-public', 'vis-other'], data: JSON.stringify({ headline: 'hi' }) };
  const body = JSON.stringify(publish);
  const ok = await signedFetch(h, 'POST', '/events', { body });
  assert.equal(ok.status, 200, ok.text);
  const accepted = await find('publish_accepted', (e) => e.detail?.bytes === Buffer.byteLength(body));
  assertEventShape(accepted, appId);
  assert.equal(accepted.code, 200);
  assert.equal(accepted.detail.messages, 2);
  assert.equal(accepted.detail.preview, body, 'a body under 100 characters is previewed whole');
  const long = JSON.stringify({ name: 'long', channels: ['vis-public'], data: 'y'.repeat(300) });
  assert.equal((await signedFetch(h, 'POST', '/events', { body: long })).status, 200);
  const longAccepted = await find('publish_accepted', (e) => e.detail?.bytes === Buffer.byteLength(long));
  assert.equal(longAccepted.detail.messages, 1);
  assert.equal(longAccepted.detail.preview, `${long.slice(0, 100)}…`, 'the preview is the body\'s first 100 characters');

  // publish_refused: 413
  const tooBig = JSON.stringify({ name: 'big', channels: ['vis-public'], data: 'x'.repeat(20 * 1024) });
  const big = await signedFetch(h, 'POST', '/events', { body: tooBig });
  assert.equal(big.status, 413, big.text);
  const refusedPublish = await find('publish_refused', (e) => e.code === 413);
  assertEventShape(refusedPublish, appId);
  assert.equal(typeof refusedPublish.reason, 'string');
  assert.ok(refusedPublish.reason.length > 0);
  assert.ok(big.text.includes(refusedPublish.reason), `reason ${JSON.stringify(refusedPublish.reason)} is what the publisher was told: ${big.text}`);
  assert.ok(!JSON.stringify(refusedPublish).includes('xxxxxxxxxx'), 'a refused publish carries no payload');

  // connection_closed by terminate_connections: 4009, cause terminated, the user named
  await h.serverSdk().terminateUserConnections('alice');
  assert.equal((await s.waitClosed()).code, 4009);
  const terminated = await find('connection_closed', (e) => e.socket_id === s.socketId);
  assertEventShape(terminated, appId);
  assert.equal(terminated.code, 4009);
  assert.equal(terminated.user_id, 'alice');
  assert.equal(terminated.detail.by, 'server');
  assert.equal(terminated.detail.cause, 'terminated');
  assert.equal(typeof terminated.reason, 'string');

  // connection_closed by an admin: cause admin
  assert.equal((await owner.api('DELETE', `/apps/${appId}/connections/${s2.socketId}`)).status, 204);
  await s2.waitClosed();
  const byAdmin = await find('connection_closed', (e) => e.socket_id === s2.socketId);
  assert.equal(byAdmin.code, 4009);
  assert.equal(byAdmin.detail.by, 'server');
  assert.equal(byAdmin.detail.cause, 'admin');

  // connection_closed by the client: cause client_gone
  listener.close();
  const gone = await find('connection_closed', (e) => e.socket_id === listener.socketId);
  assert.equal(gone.detail.by, 'client');
  assert.equal(gone.detail.cause, 'client_gone');
  assert.equal(gone.code, undefined, 'no close code of the server\'s');

  // The whole log: newest first, every kind driven, no secret or signature anywhere.
  const all = await events(owner, appId, '?limit=1000');
  for (const e of all) assertEventShape(e, appId);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].time >= all[i].time, 'newest first');
  const kinds = new Set(all.map((e) => e.kind));
  for (const k of ['connection_opened', 'connection_closed', 'subscription_succeeded', 'subscription_refused', 'signin',
    'signin_refused', 'publish_accepted', 'publish_refused', 'client_event']) {
    assert.ok(kinds.has(k), `${k} in the log: ${[...kinds]}`);
  }
  const json = JSON.stringify(all);
  assert.ok(!json.includes(h.app.secret), 'the app secret appears in no event');
  const signatures = [signin.auth, chatAuth.auth, h.auth(listener.socketId, 'private-vis-chat').auth].map((a) => a.split(':')[1]);
  for (const sig of signatures) assert.ok(!json.includes(sig), `the valid signature ${sig} appears in no event`);
  assert.ok(!/auth_signature|auth_key|body_md5/.test(json), 'no signed-request parameters in any event');
  const authKeys = [];
  const walk = (v, where) => {
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
      if (/auth/i.test(k)) authKeys.push(`${where}.${k}`);
      walk(x, `${where}.${k}`);
    }
  };
  walk(all, 'events');
  assert.deepEqual(authKeys, [], 'no field of any event is an auth');

  // Filters.
  const only = async (query, pred, what) => {
    const got = await events(owner, appId, query);
    assert.ok(got.length > 0, `${query} finds something`);
    for (const e of got) assert.ok(pred(e), `${what}: ${JSON.stringify(e)}`);
    return got;
  };
  const both = await only('?kind=signin,signin_refused', (e) => ['signin', 'signin_refused'].includes(e.kind), 'kind filter');
  assert.deepEqual([...new Set(both.map((e) => e.kind))].sort(), ['signin', 'signin_refused']);
  const mine = await only(q({ socket_id: s.socketId }), (e) => e.socket_id === s.socketId, 'socket_id filter');
  assert.deepEqual([...new Set(mine.map((e) => e.kind))].sort(), ['client_event', 'connection_closed', 'connection_opened',
    'signin', 'subscription_refused', 'subscription_succeeded']);
  await only('?channel=private-vis', (e) => e.channel === 'private-vis' && e.kind === 'subscription_refused', 'channel filter');
  const chat = await only('?channel=private-vis-chat', (e) => e.channel === 'private-vis-chat', 'channel filter');
  assert.ok(chat.some((e) => e.kind === 'client_event') && chat.some((e) => e.kind === 'subscription_succeeded'));
  const alice = await only('?user_id=alice', (e) => e.user_id === 'alice', 'user_id filter');
  assert.ok(alice.some((e) => e.kind === 'signin') && alice.some((e) => e.kind === 'connection_closed'));
  await only(q({ kind: 'connection_closed', user_id: 'alice' }), (e) => e.kind === 'connection_closed' && e.user_id === 'alice', 'kind and user');
  const newest = await events(owner, appId, '?limit=1');
  assert.equal(newest.length, 1);
  assert.deepEqual(newest[0], all[0]);
  assert.deepEqual(await events(owner, appId, q({ since: Date.now() + 60000 })), []);
  assert.deepEqual(await events(owner, appId, q({ until: t0 - 60000 })), []);
  const windowed = await events(owner, appId, q({ since: opened.time, until: opened.time }));
  assert.ok(windowed.some((e) => e.socket_id === s.socketId && e.kind === 'connection_opened'), 'since/until are inclusive');
  for (const bad of ['?kind=bogus', '?kind=signin,bogus', '?limit=0', '?limit=1001']) {
    const r = await owner.api('GET', `/apps/${appId}/events${bad}`);
    assert.equal(r.status, 400, `${bad}: ${JSON.stringify(r.body)}`);
  }
  const r = await owner.api('GET', `/apps/${appId}/events?kind=bogus`);
  assert.equal(r.body.error.field, 'kind');
  assert.equal((await owner.api('GET', '/apps/no-such-app/events')).status, 404);
});

test('connection_closed names the cause: ping_timeout, auth_failure and over_quota at connect, app_disabled; metrics count by cause', async (t) => {
  const h = await startHerald(t, { env: { HERALD_ACTIVITY_TIMEOUT: '1', HERALD_PONG_TIMEOUT: '1' } });
  const A = nodeA(h); // the tenant PATCH below reaches node A's store only in the cluster topology
  const owner = await h.owner();
  const appId = h.app.id;
  const closeOf = (pred, what) => logged(owner, appId, '?kind=connection_closed', pred, what);

  // A client that never answers the server's pings.
  const mute = await A.rawConnected(undefined, { autoPong: false });
  assert.equal((await mute.waitClosed(10000)).code, 4201);
  const timedOut = await closeOf((e) => e.socket_id === mute.socketId, 'the ping timeout');
  assert.equal(timedOut.code, 4201);
  assert.equal(timedOut.detail.by, 'server');
  assert.equal(timedOut.detail.cause, 'ping_timeout');

  // An origin the app does not allow: an auth failure at connect.
  await h.update({ allowedOrigins: ['https://good.example'] });
  const foreign = await eventually(async () => {
    const sock = A.rawSocket(undefined, { origin: 'https://evil.example' });
    const f = await sock.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    sock.close();
    return f.event === 'pusher:error' && f.data.code === 4009 && sock;
  }, { what: 'the foreign origin refused' });
  const originRefused = await closeOf((e) => e.code === 4009 && e.detail?.phase === 'connect', 'the origin refusal');
  assert.equal(originRefused.detail.cause, 'auth_failure');
  assert.ok(foreign);
  await h.update({ allowedOrigins: '' });
  await eventually(async () => {
    const sock = A.rawSocket();
    const f = await sock.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
    sock.close();
    return f.event === 'pusher:connection_established';
  }, { what: 'any origin accepted again' });

  // Over the tenant's connection quota: refused at connect.
  const limited = await owner.api('PATCH', `/tenants/${h.app.tenant_id}`, { max_connections: 1 });
  assert.equal(limited.status, 200, JSON.stringify(limited.body));
  const inside = await A.rawConnected();
  const over = A.rawSocket();
  assert.equal((await over.waitClosed()).code, 4004);
  const refused = await closeOf((e) => e.code === 4004, 'the refusal over quota');
  assertEventShape(refused, appId);
  assert.equal(refused.detail.by, 'server');
  assert.equal(refused.detail.cause, 'over_quota');
  assert.equal(refused.detail.remote_address, '127.0.0.1');

  // The app switched off closes its connections.
  await h.update({ enabled: false });
  assert.equal((await inside.waitClosed(10000)).code, 4003);
  const disabled = await closeOf((e) => e.socket_id === inside.socketId, 'the close of the disabled app');
  assert.equal(disabled.code, 4003);
  assert.equal(disabled.detail.cause, 'app_disabled');

  const m = await scrape(A);
  for (const cause of ['ping_timeout', 'over_quota', 'app_disabled']) {
    assert.equal(m.value('herald_connections_closed_total', { app: appId, cause }), 1, `closes counted with cause ${cause}`);
  }
  assert.ok(m.value('herald_connections_closed_total', { app: appId, cause: 'auth_failure' }) >= 1, 'the origin refusal counted');
});

test('refused channel auth and signins leave no signature in the log', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const appId = h.app.id;
  const s = await h.rawConnected();
  // Genuine signatures made for another socket: what a client sends when it reuses a stale auth.
  const other = await h.rawConnected();
  const staleChannel = h.auth(other.socketId, 'private-vis-stale').auth;
  const userData = JSON.stringify({ id: 'carol' });
  const staleSignin = h.signinData(other.socketId, { id: 'carol' }).auth;
  s.subscribe('private-vis-stale', { auth: staleChannel });
  await s.error();
  s.send({ event: 'pusher:signin', data: { auth: staleSignin, user_data: userData } });
  await s.error();
  await logged(owner, appId, q({ kind: 'subscription_refused', socket_id: s.socketId }), () => true, 'subscription_refused');
  await logged(owner, appId, q({ kind: 'signin_refused', socket_id: s.socketId }), () => true, 'signin_refused');
  const json = JSON.stringify(await events(owner, appId, '?limit=1000'));
  assert.ok(!json.includes(h.app.secret), 'no secret');
  for (const [what, auth] of [['channel auth', staleChannel], ['signin auth', staleSignin]]) {
    const sig = auth.split(':')[1];
    const holder = JSON.parse(json).find((e) => JSON.stringify(e).includes(sig));
    assert.equal(holder, undefined, `the refused ${what}'s signature ${sig} is in an event: ${JSON.stringify(holder)}`);
  }
});

test('the process log (log_format json) has every lifecycle event with its detail, shutdown closes as server_shutdown, and no secret, signature or payload', async (t) => {
  const h = await startHerald(t, { env: { HERALD_LOG_FORMAT: 'json' } });
  const s = await h.rawConnected();
  const auth = h.auth(s.socketId, 'private-vis-log').auth;
  await s.subscribed('private-vis-log', { auth });
  const stale = await h.rawConnected();
  stale.subscribe('private-vis-stale', { auth }); // s's signature, refused for this socket
  await stale.error();
  await h.serverSdk().trigger('private-vis-log', 'tick', { payload: 'payload-marker-4711' });
  await s.event('tick', 'private-vis-log');
  const gone = await h.rawConnected();
  gone.close();
  await gone.waitClosed();
  await sleep(200); // the close of `gone` is logged by its node
  const exit = await h.signal('SIGTERM');
  assert.equal(exit.code, 0, 'a clean exit');

  const parsed = () => h.logs().split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l)) // every line is one JSON object
    .filter((r) => r.target === 'herald::lifecycle')
    .map((r) => ({ ...r.fields, detail: r.fields.detail === undefined ? undefined : JSON.parse(r.fields.detail) }));
  // a process's last output can still be in its pipe when it has exited
  const closedIn = (l, socket) => l.some((e) => e.kind === 'connection_closed' && e.socket_id === socket.socketId);
  const lifecycle = await eventually(() => {
    const l = parsed();
    return closedIn(l, s) && closedIn(l, gone) && l;
  }, { timeout: 5000, what: 'both closes in the process log' }).catch(() => parsed());
  const find = (pred, what) => {
    const e = lifecycle.find(pred);
    assert.ok(e, `${what} in the process log:\n${JSON.stringify(lifecycle, null, 1)}`);
    return e;
  };
  find((e) => e.kind === 'connection_opened' && e.socket_id === s.socketId && e.detail?.remote_address, 'connection_opened');
  find((e) => e.kind === 'subscription_succeeded' && e.channel === 'private-vis-log', 'subscription_succeeded');
  find((e) => e.kind === 'subscription_refused' && e.socket_id === stale.socketId && e.reason === 'Invalid signature', 'the refusal');
  const published = find((e) => e.kind === 'publish_accepted', 'publish_accepted');
  assert.equal(published.app_id, h.app.id);
  assert.equal(published.detail.messages, 1, 'one message: one channel');
  assert.ok(published.detail.bytes > 0);
  const closedBy = (socket) => find((e) => e.kind === 'connection_closed' && e.socket_id === socket.socketId, `the close of ${socket.socketId}`);
  assert.equal(closedBy(gone).detail.cause, 'client_gone');
  const shut = closedBy(s);
  assert.equal(shut.code, 4200);
  assert.equal(shut.detail.cause, 'server_shutdown');
  assert.equal(shut.detail.by, 'server');

  const text = h.logs();
  assert.ok(!text.includes(h.app.secret), 'no app secret in the process log');
  assert.ok(!text.includes(auth.split(':')[1]), 'no channel-auth signature in the process log');
  assert.ok(!text.includes('payload-marker-4711'), 'no payload in the process log (its preview stays in the lifecycle log)');
  assert.equal(published.detail.preview, undefined, 'the publish is logged without its preview');
});

test('the connections a node closes as it stops are in the kept lifecycle log, as server_shutdown', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected(); // node A's, in the cluster topology
  const exit = await nodeA(h).signal('SIGTERM');
  assert.equal(exit.code, 0, 'a clean exit');
  // The log is read back from another node of the cluster, or from the node started again on the
  // same data directory: either way, only what the stopped node kept before it exited.
  const reader = CLUSTER_TOPOLOGY ? h.nodes[1] : await startHeraldNode(t, { dataDir: h.dataDir, existingApp: h.app });
  const owner = await reader.owner('reader@herald.test');
  const closed = await logged(owner, h.app.id, q({ kind: 'connection_closed', socket_id: s.socketId }), () => true,
    `the close of ${s.socketId} in the kept log`);
  assert.equal(closed.code, 4200);
  assert.equal(closed.detail.cause, 'server_shutdown');
});

test('publish previews are on by default, off after --log-payload-previews false, on again through the admin API', async (t) => {
  const h = await startHerald(t);
  const A = nodeA(h); // the admin PATCH below reaches node A's store only in the cluster topology
  const owner = await h.owner();
  const appId = h.app.id;
  let n = 0;
  /** Publishes through node A; resolves with its publish_accepted event. */
  const publish = async () => {
    const body = JSON.stringify({ name: 'p', channels: ['vis-preview'], data: JSON.stringify({ n: ++n, marker: 'preview-me' }) });
    const since = Date.now();
    const res = await signedFetch(A, 'POST', '/events', { body });
    assert.equal(res.status, 200, res.text);
    const e = await logged(owner, appId, q({ kind: 'publish_accepted', since }), (x) => x.detail?.bytes === Buffer.byteLength(body),
      `publish_accepted ${n}`);
    return { e, body };
  };
  const first = await publish();
  assert.equal(first.e.detail.preview, first.body, 'preview on by default');

  await h.update({ logPayloadPreviews: false });
  const off = await eventually(async () => {
    const { e } = await publish();
    return e.detail.preview == null && e;
  }, { what: 'a publish logged without a preview' });
  assert.equal(off.detail.preview ?? null, null, 'no preview');
  assert.equal(off.detail.messages, 1, 'the rest of the detail stays');
  assert.ok(!JSON.stringify(await events(owner, appId, '?kind=publish_accepted&limit=1')).includes('preview-me'),
    'the newest publish event holds none of the payload');

  const patched = await owner.api('PATCH', `/apps/${appId}`, { settings: { log_payload_previews: true } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.settings.log_payload_previews, true);
  await eventually(async () => {
    const { e, body } = await publish();
    return e.detail.preview === body;
  }, { what: 'previews back on after the PATCH' });
});

test('the live stream sends lifecycle events as they happen, filtered as asked', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const appId = h.app.id;
  const live = await openLive(t, h.url, owner.token, appId);
  assert.equal(live.status, 200, live.body);
  assert.match(live.contentType, /^text\/event-stream/);
  const closes = await openLive(t, h.url, owner.token, appId, '?kind=connection_closed');
  assert.equal(closes.status, 200, closes.body);

  const started = Date.now();
  const s = await h.rawConnected();
  const opened = await live.next((e) => e.kind === 'connection_opened' && e.socket_id === s.socketId, 5000, 'connection_opened');
  assert.ok(Date.now() - started < 5000);
  assertEventShape(opened, appId);
  await s.subscribed('vis-live');
  await live.next((e) => e.kind === 'subscription_succeeded' && e.channel === 'vis-live', 5000, 'subscription_succeeded');
  s.close();
  const closed = await closes.next((e) => e.socket_id === s.socketId, 5000, 'connection_closed on the filtered stream');
  assert.equal(closed.kind, 'connection_closed');
  assert.ok(closes.events.every((e) => e.kind === 'connection_closed'), `only closes: ${JSON.stringify(closes.events)}`);
  await live.next((e) => e.kind === 'connection_closed' && e.socket_id === s.socketId, 5000, 'connection_closed');

  const bad = await openLive(t, h.url, owner.token, appId, '?kind=bogus');
  assert.equal(bad.status, 400, bad.body);
  const unauthenticated = await fetch(`${h.url}/api/v1/apps/${appId}/events/live`);
  await unauthenticated.arrayBuffer();
  assert.equal(unauthenticated.status, 401);
  const unknown = await openLive(t, h.url, owner.token, 'no-such-app');
  assert.equal(unknown.status, 404, unknown.body);
});

// ================================================================ two nodes

test('two nodes: node A lists, reads and closes a connection held by node B, and queries and streams B\'s events', async (t) => {
  const nats = await startNats(t);
  const { nodes: [A, B] } = await startCluster(t, 2, { nats });
  const owner = await A.owner();
  const appId = A.app.id;
  const live = await openLive(t, A.url, owner.token, appId);
  assert.equal(live.status, 200, live.body);

  const sa = await A.rawConnected(undefined, withUA);
  await sleep(5);
  const sb = await B.rawConnected(undefined, withUA);
  await sb.subscribed('vis-cross');
  sb.send({ event: 'pusher:signin', data: B.signinData(sb.socketId, { id: 'bob' }) });
  await sb.event('pusher:signin_success');

  const page = await eventually(async () => {
    const p = await listConnections(owner, appId);
    const vb = p.connections.find((v) => v.socket_id === sb.socketId);
    return p.connections.length === 2 && vb?.user_id === 'bob' && vb.channels.length === 1 && p;
  }, { what: 'both nodes\' connections listed by node A' });
  assert.deepEqual(socketIds(page), [sa.socketId, sb.socketId]);
  const [va, vb] = page.connections;
  assert.notEqual(va.node, vb.node, 'each connection names its own node');
  assert.deepEqual(vb.channels, ['vis-cross']);
  assert.equal(vb.user_agent, UA);
  assert.deepEqual(socketIds(await listConnections(owner, appId, q({ node: vb.node }))), [sb.socketId]);
  assert.deepEqual(socketIds(await listConnections(owner, appId, q({ node: va.node }))), [sa.socketId]);
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?user_id=bob')), [sb.socketId]);
  assert.deepEqual(socketIds(await listConnections(owner, appId, '?channel=vis-cross')), [sb.socketId]);
  assert.deepEqual(await allPages(owner, appId, 1), [[sa.socketId], [sb.socketId]]);
  const one = await owner.api('GET', `/apps/${appId}/connections/${sb.socketId}`);
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.equal(one.body.node, vb.node);
  assert.equal(one.body.user_id, 'bob');

  // B's events, queried through A and streamed from A.
  const streamed = await live.next((e) => e.kind === 'connection_opened' && e.socket_id === sb.socketId, 8000,
    'B\'s connection_opened on A\'s stream');
  assert.equal(streamed.node, vb.node);
  const queried = await logged(owner, appId, q({ kind: 'connection_opened', socket_id: sb.socketId }), () => true,
    'B\'s connection_opened through A');
  assert.equal(queried.node, vb.node);
  assert.deepEqual(queried, streamed);
  const signin = await logged(owner, appId, '?user_id=bob', (e) => e.kind === 'signin', 'B\'s signin through A');
  assert.equal(signin.node, vb.node);
  assert.equal(signin.socket_id, sb.socketId);
  const ownOpened = await logged(owner, appId, q({ socket_id: sa.socketId }), (e) => e.kind === 'connection_opened', 'A\'s own');
  assert.equal(ownOpened.node, va.node);
  const body = JSON.stringify({ name: 'x', channels: ['vis-cross'], data: '{"via":"B"}' });
  assert.equal((await signedFetch(B, 'POST', '/events', { body })).status, 200);
  const published = await logged(owner, appId, '?kind=publish_accepted', (e) => e.detail?.bytes === Buffer.byteLength(body),
    'B\'s publish through A');
  assert.equal(published.node, vb.node);
  assert.equal(published.detail.preview, body);
  await live.next((e) => e.kind === 'publish_accepted' && e.node === vb.node, 8000, 'B\'s publish on A\'s stream');

  // Close B's connection through A.
  const del = await owner.api('DELETE', `/apps/${appId}/connections/${sb.socketId}${q({ code: 4200, reason: 'Moving you over' })}`);
  assert.equal(del.status, 204, JSON.stringify(del.body));
  const err = await sb.error();
  assert.equal(err.data.code, 4200);
  assert.equal(err.data.message, 'Moving you over');
  assert.equal((await sb.waitClosed()).code, 4200);
  const closed = await live.next((e) => e.kind === 'connection_closed' && e.socket_id === sb.socketId, 8000,
    'B\'s connection_closed on A\'s stream');
  assert.equal(closed.node, vb.node);
  assert.equal(closed.code, 4200);
  assert.equal(closed.detail.cause, 'admin');
  assert.equal(closed.user_id, 'bob');
  await eventually(async () => (await listConnections(owner, appId)).connections.length === 1,
    { what: 'B\'s closed connection to leave the listing' });
  assert.equal((await owner.api('GET', `/apps/${appId}/connections/${sb.socketId}`)).status, 404);
  assert.equal((await owner.api('DELETE', `/apps/${appId}/connections/${sb.socketId}`)).status, 404);
  assert.ok(sa.open, 'A\'s connection is untouched');
});

// ================================================================ metrics and health

test('/metrics parses as Prometheus text, has the expected families, its counters move and its labels stay bounded', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true } });
  const A = nodeA(h); // metrics are per node: drive node A and scrape it
  const app = { app: h.app.id };
  const m0 = await scrape(A);
  for (const name of ['herald_connections', 'herald_deliveries_total', 'herald_websocket_bytes_received_total',
    'herald_publish_duration_seconds', 'herald_bus_up', 'herald_store_up']) {
    assert.ok(m0.byName.has(name), `family ${name} in:\n${m0.text}`);
  }
  assert.equal(m0.byName.get('herald_connections').type, 'GAUGE');
  assert.equal(m0.byName.get('herald_publish_duration_seconds').type, 'HISTOGRAM');
  assert.equal(m0.byName.get('herald_bus_up').type, 'GAUGE');
  assert.equal(m0.value('herald_bus_up'), 1);
  assert.equal(m0.value('herald_store_up'), 1);

  // Traffic on node A.
  const s1 = await A.rawConnected();
  const s2 = await A.rawConnected();
  const gone = await A.rawConnected();
  const used = [s1.socketId, s2.socketId, gone.socketId, 'vis-metrics', 'private-vis-metrics'];
  await s1.subscribed('vis-metrics');
  await s1.subscribed('private-vis-metrics', A.auth(s1.socketId, 'private-vis-metrics'));
  await s2.subscribed('private-vis-metrics', A.auth(s2.socketId, 'private-vis-metrics'));
  const ok = await signedFetch(A, 'POST', '/events', { body: { name: 'tick', channels: ['vis-metrics'], data: '{}' } });
  assert.equal(ok.status, 200, ok.text);
  await s1.event('tick', 'vis-metrics');
  const big = await signedFetch(A, 'POST', '/events',
    { body: { name: 'big', channels: ['vis-metrics'], data: 'x'.repeat(20 * 1024) } });
  assert.equal(big.status, 413, big.text);
  s2.send({ event: 'client-hello', channel: 'private-vis-metrics', data: {} });
  await s1.event('client-hello', 'private-vis-metrics');
  gone.close();

  // A scrape is not one atomic snapshot: the gauges are read a moment before the counters, so a
  // close can be counted in a scrape whose gauge still holds its connection. Wait for both.
  const m1 = await eventually(async () => {
    const m = await scrape(A);
    return m.value('herald_connections_closed_total', { ...app, cause: 'client_gone' }) >= 1
      && m.value('herald_connections', app) === 2 && m;
  }, { what: 'the client_gone close counted and two connections left in the gauge' });
  for (const name of ['herald_connections', 'herald_connections_opened_total', 'herald_connections_closed_total',
    'herald_messages_published_total', 'herald_publishes_refused_total', 'herald_deliveries_total',
    'herald_websocket_bytes_received_total', 'herald_publish_duration_seconds', 'herald_bus_up', 'herald_store_up']) {
    assert.ok(m1.byName.has(name), `family ${name} in:\n${m1.text}`);
  }
  const delta = (name, labels) => m1.value(name, labels) - m0.value(name, labels);
  assert.equal(delta('herald_connections_opened_total', app), 3);
  assert.equal(delta('herald_connections_closed_total', { ...app, cause: 'client_gone' }), 1);
  assert.equal(m1.value('herald_connections', app), 2, 'two connections open');
  assert.equal(delta('herald_messages_published_total', { ...app, origin: 'api' }), 1);
  assert.equal(delta('herald_messages_published_total', { ...app, origin: 'client' }), 1);
  assert.equal(delta('herald_publishes_refused_total', { ...app, status: '413' }), 1);
  assert.ok(delta('herald_deliveries_total', app) >= 2, 'the api message and the client event delivered to s1');
  assert.ok(delta('herald_websocket_bytes_received_total') > 0);
  for (const f of m1.byName.get('herald_connections_closed_total').metrics) assert.ok(f.labels.cause, 'closes carry a cause');
  for (const f of m1.byName.get('herald_messages_published_total').metrics) assert.ok(['api', 'client'].includes(f.labels.origin));

  const hist = (m) => m.byName.get('herald_publish_duration_seconds').metrics[0];
  const [h0, h1] = [hist(m0), hist(m1)];
  assert.equal(Number(h1.count) - Number(h0.count), 2, 'both publishes timed');
  assert.ok(Number(h1.sum) > Number(h0.sum));
  const buckets = Object.entries(h1.buckets).map(([le, v]) => [le === '+Inf' ? Infinity : Number(le), Number(v)])
    .sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i][1] >= buckets[i - 1][1], 'buckets are cumulative');
  assert.equal(buckets.at(-1)[0], Infinity);
  assert.equal(buckets.at(-1)[1], Number(h1.count));

  // Bus lag: in a cluster every message reaches its subscribers' nodes over NATS, node A's own too.
  const lag = (m) => m.byName.get('herald_bus_lag_seconds')?.metrics[0];
  assert.equal(m1.byName.get('herald_bus_lag_seconds')?.type, 'HISTOGRAM', 'herald_bus_lag_seconds is a histogram');
  const lagged = Number(lag(m1).count) - Number(lag(m0).count);
  if (CLUSTER_TOPOLOGY) assert.ok(lagged >= 2, `the api message and the client event came over the bus (${lagged})`);
  else assert.equal(lagged, 0, 'a single node has no bus lag to measure');
  assert.ok(m1.byName.has('herald_webhook_queue_depth'));

  // No label value is a channel name or a socket id.
  const values = new Set();
  for (const f of m1.families) for (const m of f.metrics) for (const v of Object.values(m.labels || {})) values.add(v);
  for (const u of used) assert.ok(!values.has(u), `label value ${u}`);
  for (const u of used) assert.ok(!m1.text.includes(`"${u}"`), `${u} appears in no label`);
});

test('/metrics declares its counters the way its Content-Type format says', async (t) => {
  const h = await startHerald(t);
  const A = nodeA(h);
  await A.rawConnected();
  const m = await scrape(A);
  const openMetrics = /^application\/openmetrics-text/.test(m.contentType);
  if (!openMetrics) {
    assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
    // Prometheus text format 0.0.4: a counter's TYPE line names its samples.
    for (const name of ['herald_connections_opened_total', 'herald_deliveries_total', 'herald_websocket_bytes_received_total']) {
      assert.equal(m.byName.get(name)?.type, 'COUNTER',
        `${name} is typed COUNTER (Content-Type ${m.contentType}); the exposition has:\n${m.text.split('\n').filter((l) => l.includes(name.replace(/_total$/, ''))).join('\n')}`);
    }
  } else {
    // OpenMetrics: TYPE names the family, samples add _total.
    for (const name of ['herald_connections_opened', 'herald_deliveries', 'herald_websocket_bytes_received']) {
      assert.ok(m.text.includes(`# TYPE ${name} counter\n`), `# TYPE ${name} counter`);
      assert.ok(m.byName.get(`${name}_total`)?.metrics.length > 0, `${name}_total samples`);
    }
    assert.ok(m.text.trimEnd().endsWith('# EOF'));
  }
});

test('/healthz and /readyz answer 200 on a ready node', async (t) => {
  const h = await startHerald(t);
  for (const node of h.nodes ?? [h]) {
    for (const p of ['/healthz', '/readyz']) {
      const res = await fetch(`${node.url}${p}`);
      await res.arrayBuffer();
      assert.equal(res.status, 200, `${p} of ${node.name ?? 'the node'}`);
    }
  }
});
