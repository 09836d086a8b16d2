// @ts-check
// The console's only way to the server: typed calls to the admin API (`/api/v1`, types from
// api.d.ts) and the session they carry.
//
// The session: the access token lives in this module's memory only (never in storage); the refresh
// token is the HttpOnly `herald_refresh` cookie, which no script can read. A page load tries a
// refresh first, so a reload stays signed in; the access token is refreshed a minute before it
// runs out; any 401 ends the session (the app shows the sign-in page).

/** @typedef {import('./api-types').Method} Method */
/** @typedef {import('./api-types').Paths} Paths */
/** @typedef {import('./api-types').Schemas} Schemas */
/**
 * @template {keyof Paths} P @template {Method} M
 * @typedef {import('./api-types').Op<P, M>} Op
 */

/** An error answer of the API: `{"error": {"code", "message", "field"?}}`, or a network failure. */
export class ApiError extends Error {
  /**
   * @param {number} status 0 when the server could not be reached
   * @param {string} code
   * @param {string} message
   * @param {string | null} [field]
   */
  constructor(status, code, message, field = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field ?? null;
  }
}

const session = {
  /** @type {string | null} */
  token: null,
  /** Unix ms when the access token runs out. */
  expiresAt: 0,
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  timer: undefined,
  /** @type {Promise<boolean> | null} the refresh under way, shared by every caller */
  refreshing: null,
};

/** @type {() => void} */
let ended = () => {};

/** Sets what happens when the session ends (a 401, a failed refresh): the app shows the sign-in page. */
export function onSessionEnd(/** @type {() => void} */ handler) {
  ended = handler;
}

/** Whether a session is held (an access token is in memory). */
export function signedIn() {
  return session.token !== null;
}

/** The access token, for the live stream's request (sse.js). */
export async function accessToken() {
  await fresh();
  return session.token;
}

/** @param {Schemas['TokenPair']} pair */
function adopt(pair) {
  session.token = pair.access_token;
  const ttl = Math.max(10, pair.expires_in) * 1000;
  session.expiresAt = Date.now() + ttl;
  clearTimeout(session.timer);
  // A minute before it runs out (or at 80% of a short lifetime).
  const lead = Math.min(60_000, ttl * 0.2);
  session.timer = setTimeout(() => void refresh(), ttl - lead);
}

function clear() {
  session.token = null;
  session.expiresAt = 0;
  clearTimeout(session.timer);
}

/** Ends the session here (no request): the token is dropped and the sign-in page shown. */
function end() {
  if (session.token === null && session.expiresAt === 0) {
    ended();
    return;
  }
  clear();
  ended();
}

/**
 * Exchanges the refresh cookie for a new access token. Another tab may have rotated the cookie a
 * moment ago, so a refused refresh is tried once more before the session ends.
 * @returns {Promise<boolean>} whether a session is held now
 */
export function refresh() {
  if (session.refreshing) return session.refreshing;
  session.refreshing = (async () => {
    for (const wait of [0, 400]) {
      if (wait) await new Promise((r) => setTimeout(r, wait));
      try {
        const res = await fetch('/api/v1/auth/refresh', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
          credentials: 'same-origin',
        });
        if (res.ok) {
          adopt(await res.json());
          return true;
        }
        if (res.status !== 401) return session.token !== null;
      } catch {
        return session.token !== null; // offline: keep what we have, the next call says more
      }
    }
    if (session.token !== null) end();
    else clear();
    return false;
  })().finally(() => {
    session.refreshing = null;
  });
  return session.refreshing;
}

/** Refreshes first when the token is about to run out (a timer can be late after sleep). */
async function fresh() {
  if (session.token !== null && Date.now() > session.expiresAt - 15_000) await refresh();
}

/** Signs in; the refresh token comes back as the HttpOnly cookie. */
export async function login(/** @type {string} */ email, /** @type {string} */ password) {
  const pair = await call('post', '/api/v1/auth/login', {
    body: { email, password, refresh_cookie: true },
    own401: true,
  });
  adopt(pair);
}

/** Signs out: the server forgets the refresh token and clears the cookie. */
export async function logout() {
  try {
    await call('post', '/api/v1/auth/logout', { body: {}, own401: true });
  } finally {
    clear();
  }
}

/**
 * `path` with its `{name}` parts filled from `params` and `query` appended (empty values left out).
 * @param {string} path
 * @param {Record<string, unknown>} [params]
 * @param {Record<string, unknown>} [query]
 */
export function url(path, params = {}, query = {}) {
  const filled = path.replace(/\{(\w+)\}/g, (_, name) => {
    const value = params[name];
    if (value === undefined || value === null) throw new Error(`${path}: no value for {${name}}`);
    return encodeURIComponent(String(value));
  });
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    search.set(name, String(value));
  }
  const qs = search.toString();
  return qs ? `${filled}?${qs}` : filled;
}

/**
 * The message of an error that names its field (`settings.webhooks[0].url`), as shown next to that
 * field: without the body parser's preamble, the field path and the JSON position it adds.
 * @param {string} message @param {string | null} field
 */
export function fieldMessage(message, field) {
  if (!field) return message;
  let text = message.replace(/^Failed to deserialize the JSON body into the target type: /, '');
  if (text.startsWith(`${field}: `)) text = text.slice(field.length + 2);
  text = text.replace(/ at line \d+ column \d+$/, '');
  return text ? sentence(text) : message;
}

/** A server message as a sentence: "the current password is wrong" → "The current password is wrong." */
export function sentence(/** @type {string} */ text) {
  const t = /^[a-z]+ /.test(text) ? text[0].toUpperCase() + text.slice(1) : text;
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/**
 * Calls the admin API. Resolves with the answer's JSON (undefined for 204); rejects with an
 * ApiError. A 401 ends the session unless `own401` says it is this call's own answer.
 * @template {Method} M
 * @template {import('./api-types').PathFor<M>} P
 * @param {M} method
 * @param {P} path
 * @param {import('./api-types').CallOptions<Op<P, M>>} [options]
 * @returns {Promise<import('./api-types').Ok<Op<P, M>>>}
 */
export async function call(method, path, options = {}) {
  await fresh();
  const { body, signal, own401 = false } = options;
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  const target = url(path, /** @type {Record<string, unknown>} */ (options.path ?? {}),
    /** @type {Record<string, unknown>} */ (options.query ?? {}));
  let res;
  try {
    res = await fetch(target, {
      method: method.toUpperCase(),
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server could not be reached. Check that it is running, then try again.');
  }
  const text = await res.text();
  /** @type {any} */
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const detail = json?.error;
    const field = typeof detail?.field === 'string' && detail.field ? detail.field : null;
    const message = typeof detail?.message === 'string'
      ? fieldMessage(detail.message, field)
      : `The server answered ${res.status} ${res.statusText}.`;
    const error = new ApiError(res.status, detail?.code ?? `http_${res.status}`, message, field);
    if (res.status === 401 && !own401) end();
    throw error;
  }
  return json;
}

/**
 * @template {import('./api-types').PathFor<'get'>} P
 * @param {P} path @param {import('./api-types').CallOptions<Op<P, 'get'>>} [options]
 */
export const get = (path, options) => call('get', path, options);
/**
 * @template {import('./api-types').PathFor<'post'>} P
 * @param {P} path @param {import('./api-types').CallOptions<Op<P, 'post'>>} [options]
 */
export const post = (path, options) => call('post', path, options);
/**
 * @template {import('./api-types').PathFor<'patch'>} P
 * @param {P} path @param {import('./api-types').CallOptions<Op<P, 'patch'>>} [options]
 */
export const patch = (path, options) => call('patch', path, options);
/**
 * @template {import('./api-types').PathFor<'delete'>} P
 * @param {P} path @param {import('./api-types').CallOptions<Op<P, 'delete'>>} [options]
 */
export const del = (path, options) => call('delete', path, options);
