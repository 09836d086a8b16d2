// @ts-check
// A Server-Sent Events reader over fetch (EventSource cannot send an Authorization header): parses
// the stream, remembers the last `id:`, and reconnects with `Last-Event-ID` after a drop, so the
// server resumes where the stream stopped.

import { accessToken, refresh } from './client.js';

/** @typedef {{event: string, data: string, id: string | null}} ServerEvent */
/** @typedef {'connecting' | 'live' | 'reconnecting' | 'stopped'} StreamState */

/**
 * Feeds text chunks in, calls `dispatch` for each complete event (a blank line ends one).
 * Fields: `event`, `data` (joined with newlines), `id` (kept across events, as the spec says);
 * comments (`:`) and `retry` are ignored.
 */
export class SseParser {
  /** @param {(event: ServerEvent) => void} dispatch */
  constructor(dispatch) {
    this.dispatch = dispatch;
    this.buffer = '';
    this.event = '';
    /** @type {string[]} */
    this.data = [];
    /** @type {string | null} */
    this.lastId = null;
  }

  /** @param {string} chunk */
  push(chunk) {
    this.buffer += chunk;
    const ends = /\r\n|\r|\n/g;
    let start = 0;
    for (let m = ends.exec(this.buffer); m; m = ends.exec(this.buffer)) {
      // a lone \r at the very end may be the first half of \r\n: wait for more
      if (m[0] === '\r' && m.index + 1 === this.buffer.length) break;
      this.line(this.buffer.slice(start, m.index));
      start = m.index + m[0].length;
    }
    this.buffer = this.buffer.slice(start);
  }

  /** @param {string} line */
  line(line) {
    if (line === '') {
      if (this.data.length) this.dispatch({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastId });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
  }
}

/**
 * Opens `url` as an event stream and keeps it open: reconnects after a drop (1 s, doubling to
 * 15 s) with `Last-Event-ID`, the last id seen (or, before the stream carried any, what
 * `resumeFrom` says: e.g. the newest event a query loaded), so the server replays what was missed.
 * Returns a function that closes it.
 * @param {string} url
 * @param {{onEvent: (event: ServerEvent) => void, onState?: (state: StreamState, detail?: string) => void,
 *   lastEventId?: string | null, resumeFrom?: () => string | null}} handlers
 */
export function openStream(url, { onEvent, onState = () => {}, lastEventId = null, resumeFrom = () => null }) {
  const abort = new AbortController();
  let lastId = lastEventId;
  let tries = 0;
  let delay = 1000;
  const run = async () => {
    while (!abort.signal.aborted) {
      if (tries) lastId ??= resumeFrom();
      onState(tries++ ? 'reconnecting' : 'connecting');
      try {
        const token = await accessToken();
        /** @type {Record<string, string>} */
        const headers = { accept: 'text/event-stream' };
        if (token) headers.authorization = `Bearer ${token}`;
        if (lastId) headers['last-event-id'] = lastId;
        const res = await fetch(url, { headers, signal: abort.signal, cache: 'no-store' });
        if (res.status === 401) {
          if (!(await refresh())) {
            onState('stopped', 'Signed out.');
            return;
          }
          continue;
        }
        if (!res.ok || !res.body) {
          let message = `The server answered ${res.status}.`;
          try {
            message = (await res.json()).error.message;
          } catch { /* not the API's error shape */ }
          onState('reconnecting', message);
        } else {
          onState('live');
          delay = 1000;
          const parser = new SseParser((event) => {
            if (event.id) lastId = event.id;
            onEvent(event);
          });
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.push(value);
          }
          if (parser.lastId) lastId = parser.lastId;
          onState('reconnecting', 'The stream ended; reconnecting.');
        }
      } catch (e) {
        if (abort.signal.aborted) break;
        onState('reconnecting', e instanceof Error ? e.message : String(e));
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(15_000, delay * 2);
    }
    onState('stopped');
  };
  void run();
  return () => abort.abort();
}
