// @ts-check
// Client-side routes under /console/ with history.pushState (the server answers index.html for any
// extension-less path there, so a reload lands on the same page).

import { useEffect, useState } from './vendor/hooks.mjs';

export const BASE = '/console';

/** @type {Set<() => void>} */
const listeners = new Set();

function changed() {
  for (const listener of listeners) listener();
}

window.addEventListener('popstate', changed);

/**
 * Goes to `to` (a path under /console/, with or without a query) without reloading.
 * @param {string} to
 * @param {{replace?: boolean}} [options]
 */
export function navigate(to, { replace = false } = {}) {
  const target = new URL(to, location.href);
  if (target.pathname + target.search === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', target);
  else history.pushState(null, '', target);
  changed();
}

/** Changes the query of the current page (filters that should survive a reload) without a new history entry. */
export function setQuery(/** @type {Record<string, string | number | null | undefined>} */ values) {
  const target = new URL(location.href);
  for (const [name, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === '') target.searchParams.delete(name);
    else target.searchParams.set(name, String(value));
  }
  history.replaceState(null, '', target);
}

/** The current location, re-rendering the caller when it changes. */
export function useLocation() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((n) => n + 1);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/**
 * Matches `path` against a pattern like `/console/apps/:app/debug`; the named parts, decoded.
 * @param {string} pattern
 * @param {string} path
 * @returns {Record<string, string> | null}
 */
export function match(pattern, path) {
  const want = pattern.split('/');
  const have = path.replace(/\/+$/, '').split('/');
  if (want.length !== have.length) return null;
  /** @type {Record<string, string>} */
  const params = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(':')) {
      try {
        params[want[i].slice(1)] = decodeURIComponent(have[i]);
      } catch {
        return null;
      }
    } else if (want[i] !== have[i]) {
      return null;
    }
  }
  return params;
}

/** Same-origin links to /console/ are followed without a reload (modifier clicks open as usual). */
export function interceptLinks() {
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const target = /** @type {Element | null} */ (event.target);
    const link = target?.closest?.('a');
    if (!link || link.target || link.hasAttribute('download')) return;
    if (link.origin !== location.origin || !link.pathname.startsWith(`${BASE}/`)) return;
    if (link.hash && link.pathname === location.pathname) return; // an in-page anchor (skip link)
    event.preventDefault();
    navigate(link.pathname + link.search);
  });
}

/** `/console/apps/ID/...` for an app. */
export const appPath = (/** @type {string} */ id, /** @type {string} */ rest = '') =>
  `${BASE}/apps/${encodeURIComponent(id)}${rest ? `/${rest}` : ''}`;

/** `/console/tenants/ID/...` for a tenant. */
export const tenantPath = (/** @type {string} */ id, /** @type {string} */ rest = '') =>
  `${BASE}/tenants/${encodeURIComponent(id)}${rest ? `/${rest}` : ''}`;
