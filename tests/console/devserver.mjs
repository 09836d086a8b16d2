// Serves the console from disk in front of a running herald node, for working on the console:
//   node devserver.mjs http://127.0.0.1:6001 [port]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startConsoleProxy } from './helpers/console-proxy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const target = process.argv[2] || 'http://127.0.0.1:6001';
const proxy = await startConsoleProxy(target, path.resolve(here, '../../web-console'));
console.log(`console from disk at ${proxy.url}/console/ (API: ${target})`);
