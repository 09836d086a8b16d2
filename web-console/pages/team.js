// @ts-check
// Team: the admins (owners see every admin; tenant admins their tenant's). Owners create admins of
// any role, change roles and remove admins; tenant admins manage their own tenant's.

import { html } from '../vendor/htm-preact.mjs';
import { Fragment } from '../vendor/preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { del, get, patch, post } from '../client.js';
import { tenantPath } from '../router.js';
import {
  Empty, ErrorState, FormError, Input, Loading, OnceValue, Page, Select, confirmAction, errorFor, useAction, useLoad,
} from '../ui.js';
import { ROLES, whenSecs } from '../format.js';
import { canWrite, isOwner, useMe } from '../session.js';

/** @typedef {import('../api-types').Schemas} Schemas */
/** @typedef {Schemas['Role']} Role */

export function Team() {
  const me = useMe();
  const owner = isOwner(me);
  const loaded = useLoad(async (signal) => {
    const [admins, tenants] = await Promise.all([get('/api/v1/admins', { signal }), get('/api/v1/tenants', { signal })]);
    return { admins, tenants };
  }, []);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState(/** @type {string | null} */ (null));
  const [password, setPassword] = useState(/** @type {{email: string, password: string} | null} */ (null));
  const writable = owner || canWrite(me, me.tenant_id);
  const remove = useAction(async (/** @type {Schemas['Admin']} */ admin) => {
    const ok = await confirmAction({
      title: `Remove admin ${admin.email}?`,
      message: html`<p><strong>${admin.email}</strong> (${ROLES[admin.role]}) can no longer sign in; sessions already open end within 15 minutes.</p>`,
      confirm: `Remove ${admin.email}`,
    });
    if (!ok) return;
    await del('/api/v1/admins/{admin_id}', { path: { admin_id: admin.id } });
    loaded.reload();
  });
  const tenantName = (/** @type {string | null | undefined} */ id) => loaded.data?.tenants.find((t) => t.id === id)?.name ?? id;
  const list = loaded.data?.admins;
  return html`<${Page} title="Team" lead=${owner ? 'Every admin of this installation.' : 'The admins of your tenant.'}
      actions=${writable && !creating ? html`<button type="button" class="primary" onClick=${() => { setPassword(null); setCreating(true); }}>New admin</button>` : null}>
    ${!owner && me.tenant_id ? html`<p>API tokens and the audit log: <a href=${tenantPath(me.tenant_id, 'tokens')}>API tokens</a> ·
      <a href=${tenantPath(me.tenant_id, 'audit')}>Audit log</a>.</p>` : null}
    ${creating && loaded.data ? html`<${CreateAdmin} tenants=${loaded.data.tenants} onCancel=${() => setCreating(false)}
      onDone=${(/** @type {Schemas['CreatedAdmin']} */ made) => {
        setCreating(false);
        if (made.password) setPassword({ email: made.admin.email, password: made.password });
        loaded.reload();
      }} />` : null}
    ${password ? html`<${OnceValue} label=${`Password of ${password.email}`} value=${password.password}>
      It was generated and is shown only this once: hand it over safely; they can change it under Account.<//>` : null}
    <${FormError} error=${remove.error} />
    ${loaded.error ? html`<${ErrorState} error=${loaded.error} retry=${loaded.reload} what="The admins could not be loaded" />`
      : !list ? html`<${Loading} what="Loading admins" />`
        : list.length === 0 ? html`<${Empty} title="No admins.">Create one with “New admin”.<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">Admins</caption>
        <thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Tenant</th><th scope="col">Since</th>
          ${writable ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}</tr></thead>
        <tbody>${list.map((a) => {
          const mine = a.id === me.admin?.id;
          const manageable = writable && !mine && (owner || (a.tenant_id === me.tenant_id && a.role !== 'owner'));
          return html`<${Fragment} key=${a.id}><tr>
            <th scope="row">${a.email}${mine ? html` <span class="badge">you</span>` : null}</th>
            <td>${ROLES[a.role]}</td><td>${a.tenant_id ? tenantName(a.tenant_id) : '—'}</td><td>${whenSecs(a.created_at)}</td>
            ${writable ? html`<td class="row-actions">${manageable ? html`
              ${owner ? html`<button type="button" class="small" aria-label=${`Change role of ${a.email}`} aria-expanded=${editing === a.id ? 'true' : 'false'}
                onClick=${() => setEditing(editing === a.id ? null : a.id)}>Change role</button>` : null}
              <button type="button" class="small danger" aria-label=${`Remove ${a.email}`} disabled=${remove.busy}
                onClick=${() => remove.run(a)}>Remove</button>` : null}</td>` : null}
          </tr>
          ${editing === a.id && loaded.data ? html`<tr><td colspan="5">
            <${ChangeRole} admin=${a} tenants=${loaded.data.tenants} onCancel=${() => setEditing(null)}
              onDone=${() => { setEditing(null); loaded.reload(); }} />
          </td></tr>` : null}<//>`;
        })}</tbody>
      </table></div>`}
  <//>`;
}

/** @param {{tenants: Schemas['Tenant'][], onDone: (made: Schemas['CreatedAdmin']) => void, onCancel: () => void}} props */
function CreateAdmin({ tenants, onDone, onCancel }) {
  const me = useMe();
  const owner = isOwner(me);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState(/** @type {Role} */ ('tenant_viewer'));
  const [tenant, setTenant] = useState(me.tenant_id ?? tenants[0]?.id ?? '');
  const [password, setPassword] = useState('');
  const action = useAction(async () => {
    const made = await post('/api/v1/admins', {
      body: {
        email: email.trim(),
        role,
        ...(role !== 'owner' ? { tenant_id: tenant } : {}),
        ...(password ? { password } : {}),
      },
    });
    onDone(made);
  });
  /** @type {[string, string][]} */
  const roles = owner ? [['tenant_viewer', ROLES.tenant_viewer], ['tenant_admin', ROLES.tenant_admin], ['owner', ROLES.owner]]
    : [['tenant_viewer', ROLES.tenant_viewer], ['tenant_admin', ROLES.tenant_admin]];
  const e = action.error;
  return html`<form class="card" aria-labelledby="new-admin" onSubmit=${(/** @type {Event} */ ev) => { ev.preventDefault(); action.run(); }}>
    <h2 id="new-admin">New admin</h2>
    <div class="grid">
      <${Input} label="Admin email" type="email" value=${email} onValue=${setEmail} required error=${errorFor(e, 'email')} />
      <${Select} label="Role" value=${role} onValue=${(/** @type {string} */ v) => setRole(/** @type {Role} */ (v))} options=${roles} error=${errorFor(e, 'role')}
        hint="Owners manage everything; tenant admins one tenant; viewers only read." />
      ${owner && role !== 'owner' ? html`<${Select} label="Tenant" value=${tenant} onValue=${setTenant}
        options=${tenants.map((t) => [t.id, t.name])} error=${errorFor(e, 'tenant_id')} />` : null}
      <${Input} label="Password (optional)" type="password" value=${password} onValue=${setPassword} autocomplete="new-password"
        hint="At least 12 characters; left empty, one is generated and shown once." error=${errorFor(e, 'password')} />
    </div>
    <${FormError} error=${e} fields=${['email', 'role', 'tenant_id', 'password']} />
    <div class="form-actions">
      <button type="submit" class="primary" disabled=${action.busy}>Create admin</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

/** @param {{admin: Schemas['Admin'], tenants: Schemas['Tenant'][], onDone: () => void, onCancel: () => void}} props */
function ChangeRole({ admin, tenants, onDone, onCancel }) {
  const [role, setRole] = useState(/** @type {Role} */ (admin.role));
  const [tenant, setTenant] = useState(admin.tenant_id ?? tenants[0]?.id ?? '');
  const action = useAction(async () => {
    await patch('/api/v1/admins/{admin_id}', {
      path: { admin_id: admin.id },
      body: { role, ...(role !== 'owner' ? { tenant_id: tenant } : {}) },
    });
    onDone();
  });
  return html`<form class="inline-form" aria-label=${`Change role of ${admin.email}`}
      onSubmit=${(/** @type {Event} */ ev) => { ev.preventDefault(); action.run(); }}>
    <${Select} label=${`New role of ${admin.email}`} value=${role} onValue=${(/** @type {string} */ v) => setRole(/** @type {Role} */ (v))}
      options=${[['tenant_viewer', ROLES.tenant_viewer], ['tenant_admin', ROLES.tenant_admin], ['owner', ROLES.owner]]}
      error=${errorFor(action.error, 'role')} />
    ${role !== 'owner' ? html`<${Select} label="Of tenant" value=${tenant} onValue=${setTenant}
      options=${tenants.map((t) => [t.id, t.name])} error=${errorFor(action.error, 'tenant_id')} />` : null}
    <${FormError} error=${action.error} fields=${['role', 'tenant_id']} />
    <div class="form-actions">
      <button type="submit" class="primary" disabled=${action.busy}>Save role</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}
