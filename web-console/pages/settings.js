// @ts-check
// An app's settings: every per-app setting, allowed origins and webhook endpoints, saved as one
// PATCH of what changed; the API's validation message shows next to its field. Also the app's
// name and its deletion.

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { del, patch } from '../client.js';
import { navigate, tenantPath } from '../router.js';
import { Checkbox, Field, FormError, Input, Notice, Page, confirmAction, errorFor, useAction } from '../ui.js';
import { WebhookEndpoints } from './webhook-endpoints.js';
import { canWrite, useMe } from '../session.js';

/** @typedef {import('../api-types').Schemas} Schemas */
/** @typedef {Schemas['AppSettings']} AppSettings */

/** The numeric settings: [name, label, hint]. */
const NUMBERS = /** @type {const} */ ([
  ['max_connections', 'Max connections', 'Concurrent connections over the whole cluster; 0 means unlimited. Over it, connects are refused with 4004.'],
  ['client_event_rate', 'Client events per second', 'Per connection; a client sending faster is closed with 4301.'],
  ['max_presence_members', 'Max presence members', 'Members of one presence channel.'],
  ['max_presence_member_bytes', 'Max presence member bytes', 'Largest user_info of a presence member.'],
  ['max_payload_bytes', 'Max payload bytes', 'Largest event data; a bigger publish gets HTTP 413.'],
  ['cache_ttl', 'Cache TTL (seconds)', 'How long a cache channel keeps its last event.'],
  ['history_max_messages', 'History messages per channel', 'Kept for resume and the history API.'],
  ['history_max_age', 'History max age (seconds)', 'How long a message is kept for resume and the history API.'],
  ['idempotency_window', 'Idempotency window (seconds)', 'How long a publish’s idempotency key is remembered.'],
]);

/** The switches: [name, label, hint]. */
const SWITCHES = /** @type {const} */ ([
  ['enabled', 'App enabled', 'Disabled, it refuses connections and publishes; open connections close with 4003.'],
  ['client_events', 'Client events', 'Clients may send client-* events on private and presence channels.'],
  ['subscription_count', 'Subscription count', 'Send pusher_internal:subscription_count to subscribers.'],
  ['log_payload_previews', 'Payload previews in the debug console', 'Lifecycle events of publishes show the start of the data.'],
]);

/**
 * @typedef {{[K in typeof NUMBERS[number][0]]: string} & {[K in typeof SWITCHES[number][0]]: boolean}
 *   & {allowed_origins: string, webhooks: {url: string, events: string[], channel_prefix: string}[]}} SettingsForm
 */

/** @param {AppSettings} s @returns {SettingsForm} */
const formOf = (s) => /** @type {SettingsForm} */ ({
  ...Object.fromEntries(NUMBERS.map(([name]) => [name, String(s[name] ?? '')])),
  ...Object.fromEntries(SWITCHES.map(([name]) => [name, Boolean(s[name])])),
  allowed_origins: (s.allowed_origins ?? []).join('\n'),
  webhooks: (s.webhooks ?? []).map((w) => ({ url: w.url, events: [...w.events], channel_prefix: w.channel_prefix ?? '' })),
});

/**
 * The settings that differ between the saved app and the form, as a SettingsPatch.
 * @param {AppSettings} saved @param {SettingsForm} form
 */
function changes(saved, form) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [name] of NUMBERS) {
    const text = String(form[name]).trim();
    const value = text === '' ? NaN : Number(text);
    // Anything but a whole number goes as typed, so the API names the field and says why.
    const sent = Number.isInteger(value) ? value : text;
    if (sent !== saved[name]) out[name] = sent;
  }
  for (const [name] of SWITCHES) if (form[name] !== Boolean(saved[name])) out[name] = form[name];
  const origins = String(form.allowed_origins).split(/[\n,]/).map((o) => o.trim()).filter(Boolean);
  if (JSON.stringify(origins) !== JSON.stringify(saved.allowed_origins ?? [])) out.allowed_origins = origins;
  const hooks = /** @type {SettingsForm['webhooks']} */ (form.webhooks).map((w) => ({
    url: w.url.trim(), events: w.events, ...(w.channel_prefix.trim() ? { channel_prefix: w.channel_prefix.trim() } : {}),
  }));
  const savedHooks = (saved.webhooks ?? []).map((w) => ({ url: w.url, events: w.events, ...(w.channel_prefix ? { channel_prefix: w.channel_prefix } : {}) }));
  if (JSON.stringify(hooks) !== JSON.stringify(savedHooks)) out.webhooks = hooks;
  return /** @type {Schemas['SettingsPatch']} */ (out);
}

/** @param {import('../app.js').AppPageProps} props */
export function Settings({ app, setApp }) {
  const me = useMe();
  const writable = canWrite(me, app.tenant_id);
  const [form, setForm] = useState(() => formOf(app.settings));
  const [name, setName] = useState(app.name);
  const [saved, setSaved] = useState('');
  const set = (/** @type {string} */ field) => (/** @type {unknown} */ value) => setForm((f) => ({ ...f, [field]: value }));
  const save = useAction(async () => {
    setSaved('');
    const diff = changes(app.settings, form);
    if (diff.enabled === false) {
      const ok = await confirmAction({
        title: `Disable ${app.name}?`,
        message: html`<p>Every connection of <strong>${app.name}</strong> closes with <strong>4003</strong> (app disabled) and new ones are refused until it is enabled again.</p>`,
        confirm: 'Disable app',
      });
      if (!ok) return;
    }
    const rename = name.trim() !== app.name ? { name: name.trim() } : {};
    if (!Object.keys(diff).length && !rename.name) {
      setSaved('Nothing changed.');
      return;
    }
    const next = await patch('/api/v1/apps/{app_id}', { path: { app_id: app.id }, body: { ...rename, settings: diff } });
    setApp(next);
    setForm(formOf(next.settings));
    setSaved('Saved. Every node applies it within a second.');
  });
  const remove = useAction(async () => {
    const ok = await confirmAction({
      title: `Delete app ${app.name}?`,
      message: html`<p>The app <strong>${app.name}</strong> (<code>${app.id}</code>) and all its keys are deleted; its connections close and publishes are refused. This cannot be undone.</p>`,
      confirm: `Delete ${app.name}`,
    });
    if (!ok) return;
    await del('/api/v1/apps/{app_id}', { path: { app_id: app.id } });
    navigate(tenantPath(app.tenant_id));
  });
  const e = save.error;
  const fields = ['name', ...NUMBERS.map(([n]) => n), ...SWITCHES.map(([n]) => n), 'allowed_origins', 'webhooks'];
  return html`<${Page} title="Settings" lead=${writable ? 'Changes apply on every node within a second, without a restart.' : 'Read only: your role cannot change settings.'}>
    <form onSubmit=${(/** @type {Event} */ ev) => { ev.preventDefault(); save.run(); }}>
      <fieldset disabled=${!writable} class="plain">
        <section class="card" aria-labelledby="s-general">
          <h2 id="s-general">General</h2>
          <${Input} label="App name" value=${name} onValue=${setName} required error=${errorFor(e, 'name')} />
          ${SWITCHES.map(([n, label, hint]) => html`<${Checkbox} label=${label} hint=${hint} checked=${form[n]}
            onChecked=${set(n)} error=${errorFor(e, n)} />`)}
        </section>
        <section class="card" aria-labelledby="s-limits">
          <h2 id="s-limits">Limits and history</h2>
          <div class="grid">
            ${NUMBERS.map(([n, label, hint]) => html`<${Input} label=${label} hint=${hint} type="number" inputmode="numeric"
              value=${form[n]} onValue=${set(n)} error=${errorFor(e, n)} />`)}
          </div>
        </section>
        <section class="card" aria-labelledby="s-origins">
          <h2 id="s-origins">Allowed origins</h2>
          <${Field} label="Allowed origins" hint="One per line, e.g. https://app.example.com. Empty means any origin may connect; others are refused with 4009."
              error=${errorFor(e, 'allowed_origins')}>
            ${(/** @type {string} */ id, /** @type {string | undefined} */ describedBy, /** @type {boolean} */ invalid) => html`<textarea id=${id} rows="3"
              aria-describedby=${describedBy} aria-invalid=${invalid ? 'true' : undefined} value=${form.allowed_origins}
              onInput=${(/** @type {Event} */ ev) => set('allowed_origins')(/** @type {HTMLTextAreaElement} */ (ev.currentTarget).value)}></textarea>`}
          <//>
        </section>
        <${WebhookEndpoints} endpoints=${form.webhooks} onChange=${set('webhooks')} error=${e} writable=${writable} />
      </fieldset>
      <${FormError} error=${e} fields=${fields} />
      <${Notice}>${saved}<//>
      ${writable ? html`<div class="form-actions sticky-actions">
        <button type="submit" class="primary" disabled=${save.busy}>${save.busy ? 'Saving…' : 'Save settings'}</button>
        <button type="button" onClick=${() => { setForm(formOf(app.settings)); setName(app.name); save.setError(null); setSaved(''); }}>Discard changes</button>
      </div>` : null}
    </form>
    ${writable ? html`<section class="card danger-zone" aria-labelledby="s-delete">
      <h2 id="s-delete">Delete app</h2>
      <p>Deletes ${app.name} and its keys; its connections close.</p>
      <${FormError} error=${remove.error} />
      <button type="button" class="danger" disabled=${remove.busy} onClick=${() => remove.run()}>Delete app</button>
    </section>` : null}
  <//>`;
}
