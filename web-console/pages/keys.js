// @ts-check
// An app's keys: list, create (the secret is shown once, with a copy button; optionally expiring),
// revoke (its connections close with 4001).

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { del, get, post } from '../client.js';
import { appPath } from '../router.js';
import {
  Empty, ErrorState, FormError, Input, Loading, OnceValue, Page, confirmAction, errorFor, useAction, useLoad,
} from '../ui.js';
import { whenSecs } from '../format.js';
import { canWrite, rememberSecret, useMe } from '../session.js';

/** @typedef {import('../api-types').Schemas} Schemas */

/** @param {import('../app.js').AppPageProps} props */
export function Keys({ app }) {
  const me = useMe();
  const writable = canWrite(me, app.tenant_id);
  const keys = useLoad((signal) => get('/api/v1/apps/{app_id}/keys', {
    // include_secrets is a query parameter (the spec has it in the path; see api-types.d.ts)
    path: /** @type {any} */ ({ app_id: app.id }),
    signal,
  }), [app.id]);
  const [label, setLabel] = useState('');
  const [expires, setExpires] = useState('');
  const [created, setCreated] = useState(/** @type {Schemas['AppKey'] | null} */ (null));
  const create = useAction(async () => {
    const expiresAt = expires ? Math.floor(new Date(expires).getTime() / 1000) : null;
    const key = await post('/api/v1/apps/{app_id}/keys', {
      path: { app_id: app.id },
      body: { label: label.trim(), ...(expiresAt ? { expires_at: expiresAt } : {}) },
    });
    rememberSecret(key.key, key.secret);
    setCreated(key);
    setLabel('');
    setExpires('');
    keys.reload();
  });
  const revoke = useAction(async (/** @type {Schemas['AppKey']} */ key) => {
    const ok = await confirmAction({
      title: `Revoke key ${key.key}?`,
      message: html`<p>The key <code>${key.key}</code>${key.label ? html` (“${key.label}”)` : ''} of <strong>${app.name}</strong> is refused from now on,
        on every node: <strong>its connections close with 4001</strong> (key revoked or unknown), and publishes signed with its secret get 401.</p>`,
      confirm: 'Revoke key',
    });
    if (!ok) return;
    await del('/api/v1/apps/{app_id}/keys/{key}', { path: { app_id: app.id, key: key.key } });
    if (created?.key === key.key) setCreated(null);
    keys.reload();
  });
  const list = keys.data;
  const now = Date.now() / 1000;
  return html`<${Page} title="Keys" lead="Clients connect with a key; publishers sign with its secret. Rotate by creating a new key, moving clients over, then revoking the old one.">
    ${writable ? html`<form class="card" aria-labelledby="new-key" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); create.run(); }}>
      <h2 id="new-key">New key</h2>
      <div class="grid">
        <${Input} label="Key label" value=${label} onValue=${setLabel} hint="What uses it, e.g. “web” or “backend”." error=${errorFor(create.error, 'label')} />
        <${Input} label="Expires at (optional)" type="datetime-local" value=${expires} onValue=${setExpires}
          hint="After this the key stops working. Left empty, it never expires." error=${errorFor(create.error, 'expires_at')} />
      </div>
      <${FormError} error=${create.error} fields=${['label', 'expires_at']} />
      <button type="submit" class="primary" disabled=${create.busy}>Create key</button>
    </form>` : null}
    ${created ? html`<section class="card" aria-labelledby="created-key">
      <h2 id="created-key">Key ${created.key} created</h2>
      ${created.secret ? html`<${OnceValue} label="Secret" value=${created.secret} />` : null}
      <p><a href=${`${appPath(app.id, 'start')}?key=${encodeURIComponent(created.key)}`}>Snippets with this key</a></p>
    </section>` : null}
    <${FormError} error=${revoke.error} />
    ${keys.error ? html`<${ErrorState} error=${keys.error} retry=${keys.reload} what="The keys could not be loaded" />`
      : !list ? html`<${Loading} what="Loading keys" />`
        : list.length === 0 ? html`<${Empty} title="This app has no keys.">${writable ? 'Create one above: clients cannot connect without one.' : 'A tenant admin can create one.'}<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">Keys of ${app.name}</caption>
        <thead><tr><th scope="col">Key</th><th scope="col">Label</th><th scope="col">Created</th><th scope="col">Last used</th>
          <th scope="col">Expires</th><th scope="col">State</th>${writable ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}</tr></thead>
        <tbody>${list.map((k) => {
          const expired = k.expires_at && k.expires_at < now;
          return html`<tr>
            <th scope="row"><code>${k.key}</code></th><td>${k.label || '—'}</td><td>${whenSecs(k.created_at)}</td>
            <td>${whenSecs(k.last_used_at)}</td><td>${k.expires_at ? whenSecs(k.expires_at) : 'never'}</td>
            <td>${k.revoked_at ? html`<span class="badge bad">revoked</span>` : expired ? html`<span class="badge bad">expired</span>`
              : html`<span class="badge good">active</span>`}</td>
            ${writable ? html`<td>${k.revoked_at ? null : html`<button type="button" class="small danger" disabled=${revoke.busy}
              aria-label=${`Revoke key ${k.key}`} onClick=${() => revoke.run(k)}>Revoke</button>`}</td>` : null}
          </tr>`;
        })}</tbody>
      </table></div>`}
  <//>`;
}
