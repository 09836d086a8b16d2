// Roles in the console: a tenant viewer sees no write control (and the API refuses its writes); a
// tenant admin of A never sees tenant B; team, API tokens and the audit log.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, connected, eventually, OWNER } from '../helpers/herald.mjs';
import { newPage, signIn, checkA11y, screenshot } from '../helpers/browser.mjs';

/** Names of the enabled buttons that change something (not navigation, filters or refresh). */
const WRITE = /^(New |Create|Save|Revoke|Remove|Delete|Disconnect|Suspend|Resume tenant|Send|Redeliver|Add endpoint|Change role|Discard|Set expiry)/;
async function writeControls(page) {
  const names = await page.getByRole('button').evaluateAll((buttons) => buttons
    .filter((b) => !b.disabled && !b.closest('fieldset[disabled]'))
    .map((b) => b.getAttribute('aria-label') || b.textContent.trim()));
  return names.filter((n) => WRITE.test(n));
}

test('a tenant viewer sees no write control on any page, and the API refuses its writes', async (t) => {
  const h = await startHerald(t);
  const a = await h.tenantWithApp('alpha');
  const viewer = await h.admin('viewer@alpha.test', 'tenant_viewer', a.tenant.id);
  const client = h.pusherClient(a, { node: -1 });
  const socketId = await connected(client);

  const page = await newPage(t);
  await signIn(page, h.url, viewer);
  await page.getByRole('heading', { name: 'ALPHA', level: 1 }).waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tenants' }).count(), 0);
  const pages = [
    [`/console/tenants/${a.tenant.id}`, 'ALPHA'],
    [`/console/tenants/${a.tenant.id}/tokens`, 'API tokens'],
    [`/console/tenants/${a.tenant.id}/audit`, 'Audit log'],
    ['/console/team', 'Team'],
    [`/console/apps/${a.app.id}`, a.app.name],
    [`/console/apps/${a.app.id}/keys`, 'Keys'],
    [`/console/apps/${a.app.id}/settings`, 'Settings'],
    [`/console/apps/${a.app.id}/debug`, 'Debug console'],
    [`/console/apps/${a.app.id}/webhooks`, 'Webhooks'],
    [`/console/apps/${a.app.id}/connections?socket=${socketId}`, 'Connections'],
  ];
  for (const [path, heading] of pages) {
    await page.goto(`${h.url}${path}`);
    await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
    await page.waitForTimeout(500);
    assert.deepEqual(await writeControls(page), [], `write controls on ${path}`);
  }
  // the keys are listed to the viewer, without a control to change them
  await page.goto(`${h.url}/console/apps/${a.app.id}/keys`);
  await page.getByRole('rowheader', { name: a.key }).waitFor();
  assert.equal(await page.getByRole('button', { name: /Set expiry|Revoke/ }).count(), 0);
  await page.goto(`${h.url}/console/apps/${a.app.id}/connections?socket=${socketId}`);
  await page.getByRole('heading', { name: 'Connections', level: 1 }).waitFor();
  // the connection's detail is shown, without a disconnect form
  await screenshot(page, 'viewer-connections');
  await page.getByRole('region', { name: `Socket ${socketId}` }).getByText('Queue depth').waitFor();

  // the server refuses the viewer's writes whatever the page shows
  const writes = [
    ['PATCH', `/apps/${a.app.id}`, { settings: { client_events: true } }],
    ['POST', `/apps/${a.app.id}/keys`, { label: 'x' }],
    ['DELETE', `/apps/${a.app.id}/keys/${a.key}`],
    ['PATCH', `/apps/${a.app.id}/keys/${a.key}`, { expires_at: null }],
    ['POST', `/tenants/${a.tenant.id}/apps`, { name: 'nope' }],
    ['DELETE', `/apps/${a.app.id}/connections/${socketId}`],
  ];
  for (const [method, path, body] of writes) {
    const r = await viewer.api(method, path, body);
    assert.equal(r.status, 403, `${method} ${path} answered ${r.status} ${JSON.stringify(r.body)}`);
  }
  assert.equal(client.connection.state, 'connected');
});

test('a tenant admin of A never sees tenant B', async (t) => {
  const h = await startHerald(t);
  const a = await h.tenantWithApp('alpha');
  const b = await h.tenantWithApp('bravo');
  await h.admin('admin@bravo.test', 'tenant_admin', b.tenant.id);
  const admin = await h.admin('admin@alpha.test', 'tenant_admin', a.tenant.id);

  const page = await newPage(t);
  await signIn(page, h.url, admin);
  await page.getByRole('heading', { name: 'ALPHA', level: 1 }).waitFor();
  await page.getByRole('link', { name: a.app.name }).waitFor();
  await checkA11y(page, 'tenant admin home');
  const seen = [];
  for (const path of ['/console/', '/console/team', `/console/tenants/${a.tenant.id}/audit`, `/console/apps/${a.app.id}`]) {
    await page.goto(`${h.url}${path}`);
    await page.locator('h1').waitFor();
    await page.waitForTimeout(400);
    seen.push(await page.locator('body').innerText());
  }
  for (const text of seen) {
    assert.ok(!text.includes('BRAVO') && !text.includes(b.app.name) && !text.includes('admin@bravo.test'), `tenant B leaked:\n${text}`);
  }
  // B's pages by address: refused, with what to do next
  await page.goto(`${h.url}/console/apps/${b.app.id}/settings`);
  await page.getByRole('alert').filter({ hasText: 'The app could not be loaded' }).waitFor();
  await page.goto(`${h.url}/console/tenants/${b.tenant.id}`);
  await page.getByRole('alert').filter({ hasText: 'The tenant could not be loaded' }).waitFor();
  assert.ok(!(await page.locator('body').innerText()).includes('BRAVO'));
  const tenants = await admin.api('GET', '/tenants');
  assert.deepEqual(tenants.body.map((x) => x.id), [a.tenant.id]);
});

test('an owner manages the team: creates an admin with a generated password, creates and revokes an API token, reads the audit log', async (t) => {
  const h = await startHerald(t);
  const a = await h.tenantWithApp('alpha');
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, '/console/team');
  await page.getByRole('heading', { name: 'Team', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'New admin' }).click();
  await page.getByLabel('Admin email').fill('ops@alpha.test');
  await page.getByLabel('Role', { exact: true }).selectOption('tenant_admin');
  await page.getByLabel('Tenant', { exact: true }).selectOption(a.tenant.id);
  await page.getByRole('button', { name: 'Create admin' }).click();
  const password = await page.locator('.once code').innerText();
  await h.login('ops@alpha.test', password);
  await page.getByRole('rowheader', { name: 'ops@alpha.test' }).waitFor();
  await checkA11y(page, 'team');
  await screenshot(page, 'team');

  await page.getByRole('button', { name: 'Remove ops@alpha.test' }).click();
  await page.getByRole('dialog', { name: 'Remove admin ops@alpha.test?' }).getByRole('button', { name: 'Remove ops@alpha.test' }).click();
  await eventually(async () => (await page.getByRole('rowheader', { name: 'ops@alpha.test' }).count()) === 0, { what: 'the admin to go' });

  await page.goto(`${h.url}/console/tenants/${a.tenant.id}/tokens`);
  await page.getByLabel('Token name').fill('ci');
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = await page.locator('.once code').innerText();
  assert.match(token, /^hrld_/);
  const me = await fetch(`${h.nodeUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(me.status, 200);
  await page.getByRole('button', { name: 'Revoke token ci' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
  await page.getByRole('row').filter({ hasText: 'ci' }).getByText(/revoked/).waitFor();
  await eventually(async () => (await fetch(`${h.nodeUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status === 401,
    { what: 'the revoked token to be refused' });
  await checkA11y(page, 'tokens');

  await page.getByRole('navigation', { name: 'Tenant' }).getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  await page.getByRole('cell', { name: /token/ }).first().waitFor();
  await page.getByLabel('Action').fill('no-such-action');
  await page.getByText('No entry on this page matches the filters.').waitFor();
  await checkA11y(page, 'audit');
  await screenshot(page, 'audit');
});

test('an owner changes an admin\'s role', async (t) => {
  const h = await startHerald(t);
  const a = await h.tenantWithApp('alpha');
  await h.admin('viewer@alpha.test', 'tenant_viewer', a.tenant.id);
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, '/console/team');
  await page.getByRole('button', { name: 'Change role of viewer@alpha.test' }).click();
  await page.getByLabel('New role of viewer@alpha.test').selectOption('tenant_admin');
  await page.getByRole('button', { name: 'Save role' }).click();
  await page.getByRole('row').filter({ hasText: 'viewer@alpha.test' }).getByRole('cell', { name: 'Tenant admin', exact: true }).waitFor();
  const admins = await h.owner.api('GET', '/admins');
  assert.equal(admins.body.find((x) => x.email === 'viewer@alpha.test').role, 'tenant_admin');
});
