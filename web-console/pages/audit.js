// @ts-check
// A tenant's audit log: who changed what and when, newest first, filtered here by actor, action
// and target, paged with `before`.

import { html } from '../vendor/htm-preact.mjs';
import { useMemo, useState } from '../vendor/hooks.mjs';
import { get } from '../client.js';
import { TenantTabs } from '../layout.js';
import { Empty, ErrorState, Input, Loading, Page, useLoad } from '../ui.js';
import { whenSecs } from '../format.js';

const PAGE = 100;

/** @param {{tenantId: string, query: URLSearchParams}} props */
export function Audit({ tenantId }) {
  /** the `before` of each page shown so far; the first page has none */
  const [pages, setPages] = useState(/** @type {(number | undefined)[]} */ ([undefined]));
  const before = pages[pages.length - 1];
  const entries = useLoad((signal) => get('/api/v1/tenants/{tenant_id}/audit', {
    path: { tenant_id: tenantId },
    query: { limit: PAGE, before },
    signal,
  }), [tenantId, before]);
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const [text, setText] = useState('');
  const list = entries.data;
  const shown = useMemo(() => (list ?? []).filter((e) => (!actor || e.actor.includes(actor))
    && (!action || e.action.includes(action))
    && (!text || JSON.stringify(e).toLowerCase().includes(text.toLowerCase()))), [list, actor, action, text]);
  const last = list && list.length === PAGE ? list[list.length - 1].id : null;
  return html`<${Page} title="Audit log" lead="Every change to this tenant, its apps, keys, admins and tokens, and every sign-in.">
    <${TenantTabs} tenantId=${tenantId} tab="audit" />
    <form class="filters" role="search" aria-label="Filter the audit log" onSubmit=${(/** @type {Event} */ e) => e.preventDefault()}>
      <${Input} label="Actor" value=${actor} onValue=${setActor} placeholder="admin:ops@…" />
      <${Input} label="Action" value=${action} onValue=${setAction} placeholder="app.update" />
      <${Input} label="Text" value=${text} onValue=${setText} placeholder="anything in the entry" />
    </form>
    ${entries.error ? html`<${ErrorState} error=${entries.error} retry=${entries.reload} what="The audit log could not be loaded" />`
      : !list ? html`<${Loading} what="Loading the audit log" />`
        : shown.length === 0 ? html`<${Empty} title=${list.length ? 'No entry on this page matches the filters.' : 'No audit entries yet.'}>
          ${list.length ? 'Clear a filter, or go to the next page.' : 'Changes made through the API or the CLI appear here.'}<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">Audit entries</caption>
        <thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Detail</th></tr></thead>
        <tbody>${shown.map((e) => html`<tr key=${e.id}>
          <td>${whenSecs(e.at)}</td><td>${e.actor}</td><td><code>${e.action}</code></td><td><code>${e.target}</code></td>
          <td><code class="detail">${Object.keys(e.detail ?? {}).length ? JSON.stringify(e.detail) : ''}</code></td>
        </tr>`)}</tbody>
      </table></div>`}
    <div class="pager">
      <button type="button" disabled=${pages.length === 1} onClick=${() => setPages(pages.slice(0, -1))}>Newer</button>
      <span>Page ${pages.length}</span>
      <button type="button" disabled=${last === null} onClick=${() => last !== null && setPages([...pages, last])}>Older</button>
    </div>
  <//>`;
}
