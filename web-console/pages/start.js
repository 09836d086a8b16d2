// @ts-check
// Getting started: client and server snippets filled with this node's host and port (from the
// page's own location), the app's id and key; the secret only when it was created in this page's
// lifetime, else a placeholder.

import { html } from '../vendor/htm-preact.mjs';
import { useRef, useState } from '../vendor/hooks.mjs';
import { get } from '../client.js';
import { appPath } from '../router.js';
import { CopyButton, Page, Select, useLoad } from '../ui.js';
import { secretOf } from '../session.js';

/** @typedef {{id: string, key: string, secret: string, host: string, port: number, tls: boolean}} Target */

/** The snippets: [id, tab name, language note, code]. */
const SNIPPETS = /** @type {[string, string, string, (t: Target) => string][]} */ ([
  ['pusher-js', 'pusher-js', 'In the browser (npm install pusher-js)', (t) => `import Pusher from 'pusher-js';

const pusher = new Pusher('${t.key}', {
  wsHost: '${t.host}',
  wsPort: ${t.port},
  wssPort: ${t.port},
  forceTLS: ${t.tls},
  enabledTransports: ['ws', 'wss'],
  cluster: '',
  disableStats: true,
});

pusher.subscribe('my-channel').bind('my-event', (data) => {
  console.log('my-event', data);
});`],
  ['echo', 'Laravel Echo', 'resources/js/echo.js, and the Laravel .env below it', (t) => `import Echo from 'laravel-echo';
import Pusher from 'pusher-js';

window.Pusher = Pusher;
window.Echo = new Echo({
  broadcaster: 'pusher',
  key: '${t.key}',
  cluster: '',
  wsHost: '${t.host}',
  wsPort: ${t.port},
  wssPort: ${t.port},
  forceTLS: ${t.tls},
  enabledTransports: ['ws', 'wss'],
  disableStats: true,
});

window.Echo.channel('my-channel').listen('.my-event', (e) => console.log(e));

# .env
BROADCAST_CONNECTION=pusher
PUSHER_APP_ID=${t.id}
PUSHER_APP_KEY=${t.key}
PUSHER_APP_SECRET=${t.secret}
PUSHER_HOST=${t.host}
PUSHER_PORT=${t.port}
PUSHER_SCHEME=${t.tls ? 'https' : 'http'}
PUSHER_APP_CLUSTER=mt1`],
  ['node', 'Node', 'npm install pusher', (t) => `const Pusher = require('pusher');

const pusher = new Pusher({
  appId: '${t.id}',
  key: '${t.key}',
  secret: '${t.secret}',
  host: '${t.host}',
  port: '${t.port}',
  useTLS: ${t.tls},
});

await pusher.trigger('my-channel', 'my-event', { message: 'hello' });`],
  ['php', 'PHP', 'composer require pusher/pusher-php-server', (t) => `<?php
require __DIR__ . '/vendor/autoload.php';

$pusher = new Pusher\\Pusher('${t.key}', '${t.secret}', '${t.id}', [
    'host' => '${t.host}',
    'port' => ${t.port},
    'scheme' => '${t.tls ? 'https' : 'http'}',
    'useTLS' => ${t.tls},
    'cluster' => 'mt1',
]);

$pusher->trigger('my-channel', 'my-event', ['message' => 'hello']);`],
  ['python', 'Python', 'pip install pusher', (t) => `import pusher

client = pusher.Pusher(
    app_id='${t.id}',
    key='${t.key}',
    secret='${t.secret}',
    host='${t.host}',
    port=${t.port},
    ssl=${t.tls ? 'True' : 'False'},
)

client.trigger('my-channel', 'my-event', {'message': 'hello'})`],
  ['ruby', 'Ruby', 'gem install pusher', (t) => `require 'pusher'

client = Pusher::Client.new(
  app_id: '${t.id}',
  key: '${t.key}',
  secret: '${t.secret}',
  host: '${t.host}',
  port: ${t.port},
  scheme: '${t.tls ? 'https' : 'http'}'
)

client.trigger('my-channel', 'my-event', { message: 'hello' })`],
  ['go', 'Go', 'go get github.com/pusher/pusher-http-go/v5', (t) => `package main

import "github.com/pusher/pusher-http-go/v5"

func main() {
	client := pusher.Client{
		AppID:  "${t.id}",
		Key:    "${t.key}",
		Secret: "${t.secret}",
		Host:   "${t.host}:${t.port}",
		Secure: ${t.tls},
	}
	client.Trigger("my-channel", "my-event", map[string]string{"message": "hello"})
}`],
]);

/** @param {import('../app.js').AppPageProps} props */
export function GettingStarted({ app, query }) {
  const keys = useLoad((signal) => get('/api/v1/apps/{app_id}/keys', { path: { app_id: app.id }, signal }), [app.id]);
  const active = (keys.data ?? []).filter((k) => !k.revoked_at);
  const [chosen, setChosen] = useState(query.get('key') ?? '');
  const key = chosen || active[0]?.key || '';
  const [tab, setTab] = useState(0);
  const tabs = useRef(/** @type {(HTMLButtonElement | null)[]} */ ([]));
  const tls = location.protocol === 'https:';
  /** @type {Target} */
  const target = {
    id: app.id,
    key: key || 'YOUR_APP_KEY',
    secret: secretOf(key) ?? 'YOUR_APP_SECRET',
    host: location.hostname,
    port: Number(location.port) || (tls ? 443 : 80),
    tls,
  };
  const onKey = (/** @type {KeyboardEvent} */ e) => {
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    const next = (tab + step + SNIPPETS.length) % SNIPPETS.length;
    setTab(next);
    tabs.current[next]?.focus();
  };
  const [id, name, note, code] = SNIPPETS[tab];
  const text = code(target);
  return html`<${Page} title="Getting started" lead=${html`Herald speaks the Pusher protocol: point any Pusher client or server SDK at${' '}
      <code>${target.host}:${target.port}</code> with this app's key.`}>
    <div class="grid">
      ${active.length > 1 ? html`<${Select} label="Key" value=${key} onValue=${setChosen} options=${active.map((k) => [k.key, k.label ? `${k.key} (${k.label})` : k.key])} />` : null}
    </div>
    <dl class="facts">
      <dt>App id</dt><dd><code>${app.id}</code></dd>
      <dt>Key</dt><dd>${key ? html`<code>${key}</code>` : html`none yet: <a href=${appPath(app.id, 'keys')}>create a key</a>`}</dd>
      <dt>Host and port</dt><dd><code>${target.host}:${target.port}</code> (${tls ? 'TLS' : 'no TLS'})</dd>
      <dt>Secret</dt><dd>${secretOf(key) ? 'filled in below (created a moment ago)' : html`shown only when a key is created; the snippets say <code>YOUR_APP_SECRET</code>`}</dd>
    </dl>
    <div role="tablist" aria-label="Snippet language" class="tablist" onKeyDown=${onKey}>
      ${SNIPPETS.map(([sid, label], i) => html`<button type="button" role="tab" id=${`tab-${sid}`} aria-controls=${`panel-${sid}`}
        aria-selected=${i === tab ? 'true' : 'false'} tabindex=${i === tab ? 0 : -1}
        ref=${(/** @type {HTMLButtonElement | null} */ el) => { tabs.current[i] = el; }} onClick=${() => setTab(i)}>${label}</button>`)}
    </div>
    <div role="tabpanel" id=${`panel-${id}`} aria-labelledby=${`tab-${id}`} class="snippet" tabindex="0">
      <div class="snippet-head"><span>${note}</span><${CopyButton} text=${text} label=${`Copy the ${name} snippet`} /></div>
      <pre tabindex="0" aria-label=${`${name} snippet`}><code>${text}</code></pre>
    </div>
  <//>`;
}
