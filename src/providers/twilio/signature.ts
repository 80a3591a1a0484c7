/**
 * X-Twilio-Signature, as Twilio computes it (twilio-wire.md §3) and as twilio-node's `validateRequest` checks it.
 * Pure: used by webhook ingestion (verify) and by the sandbox (sign). Test vectors: twilio-wire.md §3.4.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type SignatureParams = Record<string, string | readonly string[] | undefined>;

/** The string Twilio signs: the full URL, then each param name + value in sorted name order (arrays: deduplicated, sorted values). */
export function signaturePayload(url: string, params: SignatureParams): string {
  let data = url;
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
  return createHmac('sha1', authToken).update(Buffer.from(signaturePayload(url, params), 'utf8')).digest('base64');
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

function withoutPort(url: URL): string {
  const u = new URL(url.toString());
  u.port = '';
  return u.toString();
}

function withStandardPort(url: URL): string {
  if (url.port) return url.toString();
  const port = url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '';
  if (!port) return url.toString();
  // new URL() drops default ports on assignment, so splice it in by hand (as twilio-node does).
  const auth = url.username || url.password ? `${url.username}${url.password ? `:${url.password}` : ''}@` : '';
  return `${url.protocol}//${auth}${url.hostname}:${port}${url.pathname}${url.search}${url.hash}`;
}

function withLegacyQuery(url: string): string {
  const u = new URL(url);
  if (!u.search) return url;
  const pairs: string[] = [];
  for (const [k, v] of u.searchParams) pairs.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return url.replace(u.search, `?${pairs.join('&')}`);
}

/**
 * The URL variants twilio-node accepts (§3.3): port removed, standard port added, and both again with the query
 * re-serialised. Returns the exact URL string first so a plain match costs one HMAC.
 */
export function candidateUrls(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [url];
  }
  const a = withoutPort(parsed);
  const b = withStandardPort(parsed);
  return [...new Set([url, a, b, withLegacyQuery(a), withLegacyQuery(b)])];
}

/**
 * Verify a form-encoded webhook. `url` is the full URL Twilio requested (publicUrl + path + query).
 * For JSON bodies (URL carries bodySHA256) pass `rawBody`: the URL is signed with no params and the body hash is checked.
 */
export function verifyTwilioSignature(authToken: string, signature: string | undefined, url: string, params: SignatureParams, rawBody?: string): boolean {
  if (!signature) return false;
  let hashParam: string | null = null;
  try {
    hashParam = new URL(url).searchParams.get('bodySHA256');
  } catch {
    hashParam = null;
  }
  if (hashParam !== null) {
    if (rawBody === undefined || !safeEqual(bodySha256(rawBody), hashParam)) return false;
    params = {};
  }
  for (const candidate of candidateUrls(url)) {
    if (safeEqual(computeTwilioSignature(authToken, candidate, params), signature)) return true;
  }
  return false;
}
