/**
 * Events delivered to apps' subscribed URLs (outbox → signed POST → retries ≥ 24 h; docs/guides/compliance.md).
 */
export const APP_EVENT_TYPES = [
  'message.status', // an outbound message changed status (queued → … → delivered/failed/…)
  'message.received', // an inbound message (not a keyword) arrived; carries the conversation id
  'contact.opted_out', // consent moved to opted_out (keyword, API, import, dashboard, provider)
  'contact.opted_in', // consent moved to opted_in
  'contact.help', // the contact sent a HELP keyword (consent unchanged)
] as const;
export type AppEventType = (typeof APP_EVENT_TYPES)[number];

export function isAppEventType(x: unknown): x is AppEventType {
  return typeof x === 'string' && (APP_EVENT_TYPES as readonly string[]).includes(x);
}

/** The JSON body POSTed to a subscription URL. `id` is stable across retries and replays (apps dedupe on it). */
export interface AppEventEnvelope<T = Record<string, unknown>> {
  id: string;
  type: AppEventType;
  /** Epoch ms when the event happened. */
  createdAt: number;
  /** Schema version of `data`. */
  apiVersion: '2026-01';
  data: T;
}
