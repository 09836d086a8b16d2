// @ts-check
// Failed connections: connections closed in a time range, grouped by cause and close code, each
// with its recent sockets linking to their events in the debug console.

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { get } from '../client.js';
import { appPath, setQuery } from '../router.js';
import { Empty, ErrorState, Input, Loading, Page, Select, useLoad } from '../ui.js';
import { closeCode, count, localInput, when } from '../format.js';

const RANGES = /** @type {[string, string][]} */ ([
  ['900', 'Last 15 minutes'], ['3600', 'Last hour'], ['21600', 'Last 6 hours'], ['86400', 'Last day'], ['custom', 'Custom range'],
]);

/** What a cause means, for the groups' headings. */
const CAUSES = /** @type {Record<string, string>} */ ({
  client_gone: 'The client closed or went away',
  ping_timeout: 'No pong in time',
  slow_consumer: 'Too slow to keep up, or node over capacity',
  over_quota: 'Over a connection quota',
  auth_failure: 'Refused: key revoked or unknown, or origin not allowed',
  app_disabled: 'App disabled or tenant suspended',
  terminated: 'Terminated by the app',
  server_shutdown: 'Server shutting down',
  admin: 'Closed by an admin',
  client_event_rate: 'Client events too fast',
  message_too_big: 'Message too big',
  protocol_error: 'Protocol error',
});

/** @param {import('../app.js').AppPageProps} props */
export function Failed({ app, query }) {
  const [range, setRange] = useState(query.get('range') ?? '3600');
  const [from, setFrom] = useState(localInput(Date.now() - 3600_000));
  const [until, setUntil] = useState(localInput(Date.now()));
  const [applied, setApplied] = useState(() => window_(range, from, until));
  const failed = useLoad((signal) => get('/api/v1/apps/{app_id}/connections/failed', {
    path: { app_id: app.id }, query: applied, signal,
  }), [app.id, applied]);
  const apply = (/** @type {string} */ r) => {
    setRange(r);
    setQuery({ range: r === '3600' ? null : r });
    if (r !== 'custom') setApplied(window_(r, from, until));
  };
  const data = failed.data;
  const total = data?.groups.reduce((n, g) => n + g.count, 0) ?? 0;
  return html`<${Page} title="Failed connections" lead="Connections that ended, grouped by why. Each socket links to its events in the debug console."
      actions=${html`<button type="button" onClick=${() => setApplied(window_(range, from, until))}>Refresh</button>`}>
    <form class="filters" aria-label="Time range" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); setApplied(window_('custom', from, until)); }}>
      <${Select} label="Time range" value=${range} onValue=${apply} options=${RANGES} />
      ${range === 'custom' ? html`
        <${Input} label="From" type="datetime-local" value=${from} onValue=${setFrom} />
        <${Input} label="Until" type="datetime-local" value=${until} onValue=${setUntil} />
        <div class="form-actions"><button type="submit" class="primary">Show range</button></div>` : null}
    </form>
    ${failed.error ? html`<${ErrorState} error=${failed.error} retry=${failed.reload} what="The failed connections could not be loaded" />`
      : !data ? html`<${Loading} what="Loading failed connections" />`
        : data.groups.length === 0 ? html`<${Empty} title="No connection ended in this range.">Pick a longer range, or wait: closes show up here within seconds.<//>`
          : html`<p>${count(total)} closed between ${when(data.since)} and ${when(data.until)}.</p>
          ${data.groups.map((g) => html`<section class="card" aria-label=${`${g.cause}${g.code ? ` ${g.code}` : ''}`}>
            <div class="card-head">
              <h2>${CAUSES[g.cause] ?? g.cause} ${g.code ? html`<span class="badge bad">${closeCode(g.code)}</span>` : null}</h2>
              <span class="figure-value small-figure">${count(g.count)}</span>
            </div>
            <p class="hint">cause <code>${g.cause}</code></p>
            ${g.recent.length ? html`<div class="table-wrap" tabindex="0"><table>
              <caption class="visually-hidden">Recent sockets closed for ${g.cause}</caption>
              <thead><tr><th scope="col">Socket</th><th scope="col">When</th><th scope="col">User</th><th scope="col">Reason</th></tr></thead>
              <tbody>${g.recent.map((r) => html`<tr key=${`${r.socket_id}-${r.time}`}>
                <th scope="row"><a href=${`${appPath(app.id, 'debug')}?socket=${encodeURIComponent(r.socket_id)}&since=${r.time - 3600_000}`}
                  aria-label=${`Events of socket ${r.socket_id}`}>${r.socket_id}</a></th>
                <td>${when(r.time)}</td><td>${r.user_id ?? '—'}</td><td>${r.reason ?? ''}</td>
              </tr>`)}</tbody>
            </table></div>` : null}
          </section>`)}`}
  <//>`;
}

/**
 * The query of a range: the last N seconds, or from/until.
 * @param {string} range @param {string} from @param {string} until
 */
function window_(range, from, until) {
  if (range === 'custom') {
    const since = new Date(from).getTime();
    const end = new Date(until).getTime();
    return { since: Number.isFinite(since) ? since : undefined, until: Number.isFinite(end) ? end : undefined };
  }
  return { since: Date.now() - Number(range) * 1000, until: Date.now() };
}
