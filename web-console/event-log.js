// @ts-check
// The debug console's memory and view: a ring of the last 5,000 lifecycle events (de-duplicated by
// id), the filtered rows kept up to date as events arrive, and a list that renders only the rows
// in view (fixed row height), following the newest unless scrolled up.

import { html } from './vendor/htm-preact.mjs';
import { useLayoutEffect, useRef, useState } from './vendor/hooks.mjs';
import { clockTime, closeCode } from './format.js';

/** @typedef {import('./api-types').Schemas['LifecycleEvent']} LifecycleEvent */
/** @typedef {{seq: number, key: string, event: LifecycleEvent, text?: string}} Entry */
/** @typedef {{kinds: string[], channel: string, socket: string, user: string, text: string}} Filters */

export const CAPACITY = 5000;
export const ROW_HEIGHT = 30;

const contains = (/** @type {string | null | undefined} */ value, /** @type {string} */ wanted) =>
  !wanted || (value ?? '').toLowerCase().includes(wanted);

/** Whether `entry` passes `filters` (text fields lower-cased already). */
export function passes(/** @type {Entry} */ entry, /** @type {Filters} */ f) {
  const e = entry.event;
  if (f.kinds.length && !f.kinds.includes(e.kind)) return false;
  if (!contains(e.channel, f.channel) || !contains(e.socket_id, f.socket) || !contains(e.user_id, f.user)) return false;
  if (f.text) {
    entry.text ??= `${JSON.stringify(e)} ${closeCode(e.code)}`.toLowerCase();
    if (!entry.text.includes(f.text)) return false;
  }
  return true;
}

/**
 * The last CAPACITY events, oldest first, each id once, and the ones that pass the filters. Every
 * event from the server has an id (`{time}-{node}-{sequence}`): the backlog, the live stream and
 * the stream's replay after a reconnect overlap, and an id already held is dropped.
 */
export class EventRing {
  constructor(capacity = CAPACITY) {
    this.capacity = capacity;
    /** @type {Entry[]} */
    this.entries = [];
    /** @type {Entry[]} */
    this.shown = [];
    /** @type {Set<string>} the ids held */
    this.keys = new Set();
    /** @type {Set<string>} the ids of the events last cleared, so a replay does not bring them back */
    this.cleared = new Set();
    this.seq = 0;
    /** @type {Filters} */
    this.filters = { kinds: [], channel: '', socket: '', user: '', text: '' };
  }

  /** Adds events (oldest first), each id once (an event without an id is always new); returns how many were added. */
  add(/** @type {LifecycleEvent[]} */ events) {
    let added = 0;
    for (const event of events) {
      const key = event.id ? `id:${event.id}` : `seq:${this.seq + 1}`;
      if (this.keys.has(key) || this.cleared.has(key)) continue;
      this.keys.add(key);
      const entry = { seq: ++this.seq, key, event };
      this.entries.push(entry);
      if (passes(entry, this.filters)) this.shown.push(entry);
      added++;
    }
    if (this.entries.length > this.capacity) {
      const gone = this.entries.splice(0, this.entries.length - this.capacity);
      for (const entry of gone) this.keys.delete(entry.key);
      const first = this.entries[0].seq;
      let cut = 0;
      while (cut < this.shown.length && this.shown[cut].seq < first) cut++;
      if (cut) this.shown.splice(0, cut);
    }
    return added;
  }

  /**
   * Merges a backlog (from the query endpoint, any order) that predates the stream: placed before
   * what came live, oldest first; an event both hold is kept once.
   */
  addBacklog(/** @type {LifecycleEvent[]} */ events) {
    const live = this.entries.map((entry) => entry.event);
    const older = [...events].sort((a, b) => a.time - b.time || (a.id ?? '').localeCompare(b.id ?? '', 'en', { numeric: true }));
    this.entries = [];
    this.shown = [];
    this.keys = new Set();
    this.seq = 0;
    this.add(older);
    this.add(live);
  }

  /** The newest id held (the live stream resumes after it), or null. */
  lastId() {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const id = this.entries[i].event.id;
      if (id) return id;
    }
    return null;
  }

  setFilters(/** @type {Filters} */ filters) {
    this.filters = {
      kinds: filters.kinds,
      channel: filters.channel.trim().toLowerCase(),
      socket: filters.socket.trim().toLowerCase(),
      user: filters.user.trim().toLowerCase(),
      text: filters.text.trim().toLowerCase(),
    };
    this.shown = this.entries.filter((entry) => passes(entry, this.filters));
  }

  clear() {
    this.cleared = this.keys;
    this.entries = [];
    this.shown = [];
    this.keys = new Set();
  }

  /** How many shown rows have seq ≤ `seq` (the rows visible while paused). */
  countUpTo(/** @type {number} */ seq) {
    let lo = 0;
    let hi = this.shown.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.shown[mid].seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** One line of summary for an event. */
export function summary(/** @type {LifecycleEvent} */ e) {
  const d = /** @type {Record<string, any>} */ (e.detail ?? {});
  const parts = [];
  if (e.channel) parts.push(e.channel);
  if (e.kind === 'client_event' && d.event) parts.push(d.event);
  if (e.kind === 'connection_closed' || e.kind === 'connection_opened') {
    if (e.code) parts.push(closeCode(e.code));
    if (d.cause) parts.push(d.cause);
  } else if (e.code) {
    parts.push(String(e.code));
  }
  if (e.kind === 'connection_opened' && d.client) parts.push(`${d.client}${d.version ? ` ${d.version}` : ''}`);
  if (e.kind.startsWith('webhook') && d.url) parts.push(`${d.url} attempt ${d.attempt ?? ''}`);
  if (e.kind === 'publish_accepted' && d.preview) parts.push(String(d.preview));
  if (e.reason) parts.push(e.reason);
  return parts.join(' · ');
}

/** Kinds as short words, and whether they are bad news. */
export const KINDS = /** @type {const} */ ([
  ['connection_opened', 'connected'],
  ['connection_closed', 'closed'],
  ['subscription_succeeded', 'subscribed'],
  ['subscription_refused', 'subscribe refused'],
  ['signin', 'signed in'],
  ['signin_refused', 'sign-in refused'],
  ['publish_accepted', 'API message'],
  ['publish_refused', 'API message refused'],
  ['client_event', 'client event'],
  ['webhook_delivered', 'webhook delivered'],
  ['webhook_failed', 'webhook failed'],
]);
const KIND_WORD = Object.fromEntries(KINDS);
const BAD = new Set(['subscription_refused', 'signin_refused', 'publish_refused', 'webhook_failed']);

/**
 * The virtualised list of `rows` (only those in view are in the DOM).
 * @param {{rows: Entry[], count: number, version: number, selected: string | null, onSelect: (entry: Entry) => void}} props
 * `count` rows of `rows` are shown (fewer while paused).
 */
export function EventList({ rows, count, version, selected, onSelect }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const [view, setView] = useState({ top: 0, height: 480 });
  const follow = useRef(true);
  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_HEIGHT;
    setView({ top: el.scrollTop, height: el.clientHeight });
  };
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (follow.current) el.scrollTop = el.scrollHeight;
    if (el.scrollTop !== view.top || el.clientHeight !== view.height) setView({ top: el.scrollTop, height: el.clientHeight });
  }, [version, count]);
  const first = Math.max(0, Math.floor(view.top / ROW_HEIGHT) - 10);
  const last = Math.min(count, Math.ceil((view.top + view.height) / ROW_HEIGHT) + 10);
  const visible = rows.slice(first, last);
  return html`<div class="log" ref=${box} onScroll=${onScroll} tabindex="0" role="region" aria-label="Event log">
    <div class="log-inner" style=${{ height: `${count * ROW_HEIGHT}px` }} role="list" aria-label=${`${count} events`}>
      ${visible.map((entry, i) => {
        const e = entry.event;
        const bad = BAD.has(e.kind) || (e.kind === 'connection_closed' && e.code && e.code >= 4000);
        return html`<div role="listitem" key=${entry.key} class="log-row-wrap" style=${{ transform: `translateY(${(first + i) * ROW_HEIGHT}px)` }}>
          <button type="button" class=${`log-row${bad ? ' bad' : ''}${selected === entry.key ? ' selected' : ''}`}
            aria-pressed=${selected === entry.key ? 'true' : 'false'} onClick=${() => onSelect(entry)}>
            <span class="c-time">${clockTime(e.time)}</span>
            <span class=${`c-kind k-${e.kind}`}>${KIND_WORD[e.kind] ?? e.kind}</span>
            <span class="c-socket">${e.socket_id ?? ''}</span>
            <span class="c-user">${e.user_id ?? ''}</span>
            <span class="c-summary">${summary(e)}</span>
          </button>
        </div>`;
      })}
    </div>
  </div>`;
}
