import { describe, expect, it } from 'vitest';
import { computeSignature, parseSignatureHeader, signEvent, verifyEvent } from './signing.ts';

const SECRET = 'whsec_test_secret';
const T = 1767225600; // 2026-01-01T00:00:00Z
const BODY = '{"id":"evt_1","type":"message.received"}';

describe('known-answer vectors (computed with `openssl dgst -sha256 -hmac`)', () => {
  it.each([
    [BODY, 'c86ae11dc84331c580fd335e3d24c4eadc95e6a8358d36ca7a39af0b143f7eae'],
    ['', '2101ed4de13a3847b9130080a81eb77b7a3727702e4665f5d4fc9fb89133b2e2'],
    ['{"body":"café ☕"}', 'f08023dbd0bcc7431abf10682f167037e4a51f19aa146d7c17fd802c4c67c98b'],
  ])('%j', (body, hex) => {
    expect(computeSignature(SECRET, T, body)).toBe(hex);
    expect(signEvent(SECRET, T, body)).toBe(`t=${T},v1=${hex}`);
  });
});

describe('verifyEvent', () => {
  const header = signEvent(SECRET, T, BODY);
  type Row = [name: string, secret: string, header: string | undefined, body: string, now: number, expected: string];
  const rows: Row[] = [
    ['valid', SECRET, header, BODY, T, 'ok'],
    ['valid at the tolerance edge (+300 s)', SECRET, header, BODY, T + 300, 'ok'],
    ['valid at the tolerance edge (-300 s, clock skew)', SECRET, header, BODY, T - 300, 'ok'],
    ['too old', SECRET, header, BODY, T + 301, 'timestamp_out_of_tolerance'],
    ['from the future', SECRET, header, BODY, T - 301, 'timestamp_out_of_tolerance'],
    ['wrong secret', 'other', header, BODY, T, 'signature_mismatch'],
    ['body changed by one byte', SECRET, header, BODY.replace('1', '2'), T, 'signature_mismatch'],
    ['body re-serialised with spaces', SECRET, header, JSON.stringify(JSON.parse(BODY), null, 1), T, 'signature_mismatch'],
    ['timestamp swapped (replay with fresh t)', SECRET, header.replace(`t=${T}`, `t=${T + 100}`), BODY, T + 100, 'signature_mismatch'],
    ['missing header', SECRET, undefined, BODY, T, 'malformed_header'],
    ['empty header', SECRET, '', BODY, T, 'malformed_header'],
    ['no timestamp', SECRET, header.replace(/t=\d+,/, ''), BODY, T, 'malformed_header'],
    ['no v1', SECRET, `t=${T}`, BODY, T, 'no_signature'],
    ['v0 scheme ignored', SECRET, `t=${T},v0=${computeSignature(SECRET, T, BODY)}`, BODY, T, 'no_signature'],
    ['truncated signature', SECRET, header.slice(0, -2), BODY, T, 'no_signature'],
    ['upper-case hex accepted', SECRET, header.toUpperCase().replace('T=', 't=').replace('V1=', 'v1='), BODY, T, 'ok'],
    ['spaces around items', SECRET, header.replace(',', ' , '), BODY, T, 'ok'],
    ['one of several v1 matches (rotation)', SECRET, signEvent(['old-secret', SECRET], T, BODY), BODY, T, 'ok'],
    ['none of several v1 matches', SECRET, signEvent(['a', 'b'], T, BODY), BODY, T, 'signature_mismatch'],
  ];
  it.each(rows)('%s', (_n, secret, h, body, now, expected) => {
    const r = verifyEvent(secret, h, body, now);
    if (expected === 'ok') expect(r).toEqual({ ok: true, timestamp: T });
    else expect(r).toEqual({ ok: false, reason: expected });
  });

  it('custom tolerance', () => {
    expect(verifyEvent(SECRET, header, BODY, T + 10, 5)).toEqual({ ok: false, reason: 'timestamp_out_of_tolerance' });
  });
});

describe('signEvent input checks', () => {
  it.each([
    [SECRET, 1.5],
    [SECRET, -1],
    ['', T],
    [[] as string[], T],
  ])('rejects secret %j / timestamp %s', (secret, t) => {
    expect(() => signEvent(secret, t, BODY)).toThrow(RangeError);
  });
  it('parses a header', () => {
    expect(parseSignatureHeader(`t=${T},v1=${'a'.repeat(64)},x=1`)).toEqual({ timestamp: T, v1: ['a'.repeat(64)] });
  });
});
