// What deploy/compose.yaml describes, as processes on 127.0.0.1: a fresh Postgres database, a 3-server
// NATS cluster with JetStream, three Herald nodes started at the same moment on that database with one
// master key, and nginx running deploy/nginx.conf with only its upstream servers and listen port
// replaced (and the paths a non-installed nginx needs). Each piece waits for what compose's
// depends_on/healthcheck waits for, and nothing more.
import { spawn, spawnSync, execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../..');
export const NGINX_CONF = path.join(REPO, 'deploy/nginx.conf');
export const COMPOSE_FILE = path.join(REPO, 'deploy/compose.yaml');

export const HERALD_BIN = process.env.HERALD_BIN
  || path.join(process.env.CARGO_TARGET_DIR || '/var/cache/herald-target', 'release/herald');
export const NATS_BIN = process.env.NATS_SERVER_BIN || '/usr/sbin/nats-server';
export const NGINX_BIN = process.env.NGINX_BIN || '/usr/sbin/nginx';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy; the error names `what` and the last failure. An error
 * with `fatal` set (see `fatal`) ends the wait at once. */
export async function eventually(fn, { timeout = 10000, interval = 100, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = `returned ${JSON.stringify(v)}`;
    } catch (e) {
      if (e.fatal) throw e;
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${last}`);
    await sleep(interval);
  }
}

/** An error that ends an `eventually` at once. */
export const fatal = (message) => Object.assign(new Error(message), { fatal: true });

/** Rejects when `promise` has not settled within `ms`. */
export function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** A port free on 127.0.0.1 now, below the kernel's ephemeral range (so no socket bound to port 0
 * takes it before the process it is meant for binds it). */
export async function quietPort() {
  for (;;) {
    const candidate = 20000 + Math.floor(Math.random() * 12768);
    const free = await new Promise((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(candidate, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return candidate;
  }
}

/** A child process whose output is kept (the last 200 kB) and whose exit is a promise. */
function child(bin, args, options = {}) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  const keep = (d) => { out = (out + d.toString()).slice(-200000); };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  proc.on('error', (e) => { out += `\nspawn error: ${e.message}`; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc,
    exited,
    output: () => out,
    get running() { return proc.exitCode === null && proc.signalCode === null; },
    async kill(signal = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

function run(bin, args, { input = '', env = {}, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const c = execFile(bin, args, { env: { ...process.env, ...env }, cwd }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`${path.basename(bin)} ${args.join(' ')}: ${err.message}\n${stderr}`), { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
    c.stdin.on('error', () => {});
    c.stdin.end(input);
  });
}

// ------------------------------------------------------------------ Postgres

/**
 * A fresh database on the server HERALD_TEST_PG_URL names, or on a throwaway server started here with
 * scripts/postgres-throwaway (as compose's postgres service, empty). {url, dispose()}.
 */
export async function freshDatabase() {
  let server = process.env.HERALD_TEST_PG_URL;
  let stopServer = async () => {};
  if (!server) {
    const { stdout } = await run(path.join(REPO, 'scripts/postgres-throwaway'), []);
    const vars = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
    server = vars.HERALD_TEST_PG_URL;
    stopServer = () => run(path.join(REPO, 'scripts/postgres-throwaway'), ['stop', vars.HERALD_TEST_PG_DIR]).catch(() => {});
  }
  const psql = (sql) => run('psql', [server, '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  const names = [];
  const create = async () => {
    const name = `herald_deploy_${randomUUID().replaceAll('-', '')}`;
    await psql(`CREATE DATABASE ${name}`);
    names.push(name);
    return `${server.slice(0, server.lastIndexOf('/'))}/${name}`;
  };
  return {
    url: await create(),
    /** Another empty database on the same server (dropped with this one). */
    another: create,
    async dispose() {
      for (const name of names) await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await stopServer();
    },
  };
}

// ------------------------------------------------------------------ NATS

/**
 * Three nats-server processes routed to each other, JetStream on each with its own store directory
 * (compose's nats-1..3). Route ports are picked first (every server needs the others' before it
 * starts); a server that could not bind its port makes the whole cluster start again. Ready once
 * every server answers compose's healthcheck, /healthz?js-enabled-only=true.
 * {servers: [{url, monitorPort, output()}], url (all, comma-separated), dispose()}.
 */
export async function startNatsCluster(size = 3) {
  for (let attempt = 0; ; attempt++) {
    const name = `herald-deploy-${randomBytes(3).toString('hex')}`;
    const routePorts = [];
    while (routePorts.length < size) {
      const p = await quietPort();
      if (!routePorts.includes(p)) routePorts.push(p);
    }
    const dirs = await Promise.all(routePorts.map(() => mkdtemp(path.join(os.tmpdir(), 'herald-deploy-nats-'))));
    const servers = routePorts.map((routePort, i) => {
      const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`).join(',');
      const c = child(NATS_BIN, ['-a', '127.0.0.1', '-p', '-1', '-m', '-1', '-js', '-sd', dirs[i], '-n', `${name}-${i + 1}`,
        '-cluster', `nats://127.0.0.1:${routePort}`, '-cluster_name', name, '-routes', routes]);
      return Object.assign(c, { name: `nats-${i + 1}`, dir: dirs[i] });
    });
    const dispose = async () => {
      await Promise.all(servers.map((s) => s.kill()));
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    };
    try {
      for (const s of servers) {
        await eventually(() => {
          if (!s.running) throw fatal(`${s.name} exited:\n${s.output()}`);
          const out = s.output();
          const client = out.match(/Listening for client connections on [\d.]+:(\d+)/);
          const monitor = out.match(/Starting http monitor on [\d.]+:(\d+)/);
          if (!client || !monitor || !out.includes('Server is ready')) return false;
          s.url = `nats://127.0.0.1:${client[1]}`;
          s.monitorPort = Number(monitor[1]);
          return true;
        }, { timeout: 15000, interval: 50, what: `${s.name} to be ready` });
      }
      for (const s of servers) {
        await eventually(async () => {
          if (!s.running) throw fatal(`${s.name} exited:\n${s.output()}`);
          const res = await fetch(`http://127.0.0.1:${s.monitorPort}/healthz?js-enabled-only=true`);
          await res.arrayBuffer();
          return res.status === 200;
        }, { timeout: 15000, what: `${s.name}'s healthcheck (/healthz?js-enabled-only=true)` });
      }
      return { servers, url: servers.map((s) => s.url).join(','), dispose };
    } catch (e) {
      await dispose();
      if (attempt >= 2) throw e;
    }
  }
}

// ------------------------------------------------------------------ Herald

/**
 * The stream replicas compose asks for (3), where the NATS here keeps stream metadata (2.10 and
 * later): with 2.9 (Debian bookworm's 2.9.10) each replica reports its own creation time, which is
 * Herald's fallback epoch there, so nodes could disagree on it; replicas 1 keeps the test about
 * what it tests. README: run NATS 2.10 or later with nats_replicas above 1.
 */
function streamReplicas() {
  const version = /v?(\d+)\.(\d+)/.exec(spawnSync(NATS_BIN, ['--version'], { encoding: 'utf8' }).stdout || '');
  const [major, minor] = version ? [Number(version[1]), Number(version[2])] : [0, 0];
  return major > 2 || (major === 2 && minor >= 10) ? '3' : '1';
}

/** The environment compose gives every node (deploy/compose.yaml, x-herald), for these processes. */
export function nodeEnvironment({ databaseUrl, natsUrl, masterKey, prefix }) {
  return {
    HERALD_DATABASE_URL: databaseUrl,
    HERALD_NATS_URL: natsUrl,
    HERALD_NATS_REPLICAS: streamReplicas(),
    HERALD_MASTER_KEY: masterKey,
    HERALD_TRUSTED_PROXIES: '["127.0.0.1"]', // nginx's address here
    HERALD_LOG_FORMAT: 'json', // as the image sets it
    HERALD_LOG: 'info',
    // Not in compose: keeps this test's subjects apart from any other cluster's on these NATS servers.
    HERALD_NATS_PREFIX: prefix,
    NO_COLOR: '1',
  };
}

/** An environment without any HERALD_* setting of the caller's (only `env`'s). */
function cleanEnv(env) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));
  return { ...base, ...env };
}

/** A node's own directory (its working directory, with its data directory inside). */
export const nodeDir = (name) => mkdtemp(path.join(os.tmpdir(), `herald-deploy-${name}-`));

/**
 * Spawns one `herald serve` in `dir` (see nodeDir) on a port it chooses, and returns at once, so that
 * several start at the same moment; `await node.ready()` waits for its port and /readyz 200, or
 * rejects with its output when it exits first.
 */
export function spawnNode(name, env, dir) {
  const c = child(HERALD_BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data')],
    { env: cleanEnv(env), cwd: dir });
  // Added to the child itself (a spread would copy its `running` getter's value, not the getter).
  const node = Object.assign(c, { name, dir, env, port: null });
  Object.defineProperty(node, 'url', { get: () => `http://127.0.0.1:${node.port}` });
  Object.assign(node, {
    async ready(timeout = 30000) {
      await eventually(async () => {
        if (!c.running) throw fatal(`${name} exited (${JSON.stringify(await c.exited)}) before it was ready:\n${c.output()}`);
        if (!node.port) {
          const m = c.output().match(/herald listening(?: addr=|","addr":")[\d.]+:(\d+)/);
          if (!m) return false;
          node.port = Number(m[1]);
        }
        return (await readyStatus(node.url)) === 200;
      }, { timeout, interval: 100, what: `${name} to answer /readyz 200` });
      return node;
    },
    /** Sends SIGTERM; resolves with {code, signal} once it exits. */
    async terminate(ms = 30000) {
      c.proc.kill('SIGTERM');
      return within(c.exited, ms, `${name} to exit after SIGTERM`);
    },
    async dispose() {
      await c.kill();
      await rm(dir, { recursive: true, force: true });
    },
  });
  return node;
}

/** GET /readyz: the status, or 0 when nothing answers. */
export async function readyStatus(base) {
  try {
    const res = await fetch(`${base}/readyz`);
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Runs the herald CLI with `env` (and no other HERALD_* setting) in a fresh working directory,
 * which is returned too, so a test can see what the command left there. */
export async function cli(env, args, input = '') {
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'herald-deploy-cli-'));
  const { stdout, stderr } = await new Promise((resolve, reject) => {
    const c = execFile(HERALD_BIN, args, { env: cleanEnv({ HERALD_LOG: 'warn', ...env }), cwd }, (err, out, errOut) => {
      if (err) reject(new Error(`herald ${args.join(' ')} failed: ${err.message}\n${errOut}`));
      else resolve({ stdout: out, stderr: errOut });
    });
    c.stdin.on('error', () => {});
    c.stdin.end(input);
  });
  const start = stdout.search(/[[{]/);
  const json = start >= 0 ? JSON.parse(stdout.slice(start)) : null;
  return { json, stdout, stderr, cwd };
}

// ------------------------------------------------------------------ nginx

/**
 * deploy/nginx.conf for this test: its `server herald-N:6001` upstream lines point at `upstreams`
 * (ports on 127.0.0.1, in order), `listen 6001;` becomes `listen 127.0.0.1:PORT;`, and the paths an
 * nginx run from a private prefix needs (pid, logs, temp directories) are added. Everything else is
 * the real file. Throws when the real file no longer has what is replaced.
 */
export function adaptNginxConf(text, { port, upstreams, dir }) {
  let i = 0;
  let out = text.replace(/^(\s*server\s+)herald-\d+:6001\b/gm, (_, lead) => {
    if (i >= upstreams.length) throw new Error('deploy/nginx.conf has more upstream servers than the test has nodes');
    return `${lead}127.0.0.1:${upstreams[i++]}`;
  });
  if (i !== upstreams.length) throw new Error(`deploy/nginx.conf has ${i} upstream servers herald-N:6001; the test has ${upstreams.length} nodes`);
  const listens = out.match(/^\s*listen\s+6001\s*;/gm) || [];
  if (listens.length !== 1) throw new Error(`deploy/nginx.conf should have one "listen 6001;", has ${listens.length}`);
  out = out.replace(/^(\s*)listen\s+6001\s*;/m, `$1listen 127.0.0.1:${port};`);
  if (!/^http\s*\{/m.test(out)) throw new Error('deploy/nginx.conf has no http block');
  const paths = [
    `access_log ${dir}/access.log;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/tmp/${t};`),
  ].map((l) => `  ${l}`).join('\n');
  out = out.replace(/^http\s*\{/m, `http {\n  # added by tests/deploy\n${paths}`);
  return `# deploy/nginx.conf adapted by tests/deploy/stack.mjs\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log info;\n${out}`;
}

/** `nginx -t` of a configuration file: {ok, output}. */
export async function nginxTest(dir, conf) {
  try {
    const { stderr, stdout } = await run(NGINX_BIN, ['-t', '-p', `${dir}/`, '-c', conf]);
    return { ok: true, output: stdout + stderr };
  } catch (e) {
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

/** A private directory for nginx (its workers may run as another user: nobody, as root). */
export async function nginxDir() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-deploy-nginx-'));
  await chmod(dir, 0o755);
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  await chmod(path.join(dir, 'tmp'), 0o777);
  return dir;
}

/** nginx with the adapted deploy/nginx.conf in front of `ports`: {port, url, conf, output(), dispose()}. */
export async function startNginx(ports) {
  const dir = await nginxDir();
  const text = await readFile(NGINX_CONF, 'utf8');
  for (let attempt = 0; ; attempt++) {
    const port = await quietPort();
    const conf = path.join(dir, 'nginx.conf');
    await writeFile(conf, adaptNginxConf(text, { port, upstreams: ports, dir }));
    const checked = await nginxTest(dir, conf);
    if (!checked.ok) throw new Error(`nginx -t refuses the adapted deploy/nginx.conf:\n${checked.output}`);
    const c = child(NGINX_BIN, ['-p', `${dir}/`, '-c', conf, '-g', 'daemon off;']);
    const errorLog = async () => readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
    try {
      await eventually(async () => {
        if (!c.running) throw fatal(`nginx exited:\n${c.output()}\n${await errorLog()}`);
        return new Promise((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
          s.on('error', () => resolve(false));
        });
      }, { timeout: 10000, interval: 50, what: 'nginx to listen' });
    } catch (e) {
      await c.kill('SIGTERM'); // not SIGKILL: the master takes its workers with it only when it exits itself
      if (attempt < 3 && /Address already in use/.test(e.message)) continue;
      throw e;
    }
    return {
      port,
      url: `http://127.0.0.1:${port}`,
      conf,
      dir,
      output: c.output,
      errorLog,
      async dispose() {
        await c.kill('SIGTERM');
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}
