// A TCP proxy in front of herald whose network can be cut: cutAll() destroys every live
// connection (the client sees a dropped network, not a close frame), and with hold() new
// connections wait, unconnected, until restore(). Each new connection goes to the next target
// port, round-robin (a load balancer in front of a cluster).
import net from 'node:net';

/** Starts a proxy on 127.0.0.1 to `targets` (ports); `t` gets an after-hook that closes it. */
export async function startTcpProxy(t, targets) {
  let ports = [...targets];
  let next = 0;
  let held = false;
  const waiting = []; // client sockets accepted while held
  const live = new Set();
  let connections = 0;

  const forward = (client) => {
    if (client.destroyed) return;
    connections += 1;
    const upstream = net.connect(ports[next++ % ports.length], '127.0.0.1');
    const pair = [client, upstream];
    const drop = () => {
      for (const s of pair) { s.destroy(); live.delete(s); }
    };
    for (const s of pair) {
      live.add(s);
      s.on('error', drop);
      s.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const server = net.createServer((client) => {
    if (!held) {
      forward(client);
      return;
    }
    client.pause();
    client.on('error', () => client.destroy());
    waiting.push(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });

  const proxy = {
    port: server.address().port,
    /** Connections forwarded so far. */
    get connections() { return connections; },
    /** Live forwarded connections (each is two sockets). */
    get live() { return live.size / 2; },
    /** Destroys every live connection; with {hold: true} new ones wait until restore(). */
    cutAll({ hold = false } = {}) {
      if (hold) held = true;
      for (const s of [...live]) s.destroy();
      live.clear();
    },
    hold() { held = true; },
    /** Forwards the waiting connections and every new one. */
    restore() {
      held = false;
      for (const client of waiting.splice(0)) forward(client);
    },
    /** Where later connections go. */
    setTargets(newTargets) {
      ports = [...newTargets];
      next = 0;
    },
    async close() {
      proxy.cutAll();
      for (const c of waiting.splice(0)) c.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
  if (t) t.after(() => proxy.close());
  return proxy;
}
