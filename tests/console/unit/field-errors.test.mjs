// How the console shows an API error that names its field (web-console/client.js, ui.js): the
// body parser's preamble, the field path and the JSON position go, the rest reads as a sentence;
// `errorAt` finds the error of one field of a nested list (settings.webhooks[1].events).
import test from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, fieldMessage } from '../../../web-console/client.js';

test('a field error reads as a sentence, without the parser\'s preamble, path and position', () => {
  assert.equal(fieldMessage('Failed to deserialize the JSON body into the target type: settings.webhooks[0].url: webhook url "ftp://x" must be an http:// or https:// URL with a host at line 1 column 41',
    'settings.webhooks[0].url'), 'Webhook url "ftp://x" must be an http:// or https:// URL with a host.');
  assert.equal(fieldMessage('Failed to deserialize the JSON body into the target type: settings.max_connections: invalid value: integer `-1`, expected u32 at line 1 column 33',
    'settings.max_connections'), 'Invalid value: integer `-1`, expected u32.');
  assert.equal(fieldMessage('the current password is wrong', 'current_password'), 'The current password is wrong.');
  assert.equal(fieldMessage('slug_taken: already used.', 'slug'), 'slug_taken: already used.', 'an identifier first is left as it is');
  assert.equal(fieldMessage('wrong email or password', null), 'wrong email or password', 'an error without a field is untouched');
});

test('errorAt finds the error of one nested field, or of anything under it', async () => {
  // ui.js imports the vendored Preact (browser modules that also load in Node)
  const { errorAt } = await import('../../../web-console/ui.js');
  const e = new ApiError(400, 'bad_request', 'A webhook endpoint needs at least one event.', 'settings.webhooks[1].events[0]');
  assert.equal(errorAt(e, 'settings.webhooks[1].events'), null);
  assert.equal(errorAt(e, 'settings.webhooks[1].events', { under: true }), e.message);
  assert.equal(errorAt(e, 'settings.webhooks[1]', { under: true }), e.message);
  assert.equal(errorAt(e, 'settings.webhooks[0]', { under: true }), null);
  assert.equal(errorAt(e, 'settings.webhooks[1].url'), null);
  assert.equal(errorAt(new Error('x'), 'settings.webhooks'), null);
});
