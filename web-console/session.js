// @ts-check
// Who is signed in, for every page: the `GET /me` answer and what the role may do. The server
// enforces every permission; these only decide which controls are shown.

import { createContext } from './vendor/preact.mjs';
import { useContext } from './vendor/hooks.mjs';

/** @typedef {import('./api-types').Schemas['Me']} Me */

export const MeContext = createContext(/** @type {Me | null} */ (null));

/** The signed-in admin (pages are only rendered with one). */
export function useMe() {
  const me = useContext(MeContext);
  if (!me) throw new Error('useMe outside a session');
  return me;
}

/** Owners manage every tenant. */
export const isOwner = (/** @type {Me} */ me) => me.role === 'owner';

/** Whether `me` may change things of tenant `tenantId` (viewers never). */
export function canWrite(/** @type {Me} */ me, /** @type {string | null | undefined} */ tenantId) {
  if (me.role === 'owner') return true;
  return me.role === 'tenant_admin' && Boolean(tenantId) && me.tenant_id === tenantId;
}

/** The name to show for the signed-in principal. */
export const whoName = (/** @type {Me} */ me) => me.admin?.email ?? 'API token';

/** Secrets of keys created in this page's lifetime (memory only), for the getting-started snippets. */
const createdSecrets = new Map();

/** Remembers a key's secret, shown once, so the snippets can fill it in while the page lives. */
export function rememberSecret(/** @type {string} */ key, /** @type {string | null | undefined} */ secret) {
  if (secret) createdSecrets.set(key, secret);
}

/** The secret of a key created in this page's lifetime, if any. */
export const secretOf = (/** @type {string} */ key) => /** @type {string | undefined} */ (createdSecrets.get(key));
