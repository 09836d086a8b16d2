// Tenant plan limits and suspension, set through the admin API and enforced on the realtime paths:
// max_connections summed over the tenant's apps (4004), max_messages_per_day (403), and a suspended
// tenant's apps refusing connections (4003) and publishes (403).
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, eventually, subscribed, waitFor, propagated, refusedOverCount,
} from './helpers/herald.mjs';

async function tenantOf(h, owner) {
  const tenants = await owner.api('GET', '/tenants');
  return tenants.body.find((t) => t.id === h.app.tenant_id);
}

test('max_connections counts every app of the tenant', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const tenant = await tenantOf(h, owner);
  const second = await owner.api('POST', `/tenants/${tenant.id}/apps`, { name: 'second' });
  assert.equal(second.status, 201);
  const set = await owner.api('PATCH', `/tenants/${tenant.id}`, { max_connections: 2 });
  assert.equal(set.status, 200, JSON.stringify(set.body));

  await h.rawConnected();
  await h.rawConnected(`/app/${second.body.key.key}?protocol=7`);
  const third = await refusedOverCount(() => h.rawSocket(), 'a third connection over the tenant quota to be refused');
  const err = await third.error();
  assert.equal(err.data.code, 4004);
  assert.equal((await third.waitClosed()).code, 4004);
});

test('max_messages_per_day refuses publishes over the quota with 403', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const tenant = await tenantOf(h, owner);
  assert.equal((await owner.api('PATCH', `/tenants/${tenant.id}`, { max_messages_per_day: 3 })).status, 200);
  const sdk = h.serverSdk();
  await sdk.trigger(['a', 'b'], 'e', {}); // two messages: one per channel
  await sdk.trigger('a', 'e', {});
  await assert.rejects(sdk.trigger('a', 'e', {}), (e) => e.status === 403 && /quota/i.test(e.body));
});

test('a suspended tenant refuses connections (4003) and publishes (403), and closes open ones', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const tenant = await tenantOf(h, owner);
  const open = await h.rawConnected();
  assert.equal((await owner.api('PATCH', `/tenants/${tenant.id}`, { status: 'suspended' })).status, 200);
  assert.equal((await open.waitClosed()).code, 4003);
  const late = h.rawSocket();
  assert.equal((await late.waitClosed()).code, 4003);
  await propagated(() => h.serverSdk().trigger('a', 'e', {}).then(() => false, (e) => e.status === 403),
    'publishes refused with 403 on every node');
  const audit = await owner.api('GET', `/tenants/${tenant.id}/audit`);
  assert.ok(audit.body.some((e) => e.action === 'tenant.update' && e.detail.status === 'suspended'), 'suspension is audited');
  // Reactivating lets clients back in.
  assert.equal((await owner.api('PATCH', `/tenants/${tenant.id}`, { status: 'active' })).status, 200);
  await eventually(async () => { await h.rawConnected(); return true; }, { what: 'a connection after reactivation' });
});

test('live app stats count connections, channels and messages in and out', async (t) => {
  const h = await startHerald(t);
  const owner = await h.owner();
  const a = h.pusherClient();
  const b = h.pusherClient();
  const [ca, cb] = [a.subscribe('stats-1'), b.subscribe('stats-1')];
  await Promise.all([subscribed(ca), subscribed(cb)]);
  await subscribed(a.subscribe('stats-2'));
  const got = Promise.all([waitFor(ca, 'e'), waitFor(cb, 'e')]);
  await h.serverSdk().trigger('stats-1', 'e', {});
  await got;
  const stats = await owner.api('GET', `/apps/${h.app.id}/stats`);
  assert.equal(stats.status, 200);
  assert.deepEqual(stats.body, { app_id: h.app.id, connections: 2, channels: 2, messages_in: 1, messages_out: 2 });
});
