/**
 * The real dispatch engine (src/dispatch/dispatcher.ts) on several PostgreSQL store instances (one pool each, as
 * separate Switchboard processes would have) sharing one schema. One instance claims a batch and dies mid-submit;
 * the survivors take its work over once the leases expire. Time is a ManualClock shared by every instance, so
 * pacing is checked against the exact times the carrier received each submit.
 *
 * The carrier is an in-memory provider adapter that records every submit (the sandbox carrier is exercised by the
 * end-to-end suites; here the subject is the store under several dispatchers).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DispatchConfig } from '../../config/schema.ts';
import { Dispatcher } from '../../dispatch/dispatcher.ts';
import { maxWindowSum, senderKey, type UsageEntry } from '../../dispatch/rate-limit.ts';
import { ManualClock } from '../../domain/clock.ts';
import type { Category, MessageRecord } from '../../domain/message.ts';
import type { LookupResult, ProviderAdapter, SendResult } from '../../providers/provider.ts';
import { contractMessage } from '../contract/store-contract.ts';
import type { Store } from '../store.ts';
import { checkPostgres, createTestSchema, describeTestDatabase, type TestSchema } from './test-db.ts';

const reach = await checkPostgres();
if (!reach.ok && process.env.CI) {
  describe('postgres multi-instance dispatch', () => {
    it(`PostgreSQL at ${describeTestDatabase()} is reachable`, () => {
      throw new Error(`PostgreSQL at ${describeTestDatabase()} is unreachable (${reach.reason}); CI requires it.`);
    });
  });
} else if (!reach.ok) {
  console.warn(`[multi-instance.test] skipping: PostgreSQL at ${describeTestDatabase()} is unreachable (${reach.reason}).`);
}

const ACCOUNT = 'acct';
const MARGIN = 50;
const W = 1_000 + MARGIN;

/** Records every submit with the (manual) time it arrived; lookups search what it received. */
class Carrier {
  readonly received: { id: string; from: string; body: string; segments: number; at: number; sid: string }[] = [];
  constructor(
    private readonly clock: ManualClock,
    private readonly segmentsOf: (id: string) => number,
  ) {}

  adapter(): ProviderAdapter {
    return {
      provider: 'twilio',
      account: ACCOUNT,
      send: async (m): Promise<SendResult> => {
        const sid = `SM${this.received.length.toString().padStart(32, '0')}`;
        this.received.push({ id: m.id, from: m.from, body: m.body, segments: this.segmentsOf(m.id), at: this.clock.now(), sid });
        return { providerMessageId: sid, providerStatus: 'queued', status: 'sending' };
      },
      lookup: async (q): Promise<LookupResult | null> => {
        const hit = this.received.find((r) => (q.providerMessageId ? r.sid === q.providerMessageId : r.from === q.from && r.body === q.body));
        return hit ? { providerMessageId: hit.sid, providerStatus: 'sent', status: 'sent', errorCode: null } : null;
      },
      check: async () => ({ ok: true, detail: 'in-memory carrier' }),
    };
  }
}

function config(over: Partial<DispatchConfig> = {}): DispatchConfig {
  return {
    enabled: true,
    concurrency: 8,
    leaseMs: 5_000,
    maxAttempts: 5,
    backoff: { baseMs: 1_000, maxMs: 10_000 },
    rateWindowMarginMs: MARGIN,
    submitTimeoutMs: 2_000,
    idlePollMs: 200,
    reconcileDelayMs: 2_000,
    ...over,
  };
}

describe.skipIf(!reach.ok)('postgres multi-instance dispatch', () => {
  let schema: TestSchema | null = null;
  const opened: Store[] = [];

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await schema?.drop();
    schema = null;
  });

  it('three instances, one dies mid-submit: every message reaches the carrier exactly once, no sender over its MPS', async () => {
    schema = await createTestSchema();
    const stores = [schema.store(), schema.store(), schema.store()];
    opened.push(...stores);
    await Promise.all(stores.map((s) => s.migrate()));

    const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
    const clock = new ManualClock(T0);
    const senders: Record<string, number> = { '+15550000001': 2, '+15550000002': 5, '+15550000003': 10 };
    const rates = new Map(Object.entries(senders).map(([from, mps]) => [senderKey(ACCOUNT, from), mps]));
    const froms = Object.keys(senders);
    const segs = [1, 1, 2, 1, 3];
    const records: MessageRecord[] = Array.from({ length: 240 }, (_, i) =>
      contractMessage({
        now: T0 - 60_000 + i,
        account: ACCOUNT,
        from: froms[i % froms.length],
        segments: segs[i % segs.length],
        category: (['otp', 'transactional', 'promotional'] as Category[])[i % 3],
        body: `multi-instance ${i}`,
      }),
    );
    const segmentsById = new Map(records.map((r) => [r.id, r.segments]));
    const out = await stores[0]!.insertMessages(records.map((message) => ({ message, events: [] })));
    expect(out.every((o) => o.inserted)).toBe(true);

    const carrier = new Carrier(clock, (id) => segmentsById.get(id)!);
    const make = (store: Store, owner: string, adapter: ProviderAdapter) =>
      new Dispatcher({ store, adapters: new Map([[ACCOUNT, adapter]]), clock, config: config(), rates, defaultMps: 1, owner, random: () => 0.5 });

    // Instance 2 claims a batch (as its dispatcher would), the carrier receives half of it, then the process dies
    // before recording anything: its store connections close, its leases stay behind.
    const dying = await stores[2]!.claimDue({ now: clock.now(), owner: 'inst-2', leaseMs: 5_000, max: 8, windowMs: W, rates, defaultMps: 1 });
    expect(dying.claimed.length).toBeGreaterThan(0);
    const doomedAdapter = carrier.adapter();
    for (const m of dying.claimed.slice(0, Math.ceil(dying.claimed.length / 2))) await doomedAdapter.send({ id: m.id, to: m.to, from: m.from, body: m.body });
    await stores[2]!.close();

    const live = [make(stores[0]!, 'inst-0', carrier.adapter()), make(stores[1]!, 'inst-1', carrier.adapter())];
    const done = async () => {
      const counts = await stores[0]!.countByStatus();
      if (counts.queued > 0) return false;
      const r = await stores[0]!.listMessages({ status: 'sending', limit: 1_000 });
      return r.items.every((m) => m.submitState === 'accepted');
    };
    let rounds = 0;
    for (; rounds < 3_000 && !(await done()); rounds++) {
      const results = await Promise.all(live.map((d) => d.runOnce()));
      const busy = results.some((r) => r.claimed + r.reconciled + r.expired > 0);
      const wakes = results.map((r) => r.wakeAt).filter((w): w is number => w !== null && w > clock.now());
      // Nothing happened: jump to the next moment something can (a window opening, a due retry, or a lease running out).
      if (!busy) clock.set(wakes.length > 0 ? Math.min(...wakes) : clock.now() + 500);
    }
    expect(await done()).toBe(true);

    // Exactly once at the carrier.
    const perMessage = new Map<string, number>();
    for (const r of carrier.received) perMessage.set(r.id, (perMessage.get(r.id) ?? 0) + 1);
    expect(perMessage.size).toBe(records.length);
    expect([...perMessage.values()].every((n) => n === 1)).toBe(true);

    // No sender over its MPS in any window, measured at the carrier.
    for (const [from, mps] of Object.entries(senders)) {
      const usage: UsageEntry[] = [];
      for (const r of carrier.received.filter((x) => x.from === from)) {
        let left = r.segments;
        for (let k = 0; left > 0; k++) {
          usage.push({ at: r.at + k * W, segments: Math.min(mps, left) });
          left -= Math.min(mps, left);
        }
      }
      expect(maxWindowSum(usage, 1_000)).toBeLessThanOrEqual(mps);
    }

    // The dead instance's work was reconciled, not blindly re-sent: the half it submitted kept their carrier ids.
    for (const m of dying.claimed) {
      const rec = (await stores[0]!.getMessage(m.id))!;
      const sent = carrier.received.find((r) => r.id === m.id)!;
      expect(rec.providerMessageId).toBe(sent.sid);
      expect(rec.leaseOwner).toBeNull();
    }
    for (const d of live) await d.stop();
  });
});
