// The control plane's "done" scenario on Postgres: an owner bootstrapped with the CLI creates two
// tenants with apps through the admin API; each tenant's pusher-js clients work, and neither tenant
// can reach the other (events, HTTP API, admin API). Needs HERALD_TEST_PG_URL (scripts/test sets it).
import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Pusher from 'pusher';
import { startHerald, waitFor, subscribed, CLUSTER_TOPOLOGY } from './helpers/herald.mjs';
import { PG_URL, freshDatabase } from './helpers/postgres.mjs';

const PG = PG_URL;

test('two tenants on Postgres: each works, neither reaches the other', {
  skip: !PG && 'HERALD_TEST_PG_URL not set',
}, async (t) => {
  // the cluster topology puts its nodes on a fresh database of its own
  const env = CLUSTER_TOPOLOGY ? {} : { HERALD_DATABASE_URL: (await freshDatabase(t)).url, HERALD_MASTER_KEY: randomBytes(32).toString('base64') };
  const h = await startHerald(t, { noApp: true, env });
  const owner = await h.owner();

  const tenants = {};
  for (const slug of ['acme', 'globex']) {
    const tenant = await owner.api('POST', '/tenants', { name: slug, slug });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    const app = await owner.api('POST', `/tenants/${tenant.body.id}/apps`, { name: `${slug} app` });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    tenants[slug] = { id: tenant.body.id, app: { id: app.body.app.id, key: app.body.key.key, secret: app.body.key.secret } };
  }
  const sdk = ({ app }) => new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(h.port), useTLS: false });

  h.app = tenants.acme.app; // the harness's default app (it started on an empty store)
  // Each tenant's clients subscribe to a channel of the same name.
  const channels = {};
  for (const [slug, tn] of Object.entries(tenants)) {
    const client = h.pusherClient({ key: tn.app.key });
    channels[slug] = client.subscribe('news');
    await subscribed(channels[slug]);
  }
  const acmeGot = waitFor(channels.acme, 'story');
  const globexSaw = [];
  channels.globex.bind('story', (d) => globexSaw.push(d));
  await sdk(tenants.acme).trigger('news', 'story', { for: 'acme' });
  assert.deepEqual(await acmeGot, { for: 'acme' });
  // A marker on globex's own app proves globex's client is live and saw nothing of acme's.
  const marker = waitFor(channels.globex, 'marker');
  await sdk(tenants.globex).trigger('news', 'marker', {});
  await marker;
  assert.deepEqual(globexSaw, [], 'globex never sees acme events');

  // acme's key cannot publish to globex's app.
  const cross = new Pusher({ ...tenants.acme.app, appId: tenants.globex.app.id, host: '127.0.0.1', port: String(h.port), useTLS: false });
  await assert.rejects(cross.trigger('news', 'story', {}), (e) => e.status === 401);

  // acme's tenant admin cannot see globex in the admin API.
  const made = await owner.api('POST', '/admins', { email: 'admin@acme.test', password: 'acme admin password', role: 'tenant_admin', tenant_id: tenants.acme.id });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const login = await fetch(`${h.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@acme.test', password: 'acme admin password' }) });
  const { access_token: token } = await login.json();
  const peek = await fetch(`${h.url}/api/v1/apps/${tenants.globex.app.id}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(peek.status, 404);
  const own = await fetch(`${h.url}/api/v1/tenants`, { headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual((await own.json()).map((x) => x.slug), ['acme']);
});
