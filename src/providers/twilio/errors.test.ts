import { errors as undiciErrors } from 'undici';
import { describe, expect, it } from 'vitest';
import { ProviderError, type ProviderErrorKind } from '../provider.ts';
import { classifyTwilioFailure, TWILIO_ERRORS, twilioErrorMeaning, twilioErrorUrl } from './errors.ts';

const twilioBody = (code: number, message = `error ${code}`, status = 400) => ({
  code,
  message,
  more_info: `https://www.twilio.com/docs/errors/${code}`,
  status,
});

describe('classifyTwilioFailure: HTTP answers', () => {
  it.each<[string, number, unknown, ProviderErrorKind, string]>([
    // Twilio codes decide when the body carries one we know.
    ['invalid To', 400, twilioBody(21211), 'permanent', '21211'],
    ['invalid From', 400, twilioBody(21212), 'permanent', '21212'],
    ['opted out', 400, twilioBody(21610), 'permanent', '21610'],
    ['geo permission', 400, twilioBody(21408), 'permanent', '21408'],
    ['cannot route', 400, twilioBody(21612), 'permanent', '21612'],
    ['not mobile', 400, twilioBody(21614), 'permanent', '21614'],
    ['From not SMS-capable', 400, twilioBody(21606), 'permanent', '21606'],
    ['body too long', 400, twilioBody(21617), 'permanent', '21617'],
    ['body required', 400, twilioBody(21602), 'permanent', '21602'],
    ['auth', 401, twilioBody(20003, 'Authenticate', 401), 'permanent', '20003'],
    ['not found', 404, twilioBody(20404, 'The requested resource was not found', 404), 'permanent', '20404'],
    ['From queue full', 400, twilioBody(21611), 'rate_limited', '21611'],
    ['concurrency limit', 429, twilioBody(20429, 'Too Many Requests', 429), 'rate_limited', '20429'],
    ['send rate limit', 429, twilioBody(14107, 'SMS send rate limit exceeded', 429), 'rate_limited', '14107'],
    ['internal error', 500, twilioBody(20500, 'Internal Server Error', 500), 'transient', '20500'],
    ['service unavailable', 503, twilioBody(20503, 'Service Unavailable', 503), 'transient', '20503'],
    // RFC 9457 bodies (TwilioServiceException) carry the code too.
    ['RFC 9457 body', 400, { type: 'https://x', title: 'Invalid To', status: 400, code: 21211 }, 'permanent', '21211'],
    ['code as a string', 400, { code: '21610', message: 'opted out' }, 'permanent', '21610'],
    // No known code: the HTTP status decides.
    ['unknown 4xx code', 400, twilioBody(21999), 'permanent', '21999'],
    ['unknown 5xx code', 502, twilioBody(29999, 'x', 502), 'transient', '29999'],
    ['bare 429', 429, null, 'rate_limited', 'HTTP_429'],
    ['bare 500', 500, '<html>oops</html>', 'transient', 'HTTP_500'],
    ['bare 502', 502, null, 'transient', 'HTTP_502'],
    ['bare 503', 503, '', 'transient', 'HTTP_503'],
    ['bare 504 (gateway gave up; Twilio may have it)', 504, null, 'ambiguous', 'HTTP_504'],
    ['408', 408, null, 'transient', 'HTTP_408'],
    ['bare 400', 400, 'Bad Request', 'permanent', 'HTTP_400'],
    ['bare 401', 401, null, 'permanent', 'HTTP_401'],
    ['bare 403', 403, null, 'permanent', 'HTTP_403'],
    ['bare 404', 404, { message: 'nope' }, 'permanent', 'HTTP_404'],
    ['redirect (misconfigured base URL)', 301, null, 'permanent', 'HTTP_301'],
    ['garbage code field', 400, { code: 'abc', message: 'x' }, 'permanent', 'HTTP_400'],
  ])('%s: HTTP %i → %s %s', (_name, httpStatus, body, kind, code) => {
    const e = classifyTwilioFailure({ httpStatus, body, retryAfterMs: null });
    expect(e).toBeInstanceOf(ProviderError);
    expect(e.kind).toBe(kind);
    expect(e.code).toBe(code);
    expect(e.httpStatus).toBe(httpStatus);
  });

  it("keeps Twilio's message text, or falls back to the catalogue meaning / HTTP status", () => {
    expect(classifyTwilioFailure({ httpStatus: 400, body: twilioBody(21211, "The 'To' number +1asd is not a valid phone number."), retryAfterMs: null }).message).toBe(
      "The 'To' number +1asd is not a valid phone number.",
    );
    expect(classifyTwilioFailure({ httpStatus: 400, body: { code: 21610 }, retryAfterMs: null }).message).toBe(TWILIO_ERRORS['21610']!.meaning);
    expect(classifyTwilioFailure({ httpStatus: 502, body: null, retryAfterMs: null }).message).toBe('Twilio answered HTTP 502');
    expect(classifyTwilioFailure({ httpStatus: 500, body: 'x'.repeat(1000), retryAfterMs: null }).message).toHaveLength(200);
  });

  it('passes Retry-After through', () => {
    expect(classifyTwilioFailure({ httpStatus: 429, body: twilioBody(20429, 'Too Many Requests', 429), retryAfterMs: 3_000 }).retryAfterMs).toBe(3_000);
    expect(classifyTwilioFailure({ httpStatus: 429, body: null, retryAfterMs: null }).retryAfterMs).toBeNull();
  });
});

describe('classifyTwilioFailure: network failures', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
  it.each<[string, unknown, boolean, ProviderErrorKind, string]>([
    ['never left (refused)', refused, false, 'transient', 'NETWORK'],
    ['never left (connect timeout)', new undiciErrors.ConnectTimeoutError(), false, 'transient', 'NETWORK'],
    ['after send: headers timeout', new undiciErrors.HeadersTimeoutError(), true, 'ambiguous', 'TIMEOUT'],
    ['after send: body timeout', new undiciErrors.BodyTimeoutError(), true, 'ambiguous', 'TIMEOUT'],
    ['after send: socket reset', reset, true, 'ambiguous', 'NETWORK'],
    ['after send: timeout wrapped in cause', new Error('fetch failed', { cause: new undiciErrors.HeadersTimeoutError() }), true, 'ambiguous', 'TIMEOUT'],
    ['after send: no code at all', new Error('boom'), true, 'ambiguous', 'NETWORK'],
  ])('%s → %s %s', (_name, error, sent, kind, code) => {
    const e = classifyTwilioFailure({ network: { error, sent, message: error instanceof Error ? error.message : String(error) } });
    expect(e.kind).toBe(kind);
    expect(e.code).toBe(code);
    expect(e.httpStatus).toBeNull();
    expect(e.message).toContain(error instanceof Error ? error.message : String(error));
  });
});

describe('TWILIO_ERRORS catalogue', () => {
  it.each([
    // async delivery codes from twilio-wire §9 and the brief
    '30001', '30002', '30003', '30004', '30005', '30006', '30007', '30008', '30009', '30010', '30022', '30032', '30034', '30036', '63016',
  ])('delivery code %s is catalogued as a delivery error', (code) => {
    expect(TWILIO_ERRORS[code]?.phase).toBe('delivery');
    expect(TWILIO_ERRORS[code]?.meaning.length).toBeGreaterThan(5);
  });

  it.each(['20003', '20404', '20429', '21211', '21212', '21408', '21602', '21606', '21610', '21611', '21612', '21614', '21617'])(
    'REST code %s is catalogued as an api error',
    (code) => {
      expect(TWILIO_ERRORS[code]?.phase).toBe('api');
    },
  );

  it('every key is a five-digit Twilio code with a link', () => {
    for (const code of Object.keys(TWILIO_ERRORS)) {
      expect(code).toMatch(/^\d{5}$/);
      expect(twilioErrorUrl(code)).toBe(`https://www.twilio.com/docs/api/errors/${code}`);
    }
  });

  it('no link or meaning for Switchboard codes or unknown codes', () => {
    expect(twilioErrorUrl('NETWORK')).toBeNull();
    expect(twilioErrorUrl('HTTP_503')).toBeNull();
    expect(twilioErrorMeaning('NETWORK')).toBeNull();
    expect(twilioErrorMeaning('99999')).toBeNull();
    expect(twilioErrorMeaning(null)).toBeNull();
    expect(twilioErrorMeaning('toString')).toBeNull();
    expect(twilioErrorMeaning('30007')).toBe('Message filtered by the carrier');
  });
});
