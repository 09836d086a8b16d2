// @ts-check
// The console's small shared pieces: page frame, form fields with the API's error next to them,
// loading / empty / error states, the confirmation dialog, copy buttons, and data-loading hooks.

import { html } from './vendor/htm-preact.mjs';
import { useCallback, useEffect, useId, useRef, useState } from './vendor/hooks.mjs';
import { ApiError } from './client.js';

/** @typedef {import('./vendor/preact.mjs').ComponentChildren} Children */

/**
 * A page: its heading (focused after navigation, for screen readers) and optional actions.
 * @param {{title: string, lead?: Children, actions?: Children, children?: Children}} props
 */
export function Page({ title, lead, actions, children }) {
  useEffect(() => {
    document.title = `${title} · Herald`;
  }, [title]);
  return html`<section class="page">
    <div class="page-head">
      <h1 tabindex="-1" id="page-title">${title}</h1>
      ${actions ? html`<div class="actions">${actions}</div>` : null}
    </div>
    ${lead ? html`<p class="lead">${lead}</p>` : null}
    ${children}
  </section>`;
}

/**
 * A labelled form control with its hint and its error (the API's message for this field).
 * `children` is a function given the control's id and aria-describedby.
 * @param {{label: string, hint?: Children, error?: string | null, class?: string,
 *   children: (id: string, describedBy: string | undefined, invalid: boolean) => Children}} props
 */
export function Field({ label, hint, error, class: cls = '', children }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : '';
  const errorId = error ? `${id}-error` : '';
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return html`<div class=${`field ${cls}${error ? ' has-error' : ''}`}>
    <label for=${id}>${label}</label>
    ${children(id, describedBy, Boolean(error))}
    ${hint ? html`<p class="hint" id=${hintId}>${hint}</p>` : null}
    ${error ? html`<p class="field-error" id=${errorId}>${error}</p>` : null}
  </div>`;
}

/**
 * A text-like input in a Field.
 * @param {{label: string, value: string | number, onValue: (value: string) => void, type?: string,
 *   hint?: Children, error?: string | null, required?: boolean, placeholder?: string, autocomplete?: string,
 *   min?: number | string, max?: number | string, disabled?: boolean, readOnly?: boolean, name?: string, class?: string,
 *   inputmode?: string, pattern?: string}} props
 */
export function Input({ label, value, onValue, type = 'text', hint, error, class: cls, ...rest }) {
  return html`<${Field} label=${label} hint=${hint} error=${error} class=${cls}>
    ${(/** @type {string} */ id, /** @type {string | undefined} */ describedBy, /** @type {boolean} */ invalid) => html`<input
      id=${id} type=${type} value=${value} aria-describedby=${describedBy} aria-invalid=${invalid ? 'true' : undefined}
      onInput=${(/** @type {Event} */ e) => onValue(/** @type {HTMLInputElement} */ (e.currentTarget).value)}
      ...${rest} />`}
  <//>`;
}

/**
 * A checkbox with its label after it.
 * @param {{label: Children, checked: boolean, onChecked: (checked: boolean) => void, hint?: Children,
 *   error?: string | null, disabled?: boolean}} props
 */
export function Checkbox({ label, checked, onChecked, hint, error, disabled }) {
  const id = useId();
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return html`<div class=${`field check${error ? ' has-error' : ''}`}>
    <input type="checkbox" id=${id} checked=${checked} disabled=${disabled} aria-describedby=${describedBy}
      onChange=${(/** @type {Event} */ e) => onChecked(/** @type {HTMLInputElement} */ (e.currentTarget).checked)} />
    <label for=${id}>${label}</label>
    ${hint ? html`<p class="hint" id=${`${id}-hint`}>${hint}</p>` : null}
    ${error ? html`<p class="field-error" id=${`${id}-error`}>${error}</p>` : null}
  </div>`;
}

/**
 * A select in a Field.
 * @param {{label: string, value: string, onValue: (value: string) => void, options: [string, string][],
 *   hint?: Children, error?: string | null, disabled?: boolean, class?: string}} props
 */
export function Select({ label, value, onValue, options, hint, error, disabled, class: cls }) {
  return html`<${Field} label=${label} hint=${hint} error=${error} class=${cls}>
    ${(/** @type {string} */ id, /** @type {string | undefined} */ describedBy) => html`<select id=${id} value=${value}
      disabled=${disabled} aria-describedby=${describedBy}
      onChange=${(/** @type {Event} */ e) => onValue(/** @type {HTMLSelectElement} */ (e.currentTarget).value)}>
      ${options.map(([v, text]) => html`<option value=${v} selected=${v === value}>${text}</option>`)}
    </select>`}
  <//>`;
}

/** "Loading …" while a list or page loads. */
export function Loading({ what = 'Loading' }) {
  return html`<p class="state loading" role="status"><span class="spinner" aria-hidden="true"></span>${what}…</p>`;
}

/**
 * What to do when a list is empty.
 * @param {{title: string, children?: Children}} props
 */
export function Empty({ title, children }) {
  return html`<div class="state empty"><p class="empty-title">${title}</p>${children ? html`<p>${children}</p>` : null}</div>`;
}

/**
 * An error that stopped a page or list, with what to do next.
 * @param {{error: unknown, retry?: () => void, what?: string}} props
 */
export function ErrorState({ error, retry, what = 'This could not be loaded' }) {
  const message = error instanceof Error ? error.message : String(error);
  const next = error instanceof ApiError && error.status === 403
    ? 'Your role does not allow this; ask an owner or a tenant admin.'
    : error instanceof ApiError && error.status === 404
      ? 'It may have been deleted; go back to the list.'
      : 'Try again; if it persists, check the server log.';
  return html`<div class="state error" role="alert">
    <p class="empty-title">${what}.</p>
    <p>${message} ${next}</p>
    ${retry ? html`<button type="button" onClick=${retry}>Try again</button>` : null}
  </div>`;
}

/**
 * The error of a form that belongs to no single field (or to a field not on the form).
 * @param {{error: unknown, fields?: string[]}} props
 */
export function FormError({ error, fields = [] }) {
  if (!error) return null;
  if (error instanceof ApiError && error.field && fields.includes(fieldName(error.field))) return null;
  const message = error instanceof Error ? error.message : String(error);
  return html`<p class="form-error" role="alert">${message}</p>`;
}

/** `settings.max_connections` → `max_connections`; a field path's last part. */
export function fieldName(/** @type {string} */ field) {
  return field.replace(/^settings\./, '').replace(/\[\d+\].*$/, '');
}

/** The API's message when `error` names `field`, else null. */
export function errorFor(/** @type {unknown} */ error, /** @type {string} */ field) {
  if (error instanceof ApiError && error.field && fieldName(error.field) === field) return error.message;
  return null;
}

/**
 * The API's message when `error` names exactly the field `path` (`settings.webhooks[0].url`), or,
 * with `under`, that field or anything inside it (`settings.webhooks[0].events[2]`); else null.
 * @param {unknown} error @param {string} path @param {{under?: boolean}} [options]
 */
export function errorAt(error, path, { under = false } = {}) {
  if (!(error instanceof ApiError) || !error.field) return null;
  const f = error.field;
  if (f === path || (under && (f.startsWith(`${path}.`) || f.startsWith(`${path}[`)))) return error.message;
  return null;
}

/**
 * Loads something on mount and whenever `deps` change. A reload keeps the data shown until the
 * answer comes; changed `deps` (other filters, another page) drop it at once, so nothing of the
 * last question is shown as the answer to the new one.
 * @template T
 * @param {(signal: AbortSignal) => Promise<T>} load
 * @param {unknown[]} deps
 */
export function useLoad(load, deps) {
  const [state, setState] = useState(/** @type {{data: T | undefined, error: unknown, loading: boolean}} */ ({
    data: undefined, error: null, loading: true,
  }));
  const [tick, setTick] = useState(0);
  /** the deps the state answers */
  const asked = useRef(deps);
  // Decided while rendering: the first render with new deps already shows no data of the old ones.
  const changed = asked.current.length !== deps.length || asked.current.some((d, i) => !Object.is(d, deps[i]));
  useEffect(() => {
    const abort = new AbortController();
    asked.current = deps;
    setState((s) => (changed ? { data: undefined, error: null, loading: true } : { ...s, loading: true, error: null }));
    load(abort.signal).then(
      (data) => { if (!abort.signal.aborted) setState({ data, error: null, loading: false }); },
      (error) => { if (!abort.signal.aborted) setState((s) => ({ ...s, error, loading: false })); },
    );
    return () => abort.abort();
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  const setData = useCallback((/** @type {T} */ data) => setState({ data, error: null, loading: false }), []);
  return changed ? { data: undefined, error: null, loading: true, reload, setData } : { ...state, reload, setData };
}

/**
 * A form submission's state: busy while it runs, its error kept for the fields.
 * @template {unknown[]} A
 * @param {(...args: A) => Promise<unknown>} action
 */
export function useAction(action) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const run = async (/** @type {A} */ ...args) => {
    setBusy(true);
    setError(null);
    try {
      await action(...args);
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

/** Calls `tick` every `ms` while the page is visible. */
export function useInterval(/** @type {() => void} */ tick, /** @type {number} */ ms) {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    const id = setInterval(() => {
      if (document.visibilityState === 'visible') saved.current();
    }, ms);
    return () => clearInterval(id);
  }, [ms]);
}

/**
 * A button that copies `text` to the clipboard and says so.
 * @param {{text: string, label: string}} props
 */
export function CopyButton({ text, label }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard API (plain http on a remote host): copy through a selected text area.
      const area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'offscreen';
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 2000);
  };
  return html`<button type="button" class="small" onClick=${copy} aria-label=${label}>
    ${done ? 'Copied' : 'Copy'}</button><span class="visually-hidden" aria-live="polite">${done ? 'Copied' : ''}</span>`;
}

/**
 * Some text shown once (a secret, a token, a generated password), with a copy button.
 * @param {{label: string, value: string, children?: Children}} props
 */
export function OnceValue({ label, value, children }) {
  return html`<div class="once" role="status">
    <p><strong>${label}</strong> ${children ?? 'It is shown only this once: copy it now.'}</p>
    <div class="once-value"><code>${value}</code><${CopyButton} text=${value} label=${`Copy ${label.toLowerCase()}`} /></div>
  </div>`;
}

/** A short confirmation after a change ("Saved"). @param {{children?: Children}} props */
export function Notice({ children }) {
  return children ? html`<p class="notice" role="status">${children}</p>` : null;
}

// ------------------------------------------------------------------ confirmation dialog

/** @typedef {{title: string, message: Children, confirm: string, danger?: boolean, resolve: (ok: boolean) => void}} Ask */

/** @type {(ask: Ask | null) => void} */
let showAsk = () => {};

/**
 * Asks before a destructive action; resolves true when confirmed.
 * @param {{title: string, message: Children, confirm: string, danger?: boolean}} ask
 * @returns {Promise<boolean>}
 */
export function confirmAction(ask) {
  return new Promise((resolve) => showAsk({ danger: true, ...ask, resolve }));
}

/** Where confirmation dialogs appear (once, in the app's frame). */
export function DialogHost() {
  const [ask, setAsk] = useState(/** @type {Ask | null} */ (null));
  const dialog = useRef(/** @type {HTMLDialogElement | null} */ (null));
  const opener = useRef(/** @type {Element | null} */ (null));
  showAsk = (next) => {
    opener.current = document.activeElement;
    setAsk(next);
  };
  useEffect(() => {
    const d = dialog.current;
    if (ask && d && !d.open) d.showModal();
  }, [ask]);
  const answer = (/** @type {boolean} */ ok) => {
    dialog.current?.close();
    ask?.resolve(ok);
    setAsk(null);
    const back = /** @type {HTMLElement | null} */ (opener.current);
    if (back && document.contains(back)) back.focus();
  };
  return html`<dialog ref=${dialog} aria-labelledby="confirm-title" aria-describedby="confirm-message"
      onCancel=${(/** @type {Event} */ e) => { e.preventDefault(); answer(false); }}>
    ${ask ? html`<form method="dialog" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); answer(true); }}>
      <h2 id="confirm-title">${ask.title}</h2>
      <div id="confirm-message">${ask.message}</div>
      <div class="dialog-actions">
        <button type="button" onClick=${() => answer(false)}>Cancel</button>
        <button type="submit" class=${ask.danger ? 'danger' : 'primary'}>${ask.confirm}</button>
      </div>
    </form>` : null}
  </dialog>`;
}
