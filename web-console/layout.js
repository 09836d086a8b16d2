// @ts-check
// The frame around every signed-in page: skip link, top bar with the main navigation and the
// account, and the app pages' tabs.

import { html } from './vendor/htm-preact.mjs';
import { BASE, appPath, tenantPath } from './router.js';
import { useMe, isOwner, whoName } from './session.js';
import { ROLES } from './format.js';

/**
 * @param {{path: string, onSignOut: () => void, children: import('./ui.js').Children}} props
 */
export function Layout({ path, onSignOut, children }) {
  const me = useMe();
  /** @type {[string, string, boolean][]} [href, text, current] */
  const links = [];
  if (isOwner(me)) {
    links.push([`${BASE}/tenants`, 'Tenants', path === `${BASE}/` || path.startsWith(`${BASE}/tenants`) || path.startsWith(`${BASE}/apps`)]);
  } else if (me.tenant_id) {
    links.push([tenantPath(me.tenant_id), 'Apps', path === `${BASE}/` || path.startsWith(`${BASE}/tenants`) || path.startsWith(`${BASE}/apps`)]);
  }
  links.push([`${BASE}/team`, 'Team', path.startsWith(`${BASE}/team`)]);
  return html`<a class="skip" href="#main">Skip to content</a>
    <header class="topbar">
      <a class="brand" href=${`${BASE}/`}><span class="brand-mark" aria-hidden="true"></span>Herald</a>
      <nav aria-label="Main" class="mainnav">
        ${links.map(([href, text, current]) => html`<a href=${href} aria-current=${current ? 'page' : undefined}>${text}</a>`)}
      </nav>
      <div class="account">
        <a href=${`${BASE}/account`} class="who" aria-current=${path === `${BASE}/account` ? 'page' : undefined}>
          <span class="who-email">${whoName(me)}</span> <span class="badge">${ROLES[me.role]}</span>
        </a>
        <button type="button" class="small" onClick=${onSignOut}>Sign out</button>
      </div>
    </header>
    <main id="main" tabindex="-1">${children}</main>`;
}

/** The tabs of an app's pages. */
export const APP_TABS = /** @type {const} */ ([
  ['', 'Overview'],
  ['start', 'Getting started'],
  ['keys', 'Keys'],
  ['settings', 'Settings'],
  ['debug', 'Debug console'],
  ['connections', 'Connections'],
  ['failed', 'Failed connections'],
  ['channels', 'Channels'],
  ['webhooks', 'Webhooks'],
]);

/**
 * Breadcrumbs and tabs of one app.
 * @param {{app: import('./api-types').Schemas['App'], tab: string, tenantName?: string}} props
 */
export function AppHeader({ app, tab, tenantName }) {
  const me = useMe();
  return html`<div class="app-head">
    <nav aria-label="Breadcrumb" class="crumbs">
      <ol>
        ${isOwner(me) ? html`<li><a href=${`${BASE}/tenants`}>Tenants</a></li>` : null}
        <li><a href=${tenantPath(app.tenant_id)}>${tenantName ?? 'Apps'}</a></li>
        <li><a href=${appPath(app.id)} aria-current=${tab === '' ? 'page' : undefined}>${app.name}</a></li>
      </ol>
    </nav>
    <nav aria-label="App" class="tabs">
      ${APP_TABS.map(([slug, text]) => html`<a href=${appPath(app.id, slug)}
        aria-current=${slug === tab ? 'page' : undefined}>${text}</a>`)}
    </nav>
  </div>`;
}

/**
 * Tabs of a tenant's pages.
 * @param {{tenantId: string, tab: string}} props
 */
export function TenantTabs({ tenantId, tab }) {
  const tabs = [['', 'Apps'], ['tokens', 'API tokens'], ['audit', 'Audit log']];
  return html`<nav aria-label="Tenant" class="tabs">
    ${tabs.map(([slug, text]) => html`<a href=${tenantPath(tenantId, slug)}
      aria-current=${slug === tab ? 'page' : undefined}>${text}</a>`)}
  </nav>`;
}
