// @ts-check
// An app's overview: live figures (GET …/stats every 3 s; rates from the change of the counters)
// and charts of the last hour or day (GET …/stats/series).

import { html } from '../vendor/htm-preact.mjs';
import { useRef, useState } from '../vendor/hooks.mjs';
import { get } from '../client.js';
import { appPath } from '../router.js';
import { LineChart } from '../chart.js';
import { ErrorState, Loading, Page, useInterval, useLoad } from '../ui.js';
import { count, rate, whenSecs } from '../format.js';

const POLL_MS = 3000;

/** @param {import('../app.js').AppPageProps} props */
export function Overview({ app }) {
  const stats = useLoad((signal) => get('/api/v1/apps/{app_id}/stats', { path: { app_id: app.id }, signal }), [app.id]);
  const previous = useRef(/** @type {{at: number, in: number, out: number} | null} */ (null));
  const [rates, setRates] = useState(/** @type {{in: number | null, out: number | null}} */ ({ in: null, out: null }));
  const poll = async () => {
    try {
      const next = await get('/api/v1/apps/{app_id}/stats', { path: { app_id: app.id } });
      const now = performance.now();
      const before = previous.current;
      if (before) {
        const secs = (now - before.at) / 1000;
        // A node that restarted counts from zero again: never show a negative rate.
        setRates({
          in: Math.max(0, next.messages_in - before.in) / secs,
          out: Math.max(0, next.messages_out - before.out) / secs,
        });
      }
      previous.current = { at: now, in: next.messages_in, out: next.messages_out };
      stats.setData(next);
    } catch {
      // the next poll tries again; a 401 has already ended the session
    }
  };
  useInterval(poll, POLL_MS);
  const s = stats.data;
  if (s && !previous.current) previous.current = { at: performance.now(), in: s.messages_in, out: s.messages_out };
  return html`<${Page} title=${app.name} lead=${html`App <code>${app.id}</code> · created ${whenSecs(app.created_at)} ·
      <span class=${`badge ${app.settings.enabled === false ? 'bad' : 'good'}`}>${app.settings.enabled === false ? 'disabled' : 'enabled'}</span>`}>
    ${app.settings.enabled === false ? html`<p class="warning" role="status">This app is disabled: it refuses connections (4003) and publishes.${' '}
      <a href=${appPath(app.id, 'settings')}>Enable it in Settings</a>.</p>` : null}
    <h2 class="visually-hidden">Live figures</h2>
    ${stats.error && !s ? html`<${ErrorState} error=${stats.error} retry=${stats.reload} what="The live figures could not be loaded" />`
      : !s ? html`<${Loading} what="Loading live figures" />`
        : html`<div class="figures" aria-live="off">
          <${Figure} label="Connections" value=${count(s.connections)} href=${appPath(app.id, 'connections')} />
          <${Figure} label="Occupied channels" value=${count(s.channels)} href=${appPath(app.id, 'channels')} />
          <${Figure} label="Messages in per second" value=${rate(rates.in)} note=${`${count(s.messages_in)} since start`} />
          <${Figure} label="Messages out per second" value=${rate(rates.out)} note=${`${count(s.messages_out)} since start`} />
        </div>`}
    <p class="hint">Live over the whole cluster, every ${POLL_MS / 1000} s. Messages in: channel messages accepted; out: frames delivered to subscribers.</p>
    <${History} appId=${app.id} />
  <//>`;
}

/** @param {{label: string, value: string, note?: string, href?: string}} props */
function Figure({ label, value, note, href }) {
  return html`<div class="figure">
    <p class="figure-label">${href ? html`<a href=${href}>${label}</a>` : label}</p>
    <p class="figure-value">${value}</p>
    ${note ? html`<p class="figure-note">${note}</p>` : null}
  </div>`;
}

/** @param {{appId: string}} props */
function History({ appId }) {
  const [range, setRange] = useState(/** @type {'hour' | 'day'} */ ('hour'));
  const series = useLoad((signal) => get('/api/v1/apps/{app_id}/stats/series', {
    path: { app_id: appId }, query: { range }, signal,
  }), [appId, range]);
  useInterval(() => series.reload(), 60_000);
  const data = series.data;
  const points = data?.points ?? [];
  const times = points.map((p) => p.time);
  const per = data?.bucket_seconds === 300 ? '5 min' : 'minute';
  return html`<section aria-labelledby="history-title" class="card">
    <div class="card-head">
      <h2 id="history-title">History</h2>
      <div class="segmented" role="group" aria-label="Range">
        <button type="button" aria-pressed=${range === 'hour' ? 'true' : 'false'} onClick=${() => setRange('hour')}>Last hour</button>
        <button type="button" aria-pressed=${range === 'day' ? 'true' : 'false'} onClick=${() => setRange('day')}>Last day</button>
      </div>
    </div>
    ${series.error ? html`<${ErrorState} error=${series.error} retry=${series.reload} what="The history could not be loaded" />`
      : !data ? html`<${Loading} what="Loading history" />`
        : html`<div class="charts">
          <${LineChart} label=${`Connections (peak per ${per})`} times=${times} series=${[{ name: 'connections', values: points.map((p) => p.connections) }]} />
          <${LineChart} label=${`Messages per ${per}`} times=${times} series=${[
            { name: 'in', values: points.map((p) => p.messages_in) },
            { name: 'out', values: points.map((p) => p.messages_out) },
          ]} />
        </div>`}
  </section>`;
}
