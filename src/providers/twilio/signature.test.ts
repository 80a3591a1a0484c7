/**
 * X-Twilio-Signature: Twilio's published test vectors (twilio-wire.md §3.4) and agreement with the official SDK's
 * `validateRequest` (devDependency `twilio`) on a table of URL/param variations.
 */
import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import { bodySha256, candidateUrls, computeTwilioSignature, signaturePayload, verifyTwilioSignature, type SignatureParams } from './signature.ts';

const TOKEN = '12345';
const VECTOR_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const VECTOR_PARAMS = {
  CallSid: 'CA1234567890ABCDE',
  Caller: '+14158675309',
  Digits: '1234',
  From: '+14158675309',
  To: '+18005551212',
};

describe('Twilio published test vectors (§3.4)', () => {
  it.each([
    ['https, no port', VECTOR_URL, 'RSOYDt4T1cUTdK1PDd93/VVr8B8='],
    ['https with :443', 'https://mycompany.com:443/myapp.php?foo=1&bar=2', 'kvajT1Ptam85bY51eRf/AJRuM3w='],
    ['http with :80', 'http://mycompany.com:80/myapp.php?foo=1&bar=2', '0ZXoZLH/DfblKGATFgpif+LLRf4='],
  ])('%s: computes the published signature', (_name, url, expected) => {
    expect(computeTwilioSignature(TOKEN, url, VECTOR_PARAMS)).toBe(expected);
  });

  it('a signature made with :443 verifies against the URL without the port, and vice versa', () => {
    expect(verifyTwilioSignature(TOKEN, 'kvajT1Ptam85bY51eRf/AJRuM3w=', VECTOR_URL, VECTOR_PARAMS)).toBe(true);
    expect(verifyTwilioSignature(TOKEN, 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', 'https://mycompany.com:443/myapp.php?foo=1&bar=2', VECTOR_PARAMS)).toBe(true);
    expect(verifyTwilioSignature(TOKEN, '0ZXoZLH/DfblKGATFgpif+LLRf4=', 'http://mycompany.com/myapp.php?foo=1&bar=2', VECTOR_PARAMS)).toBe(true);
  });

  it('array params: values deduplicated and sorted, so order does not matter', () => {
    const url = VECTOR_URL;
    const a = { 'MessagingBinding.Address': ['+1325xxxxxxx', '+1415xxxxxxx'] };
    const b = { 'MessagingBinding.Address': ['+1415xxxxxxx', '+1325xxxxxxx'] };
    expect(computeTwilioSignature(TOKEN, url, a)).toBe('83O6e2vORAoJHUNzJjDWN1jz+BA=');
    expect(computeTwilioSignature(TOKEN, url, b)).toBe('83O6e2vORAoJHUNzJjDWN1jz+BA=');
    expect(verifyTwilioSignature(TOKEN, '83O6e2vORAoJHUNzJjDWN1jz+BA=', url, b)).toBe(true);
  });

  it('JSON body: bodySHA256 and the URL-only signature', () => {
    const body = '{"property": "value", "boolean": true}';
    const hash = '0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620';
    expect(bodySha256(body)).toBe(hash);
    const url = `${VECTOR_URL}&bodySHA256=${hash}`;
    expect(computeTwilioSignature(TOKEN, url, {})).toBe('a9nBmqA0ju/hNViExpshrM61xv4=');
    expect(verifyTwilioSignature(TOKEN, 'a9nBmqA0ju/hNViExpshrM61xv4=', url, {}, body)).toBe(true);
    expect(verifyTwilioSignature(TOKEN, 'a9nBmqA0ju/hNViExpshrM61xv4=', url, {}, body + ' ')).toBe(false);
    expect(verifyTwilioSignature(TOKEN, 'a9nBmqA0ju/hNViExpshrM61xv4=', url, {})).toBe(false);
    expect(twilio.validateRequestWithBody(TOKEN, 'a9nBmqA0ju/hNViExpshrM61xv4=', url, body)).toBe(true);
  });

  // Further vectors from twilio-node spec/validation.spec.js.
  it.each<[string, string, SignatureParams, string]>([
    ['https with a port is checked with the port stripped', 'https://mycompany.com:1234/myapp.php?foo=1&bar=2', VECTOR_PARAMS, 'RSOYDt4T1cUTdK1PDd93/VVr8B8='],
    ['http with port 1234', 'http://mycompany.com:1234/myapp.php?foo=1&bar=2', VECTOR_PARAMS, 'Zmvh+3yNM1Phv2jhDCwEM3q5ebU='],
    ['credentials in the URL', 'https://user:pass@mycompany.com/myapp.php?foo=1&bar=2', VECTOR_PARAMS, 'CukzLTc1tT5dXEDIHm/tKBanW10='],
    ['just a username', 'https://user@mycompany.com/myapp.php?foo=1&bar=2', VECTOR_PARAMS, '2YRLlVAflCqxaNicjMpJcSTgzSs='],
    ['credentials, checked with :443 added', 'https://user:pass@mycompany.com/myapp.php?foo=1&bar=2', VECTOR_PARAMS, 'ZQFR1PTIZXF2MXB8ZnKCvnnA+rI='],
    ['special characters in the query', `${VECTOR_URL}&Body=It's+amazing`, VECTOR_PARAMS, 'dsq4Ehbj6cs+KdTkpF5sSSplOWw='],
    ['several params and a repeated value', VECTOR_URL, { Sid: 'CA123', SidAccount: 'AC123', Digits: ['5678', '1234', '1234'] }, 'IK+Dwps556ElfBT0I3Rgjkr1wJU='],
  ])('%s', (_name, url, params, signature) => {
    expect(verifyTwilioSignature(TOKEN, signature, url, params)).toBe(true);
    expect(twilio.validateRequest(TOKEN, signature, url, params)).toBe(true);
    expect(verifyTwilioSignature(TOKEN, signature, url, { ...params, Extra: '1' })).toBe(false);
  });

  it('JSON body: empty body vector', () => {
    const url = `${VECTOR_URL}&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`;
    expect(verifyTwilioSignature(TOKEN, 'Ldidvp12m26NI7eqEvxnEpkd9Hc=', url, {}, '{}')).toBe(true);
  });

  it('docs example (example.com, Caller/From +14158675310)', () => {
    const params = { ...VECTOR_PARAMS, Caller: '+14158675310', From: '+14158675310' };
    expect(computeTwilioSignature(TOKEN, 'https://example.com/myapp.php?foo=1&bar=2', params)).toBe('L/OH5YylLD5NRKLltdqwSvS0BnU=');
  });

  it('the payload is the URL then name+value in sorted (code-unit) order', () => {
    expect(signaturePayload('https://x/y', { b: '2', B: '1', a: ['z', 'y', 'z'] })).toBe('https://x/yB1ayazb2');
  });
});

/**
 * Agreement table: Twilio signed `signedUrl` + `signedParams` with `signToken`; we receive `url` + `params`.
 * Both our verify and the SDK's validateRequest must give the same answer, and the answer must be `expected`.
 */
interface Case {
  name: string;
  signedUrl: string;
  url: string;
  params: SignatureParams;
  signedParams?: SignatureParams;
  signToken?: string;
  /** Use this header value instead of the computed signature. */
  header?: string;
  expected: boolean;
}

const STATUS = {
  AccountSid: 'AC00000000000000000000000000000001',
  ApiVersion: '2010-04-01',
  From: '+15005550006',
  MessageSid: 'SM0123456789abcdef0123456789abcdef',
  MessageStatus: 'delivered',
  SmsSid: 'SM0123456789abcdef0123456789abcdef',
  SmsStatus: 'delivered',
  To: '+14155550100',
};
const CB = 'https://sb.example.com/webhooks/twilio/status?m=msg_01jabc';

const CASES: Case[] = [
  { name: 'exact URL and params', signedUrl: CB, url: CB, params: STATUS, expected: true },
  { name: 'signed with :443, received without port', signedUrl: 'https://sb.example.com:443/webhooks/twilio/status?m=msg_01jabc', url: CB, params: STATUS, expected: true },
  { name: 'signed without port, received with :443', signedUrl: CB, url: 'https://sb.example.com:443/webhooks/twilio/status?m=msg_01jabc', params: STATUS, expected: true },
  { name: 'http signed with :80, received without', signedUrl: 'http://127.0.0.1:80/webhooks/twilio/status', url: 'http://127.0.0.1/webhooks/twilio/status', params: STATUS, expected: true },
  { name: 'non-standard port kept on both sides', signedUrl: 'http://127.0.0.1:3000/webhooks/twilio/status?m=x', url: 'http://127.0.0.1:3000/webhooks/twilio/status?m=x', params: STATUS, expected: true },
  { name: 'signed without port, received with :3000', signedUrl: 'http://127.0.0.1/webhooks/twilio/status', url: 'http://127.0.0.1:3000/webhooks/twilio/status', params: STATUS, expected: true },
  { name: 'signed with :3000, received without port', signedUrl: 'http://127.0.0.1:3000/webhooks/twilio/status', url: 'http://127.0.0.1/webhooks/twilio/status', params: STATUS, expected: false },
  { name: 'signed with :3000, received with :3001', signedUrl: 'http://127.0.0.1:3000/webhooks/twilio/status', url: 'http://127.0.0.1:3001/webhooks/twilio/status', params: STATUS, expected: false },
  { name: 'IPv6 literal with port', signedUrl: 'http://[::1]:3000/webhooks/twilio/status', url: 'http://[::1]:3000/webhooks/twilio/status', params: STATUS, expected: true },
  { name: 'path prefix in publicUrl', signedUrl: 'https://example.com/sb/webhooks/twilio/status?m=a', url: 'https://example.com/sb/webhooks/twilio/status?m=a', params: STATUS, expected: true },
  { name: 'query string missing on receipt', signedUrl: CB, url: 'https://sb.example.com/webhooks/twilio/status', params: STATUS, expected: false },
  { name: 'query value changed', signedUrl: CB, url: 'https://sb.example.com/webhooks/twilio/status?m=msg_01jabd', params: STATUS, expected: false },
  { name: 'query order swapped', signedUrl: 'https://h.example.com/p?a=1&b=2', url: 'https://h.example.com/p?b=2&a=1', params: STATUS, expected: false },
  { name: "apostrophe in query, signed raw", signedUrl: "https://h.example.com/p?name=O'Brien", url: "https://h.example.com/p?name=O'Brien", params: STATUS, expected: true },
  { name: "apostrophe in query, signed escaped (%27)", signedUrl: 'https://h.example.com/p?name=O%27Brien', url: "https://h.example.com/p?name=O'Brien", params: STATUS, expected: true },
  { name: "apostrophe, received with :443, signed raw without port", signedUrl: "https://h.example.com/p?name=O'Brien", url: "https://h.example.com:443/p?name=O'Brien", params: STATUS, expected: true },
  { name: 'brace in path, received with :443, signed raw without port', signedUrl: 'https://h.example.com/p/{id}', url: 'https://h.example.com:443/p/{id}', params: STATUS, expected: true },
  { name: 'double quote in query, received with :443, signed raw without port', signedUrl: 'https://h.example.com/p?q="x"', url: 'https://h.example.com:443/p?q="x"', params: STATUS, expected: true },
  { name: 'double quote in query, signed escaped (%22)', signedUrl: 'https://h.example.com/p?q=%22x%22', url: 'https://h.example.com/p?q="x"', params: STATUS, expected: true },
  { name: 'space as %20 in query', signedUrl: 'https://h.example.com/p?q=a%20b', url: 'https://h.example.com/p?q=a%20b', params: STATUS, expected: true },
  { name: 'space: signed %20, received +', signedUrl: 'https://h.example.com/p?q=a%20b', url: 'https://h.example.com/p?q=a+b', params: STATUS, expected: true },
  { name: 'unicode in query, percent-encoded', signedUrl: 'https://h.example.com/p?city=M%C3%BCnchen', url: 'https://h.example.com/p?city=M%C3%BCnchen', params: STATUS, expected: true },
  { name: 'trailing slash added', signedUrl: 'https://h.example.com/p', url: 'https://h.example.com/p/', params: STATUS, expected: false },
  { name: 'host case differs', signedUrl: 'https://H.Example.com/p', url: 'https://h.example.com/p', params: STATUS, expected: false },
  { name: 'empty params', signedUrl: CB, url: CB, params: {}, expected: true },
  { name: 'empty string values', signedUrl: CB, url: CB, params: { ...STATUS, ErrorCode: '', Body: '' }, expected: true },
  { name: 'empty value signed, param dropped on receipt', signedUrl: CB, url: CB, signedParams: { ...STATUS, ErrorCode: '' }, params: STATUS, expected: false },
  { name: 'unicode body (emoji, accents, CJK)', signedUrl: CB, url: CB, params: { ...STATUS, Body: 'Grüße 👋🏽 — 你好' }, expected: true },
  { name: 'unicode body tampered (one code point)', signedUrl: CB, url: CB, signedParams: { ...STATUS, Body: 'Grüße 👋🏽' }, params: { ...STATUS, Body: 'Grüße 👋🏾' }, expected: false },
  { name: 'array values (MediaUrl repeated)', signedUrl: CB, url: CB, params: { ...STATUS, MediaUrl: ['https://m/2', 'https://m/1'] }, expected: true },
  { name: 'array values in another order', signedUrl: CB, url: CB, signedParams: { ...STATUS, MediaUrl: ['https://m/1', 'https://m/2'] }, params: { ...STATUS, MediaUrl: ['https://m/2', 'https://m/1'] }, expected: true },
  { name: 'array with a duplicate value', signedUrl: CB, url: CB, signedParams: { ...STATUS, MediaUrl: ['https://m/1', 'https://m/2'] }, params: { ...STATUS, MediaUrl: ['https://m/2', 'https://m/1', 'https://m/2'] }, expected: true },
  { name: 'array value removed', signedUrl: CB, url: CB, signedParams: { ...STATUS, MediaUrl: ['https://m/1', 'https://m/2'] }, params: { ...STATUS, MediaUrl: ['https://m/1'] }, expected: false },
  { name: 'param names differing only in case', signedUrl: CB, url: CB, params: { ...STATUS, a: '1', A: '2' }, expected: true },
  { name: 'tampered status', signedUrl: CB, url: CB, signedParams: STATUS, params: { ...STATUS, MessageStatus: 'failed' }, expected: false },
  { name: 'extra param added', signedUrl: CB, url: CB, signedParams: STATUS, params: { ...STATUS, ErrorCode: '30007' }, expected: false },
  { name: 'param removed', signedUrl: CB, url: CB, signedParams: STATUS, params: { ...STATUS, To: undefined }, expected: false },
  { name: 'wrong auth token', signedUrl: CB, url: CB, params: STATUS, signToken: 'another-token', expected: false },
  { name: 'empty signature header', signedUrl: CB, url: CB, params: STATUS, header: '', expected: false },
  { name: 'garbage signature header', signedUrl: CB, url: CB, params: STATUS, header: 'not-base64!!', expected: false },
  { name: 'signature of another URL path', signedUrl: 'https://sb.example.com/webhooks/twilio/inbound?m=msg_01jabc', url: CB, params: STATUS, expected: false },
  { name: 'http signed, https received', signedUrl: 'http://sb.example.com/webhooks/twilio/status?m=msg_01jabc', url: CB, params: STATUS, expected: false },
];

/** The SDK treats an `undefined` value as the string "undefined"; a received form never has one, so drop them. */
function defined(params: SignatureParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) out[k] = typeof v === 'string' ? v : [...v];
  return out;
}

describe('agreement with twilio.validateRequest', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const signedParams = defined(c.signedParams ?? c.params);
    const header = c.header ?? computeTwilioSignature(c.signToken ?? TOKEN, c.signedUrl, signedParams);
    // Our signer agrees with the SDK's signer.
    expect(computeTwilioSignature(c.signToken ?? TOKEN, c.signedUrl, signedParams)).toBe(
      twilio.getExpectedTwilioSignature(c.signToken ?? TOKEN, c.signedUrl, signedParams),
    );
    const params = defined(c.params);
    const sdk = twilio.validateRequest(TOKEN, header, c.url, params);
    const ours = verifyTwilioSignature(TOKEN, header, c.url, params);
    expect({ ours, sdk }).toEqual({ ours: c.expected, sdk: c.expected });
  });

  // Cross product: every way of writing the URL Twilio signed × every way we may receive it. Only agreement is
  // asserted here (the table above pins the expected answers); at least one pair of each group must verify.
  const VARIANTS: Record<string, string[]> = {
    https: ['https://h.example.com/w?m=a', 'https://h.example.com:443/w?m=a', 'https://h.example.com:8443/w?m=a', 'https://h.example.com/w?m=a&x=1'],
    http: ['http://127.0.0.1/w', 'http://127.0.0.1:80/w', 'http://127.0.0.1:3000/w', 'http://localhost:3000/w?m=b'],
    special: ["https://h.example.com/w?n=O'B", 'https://h.example.com/w?n=O%27B', 'https://h.example.com:443/w?n=O%27B', "https://h.example.com:443/w?n=O'B", 'https://h.example.com/w?n=a+b', 'https://h.example.com/w?n=a%20b'],
  };
  it.each(Object.keys(VARIANTS))('cross product of %s URL spellings', (group) => {
    const urls = VARIANTS[group]!;
    let valid = 0;
    for (const signed of urls) {
      const header = computeTwilioSignature(TOKEN, signed, STATUS);
      for (const received of urls) {
        const sdk = twilio.validateRequest(TOKEN, header, received, STATUS);
        const ours = verifyTwilioSignature(TOKEN, header, received, STATUS);
        expect({ signed, received, ours }).toEqual({ signed, received, ours: sdk });
        if (ours) valid++;
      }
    }
    expect(valid).toBeGreaterThanOrEqual(urls.length);
    expect(valid).toBeLessThan(urls.length * urls.length);
  });

  it('a missing header (undefined) is rejected', () => {
    expect(verifyTwilioSignature(TOKEN, undefined, CB, STATUS)).toBe(false);
  });

  it('an unparseable URL does not throw', () => {
    const sig = computeTwilioSignature(TOKEN, 'not a url', STATUS);
    expect(verifyTwilioSignature(TOKEN, sig, 'not a url', STATUS)).toBe(true);
    expect(verifyTwilioSignature(TOKEN, sig + 'x', 'not a url', STATUS)).toBe(false);
  });

  it('candidateUrls starts with the URL as received', () => {
    expect(candidateUrls(CB)[0]).toBe(CB);
  });
});
