// @ts-check
// An app's keys: list, create (the secret is shown once, with a copy button; optionally expiring),
// set or remove an active key's expiry, revoke (its connections close with 4001).

import { html } from '../vendor/htm-preact.mjs';
import { Fragment } from '../vendor/preact.mjs';
import { useEffect, useRef, useState } from '../vendor/hooks.mjs';
import { ApiError, del, get, patch, post } from '../client.js';
import { appPath } from '../router.js';
import {
  Empty, ErrorState, FormError, Input, Loading, Notice, OnceValue, Page, confirmAction, errorFor, useAction, useLoad,
} from '../ui.js';
import { localInput, whenSecs } from '../format.js';
import { canWrite, rememberSecret, useMe } from '../session.js';

/** @typedef {import('../api-types').Schemas} Schemas */

/** @param {import('../app.js').AppPageProps} props */
export function Keys({ app }) {
  const me = useMe();
  const writable = canWrite(me, app.tenant_id);
  const keys = useLoad((signal) => get('/api/v1/apps/{app_id}/keys', { path: { app_id: app.id }, signal }), [app.id]);
  /** the key whose expiry is being edited */
  const [editing, setEditing] = useState(/** @type {string | null} */ (null));
  const [changed, setChanged] = useState('');
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
    if (editing === key.key) setEditing(null);
    keys.reload();
  });
  const expiryChanged = (/** @type {Schemas['AppKey']} */ key) => {
    keys.setData((keys.data ?? []).map((k) => (k.key === key.key ? key : k)));
    setEditing(null);
    setChanged(key.expires_at ? `Key ${key.key} expires ${whenSecs(key.expires_at)}.` : `Key ${key.key} no longer expires.`);
  };
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
    <${Notice}>${changed}<//>
    ${keys.error ? html`<${ErrorState} error=${keys.error} retry=${keys.reload} what="The keys could not be loaded" />`
      : !list ? html`<${Loading} what="Loading keys" />`
        : list.length === 0 ? html`<${Empty} title="This app has no keys.">${writable ? 'Create one above: clients cannot connect without one.' : 'A tenant admin can create one.'}<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">Keys of ${app.name}</caption>
        <thead><tr><th scope="col">Key</th><th scope="col">Label</th><th scope="col">Created</th><th scope="col">Last used</th>
          <th scope="col">Expires</th><th scope="col">State</th>${writable ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}</tr></thead>
        <tbody>${list.map((k) => {
          const expired = k.expires_at && k.expires_at < now;
          const open = editing === k.key && !k.revoked_at;
          return html`<${Fragment} key=${k.key}><tr>
            <th scope="row"><code>${k.key}</code></th><td>${k.label || '—'}</td><td>${whenSecs(k.created_at)}</td>
            <td>${whenSecs(k.last_used_at)}</td><td>${k.expires_at ? whenSecs(k.expires_at) : 'never'}</td>
            <td>${k.revoked_at ? html`<span class="badge bad">revoked</span>` : expired ? html`<span class="badge bad">expired</span>`
              : html`<span class="badge good">active</span>`}</td>
            ${writable ? html`<td>${k.revoked_at ? null : html`<div class="row-actions">
              <button type="button" class="small" data-expiry-of=${k.key} aria-expanded=${open ? 'true' : 'false'}
                aria-controls=${open ? `expiry-${k.key}` : undefined} aria-label=${`Set expiry of key ${k.key}`}
                onClick=${() => { setChanged(''); setEditing(open ? null : k.key); }}>Set expiry</button>
              <button type="button" class="small danger" disabled=${revoke.busy}
                aria-label=${`Revoke key ${k.key}`} onClick=${() => revoke.run(k)}>Revoke</button>
            </div>`}</td>` : null}
          </tr>
          ${open ? html`<tr class="expanded"><td colspan="7">
            <${ExpiryForm} appId=${app.id} appKey=${k} onDone=${expiryChanged} onCancel=${() => setEditing(null)} />
          </td></tr>` : null}<//>`;
        })}</tbody>
      </table></div>`}
  <//>`;
}

/**
 * Sets or removes an active key's expiry (PATCH …/keys/{key}); the time is the browser's local time.
 * @param {{appId: string, appKey: Schemas['AppKey'], onDone: (key: Schemas['AppKey']) => void, onCancel: () => void}} props
 */
function ExpiryForm({ appId, appKey, onDone, onCancel }) {
  const [value, setValue] = useState(appKey.expires_at ? localInput(appKey.expires_at * 1000) : '');
  const form = useRef(/** @type {HTMLFormElement | null} */ (null));
  useEffect(() => {
    form.current?.querySelector('input')?.focus();
    // back to the row's button when the form goes
    return () => {
      const button = /** @type {HTMLElement | null} */ (document.querySelector(`[data-expiry-of="${appKey.key}"]`));
      button?.focus();
    };
  }, []);
  const save = useAction(async (/** @type {number | null} */ expiresAt) => {
    onDone(await patch('/api/v1/apps/{app_id}/keys/{key}', {
      path: { app_id: appId, key: appKey.key },
      body: { expires_at: expiresAt },
    }));
  });
  const submit = () => {
    const at = value ? new Date(value).getTime() : NaN;
    if (!Number.isFinite(at)) {
      save.setError(new ApiError(400, 'bad_request', 'Choose a date and time, or remove the expiry.', 'expires_at'));
    } else if (at <= Date.now()) {
      save.setError(new ApiError(400, 'bad_request', 'Choose a time in the future; to stop the key now, revoke it.', 'expires_at'));
    } else {
      void save.run(Math.floor(at / 1000));
    }
  };
  return html`<form class="inline-form" id=${`expiry-${appKey.key}`} ref=${form} aria-label=${`Expiry of key ${appKey.key}`} novalidate
      onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); submit(); }}
      onKeyDown=${(/** @type {KeyboardEvent} */ e) => { if (e.key === 'Escape') onCancel(); }}>
    <${Input} label=${`New expiry of key ${appKey.key}`} type="datetime-local" value=${value} onValue=${setValue}
      min=${localInput(Date.now())} error=${errorFor(save.error, 'expires_at')}
      hint="Your local time. After it the key is refused, like a revoked one." />
    <div class="form-actions">
      <button type="submit" class="primary small" disabled=${save.busy}>Save expiry</button>
      ${appKey.expires_at ? html`<button type="button" class="small" disabled=${save.busy}
        onClick=${() => void save.run(null)}>Remove expiry</button>` : null}
      <button type="button" class="small" onClick=${onCancel}>Cancel</button>
    </div>
    <${FormError} error=${save.error} fields=${['expires_at']} />
  </form>`;
}
