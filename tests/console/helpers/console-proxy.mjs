// Serves web-console/ from disk under /console/ (with the console's security headers, as the
// binary sends them) and passes everything else to a herald node: for working on the console with
// a binary whose embedded copy is older (HERALD_TEST_CONSOLE=proxy, or `node devserver.mjs`).
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const CSP = "default-src 'self'; base-uri 'self'; form-action 'self'; object-src 'none'; frame-ancestors 'none'";
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.txt': 'text/plain',
};

/** Passes `req` to `upstream` and its answer back on `res`; returns the upstream request. */
function relay(upstream, req, res) {
  const out = http.request({
    host: upstream.hostname, port: upstream.port, method: req.method, path: req.url,
    headers: { ...req.headers, host: upstream.host },
  }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
  res.on('close', () => out.destroy());
  req.pipe(out);
  return out;
}

/** Starts the proxy on a free port of 127.0.0.1: {url, close()}. `target` is the node's base URL. */
export async function startConsoleProxy(target, dir) {
  const upstream = new URL(target);
  const server = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    if (pathname === '/' || pathname === '/console') {
      res.writeHead(303, { location: '/console/' }).end();
      return;
    }
    if (pathname.startsWith('/console/')) {
      const rel = decodeURIComponent(pathname.slice('/console/'.length));
      const ext = path.extname(rel);
      const file = ext ? path.join(dir, rel) : path.join(dir, 'index.html');
      if (!file.startsWith(dir)) return void res.writeHead(404).end();
      try {
        const body = await readFile(file);
        res.writeHead(200, {
          'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
          'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY',
          'referrer-policy': 'no-referrer', 'cache-control': 'no-store',
        });
        res.end(body);
      } catch {
        res.writeHead(404, { 'content-security-policy': CSP }).end('not found');
      }
      return;
    }
    relay(upstream, req, res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

/**
 * A plain forwarding proxy in front of a node, for outage tests of the console's live stream:
 * `hold()` keeps new live-stream requests waiting, `dropStreams()` cuts the open ones, `release()`
 * lets the waiting ones through (to `retarget(url)`'s node when it was called: another node of a
 * cluster). `liveRequests` records each live-stream request's Last-Event-ID header.
 * Returns {url, liveRequests, hold(), release(), dropStreams(), retarget(url), close()}.
 */
export async function startStreamProxy(target) {
  let upstream = new URL(target);
  let holding = false;
  /** @type {(() => void)[]} */
  let waiting = [];
  const streams = new Set();
  const liveRequests = [];
  const isLive = (url) => new URL(url, 'http://x').pathname.endsWith('/events/live');
  const forward = (req, res) => {
    const out = relay(upstream, req, res);
    if (isLive(req.url)) {
      const stream = { req, res, out };
      streams.add(stream);
      res.on('close', () => streams.delete(stream));
    }
  };
  const server = http.createServer((req, res) => {
    if (isLive(req.url)) {
      liveRequests.push({ lastEventId: req.headers['last-event-id'] ?? null, at: Date.now() });
      if (holding) {
        waiting.push(() => forward(req, res));
        return;
      }
    }
    forward(req, res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    liveRequests,
    hold() { holding = true; },
    release() {
      holding = false;
      const go = waiting;
      waiting = [];
      go.forEach((f) => f());
    },
    dropStreams() {
      for (const { res, out } of streams) { out.destroy(); res.destroy(); }
      streams.clear();
    },
    retarget(url) { upstream = new URL(url); },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}
