import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RetentionConfig } from './programs.ts';
import { hashNumber, isHashedNumber, maskNumber, REDACTED_BODY, retentionActions, retentionCutoffs } from './retention.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const PEPPER = 'pepper-0123456789abcdef';

describe('retentionActions', () => {
  const keep: RetentionConfig = { bodyDays: null, hashNumbers: false, rawWebhookDays: null };
  const d30: RetentionConfig = { bodyDays: 30, hashNumbers: false, rawWebhookDays: 7 };
  const d30h: RetentionConfig = { bodyDays: 30, hashNumbers: true, rawWebhookDays: 7 };
  const d0h: RetentionConfig = { bodyDays: 0, hashNumbers: true, rawWebhookDays: 0 };
  const msg = { createdAt: T0, body: 'Your code is 123456', to: '+15551230123', redactedAt: null };
  type Row = [string, RetentionConfig, number, typeof msg | { createdAt: number; body: string; to: string; redactedAt: number | null }, { redactBody: boolean; hashNumber: boolean; dueAt: number | null }];
  const rows: Row[] = [
    ['keep forever', keep, T0 + 1000 * DAY, msg, { redactBody: false, hashNumber: false, dueAt: null }],
    ['not yet due', d30, T0 + 29 * DAY, msg, { redactBody: false, hashNumber: false, dueAt: T0 + 30 * DAY }],
    ['due exactly at 30 days', d30, T0 + 30 * DAY, msg, { redactBody: true, hashNumber: false, dueAt: null }],
    ['due, with hashing', d30h, T0 + 31 * DAY, msg, { redactBody: true, hashNumber: true, dueAt: null }],
    ['already redacted', d30h, T0 + 31 * DAY, { ...msg, redactedAt: T0 + 30 * DAY }, { redactBody: false, hashNumber: false, dueAt: null }],
    ['body already placeholder, number not yet hashed', d30h, T0 + 31 * DAY, { ...msg, body: REDACTED_BODY }, { redactBody: false, hashNumber: true, dueAt: null }],
    ['number already hashed', d30h, T0 + 31 * DAY, { ...msg, to: hashNumber(msg.to, PEPPER) }, { redactBody: true, hashNumber: false, dueAt: null }],
    ['bodyDays 0 redacts at the first run', d0h, T0, msg, { redactBody: true, hashNumber: true, dueAt: null }],
  ];
  it.each(rows)('%s', (_n, retention, now, message, expected) => {
    expect(retentionActions({ now, program: { retention }, message })).toEqual(expected);
  });

  it('cut-offs for the nightly job', () => {
    expect(retentionCutoffs(T0, d30)).toEqual({ bodyBefore: T0 - 30 * DAY, rawWebhookBefore: T0 - 7 * DAY });
    expect(retentionCutoffs(T0, keep)).toEqual({ bodyBefore: null, rawWebhookBefore: null });
  });
});

describe('hashNumber', () => {
  it('is HMAC-SHA256 with the pepper, prefixed', () => {
    const expected = createHmac('sha256', PEPPER).update('+15551230123').digest('hex');
    expect(hashNumber('+15551230123', PEPPER)).toBe(`hmac256:${expected}`);
    expect(hashNumber(' +15551230123 ', PEPPER)).toBe(hashNumber('+15551230123', PEPPER));
  });
  it('differs by pepper and by number', () => {
    expect(hashNumber('+15551230123', PEPPER)).not.toBe(hashNumber('+15551230123', PEPPER + 'x'));
    expect(hashNumber('+15551230123', PEPPER)).not.toBe(hashNumber('+15551230124', PEPPER));
  });
  it('refuses a short pepper', () => {
    expect(() => hashNumber('+1555', 'short')).toThrow(RangeError);
  });
  it('isHashedNumber', () => {
    expect(isHashedNumber(hashNumber('+1', PEPPER))).toBe(true);
    expect(isHashedNumber('+15551230123')).toBe(false);
  });
});

describe('maskNumber', () => {
  it.each([
    ['+15551230123', '+*******0123'],
    ['+447700900123', '+********0123'],
    ['whatsapp:+15551230123', 'whatsapp:+*******0123'],
    ['55501', '*5501'],
    ['1234', '*234'],
    ['+1', '+*'], // at least one digit is always masked
    ['', ''],
    [null, ''],
  ])('%s → %s', (input, out) => {
    expect(maskNumber(input)).toBe(out);
  });
  it('never reveals more than the last 4 digits', () => {
    const n = '+15551230123';
    expect(maskNumber(n).replace(/\*/g, '')).toBe('+0123');
  });
  it('shortens hashes', () => {
    const h = hashNumber('+15551230123', PEPPER);
    expect(maskNumber(h)).toBe(h.slice(0, 16) + '…');
  });
});
