// @ts-check
// Connections: every live connection of the app over the cluster, filtered (user, channel, node,
// age) and paged; one connection's detail; disconnecting it with a chosen close code and reason.

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { ApiError, del, get } from '../client.js';
import { appPath, setQuery } from '../router.js';
import {
  Empty, ErrorState, FormError, Input, Loading, Notice, Page, Select, confirmAction, errorFor, useAction, useLoad,
} from '../ui.js';
import { ago, bytes, closeCode, count, when } from '../format.js';
import { canWrite, useMe } from '../session.js';

/** @typedef {import('../api-types').Schemas['ConnectionView']} ConnectionView */

const PAGE = 50;
const EMPTY = { user_id: '', channel: '', node: '', min_age: '', max_age: '' };

/** @param {import('../app.js').AppPageProps} props */
export function Connections({ app, query }) {
  const [draft, setDraft] = useState(() => ({
    user_id: query.get('user') ?? '', channel: query.get('channel') ?? '', node: query.get('node') ?? '',
    min_age: query.get('min_age') ?? '', max_age: query.get('max_age') ?? '',
  }));
  const [filters, setFilters] = useState(draft);
  const [cursors, setCursors] = useState(/** @type {(string | undefined)[]} */ ([undefined]));
  const [socket, setSocket] = useState(query.get('socket'));
  const cursor = cursors[cursors.length - 1];
  const list = useLoad((signal) => get('/api/v1/apps/{app_id}/connections', {
    path: { app_id: app.id },
    query: {
      limit: PAGE,
      cursor,
      user_id: filters.user_id || undefined,
      channel: filters.channel || undefined,
      node: filters.node || undefined,
      min_age: filters.min_age === '' ? undefined : Number(filters.min_age),
      max_age: filters.max_age === '' ? undefined : Number(filters.max_age),
    },
    signal,
  }), [app.id, filters, cursor]);
  const apply = (/** @type {typeof EMPTY} */ next) => {
    setFilters(next);
    setCursors([undefined]);
    setQuery({ user: next.user_id, channel: next.channel, node: next.node, min_age: next.min_age, max_age: next.max_age });
  };
  const open = (/** @type {string | null} */ id) => {
    setSocket(id);
    setQuery({ socket: id });
  };
  const page = list.data;
  const set = (/** @type {keyof typeof EMPTY} */ name) => (/** @type {string} */ v) => setDraft({ ...draft, [name]: v });
  return html`<${Page} title="Connections" lead="Every live connection of this app, on every node."
      actions=${html`<button type="button" onClick=${list.reload}>Refresh</button>`}>
    ${socket ? html`<${Detail} appId=${app.id} tenantId=${app.tenant_id} socketId=${socket} onClose=${() => open(null)} onGone=${list.reload} />` : null}
    <form class="filters" role="search" aria-label="Filter connections" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); apply(draft); }}>
      <${Input} label="User id" value=${draft.user_id} onValue=${set('user_id')} />
      <${Input} label="Channel" value=${draft.channel} onValue=${set('channel')} />
      <${Input} label="Node" value=${draft.node} onValue=${set('node')} />
      <${Input} label="Older than (s)" type="number" min=${0} value=${draft.min_age} onValue=${set('min_age')} />
      <${Input} label="Younger than (s)" type="number" min=${0} value=${draft.max_age} onValue=${set('max_age')} />
      <div class="form-actions">
        <button type="submit" class="primary">Apply filters</button>
        <button type="button" onClick=${() => { setDraft(EMPTY); apply(EMPTY); }}>Reset</button>
      </div>
    </form>
    ${list.error ? html`<${ErrorState} error=${list.error} retry=${list.reload} what="The connections could not be loaded" />`
      : !page ? html`<${Loading} what="Loading connections" />`
        : page.connections.length === 0 ? html`<${Empty} title=${cursors.length > 1 ? 'No more connections.' : 'No live connections match.'}>
          ${Object.values(filters).some(Boolean) ? 'Reset the filters to see every connection.'
            : html`Connect a client with the snippets in <a href=${appPath(app.id, 'start')}>Getting started</a>, then refresh.`}<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">Live connections</caption>
        <thead><tr><th scope="col">Socket</th><th scope="col">User</th><th scope="col">Node</th><th scope="col">Client</th>
          <th scope="col">Channels</th><th scope="col">Connected</th><th scope="col" class="num">Messages in / out</th><th scope="col" class="num">Queue</th></tr></thead>
        <tbody>${page.connections.map((c) => html`<tr key=${c.socket_id}>
          <th scope="row"><button type="button" class="link" aria-label=${`Details of socket ${c.socket_id}`}
            onClick=${() => open(c.socket_id)}>${c.socket_id}</button></th>
          <td>${c.user_id ?? '—'}</td><td>${c.node}</td><td>${c.client ? `${c.client} ${c.version ?? ''}` : '—'}</td>
          <td>${c.channels.length ? `${c.channels.slice(0, 3).join(', ')}${c.channels.length > 3 ? ` +${c.channels.length - 3}` : ''}` : '—'}</td>
          <td>${ago(c.connected_at)}</td><td class="num">${count(c.messages_in)} / ${count(c.messages_out)}</td><td class="num">${count(c.queue_depth)}</td>
        </tr>`)}</tbody>
      </table></div>`}
    <div class="pager">
      <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous page</button>
      <span>Page ${cursors.length}</span>
      <button type="button" disabled=${!page?.next_cursor} onClick=${() => page?.next_cursor && setCursors([...cursors, page.next_cursor])}>Next page</button>
    </div>
  <//>`;
}

const CODES = /** @type {[string, string][]} */ ([
  ['4009', `${closeCode(4009)}: pusher-js does not reconnect`],
  ['4100', `${closeCode(4100)}: reconnects after a back-off`],
  ['4200', `${closeCode(4200)}: reconnects at once`],
]);

/** @param {{appId: string, tenantId: string, socketId: string, onClose: () => void, onGone: () => void}} props */
function Detail({ appId, tenantId, socketId, onClose, onGone }) {
  const me = useMe();
  const conn = useLoad((signal) => get('/api/v1/apps/{app_id}/connections/{socket_id}', { path: { app_id: appId, socket_id: socketId }, signal }),
    [appId, socketId]);
  const [code, setCode] = useState('4009');
  const [reason, setReason] = useState('');
  const [closed, setClosed] = useState('');
  const disconnect = useAction(async () => {
    const c = conn.data;
    const ok = await confirmAction({
      title: `Disconnect socket ${socketId}?`,
      message: html`<p>The connection <code>${socketId}</code>${c?.user_id ? html` of user <strong>${c.user_id}</strong>` : ''}
        ${c ? html` on ${c.node}` : ''} closes with <strong>${closeCode(Number(code))}</strong>${reason ? html` (“${reason}”)` : ''}.</p>`,
      confirm: 'Disconnect',
    });
    if (!ok) return;
    await del('/api/v1/apps/{app_id}/connections/{socket_id}', {
      path: { app_id: appId, socket_id: socketId },
      query: { code: /** @type {4009 | 4100 | 4200} */ (Number(code)), ...(reason.trim() ? { reason: reason.trim() } : {}) },
    });
    setClosed(`Disconnected with ${closeCode(Number(code))}.`);
    onGone();
  });
  const c = conn.data;
  const gone = conn.error instanceof ApiError && conn.error.status === 404;
  return html`<section class="card" aria-labelledby="conn-title">
    <div class="card-head">
      <h2 id="conn-title">Socket ${socketId}</h2>
      <div class="actions">
        <a href=${`${appPath(appId, 'debug')}?socket=${encodeURIComponent(socketId)}&since=${Date.now() - 3600_000}`}>Its events</a>
        <button type="button" class="small" onClick=${conn.reload}>Refresh</button>
        <button type="button" class="small" onClick=${onClose} aria-label="Close the connection details">Close</button>
      </div>
    </div>
    <${Notice}>${closed}<//>
    ${gone ? html`<p>This connection is not live any more. <a href=${`${appPath(appId, 'debug')}?socket=${encodeURIComponent(socketId)}&since=${Date.now() - 3600_000}`}>See its events</a> to learn how it ended.</p>`
      : conn.error ? html`<${ErrorState} error=${conn.error} retry=${conn.reload} />`
        : !c ? html`<${Loading} what="Loading the connection" />`
          : html`<dl class="facts">
        <dt>Address</dt><dd>${c.remote_address ?? '—'}</dd>
        <dt>Client</dt><dd>${c.client ? `${c.client} ${c.version ?? ''}` : '—'} (protocol ${c.protocol})</dd>
        <dt>User agent</dt><dd>${c.user_agent ?? '—'}</dd>
        <dt>User</dt><dd>${c.user_id ?? 'not signed in'}</dd>
        <dt>Node</dt><dd>${c.node}</dd>
        <dt>Connected</dt><dd>${when(c.connected_at)} (${ago(c.connected_at)})</dd>
        <dt>Last activity</dt><dd>${ago(c.last_activity)}</dd>
        <dt>Channels</dt><dd>${c.channels.length ? c.channels.join(', ') : 'none'}</dd>
        <dt>Traffic in</dt><dd>${count(c.messages_in)} messages, ${bytes(c.bytes_in)}</dd>
        <dt>Traffic out</dt><dd>${count(c.messages_out)} messages, ${bytes(c.bytes_out)}</dd>
        <dt>Queue depth</dt><dd>${count(c.queue_depth)} frames waiting</dd>
      </dl>`}
    ${c && !closed && canWrite(me, tenantId) ? html`<form class="inline-form" aria-label="Disconnect this connection"
        onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); disconnect.run(); }}>
      <${Select} label="Close code" value=${code} onValue=${setCode} options=${CODES} error=${errorFor(disconnect.error, 'code')} />
      <${Input} label="Reason" value=${reason} onValue=${setReason} placeholder="Disconnected by an administrator"
        error=${errorFor(disconnect.error, 'reason')} />
      <button type="submit" class="danger" disabled=${disconnect.busy}>Disconnect</button>
    </form>` : null}
    <${FormError} error=${disconnect.error} fields=${['code', 'reason']} />
  </section>`;
}
