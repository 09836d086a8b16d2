/**
 * @herald/pusher-js-resume: message resume for pusher-js 8 on a Herald server.
 *
 *   const resume = enableResume(pusher);
 *
 * Herald adds `"epoch"` and `"serial"` to every stored event frame. pusher-js drops fields it does
 * not know, so this plugin reads the raw frames itself (a 'message' listener on the live transport,
 * re-bound on every 'connected') and remembers, per channel, the position of the last frame that
 * had one. When pusher-js (re)subscribes a channel with a known position, the plugin adds
 * `"resume": {epoch, serial}` to the `pusher:subscribe`; Herald then replays what was missed, or
 * answers `recovered: false` with a reason, which the plugin reports through `onRecovery` and a
 * `herald:recovery` event on the channel. An app `pusher.unsubscribe(name)` forgets the position,
 * so a later subscribe starts fresh. `storage` (sessionStorage, say) keeps positions across reloads.
 *
 * pusher-js internals relied on: Pusher#send_event and Pusher#unsubscribe (wrapped here),
 * ConnectionManager#connection (the Connection) and Connection#transport (emits raw {data} messages).
 */
const STORAGE_PREFIX = 'herald-resume:';

export function enableResume(pusher, { onRecovery, storage } = {}) {
  const positions = new Map(); // channel name -> {epoch, serial}
  const storageKey = (name) => `${STORAGE_PREFIX}${pusher.key}:${name}`;

  function position(name) {
    if (positions.has(name)) return { ...positions.get(name) };
    if (!storage) return null;
    try {
      const stored = JSON.parse(storage.getItem(storageKey(name)));
      if (stored && typeof stored.epoch === 'string' && Number.isInteger(stored.serial)) {
        positions.set(name, { epoch: stored.epoch, serial: stored.serial });
        return { epoch: stored.epoch, serial: stored.serial };
      }
    } catch { /* unreadable: treat as unknown */ }
    return null;
  }

  function remember(name, epoch, serial) {
    positions.set(name, { epoch, serial });
    try { storage?.setItem(storageKey(name), JSON.stringify({ epoch, serial })); } catch { /* full */ }
  }

  function forget(name) {
    positions.delete(name);
    try { storage?.removeItem(storageKey(name)); } catch { /* ignore */ }
  }

  // Raw frames, after pusher-js has handled them (its listener was bound first).
  function onFrame(message) {
    // after pusher.disconnect() the old transport may still deliver frames the app never sees
    if (!transport || pusher.connection.connection?.transport !== transport) return;
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    if (!frame || typeof frame.channel !== 'string') return;
    const channel = pusher.channel(frame.channel);
    if (!channel) return; // the app unsubscribed: in-flight frames must not bring the position back
    if (Number.isInteger(frame.serial) && frame.epoch != null) remember(frame.channel, String(frame.epoch), frame.serial);
    if (frame.event === 'pusher_internal:subscription_succeeded' && typeof frame.recovered === 'boolean') {
      const recovery = { recovered: frame.recovered, reason: frame.recovered ? null : frame.recovery_reason ?? null };
      channel.emit('herald:recovery', recovery);
      onRecovery?.(frame.channel, recovery);
    }
  }

  let transport = null;
  function detach() {
    transport?.unbind?.('message', onFrame);
    transport = null;
  }
  function attach() {
    detach();
    transport = pusher.connection?.connection?.transport ?? null;
    transport?.bind?.('message', onFrame);
  }

  // Replaces obj[name] with wrap(original); returns the undo.
  function patch(obj, name, wrap) {
    const own = Object.prototype.hasOwnProperty.call(obj, name);
    const original = obj[name];
    obj[name] = wrap(original);
    return () => { if (own) obj[name] = original; else delete obj[name]; };
  }

  const undo = [
    patch(pusher, 'send_event', (send) => function (event, data, channel) {
      if (event === 'pusher:subscribe' && data && typeof data.channel === 'string') {
        const at = position(data.channel);
        if (at) data = { ...data, resume: at };
      }
      return send.call(this, event, data, channel);
    }),
    patch(pusher, 'unsubscribe', (unsubscribe) => function (name) {
      forget(name);
      return unsubscribe.call(this, name);
    }),
  ];
  pusher.connection.bind('connected', attach);
  if (pusher.connection.state === 'connected') attach();

  return {
    position,
    forget,
    disable() {
      pusher.connection.unbind('connected', attach);
      detach();
      for (const u of undo.splice(0)) u();
    },
  };
}
