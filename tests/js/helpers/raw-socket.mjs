// A raw WebSocket client for frame-level tests.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { within } from './wait.mjs';

/** A raw WebSocket that records every frame, parsed, in arrival order. */
export class RawSocket extends EventEmitter {
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.frames = [];
    this.taken = new Set();
    this.waiters = [];
    this.closeInfo = null;
    this.ws = new WebSocket(url, options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.onClose(this.closeInfo);
      });
    });
    this.ws.on('error', (e) => { this.lastError = e; });
    this.ws.on('ping', () => this.emit('ping'));
    this.ws.on('message', (data, isBinary) => {
      const text = data.toString();
      let frame;
      try {
        frame = JSON.parse(text);
      } catch {
        frame = { event: null, unparsable: text };
      }
      frame.binary = isBinary;
      frame.rawData = frame.data;
      if (typeof frame.data === 'string') {
        try { frame.data = JSON.parse(frame.data); } catch { /* plain string payload */ }
      }
      this.frames.push(frame);
      this.emit('frame', frame);
      this.waiters = this.waiters.filter((w) => !w.offer(frame));
    });
  }

  /** Next frame (not yet returned by next) matching pred; rejects on timeout or close. */
  next(pred = () => true, ms = 5000, what = 'a matching frame') {
    for (const f of this.frames) {
      if (!this.taken.has(f) && pred(f)) {
        this.taken.add(f);
        return Promise.resolve(f);
      }
    }
    return new Promise((resolve, reject) => {
      const describe = () =>
        `${what} on ${this.url}; frames so far: ${JSON.stringify(this.frames.map((f) => f.unparsable ?? [f.event, f.channel, f.data]))}`;
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${ms} ms waiting for ${describe()}`));
      }, ms);
      const waiter = {
        offer: (f) => {
          if (this.taken.has(f) || !pred(f)) return false;
          this.taken.add(f);
          clearTimeout(timer);
          resolve(f);
          return true;
        },
        onClose: (info) => {
          clearTimeout(timer);
          reject(new Error(`socket closed (${info.code} ${info.reason}) while waiting for ${describe()}`));
        },
      };
      if (this.closeInfo) waiter.onClose(this.closeInfo);
      else this.waiters.push(waiter);
    });
  }

  /** Close info {code, reason}; rejects if the socket is not closed within ms. */
  waitClosed(ms = 5000) {
    return within(this.closed, ms, `${this.url} to be closed`);
  }

  event(name, channel, ms = 5000) {
    return this.next((f) => f.event === name && (channel === undefined || f.channel === channel), ms,
      `"${name}"${channel ? ` on ${channel}` : ''}`);
  }

  error(ms = 5000) {
    return this.event('pusher:error', undefined, ms);
  }

  /** All frames received so far that match pred (taken or not). */
  all(pred) {
    return this.frames.filter(pred);
  }

  async established(ms = 5000) {
    const f = await this.event('pusher:connection_established', undefined, ms);
    this.socketId = f.data.socket_id;
    return f.data;
  }

  send(obj) {
    this.ws.send(JSON.stringify(obj));
  }

  sendText(text) {
    this.ws.send(text, { binary: false });
  }

  sendBinary(buf) {
    this.ws.send(buf, { binary: true });
  }

  subscribe(channel, extra = {}) {
    this.send({ event: 'pusher:subscribe', data: { channel, ...extra } });
  }

  async subscribed(channel, extra = {}, ms = 5000) {
    this.subscribe(channel, extra);
    return this.event('pusher_internal:subscription_succeeded', channel, ms);
  }

  get open() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close() {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.terminate();
  }
}
