// Every main page at 1280 px and at 390 px wide, light and dark: no serious or critical axe-core
// violation, nothing wider than the screen, every page keyboard-reachable from the skip link.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, connected, OWNER } from '../helpers/herald.mjs';
import { newPage, signIn, checkA11y, screenshot } from '../helpers/browser.mjs';

const PAGES = (app, tenant) => [
  ['tenants', '/console/tenants', 'Tenants'],
  ['tenant', `/console/tenants/${tenant}`, null],
  ['overview', `/console/apps/${app}`, null],
  ['start', `/console/apps/${app}/start`, 'Getting started'],
  ['keys', `/console/apps/${app}/keys`, 'Keys'],
  ['settings', `/console/apps/${app}/settings`, 'Settings'],
  ['debug', `/console/apps/${app}/debug`, 'Debug console'],
  ['connections', `/console/apps/${app}/connections`, 'Connections'],
  ['failed', `/console/apps/${app}/failed`, 'Failed connections'],
  ['channels', `/console/apps/${app}/channels`, 'Channels'],
  ['webhooks', `/console/apps/${app}/webhooks`, 'Webhooks'],
  ['team', '/console/team', 'Team'],
  ['account', '/console/account', 'Account'],
];

for (const [width, dark] of [[1280, false], [390, false], [390, true], [1280, true]]) {
  test(`every main page at ${width} px${dark ? ', dark' : ''}: accessible, nothing wider than the screen`, async (t) => {
    const h = await startHerald(t);
    const client = h.pusherClient();
    await connected(client);
    client.subscribe('my-channel');
    const page = await newPage(t, { width, height: 844, dark });
    await signIn(page, h.url, OWNER);
    for (const [name, path, heading] of PAGES(h.app.id, h.app.tenant_id)) {
      await page.goto(`${h.url}${path}`);
      await (heading ? page.getByRole('heading', { name: heading, level: 1 }) : page.locator('h1')).waitFor();
      await page.waitForTimeout(400); // lists and figures load
      await checkA11y(page, `${name} at ${width} px${dark ? ' dark' : ''}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `${name} at ${width} px is ${overflow} px wider than the screen`);
      if (width === 390 || dark) await screenshot(page, `${name}-${width}${dark ? '-dark' : ''}`);
      if (name === 'overview' && width === 1280 && !dark) {
        await page.waitForTimeout(3500); // a second poll gives the rates
        await screenshot(page, 'overview', { docs: true });
      }
    }
    // keyboard: the skip link is the first stop and leads to the page
    await page.goto(`${h.url}/console/apps/${h.app.id}`);
    await page.locator('h1').waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  });
}
