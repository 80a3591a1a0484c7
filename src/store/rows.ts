/**
 * Engine-neutral row ↔ record mapping shared by the SQLite and PostgreSQL stores: column names and how a row
 * (column → value) becomes a port record. SQL stays in each engine; the one engine difference here is how a JSON
 * column arrives (SQLite: text to parse; PostgreSQL jsonb: already parsed), passed in as `decodeJson`.
 */
import type { MessageEvent, MessageRecord, MessageStatus } from '../domain/message.ts';
import type { ConsentEvent, ConsentSnapshot, ConsentSource, ConsentState } from '../compliance/consent-policy.ts';
import type { AppEventType } from '../events/types.ts';
import type { ConsentHistoryEntry, ConversationRecord, DeliveryRow, OutboxRow, OutboxStatus, SubscriptionRecord } from './compliance-port.ts';
import type { ApiKeyRecord, InboundRecord, MessagePatch } from './store.ts';

/** A result row as the driver returns it: column name → value. */
export type Row = Record<string, unknown>;

/** A JSON column's stored value → its JS value (`null` stays `null`). */
export type DecodeJson = (v: unknown) => unknown;

/** SQLite keeps JSON as text. */
export const parseJsonText: DecodeJson = (v) => (v === null || v === undefined ? null : JSON.parse(v as string));
/** PostgreSQL jsonb arrives parsed. */
export const jsonAsIs: DecodeJson = (v) => v ?? null;

const num = (v: unknown): number => v as number;
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : (v as number));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));

/** Patchable fields → columns (MessagePatch), for `transition`. */
export const PATCH_COLUMNS: Readonly<Record<keyof MessagePatch, string>> = {
  status: 'status',
  submitState: 'submit_state',
  providerMessageId: 'provider_message_id',
  providerStatus: 'provider_status',
  errorCode: 'error_code',
  errorMessage: 'error_message',
  attempts: 'attempts',
  nextAttemptAt: 'next_attempt_at',
  leaseOwner: 'lease_owner',
  leaseExpiresAt: 'lease_expires_at',
  submittedAt: 'submitted_at',
  completedAt: 'completed_at',
  body: 'body',
};

/** A column's kind of value, for engines that type their parameters (PostgreSQL arrays); JSON goes as JSON text. */
export type ColumnKind = 'text' | 'int' | 'bigint' | 'json';

/** Message columns in insert order: name, kind, and the value from a record. */
export const MESSAGE_INSERT_COLUMNS: readonly (readonly [column: string, kind: ColumnKind, pick: (m: MessageRecord) => unknown])[] = [
  ['id', 'text', (m) => m.id],
  ['key_id', 'text', (m) => m.keyId],
  ['account', 'text', (m) => m.account],
  ['provider', 'text', (m) => m.provider],
  ['to_number', 'text', (m) => m.to],
  ['from_number', 'text', (m) => m.from],
  ['body', 'text', (m) => m.body],
  ['segments', 'int', (m) => m.segments],
  ['encoding', 'text', (m) => m.encoding],
  ['category', 'text', (m) => m.category],
  ['priority', 'int', (m) => m.priority],
  ['status', 'text', (m) => m.status],
  ['submit_state', 'text', (m) => m.submitState],
  ['metadata', 'json', (m) => (m.metadata === null || m.metadata === undefined ? null : JSON.stringify(m.metadata))],
  ['idempotency_key', 'text', (m) => m.idempotencyKey],
  ['request_hash', 'text', (m) => m.requestHash],
  ['provider_message_id', 'text', (m) => m.providerMessageId],
  ['provider_status', 'text', (m) => m.providerStatus],
  ['error_code', 'text', (m) => m.errorCode],
  ['error_message', 'text', (m) => m.errorMessage],
  ['attempts', 'int', (m) => m.attempts],
  ['next_attempt_at', 'bigint', (m) => m.nextAttemptAt],
  ['expires_at', 'bigint', (m) => m.expiresAt],
  ['lease_owner', 'text', (m) => m.leaseOwner],
  ['lease_expires_at', 'bigint', (m) => m.leaseExpiresAt],
  ['created_at', 'bigint', (m) => m.createdAt],
  ['updated_at', 'bigint', (m) => m.updatedAt],
  ['submitted_at', 'bigint', (m) => m.submittedAt],
  ['completed_at', 'bigint', (m) => m.completedAt],
];

export function messageFromRow(r: Row, decodeJson: DecodeJson): MessageRecord {
  return {
    id: r.id as string,
    keyId: strOrNull(r.key_id),
    account: r.account as string,
    provider: r.provider as string,
    to: r.to_number as string,
    from: r.from_number as string,
    body: r.body as string,
    segments: num(r.segments),
    encoding: r.encoding as MessageRecord['encoding'],
    category: r.category as MessageRecord['category'],
    priority: num(r.priority),
    status: r.status as MessageStatus,
    submitState: r.submit_state as MessageRecord['submitState'],
    metadata: decodeJson(r.metadata) as MessageRecord['metadata'],
    idempotencyKey: strOrNull(r.idempotency_key),
    requestHash: strOrNull(r.request_hash),
    providerMessageId: strOrNull(r.provider_message_id),
    providerStatus: strOrNull(r.provider_status),
    errorCode: strOrNull(r.error_code),
    errorMessage: strOrNull(r.error_message),
    attempts: num(r.attempts),
    nextAttemptAt: num(r.next_attempt_at),
    expiresAt: num(r.expires_at),
    leaseOwner: strOrNull(r.lease_owner),
    leaseExpiresAt: numOrNull(r.lease_expires_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    submittedAt: numOrNull(r.submitted_at),
    completedAt: numOrNull(r.completed_at),
  };
}

export function eventFromRow(r: Row, decodeJson: DecodeJson): MessageEvent {
  return {
    id: num(r.id),
    messageId: r.message_id as string,
    type: r.type as MessageEvent['type'],
    status: (r.status ?? null) as MessageStatus | null,
    at: num(r.at),
    detail: decodeJson(r.detail) as MessageEvent['detail'],
  };
}

export function apiKeyFromRow(r: Row, decodeJson: DecodeJson): ApiKeyRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    hash: r.hash as string,
    prefix: r.prefix as string,
    scopes: decodeJson(r.scopes) as string[],
    account: strOrNull(r.account),
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

export function inboundFromRow(r: Row, decodeJson: DecodeJson): InboundRecord {
  return {
    id: r.id as string,
    provider: r.provider as string,
    account: r.account as string,
    providerMessageId: r.provider_message_id as string,
    from: r.from_number as string,
    to: r.to_number as string,
    body: r.body as string,
    numMedia: num(r.num_media),
    mediaUrls: decodeJson(r.media_urls) as string[],
    providerKeyword: strOrNull(r.provider_keyword),
    receivedAt: num(r.received_at),
  };
}

// ------------------------------------------------------------------------------------------------ compliance

export function snapshotFromRow(r: Row): ConsentSnapshot {
  return {
    contact: r.contact as string,
    program: r.program as string,
    state: r.state as ConsentState,
    since: num(r.since),
    source: (r.source ?? null) as ConsentSource | null,
    eventId: strOrNull(r.event_id),
  };
}

export function historyFromRow(r: Row, decodeJson: DecodeJson): ConsentHistoryEntry {
  return {
    id: r.id as string,
    seq: num(r.seq),
    contact: r.contact as string,
    program: r.program as string,
    state: r.state as ConsentState,
    source: r.source as ConsentSource,
    at: num(r.at),
    recordedAt: num(r.recorded_at),
    evidence: decodeJson(r.evidence) as ConsentEvent['evidence'],
  };
}

export function subscriptionFromRow(r: Row, decodeJson: DecodeJson): SubscriptionRecord {
  return {
    id: r.id as string,
    keyId: r.key_id as string,
    app: r.app as string,
    url: r.url as string,
    events: decodeJson(r.events) as AppEventType[],
    secrets: decodeJson(r.secrets) as string[],
    status: r.status as SubscriptionRecord['status'],
    disabledReason: strOrNull(r.disabled_reason),
    createdAt: num(r.created_at),
    deletedAt: numOrNull(r.deleted_at),
  };
}

export function outboxFromRow(r: Row): OutboxRow {
  return {
    id: r.id as string,
    eventId: r.event_id as string,
    subscriptionId: r.subscription_id as string,
    type: r.type as AppEventType,
    payload: r.payload as string,
    status: r.status as OutboxStatus,
    attempts: num(r.attempts),
    firstAttemptAt: numOrNull(r.first_attempt_at),
    nextAttemptAt: num(r.next_attempt_at),
    leaseOwner: strOrNull(r.lease_owner),
    leaseExpiresAt: numOrNull(r.lease_expires_at),
    createdAt: num(r.created_at),
    completedAt: numOrNull(r.completed_at),
  };
}

export function deliveryFromRow(r: Row): DeliveryRow {
  return {
    seq: num(r.seq),
    outboxId: r.outbox_id as string,
    subscriptionId: r.subscription_id as string,
    eventId: r.event_id as string,
    type: r.type as AppEventType,
    attempt: num(r.attempt),
    startedAt: num(r.started_at),
    durationMs: numOrNull(r.duration_ms),
    httpStatus: numOrNull(r.http_status),
    error: strOrNull(r.error),
    outcome: r.outcome as DeliveryRow['outcome'],
  };
}

export function conversationFromRow(r: Row): ConversationRecord {
  return {
    id: r.id as string,
    contact: r.contact as string,
    senderKey: r.sender_key as string,
    account: r.account as string,
    from: r.from_number as string,
    program: r.program as string,
    ownerApp: strOrNull(r.owner_app),
    lastMessageAt: num(r.last_message_at),
    lastDirection: r.last_direction as 'in' | 'out',
    createdAt: num(r.created_at),
  };
}

/** Thread items newest first: (at desc, id desc). */
export function byRecency(a: { at: number; id: string }, b: { at: number; id: string }): number {
  return b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}
