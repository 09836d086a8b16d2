// @ts-check
// Tenants (owners): the list and a form to create one.

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { get, post } from '../client.js';
import { tenantPath } from '../router.js';
import { Empty, ErrorState, FormError, Input, Loading, Page, errorFor, useAction, useLoad } from '../ui.js';
import { limit, whenSecs } from '../format.js';
import { isOwner, useMe } from '../session.js';

export function Tenants() {
  const me = useMe();
  const tenants = useLoad((signal) => get('/api/v1/tenants', { signal }), []);
  const [creating, setCreating] = useState(false);
  const list = tenants.data;
  return html`<${Page} title="Tenants"
      lead="Each tenant owns apps, admins and API tokens, within its plan limits."
      actions=${isOwner(me) && !creating ? html`<button type="button" class="primary" onClick=${() => setCreating(true)}>New tenant</button>` : null}>
    ${creating ? html`<${CreateTenant} onDone=${() => { setCreating(false); tenants.reload(); }} onCancel=${() => setCreating(false)} />` : null}
    ${tenants.error ? html`<${ErrorState} error=${tenants.error} retry=${tenants.reload} what="The tenants could not be loaded" />`
      : !list ? html`<${Loading} what="Loading tenants" />`
        : list.length === 0 ? html`<${Empty} title="No tenants yet.">Create the first with “New tenant”; apps belong to a tenant.<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
          <caption class="visually-hidden">Tenants</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">Slug</th><th scope="col">Status</th>
            <th scope="col">Max apps</th><th scope="col">Max connections</th><th scope="col">Messages per day</th><th scope="col">Created</th></tr></thead>
          <tbody>${list.map((t) => html`<tr key=${t.id}>
            <th scope="row"><a href=${tenantPath(t.id)}>${t.name}</a></th>
            <td><code>${t.slug}</code></td>
            <td><span class=${`badge ${t.status === 'suspended' ? 'bad' : 'good'}`}>${t.status}</span></td>
            <td>${limit(t.max_apps)}</td><td>${limit(t.max_connections)}</td><td>${limit(t.max_messages_per_day)}</td>
            <td>${whenSecs(t.created_at)}</td>
          </tr>`)}</tbody>
        </table></div>`}
  <//>`;
}

/** @param {{onDone: () => void, onCancel: () => void}} props */
function CreateTenant({ onDone, onCancel }) {
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [slugTouched, setSlugTouched] = useState(false);
  const [maxApps, setMaxApps] = useState('0');
  const [maxConnections, setMaxConnections] = useState('0');
  const [maxMessages, setMaxMessages] = useState('0');
  const action = useAction(async () => {
    await post('/api/v1/tenants', {
      body: {
        name: name.trim(),
        slug: slug.trim(),
        max_apps: Number(maxApps) || 0,
        max_connections: Number(maxConnections) || 0,
        max_messages_per_day: Number(maxMessages) || 0,
      },
    });
    onDone();
  });
  const onName = (/** @type {string} */ v) => {
    setName(v);
    if (!slugTouched) setSlug(v.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63));
  };
  const e = action.error;
  return html`<form class="card" aria-labelledby="new-tenant" onSubmit=${(/** @type {Event} */ ev) => { ev.preventDefault(); action.run(); }}>
    <h2 id="new-tenant">New tenant</h2>
    <div class="grid">
      <${Input} label="Name" value=${name} onValue=${onName} required error=${errorFor(e, 'name')} />
      <${Input} label="Slug" value=${slug} onValue=${(/** @type {string} */ v) => { setSlugTouched(true); setSlug(v); }} required
        hint="1 to 63 characters of a-z, 0-9 and -; unique." error=${errorFor(e, 'slug')} />
      <${Input} label="Max apps" type="number" min=${0} value=${maxApps} onValue=${setMaxApps} hint="0 means unlimited." error=${errorFor(e, 'max_apps')} />
      <${Input} label="Max connections" type="number" min=${0} value=${maxConnections} onValue=${setMaxConnections}
        hint="Summed over the tenant's apps; 0 means unlimited." error=${errorFor(e, 'max_connections')} />
      <${Input} label="Max messages per day" type="number" min=${0} value=${maxMessages} onValue=${setMaxMessages}
        hint="0 means unlimited." error=${errorFor(e, 'max_messages_per_day')} />
    </div>
    <${FormError} error=${e} fields=${['name', 'slug', 'max_apps', 'max_connections', 'max_messages_per_day']} />
    <div class="form-actions">
      <button type="submit" class="primary" disabled=${action.busy}>Create tenant</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}
