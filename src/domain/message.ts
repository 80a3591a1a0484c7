/**
 * The message model and its one state machine. Provider-neutral.
 * The diagram of the same machine lives in docs/reference/lifecycle.md; a test keeps them in sync.
 */

export const MESSAGE_STATUSES = [
  'queued',
  'sending',
  'sent',
  'delivered',
  'undelivered',
  'failed',
  'canceled',
  'expired',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const TERMINAL_STATUSES: readonly MessageStatus[] = ['delivered', 'undelivered', 'failed', 'canceled', 'expired'];

/**
 * Allowed forward moves. Anything not listed is refused (recorded in the timeline, status unchanged).
 * - queued → sending: claimed by a dispatcher and submitted (or being submitted).
 * - sending → queued: a transient failure before the provider accepted it; retried later.
 * - sent/delivered/undelivered may skip intermediate states because callbacks can be lost or reordered.
 */
export const TRANSITIONS: Readonly<Record<MessageStatus, readonly MessageStatus[]>> = {
  queued: ['sending', 'failed', 'canceled', 'expired'],
  sending: ['queued', 'sent', 'delivered', 'undelivered', 'failed', 'expired'],
  sent: ['delivered', 'undelivered', 'failed'],
  delivered: [],
  undelivered: [],
  failed: [],
  canceled: [],
  expired: [],
};

export function isTerminal(status: MessageStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

export function canTransition(from: MessageStatus, to: MessageStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Every status from which `to` may be reached: used for conditional (compare-and-set) updates in the store. */
export function predecessorsOf(to: MessageStatus): MessageStatus[] {
  return MESSAGE_STATUSES.filter((s) => TRANSITIONS[s].includes(to));
}

export const CATEGORIES = ['otp', 'transactional', 'promotional'] as const;
export type Category = (typeof CATEGORIES)[number];

/** Dispatch order: higher first. A category sets the default; an explicit `priority` (0–9) overrides it. */
export const DEFAULT_PRIORITY: Readonly<Record<Category, number>> = { otp: 9, transactional: 5, promotional: 1 };

export type Encoding = 'GSM-7' | 'UCS-2';

/**
 * Where a message stands with the provider, independent of its user-visible status.
 * - none: never handed to a provider (or handed back after a definite failure).
 * - in_flight: a submit request is (or was, if the lease expired) on the wire.
 * - ambiguous: a submit may or may not have reached the provider; must be looked up before any retry.
 * - accepted: the provider returned its id.
 */
export type SubmitState = 'none' | 'in_flight' | 'ambiguous' | 'accepted';

export interface MessageRecord {
  id: string;
  /** API key that created it (its id); null for system messages (e.g. keyword auto-replies). */
  keyId: string | null;
  /** Provider account name from config (e.g. "sandbox", "billing-us"). */
  account: string;
  /** Provider id of that account, e.g. "twilio". */
  provider: string;
  to: string;
  from: string;
  body: string;
  segments: number;
  encoding: Encoding;
  category: Category;
  priority: number;
  status: MessageStatus;
  submitState: SubmitState;
  metadata: Record<string, unknown> | null;
  idempotencyKey: string | null;
  /** sha256 of the canonical request, to tell a replay from a conflicting reuse of the key. */
  requestHash: string | null;
  providerMessageId: string | null;
  /** Provider's last reported raw status (e.g. Twilio "accepted", "sending"). */
  providerStatus: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** Submit attempts started so far. */
  attempts: number;
  /** Epoch ms: not to be claimed before. */
  nextAttemptAt: number;
  /** Epoch ms: after this the message expires instead of being sent. */
  expiresAt: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  submittedAt: number | null;
  /** When the message reached a terminal status. */
  completedAt: number | null;
}

export const EVENT_TYPES = [
  'accepted', // stored after the API call
  'queued', // enqueued for dispatch (written at accept before core v2; `accepted` says it now: kept for older rows)
  'submit_started', // a dispatcher claimed it and is calling the provider
  'submitted', // the provider accepted it (detail.providerMessageId)
  'submit_failed', // a provider call failed (detail.kind: transient | rate_limited | permanent, retryAt?)
  'ambiguous', // the call may have reached the provider; looked up before any retry
  'reconciled', // lookup result of an ambiguous submit (detail.found)
  'status', // provider status callback (detail.applied false when it would move backwards)
  'canceled',
  'expired',
  'failed',
  'deferred', // held by the program's quiet hours (detail { until, reason: 'quiet_hours' }); not an attempt
  'consent_checked', // dispatch-time consent re-check passed, immediately before submission (detail { program, state })
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface MessageEvent {
  id: number;
  messageId: string;
  type: EventType;
  status: MessageStatus | null;
  at: number;
  detail: Record<string, unknown> | null;
}

export type NewEvent = Omit<MessageEvent, 'id'>;
