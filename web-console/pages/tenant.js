// @ts-check
// One tenant: its apps (list, create), and for owners its limits, suspension and deletion.

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { del, get, patch, post } from '../client.js';
import { BASE, appPath, navigate } from '../router.js';
import { TenantTabs } from '../layout.js';
import {
  Empty, ErrorState, FormError, Input, Loading, Notice, OnceValue, Page, confirmAction, errorFor, useAction, useLoad,
} from '../ui.js';
import { whenSecs } from '../format.js';
import { canWrite, isOwner, rememberSecret, useMe } from '../session.js';

/** @typedef {import('../api-types').Schemas} Schemas */

/** @param {{tenantId: string}} props */
export function TenantApps({ tenantId }) {
  const me = useMe();
  const loaded = useLoad(async (signal) => {
    const [tenant, apps] = await Promise.all([
      get('/api/v1/tenants/{tenant_id}', { path: { tenant_id: tenantId }, signal }),
      get('/api/v1/tenants/{tenant_id}/apps', { path: { tenant_id: tenantId }, signal }),
    ]);
    return { tenant, apps };
  }, [tenantId]);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState(/** @type {Schemas['CreatedApp'] | null} */ (null));
  if (loaded.error) {
    return html`<${Page} title="Tenant"><${ErrorState} error=${loaded.error} retry=${loaded.reload} what="The tenant could not be loaded" /><//>`;
  }
  if (!loaded.data) return html`<${Loading} what="Loading the tenant" />`;
  const { tenant, apps } = loaded.data;
  const writable = canWrite(me, tenant.id);
  return html`<${Page} title=${tenant.name}
      lead=${html`Tenant <code>${tenant.slug}</code> · <span class=${`badge ${tenant.status === 'suspended' ? 'bad' : 'good'}`}>${tenant.status}</span>`}
      actions=${writable && !creating ? html`<button type="button" class="primary" onClick=${() => { setCreated(null); setCreating(true); }}>New app</button>` : null}>
    <${TenantTabs} tenantId=${tenant.id} tab="" />
    ${tenant.status === 'suspended' ? html`<p class="warning" role="status">This tenant is suspended: its apps refuse connections (4003) and publishes.</p>` : null}
    ${creating ? html`<${CreateApp} tenantId=${tenant.id} onCancel=${() => setCreating(false)}
      onDone=${(/** @type {Schemas['CreatedApp']} */ c) => { setCreating(false); setCreated(c); loaded.reload(); }} />` : null}
    ${created ? html`<section class="card" aria-labelledby="created-title">
      <h2 id="created-title">App “${created.app.name}” created</h2>
      <dl class="facts"><dt>App id</dt><dd><code>${created.app.id}</code></dd><dt>Key</dt><dd><code>${created.key.key}</code></dd></dl>
      ${created.key.secret ? html`<${OnceValue} label="Secret" value=${created.key.secret} />` : null}
      <p><a href=${`${appPath(created.app.id, 'start')}?key=${encodeURIComponent(created.key.key)}`}>Getting started with ${created.app.name}</a></p>
    </section>` : null}
    <h2>Apps</h2>
    ${apps.length === 0
      ? html`<${Empty} title="No apps in this tenant yet.">${writable ? 'Create one with “New app”: it gets a key and secret to connect with.' : 'A tenant admin can create one.'}<//>`
      : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">Apps of ${tenant.name}</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">App id</th><th scope="col">State</th><th scope="col">Created</th></tr></thead>
        <tbody>${apps.map((a) => html`<tr key=${a.id}>
          <th scope="row"><a href=${appPath(a.id)}>${a.name}</a></th>
          <td><code>${a.id}</code></td>
          <td><span class=${`badge ${a.settings.enabled === false ? 'bad' : 'good'}`}>${a.settings.enabled === false ? 'disabled' : 'enabled'}</span></td>
          <td>${whenSecs(a.created_at)}</td>
        </tr>`)}</tbody>
      </table></div>`}
    ${writable ? html`<${TenantSettings} tenant=${tenant} apps=${apps} onChange=${loaded.reload} />` : null}
  <//>`;
}

/** @param {{tenantId: string, onDone: (created: Schemas['CreatedApp']) => void, onCancel: () => void}} props */
function CreateApp({ tenantId, onDone, onCancel }) {
  const [name, setName] = useState('');
  const [id, setId] = useState('');
  const action = useAction(async () => {
    const created = await post('/api/v1/tenants/{tenant_id}/apps', {
      path: { tenant_id: tenantId },
      body: { name: name.trim(), ...(id.trim() ? { id: id.trim() } : {}) },
    });
    rememberSecret(created.key.key, created.key.secret);
    onDone(created);
  });
  return html`<form class="card" aria-labelledby="new-app" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); action.run(); }}>
    <h2 id="new-app">New app</h2>
    <div class="grid">
      <${Input} label="App name" value=${name} onValue=${setName} required error=${errorFor(action.error, 'name')} />
      <${Input} label="App id (optional)" value=${id} onValue=${setId} hint="Left empty, a 7-digit id is generated."
        error=${errorFor(action.error, 'id')} />
    </div>
    <${FormError} error=${action.error} fields=${['name', 'id']} />
    <div class="form-actions">
      <button type="submit" class="primary" disabled=${action.busy}>Create app</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

/** @param {{tenant: Schemas['Tenant'], apps: Schemas['App'][], onChange: () => void}} props */
function TenantSettings({ tenant, apps, onChange }) {
  const me = useMe();
  const owner = isOwner(me);
  const [name, setName] = useState(tenant.name);
  const [maxApps, setMaxApps] = useState(String(tenant.max_apps ?? 0));
  const [maxConnections, setMaxConnections] = useState(String(tenant.max_connections ?? 0));
  const [maxMessages, setMaxMessages] = useState(String(tenant.max_messages_per_day ?? 0));
  const [saved, setSaved] = useState('');
  const save = useAction(async () => {
    setSaved('');
    /** @type {Schemas['UpdateTenant']} */
    const body = { name: name.trim() };
    if (owner) {
      body.max_apps = Number(maxApps) || 0;
      body.max_connections = Number(maxConnections) || 0;
      body.max_messages_per_day = Number(maxMessages) || 0;
    }
    await patch('/api/v1/tenants/{tenant_id}', { path: { tenant_id: tenant.id }, body });
    setSaved('Saved. Every node applies the change within a second.');
    onChange();
  });
  const suspend = useAction(async () => {
    const suspending = tenant.status !== 'suspended';
    if (suspending) {
      const ok = await confirmAction({
        title: `Suspend tenant “${tenant.name}”?`,
        message: html`<p>Its ${apps.length} app${apps.length === 1 ? '' : 's'} stop accepting connections and publishes;
          every open connection closes with <strong>4003</strong> (app disabled / tenant suspended). Resume it to let them back.</p>`,
        confirm: 'Suspend tenant',
      });
      if (!ok) return;
    }
    await patch('/api/v1/tenants/{tenant_id}', {
      path: { tenant_id: tenant.id }, body: { status: suspending ? 'suspended' : 'active' },
    });
    onChange();
  });
  const remove = useAction(async () => {
    const ok = await confirmAction({
      title: `Delete tenant “${tenant.name}”?`,
      message: html`<p>This deletes the tenant <strong>${tenant.name}</strong> (<code>${tenant.slug}</code>) with its admins, API tokens and
        ${apps.length === 0 ? ' no apps.' : html` its ${apps.length} app${apps.length === 1 ? '' : 's'}:`}</p>
        ${apps.length ? html`<ul>${apps.map((a) => html`<li><strong>${a.name}</strong> (<code>${a.id}</code>)</li>`)}</ul>` : null}
        <p>Their keys stop working and their connections close. This cannot be undone.</p>`,
      confirm: `Delete ${tenant.name}`,
    });
    if (!ok) return;
    await del('/api/v1/tenants/{tenant_id}', { path: { tenant_id: tenant.id } });
    navigate(`${BASE}/tenants`);
  });
  const e = save.error;
  return html`<section class="card" aria-labelledby="tenant-settings">
    <h2 id="tenant-settings">Tenant settings</h2>
    <form onSubmit=${(/** @type {Event} */ ev) => { ev.preventDefault(); save.run(); }}>
      <div class="grid">
        <${Input} label="Tenant name" value=${name} onValue=${setName} required error=${errorFor(e, 'name')} />
        ${owner ? html`
          <${Input} label="Max apps" type="number" min=${0} value=${maxApps} onValue=${setMaxApps} hint="0 means unlimited." error=${errorFor(e, 'max_apps')} />
          <${Input} label="Max connections" type="number" min=${0} value=${maxConnections} onValue=${setMaxConnections}
            hint="Summed over the tenant's apps; 0 means unlimited." error=${errorFor(e, 'max_connections')} />
          <${Input} label="Max messages per day" type="number" min=${0} value=${maxMessages} onValue=${setMaxMessages}
            hint="0 means unlimited." error=${errorFor(e, 'max_messages_per_day')} />` : null}
      </div>
      <${FormError} error=${e} fields=${['name', 'max_apps', 'max_connections', 'max_messages_per_day']} />
      <${Notice}>${saved}<//>
      <button type="submit" class="primary" disabled=${save.busy}>Save tenant</button>
    </form>
    ${owner ? html`<div class="danger-zone">
      <h3>Status</h3>
      <p>${tenant.status === 'suspended'
        ? 'Suspended: its apps refuse connections and publishes.'
        : 'Suspending closes every connection of its apps with 4003 (app disabled / tenant suspended) and refuses new ones.'}</p>
      <${FormError} error=${suspend.error} />
      <button type="button" class=${tenant.status === 'suspended' ? 'primary' : 'danger'} disabled=${suspend.busy}
        onClick=${() => suspend.run()}>${tenant.status === 'suspended' ? 'Resume tenant' : 'Suspend tenant'}</button>
      <h3>Delete</h3>
      <p>Deletes the tenant, its apps, admins and API tokens.</p>
      <${FormError} error=${remove.error} />
      <button type="button" class="danger" disabled=${remove.busy} onClick=${() => remove.run()}>Delete tenant</button>
    </div>` : null}
  </section>`;
}
