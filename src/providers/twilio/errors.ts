/**
 * Twilio failures → ProviderError (providers/provider.ts), and the catalogue of Twilio error codes.
 *
 * `TWILIO_ERRORS` is the one place Switchboard knows what a Twilio code means: the adapter classifies REST errors
 * with it, webhook ingestion uses it for the `errorMessage` of failed/undelivered callbacks, and the dashboard shows
 * the meaning with a link to https://www.twilio.com/docs/api/errors/<code> (`twilioErrorUrl`).
 * Sources: twilio-wire.md §1.6, §5, §9 and Twilio's error pages.
 *
 * Classification of a REST failure (`classifyTwilioFailure`), first rule that matches:
 *   1. network error, request never left (connect refused, DNS, connect timeout, TLS) → transient `NETWORK`
 *   2. network error after the request may have arrived (response timeout, reset)    → ambiguous `NETWORK` / `TIMEOUT`
 *   3. the body carries a Twilio code listed here                                      → that entry's kind
 *   4. HTTP 429                                                                        → rate_limited
 *   5. HTTP 504 without a Twilio code (a gateway gave up; Twilio may have the message) → ambiguous
 *   6. HTTP 5xx, HTTP 408                                                              → transient
 *   7. anything else (4xx, unexpected 1xx/3xx)                                         → permanent
 * The Twilio code is kept as `code` (e.g. "21211"); without one it is `HTTP_<status>`.
 */
import { ProviderError, type ProviderErrorKind } from '../provider.ts';

export interface TwilioErrorInfo {
  /** One line, as Twilio's error page titles it. */
  meaning: string;
  /** What retrying the same request would do (for async delivery codes: informational, the message is final). */
  kind: ProviderErrorKind;
  /** `api`: returned synchronously by the REST API; `delivery`: reported later on the message / status callback. */
  phase: 'api' | 'delivery';
}

const api = (meaning: string, kind: ProviderErrorKind): TwilioErrorInfo => ({ meaning, kind, phase: 'api' });
const delivery = (meaning: string, kind: ProviderErrorKind): TwilioErrorInfo => ({ meaning, kind, phase: 'delivery' });

export const TWILIO_ERRORS: Readonly<Record<string, TwilioErrorInfo>> = Object.freeze({
  // --- account, auth, REST (2xxxx)
  '20001': api('Unknown parameters', 'permanent'),
  '20003': api('Permission denied: authentication failed (bad Account SID / Auth Token or API key)', 'permanent'),
  '20005': api('Account is not active', 'permanent'),
  '20008': api('Test credentials cannot access this resource', 'permanent'),
  '20403': api('Forbidden: the account lacks access to this resource', 'permanent'),
  '20404': api('The requested resource was not found', 'permanent'),
  '20429': api('Too many requests (API concurrency limit)', 'rate_limited'),
  '20500': api('Twilio internal server error', 'transient'),
  '20503': api('Twilio service unavailable', 'transient'),
  '14107': api('SMS send rate limit exceeded', 'rate_limited'),
  // --- message create (21xxx)
  '21211': api("Invalid 'To' phone number", 'permanent'),
  '21212': api("Invalid 'From' phone number", 'permanent'),
  '21408': api("Permission to send an SMS has not been enabled for the 'To' region", 'permanent'),
  '21602': api('Message body is required', 'permanent'),
  '21603': api("A 'From' phone number is required", 'permanent'),
  '21604': api("A 'To' phone number is required", 'permanent'),
  '21606': api("The 'From' number is not a valid, SMS-capable number or short code for this account", 'permanent'),
  '21608': api("Trial account: the 'To' number is not verified", 'permanent'),
  '21610': api('Attempt to send to an unsubscribed (opted-out) recipient', 'permanent'),
  '21611': api("The 'From' number has exceeded the maximum number of queued messages", 'rate_limited'),
  '21612': api("Twilio cannot route to the 'To' number", 'permanent'),
  '21614': api("The 'To' number is not a valid mobile number (cannot receive SMS)", 'permanent'),
  '21617': api('The concatenated message body exceeds the 1600 character limit', 'permanent'),
  '21619': api('A text body, media URL or content SID is required', 'permanent'),
  '21620': api('Invalid media URL(s)', 'permanent'),
  '21621': api("The 'From' number is not enabled for MMS", 'permanent'),
  '21635': api("The 'To' number is a landline", 'permanent'),
  '21658': api('A parameter exceeded its character limit', 'permanent'),
  '21660': api("Mismatch between the 'From' number and the account", 'permanent'),
  // --- delivery (async, on the message resource and in status callbacks)
  '30001': delivery('Queue overflow', 'rate_limited'),
  '30002': delivery('Account suspended', 'permanent'),
  '30003': delivery('Unreachable destination handset', 'transient'),
  '30004': delivery('Message blocked', 'permanent'),
  '30005': delivery('Unknown destination handset', 'permanent'),
  '30006': delivery('Landline or unreachable carrier', 'permanent'),
  '30007': delivery('Message filtered by the carrier', 'permanent'),
  '30008': delivery('Unknown error', 'transient'),
  '30009': delivery('Missing segment', 'transient'),
  '30010': delivery('Message price exceeds max price', 'permanent'),
  '30022': delivery('US A2P 10DLC: rate limits exceeded', 'rate_limited'),
  '30032': delivery('Toll-free number has not been verified', 'permanent'),
  '30034': delivery('US A2P 10DLC: message from an unregistered number', 'permanent'),
  '30036': delivery('Validity period expired', 'permanent'),
  '63016': delivery('WhatsApp: outside the 24-hour session window; use an approved template', 'permanent'),
});

/** Twilio's documentation page for a numeric code; null for Switchboard's own codes (NETWORK, HTTP_503, …). */
export function twilioErrorUrl(code: string): string | null {
  return /^\d{5}$/.test(code) ? `https://www.twilio.com/docs/api/errors/${code}` : null;
}

/** Meaning of a Twilio code for timelines and the dashboard; null when not catalogued. */
export function twilioErrorMeaning(code: string | null | undefined): string | null {
  if (!code || !Object.hasOwn(TWILIO_ERRORS, code)) return null;
  return TWILIO_ERRORS[code]!.meaning;
}

export type TwilioFailureInput =
  | { httpStatus: number; body: unknown; retryAfterMs: number | null }
  | { network: { error: unknown; sent: boolean; message: string } };

/** Network codes that mean "we stopped waiting for the answer" rather than a broken connection. */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'ESOCKETTIMEDOUT']);

function networkCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The Twilio code of an error body (legacy `{code,message,more_info,status}` or RFC 9457 `{type,title,code,…}`). */
function bodyCode(body: unknown): string | null {
  if (!body || typeof body !== 'object') return null;
  const code = (body as { code?: unknown }).code;
  if (typeof code === 'number' && Number.isInteger(code) && code > 0) return String(code);
  if (typeof code === 'string' && /^\d+$/.test(code)) return code;
  return null;
}

function bodyMessage(body: unknown): string | null {
  if (typeof body === 'string') {
    const t = body.trim();
    return t ? t.slice(0, 200) : null;
  }
  if (!body || typeof body !== 'object') return null;
  const b = body as { message?: unknown; detail?: unknown; title?: unknown };
  for (const v of [b.message, b.detail, b.title]) if (typeof v === 'string' && v.trim()) return v.trim();
  return null;
}

export function classifyTwilioFailure(input: TwilioFailureInput): ProviderError {
  if ('network' in input) {
    const { sent, message } = input.network;
    if (!sent) return new ProviderError('transient', 'NETWORK', `Request to Twilio did not leave: ${message}`);
    const code = networkCode(input.network.error);
    const timeout = code !== undefined && TIMEOUT_CODES.has(code);
    return new ProviderError(
      'ambiguous',
      timeout ? 'TIMEOUT' : 'NETWORK',
      `${timeout ? 'No answer from Twilio in time' : 'Connection to Twilio broke'} after the request may have arrived: ${message}`,
    );
  }

  const { httpStatus, body, retryAfterMs } = input;
  const twilioCode = bodyCode(body);
  const text = bodyMessage(body);
  const opts = { httpStatus, retryAfterMs };
  if (twilioCode !== null && Object.hasOwn(TWILIO_ERRORS, twilioCode)) {
    const info = TWILIO_ERRORS[twilioCode]!;
    return new ProviderError(info.kind, twilioCode, text ?? info.meaning, opts);
  }
  const code = twilioCode ?? `HTTP_${httpStatus}`;
  const message = text ?? `Twilio answered HTTP ${httpStatus}`;
  let kind: ProviderErrorKind;
  if (httpStatus === 429) kind = 'rate_limited';
  else if (httpStatus === 504 && twilioCode === null) kind = 'ambiguous';
  else if (httpStatus >= 500 || httpStatus === 408) kind = 'transient';
  else kind = 'permanent';
  return new ProviderError(kind, code, message, opts);
}
