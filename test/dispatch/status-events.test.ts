/**
 * Status changes the dispatcher decides are reported exactly once, durably (docs/reference/dispatch.md "Status events"):
 * - a final status a status callback wrote before the dispatcher recorded the submit (or a reconcile) is not reported
 *   again by the dispatcher (`onFinal` not fired: the webhook path reported it);
 * - the `message.status` outbox rows of an end the dispatcher decides (expired, failed at submission, gave up after
 *   max attempts, a final status found by reconcile) are written in the same transaction as the change: a process
 *   that dies right after the change (a store call that throws after doing its work, as in
 *   test/compliance/nothing-lost.test.ts) still leaves exactly one event, also after a restart and further rounds.
 * Both engines; the compliance module provides the rows (`dispatchStatusOutbox`) as src/app.ts wires it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createComplianceModule, type ComplianceModule } from '../../src/compliance/module.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import type { MessageRecord, NewEvent } from '../../src/domain/message.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { ProviderError, type LookupResult, type ProviderAdapter, type SendResult } from '../../src/providers/provider.ts';
import { checkPostgres } from '../../src/store/postgres/test-db.ts';
import type { OutboxRow, Store } from '../../src/store/store.ts';
import { decideStatusUpdate } from '../../src/webhooks/status-update.ts';
import { crashing, dispatchConfig, insertRecords, makeRecord, storeEngines, type Crash, type Engine } from './support.ts';

const T0 = Date.UTC(2026, 3, 7, 9, 0, 0);
const KEY_ID = 'key_billing';

const pgReach = await checkPostgres();
const engines = storeEngines('sb-status-events-');

/** A provider whose answers the test scripts. */
function scriptedAdapter(o: { send: (id: string) => Promise<SendResult>; lookup?: () => Promise<LookupResult | null> }): ProviderAdapter & { sends: number; lookups: number } {
  const a = {
    provider: 'twilio',
    account: 'sandbox',
    sends: 0,
    lookups: 0,
    send: async (m: { id: string }) => {
      a.sends++;
      return o.send(m.id);
    },
    lookup: async () => {
      a.lookups++;
      return o.lookup ? o.lookup() : null;
    },
    check: async () => ({ ok: true, detail: 'scripted' }),
  };
  return a;
}

/** What the webhook route does for a status callback (decide + one compare-and-set), without HTTP. */
async function applyCallback(store: Store, id: string, providerMessageId: string, providerStatus: 'delivered' | 'failed', now: number): Promise<void> {
  const m = (await store.getMessage(id))!;
  const d = decideStatusUpdate(m, { providerMessageId, providerStatus, mapped: providerStatus, errorCode: null, errorMessage: null }, now);
  if (d.action !== 'advance') throw new Error(`callback would not apply: ${d.action}`);
  const event: NewEvent = { messageId: id, type: 'status', status: d.to, at: now, detail: { applied: true, from: m.status } };
  if (!(await store.transition({ id, from: d.from, patch: d.patch, now, event }))) throw new Error('callback lost its compare-and-set');
}

describe.each(engines)('status events of dispatcher decisions (%s)', (name, makeEngine) => {
  const run = name === 'sqlite' || pgReach.ok || !!process.env.CI;
  let engine: Engine;
  let clock: ManualClock;
  let config: Readonly<Config>;
  const opened: { store: Store; module: ComplianceModule; dispatcher: Dispatcher }[] = [];
  let inspectAt = 0;

  beforeEach(async () => {
    if (!run) return;
    engine = await makeEngine();
    clock = new ManualClock(T0);
    config = loadConfig({ env: {}, file: null, cwd: process.cwd(), overrides: { logLevel: 'silent' } });
    const store = engine.open();
    await store.migrate();
    await store.createApiKey({ id: KEY_ID, name: 'billing', hash: 'h'.repeat(64), prefix: 'sb_billing', scopes: ['messages:send'], account: 'sandbox', createdAt: T0, revokedAt: null });
    await store.createSubscription({
      id: 'sub_billing',
      keyId: KEY_ID,
      app: 'billing',
      url: 'https://billing.example.com/hooks/switchboard',
      events: ['message.status'],
      secrets: ['whsec_test'],
      status: 'active',
      disabledReason: null,
      createdAt: T0,
      deletedAt: null,
    });
    await store.close();
  });

  afterEach(async () => {
    if (!run) return;
    await shutdown();
    await engine.cleanup();
  });

  async function shutdown(): Promise<void> {
    for (const o of opened.splice(0)) {
      await o.module.stop();
      await o.store.close();
    }
  }

  /** A process: the store (crashing once at `crash`), the compliance module and the dispatcher, as app.ts wires them. */
  async function boot(adapter: ProviderAdapter, o: { crash?: Crash; maxAttempts?: number } = {}) {
    const store = engine.open();
    await store.migrate();
    const s = crashing(store, o.crash ?? null);
    const module = createComplianceModule({ store: s, clock, config, owner: `owner-${opened.length}` });
    const finals: MessageRecord[] = [];
    const submitted: MessageRecord[] = [];
    const dispatcher = new Dispatcher({
      store: s,
      adapters: new Map([['sandbox', adapter]]),
      clock,
      config: dispatchConfig({ maxAttempts: o.maxAttempts ?? 5, reconcileDelayMs: 1_000, submitTimeoutMs: 2_000 }),
      rates: new Map(),
      defaultMps: 100,
      owner: `owner-${opened.length}`,
      statusOutbox: (now) => module.dispatchStatusOutbox(now),
      hooks: {
        onSubmitted: (m) => void submitted.push(m),
        onFinal: (m) => {
          finals.push(m);
          module.onFinal(m);
        },
      },
    });
    opened.push({ store, module, dispatcher });
    return { store, module, dispatcher, finals, submitted };
  }

  async function enqueue(store: Store, validFor = 3600): Promise<MessageRecord> {
    const [m] = await insertRecords(store, [{ ...makeRecord({ now: clock.now(), validFor }), keyId: KEY_ID }]);
    return m!;
  }

  /** Every app event the deliverer would send (pending outbox rows), read through the port. */
  async function statusEvents(store: Store): Promise<{ id: string; status: string }[]> {
    inspectAt += 1;
    const rows: OutboxRow[] = await store.claimDueDeliveries({ now: T0 + 365 * 86_400_000 + inspectAt * 10_000, owner: 'inspector', leaseMs: 1, max: 1_000 });
    return rows.map((r) => {
      const p = JSON.parse(r.payload) as { type: string; data: { id: string; status: string } };
      expect(p.type).toBe('message.status');
      return { id: p.data.id, status: p.data.status };
    });
  }

  const never = async (): Promise<SendResult> => {
    throw new Error('not expected to send');
  };

  // ------------------------------------------------------------------ exactly once

  it.skipIf(!run)('a callback finalised the message before the submit was recorded: the dispatcher does not report it again', async () => {
    let store!: Store;
    const adapter = scriptedAdapter({
      send: async (id) => {
        // The delivery report overtakes the 201 (the webhook path applies and reports it).
        await applyCallback(store, id, 'SM1', 'delivered', clock.now());
        return { providerMessageId: 'SM1', providerStatus: 'queued', status: 'sending' };
      },
    });
    const p = await boot(adapter);
    store = p.store;
    const m = await enqueue(store);
    await p.dispatcher.runOnce();
    const after = (await store.getMessage(m.id))!;
    expect(after).toMatchObject({ status: 'delivered', submitState: 'accepted', providerMessageId: 'SM1' });
    expect((await store.listEvents(m.id)).at(-1)).toMatchObject({ type: 'submitted', detail: { afterCallback: true } });
    expect(p.submitted.map((x) => x.id)).toEqual([m.id]);
    expect(p.finals).toEqual([]);
    // No message.status from the dispatcher either (the callback here wrote none: the webhook path owns it).
    expect(await statusEvents(store)).toEqual([]);
  });

  it.skipIf(!run)('reconcile: a callback finalised it during the lookup → not reported again; a final status found by the lookup → reported once', async () => {
    let store!: Store;
    let calls = 0;
    const adapter = scriptedAdapter({
      send: async () => {
        throw new ProviderError('ambiguous', 'TIMEOUT', 'no answer');
      },
      lookup: async () => {
        calls++;
        const [first, second] = ids;
        // First message: the callback lands while we look it up. Second: only the lookup knows it failed.
        if (calls === 1) await applyCallback(store, first!, 'SMa', 'delivered', clock.now());
        return calls === 1
          ? { providerMessageId: 'SMa', providerStatus: 'delivered', status: 'delivered', errorCode: null }
          : { providerMessageId: 'SMb', providerStatus: 'failed', status: 'failed', errorCode: '30008' };
      },
    });
    const p = await boot(adapter);
    store = p.store;
    const ids: string[] = [];
    ids.push((await enqueue(store)).id);
    await p.dispatcher.runOnce();
    clock.advance(1_000);
    await p.dispatcher.runOnce(); // reconciles the first
    ids.push((await enqueue(store)).id);
    await p.dispatcher.runOnce();
    clock.advance(1_000);
    await p.dispatcher.runOnce(); // reconciles the second
    expect((await store.getMessage(ids[0]!))!.status).toBe('delivered');
    expect((await store.getMessage(ids[1]!))!).toMatchObject({ status: 'failed', errorCode: '30008' });
    expect(p.finals.map((x) => [x.id, x.status])).toEqual([[ids[1], 'failed']]);
    expect(await statusEvents(store)).toEqual([{ id: ids[1], status: 'failed' }]);
  });

  // ------------------------------------------------------------------ durable: a crash right after the change

  it.skipIf(!run)('expired in expireDue, the process dies right after: exactly one message.status, also after a restart', async () => {
    const first = await boot(scriptedAdapter({ send: never }), { crash: { method: 'expireDue', when: 'after' } });
    const m = await enqueue(first.store, 60);
    clock.advance(60_000);
    await expect(first.dispatcher.runOnce()).rejects.toThrow('simulated crash after expireDue');
    expect((await first.store.getMessage(m.id))!.status).toBe('expired');
    await shutdown();

    const second = await boot(scriptedAdapter({ send: never }));
    await second.dispatcher.runOnce();
    expect(await statusEvents(second.store)).toEqual([{ id: m.id, status: 'expired' }]);
    expect(second.finals).toEqual([]);
  });

  const endings: { label: string; send: () => Promise<SendResult>; maxAttempts: number; status: string; code: string }[] = [
    {
      label: 'failed at submission (permanent 21211)',
      send: async () => {
        throw new ProviderError('permanent', '21211', "The 'To' number is not a valid phone number.", { httpStatus: 400 });
      },
      maxAttempts: 5,
      status: 'failed',
      code: '21211',
    },
    {
      label: 'gave up after max attempts (transient 500)',
      send: async () => {
        throw new ProviderError('transient', '20500', 'Internal Server Error', { httpStatus: 500 });
      },
      maxAttempts: 1,
      status: 'failed',
      code: '20500',
    },
    {
      label: 'the provider answered the submit with a final status',
      send: async () => ({ providerMessageId: 'SMx', providerStatus: 'failed', status: 'failed' }),
      maxAttempts: 5,
      status: 'failed',
      code: '',
    },
  ];

  it.skipIf(!run).each(endings)('$label, the process dies right after the change: exactly one message.status', async ({ send, maxAttempts, status, code }) => {
    const first = await boot(scriptedAdapter({ send }), { crash: { method: 'transition', when: 'after' }, maxAttempts });
    const m = await enqueue(first.store);
    await first.dispatcher.runOnce(); // the submit's outcome write commits, then the process "dies"
    const stored = (await first.store.getMessage(m.id))!;
    expect(stored.status).toBe(status);
    if (code) expect(stored.errorCode).toBe(code);
    expect(first.finals).toEqual([]); // it died before it could fire anything
    await shutdown();

    const second = await boot(scriptedAdapter({ send: never }));
    await second.dispatcher.runOnce();
    clock.advance(60_000);
    await second.dispatcher.runOnce();
    expect(await statusEvents(second.store)).toEqual([{ id: m.id, status }]);
  });

  it.skipIf(!run)('reconcile gives up (not found, validity passed), the process dies right after: exactly one message.status', async () => {
    const lookupNothing = scriptedAdapter({
      send: async () => {
        throw new ProviderError('ambiguous', 'TIMEOUT', 'no answer');
      },
      lookup: async () => null,
    });
    const setup = await boot(lookupNothing);
    const m = await enqueue(setup.store, 30);
    await setup.dispatcher.runOnce(); // ambiguous
    await shutdown();

    clock.advance(60_000); // past 3 × submitTimeoutMs and past validity
    const first = await boot(lookupNothing, { crash: { method: 'transition', when: 'after' } });
    await first.dispatcher.runOnce();
    expect((await first.store.getMessage(m.id))!.status).toBe('expired');
    await shutdown();

    const second = await boot(lookupNothing);
    await second.dispatcher.runOnce();
    expect(await statusEvents(second.store)).toEqual([{ id: m.id, status: 'expired' }]);
  });

  it.skipIf(!run)('without a crash: the module does not write the event a second time (onFinal only wakes delivery)', async () => {
    const p = await boot(
      scriptedAdapter({
        send: async () => {
          throw new ProviderError('permanent', '21211', 'invalid To');
        },
      }),
    );
    const failed = await enqueue(p.store);
    const expiring = await enqueue(p.store, 1);
    clock.advance(1_000);
    await p.dispatcher.runOnce(); // expires one, submits (and fails) the other
    expect((await p.store.getMessage(expiring.id))!.status).toBe('expired');
    expect((await p.store.getMessage(failed.id))!.status).toBe('failed');
    expect(p.finals.map((x) => x.id).sort()).toEqual([failed.id, expiring.id].sort());
    // Any write onFinal would have made has had several store round trips (another round) to land.
    await p.dispatcher.runOnce();
    const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
    expect((await statusEvents(p.store)).sort(byId)).toEqual(
      [
        { id: failed.id, status: 'failed' },
        { id: expiring.id, status: 'expired' },
      ].sort(byId),
    );
  });
});
