// @ts-check
// Sign in: email and password; the refresh token comes back as an HttpOnly cookie, the access
// token stays in memory (client.js).

import { html } from '../vendor/htm-preact.mjs';
import { useEffect, useState } from '../vendor/hooks.mjs';
import { login, sentence, ApiError } from '../client.js';
import { Input, useAction } from '../ui.js';

/** @param {{onSignedIn: () => Promise<void>, ended?: boolean}} props */
export function SignIn({ onSignedIn, ended = false }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction(async () => {
    await login(email.trim(), password);
    await onSignedIn();
  });
  useEffect(() => {
    document.title = 'Sign in · Herald';
  }, []);
  const error = action.error;
  const message = error instanceof ApiError && error.status === 401
    ? 'Wrong email or password.'
    : error instanceof ApiError && error.status === 429
      ? `${sentence(error.message)} Failed sign-ins slow down further ones for a while.`
      : error instanceof Error ? error.message : null;
  return html`<main id="main" class="signin">
    <form class="card signin-card" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); action.run(); }}>
      <h1 tabindex="-1" id="page-title"><span class="brand-mark" aria-hidden="true"></span>Sign in to Herald</h1>
      ${ended ? html`<p class="notice" role="status">Your session ended. Sign in again to go on.</p>` : null}
      <${Input} label="Email" type="email" value=${email} onValue=${setEmail} required autocomplete="username" name="email" />
      <${Input} label="Password" type="password" value=${password} onValue=${setPassword} required
        autocomplete="current-password" name="password" />
      ${message ? html`<p class="form-error" role="alert">${message}</p>` : null}
      <button type="submit" class="primary wide" disabled=${action.busy}>${action.busy ? 'Signing in…' : 'Sign in'}</button>
      <p class="hint">No account? An owner creates admins (Team), or on the server:${' '}
        <code>herald admins create --email you@example.com --role owner</code>.</p>
    </form>
  </main>`;
}
