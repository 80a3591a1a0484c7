import { describe, expect, it } from 'vitest';
import { type Config, defaultConfig } from '../config/schema.ts';
import { type ErrorCode, SwitchboardError } from '../errors.ts';
import { type AcceptContext, canonicalJson, prepareMessage } from './accept.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

function config(): Config {
  const cfg = defaultConfig();
  cfg.accounts.push({
    name: 'marketing',
    provider: 'twilio',
    baseUrl: 'http://127.0.0.1:1/sandbox',
    accountSid: 'AC00000000000000000000000000000002',
    authToken: 'token',
    apiKeySid: null,
    apiKeySecret: null,
    senders: [
      { from: '+14155550200', type: 'long_code', mps: 1 },
      { from: '+14155550201', type: 'whatsapp', mps: 80 },
    ],
  });
  cfg.routing.byKey = { ghost: 'nowhere' };
  return cfg;
}

function ctx(over: Partial<AcceptContext> = {}): AcceptContext {
  return { config: config(), key: { id: 'key_1', name: 'billing', account: null }, now: NOW, idempotencyKey: null, id: 'msg_test', ...over };
}

describe('prepareMessage: happy path', () => {
  it('builds a queued record with defaults and the two first events', () => {
    const r = prepareMessage({ to: '+14155550123', body: 'Hello' }, ctx({ idempotencyKey: 'idem-1' }));
    if (!r.ok) throw r.error;
    expect(r.message).toEqual({
      id: 'msg_test',
      keyId: 'key_1',
      account: 'sandbox',
      provider: 'twilio',
      to: '+14155550123',
      from: '+15005550006',
      body: 'Hello',
      segments: 1,
      encoding: 'GSM-7',
      category: 'transactional',
      priority: 5,
      status: 'queued',
      submitState: 'none',
      metadata: null,
      idempotencyKey: 'idem-1',
      requestHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      providerMessageId: null,
      providerStatus: null,
      errorCode: null,
      errorMessage: null,
      attempts: 0,
      nextAttemptAt: NOW,
      expiresAt: NOW + 36_000 * 1000,
      leaseOwner: null,
      leaseExpiresAt: null,
      createdAt: NOW,
      updatedAt: NOW,
      submittedAt: null,
      completedAt: null,
    });
    expect(r.events).toEqual([
      { messageId: 'msg_test', type: 'accepted', status: 'queued', at: NOW, detail: { segments: 1, encoding: 'GSM-7' } },
    ]);
  });

  it('generates a msg_ id for now when none is given', () => {
    const r = prepareMessage({ to: '+14155550123', body: 'Hi' }, ctx({ id: undefined }));
    if (!r.ok) throw r.error;
    expect(r.message.id).toMatch(/^msg_[0-9a-z]{26}$/);
    expect(r.events.every((e) => e.messageId === r.message.id)).toBe(true);
  });

  const variants: { name: string; input: Record<string, unknown>; cfg?: (c: Config) => void; key?: AcceptContext['key']; expect: Record<string, unknown> }[] = [
    { name: 'national number with the default country', input: { to: '(415) 555-0123', body: 'x' }, expect: { to: '+14155550123' } },
    { name: 'Twilio magic number as recipient', input: { to: '+15005550006', body: 'x' }, expect: { to: '+15005550006' } },
    { name: 'otp: priority 9, validity 300 s', input: { to: '+14155550123', body: 'code 123456', category: 'otp' }, expect: { category: 'otp', priority: 9, expiresAt: NOW + 300_000 } },
    { name: 'promotional: priority 1, short code', input: { to: '+14155550123', body: 'sale', category: 'promotional' }, expect: { category: 'promotional', priority: 1, from: '55501', expiresAt: NOW + 36_000_000 } },
    { name: 'explicit priority overrides the category default', input: { to: '+14155550123', body: 'x', category: 'promotional', priority: 0 }, expect: { priority: 0 } },
    { name: 'priority 9 on transactional', input: { to: '+14155550123', body: 'x', priority: 9 }, expect: { priority: 9 } },
    { name: 'validFor 1 s', input: { to: '+14155550123', body: 'x', validFor: 1 }, expect: { expiresAt: NOW + 1000 } },
    { name: 'validFor 36000 s', input: { to: '+14155550123', body: 'x', category: 'otp', validFor: 36_000 }, expect: { expiresAt: NOW + 36_000_000 } },
    {
      name: 'config validity is used per category',
      input: { to: '+14155550123', body: 'x', category: 'otp' },
      cfg: (c) => {
        c.validity.otp = 120;
      },
      expect: { expiresAt: NOW + 120_000 },
    },
    { name: 'explicit from in another account', input: { to: '+14155550123', body: 'x', from: '+14155550200' }, expect: { account: 'marketing', from: '+14155550200' } },
    { name: 'key bound to an account', input: { to: '+14155550123', body: 'x' }, key: { id: 'key_2', name: 'm', account: 'marketing' }, expect: { account: 'marketing', from: '+14155550200', keyId: 'key_2' } },
    { name: 'nested metadata is kept', input: { to: '+14155550123', body: 'x', metadata: { order: { id: 42, lines: [1, 2] }, tag: 'a' } }, expect: { metadata: { order: { id: 42, lines: [1, 2] }, tag: 'a' } } },
    { name: 'empty metadata object', input: { to: '+14155550123', body: 'x', metadata: {} }, expect: { metadata: {} } },
    { name: 'UCS-2 body', input: { to: '+14155550123', body: 'Grüße \u{1F600}' }, expect: { encoding: 'UCS-2', segments: 1 } },
    { name: 'long GSM body: segments counted', input: { to: '+14155550123', body: 'a'.repeat(161) }, expect: { encoding: 'GSM-7', segments: 2 } },
    { name: 'exactly 1,600 characters', input: { to: '+14155550123', body: 'a'.repeat(1600) }, expect: { segments: 11 } },
    { name: '1,600 emoji are 1,600 characters', input: { to: '+14155550123', body: '\u{1F600}'.repeat(1600) }, expect: { encoding: 'UCS-2', segments: 49 } },
    { name: 'body is stored unchanged (no smart encoding)', input: { to: '+14155550123', body: ' \u201Cquoted\u201D ' }, expect: { body: ' \u201Cquoted\u201D ', encoding: 'UCS-2' } },
    {
      name: 'WhatsApp recipient → WhatsApp sender, one segment',
      input: { to: 'whatsapp:+14155550123', body: 'a'.repeat(400) },
      key: { id: 'key_2', name: 'm', account: 'marketing' },
      expect: { to: 'whatsapp:+14155550123', from: 'whatsapp:+14155550201', segments: 1 },
    },
  ];
  for (const v of variants) {
    it(v.name, () => {
      const c = ctx(v.key ? { key: v.key } : {});
      v.cfg?.(c.config as Config);
      const r = prepareMessage(v.input, c);
      if (!r.ok) throw r.error;
      expect(r.message).toMatchObject(v.expect);
    });
  }

  it('metadata is copied, not aliased', () => {
    const metadata = { a: { b: 1 } };
    const r = prepareMessage({ to: '+14155550123', body: 'x', metadata }, ctx());
    if (!r.ok) throw r.error;
    metadata.a.b = 2;
    expect(r.message.metadata).toEqual({ a: { b: 1 } });
  });
});

describe('prepareMessage: rejections', () => {
  const to = '+14155550123';
  const cases: { name: string; input: unknown; key?: AcceptContext['key']; cfg?: (c: Config) => void; code: ErrorCode; field?: string; message?: RegExp }[] = [
    // shape
    { name: 'not an object (string)', input: 'hello', code: 'SB_VALIDATION', field: undefined },
    { name: 'not an object (array)', input: [{ to, body: 'x' }], code: 'SB_VALIDATION', field: undefined },
    { name: 'null', input: null, code: 'SB_VALIDATION', field: undefined },
    { name: 'unknown field', input: { to, body: 'x', priorty: 3 }, code: 'SB_VALIDATION', field: 'priorty', message: /Unknown field/ },
    { name: 'Twilio-style field name', input: { To: to, Body: 'x' }, code: 'SB_VALIDATION', field: 'To' },
    { name: 'missing to', input: { body: 'x' }, code: 'SB_VALIDATION', field: 'to', message: /required/ },
    { name: 'missing body', input: { to }, code: 'SB_VALIDATION', field: 'body', message: /required/ },
    { name: 'to is a number', input: { to: 14155550123, body: 'x' }, code: 'SB_VALIDATION', field: 'to', message: /string, not number/ },
    { name: 'body is an array', input: { to, body: ['x'] }, code: 'SB_VALIDATION', field: 'body' },
    { name: 'body is null', input: { to, body: null }, code: 'SB_VALIDATION', field: 'body', message: /not null/ },
    { name: 'from is a number', input: { to, body: 'x', from: 15005550006 }, code: 'SB_VALIDATION', field: 'from' },
    { name: 'from is null', input: { to, body: 'x', from: null }, code: 'SB_VALIDATION', field: 'from' },
    { name: 'from is empty', input: { to, body: 'x', from: ' ' }, code: 'SB_VALIDATION', field: 'from' },
    { name: 'category unknown', input: { to, body: 'x', category: 'marketing' }, code: 'SB_VALIDATION', field: 'category' },
    { name: 'category wrong case', input: { to, body: 'x', category: 'OTP' }, code: 'SB_VALIDATION', field: 'category' },
    { name: 'category is a number', input: { to, body: 'x', category: 1 }, code: 'SB_VALIDATION', field: 'category' },
    { name: 'priority is a string', input: { to, body: 'x', priority: '5' }, code: 'SB_VALIDATION', field: 'priority' },
    { name: 'priority 10', input: { to, body: 'x', priority: 10 }, code: 'SB_VALIDATION', field: 'priority' },
    { name: 'priority -1', input: { to, body: 'x', priority: -1 }, code: 'SB_VALIDATION', field: 'priority' },
    { name: 'priority 2.5', input: { to, body: 'x', priority: 2.5 }, code: 'SB_VALIDATION', field: 'priority' },
    { name: 'validFor is a string', input: { to, body: 'x', validFor: '60' }, code: 'SB_VALIDATION', field: 'validFor' },
    { name: 'validFor fractional', input: { to, body: 'x', validFor: 1.5 }, code: 'SB_VALIDATION', field: 'validFor' },
    { name: 'metadata is an array', input: { to, body: 'x', metadata: [1] }, code: 'SB_VALIDATION', field: 'metadata' },
    { name: 'metadata is a string', input: { to, body: 'x', metadata: '{}' }, code: 'SB_VALIDATION', field: 'metadata' },
    { name: 'metadata is null', input: { to, body: 'x', metadata: null }, code: 'SB_VALIDATION', field: 'metadata' },
    // to
    { name: 'to junk', input: { to: 'not a number', body: 'x' }, code: 'SB_PHONE_INVALID', field: 'to', message: /letters/ },
    { name: 'to too short', input: { to: '+1415555', body: 'x' }, code: 'SB_PHONE_INVALID', field: 'to' },
    { name: 'to too long', input: { to: '+1415555012345', body: 'x' }, code: 'SB_PHONE_INVALID', field: 'to' },
    { name: 'to empty', input: { to: '', body: 'x' }, code: 'SB_PHONE_INVALID', field: 'to' },
    {
      name: 'national to without a default country',
      input: { to: '(415) 555-0123', body: 'x' },
      cfg: (c) => {
        c.defaultCountry = null;
      },
      code: 'SB_PHONE_INVALID',
      field: 'to',
      message: /E\.164/,
    },
    // body
    { name: 'empty body', input: { to, body: '' }, code: 'SB_BODY_EMPTY', field: 'body' },
    { name: 'whitespace body', input: { to, body: ' \n\t ' }, code: 'SB_BODY_EMPTY', field: 'body' },
    { name: '1,601 characters', input: { to, body: 'a'.repeat(1601) }, code: 'SB_BODY_TOO_LONG', field: 'body', message: /1601/ },
    { name: '1,601 emoji', input: { to, body: '\u{1F600}'.repeat(1601) }, code: 'SB_BODY_TOO_LONG', field: 'body' },
    { name: 'NUL in body', input: { to, body: 'a\u0000b' }, code: 'SB_VALIDATION', field: 'body', message: /NUL/ },
    { name: 'unpaired surrogate in body', input: { to, body: 'a\uD83Db' }, code: 'SB_VALIDATION', field: 'body', message: /surrogate/ },
    { name: 'trailing high surrogate in body', input: { to, body: 'ab\uD83D' }, code: 'SB_VALIDATION', field: 'body', message: /surrogate/ },
    // validFor range
    { name: 'validFor 0', input: { to, body: 'x', validFor: 0 }, code: 'SB_VALID_FOR_RANGE', field: 'validFor' },
    { name: 'validFor 36001', input: { to, body: 'x', validFor: 36_001 }, code: 'SB_VALID_FOR_RANGE', field: 'validFor' },
    { name: 'validFor negative', input: { to, body: 'x', validFor: -5 }, code: 'SB_VALID_FOR_RANGE', field: 'validFor' },
    // metadata
    { name: 'metadata over 16 KB', input: { to, body: 'x', metadata: { blob: 'a'.repeat(16 * 1024) } }, code: 'SB_VALIDATION', field: 'metadata', message: /16384/ },
    { name: 'metadata over 16 KB in UTF-8 bytes', input: { to, body: 'x', metadata: { blob: '\u00e9'.repeat(8200) } }, code: 'SB_VALIDATION', field: 'metadata' },
    { name: 'NUL in metadata', input: { to, body: 'x', metadata: { a: 'x\u0000' } }, code: 'SB_VALIDATION', field: 'metadata' },
    // routing
    { name: 'unknown from', input: { to, body: 'x', from: '+19995550000' }, code: 'SB_SENDER_UNKNOWN', field: 'from' },
    { name: 'from of another account for a bound key', input: { to, body: 'x', from: '+14155550200' }, key: { id: 'k', name: 'k', account: 'sandbox' }, code: 'SB_SENDER_UNKNOWN', field: 'from' },
    { name: 'WhatsApp recipient with an SMS from', input: { to: `whatsapp:${to}`, body: 'x', from: '+15005550006' }, code: 'SB_SENDER_UNKNOWN', field: 'from' },
    { name: 'key mapped to a missing account', input: { to, body: 'x' }, key: { id: 'k', name: 'ghost', account: null }, code: 'SB_NO_ROUTE', field: undefined },
    {
      name: 'no default account',
      input: { to, body: 'x' },
      cfg: (c) => {
        c.routing.defaultAccount = 'gone';
      },
      code: 'SB_NO_ROUTE',
      field: undefined,
    },
    { name: 'WhatsApp recipient, account without WhatsApp sender', input: { to: `whatsapp:${to}`, body: 'x' }, code: 'SB_NO_ROUTE', field: 'to' },
    // order: the first problem wins
    { name: 'unknown field reported before a bad number', input: { to: 'junk', body: '', extra: 1 }, code: 'SB_VALIDATION', field: 'extra' },
    { name: 'bad number reported before an empty body', input: { to: 'junk', body: '' }, code: 'SB_PHONE_INVALID', field: 'to' },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.code}${c.field ? ` (${c.field})` : ''}`, () => {
      const context = ctx(c.key ? { key: c.key } : {});
      c.cfg?.(context.config as Config);
      const r = prepareMessage(c.input, context);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error).toBeInstanceOf(SwitchboardError);
      expect({ code: r.error.code, field: r.error.field }).toEqual({ code: c.code, field: c.field });
      if (c.message) expect(r.error.message).toMatch(c.message);
      expect(r.error.status).toBeGreaterThanOrEqual(400);
      expect(r.error.status).toBeLessThan(500);
    });
  }
});

describe('requestHash', () => {
  const hash = (input: unknown): string => {
    const r = prepareMessage(input, ctx());
    if (!r.ok) throw r.error;
    return r.message.requestHash!;
  };
  const base = { to: '+14155550123', body: 'Hello', category: 'otp', metadata: { a: 1, b: { c: [1, { d: 2, e: 3 }] } } };

  it('ignores key order at every level', () => {
    expect(hash({ metadata: { b: { c: [1, { e: 3, d: 2 }] }, a: 1 }, category: 'otp', body: 'Hello', to: '+14155550123' })).toBe(hash(base));
  });
  it('does not depend on time, id or key', () => {
    const a = prepareMessage(base, ctx({ now: NOW + 5000, id: 'msg_other', key: { id: 'key_9', name: 'z', account: null } }));
    if (!a.ok) throw a.error;
    expect(a.message.requestHash).toBe(hash(base));
  });
  it.each([
    ['body', { ...base, body: 'Hello!' }],
    ['to', { ...base, to: '+14155550124' }],
    ['category', { ...base, category: 'transactional' }],
    ['priority added', { ...base, priority: 9 }],
    ['array order in metadata', { ...base, metadata: { a: 1, b: { c: [{ d: 2, e: 3 }, 1] } } }],
    ['metadata value type', { ...base, metadata: { a: '1', b: { c: [1, { d: 2, e: 3 }] } } }],
  ])('changes when %s changes', (_name, other) => {
    expect(hash(other)).not.toBe(hash(base));
  });
  it('canonicalJson sorts keys and keeps arrays', () => {
    expect(canonicalJson({ b: [2, 1], a: { d: null, c: 'x' } })).toBe('{"a":{"c":"x","d":null},"b":[2,1]}');
  });
});
