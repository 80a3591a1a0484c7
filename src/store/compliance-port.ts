/**
 * The store port's compliance part (issue 4): consent ledger, app-event subscriptions, the event outbox and its
 * delivery log. `Store` (store.ts) extends this interface; both engines implement it and pass the same contract
 * suite. Plan and table layout: docs/dev/compliance-integration.md §3–4. Every method is atomic and takes `now`
 * from the caller.
 */
import type { ConsentChangeResult, ConsentEvent, ConsentSnapshot } from '../compliance/consent-policy.ts';
import type { AppEventType } from '../events/types.ts';
import type { InboundRecord } from './store.ts';

/** One history row as stored: the event plus its store-assigned id, order and write time. */
export interface ConsentHistoryEntry extends ConsentEvent {
  id: string;
  seq: number;
  /** When the ledger wrote it (the send path compares submissions against this). */
  recordedAt: number;
}

export interface RecordConsentRequest {
  /** `id` is assigned by the store when absent. */
  event: ConsentEvent;
  /**
   * Sender keys (`account:from`) governed by the event's program. When the change moves the contact to
   * `opted_out`, every `queued` message to the contact from one of these senders is failed (SB_OPTED_OUT) in the
   * same transaction.
   */
  programSenders: readonly string[];
  /** App events (outbox rows) to insert in the same transaction when the state changed. */
  outbox: readonly NewOutboxRow[];
  now: number;
}

export interface RecordConsentResult {
  result: ConsentChangeResult;
  /** Id of the appended history row; null when the change was refused. */
  eventId: string | null;
  /** Queued messages failed by the opt-out sweep. */
  failedMessageIds: string[];
  /**
   * True when the event names an inbound message (`evidence.inboundMessageId`, source `inbound_keyword` or
   * `provider`) that already has a history row: nothing was written, `eventId` is that row's id, `result` is
   * `{ accepted: true, changed: false, next: current snapshot }` (a re-run of an interrupted inbound handling).
   */
  duplicate?: boolean;
}

// ---- subscriptions and the outbox

export interface SubscriptionRecord {
  /** sub_<ulid> */
  id: string;
  /** Owning API key id. */
  keyId: string;
  /** Key name of the owning app (thread owner matching). */
  app: string;
  url: string;
  events: AppEventType[];
  /** Signing secrets, newest first (during a rotation every one signs). */
  secrets: string[];
  status: 'active' | 'disabled';
  disabledReason: string | null;
  createdAt: number;
  deletedAt: number | null;
}

export interface NewOutboxRow {
  /** dl_<ulid>: the delivery id (replay target). */
  id: string;
  /** evt_<ulid>: the event id, the same for every subscription and across retries/replays. */
  eventId: string;
  subscriptionId: string;
  type: AppEventType;
  /** The exact JSON body POSTed (signed as is). */
  payload: string;
  /** First attempt not before (normally the creation time). */
  nextAttemptAt: number;
  createdAt: number;
}

export type OutboxStatus = 'pending' | 'delivering' | 'delivered' | 'failed';

export interface OutboxRow extends NewOutboxRow {
  status: OutboxStatus;
  /** HTTP attempts made so far. */
  attempts: number;
  firstAttemptAt: number | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  completedAt: number | null;
}

export type DeliveryOutcomeRow = 'delivered' | 'retry' | 'gone' | 'gave_up';

export interface DeliveryAttemptRow {
  attempt: number;
  startedAt: number;
  durationMs: number | null;
  /** null: network error or timeout. */
  httpStatus: number | null;
  /** Short reason, at most 512 characters. */
  error: string | null;
  outcome: DeliveryOutcomeRow;
}

export interface DeliveryRow extends DeliveryAttemptRow {
  seq: number;
  outboxId: string;
  subscriptionId: string;
  eventId: string;
  type: AppEventType;
}

export interface CompleteDeliveryRequest {
  id: string;
  /** Applies only while this owner holds the lease. */
  owner: string;
  attempt: DeliveryAttemptRow;
  next: { status: 'delivered' | 'pending' | 'failed'; nextAttemptAt?: number };
  now: number;
}

export interface SeqCursor {
  seq: number;
}

/** Key of `getConsentMany`'s map. */
export function consentKey(contact: string, program: string): string {
  return `${program}\u0000${contact}`;
}

// ---- conversations (threads per contact and sender)

export interface ConversationRecord {
  /** cv_<ulid> */
  id: string;
  /** E.164 of the contact. */
  contact: string;
  /** `account:from` of our sender. */
  senderKey: string;
  account: string;
  from: string;
  program: string;
  /** App (API key name) that owns the thread: the last app that wrote, or the routing rule/fallback owner. */
  ownerApp: string | null;
  lastMessageAt: number;
  lastDirection: 'in' | 'out';
  createdAt: number;
}

export interface TouchConversationRequest {
  contact: string;
  account: string;
  from: string;
  program: string;
  direction: 'in' | 'out';
  /** Outbound: the sending app; inbound: the resolved owner when the thread has none. null/undefined leaves it. */
  ownerApp?: string | null;
  at: number;
}

/** One message of a thread, either direction (a view over messages and inbound_messages). */
export interface ThreadItem {
  direction: 'in' | 'out';
  id: string;
  at: number;
  from: string;
  to: string;
  body: string;
  /** Outbound status; null for inbound. */
  status: string | null;
  /** Outbound: the API key that sent it (null for system messages such as keyword replies). */
  keyId: string | null;
  numMedia: number;
}

export interface TimeCursor {
  at: number;
  id: string;
}

export interface ConversationStore {
  /** Upsert the (contact, account:from) thread; the newest message sets lastMessageAt/lastDirection. */
  touchConversation(req: TouchConversationRequest): Promise<ConversationRecord>;
  getConversation(id: string): Promise<ConversationRecord | null>;
  /** Newest activity first (lastMessageAt desc, id desc). */
  listConversations(q: { contact?: string; app?: string; since?: number; limit: number; cursor?: TimeCursor | null }): Promise<{ items: ConversationRecord[]; nextCursor: TimeCursor | null }>;
  /** Both directions of a thread, newest first (at desc, id desc). */
  listConversationMessages(id: string, q: { limit: number; cursor?: TimeCursor | null }): Promise<{ items: ThreadItem[]; nextCursor: TimeCursor | null }>;
  /** Owner app of the (contact, account:from) thread, or null. */
  getThreadOwner(contact: string, senderKey: string): Promise<string | null>;
}

// ---- retention

export interface RedactRequest {
  /** Sender keys (`account:from`) of the program: its outbound messages and the inbound messages to these numbers. */
  senders: readonly string[];
  /** Rows created (received) before this are due. */
  before: number;
  /** Replace the contact number by this (keyed hash); null keeps numbers. */
  hash: ((e164: string) => string) | null;
  now: number;
  /** At most this many rows per call (the job calls again until fewer come back). */
  max: number;
}

export interface RetentionStore {
  /**
   * Redact due rows: message bodies (finished messages only: never one still to be sent) and inbound bodies become
   * '[redacted]'; with `hash`, the contact number (outbound `to`, inbound `from`) becomes its hash. The consent ledger
   * is never touched. Returns rows changed this call.
   */
  redactMessagesBefore(req: RedactRequest): Promise<{ redacted: number; hashed: number }>;
  /** Blank the raw body and headers of webhooks received before `before` (the dedupe key stays). Returns rows purged. */
  purgeRawWebhooksBefore(req: { before: number; max: number }): Promise<number>;
  /** Take or renew the named lease until `until` if it is free (expired) or already ours; false when another owner holds it. */
  tryLease(req: { name: string; owner: string; until: number; now: number }): Promise<boolean>;
}

export interface ComplianceStore extends ConversationStore, RetentionStore {
  // ---- consent ledger
  /** Current snapshots of a contact (one per program with a row; a program without a row is `unknown`). */
  getConsent(contact: string, program?: string): Promise<ConsentSnapshot[]>;
  /** Many at once (batch accept); keyed by `consentKey(contact, program)`; pairs without a row are absent. */
  getConsentMany(pairs: readonly { contact: string; program: string }[]): Promise<Map<string, ConsentSnapshot>>;
  /**
   * In one transaction: read the current snapshot, apply `applyConsentChange`; if accepted, append the history row
   * and update the snapshot when it moved; if the contact became `opted_out`, fail its queued messages from
   * `programSenders` (errorCode SB_OPTED_OUT, event `failed` with detail { code, providerCode: '21610',
   * stage: 'opt_out_sweep', consentEventId }); if the state changed, insert `outbox`.
   */
  recordConsent(req: RecordConsentRequest): Promise<RecordConsentResult>;
  /** The full history (every accepted change with its evidence), in write order. */
  listConsentHistory(contact: string, program?: string): Promise<ConsentHistoryEntry[]>;
  /** Every snapshot in (contact, program) order, read in pages (streaming export). */
  exportConsent(q: { program?: string; state?: ConsentSnapshot['state'] }): AsyncIterable<ConsentSnapshot>;

  // ---- subscriptions and the outbox
  createSubscription(s: SubscriptionRecord): Promise<void>;
  getSubscription(id: string): Promise<SubscriptionRecord | null>;
  /** Not deleted; filters: owning key, event type (subscribed to it), app name, active only. */
  listSubscriptions(q: { keyId?: string; type?: AppEventType; app?: string; activeOnly?: boolean }): Promise<SubscriptionRecord[]>;
  /** Soft delete; its pending outbox rows become failed. False when not found (or already deleted). */
  deleteSubscription(id: string, now: number): Promise<boolean>;
  disableSubscription(id: string, reason: string, now: number): Promise<void>;
  enqueueEvents(rows: readonly NewOutboxRow[]): Promise<void>;
  /**
   * Take due rows: `pending` with nextAttemptAt <= now, or `delivering` whose lease expired; oldest due first, at
   * most `max`. They become `delivering` leased to `owner` until now + leaseMs.
   */
  claimDueDeliveries(req: { now: number; owner: string; leaseMs: number; max: number }): Promise<OutboxRow[]>;
  /** Log the attempt and set the row's next state (attempts + 1; first_attempt_at set on the first). False when the lease was lost. */
  completeDelivery(req: CompleteDeliveryRequest): Promise<boolean>;
  getOutboxRow(id: string): Promise<OutboxRow | null>;
  /** Delivery log of a subscription, newest first. */
  listDeliveries(subscriptionId: string, q: { limit: number; cursor?: SeqCursor | null }): Promise<{ items: DeliveryRow[]; nextCursor: SeqCursor | null }>;
  /** A delivered or failed row → pending now; first_attempt_at reset (a new retry window). Null when not found or in progress. */
  replayDelivery(id: string, now: number): Promise<OutboxRow | null>;
  /** Earliest nextAttemptAt of pending rows (the deliverer's wake-up), or null. */
  nextDeliveryDueAt(): Promise<number | null>;

  // ---- inbound handling (resumable: a crash between storing an inbound message and handling it is redone)
  /**
   * In one transaction: set the inbound message's `handled_at` to `now` if it is not set yet and, only then, insert
   * `outbox` (its `message.received` / `contact.help` events). False (nothing written) when it was already handled
   * or does not exist: the events of one inbound message are written exactly once.
   */
  markInboundHandled(req: { id: string; outbox: readonly NewOutboxRow[]; now: number }): Promise<boolean>;
  /** Inbound messages never marked handled, received before `before`, oldest first, at most `limit` (the recovery sweep). */
  listUnhandledInbound(q: { before: number; limit: number }): Promise<InboundRecord[]>;
}
