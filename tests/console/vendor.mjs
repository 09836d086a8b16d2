// Copies the console's libraries from this suite's node_modules into web-console/vendor/ as ES
// modules a browser loads as they are: bare imports ("preact", "htm") become relative file
// imports (an import map would be an inline script, which the console's CSP forbids), each file
// starts with its package's name, version and licence, and the licences are copied beside them.
// Beside each module a .d.mts re-exports the package's own types for `tsc --checkJs`.
// Run after changing a version in package.json: `npm run vendor`.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, 'node_modules');
const out = path.resolve(here, '../../web-console/vendor');

const pkg = async (name) => JSON.parse(await readFile(path.join(modules, name, 'package.json'), 'utf8'));

/** [output file, package, file inside the package, types to re-export] */
const files = [
  ['preact.mjs', 'preact', 'dist/preact.module.js', 'preact'],
  ['hooks.mjs', 'preact', 'hooks/dist/hooks.module.js', 'preact/hooks'],
  ['htm.mjs', 'htm', 'dist/htm.module.js', 'htm'],
  ['htm-preact.mjs', 'htm', 'preact/index.module.js', 'htm/preact'],
];

const imports = { preact: './preact.mjs', 'preact/hooks': './hooks.mjs', htm: './htm.mjs' };

await mkdir(out, { recursive: true });
for (const [file, name, inside, types] of files) {
  const { version, license } = await pkg(name);
  let code = await readFile(path.join(modules, name, inside), 'utf8');
  code = code.replace(/\n?\/\/# sourceMappingURL=.*$/m, '');
  code = code.replace(/from\s*"([^"]+)"/g, (whole, spec) => {
    if (!(spec in imports)) throw new Error(`${name}/${inside} imports ${spec}, which is not vendored`);
    return `from"${imports[spec]}"`;
  });
  const header = `/*! ${name} ${version} (${inside}) | ${license} licence, see LICENSE-${name}.txt | vendored by tests/console/vendor.mjs */\n`;
  await writeFile(path.join(out, file), `${header}${code.trimEnd()}\n`);
  await writeFile(path.join(out, file.replace(/\.mjs$/, '.d.mts')),
    `// Types of the vendored ${file}: those of the npm package ${types} (tests/console/node_modules).\nexport * from '${types}';\n`);
}
for (const name of ['preact', 'htm']) {
  await writeFile(path.join(out, `LICENSE-${name}.txt`), await readFile(path.join(modules, name, 'LICENSE'), 'utf8'));
}
console.log(`vendored ${files.length} modules into ${path.relative(process.cwd(), out)}`);
