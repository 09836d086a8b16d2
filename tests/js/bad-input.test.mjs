// Bad input over raw WebSockets: each gets an error answer, and the node keeps
// serving everyone else (a pusher-js bystander keeps receiving, and new
// connections still work).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, subscribed, waitFor } from './helpers/herald.mjs';

/** A pusher-js client subscribed to "watch" that must keep receiving. */
async function bystander(h) {
  const client = h.pusherClient();
  const ch = client.subscribe('watch');
  await subscribed(ch);
  return {
    async stillReceives(tag) {
      const got = waitFor(ch, 'alive', 5000, { filter: (d) => d.tag === tag, what: `bystander event ${tag}` });
      await h.serverSdk().trigger('watch', 'alive', { tag });
      await got;
      assert.equal(client.connection.state, 'connected');
    },
  };
}

/** The bad socket is still usable: ping/pong and a subscribe both work. */
async function stillUsable(s, channel) {
  s.send({ event: 'pusher:ping', data: {} });
  await s.event('pusher:pong');
  await s.subscribed(channel);
  assert.ok(s.open);
}

async function newConnectionsWork(h) {
  const s = await h.rawConnected();
  s.close();
}

function assertSoftError(err) {
  assert.equal(err.event, 'pusher:error');
  assert.equal(err.data.code, null, `soft errors carry code null, got ${err.data.code}`);
  assert.equal(typeof err.data.message, 'string');
  assert.ok(err.data.message.length > 0);
}

test('malformed JSON gets pusher:error and the connection stays', async (t) => {
  const h = await startHerald(t);
  const b = await bystander(h);
  const s = await h.rawConnected();
  for (const junk of ['{"event":', 'not json at all', '{"event": "pusher:ping", "data": }', '']) {
    s.sendText(junk);
    assertSoftError(await s.error());
    await b.stillReceives(`after ${JSON.stringify(junk)}`);
  }
  await stillUsable(s, 'after-junk');
  await newConnectionsWork(h);
});

test('JSON that is not an event object gets pusher:error', async (t) => {
  const h = await startHerald(t);
  const b = await bystander(h);
  const s = await h.rawConnected();
  for (const junk of ['[1,2,3]', '"a string"', '42', 'null', '{"data":{}}', '{"event":42}']) {
    s.sendText(junk);
    assertSoftError(await s.error());
  }
  await b.stillReceives('after non-objects');
  await stillUsable(s, 'after-non-objects');
});

test('binary frames get pusher:error and the connection stays', async (t) => {
  const h = await startHerald(t);
  const b = await bystander(h);
  const s = await h.rawConnected();
  s.sendBinary(Buffer.from([0, 1, 2, 255, 254]));
  assertSoftError(await s.error());
  // even a binary frame holding valid JSON is refused
  s.sendBinary(Buffer.from(JSON.stringify({ event: 'pusher:ping', data: {} })));
  assertSoftError(await s.error());
  await b.stillReceives('after binary');
  await stillUsable(s, 'after-binary');
});

test('unknown events get pusher:error and the connection stays', async (t) => {
  const h = await startHerald(t);
  const b = await bystander(h);
  const s = await h.rawConnected();
  for (const event of ['pusher:nonsense', 'pusher_internal:subscription_succeeded', 'hello']) {
    s.send({ event, data: {} });
    assertSoftError(await s.error());
  }
  await b.stillReceives('after unknown events');
  await stillUsable(s, 'after-unknown');
});

test('malformed subscribe and unsubscribe frames get pusher:error', async (t) => {
  const h = await startHerald(t);
  const s = await h.rawConnected();
  const frames = [
    { event: 'pusher:subscribe' },
    { event: 'pusher:subscribe', data: {} },
    { event: 'pusher:subscribe', data: { channel: 42 } },
    { event: 'pusher:subscribe', data: 'not-an-object' },
    { event: 'pusher:unsubscribe', data: {} },
  ];
  for (const f of frames) {
    s.send(f);
    const err = await s.error();
    assert.equal(err.event, 'pusher:error', JSON.stringify(f));
    assert.ok(err.data.message.length > 0);
  }
  await stillUsable(s, 'after-bad-subscribes');
});

test('an oversized frame is answered (error frame or close with a code), others are unaffected', async (t) => {
  const h = await startHerald(t);
  const b = await bystander(h);
  const s = await h.rawConnected();
  const huge = JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'x', pad: 'p'.repeat(4 * 1024 * 1024) } });
  s.sendText(huge);
  const outcome = await Promise.race([
    s.error(10000).then((e) => ({ kind: 'error', e })),
    s.closed.then((c) => ({ kind: 'close', c })),
  ]);
  if (outcome.kind === 'error') {
    assert.ok(outcome.e.data.message.length > 0);
  } else {
    assert.ok(outcome.c.code !== 1006 && outcome.c.code !== 1005,
      `closed without a close code (${outcome.c.code}): the TCP connection was dropped`);
  }
  await b.stillReceives('after oversized');
  await newConnectionsWork(h);
});

test('an oversized client event (over max payload) is refused without hurting the channel', async (t) => {
  const h = await startHerald(t, { app: { clientEvents: true, maxPayloadBytes: 1000 } });
  const b = await bystander(h);
  const a = await h.rawConnected();
  await a.subscribed('private-room', h.auth(a.socketId, 'private-room'));
  const c = await h.rawConnected();
  await c.subscribed('private-room', h.auth(c.socketId, 'private-room'));
  a.send({ event: 'client-big', channel: 'private-room', data: { pad: 'p'.repeat(5000) } });
  const err = await a.error();
  assert.ok(err.data.message.length > 0);
  await h.serverSdk().trigger('private-room', 'marker', {});
  await c.event('marker', 'private-room');
  assert.equal(c.all((f) => f.event === 'client-big').length, 0);
  await b.stillReceives('after big client event');
});

test('a flood of bad frames from one client does not stop the node serving others', async (t) => {
  const h = await startHerald(t);
  const b = await bystander(h);
  const s = await h.rawConnected();
  for (let i = 0; i < 200; i++) s.sendText(`garbage ${i}`);
  await s.error();
  await b.stillReceives('after flood');
  await newConnectionsWork(h);
});

test('a connection subscribes to at most max_subscriptions_per_connection channels; the next is refused saying so', async (t) => {
  const h = await startHerald(t, { env: { HERALD_MAX_SUBSCRIPTIONS_PER_CONNECTION: '3' } });
  const s = await h.rawConnected();
  for (const c of ['a', 'b', 'c']) await s.subscribed(c);
  s.subscribe('d');
  const refused = await s.error();
  assert.match(refused.data.message, /at most 3 channels/);
  assert.equal(refused.channel, 'd', 'the refusal names the channel');
  await s.subscribed('a'); // already subscribed: not a new one
  s.send({ event: 'pusher:unsubscribe', data: { channel: 'b' } });
  await s.subscribed('d'); // room again
  assert.ok(s.open, 'the connection stays');
});
