// A TCP load balancer for tests: listens on a free port of 127.0.0.1 and
// forwards each new connection, round-robin, to one of its live backends,
// trying the next one when a backend refuses. cut(fraction) drops a random
// share of the connections it holds (both sides reset at once), which is what
// a flaky network does to WebSocket clients. It also reads the socket id out
// of herald's pusher:connection_established frame (the first frame a backend
// sends after the upgrade; server frames are not masked), so a test can tell
// which node a pusher-js connection was on.
import net from 'node:net';

const SOCKET_ID_RE = /socket_id\\?"\s*:\s*\\?"(\d+\.\d+)/;
const SNIFF_BYTES = 8192; // the upgrade response plus connection_established fit in much less

/**
 * startBalancer(t, backends): backends are ports or {port, name}.
 * Returns {port, cut(fraction), add(port, name), remove(port, {drop}), liveBackends(),
 *          connections(), perBackend(), backendOf(socketId), stats, close()}.
 */
export async function startBalancer(t, backends = [], { host = '127.0.0.1' } = {}) {
  const pool = []; // {port, name, live}
  const pairs = new Set(); // established {client, upstream, backend, socketId, since}
  const bySocketId = new Map(); // socket id -> backend name
  const open = new Set(); // every socket (client or upstream) not closed yet
  const track = (sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
  };
  const stats = { accepted: 0, forwarded: 0, refusedBackends: 0, noBackend: 0, cut: 0 };
  let rr = 0;

  const add = (port, name = `:${port}`) => {
    const existing = pool.find((b) => b.port === port);
    if (existing) existing.live = true;
    else pool.push({ port, name, live: true });
  };
  for (const b of backends) typeof b === 'number' ? add(b) : add(b.port, b.name);

  // A reset (RST) is what a dropped network looks like to both ends. libuv refuses to reset a socket
  // whose write side is shutting down (pipe() ends it when the other side sent FIN), and the handle
  // then never closes (the process spins at exit): those, and sockets still connecting, are destroyed.
  const reset = (sock) => {
    if (sock.destroyed) return;
    if (typeof sock.resetAndDestroy === 'function' && sock.readyState === 'open' && !sock.writableEnded) sock.resetAndDestroy();
    else sock.destroy();
  };
  const kill = (sock) => {
    if (!sock.destroyed) sock.destroy();
  };

  /** Connects `client` to the next live backend it has not tried yet (`tried`: a Set). */
  function dial(client, tried) {
    const live = pool.filter((be) => be.live && !tried.has(be));
    if (live.length === 0) {
      stats.noBackend++;
      client.destroy();
      return;
    }
    const backend = live[rr++ % live.length];
    tried.add(backend);
    const upstream = net.connect({ host, port: backend.port });
    track(upstream);
    const failBeforeConnect = () => {
      stats.refusedBackends++;
      upstream.destroy();
      if (!client.destroyed) dial(client, tried);
    };
    upstream.once('error', failBeforeConnect);
    upstream.once('connect', () => {
      upstream.off('error', failBeforeConnect);
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      stats.forwarded++;
      upstream.setNoDelay(true);
      const pair = { client, upstream, backend: backend.name, port: backend.port, socketId: null, since: Date.now() };
      pairs.add(pair);
      let seen = 0;
      const sniff = (chunk) => {
        seen += chunk.length;
        const m = SOCKET_ID_RE.exec(chunk.toString('latin1'));
        if (m) {
          pair.socketId = m[1];
          bySocketId.set(m[1], backend.name);
        }
        if (m || seen > SNIFF_BYTES) upstream.off('data', sniff);
      };
      upstream.on('data', sniff);
      // one side gone: an error drops the other at once; a close lets pipe() flush and end it first
      const broken = () => {
        pairs.delete(pair);
        kill(client);
        kill(upstream);
      };
      const closed = () => {
        pairs.delete(pair);
        setTimeout(broken, 1000).unref();
      };
      upstream.on('error', broken);
      upstream.on('close', closed);
      client.on('error', broken);
      client.on('close', closed);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    stats.accepted++;
    track(client);
    client.setNoDelay(true);
    client.on('error', () => {}); // a reset before the upstream is there
    dial(client, new Set());
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  server.on('error', () => {});

  const b = {
    port: server.address().port,
    stats,
    add,
    /** Takes a backend out of the rotation; {drop: true} also resets its connections. */
    remove(port, { drop = false } = {}) {
      for (const be of pool) if (be.port === port) be.live = false;
      if (drop) {
        for (const p of [...pairs]) {
          if (p.port === port) {
            pairs.delete(p);
            reset(p.client);
            reset(p.upstream);
          }
        }
      }
    },
    liveBackends: () => pool.filter((be) => be.live).map((be) => be.name),
    connections: () => pairs.size,
    perBackend() {
      const out = {};
      for (const p of pairs) out[p.backend] = (out[p.backend] || 0) + 1;
      return out;
    },
    /** The backend (name) a connection with this pusher socket id went to, if seen. */
    backendOf: (socketId) => bySocketId.get(socketId) ?? null,
    /** Resets a random `fraction` of the established connections; returns how many. */
    cut(fraction) {
      const all = [...pairs];
      const n = Math.round(all.length * fraction);
      for (let k = 0; k < n; k++) {
        const j = k + Math.floor(Math.random() * (all.length - k));
        [all[k], all[j]] = [all[j], all[k]];
        const p = all[k];
        pairs.delete(p);
        reset(p.client);
        reset(p.upstream);
      }
      stats.cut += n;
      return n;
    },
    async close() {
      pairs.clear();
      for (const sock of [...open]) kill(sock);
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
  if (t) t.after(() => b.close());
  return b;
}
