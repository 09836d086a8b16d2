// A single node killed with SIGKILL in the middle of admin writes and publishes: after it, the SQLite
// store passes PRAGMA integrity_check, and the node restarted on the same data directory has every
// write that was answered with success: each app created and each message published.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHeraldNode, signedFetch, clusterSkip, sleep } from './helpers/herald.mjs';

const exec = promisify(execFile);
const PER_CHANNEL = 100; // what the app's history keeps by default, so every message stays readable

test('kill -9 during admin writes and publishes: the store is intact and every acknowledged write is kept', {
  skip: clusterSkip('one node and its own files'),
}, async (t) => {
  const h1 = await startHeraldNode(t);
  const owner = await h1.owner();
  const tenant = await owner.api('POST', '/tenants', { name: 'Burst', slug: 'burst' });
  assert.equal(tenant.status, 201, JSON.stringify(tenant.body));

  const acked = { apps: [], messages: new Map() };
  let stop = false;
  const createApps = async (w) => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await owner.api('POST', `/tenants/${tenant.body.id}/apps`, { name: `w${w}-${i}` });
        if (r.status === 201) acked.apps.push(String(r.body.app.id));
      } catch { /* the node died under this request: not acknowledged */ }
    }
  };
  const publish = async (w) => {
    for (let i = 0; !stop; i++) {
      const channel = `burst-${w}-${Math.floor(i / PER_CHANNEL)}`;
      try {
        const r = await signedFetch(h1, 'POST', '/events', { body: { name: 'n', channel, data: String(i) } });
        if (r.status === 200) {
          if (!acked.messages.has(channel)) acked.messages.set(channel, []);
          acked.messages.get(channel).push(String(i));
        }
      } catch { /* not acknowledged */ }
    }
  };
  const workers = [0, 1].map(createApps).concat([0, 1, 2, 3].map(publish));
  await sleep(1500);
  await h1.signal('SIGKILL');
  stop = true;
  await Promise.all(workers);
  const published = [...acked.messages.values()].reduce((n, m) => n + m.length, 0);
  assert.ok(acked.apps.length >= 5, `apps created before the kill: ${acked.apps.length}`);
  assert.ok(published >= 100, `messages published before the kill: ${published}`);

  const { stdout } = await exec('sqlite3', [path.join(h1.dataDir, 'herald.db'), 'PRAGMA integrity_check;']);
  assert.equal(stdout.trim(), 'ok', 'SQLite integrity_check after the kill');

  const h2 = await startHeraldNode(t, { dataDir: h1.dataDir, existingApp: h1.app });
  const apps = new Set((await h2.listApps()).map((a) => String(a.id)));
  assert.deepEqual(acked.apps.filter((id) => !apps.has(id)), [], 'every app answered 201 is there');
  for (const [channel, sent] of acked.messages) {
    const r = await signedFetch(h2, 'GET', `/channels/${channel}/history`, {
      query: { direction: 'forwards', limit: '1000' },
    });
    assert.equal(r.status, 200, r.text);
    const stored = new Set(r.json.messages.map((m) => m.data));
    assert.deepEqual(sent.filter((i) => !stored.has(i)), [], `every message answered 200 on ${channel} is there`);
  }
  t.diagnostic(`kept through the kill: ${acked.apps.length} apps, ${published} messages on ${acked.messages.size} channels`);
});
