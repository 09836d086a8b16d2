// The debug console, live: a pusher-js connection opened in another page shows up, an event sent
// from the event creator arrives in that page, filters, pause/resume without a gap, reload with
// the last minutes loaded once, NDJSON export, a dropped stream resumed with Last-Event-ID. In a
// cluster the clients and publishes are on another node than the console's.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startHerald, eventually, OWNER } from '../helpers/herald.mjs';
import { newPage, signIn, checkA11y, screenshot, openClientPage } from '../helpers/browser.mjs';
import { startStreamProxy } from '../helpers/console-proxy.mjs';

/** The rows of the event log now in the DOM, as text. */
const rows = (page) => page.locator('.log-row').allInnerTexts();

test('the debug console shows a connection opened in another page, live and after a reload, once', async (t) => {
  const h = await startHerald(t);
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/debug`);
  await page.getByRole('heading', { name: 'Debug console' }).waitFor();
  await page.getByText('No events yet.').waitFor();
  await checkA11y(page, 'debug console (empty)');

  // on another node than the console's (in a cluster): the live log spans nodes
  const { socketId } = await openClientPage(t, h.app.key, h.otherNode.port, 'my-channel');
  await eventually(async () => (await rows(page)).some((r) => r.includes('connected') && r.includes(socketId)),
    { what: `the connection of ${socketId} in the log` });
  await eventually(async () => (await rows(page)).some((r) => r.includes('subscribed') && r.includes('my-channel')),
    { what: 'its subscription in the log' });

  // the row opens its details; a filter narrows the log to that socket
  await page.locator('.log-row').filter({ hasText: 'connected' }).filter({ hasText: socketId }).click();
  await page.getByRole('heading', { name: 'connection_opened' }).waitFor();
  await checkA11y(page, 'debug console with events');
  await screenshot(page, 'debug-console', { docs: true });
  await page.getByRole('button', { name: `Only socket ${socketId}` }).click();
  assert.equal(await page.getByLabel('Socket').inputValue(), socketId);
  assert.ok((await rows(page)).every((r) => r.includes(socketId)));

  // a reload loads the last minutes again, with each event once
  await page.reload();
  await page.getByRole('heading', { name: 'Debug console' }).waitFor();
  assert.equal(await page.getByLabel('Socket').inputValue(), socketId, 'the filters survive the reload');
  await eventually(async () => (await rows(page)).filter((r) => r.includes('connected') && r.includes(socketId)).length === 1,
    { what: 'the connection once in the reloaded log' });
  await page.waitForTimeout(1500);
  assert.equal((await rows(page)).filter((r) => r.includes('connected') && r.includes(socketId)).length, 1, 'no duplicate after the stream caught up');

  // export: the shown rows as NDJSON
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export NDJSON' }).click();
  const file = await (await download).path();
  const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((e) => e.kind === 'connection_opened' && e.socket_id === socketId), 'the export holds the shown events');
});

test('pause keeps new events aside ("N new") and resume shows them without a gap', async (t) => {
  const h = await startHerald(t);
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/debug`);
  await page.getByRole('heading', { name: 'Debug console' }).waitFor();
  await page.getByLabel('Search').fill('paused-');
  await page.getByRole('button', { name: 'Pause' }).click();
  const sdk = h.serverSdk(h.app, h.otherNode); // published through another node than the console's (in a cluster)
  for (let i = 0; i < 3; i++) await sdk.trigger(`paused-${i}`, 'tick', { i });
  await page.getByRole('button', { name: /3 new · Resume/ }).waitFor({ timeout: 10000 });
  assert.equal((await rows(page)).length, 0, 'nothing shown while paused');
  await page.getByRole('button', { name: /3 new · Resume/ }).click();
  await eventually(async () => (await rows(page)).length === 3, { what: 'the three held events' });
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.getByText('No events yet.').waitFor();
});

test('an event sent from the event creator arrives in a pusher-js page', async (t) => {
  const h = await startHerald(t);
  const page = await newPage(t);
  await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/debug`);
  const { page: client } = await openClientPage(t, h.app.key, h.otherNode.port, 'lobby');
  await page.getByLabel('Channels').fill('lobby');
  await page.getByLabel('Event name').fill('greeting');
  await page.getByLabel('Event data (JSON)').fill('{"hello": "from the console"}');
  await page.getByRole('button', { name: 'Send event' }).click();
  await page.getByRole('status').filter({ hasText: 'Sent greeting' }).waitFor();
  await client.waitForFunction(() => window.received.some((r) => r.name === 'greeting' && r.data.hello === 'from the console'));

  // bad JSON is said next to the data field, nothing is sent
  await page.getByLabel('Event data (JSON)').fill('{hello}');
  await page.getByRole('button', { name: 'Send event' }).click();
  await page.locator('.field.has-error').filter({ hasText: 'Event data (JSON)' }).getByText(/Not JSON/).waitFor();
});

test('a dropped live stream resumes with Last-Event-ID (through another node in a cluster): what it missed shows, nothing twice', async (t) => {
  const h = await startHerald(t);
  const proxy = await startStreamProxy(h.url);
  t.after(proxy.close);
  const page = await newPage(t);
  await signIn(page, proxy.url, OWNER, `/console/apps/${h.app.id}/debug`);
  const status = page.locator('.log-status [role=status]');
  await status.filter({ hasText: 'Live' }).waitFor();
  await h.serverSdk().trigger('before-drop', 'tick', {});
  await eventually(async () => (await rows(page)).some((r) => r.includes('before-drop')), { what: 'the first publish in the log' });
  // a publish's event names its channels in its preview only (a publish may go to several)
  const logged = async (channel) => (await h.owner.api('GET', `/apps/${h.app.id}/events?kind=publish_accepted`)).body.events
    .filter((e) => JSON.stringify(e.detail).includes(channel));
  const [lastSeen] = await logged('before-drop');

  proxy.hold();
  proxy.dropStreams();
  await status.filter({ hasText: 'Reconnecting' }).waitFor();
  const other = h.serverSdk(h.app, h.otherNode);
  await other.trigger('while-away-1', 'tick', {});
  await other.trigger('while-away-2', 'tick', {});
  await eventually(async () => (await logged('while-away-2')).length === 1, { what: 'the publishes in the log' });
  proxy.retarget(h.otherNode.url); // in a cluster, the stream comes back through another node
  proxy.release();
  await status.filter({ hasText: 'Live' }).waitFor();
  await eventually(async () => {
    const shown = await rows(page);
    return shown.some((r) => r.includes('while-away-1')) && shown.some((r) => r.includes('while-away-2'));
  }, { what: 'the missed publishes in the log' });
  assert.equal(proxy.liveRequests.length, 2, 'one reconnect');
  assert.equal(proxy.liveRequests[0].lastEventId, null);
  assert.equal(proxy.liveRequests[1].lastEventId, lastSeen.id, 'the reconnect resumes after the last event seen');
  await page.waitForTimeout(500);
  const shown = await rows(page);
  for (const channel of ['before-drop', 'while-away-1', 'while-away-2']) {
    assert.equal(shown.filter((r) => r.includes(channel)).length, 1, `${channel} once (the replay overlaps what was seen)`);
  }
});
