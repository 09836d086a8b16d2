// @ts-check
// The event creator: publishes an event to channels through the admin API (same validation and
// quota as a signed Pusher publish).

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { ApiError, post } from '../client.js';
import { Field, FormError, Input, Notice, errorFor, useAction } from '../ui.js';

/** @param {{appId: string, channel?: string}} props */
export function EventCreator({ appId, channel: initial = '' }) {
  const [channels, setChannels] = useState(initial || 'my-channel');
  const [name, setName] = useState('my-event');
  const [data, setData] = useState('{"message": "hello"}');
  const [result, setResult] = useState('');
  const action = useAction(async () => {
    setResult('');
    const list = channels.split(',').map((c) => c.trim()).filter(Boolean);
    if (!list.length) throw new ApiError(400, 'bad_request', 'Name at least one channel.', 'channels');
    try {
      JSON.parse(data);
    } catch (e) {
      throw new ApiError(400, 'bad_request', `Not JSON: ${e instanceof Error ? e.message : e}. Quote strings, e.g. "hello".`, 'data');
    }
    const sent = await post('/api/v1/apps/{app_id}/messages', { path: { app_id: appId }, body: { channels: list, name: name.trim(), data } });
    const where = Object.entries(sent?.channels ?? {}).map(([c, at]) => `${c} (serial ${at.serial})`);
    setResult(`Sent ${name.trim()} to ${where.length ? where.join(', ') : list.join(', ')}.`);
  });
  return html`<form class="card creator" aria-labelledby="creator-title" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); action.run(); }}>
    <h2 id="creator-title">Event creator</h2>
    <${Input} label="Channels" value=${channels} onValue=${setChannels} required hint="One or more, separated by commas."
      error=${errorFor(action.error, 'channels')} />
    <${Input} label="Event name" value=${name} onValue=${setName} required error=${errorFor(action.error, 'name')} />
    <${Field} label="Event data (JSON)" error=${errorFor(action.error, 'data')}>
      ${(/** @type {string} */ id, /** @type {string | undefined} */ describedBy, /** @type {boolean} */ invalid) => html`<textarea id=${id} rows="4"
        value=${data} aria-describedby=${describedBy} aria-invalid=${invalid ? 'true' : undefined}
        onInput=${(/** @type {Event} */ e) => setData(/** @type {HTMLTextAreaElement} */ (e.currentTarget).value)}></textarea>`}
    <//>
    <${FormError} error=${action.error} fields=${['channels', 'name', 'data']} />
    <${Notice}>${result}<//>
    <button type="submit" class="primary" disabled=${action.busy}>Send event</button>
  </form>`;
}
