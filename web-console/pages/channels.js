// @ts-check
// Channels: the occupied channels with their subscriber counts (filtered by prefix); one channel's
// presence members and its stored history with serials, paged.

import { html } from '../vendor/htm-preact.mjs';
import { useState } from '../vendor/hooks.mjs';
import { ApiError, get } from '../client.js';
import { appPath, setQuery } from '../router.js';
import { Empty, ErrorState, Input, Loading, Page, useLoad } from '../ui.js';
import { count, when } from '../format.js';

/** @param {import('../app.js').AppPageProps & {channel?: string}} props */
export function Channels({ app, query, channel }) {
  return channel ? html`<${Channel} app=${app} name=${channel} />` : html`<${ChannelList} app=${app} query=${query} />`;
}

/** @param {{app: import('../api-types').Schemas['App'], query: URLSearchParams}} props */
function ChannelList({ app, query }) {
  const [prefix, setPrefix] = useState(query.get('prefix') ?? '');
  const [applied, setApplied] = useState(prefix);
  const list = useLoad((signal) => get('/api/v1/apps/{app_id}/channels', {
    path: { app_id: app.id }, query: applied ? { prefix: applied } : {}, signal,
  }), [app.id, applied]);
  const channels = list.data?.channels;
  return html`<${Page} title="Channels" lead="Channels with at least one subscriber, over the whole cluster."
      actions=${html`<button type="button" onClick=${list.reload}>Refresh</button>`}>
    <form class="filters" role="search" aria-label="Filter channels"
        onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); setApplied(prefix.trim()); setQuery({ prefix: prefix.trim() }); }}>
      <${Input} label="Name starts with" value=${prefix} onValue=${setPrefix} placeholder="presence-" />
      <div class="form-actions"><button type="submit" class="primary">Filter</button></div>
    </form>
    ${list.error ? html`<${ErrorState} error=${list.error} retry=${list.reload} what="The channels could not be loaded" />`
      : !channels ? html`<${Loading} what="Loading channels" />`
        : channels.length === 0 ? html`<${Empty} title=${applied ? `No occupied channel starts with “${applied}”.` : 'No channel is occupied.'}>
          A channel shows up here while a client is subscribed to it. History of a channel without subscribers:${' '}
          <a href=${appPath(app.id, 'channels/my-channel')}>open it by name</a> (change the name in the address).<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">Occupied channels</caption>
        <thead><tr><th scope="col">Channel</th><th scope="col" class="num">Subscribers</th><th scope="col" class="num">Users</th></tr></thead>
        <tbody>${channels.map((c) => html`<tr key=${c.name}>
          <th scope="row"><a href=${appPath(app.id, `channels/${encodeURIComponent(c.name)}`)}>${c.name}</a></th>
          <td class="num">${count(c.subscribers)}</td><td class="num">${c.user_count === null || c.user_count === undefined ? '—' : count(c.user_count)}</td>
        </tr>`)}</tbody>
      </table></div>`}
  <//>`;
}

/** @param {{app: import('../api-types').Schemas['App'], name: string}} props */
function Channel({ app, name }) {
  const info = useLoad((signal) => get('/api/v1/apps/{app_id}/channels/{name}', { path: { app_id: app.id, name }, signal }), [app.id, name]);
  const presence = name.startsWith('presence-');
  return html`<${Page} title=${name} lead=${html`<a href=${appPath(app.id, 'channels')}>All channels</a>`}
      actions=${html`<button type="button" onClick=${info.reload}>Refresh</button>`}>
    ${info.error ? html`<${ErrorState} error=${info.error} retry=${info.reload} what="The channel could not be loaded" />`
      : !info.data ? html`<${Loading} what="Loading the channel" />`
        : html`<dl class="facts">
          <dt>Occupied</dt><dd>${info.data.occupied ? 'yes' : 'no'}</dd>
          <dt>Subscribers</dt><dd>${count(info.data.subscribers)}</dd>
          ${info.data.user_count !== null && info.data.user_count !== undefined ? html`<dt>Users</dt><dd>${count(info.data.user_count)}</dd>` : null}
        </dl>`}
    ${presence ? html`<${Members} appId=${app.id} name=${name} />` : null}
    <${History} appId=${app.id} name=${name} />
  <//>`;
}

/** @param {{appId: string, name: string}} props */
function Members({ appId, name }) {
  const members = useLoad((signal) => get('/api/v1/apps/{app_id}/channels/{name}/members', { path: { app_id: appId, name }, signal }), [appId, name]);
  const list = members.data?.members;
  return html`<section class="card" aria-labelledby="members-title">
    <div class="card-head"><h2 id="members-title">Presence members</h2>
      <button type="button" class="small" onClick=${members.reload}>Refresh members</button></div>
    ${members.error ? html`<${ErrorState} error=${members.error} retry=${members.reload} what="The members could not be loaded" />`
      : !list ? html`<${Loading} what="Loading members" />`
        : list.length === 0 ? html`<${Empty} title="Nobody is here.">Members appear while their clients are subscribed.<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">Presence members</caption>
        <thead><tr><th scope="col">User id</th><th scope="col">User info</th></tr></thead>
        <tbody>${list.map((m) => html`<tr key=${m.user_id}><th scope="row">${m.user_id}</th>
          <td><code class="detail">${m.user_info === undefined || m.user_info === null ? '' : JSON.stringify(m.user_info)}</code></td></tr>`)}</tbody>
      </table></div>`}
  </section>`;
}

/** @param {{appId: string, name: string}} props */
function History({ appId, name }) {
  const [cursors, setCursors] = useState(/** @type {(number | undefined)[]} */ ([undefined]));
  const cursor = cursors[cursors.length - 1];
  const history = useLoad((signal) => get('/api/v1/apps/{app_id}/channels/{name}/history', {
    path: { app_id: appId, name }, query: { limit: 50, ...(cursor !== undefined ? { cursor } : {}) }, signal,
  }), [appId, name, cursor]);
  const page = history.data;
  const off = history.error instanceof ApiError && history.error.status === 503;
  return html`<section class="card" aria-labelledby="history-title">
    <div class="card-head"><h2 id="history-title">Stored history</h2>
      <button type="button" class="small" onClick=${history.reload}>Refresh history</button></div>
    ${page ? html`<p class="hint">Epoch <code>${page.epoch}</code>, newest first.</p>` : null}
    ${history.error ? html`<${ErrorState} error=${history.error} retry=${history.reload}
        what=${off ? 'History is not kept here' : 'The history could not be loaded'} />`
      : !page ? html`<${Loading} what="Loading history" />`
        : page.messages.length === 0 ? html`<${Empty} title="No stored messages.">Messages published through the HTTP API are kept
          (up to the app's history settings) and appear here.<//>`
          : html`<div class="table-wrap" tabindex="0"><table>
        <caption class="visually-hidden">Stored messages of ${name}</caption>
        <thead><tr><th scope="col" class="num">Serial</th><th scope="col">Published</th><th scope="col">Event</th><th scope="col">Data</th></tr></thead>
        <tbody>${page.messages.map((m) => html`<tr>
          <th scope="row" class="num">${m.serial}</th><td>${when(m.published_at)}</td><td><code>${m.event}</code></td>
          <td><code class="detail">${m.data.length > 300 ? `${m.data.slice(0, 300)}…` : m.data}</code></td>
        </tr>`)}</tbody>
      </table></div>`}
    <div class="pager">
      <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>
      <span>Page ${cursors.length}</span>
      <button type="button" disabled=${page?.next_cursor === undefined || page?.next_cursor === null}
        onClick=${() => page?.next_cursor !== undefined && page?.next_cursor !== null && setCursors([...cursors, page.next_cursor])}>Older</button>
    </div>
  </section>`;
}
