// Worker thread of chaos.test.mjs: a share of the pusher-js subscribers, each
// with the resume plugin enabled, recording the numbered messages `{i}` of
// event "n" per channel. The hot path is a few integer operations per message
// (a bitmap per subscriber and channel, and a raw-frame ring kept only for
// the report); everything else happens when the main thread asks.
//
// workerData: {key, port, channels: [name], subscribers: [{index, channels: [channel index]}],
//              pluginUrl, ring}
// The main thread sends {id, cmd, ...args} and gets {id, result} or {id, error}:
//   start            connect everything, resolve once every subscription succeeded
//   status {last}    how many (subscriber, channel) pairs have every number up to last[channel]
//   report {last}    counts, anomalies and the pairs with missing numbers
//   stop             disconnect every client
import { parentPort, workerData } from 'node:worker_threads';
import Pusher from 'pusher-js';

const { key, port, channels, subscribers: plan, pluginUrl, ring: RING = 32 } = workerData;
const LOG = 48; // per-subscriber event log entries kept
const MAX_ANOMALIES = 40; // detailed anomaly records kept by this worker
const AFTER = 12; // raw frames captured after an anomaly (the anomalous frame is the first)

const mod = await import(pluginUrl);
const enableResume = mod.enableResume ?? mod.default?.enableResume ?? mod.default;
if (typeof enableResume !== 'function') throw new Error(`${pluginUrl} exports no enableResume`);

const subs = [];
const anomalies = [];
let anomalyCount = 0;
const now = () => Date.now();

function note(sub, entry) {
  entry.t = now();
  sub.log.push(entry);
  if (sub.log.length > LOG) sub.log.splice(0, sub.log.length - LOG);
}

function framesOf(sub) {
  const out = [];
  for (let k = 0; k < RING; k++) {
    const e = sub.ring[(sub.ringPos + k) % RING];
    if (e) out.push(e);
  }
  return out;
}

function anomaly(sub, rec, kind, i) {
  anomalyCount++;
  if (anomalies.length >= MAX_ANOMALIES) return;
  const a = {
    t: now(),
    kind,
    subscriber: sub.index,
    channel: rec.channel,
    afterRecoveredFalse: rec.recoveredFalse > 0, // a jump then is what recovered:false announced
    expected: rec.last + 1,
    got: i,
    socketId: sub.client.connection.socket_id ?? null,
    state: sub.client.connection.state,
    log: sub.log.slice(),
    framesBefore: framesOf(sub),
    framesAfter: [],
  };
  anomalies.push(a);
  sub.capturing.push({ a, left: AFTER });
}

function onMessage(sub, rec, d) {
  const i = d?.i;
  rec.received++;
  if (!Number.isInteger(i) || i < 1) {
    anomaly(sub, rec, 'malformed', i);
    return;
  }
  const byte = i >> 3;
  const bit = 1 << (i & 7);
  if (byte >= rec.bits.length) {
    let n = rec.bits.length * 2;
    while (n <= byte) n *= 2;
    const bigger = new Uint8Array(n);
    bigger.set(rec.bits);
    rec.bits = bigger;
  }
  if (rec.bits[byte] & bit) {
    rec.duplicates++;
    anomaly(sub, rec, 'duplicate', i);
    return;
  }
  rec.bits[byte] |= bit;
  rec.distinct++;
  if (i === rec.last + 1) {
    rec.last = i;
  } else if (i > rec.last + 1) {
    // a jump: numbers last+1..i-1 missing so far (a gap, unless they arrive later: out of order)
    rec.jumps++;
    anomaly(sub, rec, 'jump', i);
    rec.last = i;
  } else {
    rec.outOfOrder++;
    anomaly(sub, rec, 'out_of_order', i);
  }
}

/** Taps the pusher-js internals for the report: raw frames received and subscribe frames sent. */
function tap(sub, conn) {
  try {
    conn.transport.bind('message', (m) => {
      const raw = m.data;
      sub.ring[sub.ringPos] = [now(), raw];
      sub.ringPos = (sub.ringPos + 1) % RING;
      if (sub.capturing.length) {
        for (const c of sub.capturing) {
          c.a.framesAfter.push([now(), raw]);
          c.left--;
        }
        sub.capturing = sub.capturing.filter((c) => c.left > 0);
      }
      if (typeof raw === 'string' && raw.includes('subscription_succeeded')) {
        try {
          const f = JSON.parse(raw);
          note(sub, {
            e: 'succeeded', ch: f.channel, epoch: f.epoch, serial: f.serial,
            ...(f.recovered !== undefined ? { recovered: f.recovered, reason: f.recovery_reason } : {}),
          });
        } catch { /* not JSON: the ring has it */ }
      }
    });
    // the frame as it leaves (after the plugin added resume), at the transport
    const transport = conn.transport;
    const send = transport.send.bind(transport);
    transport.send = (data) => {
      if (typeof data === 'string' && data.includes('pusher:subscribe')) {
        try {
          const f = JSON.parse(data);
          note(sub, { e: 'subscribe', ch: f.data?.channel, resume: f.data?.resume, rewind: f.data?.rewind });
        } catch { /* ignore */ }
      }
      return send(data);
    };
  } catch (e) {
    note(sub, { e: 'tap-failed', message: String(e) });
  }
}

function makeSubscriber({ index, channels: mine }) {
  const client = new Pusher(key, {
    cluster: 'herald',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
  });
  const sub = {
    index, client, recs: new Map(), log: [], ring: new Array(RING), ringPos: 0, capturing: [],
    connects: 0, socketIds: [],
  };
  const mgr = client.connection;
  const setConnection = mgr.setConnection.bind(mgr);
  mgr.setConnection = (conn) => {
    tap(sub, conn);
    return setConnection(conn);
  };
  mgr.bind('state_change', ({ previous, current }) => {
    if (current === 'connected') {
      sub.connects++;
      sub.socketIds.push(mgr.socket_id);
    }
    note(sub, { e: 'state', from: previous, to: current, socketId: current === 'connected' ? mgr.socket_id : undefined });
  });
  mgr.bind('error', (err) => note(sub, { e: 'error', err: JSON.stringify(err?.data ?? err?.error?.data ?? err?.type ?? err)?.slice(0, 200) }));
  enableResume(client, {
    onRecovery: (channelName, { recovered, reason } = {}) => {
      const rec = sub.recs.get(channelName);
      note(sub, { e: 'recovery', ch: channelName, recovered, reason });
      if (!rec) return;
      if (recovered) rec.recoveredTrue++;
      else {
        rec.recoveredFalse++;
        rec.reasons[reason] = (rec.reasons[reason] || 0) + 1;
        if (rec.falseAt.length < 5) {
          rec.falseAt.push({ t: now(), reason, lastBefore: rec.last, socketId: client.connection.socket_id, log: sub.log.slice(-10) });
        }
      }
    },
  });
  for (const c of mine) {
    const name = channels[c];
    const rec = {
      channel: name, c, last: 0, received: 0, distinct: 0, duplicates: 0, outOfOrder: 0, jumps: 0,
      recoveredTrue: 0, recoveredFalse: 0, reasons: {}, falseAt: [], bits: new Uint8Array(64), everSubscribed: false,
    };
    sub.recs.set(name, rec);
    const ch = client.subscribe(name);
    rec.ch = ch;
    ch.bind('n', (d) => onMessage(sub, rec, d));
    ch.bind('pusher:subscription_succeeded', () => { rec.everSubscribed = true; });
    ch.bind('pusher:subscription_error', (e) => note(sub, { e: 'subscription_error', ch: name, status: e?.status }));
  }
  subs.push(sub);
  return sub;
}

async function start() {
  const BATCH = 50;
  const deadline = now() + 60000 + plan.length * 50;
  for (let k = 0; k < plan.length; k += BATCH) {
    const batch = plan.slice(k, k + BATCH).map(makeSubscriber);
    for (;;) {
      if (batch.every((s) => [...s.recs.values()].every((r) => r.everSubscribed))) break;
      if (now() > deadline) {
        const stuck = batch.find((s) => ![...s.recs.values()].every((r) => r.everSubscribed));
        throw new Error(`subscriber ${stuck.index} not subscribed (state ${stuck.client.connection.state}); log ${JSON.stringify(stuck.log)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { subscribers: subs.length };
}

// the drain is over for a pair once it has the last number (what is missing then is a gap)
const complete = (rec, last) => rec.last >= last[rec.c];

function status({ last }) {
  let done = 0;
  let total = 0;
  const behind = [];
  for (const s of subs) {
    for (const rec of s.recs.values()) {
      total++;
      if (complete(rec, last)) done++;
      else if (behind.length < 5) behind.push({ subscriber: s.index, channel: rec.channel, last: rec.last, distinct: rec.distinct, state: s.client.connection.state });
    }
  }
  return { done, total, behind };
}

/** Missing numbers of rec in 1..upTo as ranges [from, to] (at most `max`). */
function missingRanges(rec, upTo, max = 10) {
  const out = [];
  let start = 0;
  for (let i = 1; i <= upTo + 1; i++) {
    const have = i <= upTo && (rec.bits[i >> 3] & (1 << (i & 7))) !== 0;
    if (i <= upTo && !have) {
      if (!start) start = i;
    } else if (start) {
      out.push([start, i - 1]);
      start = 0;
      if (out.length >= max) break;
    }
  }
  return out;
}

function report({ last }) {
  const r = {
    subscribers: subs.length, pairs: 0, delivered: 0, duplicates: 0, outOfOrder: 0, jumps: 0, gaps: 0,
    gapPairs: 0, undrained: 0, recoveredFalse: 0, recoveredFalsePairs: [], recoveredTrue: 0, reasons: {}, reconnects: 0,
    neverConnectedAgain: 0, anomalyCount, anomalies, missing: [], notConnected: [],
  };
  for (const s of subs) {
    r.reconnects += Math.max(0, s.connects - 1);
    if (s.client.connection.state !== 'connected') {
      r.notConnected.push({ subscriber: s.index, state: s.client.connection.state, log: s.log.slice(-12) });
    }
    for (const rec of s.recs.values()) {
      r.pairs++;
      r.delivered += rec.received;
      r.duplicates += rec.duplicates;
      r.outOfOrder += rec.outOfOrder;
      r.jumps += rec.jumps;
      r.recoveredTrue += rec.recoveredTrue;
      for (const [why, n] of Object.entries(rec.reasons)) r.reasons[why] = (r.reasons[why] || 0) + n;
      const upTo = last[rec.c];
      const missing = upTo - rec.distinct; // numbers above upTo are never published
      if (rec.recoveredFalse) {
        r.recoveredFalse += rec.recoveredFalse;
        if (r.recoveredFalsePairs.length < 20) {
          r.recoveredFalsePairs.push({ subscriber: s.index, channel: rec.channel, reasons: rec.reasons, missing, at: rec.falseAt });
        }
        continue; // a gap the plugin reported is not a silent loss
      }
      if (missing > 0) {
        r.gaps += missing;
        r.gapPairs++;
        if (rec.last < upTo) r.undrained++; // still behind at the end of the drain: the tail is missing
        if (r.missing.length < 20) {
          r.missing.push({
            subscriber: s.index, channel: rec.channel, missing, ranges: missingRanges(rec, upTo),
            lastReceived: rec.last, state: s.client.connection.state, socketIds: s.socketIds.slice(-6),
            log: s.log.slice(-24), frames: framesOf(s),
          });
        }
      }
    }
  }
  return r;
}

function stop() {
  for (const s of subs) {
    try { s.client.disconnect(); } catch { /* gone */ }
  }
  return true;
}

const commands = { start, status, report, stop };
parentPort.on('message', async ({ id, cmd, ...args }) => {
  try {
    parentPort.postMessage({ id, result: await commands[cmd](args) });
  } catch (e) {
    parentPort.postMessage({ id, error: e?.stack || String(e) });
  }
});
parentPort.postMessage({ ready: true });
