// Signing in and out, tenants, apps, keys and settings, through the console in Chromium, with
// pusher-js clients beside it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, connected, eventually, OWNER } from '../helpers/herald.mjs';
import { newPage, signIn, checkA11y, screenshot } from '../helpers/browser.mjs';

test('an owner signs in, stays signed in across a reload with the token in memory only, and signs out', async (t) => {
  const h = await startHerald(t);
  const page = await newPage(t);
  await page.goto(`${h.url}/`);
  await page.getByRole('heading', { name: 'Sign in to Herald' }).waitFor();
  await checkA11y(page, 'sign in');
  await screenshot(page, 'sign-in');

  await page.getByLabel('Email').fill(OWNER.email);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong email or password' }).waitFor();

  await signIn(page, h.url, OWNER);
  await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
  const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
  assert.equal(stored, 0, 'nothing is kept in web storage');
  const cookies = await page.context().cookies();
  const refresh = cookies.find((c) => c.name === 'herald_refresh');
  assert.ok(refresh?.httpOnly, 'the refresh token is an HttpOnly cookie');
  assert.equal(refresh.path, '/api/v1/auth');
  assert.equal(await page.evaluate(() => document.cookie), '', 'no script can read the cookie');

  await page.reload();
  await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();

  await page.getByRole('link', { name: /owner@console\.test/ }).click();
  await page.getByRole('heading', { name: 'Account' }).waitFor();
  const facts = await page.locator('dl.facts').innerText();
  assert.match(facts, /owner@console\.test/);
  assert.match(facts, /Owner/);
  await checkA11y(page, 'account');
  await screenshot(page, 'account');

  await page.getByRole('button', { name: 'Sign out' }).first().click();
  await page.getByRole('heading', { name: 'Sign in to Herald' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in to Herald' }).waitFor();
});

test('an admin changes their password; a wrong current password is said by its field', async (t) => {
  const h = await startHerald(t);
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, '/console/account');
  await page.getByRole('heading', { name: 'Account' }).waitFor();
  // change password: a wrong current one is said next to its field
  await page.getByLabel('Current password').fill('not it at all');
  await page.getByLabel('New password', { exact: true }).fill('a brand new password');
  await page.getByLabel('New password again').fill('a brand new password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.locator('.field.has-error').filter({ hasText: 'Current password' }).getByText('The current password is wrong.').waitFor();
  await page.getByLabel('Current password').fill(OWNER.password);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('status').filter({ hasText: 'Password changed' }).waitFor();
  assert.equal((await h.login(OWNER.email, 'a brand new password').then(() => 'ok')), 'ok');
  await assert.rejects(h.login(OWNER.email, OWNER.password), /401/, 'the old password is refused');
  // the change ended every session of the admin; this page signed in again and survives a reload
  await page.reload();
  await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Sign in to Herald' }).count(), 0);
});

test('an owner creates a tenant, an app and a key; secrets are shown once', async (t) => {
  const h = await startHerald(t);
  const page = await newPage(t);
  await signIn(page, h.url, OWNER);

  await page.getByRole('button', { name: 'New tenant' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Acme Corp');
  assert.equal(await page.getByLabel('Slug').inputValue(), 'acme-corp', 'the slug follows the name');
  await page.getByLabel('Max apps').fill('5');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await page.getByRole('link', { name: 'Acme Corp' }).waitFor();
  await checkA11y(page, 'tenants');
  await screenshot(page, 'tenants');

  // a duplicate slug: the API's message next to the slug field
  await page.getByRole('button', { name: 'New tenant' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Acme Corp');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await page.locator('.field.has-error').filter({ hasText: 'Slug' }).waitFor();
  await page.getByRole('button', { name: 'Cancel' }).click();

  await page.getByRole('link', { name: 'Acme Corp' }).click();
  await page.getByRole('heading', { name: 'Acme Corp', level: 1 }).waitFor();
  await page.getByText('No apps in this tenant yet.').waitFor();
  await page.getByRole('button', { name: 'New app' }).click();
  await page.getByLabel('App name').fill('shop');
  await page.getByRole('button', { name: 'Create app' }).click();
  await page.getByRole('heading', { name: 'App “shop” created' }).waitFor();
  const secret = await page.locator('.once code').innerText();
  assert.match(secret, /^\S{8,}$/, 'the new secret is shown');
  await page.getByRole('button', { name: 'Copy secret' }).waitFor();
  await checkA11y(page, 'tenant');
  await screenshot(page, 'tenant');

  await page.getByRole('link', { name: 'shop', exact: true }).click();
  await page.getByRole('heading', { name: 'shop', level: 1 }).waitFor();
  await page.locator('.figure').filter({ hasText: 'Connections' }).waitFor();

  await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Keys' }).click();
  await page.getByRole('heading', { name: 'Keys', level: 1 }).waitFor();
  await page.getByLabel('Key label').fill('web');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByRole('heading', { name: /^Key \S+ created$/ }).waitFor();
  const keySecret = await page.locator('.once code').innerText();
  await page.getByRole('cell', { name: 'web' }).waitFor();
  await checkA11y(page, 'keys');
  await screenshot(page, 'keys');

  // the new key works at once, with the secret the console showed
  const appId = new URL(page.url()).pathname.split('/')[3];
  const keyName = (await page.getByRole('heading', { name: /^Key \S+ created$/ }).innerText()).split(' ')[1];
  const client = h.pusherClient({ key: keyName });
  await connected(client);
  const published = await h.serverSdk({ id: appId, key: keyName, secret: keySecret }).trigger('c', 'e', { ok: 1 });
  assert.equal(published.status, 200);

  // getting started: the snippets carry this node's address, the app and the just-made secret
  await page.getByRole('link', { name: 'Snippets with this key' }).click();
  await page.getByRole('heading', { name: 'Getting started' }).waitFor();
  const snippet = await page.getByRole('tabpanel').innerText();
  assert.ok(snippet.includes(keyName) && snippet.includes(`wsPort: ${new URL(h.url).port}`), snippet);
  await page.getByRole('tab', { name: 'Node' }).click();
  const node = await page.getByRole('tabpanel').innerText();
  assert.ok(node.includes(appId) && node.includes(keySecret), node);
  await checkA11y(page, 'getting started');
  await screenshot(page, 'getting-started');
});

test('a setting saved in the console reaches a connected client; a bad value shows the API message by its field', async (t) => {
  const h = await startHerald(t);
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/settings`);
  await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();

  const watcher = h.pusherClient();
  const room = watcher.subscribe('room');
  await eventually(() => room.subscribed, { what: 'the watcher to subscribe' });
  const counts = [];
  room.bind('pusher:subscription_count', (d) => counts.push(d.subscription_count));

  await page.getByLabel('Subscription count').check();
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
  // Every node applies a change within a second (the node the console wrote through at once): in a
  // cluster the other client's node may count its subscription before it knows of the setting, so
  // the other client subscribes again until the watcher is told.
  const other = h.pusherClient();
  await connected(other);
  other.subscribe('room');
  await eventually(() => {
    if (counts.includes(2)) return true;
    if (other.channel('room')?.subscribed) {
      other.unsubscribe('room');
      other.subscribe('room');
    }
    return false;
  }, { interval: 400, what: 'the watcher to get subscription_count 2 after the change' });

  await page.getByLabel('Max connections').fill('-1');
  await page.getByRole('button', { name: 'Save settings' }).click();
  const field = page.locator('.field.has-error').filter({ has: page.getByLabel('Max connections') });
  await field.waitFor();
  const message = await field.locator('.field-error').innerText();
  assert.match(message, /max_connections|-1/, message);
  assert.equal(await page.getByLabel('Max connections').getAttribute('aria-invalid'), 'true');

  // allowed origins: a client from another origin is then refused
  await page.getByRole('button', { name: 'Discard changes' }).click();
  await page.getByRole('textbox', { name: 'Allowed origins' }).fill('https://only.example');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
  const app = await h.owner.api('GET', `/apps/${h.app.id}`);
  assert.deepEqual(app.body.settings.allowed_origins, ['https://only.example']);
  assert.equal(app.body.settings.subscription_count, true);
  await checkA11y(page, 'settings');
  await screenshot(page, 'settings');
});

test('an owner sets, changes and removes an active key\'s expiry; a past time is refused by its field', async (t) => {
  const h = await startHerald(t);
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/keys`);
  const key = h.app.key;
  const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: key }) });
  await row.getByText('never').waitFor();
  const open = page.getByRole('button', { name: `Set expiry of key ${key}` });
  assert.equal(await open.getAttribute('aria-expanded'), 'false');
  await open.click();
  assert.equal(await open.getAttribute('aria-expanded'), 'true');
  const form = page.getByRole('form', { name: `Expiry of key ${key}` });
  const input = form.getByLabel(`New expiry of key ${key}`);
  assert.ok(await input.evaluate((el) => el === document.activeElement), 'the field has the focus');

  // a time in the past: said by the field, nothing sent
  await input.fill('2001-02-03T04:05');
  await form.getByRole('button', { name: 'Save expiry' }).click();
  await form.locator('.field.has-error').getByText(/in the future/).waitFor();
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  assert.equal((await h.owner.api('GET', `/apps/${h.app.id}/keys`)).body[0].expires_at, null);

  const local = '2031-05-06T07:08';
  const expected = await page.evaluate((v) => new Date(v).getTime() / 1000, local);
  await input.fill(local);
  await form.getByRole('button', { name: 'Save expiry' }).click();
  await page.getByRole('status').filter({ hasText: `Key ${key} expires` }).waitFor();
  assert.equal(await form.count(), 0, 'the form closes');
  assert.ok(await open.evaluate((el) => el === document.activeElement), 'the focus is back on the row\'s button');
  const keys = async () => (await h.owner.api('GET', `/apps/${h.app.id}/keys`)).body.find((k) => k.key === key);
  assert.equal((await keys()).expires_at, expected);
  assert.ok(!(await row.innerText()).includes('never'));
  await row.getByText('active').waitFor();
  await checkA11y(page, 'keys with an expiry');

  // the form opens with the current expiry; removing it makes the key last forever again
  await open.click();
  assert.equal(await input.inputValue(), local);
  await checkA11y(page, 'key expiry form');
  await screenshot(page, 'key-expiry');
  await form.getByRole('button', { name: 'Remove expiry' }).click();
  await page.getByRole('status').filter({ hasText: `Key ${key} no longer expires` }).waitFor();
  assert.equal((await keys()).expires_at, null);
  await row.getByText('never').waitFor();

  // the key still works after all this
  const client = h.pusherClient();
  await connected(client);
});
