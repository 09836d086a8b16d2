// @ts-check
// The webhook endpoints editor of the settings page: URL, the events it wants, an optional channel
// prefix; at most 10 endpoints.

import { html } from '../vendor/htm-preact.mjs';
import { useId } from '../vendor/hooks.mjs';
import { Checkbox, Input, errorAt } from '../ui.js';

export const WEBHOOK_EVENTS = /** @type {const} */ ([
  'channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss', 'subscription_count',
]);

/** @typedef {{url: string, events: string[], channel_prefix: string}} Endpoint */

/**
 * `error` is the settings form's last error: one that names a field of an endpoint
 * (`settings.webhooks[0].url`, `settings.webhooks[1].events`) shows next to that field, one about
 * the list as a whole at its top.
 * @param {{endpoints: Endpoint[], onChange: (endpoints: Endpoint[]) => void, error: unknown, writable: boolean}} props
 */
export function WebhookEndpoints({ endpoints, onChange, error, writable }) {
  const id = useId();
  const listError = errorAt(error, 'settings.webhooks')
    // an endpoint the form no longer has (removed since the save)
    ?? (endpoints.some((_, i) => errorAt(error, `settings.webhooks[${i}]`, { under: true }))
      ? null : errorAt(error, 'settings.webhooks', { under: true }));
  const update = (/** @type {number} */ i, /** @type {Partial<Endpoint>} */ change) =>
    onChange(endpoints.map((e, j) => (i === j ? { ...e, ...change } : e)));
  const toggle = (/** @type {number} */ i, /** @type {string} */ event, /** @type {boolean} */ on) => {
    const events = on ? [...endpoints[i].events, event] : endpoints[i].events.filter((x) => x !== event);
    update(i, { events: WEBHOOK_EVENTS.filter((x) => events.includes(x)) });
  };
  return html`<section class="card" aria-labelledby="s-webhooks">
    <h2 id="s-webhooks">Webhook endpoints</h2>
    <p class="hint">Herald POSTs Pusher-format batches, signed with the app's key and secret (X-Pusher-Key, X-Pusher-Signature), and retries failures for about 8 minutes.</p>
    ${listError ? html`<p class="field-error" role="alert">${listError}</p>` : null}
    ${endpoints.length === 0 ? html`<p class="state empty">No webhook endpoints: this app sends no webhooks.</p>` : null}
    ${endpoints.map((endpoint, i) => {
      const at = `settings.webhooks[${i}]`;
      const urlError = errorAt(error, `${at}.url`);
      const eventsError = errorAt(error, `${at}.events`, { under: true });
      const prefixError = errorAt(error, `${at}.channel_prefix`);
      const otherError = urlError || eventsError || prefixError ? null : errorAt(error, at, { under: true });
      const eventsErrorId = `${id}-events-${i}-error`;
      return html`<fieldset class="endpoint">
      <legend>Endpoint ${i + 1}</legend>
      ${otherError ? html`<p class="field-error" role="alert">${otherError}</p>` : null}
      <${Input} label=${`Endpoint ${i + 1} URL`} type="url" value=${endpoint.url} required placeholder="https://example.com/pusher/webhooks"
        error=${urlError} onValue=${(/** @type {string} */ url) => update(i, { url })} />
      <fieldset class=${`events${eventsError ? ' invalid' : ''}`} aria-describedby=${eventsError ? eventsErrorId : undefined}>
        <legend>Events sent to endpoint ${i + 1}</legend>
        ${WEBHOOK_EVENTS.map((event) => html`<${Checkbox} label=${event} checked=${endpoint.events.includes(event)}
          onChecked=${(/** @type {boolean} */ on) => toggle(i, event, on)} />`)}
        ${eventsError ? html`<p class="field-error events-error" id=${eventsErrorId}>${eventsError}</p>` : null}
      </fieldset>
      <${Input} label=${`Endpoint ${i + 1} channel prefix`} value=${endpoint.channel_prefix} placeholder="presence-"
        hint="Only channels whose name starts with this; empty means every channel." error=${prefixError}
        onValue=${(/** @type {string} */ channel_prefix) => update(i, { channel_prefix })} />
      ${writable ? html`<button type="button" class="small danger" onClick=${() => onChange(endpoints.filter((_, j) => j !== i))}
        aria-label=${`Remove endpoint ${i + 1}${endpoint.url ? ` (${endpoint.url})` : ''}`}>Remove endpoint</button>` : null}
    </fieldset>`;
    })}
    ${writable && endpoints.length < 10 ? html`<button type="button"
      onClick=${() => onChange([...endpoints, { url: '', events: ['channel_occupied', 'channel_vacated'], channel_prefix: '' }])}>Add endpoint</button>` : null}
  </section>`;
}
