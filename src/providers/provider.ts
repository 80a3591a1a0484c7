/**
 * The provider port: what the dispatcher and webhook ingestion need from a carrier API.
 * Adapters (providers/twilio, providers/telnyx) implement it; only the composition root builds them.
 * Adapters never let a raw HTTP/SDK error escape: every failure is a ProviderError of one of four kinds.
 */
import type { MessageStatus } from '../domain/message.ts';

export interface OutboundMessage {
  /** Switchboard message id; adapters put it in the status callback URL so callbacks can be matched even before the provider id is known. */
  id: string;
  to: string;
  from: string;
  body: string;
  /** Seconds the provider may keep it queued (Twilio ValidityPeriod). */
  validitySeconds?: number;
  /** Vendor-only options passed as-is (Novu's `_passthrough`). */
  passthrough?: Record<string, string>;
}

export interface SendResult {
  providerMessageId: string;
  /** Provider's raw status at accept time (e.g. "queued", "accepted"). */
  providerStatus: string;
  /** Our status the provider status maps to, if it says more than "sending". */
  status: MessageStatus;
}

/**
 * - permanent: will never succeed (invalid number, opted out): fail now, keep the code.
 * - transient: network error before the request left, 5xx: retry with backoff.
 * - rate_limited: 429 / 20429: retry after `retryAfterMs` (or backoff).
 * - ambiguous: the request may have reached the provider (timeout, connection reset after send):
 *   look it up before any retry, never blindly re-send.
 */
export type ProviderErrorKind = 'permanent' | 'transient' | 'rate_limited' | 'ambiguous';

export class ProviderError extends Error {
  readonly kind: ProviderErrorKind;
  /** Provider error code as a string (Twilio "21211"), or a Switchboard network code like "NETWORK". */
  readonly code: string;
  readonly httpStatus: number | null;
  readonly retryAfterMs: number | null;

  constructor(kind: ProviderErrorKind, code: string, message: string, opts: { httpStatus?: number | null; retryAfterMs?: number | null } = {}) {
    super(message);
    this.name = 'ProviderError';
    this.kind = kind;
    this.code = code;
    this.httpStatus = opts.httpStatus ?? null;
    this.retryAfterMs = opts.retryAfterMs ?? null;
  }
}

/** Result of looking up a message at the provider after an ambiguous submit. */
export interface LookupResult {
  providerMessageId: string;
  providerStatus: string;
  status: MessageStatus;
  errorCode: string | null;
}

/** A normalised webhook event from a provider. */
export type ProviderEvent =
  | {
      kind: 'status';
      providerMessageId: string;
      /** Switchboard message id when the callback URL carried it. */
      messageId: string | null;
      providerStatus: string;
      status: MessageStatus | null;
      errorCode: string | null;
      occurredAt: number;
      accountId: string;
    }
  | {
      kind: 'inbound';
      providerMessageId: string;
      from: string;
      to: string;
      body: string;
      numMedia: number;
      mediaUrls: string[];
      /** e.g. Twilio OptOutType (STOP/START/HELP) when the provider handled a keyword. */
      providerKeyword: string | null;
      accountId: string;
      occurredAt: number;
    };

export interface ProviderAdapter {
  /** Provider id, e.g. "twilio". */
  readonly provider: string;
  /** Config name of the account this adapter sends with. */
  readonly account: string;
  send(msg: OutboundMessage, opts?: { signal?: AbortSignal }): Promise<SendResult>;
  /**
   * Find a message that may have been submitted: by provider id when known, else by (to, from, body)
   * among messages created at or after `since` (epoch ms). Returns null if the provider has no such message.
   */
  lookup(q: { providerMessageId?: string | null; to: string; from: string; body: string; since: number }): Promise<LookupResult | null>;
  /** Reachability and credentials check for `switchboard doctor`. */
  check(): Promise<{ ok: boolean; detail: string }>;
}
