// web-console/api.d.ts is what openapi-typescript makes of openapi/openapi.json: regenerated in a
// temporary directory and compared, so a changed API cannot go unnoticed by the console's type check.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');

test('web-console/api.d.ts is up to date with openapi/openapi.json', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-api-types-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'api.d.ts');
  const bin = path.resolve(here, '../node_modules/.bin/openapi-typescript');
  await new Promise((resolve, reject) => execFile(bin, [path.join(root, 'openapi/openapi.json'), '-o', out],
    (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve())));
  const fresh = await readFile(out, 'utf8');
  const checkedIn = await readFile(path.join(root, 'web-console/api.d.ts'), 'utf8');
  assert.ok(fresh === checkedIn,
    'web-console/api.d.ts is stale: regenerate it with `cd tests/console && npx openapi-typescript ../../openapi/openapi.json -o ../../web-console/api.d.ts`, '
    + 'then fix what `npm run typecheck` reports');
});
