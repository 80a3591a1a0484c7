/**
 * The storage port. The core (api, pipeline, dispatch, webhooks, inbound) depends only on this file;
 * store/sqlite and store/postgres implement it, and only the composition root (src/app.ts) picks one.
 * Both implementations pass the same contract suite (src/store/contract/).
 *
 * Rules every implementation keeps:
 * - Each method is atomic: it either fully applies or not at all.
 * - Times are epoch milliseconds passed in by the caller (no clock inside the store).
 * - Status changes are compare-and-set (`transition`), so a status never moves backwards even with
 *   several processes writing.
 * Storage layout, migrations and durability: docs/reference/storage.md; claim semantics: docs/reference/dispatch.md.
 */
import type { Category, MessageEvent, MessageRecord, MessageStatus, NewEvent, SubmitState } from '../domain/message.ts';
import type { ComplianceStore, NewOutboxRow } from './compliance-port.ts';

export type * from './compliance-port.ts';
export { consentKey } from './compliance-port.ts';

export interface StoreCapabilities {
  /** Engine name, shown by `switchboard doctor`. */
  readonly name: 'sqlite' | 'postgres';
  /** Several Switchboard processes may share this store (claims lock rows across processes). */
  readonly multiInstance: boolean;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** sha256 hex of the full token; the token itself is never stored. */
  hash: string;
  /** First characters of the token, for display. */
  prefix: string;
  scopes: string[];
  /** Provider account this key sends through by default (config routing may also decide). */
  account: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export type InsertOutcome = { inserted: true; message: MessageRecord } | { inserted: false; existing: MessageRecord };

/** Conversation filing of an outbound message, done by `insertMessages` with the message (issue 4). */
export interface OutboundThread {
  /** Program governing the message's sender (the conversation's `program`). */
  program: string;
}

export interface MessageCursor {
  createdAt: number;
  id: string;
}

export interface MessageQuery {
  status?: MessageStatus;
  to?: string;
  /** createdAt >= since */
  since?: number;
  /** createdAt < until */
  until?: number;
  keyId?: string;
  /** Message category (otp | transactional | promotional). */
  category?: Category;
  limit: number;
  /** Continue after this position (newest first: createdAt desc, id desc). */
  cursor?: MessageCursor | null;
}

export type MessagePatch = Partial<
  Pick<
    MessageRecord,
    | 'status'
    | 'submitState'
    | 'providerMessageId'
    | 'providerStatus'
    | 'errorCode'
    | 'errorMessage'
    | 'attempts'
    | 'nextAttemptAt'
    | 'leaseOwner'
    | 'leaseExpiresAt'
    | 'submittedAt'
    | 'completedAt'
    | 'body'
  >
>;

export interface TransitionRequest {
  id: string;
  /** Apply only if the current status is one of these. */
  from: readonly MessageStatus[];
  /** When set, apply only if the current submitState is one of these. */
  submitStates?: readonly SubmitState[];
  /** When set, apply only if this owner holds the lease. */
  leaseOwner?: string;
  /** Fields to set; `updatedAt` is set to `now`. */
  patch: MessagePatch;
  now: number;
  /** Appended in the same transaction, only when the update applies. */
  event?: NewEvent;
  /** App events (outbox rows, e.g. `message.status`) inserted in the same transaction, only when the update applies. */
  outbox?: readonly NewOutboxRow[];
  /**
   * The provider answered this message's submit (accepted, failed or ambiguous) at this time: in the same write, and
   * only when the update applies, its open rate bookings (claimDue) move to start at this time and close (see
   * rate-limit.ts `settle`). Set by the dispatcher on the transition that records a submit's outcome.
   */
  settleBookingAt?: number;
}

export interface ClaimRequest {
  now: number;
  /** Identifies the claiming dispatcher (instance id). */
  owner: string;
  leaseMs: number;
  /** At most this many messages in total. */
  max: number;
  /** Rate window length in ms (1000 plus a safety margin). */
  windowMs: number;
  /** Segments allowed per window for a sender key (`${account}:${from}`); `defaultMps` otherwise. */
  rates: ReadonlyMap<string, number>;
  defaultMps: number;
}

export interface ClaimResult {
  /** Claimed messages: now `sending`, submitState `in_flight`, attempts + 1, lease held by `owner`, event `submit_started` appended. */
  claimed: MessageRecord[];
  /** Earliest time more queued work may become claimable (next due message or a rate window opening); null when nothing is queued. */
  wakeAt: number | null;
}

/**
 * App events (`message.status` outbox rows) for a message `expireDue` is expiring: called inside its transaction with
 * the expired record and its `expired` event; the rows are inserted in that same transaction.
 */
export type ExpiryOutbox = (expired: MessageRecord, event: NewEvent) => readonly NewOutboxRow[];

export interface StatusPollClaimRequest {
  now: number;
  owner: string;
  leaseMs: number;
  max: number;
  /** Only messages whose last change (`updatedAt`) is at or before this time. */
  updatedBefore: number;
  /** Only messages whose `expiresAt` is after this time (validity plus a margin not yet passed). */
  expiresAfter: number;
}

export interface StaleClaimRequest {
  now: number;
  owner: string;
  leaseMs: number;
  max: number;
}

export interface WebhookReceipt {
  provider: string;
  /** "status" | "inbound" | … */
  kind: string;
  /** Unique per logical delivery (e.g. "twilio:status:SM…:delivered"); a second receipt with the same key is a duplicate. */
  dedupeKey: string;
  receivedAt: number;
  url: string;
  headers: Record<string, string>;
  rawBody: string;
  signatureValid: boolean;
}

export interface InboundRecord {
  id: string;
  provider: string;
  account: string;
  providerMessageId: string;
  from: string;
  to: string;
  body: string;
  numMedia: number;
  mediaUrls: string[];
  /** Provider-side keyword handling (Twilio OptOutType), if any. */
  providerKeyword: string | null;
  receivedAt: number;
}

export interface InboundQuery {
  from?: string;
  to?: string;
  limit: number;
  cursor?: MessageCursor | null;
}

// ---- operator statistics (dashboard, /metrics): read-only aggregations; see docs/reference/dashboard.md

export interface StatsQuery {
  /** Messages with createdAt >= since … */
  since: number;
  /** … and createdAt < until (webhook receipts: receivedAt in the same range). */
  until: number;
  /** Bucket width (ms, > 0) of `buckets`; bucket i covers [since + i·bucketMs, since + (i+1)·bucketMs). At most 1,000 buckets. */
  bucketMs: number;
  /** Percentiles wanted, each in (0, 1]: nearest rank, i.e. the value at 1-based rank ceil(p·n) of the sorted values. */
  percentiles: readonly number[];
  /** `awaitingCallback` counts messages submitted before this time that still wait for a final status. */
  callbackDueBefore: number;
}

export interface LatencyStats {
  /** How many values (messages) were measured. */
  count: number;
  /** One per `StatsQuery.percentiles`, same order, in ms; null when count is 0. */
  values: (number | null)[];
}

export interface MessageStats {
  /** Messages created in range, by current status (every status present, 0 when none). */
  totals: Record<MessageStatus, number>;
  /** Segments of the messages created in range that reached a provider (submittedAt set): the billable estimate. */
  submittedSegments: number;
  /** Messages created in each bucket by current status; every bucket present, in time order. */
  buckets: { start: number; counts: Record<MessageStatus, number> }[];
  /** accept→submit: submittedAt − createdAt of the messages created in range that were submitted. */
  dispatchLatency: LatencyStats;
  /** submit→delivered: completedAt − submittedAt of the messages created in range that are `delivered`. */
  deliveryLatency: LatencyStats;
  /** `failed` / `undelivered` messages created in range, by errorCode (null: none recorded); most frequent first, then code. */
  errors: { code: string | null; count: number }[];
  /** Webhook receipts received in range (duplicates included); `rejected`: those kept with signatureValid false. */
  webhooks: { received: number; rejected: number };
  /**
   * Whatever their createdAt: messages with submitState `accepted`, status `sending` or `sent` (no final status yet)
   * and submittedAt < callbackDueBefore. `sample`: up to 20 of their ids, oldest submit first.
   */
  awaitingCallback: { count: number; oldestSubmittedAt: number | null; sample: string[] };
}

export interface SenderQueueStats {
  account: string;
  from: string;
  /** Messages `queued` for this sender (due or not). */
  queued: number;
  queuedSegments: number;
  /** createdAt of the oldest queued message; null when none is queued. */
  oldestCreatedAt: number | null;
  /** Segments submitted (submittedAt) in [now − recentMs, now); 0 when recentMs is 0. */
  recentSegments: number;
}

/** The whole port; consent, subscriptions and the event outbox are declared in compliance-port.ts. */
export interface Store extends ComplianceStore {
  readonly capabilities: StoreCapabilities;

  /** Apply pending migrations; returns the names applied now. */
  migrate(): Promise<string[]>;
  /** Names of migrations already applied, in order. */
  appliedMigrations(): Promise<string[]>;
  ping(): Promise<void>;
  close(): Promise<void>;

  // ---- API keys
  /** Rejects if the id or hash already exists. */
  createApiKey(key: ApiKeyRecord): Promise<void>;
  /** Revoked keys are returned too (the caller checks `revokedAt`). */
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  /** All keys, revoked included, oldest first (createdAt, then id). */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Revoke by id or name; false if none active matched. */
  revokeApiKey(idOrName: string, now: number): Promise<boolean>;
  /** All keys ever created, revoked included. */
  countApiKeys(): Promise<number>;

  // ---- messages
  /**
   * Insert each message with its events, atomically per item. A message whose (keyId, idempotencyKey)
   * already exists is not inserted; the existing one is returned instead (also for a duplicate earlier in the same
   * batch). Outcomes are in input order. Implementations may apply the whole batch in one transaction (SQLite does).
   * An item with `thread` also files the inserted message in its conversation (contact = `to`, sender
   * `account:from`), in the same transaction as the message: owner = the name of the message's API key (when
   * `keyId` is set; otherwise the owner is left as is), last activity = `createdAt`, direction `out`.
   */
  insertMessages(items: { message: MessageRecord; events: NewEvent[]; thread?: OutboundThread }[]): Promise<InsertOutcome[]>;
  getMessage(id: string): Promise<MessageRecord | null>;
  findByIdempotencyKey(keyId: string, idempotencyKey: string): Promise<MessageRecord | null>;
  findByProviderId(provider: string, providerMessageId: string): Promise<MessageRecord | null>;
  /** Newest first (createdAt desc, id desc); `nextCursor` is null on the last page. */
  listMessages(q: MessageQuery): Promise<{ items: MessageRecord[]; nextCursor: MessageCursor | null }>;
  listEvents(messageId: string): Promise<MessageEvent[]>;
  appendEvent(event: NewEvent): Promise<void>;
  /**
   * Compare-and-set update; returns the updated record, or null when the conditions did not hold.
   * Never backwards: when `patch.status` is set, it applies only from a current status that equals it or may move
   * to it (`canTransition`), whatever `from` says. The event is appended only when the update applies.
   */
  transition(req: TransitionRequest): Promise<MessageRecord | null>;
  /** Counts per status (for health and metrics). */
  countByStatus(): Promise<Record<MessageStatus, number>>;

  // ---- dispatch
  /**
   * Claim queued messages that are due (nextAttemptAt <= now, expiresAt > now), highest priority first,
   * then oldest (createdAt, then insertion order: FIFO), per sender, never exceeding a sender's segments per window (see dispatch/rate-limit.ts).
   * Within a sender, strict priority: if the head does not fit the window, nothing behind it is taken.
   * Each claim books its segments in the sender's window (kept in the store, so it holds across dispatchers) and
   * appends a `submit_started` event (status `sending`, detail `{ owner, attempt }`). Bookings are made open (the
   * request is on the wire until `transition({ settleBookingAt })` records the response; open until the lease
   * expiry) and open bookings count as arriving at `now` when planning: strict pacing at the carrier, see
   * docs/reference/dispatch.md.
   * `wakeAt`: the earliest of the next `nextAttemptAt` in the future, the time a blocked sender's head fits
   * (rate-limit `reserve().retryAt`), and `now` when `max` stopped the claim with more due work left.
   */
  claimDue(req: ClaimRequest): Promise<ClaimResult>;
  /**
   * Expire queued messages whose expiresAt <= now (status `expired`, completedAt = now, event `expired` with
   * detail `{ reason: 'validity', expiresAt }`), oldest expiry first, at most `max`. Returns them. With `outbox`, the
   * rows it builds for each expired message are inserted in the same transaction (ExpiryOutbox).
   */
  expireDue(now: number, max: number, outbox?: ExpiryOutbox): Promise<MessageRecord[]>;
  /**
   * Messages whose status callbacks may never come (status poll, docs/reference/dispatch.md): status `sending` or
   * `sent`, submitState `accepted`, a providerMessageId, `updatedAt <= updatedBefore`, `expiresAt > expiresAfter`
   * and no live lease; oldest `updatedAt` first, at most `max`. Sets the lease to `owner` (until now + leaseMs), so
   * one instance polls a message at a time; changes nothing else (not `updatedAt`) and appends no event.
   */
  claimStatusPoll(req: StatusPollClaimRequest): Promise<MessageRecord[]>;
  /**
   * Take over `sending` messages that need reconciling: submitState `in_flight` whose lease expired
   * (a dispatcher died mid-submit), or `ambiguous` with nextAttemptAt <= now and no live lease.
   * A lease is live while leaseExpiresAt > now (it has expired at exactly leaseExpiresAt).
   * Sets the lease to `owner`; does not change status or submitState; appends no event.
   */
  claimStale(req: StaleClaimRequest): Promise<MessageRecord[]>;
  /**
   * On graceful shutdown: drop this owner's leases on messages not in flight (submitState other than `in_flight`,
   * e.g. ambiguous ones it was reconciling). In-flight leases are kept: their submit may have reached the provider,
   * so they expire and are reconciled. Returns how many were released.
   */
  releaseLeases(owner: string, now: number): Promise<number>;

  // ---- webhooks and inbound
  /** Keep a raw webhook; `duplicate` is true if the dedupeKey was seen before (the raw body is still kept). */
  recordWebhook(receipt: WebhookReceipt): Promise<{ id: number; duplicate: boolean }>;
  /**
   * Insert an inbound message; duplicate (same provider + providerMessageId) is not inserted. For a duplicate whose
   * stored row was never marked handled (`markInboundHandled`), `unhandled` is that stored row: its handling was
   * interrupted and is to be run again.
   */
  insertInbound(record: InboundRecord): Promise<{ duplicate: boolean; unhandled?: InboundRecord }>;
  /** Newest first (receivedAt desc, id desc); the cursor's `createdAt` carries `receivedAt`. */
  listInbound(q: InboundQuery): Promise<{ items: InboundRecord[]; nextCursor: MessageCursor | null }>;

  // ---- operator statistics (read-only; dashboard and /metrics)
  /** Aggregations over messages created in [since, until) and webhooks received then; see `MessageStats`. */
  stats(q: StatsQuery): Promise<MessageStats>;
  /**
   * Per sender (account + from): the queue (status `queued`) and the segments submitted in the last `recentMs`.
   * Lists every sender that has queued messages or recent submissions, ordered by account, then from.
   */
  senderQueues(q: { now: number; recentMs: number }): Promise<SenderQueueStats[]>;

  // ---- small key/value settings (e.g. whether the first-start dev key was created)
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
}
