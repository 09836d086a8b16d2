// @ts-check
// Account: who am I (email, role, tenant), change password, sign out.

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { login, post, ApiError } from '../client.js';
import { Page, Input, FormError, Notice, errorFor, useAction } from '../ui.js';
import { useMe, whoName } from '../session.js';
import { ROLES, when } from '../format.js';

/** @param {{onSignOut: () => void}} props */
export function Account({ onSignOut }) {
  const me = useMe();
  return html`<${Page} title="Account">
    <section class="card" aria-labelledby="who-title">
      <h2 id="who-title">Signed in as</h2>
      <dl class="facts">
        <dt>Email</dt><dd>${whoName(me)}</dd>
        <dt>Role</dt><dd>${ROLES[me.role]}</dd>
        ${me.tenant_id ? html`<dt>Tenant</dt><dd><code>${me.tenant_id}</code></dd>` : null}
        ${me.admin ? html`<dt>Admin since</dt><dd>${when(me.admin.created_at * 1000)}</dd>` : null}
      </dl>
      <button type="button" onClick=${onSignOut}>Sign out</button>
    </section>
    ${me.admin ? html`<${ChangePassword} email=${me.admin.email} />` : null}
  <//>`;
}

/** @param {{email: string}} props */
function ChangePassword({ email }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [done, setDone] = useState(false);
  const action = useAction(async () => {
    setDone(false);
    if (next !== again) throw new ApiError(400, 'bad_request', 'The two new passwords differ.', 'new_password_again');
    // A wrong current password is a 400 naming the field (shown by it).
    await post('/api/v1/auth/password', { body: { current_password: current, new_password: next } });
    // The change ends every session of this admin, this one's refresh token too: sign in again
    // with the new password, so this tab stays signed in (a reload included).
    try {
      await login(email, next);
    } catch (e) {
      throw new Error(`The password was changed, but signing in again with it failed (${e instanceof Error ? e.message : e}); this page signs out within 15 minutes.`);
    }
    setCurrent('');
    setNext('');
    setAgain('');
    setDone(true);
  });
  const fields = ['current_password', 'new_password', 'new_password_again'];
  return html`<section class="card" aria-labelledby="pw-title">
    <h2 id="pw-title">Change password</h2>
    <form onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); action.run(); }}>
      <input type="text" name="username" autocomplete="username" value="" hidden />
      <${Input} label="Current password" type="password" value=${current} onValue=${setCurrent} required
        autocomplete="current-password" error=${errorFor(action.error, 'current_password')} />
      <${Input} label="New password" type="password" value=${next} onValue=${setNext} required
        autocomplete="new-password" hint="At least 12 characters." error=${errorFor(action.error, 'new_password')} />
      <${Input} label="New password again" type="password" value=${again} onValue=${setAgain} required
        autocomplete="new-password" error=${errorFor(action.error, 'new_password_again')} />
      <${FormError} error=${action.error} fields=${fields} />
      <${Notice}>${done ? 'Password changed. Your other sessions are signed out (an open page keeps working for at most 15 minutes).' : null}<//>
      <button type="submit" class="primary" disabled=${action.busy}>Change password</button>
    </form>
  </section>`;
}
