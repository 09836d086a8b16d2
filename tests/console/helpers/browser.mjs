// The browser side of a console test: one Chromium per test file (Debian's /usr/bin/chromium through
// playwright-core), a fresh context per page, sign-in, axe-core checks, screenshots, and a page with
// pusher-js in it (served by a tiny local server) for end-to-end checks beside the console.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SCREENSHOTS = path.resolve(here, '../screenshots');
export const DOC_SCREENSHOTS = path.resolve(here, '../../../docs/screenshots');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

let launched = null;
/** The file's browser, launched on first use and closed after the file's tests. */
export function browser() {
  launched ??= chromium.launch({ executablePath: CHROMIUM, args: ['--disable-dev-shm-usage'] });
  return launched;
}
after(async () => {
  if (launched) await (await launched).close();
});

/**
 * A page in a fresh context (its own cookies). Page errors and CSP violations are collected in
 * page.problems; `t.after` asserts there were none.
 * options: {width, height, dark, strict (default true)}
 */
export async function newPage(t, { width = 1280, height = 900, dark = false, strict = true } = {}) {
  const context = await (await browser()).newContext({
    viewport: { width, height }, colorScheme: dark ? 'dark' : 'light', acceptDownloads: true,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    if (/Content Security Policy|Refused to (apply|load|execute)/i.test(text)) page.problems.push(`CSP: ${text}`);
  });
  t.after(async () => {
    const problems = page.problems;
    await context.close();
    if (strict) assert.deepEqual(problems, [], 'the page had errors or CSP violations');
  });
  return page;
}

/** Signs in on the console at `base` (the sign-in page shows wherever a signed-out user lands). */
export async function signIn(page, base, { email, password }, at = '/console/') {
  await page.goto(`${base}${at}`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).waitFor();
}

let axeSource = null;
/** Runs axe-core in the page; fails on serious or critical violations (listed with their nodes). */
export async function checkA11y(page, what) {
  axeSource ??= await readFile(path.resolve(here, '../node_modules/axe-core/axe.min.js'), 'utf8');
  // Evaluated through the DevTools protocol: the console's CSP (no inline script) stays on.
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `axe: serious or critical violations on ${what}`);
  return result;
}

/** Saves a full-page screenshot as NAME.png in tests/console/screenshots; the pages marked `docs: true`
 * go to docs/screenshots instead when HERALD_DOC_SCREENSHOTS=1 (so a test run leaves the checkout as it was). */
export async function screenshot(page, name, { docs = false } = {}) {
  const dir = docs && process.env.HERALD_DOC_SCREENSHOTS === '1' ? DOC_SCREENSHOTS : SCREENSHOTS;
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: !docs });
}

let clientServer = null;
/** A local page with pusher-js: /client.html?key=&port=&channel= records what its channel receives. */
export async function clientPageServer() {
  if (clientServer) return clientServer;
  const pusherJs = await readFile(path.resolve(here, '../node_modules/pusher-js/dist/web/pusher.min.js'));
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pusher-js client</title>
<script src="/pusher.min.js" defer></script><script src="/client.js" defer></script></head>
<body><h1>pusher-js client</h1><p>socket: <span id="socket">-</span></p><p>state: <span id="state">-</span></p><ol id="received"></ol></body></html>`;
  const script = `window.received = []; window.closes = []; window.states = [];
const q = new URLSearchParams(location.search);
const pusher = new Pusher(q.get('key'), { cluster: 'herald', wsHost: '127.0.0.1', wsPort: Number(q.get('port')), forceTLS: false,
  enabledTransports: ['ws'], disableStats: true });
window.pusher = pusher;
pusher.connection.bind('state_change', (s) => { window.states.push(Math.round(performance.now()) + ' ms ' + s.current); document.getElementById('state').textContent = s.current;
  document.getElementById('socket').textContent = pusher.connection.socket_id || '-'; });
pusher.connection.bind('error', (e) => { window.states.push(Math.round(performance.now()) + ' ms error ' + JSON.stringify(e)); const code = e && (e.data && e.data.code || e.error && e.error.data && e.error.data.code); if (code) window.closes.push(code); });
const channel = pusher.subscribe(q.get('channel') || 'my-channel');
channel.bind_global((name, data) => { if (name.startsWith('pusher')) return; window.received.push({ name, data });
  const li = document.createElement('li'); li.textContent = name + ' ' + JSON.stringify(data); document.getElementById('received').append(li); });`;
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (p === '/pusher.min.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(pusherJs);
    else if (p === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(page);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  server.unref(); // lives as long as the test file; never keeps it running
  clientServer = { url: `http://127.0.0.1:${server.address().port}` };
  return clientServer;
}

/** Opens the pusher-js page for `key` against node `port`; resolves with {page, socketId}. */
export async function openClientPage(t, key, port, channel = 'my-channel') {
  const { url } = await clientPageServer();
  const page = await newPage(t); // strict: an error in its script fails the test (it once hid a client that never connected)
  await page.goto(`${url}/client.html?key=${encodeURIComponent(key)}&port=${port}&channel=${encodeURIComponent(channel)}`);
  await page.waitForFunction(() => window.pusher?.connection.state === 'connected', null, { timeout: 10000 }).catch(async (e) => {
    const states = await page.evaluate(() => window.states).catch(() => 'unknown');
    throw new Error(`the pusher-js page did not connect to port ${port}: ${e.message}; its states: ${JSON.stringify(states)}; problems: ${JSON.stringify(page.problems)}`);
  });
  const socketId = await page.evaluate(() => window.pusher.connection.socket_id);
  return { page, socketId };
}
