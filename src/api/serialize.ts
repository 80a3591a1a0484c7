/**
 * Records → API JSON. Times are epoch ms inside Switchboard and ISO 8601 (UTC) in the API.
 * Internal bookkeeping (leases, request hashes, submit state) is not exposed.
 */
import type { MessageEvent, MessageRecord } from '../domain/message.ts';
import type { MessageCursor } from '../store/store.ts';
import { SwitchboardError } from '../errors.ts';

export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export interface ApiMessage {
  id: string;
  status: string;
  to: string;
  from: string;
  body: string;
  segments: number;
  encoding: string;
  category: string;
  priority: number;
  account: string;
  provider: string;
  metadata: Record<string, unknown> | null;
  providerMessageId: string | null;
  providerStatus: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  submittedAt: string | null;
  completedAt: string | null;
}

export function toApiMessage(m: MessageRecord): ApiMessage {
  return {
    id: m.id,
    status: m.status,
    to: m.to,
    from: m.from,
    body: m.body,
    segments: m.segments,
    encoding: m.encoding,
    category: m.category,
    priority: m.priority,
    account: m.account,
    provider: m.provider,
    metadata: m.metadata,
    providerMessageId: m.providerMessageId,
    providerStatus: m.providerStatus,
    errorCode: m.errorCode,
    errorMessage: m.errorMessage,
    attempts: m.attempts,
    createdAt: iso(m.createdAt),
    updatedAt: iso(m.updatedAt),
    expiresAt: iso(m.expiresAt),
    submittedAt: iso(m.submittedAt),
    completedAt: iso(m.completedAt),
  };
}

export interface ApiEvent {
  type: string;
  status?: string;
  at: string;
  detail?: Record<string, unknown>;
}

export function toApiEvent(e: MessageEvent): ApiEvent {
  const out: ApiEvent = { type: e.type, at: iso(e.at) };
  if (e.status !== null) out.status = e.status;
  if (e.detail !== null) out.detail = e.detail;
  return out;
}

/** Opaque paging cursor: base64url of `createdAt.id`. */
export function encodeCursor(c: MessageCursor): string {
  return Buffer.from(`${c.createdAt}.${c.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(text: string): MessageCursor {
  const bad = () => new SwitchboardError('SB_CURSOR_INVALID', { field: 'cursor' });
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) throw bad();
  const raw = Buffer.from(text, 'base64url').toString('utf8');
  const m = /^(\d{1,15})\.([a-z]+_[0-9a-z]{1,64})$/.exec(raw);
  if (!m) throw bad();
  return { createdAt: Number(m[1]), id: m[2]! };
}
