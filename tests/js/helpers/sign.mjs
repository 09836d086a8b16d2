// Pusher HTTP API signing by hand, so tests can get any part of it wrong.
import { createHash, createHmac } from 'node:crypto';

export const hmac = (secret, text) => createHmac('sha256', secret).update(text).digest('hex');
export const md5 = (text) => createHash('md5').update(text).digest('hex');

/** A Pusher-signed HTTP request made by hand, so that any part can be wrong. */
export async function signedFetch(h, method, apiPath, opts = {}) {
  const {
    body,
    query = {},
    key = h.app.key,
    secret = h.app.secret,
    timestamp = Math.floor(Date.now() / 1000),
    signature,
    appId = h.app.id,
    sendBody,
    bodyMd5,
  } = opts;
  const bodyText = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const fullPath = `/apps/${appId}${apiPath}`;
  const params = { auth_key: key, auth_timestamp: String(timestamp), auth_version: '1.0', ...query };
  if (bodyText !== undefined) params.body_md5 = bodyMd5 ?? md5(bodyText);
  const sorted = Object.keys(params).sort()
    .map((k) => `${k.toLowerCase()}=${params[k]}`).join('&');
  const sig = signature ?? hmac(secret, `${method}\n${fullPath}\n${sorted}`);
  const qs = new URLSearchParams({ ...params, auth_signature: sig }).toString();
  const res = await fetch(`${h.url}${fullPath}?${qs}`, {
    method,
    headers: bodyText !== undefined ? { 'content-type': 'application/json' } : {},
    body: sendBody ?? bodyText,
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* plain-text error body */ }
  return { status: res.status, text, json };
}
