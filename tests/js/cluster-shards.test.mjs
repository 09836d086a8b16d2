// Message shards (`message_shards`): a cluster spreads its channels over several JetStream streams,
// each channel always in the same one (CRC-32 of app and channel). Each shard has its own epoch; a
// pusher-js client with the resume plugin resumes channels of every shard through another node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribed, eventually, sleep, waitFor, clusterSkip } from './helpers/herald.mjs';
import { startNats, startCluster } from './helpers/cluster.mjs';
import { startTcpProxy } from './helpers/tcp-proxy.mjs';
import { enableResume } from '../../clients/pusher-js-resume/index.mjs';

// Channels of app 4242 in shards 1, 2 and 0 of 3 (as `the_shard_of_a_channel_is_fixed` computes).
const CHANNELS = ['feed-a', 'feed-b', 'feed-c'];

test('three message shards: channels spread over three streams, resume and history work on each', {
  skip: clusterSkip('starts its own cluster; once is enough'),
}, async (t) => {
  const nats = await startNats(t);
  const { nodes: [A, B, C] } = await startCluster(t, 3, {
    nats, env: { HERALD_MESSAGE_SHARDS: '3' }, app: { historyMaxMessages: 1000 },
  });
  const proxy = await startTcpProxy(t, [A.port, C.port]);
  const client = A.pusherClient({ wsPort: proxy.port });
  const recoveries = [];
  enableResume(client, { onRecovery: (name, r) => recoveries.push([name, r]) });
  const got = Object.fromEntries(CHANNELS.map((c) => [c, []]));
  const epochs = {};
  const channels = CHANNELS.map((name) => {
    const ch = client.subscribe(name);
    ch.bind('n', (d) => got[name].push(d.i));
    return ch;
  });
  await Promise.all(channels.map((ch) => subscribed(ch, 8000)));

  const sdk = B.serverSdk();
  const publish = async (from, to) => {
    for (let i = from; i <= to; i++) for (const name of CHANNELS) await sdk.trigger(name, 'n', { i });
  };
  await publish(1, 3);
  await eventually(() => CHANNELS.every((c) => got[c].length === 3), { what: 'live events before the cut' });

  // The history of each channel names its shard's epoch: three shards, three epochs.
  for (const name of CHANNELS) {
    const res = await C.serverSdk().get({ path: `/channels/${name}/history`, params: { direction: 'forwards' } });
    const page = await res.json();
    assert.deepEqual(page.messages.map((m) => JSON.parse(m.data).i), [1, 2, 3], `history of ${name} via C`);
    epochs[name] = page.epoch;
  }
  assert.equal(new Set(Object.values(epochs)).size, 3, `one epoch per shard: ${JSON.stringify(epochs)}`);

  // Away while 4..6 are published; back through C (the proxy's next target): every channel resumes.
  const resumed = channels.map((ch) => waitFor(ch, 'herald:recovery', 15000, { what: `recovery on ${ch.name}` }));
  proxy.cutAll({ hold: true });
  await publish(4, 6);
  await sleep(200);
  proxy.restore();
  for (const r of await Promise.all(resumed)) assert.deepEqual(r, { recovered: true, reason: null });
  await publish(7, 7);
  await eventually(() => CHANNELS.every((c) => got[c].length >= 7), { what: 'missed and live events' });
  await sleep(300);
  for (const name of CHANNELS) assert.deepEqual(got[name], [1, 2, 3, 4, 5, 6, 7], `events of ${name}, once each`);
});
