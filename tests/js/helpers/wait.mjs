// Waiting helpers: every wait has a timeout and a message saying what was awaited.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the first argument of the first emission of `event`
 * (optionally matching `filter`), or with all arguments when `all` is set
 * (pusher-js passes (data, metadata) to channel event handlers); rejects
 * after `ms` with a message naming what was awaited. Works with pusher-js
 * Dispatchers (bind/unbind) and Node EventEmitters (on/off). */
export function waitFor(emitter, event, ms = 5000, { filter, what, all = false } = {}) {
  return new Promise((resolve, reject) => {
    const label = what || `event "${event}"`;
    const usesBind = typeof emitter.bind === 'function' && typeof emitter.unbind === 'function';
    const off = () => (usesBind ? emitter.unbind(event, handler) : emitter.off(event, handler));
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${label}`));
    }, ms);
    function handler(...args) {
      if (filter && !filter(...args)) return;
      clearTimeout(timer);
      off();
      resolve(all ? args : args[0]);
    }
    if (usesBind) emitter.bind(event, handler);
    else emitter.on(event, handler);
  });
}

/** Records the first argument of every emission of `event` into an array. */
export function collect(emitter, event) {
  const seen = [];
  const handler = (...args) => seen.push(args[0]);
  if (typeof emitter.bind === 'function' && typeof emitter.unbind === 'function') emitter.bind(event, handler);
  else emitter.on(event, handler);
  return seen;
}

/** Polls `fn` until it returns a truthy value (or stops throwing). */
export async function eventually(fn, { timeout = 8000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = new Error(`returned ${JSON.stringify(v)}`);
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${last && last.message}`);
    }
    await sleep(interval);
  }
}

/** Rejects with a clear message if `promise` does not settle within `ms`. */
export function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves once a pusher-js client is connected. */
export function connected(client, ms = 5000) {
  if (client.connection.state === 'connected') return Promise.resolve(client.connection.socket_id);
  return waitFor(client.connection, 'state_change', ms, {
    filter: (s) => s.current === 'connected',
    what: 'pusher-js state "connected"',
  }).then(() => client.connection.socket_id);
}

/** Resolves with the subscription_succeeded data of a pusher-js channel. */
export function subscribed(channel, ms = 5000) {
  return waitFor(channel, 'pusher:subscription_succeeded', ms, {
    what: `subscription_succeeded on ${channel.name}`,
  });
}

/** Error code of a pusher-js connection 'error' event, wherever pusher-js put it. */
export function pusherErrorCode(err) {
  return err?.data?.code ?? err?.error?.data?.code ?? err?.error?.code ?? null;
}

/** The channel an error frame concerns (top-level "channel" or inside data). */
export const errorChannel = (frame) => frame.channel ?? frame.data?.channel;
