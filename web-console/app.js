// @ts-check
// The console's entry: restores the session (a refresh with the HttpOnly cookie), then routes.
// Every page is a client of the admin API only.

import { html, render } from './vendor/htm-preact.mjs';
import { useEffect, useState } from './vendor/hooks.mjs';
import { get, logout, onSessionEnd, refresh } from './client.js';
import { BASE, interceptLinks, match, navigate, useLocation } from './router.js';
import { MeContext, isOwner } from './session.js';
import { AppHeader, Layout } from './layout.js';
import { DialogHost, ErrorState, Loading, Page, useLoad } from './ui.js';
import { SignIn } from './pages/signin.js';
import { Account } from './pages/account.js';
import { Tenants } from './pages/tenants.js';
import { TenantApps } from './pages/tenant.js';
import { Tokens } from './pages/tokens.js';
import { Audit } from './pages/audit.js';
import { Team } from './pages/team.js';
import { Overview } from './pages/overview.js';
import { Keys } from './pages/keys.js';
import { Settings } from './pages/settings.js';
import { GettingStarted } from './pages/start.js';
import { Debug } from './pages/debug.js';
import { Connections } from './pages/connections.js';
import { Failed } from './pages/failed.js';
import { Channels } from './pages/channels.js';
import { Webhooks } from './pages/webhooks.js';

/** @typedef {import('./api-types').Schemas} Schemas */
/** @typedef {{app: Schemas['App'], setApp: (app: Schemas['App']) => void, query: URLSearchParams}} AppPageProps */

/** An app's pages, by tab: [pattern under /console/apps/:app, tab, page]. */
const APP_PAGES = /** @type {[string, string, (props: AppPageProps & Record<string, any>) => any][]} */ ([
  ['', '', Overview],
  ['/keys', 'keys', Keys],
  ['/settings', 'settings', Settings],
  ['/start', 'start', GettingStarted],
  ['/debug', 'debug', Debug],
  ['/connections', 'connections', Connections],
  ['/failed', 'failed', Failed],
  ['/channels', 'channels', Channels],
  ['/channels/:channel', 'channels', Channels],
  ['/webhooks', 'webhooks', Webhooks],
]);

function App() {
  const [me, setMe] = useState(/** @type {Schemas['Me'] | null} */ (null));
  const [phase, setPhase] = useState(/** @type {'starting' | 'out' | 'ended' | 'in'} */ ('starting'));
  const { path, query } = useLocation();

  const loadMe = async () => {
    setMe(await get('/api/v1/me'));
    setPhase('in');
  };

  useEffect(() => {
    onSessionEnd(() => {
      setMe(null);
      setPhase((p) => (p === 'in' ? 'ended' : 'out'));
    });
    // A reload keeps the session: the refresh cookie gives a new access token.
    refresh().then(async (ok) => {
      if (!ok) return setPhase('out');
      try {
        await loadMe();
      } catch {
        setPhase('out');
      }
    });
  }, []);

  // Focus the new page's heading after a navigation, so a screen reader announces it.
  useEffect(() => {
    const heading = /** @type {HTMLElement | null} */ (document.getElementById('page-title'));
    if (phase === 'in' && heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
  }, [path, phase]);

  if (phase === 'starting') return html`<main id="main"><${Loading} what="Starting" /></main>`;
  if (!me) {
    const signedIn = async () => {
      await loadMe();
      if (path === `${BASE}/signin`) navigate(query.get('next') || `${BASE}/`, { replace: true });
    };
    return html`<${SignIn} onSignedIn=${signedIn} ended=${phase === 'ended'} />`;
  }

  const signOut = async () => {
    await logout().catch(() => {});
    setMe(null);
    setPhase('out');
    navigate(`${BASE}/signin`);
  };

  return html`<${MeContext.Provider} value=${me}>
    <${Layout} path=${path} onSignOut=${signOut}>${route(path, query, me, signOut)}<//>
    <${DialogHost} />
  <//>`;
}

/**
 * The page at `path`.
 * @param {string} path @param {URLSearchParams} query @param {Schemas['Me']} me @param {() => void} signOut
 */
function route(path, query, me, signOut) {
  const clean = path.replace(/\/+$/, '') || BASE;
  if (clean === BASE || clean === `${BASE}/signin`) {
    if (isOwner(me)) return html`<${Tenants} />`;
    if (me.tenant_id) return html`<${TenantApps} tenantId=${me.tenant_id} />`;
    return html`<${Page} title="No tenant"><p>This token belongs to no tenant.</p><//>`;
  }
  if (clean === `${BASE}/account`) return html`<${Account} onSignOut=${signOut} />`;
  if (clean === `${BASE}/tenants`) return html`<${Tenants} />`;
  if (clean === `${BASE}/team`) return html`<${Team} />`;
  let m;
  if ((m = match(`${BASE}/tenants/:tenant`, clean))) return html`<${TenantApps} tenantId=${m.tenant} />`;
  if ((m = match(`${BASE}/tenants/:tenant/tokens`, clean))) return html`<${Tokens} tenantId=${m.tenant} />`;
  if ((m = match(`${BASE}/tenants/:tenant/audit`, clean))) return html`<${Audit} tenantId=${m.tenant} query=${query} />`;
  for (const [pattern, tab, Component] of APP_PAGES) {
    if ((m = match(`${BASE}/apps/:appId${pattern}`, clean))) {
      const { appId, ...params } = m;
      return html`<${AppFrame} key=${appId} appId=${appId} tab=${tab} params=${params} query=${query} Component=${Component} />`;
    }
  }
  return html`<${Page} title="Page not found">
    <p>Nothing lives at <code>${path}</code>. <a href=${`${BASE}/`}>Go to the start page</a>.</p>
  <//>`;
}

/**
 * Loads an app (and its tenant's name) for one of its pages.
 * @param {{appId: string, tab: string, params: Record<string, string>, query: URLSearchParams,
 *   Component: (props: AppPageProps & Record<string, any>) => any}} props
 */
function AppFrame({ appId, tab, params, query, Component }) {
  const loaded = useLoad(async (signal) => {
    const app = await get('/api/v1/apps/{app_id}', { path: { app_id: appId }, signal });
    const tenant = await get('/api/v1/tenants/{tenant_id}', { path: { tenant_id: app.tenant_id }, signal })
      .catch(() => null);
    return { app, tenantName: tenant?.name };
  }, [appId]);
  if (loaded.error) {
    return html`<${Page} title="App"><${ErrorState} error=${loaded.error} retry=${loaded.reload} what="The app could not be loaded" /><//>`;
  }
  if (!loaded.data) return html`<${Loading} what="Loading the app" />`;
  const { app, tenantName } = loaded.data;
  const setApp = (/** @type {Schemas['App']} */ next) => loaded.setData({ app: next, tenantName });
  return html`<div class="app-frame">
    <${AppHeader} app=${app} tab=${tab} tenantName=${tenantName} />
    <${Component} app=${app} setApp=${setApp} query=${query} ...${params} />
  </div>`;
}

interceptLinks();
const root = document.getElementById('root');
if (root) render(html`<${App} />`, root);
