import { describe, expect, it } from 'vitest';
import { classifyKeyword, guessSenderType, isAddress, magicFromError, magicToError } from './magic.ts';
import { faultSpecProblem } from './faults.ts';
import { rawDlrDoneDate, rfc2822, iso8601, sidFactory } from './format.ts';

describe('magic numbers (twilio-wire.md §5)', () => {
  it.each([
    ['+15005550001', 21212],
    ['+15005550007', 21606],
    ['+15005550008', 21611],
    ['+15005550006', null],
    ['+14155550100', null],
  ])('From %s → %s', (from, code) => {
    expect(magicFromError(from)?.code ?? null).toBe(code);
  });
  it.each([
    ['+15005550001', 21211],
    ['+15005550002', 21612],
    ['+15005550003', 21408],
    ['+15005550004', 21610],
    ['+15005550009', 21614],
    ['+15005550006', null],
  ])('To %s → %s', (to, code) => {
    expect(magicToError(to, '+15005550006')?.code ?? null).toBe(code);
  });
});

describe('keywords (§6: single word, case-insensitive)', () => {
  it.each([
    ['STOP', 'stop'],
    [' stop\n', 'stop'],
    ['StopAll', 'stop'],
    ['unsubscribe', 'stop'],
    ['REVOKE', 'stop'],
    ['optout', 'stop'],
    ['cancel', 'stop'],
    ['end', 'stop'],
    ['quit', 'stop'],
    ['START', 'start'],
    ['yes', 'start'],
    ['unstop', 'start'],
    ['HELP', 'help'],
    ['info', 'help'],
    ['STOP PLEASE', null],
    ['stop.', null],
    ['', null],
  ])('%j → %s', (body, kw) => {
    expect(classifyKeyword(body)).toBe(kw);
  });
});

describe('addresses and sender types', () => {
  it.each([
    ['+14155550100', true],
    ['whatsapp:+14155550100', true],
    ['4155550100', false],
    ['+0123456789', false],
    ['not-a-number', false],
  ])('isAddress(%s) = %s', (v, ok) => expect(isAddress(v)).toBe(ok));
  it.each([
    ['55501', 'short_code'],
    ['+18005550100', 'toll_free'],
    ['+18885550100', 'toll_free'],
    ['+14155550100', 'long_code'],
    ['whatsapp:+14155550100', 'whatsapp'],
    ['ACME', 'alphanumeric'],
  ])('guessSenderType(%s) = %s', (v, t) => expect(guessSenderType(v)).toBe(t));
});

describe('formats', () => {
  it('RFC 2822, ISO 8601 and RawDlrDoneDate', () => {
    const t = Date.UTC(2015, 6, 30, 20, 12, 31, 456);
    expect(rfc2822(t)).toBe('Thu, 30 Jul 2015 20:12:31 +0000');
    expect(iso8601(t)).toBe('2015-07-30T20:12:31Z');
    expect(rawDlrDoneDate(t)).toBe('1507302012');
  });
  it('SIDs: 34 chars; deterministic per seed only when asked', () => {
    const a = sidFactory(1, true);
    const b = sidFactory(1, true);
    const c = sidFactory(1, false);
    const first = a('SM');
    expect(first).toMatch(/^SM[0-9a-f]{32}$/);
    expect(b('SM')).toBe(first);
    expect(c('SM')).not.toBe(first);
    expect(a('SM')).not.toBe(first);
  });
});

describe('fault specs', () => {
  it.each([
    [{ kind: 'status', status: 500, code: 20500 }, null],
    [{ kind: 'status', status: 429, code: 20429, retryAfterS: 3, count: 2 }, null],
    [{ kind: 'status', status: 700, code: 1 }, 'status must be 100-599'],
    [{ kind: 'status', code: 1 }, 'status is required'],
    [{ kind: 'slow', delayMs: 100 }, null],
    [{ kind: 'slow' }, 'delayMs is required'],
    [{ kind: 'timeout', create: 'no' }, 'create must be a boolean'],
    [{ kind: 'callback', action: 'drop' }, null],
    [{ kind: 'callback', action: 'delay' }, 'delayMs is required'],
    [{ kind: 'callback', action: 'explode' }, 'action must be one of drop, duplicate, delay, reorder'],
    [{ kind: 'sender_down', from: '+15005550006' }, null],
    [{ kind: 'sender_down' }, 'from is required'],
    [{ kind: 'slow', delayMs: 1, count: 0 }, 'count must be an integer >= 1'],
    [{ kind: 'weird' }, 'kind must be one of status, slow, timeout, callback, sender_down'],
    [null, 'fault spec must be an object'],
  ])('%j → %s', (spec, problem) => {
    expect(faultSpecProblem(spec)).toBe(problem);
  });
});
