// Console performance figures (not part of the test run): `node perf.mjs` (HERALD_TEST_CONSOLE as
// for the tests). Writes PERF.md:
// 1. the compressed size of the initial JS and CSS (every module app.js imports, statically, plus
//    app.css and index.html), gzip -9 and brotli per file;
// 2. the debug console under about 1,000 lifecycle events a second for 10 s (client events from
//    one pusher-js client, each a `client_event` in the log): frame times and long tasks in
//    Chromium, and how many events the page kept.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import zlib from 'node:zlib';
import { startHerald, connected, eventually, OWNER, sleep } from './helpers/herald.mjs';
import { browser, signIn } from './helpers/browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const consoleDir = path.resolve(here, '../../web-console');
const RATE = 1000;
const SECONDS = 10;

async function initialFiles() {
  const seen = new Set();
  const visit = async (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = await readFile(file, 'utf8');
    for (const m of code.matchAll(/(?:import|export)[^'"]*?from\s*["'](\.{1,2}\/[^'"]+)["']/g)) {
      await visit(path.resolve(path.dirname(file), m[1]));
    }
  };
  await visit(path.join(consoleDir, 'app.js'));
  return [...seen, path.join(consoleDir, 'app.css'), path.join(consoleDir, 'index.html')];
}

async function sizes() {
  const rows = [];
  for (const file of await initialFiles()) {
    const raw = await readFile(file);
    rows.push({
      file: path.relative(consoleDir, file), raw: raw.length,
      gzip: zlib.gzipSync(raw, { level: 9 }).length,
      brotli: zlib.brotliCompressSync(raw).length,
    });
  }
  return rows;
}

async function throughput() {
  const hooks = [];
  const t = { after: (fn) => hooks.push(fn) };
  try {
    // 1000 client events a second from one client: above the default ceiling of client_event_rate
    const h = await startHerald(t, { env: { HERALD_CEILING_CLIENT_EVENT_RATE: '5000' } });
    const set = await h.owner.api('PATCH', `/apps/${h.app.id}`, { settings: { client_events: true, client_event_rate: 5000 } });
    if (set.status !== 200) throw new Error(`PATCH settings: ${set.status} ${JSON.stringify(set.body)}`);
    await sleep(600);
    const context = await (await browser()).newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await signIn(page, h.url, OWNER, `/console/apps/${h.app.id}/debug`);
    await page.getByRole('heading', { name: 'Debug console' }).waitFor();
    await page.getByText('Live').waitFor({ timeout: 15000 }).catch(() => {});

    const sender = h.pusherClient();
    await connected(sender);
    const channel = sender.subscribe('private-load');
    await eventually(() => channel.subscribed, { what: 'the sender to subscribe' });

    await page.evaluate(() => {
      window.perf = { frames: [], longTasks: [], start: performance.now() };
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.perf.longTasks.push(e.duration); })
        .observe({ type: 'longtask', buffered: false });
      let last = performance.now();
      const frame = (now) => {
        window.perf.frames.push(now - last);
        last = now;
        if (!window.perf.stop) requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    });
    // the same stream read by Node beside the page: what the server sent, to compare with what the page kept
    const abort = new AbortController();
    let streamed = 0;
    fetch(`${h.nodeUrl}/api/v1/apps/${h.app.id}/events/live`, { headers: { authorization: `Bearer ${h.owner.token}` }, signal: abort.signal })
      .then(async (res) => {
        const decoder = new TextDecoder();
        for await (const chunk of res.body) streamed += (decoder.decode(chunk, { stream: true }).match(/"kind":"client_event"/g) ?? []).length;
      }).catch(() => {});
    await sleep(300);
    let sent = 0;
    const started = Date.now();
    while (Date.now() - started < SECONDS * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * RATE);
      while (sent < due) channel.trigger('client-load', { n: sent++ });
      await sleep(5);
    }
    const elapsed = (Date.now() - started) / 1000;
    await sleep(1500);
    const result = await page.evaluate(() => {
      window.perf.stop = true;
      const f = [...window.perf.frames].sort((a, b) => a - b);
      const pct = (p) => f[Math.min(f.length - 1, Math.floor(p * f.length))];
      return {
        frames: f.length, p50: pct(0.5), p95: pct(0.95), p99: pct(0.99), max: f[f.length - 1],
        inTime: f.filter((d) => d <= 17.7).length, over50: f.filter((d) => d > 50).length,
        longTasks: window.perf.longTasks.length, longTaskMs: window.perf.longTasks.reduce((a, b) => a + b, 0),
        status: /** @type {HTMLElement | null} */ (document.querySelector('.log-status'))?.innerText ?? '',
        rowsInDom: document.querySelectorAll('.log-row').length,
      };
    });
    abort.abort();
    await context.close();
    return { sent, elapsed, ...result, streamed };
  } finally {
    for (const fn of hooks.reverse()) await fn();
    await (await browser()).close();
  }
}

const loadBefore = os.loadavg()[0];
const size = await sizes();
const total = size.reduce((a, r) => ({ raw: a.raw + r.raw, gzip: a.gzip + r.gzip, brotli: a.brotli + r.brotli }), { raw: 0, gzip: 0, brotli: 0 });
const run = await throughput();
const loadAfter = os.loadavg()[0];
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const md = `# Web console performance

Measured by \`tests/console/perf.mjs\` on ${new Date().toISOString().slice(0, 10)} (${os.cpus().length} cores, Debian's Chromium headless;
load average ${loadBefore.toFixed(2)} before the run, ${loadAfter.toFixed(2)} after it: the figures below include the server, the
load generator and the browser on the same machine).

## Initial JS and CSS

What a first visit loads: index.html, app.css and every module app.js imports (${size.length} files, no code split);
each file compressed on its own (the server serves them compressed, brotli or gzip).

| | raw | gzip -9 | brotli |
| --- | ---: | ---: | ---: |
| total | ${kb(total.raw)} | **${kb(total.gzip)}** | ${kb(total.brotli)} |
${size.sort((a, b) => b.gzip - a.gzip).slice(0, 8).map((r) => `| ${r.file} | ${kb(r.raw)} | ${kb(r.gzip)} | ${kb(r.brotli)} |`).join('\n')}

Budget: 150 KB compressed.

## Debug console at ~${RATE} events/s

${run.sent} client events in ${run.elapsed.toFixed(1)} s (${Math.round(run.sent / run.elapsed)}/s) from one pusher-js client, each a
\`client_event\` in the lifecycle log streamed to the page (SSE), batched into the ring every 100 ms and rendered
as a virtualised list (${run.rowsInDom} rows in the DOM at the end).

| frames | p50 | p95 | p99 | max | long tasks (> 50 ms) | time in long tasks |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| ${run.frames} | ${run.p50.toFixed(1)} ms | ${run.p95.toFixed(1)} ms | ${run.p99.toFixed(1)} ms | ${run.max.toFixed(1)} ms | ${run.longTasks} | ${Math.round(run.longTaskMs)} ms |

${(100 * run.inTime / run.frames).toFixed(1)}% of the frames came within one 60 Hz frame (16.7 ms), ${run.over50} took over 50 ms.
Page status at the end: \`${run.status.replace(/\s+/g, ' ').trim()}\`; the same live stream read by Node beside the
page carried ${run.streamed} of the ${run.sent} client events sent; the page keeps the newest 5,000 (its ring).
`;
await writeFile(path.join(here, 'PERF.md'), md);
console.log(md);
