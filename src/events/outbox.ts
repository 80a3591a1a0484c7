/**
 * Building app events for the outbox: one envelope per event (`evt_…`, the same body for every subscriber and
 * every retry), one outbox row per subscription (`dl_…`). The rows are written by the caller, in the same store
 * transaction as the change they report (recordConsent, inbound, status) or right after it.
 */
import { ulid } from '../domain/ids.ts';
import type { NewOutboxRow, Store } from '../store/store.ts';
import type { AppEventEnvelope, AppEventType } from './types.ts';

export type EventTarget =
  /** Subscriptions of one API key (message.status: the sending app). */
  | { keyId: string }
  /** Subscriptions of one app (key name), e.g. the owner of a conversation. */
  | { app: string }
  /** Every subscription to the type (contact.* events). */
  | { all: true };

export function eventId(now: number): string {
  return `evt_${ulid(now).toLowerCase()}`;
}

export function deliveryId(now: number): string {
  return `dl_${ulid(now).toLowerCase()}`;
}

export function envelope<T extends Record<string, unknown>>(type: AppEventType, data: T, now: number, id = eventId(now)): AppEventEnvelope<T> {
  return { id, type, createdAt: now, apiVersion: '2026-01', data };
}

export class AppEvents {
  constructor(private readonly store: Store) {}

  /** Outbox rows for `type` to the subscriptions `target` selects (active ones only); [] when nobody listens. */
  async rows(type: AppEventType, data: Record<string, unknown>, target: EventTarget, now: number): Promise<NewOutboxRow[]> {
    const q: Parameters<Store['listSubscriptions']>[0] = { type, activeOnly: true };
    if ('keyId' in target) q.keyId = target.keyId;
    else if ('app' in target) q.app = target.app;
    const subs = await this.store.listSubscriptions(q);
    if (subs.length === 0) return [];
    const env = envelope(type, data, now);
    const payload = JSON.stringify(env);
    return subs.map((s) => ({ id: deliveryId(now), eventId: env.id, subscriptionId: s.id, type, payload, nextAttemptAt: now, createdAt: now }));
  }

  /** Build and enqueue at once (events not tied to another write). Returns the rows. */
  async emit(type: AppEventType, data: Record<string, unknown>, target: EventTarget, now: number): Promise<NewOutboxRow[]> {
    const rows = await this.rows(type, data, target, now);
    if (rows.length > 0) await this.store.enqueueEvents(rows);
    return rows;
  }
}
