// @ts-check
// A small hand-drawn SVG line chart: a few series over time, a y axis with round steps, time
// labels, and the values under the pointer. Sized to its container (ResizeObserver), colours from
// CSS (.series-0, .series-1, …).

import { html } from './vendor/htm-preact.mjs';
import { useEffect, useRef, useState } from './vendor/hooks.mjs';
import { count } from './format.js';

/** @typedef {{name: string, values: number[]}} Series */

const PAD = { top: 10, right: 12, bottom: 22, left: 44 };

/** A round step for about `ticks` steps up to `max`. */
function niceMax(/** @type {number} */ max, ticks = 4) {
  if (max <= 0) return ticks;
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  return Math.max(step * ticks, ticks);
}

const hhmm = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });

/**
 * @param {{label: string, times: number[], series: Series[], height?: number, unit?: string}} props
 * `times` are Unix ms, one per value of each series.
 */
export function LineChart({ label, times, series, height = 160, unit = '' }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const [width, setWidth] = useState(600);
  const [hover, setHover] = useState(/** @type {number | null} */ (null));
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const observer = new ResizeObserver(([entry]) => setWidth(Math.max(200, Math.floor(entry.contentRect.width))));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const n = times.length;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const x = (/** @type {number} */ i) => PAD.left + (n <= 1 ? plotW : (i / (n - 1)) * plotW);
  const y = (/** @type {number} */ v) => PAD.top + plotH - (v / max) * plotH;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const summary = series.map((s) => {
    const last = s.values[s.values.length - 1] ?? 0;
    return `${s.name}: now ${count(last)}${unit}, peak ${count(Math.max(0, ...s.values))}${unit}`;
  }).join('; ');
  const onMove = (/** @type {PointerEvent} */ e) => {
    if (n === 0) return;
    const rect = /** @type {SVGSVGElement} */ (e.currentTarget).getBoundingClientRect();
    const px = e.clientX - rect.left - PAD.left;
    setHover(Math.max(0, Math.min(n - 1, Math.round((px / plotW) * (n - 1)))));
  };
  return html`<figure class="chart">
    <figcaption>${label}
      <span class="legend">${series.map((s, i) => html`<span class=${`key series-${i}`}>${s.name}</span>`)}</span>
    </figcaption>
    <div class="chart-box" ref=${box}>
      ${n === 0 ? html`<p class="state empty">No data for this range yet.</p>` : html`<svg width=${width} height=${height} role="img"
          aria-label=${`${label}. ${summary}.`} onPointerMove=${onMove} onPointerLeave=${() => setHover(null)}>
        ${ticks.map((t) => html`<g class="grid-line">
          <line x1=${PAD.left} x2=${width - PAD.right} y1=${y(t)} y2=${y(t)} />
          <text x=${PAD.left - 6} y=${y(t) + 4} text-anchor="end">${count(Math.round(t * 10) / 10)}</text>
        </g>`)}
        ${[0, Math.floor((n - 1) / 2), n - 1].filter((i, j, all) => all.indexOf(i) === j).map((i) => html`<text class="time-label"
          x=${x(i)} y=${height - 6} text-anchor=${i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle'}>${hhmm.format(new Date(times[i]))}</text>`)}
        ${series.map((s, i) => html`<polyline class=${`line series-${i}`}
          points=${s.values.map((v, j) => `${x(j).toFixed(1)},${y(v).toFixed(1)}`).join(' ')} />`)}
        ${hover !== null ? html`<g class="hover">
          <line x1=${x(hover)} x2=${x(hover)} y1=${PAD.top} y2=${PAD.top + plotH} />
          ${series.map((s, i) => html`<circle class=${`series-${i}`} cx=${x(hover)} cy=${y(s.values[hover] ?? 0)} r="3" />`)}
        </g>` : null}
      </svg>`}
      ${hover !== null && n > 0 ? html`<p class="chart-tip" aria-hidden="true">${hhmm.format(new Date(times[hover]))} ·
        ${series.map((s) => `${s.name} ${count(s.values[hover] ?? 0)}${unit}`).join(' · ')}</p>` : null}
    </div>
  </figure>`;
}
