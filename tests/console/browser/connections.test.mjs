// Connections (list, detail, disconnect with a chosen code), failed connections after a key is
// revoked (4001), and channels with presence members and stored history.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, connected, eventually, OWNER } from '../helpers/herald.mjs';
import { newPage, signIn, checkA11y, screenshot } from '../helpers/browser.mjs';

/** Close codes a pusher-js client is told (pusher:error before the close). */
function closeCodes(client) {
  const codes = [];
  client.connection.bind('error', (e) => {
    const code = e?.data?.code ?? e?.error?.data?.code;
    if (code) codes.push(code);
  });
  return codes;
}

test('a connection shows in the list and its detail; disconnecting it closes the client with the chosen code', async (t) => {
  const h = await startHerald(t);
  // on another node than the console's (in a cluster): the list and the disconnect span nodes
  const client = h.pusherClient(h.app, { presence: { user_id: 'alice', user_info: { name: 'Alice' } }, node: -1 });
  const socketId = await connected(client);
  client.subscribe('presence-room');
  const codes = closeCodes(client);

  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/connections`);
  await page.getByRole('heading', { name: 'Connections', level: 1 }).waitFor();
  await eventually(async () => {
    await page.getByRole('button', { name: 'Refresh' }).first().click();
    return (await page.getByRole('button', { name: `Details of socket ${socketId}` }).count()) === 1;
  }, { what: 'the socket in the list' });
  await eventually(async () => {
    await page.getByRole('button', { name: 'Refresh' }).first().click();
    return (await page.getByRole('row').filter({ hasText: socketId }).innerText()).includes('presence-room');
  }, { what: 'its channel in the list' });
  await checkA11y(page, 'connections');
  await screenshot(page, 'connections', { docs: true });

  // filters: another channel hides it
  await page.getByLabel('Channel').fill('elsewhere');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.getByText('No live connections match.').waitFor();
  await page.getByRole('button', { name: 'Reset' }).click();

  await page.getByRole('button', { name: `Details of socket ${socketId}` }).click();
  const detail = page.getByRole('region', { name: `Socket ${socketId}` });
  await detail.getByText('presence-room').waitFor();
  assert.match(await detail.locator('dl').innerText(), /127\.0\.0\.1/);
  await detail.getByLabel('Close code').selectOption('4100');
  await detail.getByLabel('Reason').fill('console test');
  await detail.getByRole('button', { name: 'Disconnect' }).click();
  const dialog = page.getByRole('dialog', { name: `Disconnect socket ${socketId}?` });
  await dialog.getByText('4100 over capacity or too slow').waitFor();
  await checkA11y(page, 'disconnect dialog');
  await dialog.getByRole('button', { name: 'Disconnect' }).click();
  await eventually(() => codes.includes(4100), { what: 'the client to be closed with 4100' });
  await detail.getByText('Disconnected with 4100').waitFor();
});

test('a revoked key closes its client with 4001, and failed connections show it', async (t) => {
  const h = await startHerald(t);
  const extra = await h.owner.api('POST', `/apps/${h.app.id}/keys`, { label: 'spare' });
  assert.equal(extra.status, 201);
  const client = h.pusherClient(h.app, { node: -1 });
  const socketId = await connected(client);
  const codes = closeCodes(client);

  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/keys`);
  await page.getByRole('button', { name: `Revoke key ${h.app.key}` }).click();
  const dialog = page.getByRole('dialog', { name: `Revoke key ${h.app.key}?` });
  await dialog.getByText(/its connections close with 4001/).waitFor();
  await dialog.getByRole('button', { name: 'Revoke key' }).click();
  await eventually(() => codes.includes(4001), { what: 'the client to be closed with 4001' });
  await page.getByRole('row').filter({ hasText: h.app.key }).getByText('revoked').waitFor();

  await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Failed connections' }).click();
  await page.getByRole('heading', { name: 'Failed connections', level: 1 }).waitFor();
  const link = page.getByRole('link', { name: `Events of socket ${socketId}` });
  await eventually(async () => {
    if (await link.count()) return true;
    await page.getByRole('button', { name: 'Refresh' }).click();
    return false;
  }, { what: 'the revoked socket among the failed connections' });
  assert.match(await page.locator('section.card').filter({ has: link }).innerText(), /4001 key revoked or unknown/);
  await checkA11y(page, 'failed connections');
  await screenshot(page, 'failed-connections');
  await link.click();
  await page.getByRole('heading', { name: 'Debug console' }).waitFor();
  assert.equal(await page.getByLabel('Socket').inputValue(), socketId);
  await eventually(async () => (await page.locator('.log-row').allInnerTexts()).some((r) => r.includes('closed') && r.includes('4001')),
    { what: 'the close in the debug console' });
});

test('channels list subscribers, a presence channel its members, and history its messages with serials', async (t) => {
  const h = await startHerald(t);
  // members on two nodes (in a cluster): the console on the first sees both
  const client = h.pusherClient(h.app, { presence: { user_id: 'bob', user_info: { name: 'Bob' } }, node: -1 });
  const carol = h.pusherClient(h.app, { presence: { user_id: 'carol', user_info: { name: 'Carol' } }, node: 0 });
  await connected(client);
  await connected(carol);
  client.subscribe('presence-lobby');
  carol.subscribe('presence-lobby');
  client.subscribe('news');
  await h.serverSdk().trigger('news', 'headline', { n: 1 });
  await h.serverSdk().trigger('news', 'headline', { n: 2 });

  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/channels`);
  await page.getByRole('heading', { name: 'Channels', level: 1 }).waitFor();
  const lobby = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'presence-lobby' }) });
  await eventually(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    return (await lobby.count()) === 1 && /presence-lobby\s+2\s+2/.test(await lobby.innerText());
  }, { what: 'presence-lobby among the channels, with its 2 subscribers and 2 users' });
  await checkA11y(page, 'channels');
  await screenshot(page, 'channels');
  await page.getByRole('link', { name: 'presence-lobby' }).click();
  await page.getByRole('cell', { name: /Bob/ }).waitFor();
  await page.getByRole('cell', { name: /Carol/ }).waitFor();
  assert.equal(await page.getByRole('rowheader', { name: 'bob' }).count(), 1);
  assert.equal(await page.getByRole('rowheader', { name: 'carol' }).count(), 1);

  // the overview counts both connections (one per node in a cluster)
  await page.goto(`${h.url}/console/apps/${h.app.id}`);
  const connections = page.locator('.figure').filter({ hasText: 'Connections' });
  await eventually(async () => (await connections.locator('.figure-value').innerText()).trim() === '2', { timeout: 8000, what: 'the overview to count 2 connections' });

  await page.goto(`${h.url}/console/apps/${h.app.id}/channels/news`);
  await page.getByRole('heading', { name: 'news', level: 1 }).waitFor();
  const history = page.getByRole('region', { name: 'Stored history' });
  await history.getByRole('cell', { name: '{"n":2}' }).waitFor();
  assert.equal(await history.getByRole('rowheader').count(), 2, 'two stored messages with their serials');
  await checkA11y(page, 'channel');
});
