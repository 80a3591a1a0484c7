/**
 * Accept-time validation: turns one send request (POST /v1/messages, or one batch item) into the message record and
 * its first timeline events, or the first error found. Pure: time, id and config come from the caller; nothing is
 * stored here. Documented in docs/reference/processing.md and docs/reference/api.md.
 *
 * Checks, in this order (the first failure is returned):
 * 1. shape: a JSON object with only the known fields (`to, body, from, category, priority, validFor, metadata`),
 *    `to` and `body` present, each field of the right JSON type → SB_VALIDATION with `field`
 *    (`null` is a wrong type, not "absent": omit the field instead);
 * 2. `to` → SB_PHONE_INVALID (see phone.ts);
 * 3. `body`: blank (empty or only whitespace) → SB_BODY_EMPTY; more than 1,600 characters (Unicode code points)
 *    → SB_BODY_TOO_LONG; NUL characters or unpaired surrogates (not storable/sendable text) → SB_VALIDATION;
 * 4. `priority` an integer 0–9 → else SB_VALIDATION; `validFor` an integer → else SB_VALIDATION, and 1–36000
 *    seconds → else SB_VALID_FOR_RANGE;
 * 5. `metadata` a JSON object of at most 16 KB serialised (UTF-8), no NUL characters → else SB_VALIDATION;
 * 6. routing (routing.ts) → SB_SENDER_UNKNOWN (field `from`) / SB_NO_ROUTE.
 *
 * `requestHash` is the sha256 (hex) of the request as sent, serialised with object keys sorted at every level: the
 * same JSON in any key order is a replay; any other difference (including an omitted default vs the default
 * spelled out) is a different request, so reusing an Idempotency-Key for it is a conflict.
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import { newId } from '../domain/ids.ts';
import { CATEGORIES, type Category, DEFAULT_PRIORITY, type MessageRecord, type NewEvent } from '../domain/message.ts';
import { type ErrorCode, SwitchboardError } from '../errors.ts';
import { isWhatsAppAddress, normalizePhone } from './phone.ts';
import { route, senderAddress } from './routing.ts';
import { countSegments } from './segments.ts';

export const MAX_BODY_CHARS = 1600;
export const VALID_FOR_MIN = 1;
export const VALID_FOR_MAX = 36_000;
export const MAX_METADATA_BYTES = 16 * 1024;
export const MAX_PRIORITY = 9;

const FIELDS = ['to', 'body', 'from', 'category', 'priority', 'validFor', 'metadata'] as const;
type Field = (typeof FIELDS)[number];

export interface AcceptContext {
  config: Readonly<Config>;
  key: { id: string; name: string; account: string | null };
  now: number;
  idempotencyKey: string | null;
  /** Message id to use; default a new `msg_…` id for `now`. */
  id?: string;
}

export type PrepareResult = { ok: true; message: MessageRecord; events: NewEvent[] } | { ok: false; error: SwitchboardError };

function fail(code: ErrorCode, message: string, field?: string, details?: Record<string, unknown>): { ok: false; error: SwitchboardError } {
  return { ok: false, error: new SwitchboardError(code, { message, field, details }) };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestHash(input: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(input)).digest('hex');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function prepareMessage(input: unknown, ctx: AcceptContext): PrepareResult {
  // 1. shape
  if (!isPlainObject(input)) return fail('SB_VALIDATION', `The message must be a JSON object, not ${jsonType(input)}`);
  for (const k of Object.keys(input)) {
    if (!(FIELDS as readonly string[]).includes(k)) {
      return fail('SB_VALIDATION', `Unknown field \`${k}\`; allowed: ${FIELDS.join(', ')}`, k);
    }
  }
  const has = (f: Field): boolean => Object.hasOwn(input, f) && input[f] !== undefined;
  for (const f of ['to', 'body'] as const) {
    if (!has(f)) return fail('SB_VALIDATION', `\`${f}\` is required`, f);
  }
  const expectType = (f: Field, type: 'string' | 'number' | 'object'): { ok: false; error: SwitchboardError } | null =>
    has(f) && jsonType(input[f]) !== type ? fail('SB_VALIDATION', `\`${f}\` must be a ${type === 'object' ? 'JSON object' : type}, not ${jsonType(input[f])}`, f) : null;
  const typeError =
    expectType('to', 'string') ??
    expectType('body', 'string') ??
    expectType('from', 'string') ??
    expectType('category', 'string') ??
    expectType('priority', 'number') ??
    expectType('validFor', 'number') ??
    expectType('metadata', 'object');
  if (typeError) return typeError;

  const rawTo = input.to as string;
  const body = input.body as string;
  const from = has('from') ? (input.from as string) : undefined;

  // 2. to
  const to = normalizePhone(rawTo, ctx.config.defaultCountry);
  if (!to.ok) return fail('SB_PHONE_INVALID', `\`to\` is not a valid phone number: it ${to.reason}`, 'to');

  // 3. body
  if (body.trim() === '') return fail('SB_BODY_EMPTY', 'Message body is empty', 'body');
  const chars = codePoints(body);
  if (chars > MAX_BODY_CHARS) {
    return fail('SB_BODY_TOO_LONG', `Message body has ${chars} characters; the limit is ${MAX_BODY_CHARS}`, 'body', { length: chars, max: MAX_BODY_CHARS });
  }
  if (body.includes('\u0000')) return fail('SB_VALIDATION', '`body` must not contain NUL (U+0000) characters', 'body');
  if (LONE_SURROGATE.test(body)) return fail('SB_VALIDATION', '`body` contains an unpaired UTF-16 surrogate (not valid Unicode text)', 'body');

  // from / category
  if (from !== undefined && from.trim() === '') return fail('SB_VALIDATION', '`from` must not be empty; omit it to let routing choose', 'from');
  let category: Category = 'transactional';
  if (has('category')) {
    if (!(CATEGORIES as readonly string[]).includes(input.category as string)) {
      return fail('SB_VALIDATION', `\`category\` must be one of ${CATEGORIES.join(', ')}`, 'category');
    }
    category = input.category as Category;
  }

  // 4. priority, validFor
  let priority = DEFAULT_PRIORITY[category];
  if (has('priority')) {
    const p = input.priority as number;
    if (!Number.isInteger(p) || p < 0 || p > MAX_PRIORITY) return fail('SB_VALIDATION', `\`priority\` must be an integer from 0 to ${MAX_PRIORITY}`, 'priority');
    priority = p;
  }
  let validFor = ctx.config.validity[category];
  if (has('validFor')) {
    const v = input.validFor as number;
    if (!Number.isInteger(v)) return fail('SB_VALIDATION', '`validFor` must be a whole number of seconds', 'validFor');
    if (v < VALID_FOR_MIN || v > VALID_FOR_MAX) {
      return fail('SB_VALID_FOR_RANGE', `\`validFor\` is ${v}; use ${VALID_FOR_MIN} to ${VALID_FOR_MAX} seconds`, 'validFor', { min: VALID_FOR_MIN, max: VALID_FOR_MAX });
    }
    validFor = v;
  }

  // 5. metadata
  let metadata: Record<string, unknown> | null = null;
  if (has('metadata')) {
    if (!isPlainObject(input.metadata)) return fail('SB_VALIDATION', '`metadata` must be a JSON object', 'metadata');
    let serialised: string;
    try {
      serialised = JSON.stringify(input.metadata);
    } catch {
      return fail('SB_VALIDATION', '`metadata` must be serialisable JSON', 'metadata');
    }
    const bytes = Buffer.byteLength(serialised, 'utf8');
    if (bytes > MAX_METADATA_BYTES) {
      return fail('SB_VALIDATION', `\`metadata\` is ${bytes} bytes serialised; the limit is ${MAX_METADATA_BYTES}`, 'metadata', { bytes, max: MAX_METADATA_BYTES });
    }
    if (serialised.includes('\\u0000')) return fail('SB_VALIDATION', '`metadata` must not contain NUL (U+0000) characters', 'metadata');
    metadata = JSON.parse(serialised) as Record<string, unknown>;
  }

  // 6. routing
  const whatsapp = isWhatsAppAddress(to.e164);
  const r = route(ctx.config as Config, { name: ctx.key.name, account: ctx.key.account }, from, { category, channel: whatsapp ? 'whatsapp' : 'sms' });
  if (!r.ok) return fail(r.code, `${r.code === 'SB_NO_ROUTE' ? 'No route' : 'Unknown sender'}: ${r.reason}`, r.field);

  const seg = countSegments(body);
  const now = ctx.now;
  const id = ctx.id ?? newId('msg', now);
  const message: MessageRecord = {
    id,
    keyId: ctx.key.id,
    account: r.account.name,
    provider: r.account.provider,
    to: to.e164,
    from: senderAddress(r.sender),
    body,
    // WhatsApp is not segmented: one message counts once (Twilio reports num_segments 1).
    segments: whatsapp ? 1 : seg.segments,
    encoding: seg.encoding,
    category,
    priority,
    status: 'queued',
    submitState: 'none',
    metadata,
    idempotencyKey: ctx.idempotencyKey,
    requestHash: requestHash(input),
    providerMessageId: null,
    providerStatus: null,
    errorCode: null,
    errorMessage: null,
    attempts: 0,
    nextAttemptAt: now,
    expiresAt: now + validFor * 1000,
    leaseOwner: null,
    leaseExpiresAt: null,
    createdAt: now,
    updatedAt: now,
    submittedAt: null,
    completedAt: null,
  };
  const events: NewEvent[] = [
    { messageId: id, type: 'accepted', status: 'queued', at: now, detail: { segments: message.segments, encoding: message.encoding } },
  ];
  return { ok: true, message, events };
}
