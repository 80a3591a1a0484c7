/**
 * Signatures on event deliveries to apps (Stripe-style):
 *   Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, `${t}.${rawBody}`)>
 * Several v1 entries may appear (during secret rotation every active secret signs); a delivery is valid if
 * any v1 matches and |now - t| ≤ tolerance. The timestamp is inside the MAC, so a captured delivery cannot
 * be replayed later with a fresh `t`. Verification snippet for apps: docs/guides/compliance.md.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Switchboard-Signature';
export const DEFAULT_TOLERANCE_SEC = 300;

/** Hex HMAC-SHA256 of `${timestamp}.${body}`. */
export function computeSignature(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** The header value for one delivery attempt; `timestamp` is unix seconds. Pass several secrets while rotating. */
export function signEvent(secret: string | readonly string[], timestamp: number, body: string): string {
  if (!Number.isInteger(timestamp) || timestamp < 0) throw new RangeError('timestamp must be whole unix seconds');
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0 || secrets.some((s) => s.length === 0)) throw new RangeError('signing secret must be non-empty');
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${computeSignature(s, timestamp, body)}`)].join(',');
}

export type VerifyResult =
  | { ok: true; timestamp: number }
  | { ok: false; reason: 'malformed_header' | 'no_signature' | 'timestamp_out_of_tolerance' | 'signature_mismatch' };

export interface ParsedSignatureHeader {
  timestamp: number | null;
  v1: string[];
}

export function parseSignatureHeader(header: string): ParsedSignatureHeader {
  let timestamp: number | null = null;
  const v1: string[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) v1.push(value.toLowerCase());
  }
  return { timestamp, v1 };
}

/**
 * Verify a delivery. `body` is the raw request body exactly as received (not re-serialised JSON);
 * `now` is unix seconds.
 */
export function verifyEvent(
  secret: string,
  header: string | undefined | null,
  body: string,
  now: number,
  toleranceSec: number = DEFAULT_TOLERANCE_SEC,
): VerifyResult {
  if (typeof header !== 'string' || header.length === 0 || header.length > 4096) return { ok: false, reason: 'malformed_header' };
  const parsed = parseSignatureHeader(header);
  if (parsed.timestamp === null) return { ok: false, reason: 'malformed_header' };
  if (parsed.v1.length === 0) return { ok: false, reason: 'no_signature' };
  if (Math.abs(now - parsed.timestamp) > toleranceSec) return { ok: false, reason: 'timestamp_out_of_tolerance' };
  const expected = Buffer.from(computeSignature(secret, parsed.timestamp, body), 'hex');
  for (const candidate of parsed.v1) {
    const got = Buffer.from(candidate, 'hex');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return { ok: true, timestamp: parsed.timestamp };
  }
  return { ok: false, reason: 'signature_mismatch' };
}
