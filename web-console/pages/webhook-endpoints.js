// @ts-check
// The webhook endpoints editor of the settings page: URL, the events it wants, an optional channel
// prefix; at most 10 endpoints.

import { html } from '../vendor/htm-preact.mjs';
import { Checkbox, Input } from '../ui.js';

export const WEBHOOK_EVENTS = /** @type {const} */ ([
  'channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss', 'subscription_count',
]);

/** @typedef {{url: string, events: string[], channel_prefix: string}} Endpoint */

/**
 * @param {{endpoints: Endpoint[], onChange: (endpoints: Endpoint[]) => void, error: string | null, writable: boolean}} props
 */
export function WebhookEndpoints({ endpoints, onChange, error, writable }) {
  const update = (/** @type {number} */ i, /** @type {Partial<Endpoint>} */ change) =>
    onChange(endpoints.map((e, j) => (i === j ? { ...e, ...change } : e)));
  const toggle = (/** @type {number} */ i, /** @type {string} */ event, /** @type {boolean} */ on) => {
    const events = on ? [...endpoints[i].events, event] : endpoints[i].events.filter((x) => x !== event);
    update(i, { events: WEBHOOK_EVENTS.filter((x) => events.includes(x)) });
  };
  return html`<section class="card" aria-labelledby="s-webhooks">
    <h2 id="s-webhooks">Webhook endpoints</h2>
    <p class="hint">Herald POSTs Pusher-format batches, signed with the app's key and secret (X-Pusher-Key, X-Pusher-Signature), and retries failures for about 8 minutes.</p>
    ${error ? html`<p class="field-error" role="alert">${error}</p>` : null}
    ${endpoints.length === 0 ? html`<p class="state empty">No webhook endpoints: this app sends no webhooks.</p>` : null}
    ${endpoints.map((endpoint, i) => html`<fieldset class="endpoint">
      <legend>Endpoint ${i + 1}</legend>
      <${Input} label=${`Endpoint ${i + 1} URL`} type="url" value=${endpoint.url} required placeholder="https://example.com/pusher/webhooks"
        onValue=${(/** @type {string} */ url) => update(i, { url })} />
      <fieldset class="events">
        <legend>Events sent to endpoint ${i + 1}</legend>
        ${WEBHOOK_EVENTS.map((event) => html`<${Checkbox} label=${event} checked=${endpoint.events.includes(event)}
          onChecked=${(/** @type {boolean} */ on) => toggle(i, event, on)} />`)}
      </fieldset>
      <${Input} label=${`Endpoint ${i + 1} channel prefix`} value=${endpoint.channel_prefix} placeholder="presence-"
        hint="Only channels whose name starts with this; empty means every channel."
        onValue=${(/** @type {string} */ channel_prefix) => update(i, { channel_prefix })} />
      ${writable ? html`<button type="button" class="small danger" onClick=${() => onChange(endpoints.filter((_, j) => j !== i))}
        aria-label=${`Remove endpoint ${i + 1}${endpoint.url ? ` (${endpoint.url})` : ''}`}>Remove endpoint</button>` : null}
    </fieldset>`)}
    ${writable && endpoints.length < 10 ? html`<button type="button"
      onClick=${() => onChange([...endpoints, { url: '', events: ['channel_occupied', 'channel_vacated'], channel_prefix: '' }])}>Add endpoint</button>` : null}
  </section>`;
}
