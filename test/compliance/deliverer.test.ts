/**
 * The event deliverer against a real local HTTP server and SQLite store, time from a ManualClock: 410 disables the
 * subscription; a host name that resolves to a refused address (DNS rebinding to loopback) is never connected to;
 * the retry window ends (gave_up) 26 h after the first attempt; a deleted subscription's rows are not sent.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultEventsConfig } from '../../src/compliance/config.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { EventDeliverer } from '../../src/events/deliverer.ts';
import { AppEvents } from '../../src/events/outbox.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store, SubscriptionRecord } from '../../src/store/store.ts';
import { tempDir } from '../dispatch/support.ts';

const T0 = Date.UTC(2026, 0, 1);
const tmp = tempDir('sb-deliverer-');
let store: Store;
let clock: ManualClock;
let server: Server;
let port: number;
let hits = 0;
let status = 200;

beforeEach(async () => {
  store = createSqliteStore({ path: `${tmp.dir}/${Math.random().toString(36).slice(2)}.db` });
  await store.migrate();
  clock = new ManualClock(T0);
  hits = 0;
  server = createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => {
      res.statusCode = status;
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  server.close();
  await store.close();
});

function sub(id: string, url: string): SubscriptionRecord {
  return { id, keyId: 'k', app: 'app', url, events: ['contact.help'], secrets: ['whsec_x'], status: 'active', disabledReason: null, createdAt: T0, deletedAt: null };
}

function deliverer(over: Partial<ReturnType<typeof defaultEventsConfig>> = {}, resolve?: (h: string) => Promise<{ address: string; family: number }[]>) {
  return new EventDeliverer({ store, clock, config: { ...defaultEventsConfig(), allowLoopbackUrls: true, ...over }, owner: 'test', random: () => 0.5, resolve });
}

describe('event deliverer', () => {
  it('410 Gone disables the subscription', async () => {
    status = 410;
    await store.createSubscription(sub('sub_1', `http://127.0.0.1:${port}/h`));
    await new AppEvents(store).emit('contact.help', { contact: '+1' }, { all: true }, T0);
    const d = deliverer();
    expect((await d.runOnce()).map((r) => r.outcome)).toEqual(['gone']);
    expect(await store.getSubscription('sub_1')).toMatchObject({ status: 'disabled' });
    expect(await new AppEvents(store).emit('contact.help', {}, { all: true }, T0)).toEqual([]);
    await d.stop();
  });

  it('never connects to a name that resolves to a refused address (DNS rebinding)', async () => {
    await store.createSubscription(sub('sub_1', `http://hooks.example.com:${port}/h`));
    await new AppEvents(store).emit('contact.help', {}, { all: true }, T0);
    const d = deliverer({ allowLoopbackUrls: false }, async () => [{ address: '127.0.0.1', family: 4 }]);
    const [r] = await d.runOnce();
    expect(r).toMatchObject({ outcome: 'retry', httpStatus: null });
    expect(hits).toBe(0);
    const log = await store.listDeliveries('sub_1', { limit: 5 });
    expect(log.items[0]!.error).toMatch(/not allowed/);
    await d.stop();
  });

  it('retries with backoff, then gives up 26 h after the first attempt; a deleted subscription is not sent to', async () => {
    status = 503;
    await store.createSubscription(sub('sub_1', `http://127.0.0.1:${port}/h`));
    const [row] = await new AppEvents(store).emit('contact.help', {}, { all: true }, T0);
    const d = deliverer();
    let attempts = 0;
    for (;;) {
      const res = await d.runOnce();
      if (res.length === 0) {
        const next = (await store.getOutboxRow(row!.id))!;
        if (next.status !== 'pending') break;
        clock.set(next.nextAttemptAt);
        continue;
      }
      attempts++;
    }
    const final = (await store.getOutboxRow(row!.id))!;
    expect(final.status).toBe('failed');
    expect(clock.now() - T0).toBeGreaterThanOrEqual(24 * 3_600_000);
    expect(clock.now() - T0).toBeLessThanOrEqual(26 * 3_600_000);
    expect(hits).toBe(attempts);
    const log = await store.listDeliveries('sub_1', { limit: 1 });
    expect(log.items[0]!.outcome).toBe('gave_up');

    status = 200;
    const [again] = await new AppEvents(store).emit('contact.help', {}, { all: true }, clock.now());
    await store.deleteSubscription('sub_1', clock.now());
    expect(await d.runOnce()).toEqual([]);
    expect((await store.getOutboxRow(again!.id))!.status).toBe('failed');
    await d.stop();
  });
});
