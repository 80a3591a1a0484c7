import { describe, expect, it } from 'vitest';
import { classifyKeyword } from '../inbound/keywords.ts';
import {
  DEFAULT_PROGRAM,
  programByName,
  programFor,
  senderKey,
  TWILIO_DEFAULT_REPLIES,
  validatePrograms,
  type ProgramConfig,
} from './programs.ts';

function program(name: string, senders: string[], over: Partial<ProgramConfig> = {}): ProgramConfig {
  return { ...structuredClone(DEFAULT_PROGRAM), name, senders, ...over };
}

describe('DEFAULT_PROGRAM', () => {
  it('is Twilio default behaviour', () => {
    expect(DEFAULT_PROGRAM.replies).toEqual(TWILIO_DEFAULT_REPLIES);
    expect(DEFAULT_PROGRAM.promotionalRequiresOptIn).toBe(false);
    expect(DEFAULT_PROGRAM.transactionalPolicy).toBe('allow_unless_opted_out');
    expect(DEFAULT_PROGRAM.quietHours).toBeUndefined();
    expect(classifyKeyword('revoke', DEFAULT_PROGRAM.keywords).kind).toBe('opt_out');
    expect(TWILIO_DEFAULT_REPLIES.optOut).toMatch(/Reply START to resubscribe\.$/);
  });
  it('passes its own validation', () => {
    expect(validatePrograms([DEFAULT_PROGRAM])).toEqual([]);
  });
});

describe('programFor', () => {
  const programs = [
    program('otp', ['billing:+15550001']),
    program('billing-all', ['billing:*']),
    program('everything', ['*']),
    program('marketing', ['mkt:+15550009', 'mkt:55501']),
  ];
  it.each([
    ['billing:+15550001', 'otp'], // exact beats account wildcard
    ['billing:+15550002', 'billing-all'], // account wildcard beats *
    ['mkt:55501', 'marketing'],
    ['mkt:+15550010', 'everything'],
    ['other:+1', 'everything'],
  ])('%s → %s', (key, name) => {
    expect(programFor(key, programs).name).toBe(name);
  });
  it('falls back to the default program', () => {
    expect(programFor('x:+1', [program('p', ['a:+1'])])).toBe(DEFAULT_PROGRAM);
    expect(programFor('x:+1', [])).toBe(DEFAULT_PROGRAM);
  });
  it('ordering does not matter', () => {
    expect(programFor('billing:+15550001', [...programs].reverse()).name).toBe('otp');
  });
  it('senderKey joins account and from', () => {
    expect(senderKey('sandbox', '+15005550006')).toBe('sandbox:+15005550006');
  });
  it('programByName finds configured and default programs', () => {
    expect(programByName('marketing', programs)?.name).toBe('marketing');
    expect(programByName('default', programs)).toBe(DEFAULT_PROGRAM);
    expect(programByName('nope', programs)).toBeNull();
  });
});

describe('validatePrograms', () => {
  const ok = program('marketing-us', ['sandbox:+15005550006'], {
    keywords: { optOut: ['STOP', 'ARRET'], optIn: ['START'], help: ['HELP'], punctuation: 'ignore_opt_out' },
    promotionalRequiresOptIn: true,
    quietHours: { start: '21:00', end: '08:00', appliesTo: ['promotional'] },
    countries: { allow: ['US', 'CA'] },
    retention: { bodyDays: 30, hashNumbers: true, rawWebhookDays: 7 },
  });
  it('accepts a complete program', () => {
    expect(validatePrograms([ok], ['sandbox:+15005550006'])).toEqual([]);
  });

  const rows: [string, unknown, RegExp][] = [
    ['not an array', {}, /^programs: must be an array/],
    ['bad name', [{ ...ok, name: 'Marketing US' }], /programs\[0\]\.name: .*Fix: use lower-case/],
    ['duplicate name', [ok, { ...ok, senders: ['b:*'] }], /programs\[1\]\.name: "marketing-us" is already used by programs\[0\]/],
    ['no senders', [{ ...ok, senders: [] }], /programs\[0\]\.senders: must list at least one/],
    ['bad sender key', [{ ...ok, senders: ['+15005550006'] }], /senders\[0\]: "\+15005550006" is not a sender key/],
    ['sender in two programs', [ok, { ...ok, name: 'b' }], /programs\[1\]\.senders\[0\]: "sandbox:\+15005550006" is already in program "marketing-us"/],
    ['unknown sender', [{ ...ok, senders: ['sandbox:+19999'] }], /matches no configured sender\. Fix: use one of sandbox:\+15005550006/],
    ['unknown account wildcard', [{ ...ok, senders: ['nope:*'] }], /"nope:\*" matches no configured sender/],
    ['empty optOut', [{ ...ok, keywords: { optOut: [], optIn: [], help: [] } }], /keywords\.optOut: must be a list with at least one word/],
    ['keyword in two lists', [{ ...ok, keywords: { optOut: ['STOP', 'yes'], optIn: ['YES'], help: [] } }], /keywords\.optIn\[0\]: "YES" is also in keywords\.optOut/],
    ['STOP missing', [{ ...ok, keywords: { optOut: ['ARRET'], optIn: [], help: [] } }], /does not contain STOP/],
    ['blank keyword', [{ ...ok, keywords: { optOut: ['STOP', '  '], optIn: [], help: [] } }], /keywords\.optOut\[1\]: must be a non-empty word/],
    ['bad punctuation', [{ ...ok, keywords: { ...ok.keywords, punctuation: 'loose' } }], /keywords\.punctuation: "loose" is not valid/],
    ['empty reply', [{ ...ok, replies: { ...ok.replies, help: '' } }], /replies\.help: must be a non-empty text or null/],
    ['long reply', [{ ...ok, replies: { ...ok.replies, help: 'x'.repeat(1601) } }], /replies\.help: 1601 characters exceeds 1600/],
    ['bad autoReplies', [{ ...ok, autoReplies: 'twilio' }], /autoReplies: "twilio" is not valid/],
    ['bad policy', [{ ...ok, otpPolicy: 'always' }], /otpPolicy: "always" is not valid/],
    ['bad promo flag', [{ ...ok, promotionalRequiresOptIn: 'yes' }], /promotionalRequiresOptIn: must be true or false/],
    ['bad time', [{ ...ok, quietHours: { start: '9pm', end: '08:00', appliesTo: ['promotional'] } }], /quietHours\.start: "9pm" is not a time/],
    ['24:00', [{ ...ok, quietHours: { start: '24:00', end: '08:00', appliesTo: ['promotional'] } }], /quietHours\.start: "24:00"/],
    ['empty window', [{ ...ok, quietHours: { start: '08:00', end: '08:00', appliesTo: ['promotional'] } }], /an empty window/],
    ['otp in quiet hours', [{ ...ok, quietHours: { start: '21:00', end: '08:00', appliesTo: ['otp'] } }], /OTP codes expire/],
    ['unknown category', [{ ...ok, quietHours: { start: '21:00', end: '08:00', appliesTo: ['marketing'] } }], /"marketing" is not a category/],
    ['UK', [{ ...ok, countries: { deny: ['UK', 'gb'] } }], /countries\.deny\[0\]: "UK" is not an ISO 3166[\s\S]*countries\.deny\[1\]: "gb"/],
    ['empty allow', [{ ...ok, countries: { allow: [] } }], /an empty list blocks every destination/],
    ['allow and deny', [{ ...ok, countries: { allow: ['US'], deny: ['US'] } }], /US in both allow and deny/],
    ['negative days', [{ ...ok, retention: { bodyDays: -1, hashNumbers: false, rawWebhookDays: null } }], /retention\.bodyDays: -1 is not valid/],
    ['fractional days', [{ ...ok, retention: { bodyDays: null, hashNumbers: false, rawWebhookDays: 1.5 } }], /retention\.rawWebhookDays: 1\.5/],
    ['hash without redaction', [{ ...ok, retention: { bodyDays: null, hashNumbers: true, rawWebhookDays: null } }], /hashNumbers: numbers are hashed when bodies are redacted/],
    ['missing retention', [{ ...ok, retention: undefined }], /retention: missing/],
    ['not an object', [42], /programs\[0\]: must be an object/],
  ];
  it.each(rows)('%s', (_name, input, pattern) => {
    const errs = validatePrograms(input, ['sandbox:+15005550006']);
    expect(errs.join('\n')).toMatch(pattern);
    for (const e of errs) expect(e).toMatch(/Fix: /);
  });

  it('the same sender listed twice in one program is fine', () => {
    expect(validatePrograms([{ ...ok, senders: ['sandbox:+15005550006', 'sandbox:+15005550006'] }])).toEqual([]);
  });
  it('null replies are allowed', () => {
    expect(validatePrograms([{ ...ok, replies: { optOut: null, optIn: null, help: null } }])).toEqual([]);
  });
});
