/**
 * X-Twilio-Signature, as Twilio computes it (twilio-wire.md §3) and as twilio-node's `validateRequest` checks it.
 * Pure: used by webhook ingestion (verify) and by the sandbox (sign). Test vectors: twilio-wire.md §3.4.
 */
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { parse as querystringParse, stringify as querystringStringify } from 'node:querystring';

export type SignatureParams = Record<string, string | readonly string[] | undefined>;

/** The string Twilio signs: the full URL, then each param name + value in sorted name order (arrays: deduplicated, sorted values). */
export function signaturePayload(url: string, params: SignatureParams): string {
  return url + paramsPayload(params);
}

/** The params part of the signed string (everything after the URL). */
function paramsPayload(params: SignatureParams): string {
  let data = '';
  for (const name of Object.keys(params).sort()) {
    const v = params[name];
    if (v === undefined) continue;
    if (typeof v === 'string') {
      data += name + v;
    } else {
      for (const item of [...new Set(v)].sort()) data += name + item;
    }
  }
  return data;
}

/** Base64 HMAC-SHA1 of the payload keyed with the account's (primary) auth token. */
export function computeTwilioSignature(authToken: string, url: string, params: SignatureParams): string {
  return createHmac('sha1', hmacKey(authToken)).update(signaturePayload(url, params), 'utf8').digest('base64');
}

/** HMAC keys by auth token: the few configured tokens are turned into key objects once, not per webhook. */
const KEYS = new Map<string, KeyObject>();
const MAX_KEYS = 64;
function hmacKey(authToken: string): KeyObject {
  let k = KEYS.get(authToken);
  if (!k) {
    if (KEYS.size >= MAX_KEYS) KEYS.clear();
    k = createSecretKey(Buffer.from(authToken, 'utf8'));
    KEYS.set(authToken, k);
  }
  return k;
}

/** Hex SHA-256 of a raw JSON body (the `bodySHA256` query parameter). */
export function bodySha256(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Scheme, userinfo, host, port and the rest of a URL, split without normalising (no percent-encoding added). */
function splitUrl(url: string): { scheme: string; userInfo: string; host: string; port: string; rest: string } | null {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url);
  if (!m) return null;
  const [prefix, scheme, authority] = m as unknown as [string, string, string];
  const at = authority.lastIndexOf('@');
  const hostAndPort = authority.slice(at + 1);
  // A colon starts the port only after the closing bracket of an IPv6 literal.
  const colon = hostAndPort.indexOf(':', hostAndPort.lastIndexOf(']') + 1);
  return {
    scheme,
    userInfo: authority.slice(0, at + 1),
    host: colon === -1 ? hostAndPort : hostAndPort.slice(0, colon),
    port: colon === -1 ? '' : hostAndPort.slice(colon),
    rest: url.slice(prefix.length),
  };
}

function withoutPort(url: string): string {
  const p = splitUrl(url);
  return p ? p.scheme + p.userInfo + p.host + p.rest : url;
}

function withStandardPort(url: string): string {
  const p = splitUrl(url);
  if (!p || p.port) return url;
  return p.scheme + p.userInfo + p.host + (p.scheme.toLowerCase() === 'https://' ? ':443' : ':80') + p.rest;
}

/** The query re-serialised as Node's legacy `querystring` does (e.g. `'` ↔ `%27`), for signers that escaped it. */
function withLegacyQuery(url: string): string {
  const q = url.indexOf('?');
  if (q === -1 || q === url.length - 1) return url;
  return url.slice(0, q) + '?' + querystringStringify(querystringParse(url.slice(q + 1)));
}

/**
 * The URL variants twilio-node (6.2) `validateRequest` accepts, in its order: the URL as received with the port
 * removed and with the standard port added (string edits, no normalisation, so the exact characters Twilio signed
 * are kept); then the same two on the `new URL()`-normalised URL, and both again with the legacy query string.
 * The URL exactly as received is always the first candidate, so a plain match costs one HMAC.
 */
export function candidateUrls(url: string): string[] {
  const asReceived = [url, withoutPort(url), withStandardPort(url)];
  let normalized: string;
  try {
    normalized = new URL(url).toString();
  } catch {
    return [...new Set(asReceived)];
  }
  const a = withoutPort(normalized);
  const b = withStandardPort(normalized);
  return [...new Set([...asReceived, a, b, withLegacyQuery(a), withLegacyQuery(b)])];
}

/**
 * Verify a form-encoded webhook. `url` is the full URL Twilio requested (publicUrl + path + query).
 * For JSON bodies (URL carries bodySHA256) pass `rawBody`: the URL is signed with no params and the body hash is checked.
 */
export function verifyTwilioSignature(authToken: string, signature: string | undefined, url: string, params: SignatureParams, rawBody?: string): boolean {
  if (!signature) return false;
  let hashParam: string | null = null;
  // Only a URL that mentions bodySHA256 can carry it (searchParams decodes names, hence the case-blind test).
  if (/bodysha256|%/i.test(url)) {
    try {
      hashParam = new URL(url).searchParams.get('bodySHA256');
    } catch {
      hashParam = null;
    }
  }
  if (hashParam !== null) {
    if (rawBody === undefined || !safeEqual(bodySha256(rawBody), hashParam)) return false;
    params = {};
  }
  const key = hmacKey(authToken);
  const tail = paramsPayload(params);
  const sign = (u: string) => createHmac('sha1', key).update(u + tail, 'utf8').digest('base64');
  // The URL exactly as received first (what Twilio signs in practice): the other variants are built only on a miss.
  if (safeEqual(sign(url), signature)) return true;
  for (const candidate of candidateUrls(url)) {
    if (candidate !== url && safeEqual(sign(candidate), signature)) return true;
  }
  return false;
}
