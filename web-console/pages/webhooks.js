// @ts-check
// Webhooks: deliveries with status, attempts, latency and response (filtered, paged), redelivery of
// a failed or dead one, and a test event sent to one of the app's endpoints.

import { html } from '../vendor/htm-preact.mjs';
import { Fragment } from '../vendor/preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { get, post } from '../client.js';
import { appPath } from '../router.js';
import { Empty, ErrorState, FormError, Input, Loading, Notice, Page, Select, useAction, useLoad } from '../ui.js';
import { count, when } from '../format.js';
import { WEBHOOK_EVENTS } from './webhook-endpoints.js';
import { canWrite, useMe } from '../session.js';

/** @typedef {import('../api-types').Schemas} Schemas */
/** @typedef {Schemas['Delivery']} Delivery */

const PAGE = 50;
const NO_FILTERS = { status: '', event: '', channel: '', user_id: '' };

/** @param {import('../app.js').AppPageProps} props */
export function Webhooks({ app }) {
  const me = useMe();
  const writable = canWrite(me, app.tenant_id);
  const [draft, setDraft] = useState(NO_FILTERS);
  const [filters, setFilters] = useState(NO_FILTERS);
  const [pages, setPages] = useState(/** @type {(number | undefined)[]} */ ([undefined]));
  const [open, setOpen] = useState(/** @type {number | null} */ (null));
  const before = pages[pages.length - 1];
  const list = useLoad((signal) => get('/api/v1/apps/{app_id}/webhooks/deliveries', {
    path: { app_id: app.id },
    query: {
      limit: PAGE,
      before,
      status: /** @type {Schemas['DeliveryStatus'] | undefined} */ (filters.status || undefined),
      event: /** @type {Schemas['WebhookEventKind'] | undefined} */ (filters.event || undefined),
      channel: filters.channel || undefined,
      user_id: filters.user_id || undefined,
    },
    signal,
  }), [app.id, filters, before]);
  const redeliver = useAction(async (/** @type {Delivery} */ d) => {
    await post('/api/v1/apps/{app_id}/webhooks/deliveries/{delivery_id}/redeliver', { path: { app_id: app.id, delivery_id: d.id } });
    list.reload();
  });
  const endpoints = app.settings.webhooks ?? [];
  const deliveries = list.data;
  const set = (/** @type {keyof typeof NO_FILTERS} */ k) => (/** @type {string} */ v) => setDraft({ ...draft, [k]: v });
  return html`<${Page} title="Webhooks" lead=${html`Every delivery to this app's endpoints and every attempt. Endpoints are edited in${' '}
      <a href=${appPath(app.id, 'settings')}>Settings</a>.`} actions=${html`<button type="button" onClick=${list.reload}>Refresh</button>`}>
    ${writable && endpoints.length ? html`<${TestEndpoint} appId=${app.id} urls=${endpoints.map((e) => e.url)} />` : null}
    ${!endpoints.length ? html`<p class="warning">This app has no webhook endpoints, so nothing new is sent. <a href=${appPath(app.id, 'settings')}>Add one in Settings</a>.</p>` : null}
    <form class="filters" role="search" aria-label="Filter deliveries"
        onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); setFilters(draft); setPages([undefined]); }}>
      <${Select} label="Status" value=${draft.status} onValue=${set('status')}
        options=${[['', 'Any'], ['pending', 'Pending'], ['delivered', 'Delivered'], ['dead', 'Dead (gave up)']]} />
      <${Select} label="Event" value=${draft.event} onValue=${set('event')} options=${[['', 'Any'], ...WEBHOOK_EVENTS.map((e) => [e, e])]} />
      <${Input} label="Channel" value=${draft.channel} onValue=${set('channel')} />
      <${Input} label="User id" value=${draft.user_id} onValue=${set('user_id')} />
      <div class="form-actions"><button type="submit" class="primary">Apply filters</button></div>
    </form>
    <${FormError} error=${redeliver.error} />
    ${list.error ? html`<${ErrorState} error=${list.error} retry=${list.reload} what="The deliveries could not be loaded" />`
      : !deliveries ? html`<${Loading} what="Loading deliveries" />`
        : deliveries.length === 0 ? html`<${Empty} title="No deliveries.">${endpoints.length
          ? 'A delivery is queued when a wanted event happens (a channel occupied, a member added, …); try “Send test event” above.'
          : 'Add an endpoint in Settings first.'}<//>`
          : html`<div class="table-wrap" tabindex="0" aria-busy=${list.loading ? 'true' : 'false'}><table>
        <caption class="visually-hidden">Webhook deliveries</caption>
        <thead><tr><th scope="col">Delivery</th><th scope="col">Created</th><th scope="col">Endpoint</th><th scope="col">Status</th>
          <th scope="col" class="num">Attempts</th><th scope="col">Last response</th><th scope="col" class="num">Latency</th>
          <th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>${deliveries.map((d) => {
          const last = d.attempts[d.attempts.length - 1];
          const failed = d.status === 'dead' || Boolean(d.last_error);
          // keyed by id: a refresh that brings newer deliveries keeps each row (and its open state, its focus) with its delivery
          return html`<${Fragment} key=${d.id}><tr>
            <th scope="row"><button type="button" class="link" aria-expanded=${open === d.id ? 'true' : 'false'}
              aria-label=${`Attempts of delivery ${d.id}`} onClick=${() => setOpen(open === d.id ? null : d.id)}>#${d.id}</button></th>
            <td>${when(d.created_at)}</td><td><code>${d.url}</code></td>
            <td><span class=${`badge ${d.status === 'delivered' ? 'good' : d.status === 'dead' ? 'bad' : ''}`}>${d.status}</span></td>
            <td class="num">${d.attempts.length}</td>
            <td>${last ? last.status_code ?? last.error ?? '—' : 'not tried yet'}</td>
            <td class="num">${last ? `${count(last.latency_ms)} ms` : '—'}</td>
            <td>${writable && failed ? html`<button type="button" class="small" disabled=${redeliver.busy}
              aria-label=${`Redeliver delivery ${d.id}`} onClick=${() => redeliver.run(d)}>Redeliver</button>` : null}</td>
          </tr>
          ${open === d.id ? html`<tr class="expanded"><td colspan="8"><${Attempts} delivery=${d} /></td></tr>` : null}<//>`;
        })}</tbody>
      </table></div>`}
    <div class="pager">
      <button type="button" disabled=${pages.length === 1} onClick=${() => setPages(pages.slice(0, -1))}>Newer</button>
      <span>Page ${pages.length}</span>
      <button type="button" disabled=${!deliveries || deliveries.length < PAGE}
        onClick=${() => deliveries && setPages([...pages, deliveries[deliveries.length - 1].id])}>Older</button>
    </div>
  <//>`;
}

/** @param {{delivery: Delivery}} props */
function Attempts({ delivery }) {
  let body = delivery.body;
  try {
    body = JSON.stringify(JSON.parse(body), null, 2);
  } catch { /* shown as it is */ }
  return html`<div class="delivery">
    ${delivery.status === 'pending' ? html`<p>Next attempt ${when(delivery.next_attempt_at)}.</p>` : null}
    ${delivery.attempts.length === 0 ? html`<p>Not attempted yet.</p>` : html`<table>
      <caption>Attempts of delivery ${delivery.id}</caption>
      <thead><tr><th scope="col">#</th><th scope="col">At</th><th scope="col">Response</th><th scope="col" class="num">Latency</th><th scope="col">Error</th></tr></thead>
      <tbody>${delivery.attempts.map((a, i) => html`<tr>
        <th scope="row">${i + 1}</th><td>${when(a.at)}</td><td>${a.status_code ?? 'none'}</td>
        <td class="num">${count(a.latency_ms)} ms</td><td>${a.error ?? ''}</td>
      </tr>`)}</tbody>
    </table>`}
    <h3>Body sent</h3>
    <pre class="json" tabindex="0"><code>${body}</code></pre>
  </div>`;
}

/** @param {{appId: string, urls: string[]}} props */
function TestEndpoint({ appId, urls }) {
  const [target, setTarget] = useState(urls[0]);
  const [result, setResult] = useState(/** @type {import('../api-types').Schemas['WebhookTestResult'] | null} */ (null));
  const action = useAction(async () => {
    setResult(null);
    setResult(await post('/api/v1/apps/{app_id}/webhooks/test', { path: { app_id: appId }, body: { url: target } }));
  });
  return html`<form class="card inline-form" aria-labelledby="test-title" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); action.run(); }}>
    <h2 id="test-title" class="visually-hidden">Test an endpoint</h2>
    <${Select} label="Endpoint to test" value=${target} onValue=${setTarget} options=${urls.map((u) => [u, u])} />
    <button type="submit" disabled=${action.busy}>${action.busy ? 'Sending…' : 'Send test event'}</button>
    <${FormError} error=${action.error} />
    ${result ? (result.ok
      ? html`<${Notice}>The endpoint answered ${result.status} in ${count(result.latency_ms)} ms.<//>`
      : html`<p class="form-error" role="alert">The test failed${result.status ? ` with ${result.status}` : ''} after ${count(result.latency_ms)} ms${result.error ? `: ${result.error}` : ''}.</p>`) : null}
  </form>`;
}
