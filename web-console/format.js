// @ts-check
// How figures, times and close codes read in the console.

/** Pusher close codes as words. */
export const CLOSE_CODES = /** @type {Record<number, string>} */ ({
  1000: 'normal close',
  1001: 'client went away',
  1006: 'connection dropped',
  4000: 'SSL only',
  4001: 'key revoked or unknown',
  4003: 'app disabled / tenant suspended',
  4004: 'over connection quota',
  4005: 'path not found',
  4006: 'invalid version string',
  4007: 'unsupported protocol version',
  4008: 'no protocol version',
  4009: 'closed by an admin',
  4100: 'over capacity or too slow',
  4200: 'server shutdown',
  4201: 'pong timeout',
  4202: 'closed after inactivity',
  4301: 'client event rate limit',
  1009: 'message too big',
});

/** "4001 key revoked or unknown"; an HTTP status or unknown code as it is. */
export function closeCode(/** @type {number | null | undefined} */ code) {
  if (code === null || code === undefined) return '';
  const word = CLOSE_CODES[code];
  return word ? `${code} ${word}` : String(code);
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/** A Unix-ms time as date and time. */
export const when = (/** @type {number | null | undefined} */ ms) => (ms ? dateTime.format(new Date(ms)) : '—');

/** A Unix-seconds time as date and time. */
export const whenSecs = (/** @type {number | null | undefined} */ secs) => (secs ? when(secs * 1000) : '—');

/** A Unix-ms time as hh:mm:ss.mmm, for the event log. */
export function clockTime(/** @type {number} */ ms) {
  return `${clock.format(new Date(ms))}.${String(ms % 1000).padStart(3, '0')}`;
}

/** How long ago (or "in …") a Unix-ms time is, roughly. */
export function ago(/** @type {number | null | undefined} */ ms, now = Date.now()) {
  if (!ms) return '—';
  const secs = Math.round((now - ms) / 1000);
  const text = duration(Math.abs(secs));
  return secs >= 0 ? `${text} ago` : `in ${text}`;
}

/** Seconds as "3 s", "5 min", "2 h 5 min", "3 d". */
export function duration(/** @type {number} */ secs) {
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min`;
  if (secs < 86400) {
    const m = Math.floor((secs % 3600) / 60);
    return `${Math.floor(secs / 3600)} h${m ? ` ${m} min` : ''}`;
  }
  return `${Math.floor(secs / 86400)} d`;
}

const numbers = new Intl.NumberFormat();
/** A count with thousands separators. */
export const count = (/** @type {number | null | undefined} */ n) => (n === null || n === undefined ? '—' : numbers.format(n));

/** A rate per second, one decimal below 10. */
export function rate(/** @type {number | null} */ n) {
  if (n === null || !Number.isFinite(n)) return '—';
  return n < 10 ? n.toFixed(1) : numbers.format(Math.round(n));
}

/** Bytes as B, KiB, MiB. */
export function bytes(/** @type {number | null | undefined} */ n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** "0 (unlimited)" reads better as "unlimited". */
export const limit = (/** @type {number | undefined} */ n) => (!n ? 'unlimited' : count(n));

/** Role names as words. */
export const ROLES = /** @type {const} */ ({
  owner: 'Owner',
  tenant_admin: 'Tenant admin',
  tenant_viewer: 'Tenant viewer',
});

/** `datetime-local` text of a Unix-ms time, in local time. */
export function localInput(/** @type {number} */ ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}
