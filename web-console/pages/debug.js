// @ts-check
// The debug console: the app's lifecycle events live (SSE over fetch, resumed with Last-Event-ID),
// the last 5 minutes loaded on open and de-duplicated by id, filters, pause with "N new" and resume
// without a gap, clear, export as NDJSON, and the event creator.

import { html } from '../vendor/htm-preact.mjs';
import { useEffect, useMemo, useRef, useState } from '../vendor/hooks.mjs';
import { get, url } from '../client.js';
import { openStream } from '../sse.js';
import { setQuery } from '../router.js';
import { EventList, EventRing, KINDS, CAPACITY } from '../event-log.js';
import { EventCreator } from './event-creator.js';
import { Checkbox, Input, Page } from '../ui.js';
import { closeCode, count, when } from '../format.js';
import { canWrite, useMe } from '../session.js';

/** @typedef {import('../event-log.js').Entry} Entry */
/** @typedef {import('../event-log.js').Filters} Filters */
/** @typedef {import('../event-log.js').LifecycleEvent} LifecycleEvent */

const BACKLOG_MS = 5 * 60 * 1000;
const FLUSH_MS = 100;

/** @param {import('../app.js').AppPageProps} props */
export function Debug({ app, query }) {
  const me = useMe();
  const ring = useMemo(() => new EventRing(), [app.id]);
  const [version, setVersion] = useState(0);
  const [stream, setStream] = useState(/** @type {{state: string, detail?: string}} */ ({ state: 'connecting' }));
  const [backlog, setBacklog] = useState(/** @type {'loading' | 'done' | string} */ ('loading'));
  const [filters, setFilters] = useState(/** @type {Filters} */ ({
    kinds: (query.get('kind') ?? '').split(',').filter(Boolean),
    channel: query.get('channel') ?? '',
    socket: query.get('socket') ?? '',
    user: query.get('user') ?? '',
    text: query.get('q') ?? '',
  }));
  const [paused, setPaused] = useState(/** @type {number | null} */ (null));
  const [selected, setSelected] = useState(/** @type {Entry | null} */ (null));
  const pending = useRef(/** @type {LifecycleEvent[]} */ ([]));
  const timer = useRef(/** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined));

  useEffect(() => {
    const flush = () => {
      timer.current = undefined;
      if (ring.add(pending.current)) setVersion((v) => v + 1);
      pending.current = [];
    };
    // The live stream first, so nothing falls between the backlog's answer and the stream's start.
    const close = openStream(url('/api/v1/apps/{app_id}/events/live', { app_id: app.id }), {
      onEvent: (message) => {
        if (message.event !== 'lifecycle') return;
        try {
          const event = JSON.parse(message.data);
          if (message.id && !event.id) event.id = message.id;
          pending.current.push(event);
        } catch {
          return;
        }
        timer.current ??= setTimeout(flush, FLUSH_MS);
      },
      onState: (state, detail) => setStream({ state, detail }),
      // a drop before the stream carried an event resumes after the newest one the backlog loaded
      resumeFrom: () => ring.lastId(),
    });
    const since = Number(query.get('since')) || Date.now() - BACKLOG_MS;
    const socket = query.get('socket');
    get('/api/v1/apps/{app_id}/events', {
      path: { app_id: app.id },
      query: { since, limit: 1000, ...(socket ? { socket_id: socket } : {}) },
    }).then((answer) => {
      ring.addBacklog(answer.events);
      setBacklog('done');
      setVersion((v) => v + 1);
    }, (e) => setBacklog(e instanceof Error ? e.message : String(e)));
    return () => {
      close();
      clearTimeout(timer.current);
    };
  }, [app.id]);

  const changeFilters = (/** @type {Partial<Filters>} */ change) => {
    const next = { ...filters, ...change };
    setFilters(next);
    ring.setFilters(next);
    setQuery({ kind: next.kinds.join(','), channel: next.channel, socket: next.socket, user: next.user, q: next.text });
    setVersion((v) => v + 1);
  };
  // the ring starts with the filters of the URL
  useMemo(() => ring.setFilters(filters), [ring]);

  const shownCount = paused === null ? ring.shown.length : ring.countUpTo(paused);
  const waiting = ring.shown.length - shownCount;
  const exportEvents = () => {
    const lines = ring.shown.map((entry) => JSON.stringify(entry.event)).join('\n');
    const blob = new Blob([lines ? `${lines}\n` : ''], { type: 'application/x-ndjson' });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `herald-${app.id}-events-${new Date().toISOString().replace(/[:.]/g, '-')}.ndjson`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  };
  const live = stream.state === 'live';
  return html`<${Page} title="Debug console" lead="Everything that happens to this app's connections, subscriptions, messages and webhooks, as it happens."
      actions=${html`
        <button type="button" onClick=${() => setPaused(paused === null ? ring.seq : null)} aria-pressed=${paused !== null ? 'true' : 'false'}>
          ${paused === null ? 'Pause' : 'Resume'}</button>
        <button type="button" onClick=${() => { ring.clear(); setSelected(null); setVersion((v) => v + 1); }}>Clear</button>
        <button type="button" onClick=${exportEvents}>Export NDJSON</button>`}>
    <div class="debug">
      <div class="debug-main">
        <form class="filters" role="search" aria-label="Filter events" onSubmit=${(/** @type {Event} */ e) => e.preventDefault()}>
          <${Input} label="Search" type="search" value=${filters.text} onValue=${(/** @type {string} */ text) => changeFilters({ text })} placeholder="any text" />
          <${Input} label="Channel" value=${filters.channel} onValue=${(/** @type {string} */ channel) => changeFilters({ channel })} />
          <${Input} label="Socket" value=${filters.socket} onValue=${(/** @type {string} */ socket) => changeFilters({ socket })} />
          <${Input} label="User" value=${filters.user} onValue=${(/** @type {string} */ user) => changeFilters({ user })} />
          <details class="kinds">
            <summary>Kinds: ${filters.kinds.length ? filters.kinds.length : 'all'}</summary>
            <fieldset>
              <legend class="visually-hidden">Event kinds to show</legend>
              ${KINDS.map(([kind, word]) => html`<${Checkbox} label=${word} checked=${filters.kinds.includes(kind)}
                onChecked=${(/** @type {boolean} */ on) => changeFilters({ kinds: on ? [...filters.kinds, kind] : filters.kinds.filter((k) => k !== kind) })} />`)}
            </fieldset>
          </details>
        </form>
        <div class="log-status">
          <span role="status" class=${`stream ${live ? 'live' : 'off'}`}>${live ? 'Live' : stream.state === 'stopped' ? 'Stopped' : stream.state === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
            ${stream.detail && !live ? html` <span class="hint">(${stream.detail})</span>` : null}</span>
          <span>${count(ring.shown.length)} shown of ${count(ring.entries.length)} kept (last ${count(CAPACITY)})</span>
          ${backlog === 'loading' ? html`<span>Loading the last 5 minutes…</span>` : backlog !== 'done' ? html`<span class="field-error">Earlier events: ${backlog}</span>` : null}
          ${paused !== null ? html`<button type="button" class="primary small" onClick=${() => setPaused(null)}>
            ${waiting} new · Resume</button>` : null}
        </div>
        ${ring.entries.length === 0 ? html`<div class="state empty">
          <p class="empty-title">No events yet.</p>
          <p>Connect a client (see Getting started) or send an event with the event creator: it shows up here at once.</p>
        </div>` : shownCount === 0 ? html`<div class="state empty"><p class="empty-title">No event matches the filters.</p><p>Clear a filter to see more.</p></div>` : null}
        ${shownCount === 0 ? null : html`<${EventList} rows=${ring.shown} count=${shownCount} version=${version} selected=${selected?.key ?? null}
          onSelect=${(/** @type {Entry} */ entry) => setSelected(selected?.key === entry.key ? null : entry)} />`}
      </div>
      <aside class="debug-side" aria-label="Event details and creator">
        ${selected ? html`<${Details} entry=${selected} onFilter=${changeFilters} onClose=${() => setSelected(null)} />` : null}
        ${canWrite(me, app.tenant_id) ? html`<${EventCreator} appId=${app.id} channel=${filters.channel} />` : null}
      </aside>
    </div>
  <//>`;
}

/** @param {{entry: Entry, onFilter: (change: Partial<Filters>) => void, onClose: () => void}} props */
function Details({ entry, onFilter, onClose }) {
  const e = entry.event;
  return html`<section class="card details" aria-labelledby="event-title">
    <div class="card-head"><h2 id="event-title">${e.kind}</h2>
      <button type="button" class="small" onClick=${onClose} aria-label="Close the event details">Close</button></div>
    <dl class="facts">
      <dt>Time</dt><dd>${when(e.time)}</dd>
      <dt>Node</dt><dd>${e.node}</dd>
      ${e.code ? html`<dt>Code</dt><dd>${closeCode(e.code)}</dd>` : null}
      ${e.reason ? html`<dt>Reason</dt><dd>${e.reason}</dd>` : null}
    </dl>
    <div class="form-actions">
      ${e.socket_id ? html`<button type="button" class="small" onClick=${() => onFilter({ socket: e.socket_id ?? '' })}>Only socket ${e.socket_id}</button>` : null}
      ${e.channel ? html`<button type="button" class="small" onClick=${() => onFilter({ channel: e.channel ?? '' })}>Only channel ${e.channel}</button>` : null}
      ${e.user_id ? html`<button type="button" class="small" onClick=${() => onFilter({ user: e.user_id ?? '' })}>Only user ${e.user_id}</button>` : null}
    </div>
    <pre class="json" tabindex="0"><code>${JSON.stringify(e, null, 2)}</code></pre>
  </section>`;
}
