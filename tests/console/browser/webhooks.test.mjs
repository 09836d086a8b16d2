// Webhooks: an endpoint added in Settings, a delivery that fails shows its attempts, a redelivery
// succeeds once the endpoint answers 200, and a test event.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, connected, eventually, OWNER } from '../helpers/herald.mjs';
import { newPage, signIn, checkA11y, screenshot } from '../helpers/browser.mjs';
import { webhookReceiver } from '../helpers/webhook-receiver.mjs';

test('an endpoint added in Settings gets deliveries; a failed one shows its attempts and its redelivery succeeds', async (t) => {
  // retries 10 ms apart, doubling: a failing delivery is dead within seconds
  const h = await startHerald(t, { env: { HERALD_WEBHOOK_RETRY_BASE_MS: '10' } });
  const receiver = await webhookReceiver(t);
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/settings`);
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await page.getByLabel('Endpoint 1 URL').fill(receiver.url);
  const events = page.getByRole('group', { name: 'Events sent to endpoint 1' });
  assert.equal(await events.getByLabel('channel_occupied').isChecked(), true);
  await events.getByLabel('member_added').check();
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
  const saved = await h.owner.api('GET', `/apps/${h.app.id}`);
  assert.deepEqual(saved.body.settings.webhooks[0].events, ['channel_occupied', 'channel_vacated', 'member_added']);

  // a bad URL: the API's message (field settings.webhooks[0].url) by that endpoint's URL field
  await page.getByLabel('Endpoint 1 URL').fill('ftp://nowhere');
  await page.getByRole('button', { name: 'Save settings' }).click();
  const urlField = page.locator('.field.has-error').filter({ has: page.getByLabel('Endpoint 1 URL') });
  await urlField.waitFor();
  assert.match(await urlField.locator('.field-error').innerText(), /ftp:\/\/nowhere.*http/);
  assert.equal(await page.getByLabel('Endpoint 1 URL').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByRole('region', { name: 'Webhook endpoints' }).getByRole('alert').count(), 0, 'not said for the whole list');
  // no event: said by that endpoint's events (settings.webhooks[0].events)
  await page.getByLabel('Endpoint 1 URL').fill(receiver.url);
  for (const e of ['channel_occupied', 'channel_vacated', 'member_added']) await events.getByLabel(e).uncheck();
  await page.getByRole('button', { name: 'Save settings' }).click();
  await events.getByText(/at least one event/).waitFor();
  assert.equal(await urlField.count(), 0, 'the URL is no longer said to be wrong');
  await page.getByRole('button', { name: 'Discard changes' }).click();
  assert.equal(await events.getByLabel('member_added').isChecked(), true, 'discard brings the saved endpoint back');

  const client = h.pusherClient(h.app, { node: -1 });
  await connected(client);
  client.subscribe('hooked');
  await eventually(() => receiver.requests.length >= 3, { timeout: 20000, what: 'failed attempts at the receiver' });

  await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
  await page.getByLabel('Status').selectOption('dead');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  // The list may refresh (newer dead deliveries on top) between finding a row and clicking it:
  // the row is found again by its delivery's id, never by its place.
  const anyDead = page.getByRole('button', { name: /^Attempts of delivery \d+$/ }).first();
  await eventually(async () => {
    if (await anyDead.count()) return true;
    await page.getByRole('button', { name: 'Refresh' }).click();
    return false;
  }, { timeout: 30000, what: 'a dead delivery' });
  const id = (await anyDead.getAttribute('aria-label')).split(' ').pop();
  const expand = page.getByRole('button', { name: `Attempts of delivery ${id}`, exact: true });
  await expand.click();
  assert.equal(await expand.getAttribute('aria-expanded'), 'true');
  const attempts = page.getByRole('table', { name: `Attempts of delivery ${id}`, exact: true });
  await attempts.waitFor();
  assert.ok(await attempts.getByRole('cell', { name: '500', exact: true }).count() >= 2, 'every failed attempt with its status');
  await checkA11y(page, 'webhooks');
  await screenshot(page, 'webhooks');

  receiver.status = 200;
  await page.getByRole('button', { name: `Redeliver delivery ${id}`, exact: true }).click();
  await page.getByLabel('Status').selectOption('');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await eventually(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    const row = page.getByRole('row').filter({ has: page.getByRole('button', { name: `Attempts of delivery ${id}`, exact: true }) });
    return (await row.count()) === 1 && (await row.innerText()).includes('delivered');
  }, { timeout: 20000, what: `delivery ${id} to be delivered after the redelivery` });
  assert.ok(receiver.requests.some((r) => r.answered === 200));
});

test('a test event to an endpoint says how it answered', async (t) => {
  const h = await startHerald(t);
  const receiver = await webhookReceiver(t);
  receiver.status = 200;
  const set = await h.owner.api('PATCH', `/apps/${h.app.id}`, { settings: { webhooks: [{ url: receiver.url, events: ['channel_occupied'] }] } });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/webhooks`);
  await page.getByRole('button', { name: 'Send test event' }).click();
  await page.getByRole('status').filter({ hasText: 'The endpoint answered 200' }).waitFor();
  assert.ok(receiver.requests.length >= 1);
});
