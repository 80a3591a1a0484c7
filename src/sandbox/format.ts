/**
 * Twilio wire formats the sandbox emits: RFC 2822 dates (v2010), ISO 8601 dates (v1), SIDs, the legacy error
 * envelope, and a small seeded PRNG for deterministic mode. Pure.
 */
import { createHash, randomBytes } from 'node:crypto';

let rfcSecond = NaN;
let rfcText = '';

/** `Thu, 30 Jul 2015 20:12:31 +0000` (GMT, second resolution), as v2010 resources carry. */
export function rfc2822(ms: number): string {
  // Every message of the same second carries the same dates: format each second once.
  const second = Math.floor(ms / 1000);
  if (second !== rfcSecond) {
    rfcText = new Date(second * 1000).toUTCString().replace(/GMT$/, '+0000');
    rfcSecond = second;
  }
  return rfcText;
}

/** `2015-07-30T20:12:31Z`, as Messaging v1 resources carry. */
export function iso8601(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** `YYMMDDhhmm` in UTC (RawDlrDoneDate: minute precision, no zone). */
export function rawDlrDoneDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}

export interface TwilioErrorBody {
  code: number;
  message: string;
  more_info: string;
  status: number;
}

/** A Twilio API error: HTTP status + the legacy `{code, message, more_info, status}` body. */
export class TwilioApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
  toJSON(): TwilioErrorBody {
    return twilioErrorBody(this.status, this.code, this.message);
  }
}

export function twilioErrorBody(status: number, code: number, message: string): TwilioErrorBody {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

/** Mulberry32: tiny, seedable, good enough for outcome draws. Returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * SID factory: `PP` + 32 lowercase hex. Deterministic (seed + counter) when `deterministic`, else random (128 bits
 * from the CSPRNG) so two sandbox runs never hand out the same SIDs (a restarted Switchboard keeps old SIDs in its
 * database).
 */
export function sidFactory(seed: number, deterministic: boolean): (prefix: string) => string {
  if (!deterministic) return randomSid;
  const salt = `seed:${seed}`;
  let n = 0;
  return (prefix: string) => prefix + createHash('sha256').update(`${salt}:${prefix}:${++n}`).digest('hex').slice(0, 32);
}

/** 16 random bytes per SID, drawn from a pooled CSPRNG buffer (one `randomBytes` call per 256 SIDs). */
const SID_POOL_BYTES = 4096;
let sidPool = Buffer.alloc(0);
let sidPoolAt = SID_POOL_BYTES;

function randomSid(prefix: string): string {
  if (sidPoolAt + 16 > sidPool.length) {
    sidPool = randomBytes(SID_POOL_BYTES);
    sidPoolAt = 0;
  }
  const hex = sidPool.toString('hex', sidPoolAt, sidPoolAt + 16);
  sidPoolAt += 16;
  return prefix + hex;
}

/** A random 32-hex secret (auth tokens, key secrets). */
export function newSecret(): string {
  return randomBytes(16).toString('hex');
}
