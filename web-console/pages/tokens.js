// @ts-check
// A tenant's API tokens: list, create (the token is shown once), revoke.

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { del, get, post } from '../client.js';
import { TenantTabs } from '../layout.js';
import {
  Empty, ErrorState, FormError, Input, Loading, OnceValue, Page, Select, confirmAction, errorFor, useAction, useLoad,
} from '../ui.js';
import { ROLES, whenSecs } from '../format.js';
import { canWrite, useMe } from '../session.js';

/** @param {{tenantId: string}} props */
export function Tokens({ tenantId }) {
  const me = useMe();
  const writable = canWrite(me, tenantId);
  const tokens = useLoad((signal) => get('/api/v1/tenants/{tenant_id}/tokens', { path: { tenant_id: tenantId }, signal }), [tenantId]);
  const [name, setName] = useState('');
  const [role, setRole] = useState(/** @type {'tenant_admin' | 'tenant_viewer'} */ ('tenant_viewer'));
  const [shown, setShown] = useState(/** @type {string | null} */ (null));
  const create = useAction(async () => {
    const made = await post('/api/v1/tenants/{tenant_id}/tokens', { path: { tenant_id: tenantId }, body: { name: name.trim(), role } });
    setShown(made.token);
    setName('');
    tokens.reload();
  });
  const revoke = useAction(async (/** @type {import('../api-types').Schemas['ApiToken']} */ token) => {
    const ok = await confirmAction({
      title: `Revoke API token “${token.name}”?`,
      message: html`<p>Scripts using <strong>${token.name}</strong> (${ROLES[token.role]}) get 401 from now on.</p>`,
      confirm: 'Revoke token',
    });
    if (!ok) return;
    await del('/api/v1/tenants/{tenant_id}/tokens/{token_id}', { path: { tenant_id: tenantId, token_id: token.id } });
    tokens.reload();
  });
  const list = tokens.data;
  return html`<${Page} title="API tokens" lead="Tokens for scripts and CI: send one as Authorization: Bearer hrld_…; each is scoped to this tenant.">
    <${TenantTabs} tenantId=${tenantId} tab="tokens" />
    ${writable ? html`<form class="card" aria-labelledby="new-token" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); create.run(); }}>
      <h2 id="new-token">New API token</h2>
      <div class="grid">
        <${Input} label="Token name" value=${name} onValue=${setName} required error=${errorFor(create.error, 'name')} />
        <${Select} label="Token role" value=${role} onValue=${(/** @type {string} */ v) => setRole(/** @type {'tenant_admin' | 'tenant_viewer'} */ (v))}
          options=${[['tenant_viewer', ROLES.tenant_viewer], ['tenant_admin', ROLES.tenant_admin]]} error=${errorFor(create.error, 'role')} />
      </div>
      <${FormError} error=${create.error} fields=${['name', 'role']} />
      <button type="submit" class="primary" disabled=${create.busy}>Create token</button>
    </form>` : null}
    ${shown ? html`<${OnceValue} label="API token" value=${shown} />` : null}
    <${FormError} error=${revoke.error} />
    ${tokens.error ? html`<${ErrorState} error=${tokens.error} retry=${tokens.reload} what="The tokens could not be loaded" />`
      : !list ? html`<${Loading} what="Loading tokens" />`
        : list.length === 0 ? html`<${Empty} title="No API tokens.">${writable ? 'Create one above for a script or CI job.' : 'A tenant admin can create one.'}<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">API tokens</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">Last used</th>
          <th scope="col">State</th>${writable ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}</tr></thead>
        <tbody>${list.map((t) => html`<tr key=${t.id}>
          <th scope="row">${t.name}</th><td>${ROLES[t.role]}</td><td>${whenSecs(t.created_at)}</td><td>${whenSecs(t.last_used_at)}</td>
          <td>${t.revoked_at ? html`<span class="badge bad">revoked ${whenSecs(t.revoked_at)}</span>` : html`<span class="badge good">active</span>`}</td>
          ${writable ? html`<td>${t.revoked_at ? null : html`<button type="button" class="small danger" disabled=${revoke.busy}
            aria-label=${`Revoke token ${t.name}`} onClick=${() => revoke.run(t)}>Revoke</button>`}</td>` : null}
        </tr>`)}</tbody>
      </table></div>`}
  <//>`;
}
