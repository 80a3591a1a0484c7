/**
 * The error catalogue. Every error Switchboard returns to a client has a stable code listed here
 * and documented in docs/reference/errors.md (a test keeps the two in sync).
 * Codes are never reused; retired codes are listed in RETIRED_CODES.
 */

export interface ErrorSpec {
  status: number;
  message: string;
  /** How the caller fixes it (shown in docs). */
  fix: string;
}

export const ERRORS = {
  // --- auth
  SB_AUTH_MISSING: { status: 401, message: 'Missing API key', fix: 'Send `Authorization: Bearer <key>`.' },
  SB_AUTH_INVALID: { status: 401, message: 'Unknown or revoked API key', fix: 'Create a key with `switchboard keys create`.' },
  SB_AUTH_SCOPE: { status: 403, message: 'The API key lacks the required scope', fix: 'Create a key with the scope named in the message.' },
  // --- input
  SB_VALIDATION: { status: 400, message: 'Invalid request', fix: 'Correct the field named in `error.field`.' },
  SB_BODY_MALFORMED: { status: 400, message: 'Request body is not valid JSON', fix: 'Send a JSON body with `Content-Type: application/json`.' },
  SB_BODY_TOO_LARGE: { status: 413, message: 'Request body too large', fix: 'Split the batch; at most 1,000 messages per batch.' },
  SB_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported Content-Type', fix: 'Send `Content-Type: application/json`.' },
  SB_PHONE_INVALID: { status: 422, message: 'Not a valid phone number', fix: 'Use E.164 (+14155550123), or a national number with a configured default country.' },
  SB_BODY_EMPTY: { status: 422, message: 'Message body is empty', fix: 'Send a non-empty `body`.' },
  SB_BODY_TOO_LONG: { status: 422, message: 'Message body exceeds 1,600 characters', fix: 'Shorten the body (Twilio limit, error 21617).' },
  SB_SENDER_UNKNOWN: { status: 422, message: 'The `from` sender is not configured for this key', fix: 'Use a sender listed under the account in the config, or omit `from`.' },
  SB_NO_ROUTE: { status: 422, message: 'No provider account can send for this key', fix: 'Map the key to an account (`routing`) or configure a default account.' },
  SB_VALID_FOR_RANGE: { status: 422, message: '`validFor` is out of range', fix: 'Use 1 to 36000 seconds (Twilio ValidityPeriod range).' },
  SB_BATCH_TOO_LARGE: { status: 422, message: 'Batch exceeds 1,000 messages', fix: 'Split the batch.' },
  SB_IDEMPOTENCY_KEY_INVALID: { status: 400, message: 'Idempotency-Key must be 1–255 printable characters', fix: 'Use a UUID.' },
  SB_IDEMPOTENCY_CONFLICT: { status: 409, message: 'Idempotency-Key reused with a different request', fix: 'Use a new key for a new request.' },
  SB_CURSOR_INVALID: { status: 400, message: 'Invalid paging cursor', fix: 'Pass back `nextCursor` exactly as returned.' },
  // --- resources
  SB_NOT_FOUND: { status: 404, message: 'Resource not found', fix: 'Check the id.' },
  SB_ROUTE_NOT_FOUND: { status: 404, message: 'No such endpoint', fix: 'See /openapi.json for the endpoints.' },
  SB_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed', fix: 'See /openapi.json.' },
  SB_NOT_CANCELABLE: { status: 409, message: 'Message can no longer be canceled', fix: 'Only a `queued` message can be canceled.' },
  // --- webhooks
  SB_WEBHOOK_SIGNATURE: { status: 403, message: 'Webhook signature verification failed', fix: 'Check the account auth token and `publicUrl` in the config.' },
  SB_WEBHOOK_ACCOUNT_UNKNOWN: { status: 403, message: 'Webhook for an unknown provider account', fix: 'Configure the account whose AccountSid sends this webhook.' },
  SB_WEBHOOK_MALFORMED: { status: 400, message: 'Malformed webhook body', fix: 'Send the provider\'s form-encoded webhook with the field named in `error.field`.' },
  // --- compliance (issue 4; docs/guides/compliance.md)
  SB_OPTED_OUT: { status: 422, message: 'The recipient opted out of this program (Twilio 21610)', fix: 'The contact must text START, or record an opt-in with evidence (`POST /v1/contacts/{e164}/consent`).' },
  SB_OPT_IN_REQUIRED: { status: 422, message: 'This program requires explicit opt-in for this category', fix: 'Record the contact\'s opt-in first.' },
  SB_COUNTRY_BLOCKED: { status: 422, message: 'Destination country not allowed by the program', fix: 'See `programs[].countries` in the config.' },
  SB_CONSENT_EVIDENCE_REQUIRED: { status: 422, message: 'Reversing a contact\'s own opt-out needs evidence', fix: 'Send `note` or `evidence` with the change.' },
  SB_PROGRAM_UNKNOWN: { status: 422, message: '`program` names no configured program', fix: 'Use a name from `compliance.programs` (or `default`).' },
  SB_WEBHOOK_URL_REJECTED: { status: 422, message: 'The subscription URL is not allowed', fix: 'Use a public http(s) URL; loopback and private addresses need `events.allowLoopbackUrls` / `events.allowPrivateUrls`.' },
  SB_IMPORT_MALFORMED: { status: 400, message: 'Unreadable import stream', fix: 'Send `text/csv` with a header row, or `application/x-ndjson`; bad rows are reported per line.' },
  // --- server
  SB_RATE_LIMITED: { status: 429, message: 'Too many requests', fix: 'Retry after the `Retry-After` seconds.' },
  SB_UNAVAILABLE: { status: 503, message: 'Service unavailable', fix: 'Retry; check `/readyz`.' },
  SB_INTERNAL: { status: 500, message: 'Internal error', fix: 'A bug: report it with the request id.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Codes that existed once and must never be given a new meaning. */
export const RETIRED_CODES: readonly string[] = [];

export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, opts: { message?: string; field?: string; details?: Record<string, unknown> } = {}) {
    super(opts.message ?? ERRORS[code].message);
    this.name = 'SwitchboardError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.field = opts.field;
    this.details = opts.details;
  }

  toBody(): { error: { code: ErrorCode; message: string; field?: string; details?: Record<string, unknown> } } {
    const error: { code: ErrorCode; message: string; field?: string; details?: Record<string, unknown> } = {
      code: this.code,
      message: this.message,
    };
    if (this.field !== undefined) error.field = this.field;
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

export function sbError(code: ErrorCode, message?: string, field?: string): SwitchboardError {
  return new SwitchboardError(code, { message, field });
}
