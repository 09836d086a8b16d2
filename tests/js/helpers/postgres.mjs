// A fresh Postgres database per test, on the server HERALD_TEST_PG_URL names (scripts/test starts a
// throwaway one). The database is dropped after the test.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';

export const PG_URL = process.env.HERALD_TEST_PG_URL;

export function psql(sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [PG_URL, '-v', 'ON_ERROR_STOP=1', '-c', sql],
      (err, out, stderr) => (err ? reject(new Error(`psql ${sql}: ${stderr || err.message}`)) : resolve(out)));
  });
}

/** Creates an empty database and returns its URL; `t` (a node:test context, or null) drops it after. */
export async function freshDatabase(t) {
  if (!PG_URL) throw new Error('HERALD_TEST_PG_URL is not set: point it at a Postgres server (scripts/postgres-throwaway starts one)');
  const name = `herald_js_${randomUUID().replaceAll('-', '')}`;
  await psql(`CREATE DATABASE ${name}`);
  const drop = () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
  if (t) t.after(drop);
  const url = `${PG_URL.slice(0, PG_URL.lastIndexOf('/'))}/${name}`;
  return { url, drop };
}
