// Key rotation through the admin API, end to end with pusher-js and the npm SDK: a new key works
// at once; revoking the old key closes the connections opened with it (4001) and refuses it from
// then on, on the WebSocket (4001) and on the HTTP API (401).
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, waitFor, connected, subscribed, eventually, pusherErrorCode,
} from './helpers/herald.mjs';

test('a key created through the admin API works at once for clients and publishers', async (t) => {
  const h = await startHerald(t);
  const admin = await h.owner();
  const created = await admin.api('POST', `/apps/${h.app.id}/keys`, { label: 'rotation' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.ok(created.body.secret, 'the new secret is shown on creation');

  const client = h.pusherClient({ key: created.body.key });
  const channel = client.subscribe('rotation');
  await subscribed(channel);
  const got = waitFor(channel, 'hello');
  await h.serverSdk({ key: created.body.key, secret: created.body.secret }).trigger('rotation', 'hello', { n: 1 });
  assert.deepEqual(await got, { n: 1 });

  const listed = await admin.api('GET', `/apps/${h.app.id}/keys`);
  assert.equal(listed.status, 200);
  assert.equal(listed.body.length, 2);
  assert.ok(listed.body.every((k) => k.secret === undefined), 'listing hides secrets unless asked');
});

test('revoking a key closes its connections with 4001 and refuses it afterwards', async (t) => {
  const h = await startHerald(t);
  const admin = await h.owner();
  const fresh = await admin.api('POST', `/apps/${h.app.id}/keys`, { label: 'new' });
  assert.equal(fresh.status, 201);

  const oldClient = h.pusherClient();
  await connected(oldClient);
  const newClient = h.pusherClient({ key: fresh.body.key });
  await connected(newClient);
  const errors = [];
  oldClient.connection.bind('error', (e) => errors.push(pusherErrorCode(e)));

  const revoked = await admin.api('DELETE', `/apps/${h.app.id}/keys/${h.app.key}`);
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  assert.ok(revoked.body.revoked_at, 'revoked_at is set');

  await eventually(() => errors.includes(4001), { what: 'the old key\'s connection closed with 4001' });
  await eventually(() => oldClient.connection.state !== 'connected', { what: 'old client no longer connected' });
  assert.equal(newClient.connection.state, 'connected', 'connections on the new key stay');

  // Reconnecting with the revoked key is refused with 4001, with an error frame first.
  const raw = h.rawSocket();
  const err = await raw.next((f) => f.event === 'pusher:error', 5000, 'pusher:error on a revoked key');
  assert.equal(err.data.code, 4001);
  assert.equal((await raw.waitClosed()).code, 4001);

  // The HTTP API refuses the old key with 401; the new key publishes.
  await assert.rejects(h.serverSdk().trigger('c', 'e', {}), (e) => e.status === 401);
  const ok = await h.serverSdk({ key: fresh.body.key, secret: fresh.body.secret }).trigger('c', 'e', {});
  assert.equal(ok.status, 200);
});
