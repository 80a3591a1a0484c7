/**
 * The event deliverer's `onAttempt` hook (what feeds switchboard_event_deliveries_total): called once per attempt
 * after the outcome is in the delivery log, with the row and the outcome, also for attempts that never reach HTTP
 * (URL refused); a throwing hook does not lose the outcome.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultEventsConfig } from '../../src/compliance/config.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { EventDeliverer, type DeliveryResult } from '../../src/events/deliverer.ts';
import { AppEvents } from '../../src/events/outbox.ts';
import { parseExposition, sumOf } from '../../src/metrics/exposition.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { OutboxRow, Store, SubscriptionRecord } from '../../src/store/store.ts';

const T0 = Date.UTC(2026, 0, 1);
let dir: string;
let store: Store;
let clock: ManualClock;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-hook-'));
  store = createSqliteStore({ path: join(dir, 'h.db') });
  await store.migrate();
  clock = new ManualClock(T0);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const sub = (id: string, url: string): SubscriptionRecord => ({ id, keyId: 'k', app: 'crm', url, events: ['contact.opted_out'], secrets: ['whsec_x'], status: 'active', disabledReason: null, createdAt: T0, deletedAt: null });

describe('EventDeliverer onAttempt', () => {
  it('reports every attempt with its row after the log has it; metrics count them by outcome and subscription', async () => {
    // Loopback is refused by default: the attempt gives up without HTTP. The other subscription is deleted, so its
    // row fails at once and is never attempted (nor reported).
    await store.createSubscription(sub('sub_loop', 'http://127.0.0.1:9/hook'));
    await store.createSubscription(sub('sub_del', 'https://crm.example/hook'));
    await new AppEvents(store).emit('contact.opted_out', { contact: '+14155550100' }, { all: true }, T0);
    await store.deleteSubscription('sub_del', T0);
    const metrics = createMetrics({ store, clock });
    const seen: { row: OutboxRow; result: DeliveryResult; logged: number }[] = [];
    const d = new EventDeliverer({
      store,
      clock,
      config: defaultEventsConfig(),
      owner: 'test',
      onAttempt: (row, result) => {
        metrics.eventDelivery(row, result);
        void store.listDeliveries(row.subscriptionId, { limit: 10 }).then((l) => seen.push({ row, result, logged: l.items.length }));
      },
    });
    const results = await d.runOnce();
    await d.stop();
    expect(results.map((r) => r.outcome)).toEqual(['gave_up']);
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]!.row.subscriptionId).toBe('sub_loop');
    expect(seen[0]!.result.outcome).toBe('gave_up');
    expect(seen[0]!.logged).toBe(1);
    const s = parseExposition(await metrics.text());
    expect(sumOf(s, 'switchboard_event_deliveries_total', { outcome: 'gave_up', subscription: 'sub_loop', type: 'contact.opted_out' })).toBe(1);
    expect(sumOf(s, 'switchboard_event_deliveries_total')).toBe(1);
  });

  it('a throwing hook does not lose the outcome', async () => {
    await store.createSubscription(sub('sub_loop', 'http://127.0.0.1:9/hook'));
    const [row] = await new AppEvents(store).emit('contact.opted_out', { contact: '+14155550100' }, { all: true }, T0);
    let calls = 0;
    const d = new EventDeliverer({
      store,
      clock,
      config: defaultEventsConfig(),
      owner: 'test',
      onAttempt: () => {
        calls++;
        throw new Error('boom');
      },
    });
    expect((await d.runOnce()).map((r) => r.outcome)).toEqual(['gave_up']);
    await d.stop();
    expect(calls).toBe(1);
    expect((await store.getOutboxRow(row!.id))!.status).toBe('failed');
  });
});
