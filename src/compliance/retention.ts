/**
 * Retention and redaction rules (pure). A nightly job applies them per program: message bodies older than
 * `bodyDays` are replaced by REDACTED_BODY (and, with `hashNumbers`, the contact number by its keyed hash);
 * raw provider webhook payloads older than `rawWebhookDays` are purged. The consent ledger is never redacted:
 * it is the evidence (it stores the keyword, never the rest of a body).
 * Logs never contain bodies or full numbers: use maskNumber() for every number written to a log.
 */
import { createHmac } from 'node:crypto';
import type { RetentionConfig } from './programs.ts';

const DAY = 86_400_000;
export const REDACTED_BODY = '[redacted]';
export const HASH_PREFIX = 'hmac256:';

/** Keyed hash of a number (HMAC-SHA256 with a secret pepper from config): stable, so search by number still works. */
export function hashNumber(e164: string, pepper: string): string {
  if (pepper.length < 16) throw new RangeError('the number-hashing pepper must be at least 16 characters');
  return HASH_PREFIX + createHmac('sha256', pepper).update(e164.trim(), 'utf8').digest('hex');
}

export function isHashedNumber(value: string): boolean {
  return value.startsWith(HASH_PREFIX);
}

/**
 * For logs: every digit but the last 4 masked, '+' and channel prefixes kept ("+15551230123" → "+*******0123",
 * "whatsapp:+4420…" → "whatsapp:+********0123"). Hashes are shortened; short codes keep their last 4 only.
 */
export function maskNumber(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return '';
  if (isHashedNumber(value)) return value.slice(0, HASH_PREFIX.length + 8) + '…';
  const colon = value.lastIndexOf(':');
  const prefix = colon >= 0 ? value.slice(0, colon + 1) : '';
  const rest = colon >= 0 ? value.slice(colon + 1) : value;
  const plus = rest.startsWith('+') ? '+' : '';
  const chars = [...(plus ? rest.slice(1) : rest)];
  const keep = Math.min(4, Math.max(chars.length - 1, 0));
  return prefix + plus + '*'.repeat(chars.length - keep) + chars.slice(chars.length - keep).join('');
}

export interface RetentionMessage {
  createdAt: number;
  body: string;
  /** The contact number (outbound `to`, inbound `from`). */
  to: string;
  redactedAt: number | null;
}

export interface RetentionActions {
  redactBody: boolean;
  hashNumber: boolean;
  /** When the message becomes due (epoch ms), if not yet; null when never or already done. */
  dueAt: number | null;
}

export function retentionActions(input: { now: number; program: { retention: RetentionConfig }; message: RetentionMessage }): RetentionActions {
  const { now, message } = input;
  const r = input.program.retention;
  if (r.bodyDays === null || message.redactedAt !== null) return { redactBody: false, hashNumber: false, dueAt: null };
  const dueAt = message.createdAt + r.bodyDays * DAY;
  if (now < dueAt) return { redactBody: false, hashNumber: false, dueAt };
  return {
    redactBody: message.body !== REDACTED_BODY,
    hashNumber: r.hashNumbers && !isHashedNumber(message.to),
    dueAt: null,
  };
}

/** Cut-offs for the nightly job's bulk statements: rows created before these are due; null = keep. */
export function retentionCutoffs(now: number, retention: RetentionConfig): { bodyBefore: number | null; rawWebhookBefore: number | null } {
  return {
    bodyBefore: retention.bodyDays === null ? null : now - retention.bodyDays * DAY,
    rawWebhookBefore: retention.rawWebhookDays === null ? null : now - retention.rawWebhookDays * DAY,
  };
}

/** The report the nightly job logs and returns (counts only: never bodies or numbers). */
export interface RetentionReport {
  startedAt: number;
  finishedAt: number;
  programs: { program: string; bodiesRedacted: number; numbersHashed: number; rawWebhooksPurged: number }[];
}
