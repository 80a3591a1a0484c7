import { describe, expect, it } from 'vitest';
import { FormParseError, parseForm, single } from './form.ts';

describe('parseForm', () => {
  it.each<[string, string, Record<string, string | string[]>]>([
    ['empty body', '', {}],
    ['one pair', 'a=1', { a: '1' }],
    ['plus is a space, %2B a plus', 'To=%2B14155550100&Body=hi+there', { To: '+14155550100', Body: 'hi there' }],
    ['empty value and a bare name', 'ErrorCode=&Flag', { ErrorCode: '', Flag: '' }],
    ['repeated names become arrays in order', 'M=a&M=b&M=a', { M: ['a', 'b', 'a'] }],
    ['empty segments are skipped', 'a=1&&b=2&', { a: '1', b: '2' }],
    ['unicode (UTF-8 percent-encoded)', 'Body=Gr%C3%BC%C3%9Fe+%F0%9F%91%8B', { Body: 'Grüße 👋' }],
    ['only the first = splits', 'q=a=b', { q: 'a=b' }],
    ['names are case-sensitive', 'a=1&A=2', { a: '1', A: '2' }],
  ])('%s', (_name, raw, expected) => {
    const out = parseForm(raw);
    expect(Object.keys(out).sort()).toEqual(Object.keys(expected).sort());
    for (const k of Object.keys(expected)) expect(out[k]).toEqual(expected[k]);
  });

  it('__proto__ is an ordinary name (no prototype pollution)', () => {
    const out = parseForm('__proto__=x&constructor=y');
    expect(Object.keys(out).sort()).toEqual(['__proto__', 'constructor']);
    expect(out['__proto__']).toBe('x');
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  it.each(['a=%zz', 'a=%E2%82', 'Body=%', '%C3=1', '=value'])('%j is malformed', (raw) => {
    expect(() => parseForm(raw)).toThrow(FormParseError);
  });
});

describe('single', () => {
  it('returns a string, undefined when absent, and refuses a repeated field', () => {
    const p = parseForm('a=1&b=2&b=3');
    expect(single(p, 'a')).toBe('1');
    expect(single(p, 'z')).toBeUndefined();
    expect(() => single(p, 'b')).toThrow(FormParseError);
  });
});
