/**
 * Dispatcher against the real SQLite store (temp file) and the real sandbox over HTTP.
 * Time is a ManualClock shared by the dispatcher and the sandbox; tests drive `runOnce()` and assert on state.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.ts';
import type { MessageRecord } from '../../src/domain/message.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, type DispatchConfig } from '../../src/config/schema.ts';
import { Dispatcher, type DispatchGuard } from '../../src/dispatch/dispatcher.ts';
import { senderKey } from '../../src/dispatch/rate-limit.ts';
import { createTwilioAdapter } from '../../src/providers/twilio/adapter.ts';
import type { ProviderAdapter } from '../../src/providers/provider.ts';
import type { Store } from '../../src/store/store.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { dispatchConfig, insertRecords, makeRecord, memoryLog, startTestSandbox, tempDir, waitFor, type RecordInput, type SandboxHandle } from './support.ts';

const LONG = '+15005550006';
const OTHER = '+18005550100';

let clock: ManualClock;
let sb: SandboxHandle;
let store: Store;
let cleanup: () => void;
let dbPath: string;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  sb = await startTestSandbox({ clock });
  const t = tempDir();
  cleanup = t.cleanup;
  dbPath = join(t.dir, 'test.db');
  store = await createSqliteStore({ path: dbPath });
  await store.migrate();
});

afterEach(async () => {
  await store?.close();
  await sb?.close();
  cleanup?.();
});

function adapterFor(timeoutMs = 2_000): ProviderAdapter {
  return createTwilioAdapter(
    { name: 'sandbox', provider: 'twilio', baseUrl: sb.url, accountSid: SANDBOX_ACCOUNT_SID, authToken: SANDBOX_AUTH_TOKEN, apiKeySid: null, apiKeySecret: null, senders: [] },
    { publicUrl: 'http://127.0.0.1:9', timeoutMs },
  );
}

function dispatcher(over: { config?: Partial<DispatchConfig>; mps?: Record<string, number>; adapter?: ProviderAdapter; owner?: string; random?: () => number; guard?: DispatchGuard } = {}) {
  const { log, lines } = memoryLog();
  const rates = new Map(Object.entries(over.mps ?? { [senderKey('sandbox', LONG)]: 1, [senderKey('sandbox', OTHER)]: 3 }));
  const d = new Dispatcher({
    store,
    adapters: new Map([['sandbox', over.adapter ?? adapterFor()]]),
    clock,
    config: dispatchConfig(over.config),
    rates,
    defaultMps: 10,
    owner: over.owner ?? 'test-dispatcher',
    log,
    random: over.random ?? (() => 0.5),
    ...(over.guard ? { guard: over.guard } : {}),
  });
  return { d, lines };
}

async function enqueue(...inputs: Omit<RecordInput, 'now'>[]): Promise<MessageRecord[]> {
  return insertRecords(store, inputs.map((i) => makeRecord({ now: clock.now(), ...i })));
}

async function get(id: string): Promise<MessageRecord> {
  const m = await store.getMessage(id);
  if (!m) throw new Error(`no message ${id}`);
  return m;
}

async function eventTypes(id: string): Promise<string[]> {
  return (await store.listEvents(id)).map((e) => e.type);
}

describe('priority', () => {
  it('an OTP accepted after a promotional backlog on the same sender is submitted first', async () => {
    const promos = await enqueue(...Array.from({ length: 5 }, () => ({ from: LONG, category: 'promotional' as const })));
    clock.advance(10);
    const [otp] = await enqueue({ from: LONG, category: 'otp' });
    const { d } = dispatcher();
    const r = await d.runOnce();
    expect(r.claimed).toBe(1);
    expect((await get(otp!.id)).submitState).toBe('accepted');
    for (const p of promos) expect((await get(p.id)).status).toBe('queued');
    // Next window: the oldest promotional one.
    clock.advance(1_100);
    await d.runOnce();
    expect((await get(promos[0]!.id)).submitState).toBe('accepted');
    expect((await get(promos[1]!.id)).status).toBe('queued');
    // Order at the sandbox matches.
    const order = sb.submissions().map((s) => s.body);
    expect(order.slice(0, 2)).toEqual([otp!.body, promos[0]!.body]);
  });
});

describe('priority behind a deep backlog', () => {
  it('with 100,000 promotional messages queued on the same sender, a new OTP is its next submit, then FIFO resumes', async () => {
    // The backlog is bulk-loaded (as the claim-depth benchmark does): oldest first, all due, on LONG (1 MPS).
    const now = clock.now();
    const db = new BetterSqlite3(dbPath);
    db.prepare(
      `INSERT INTO messages (id, account, provider, to_number, from_number, body, segments, encoding, category, priority, status, submit_state,
                             attempts, next_attempt_at, expires_at, created_at, updated_at)
       WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 99999)
       SELECT 'msg_backlog_' || i, 'sandbox', 'twilio', '+1415555' || (1000 + i % 9000), ?, 'backlog ' || i, 1, 'GSM-7', 'promotional', 1,
              'queued', 'none', 0, ? - 1, ? + 3600000, ? - 100000 + i, ? - 100000 + i FROM c`,
    ).run(LONG, now, now, now, now);
    db.close();
    clock.advance(10);
    const [otp] = await enqueue({ from: LONG, category: 'otp' });
    const { d } = dispatcher();
    expect((await d.runOnce()).claimed).toBe(1);
    expect((await get(otp!.id)).submitState).toBe('accepted');
    clock.advance(1_050);
    expect((await d.runOnce()).claimed).toBe(1);
    expect(sb.submissions().map((x) => x.body)).toEqual([otp!.body, 'backlog 0']);
    expect((await store.countByStatus()).queued).toBe(99_999);
  });
});

describe('rate limiting', () => {
  it('1 MPS: runOnce at t, t+500, t+1050, t+1600, t+2100 claims exactly what the window allows', async () => {
    await enqueue(...Array.from({ length: 4 }, () => ({ from: LONG })));
    const { d } = dispatcher();
    const t = clock.now();
    const claimedAt: number[] = [];
    for (const off of [0, 500, 1_050, 1_600, 2_100, 2_600, 3_150]) {
      clock.set(t + off);
      const r = await d.runOnce();
      claimedAt.push(r.claimed);
    }
    // W = 1000 + 50 margin: claims at 0, 1050, 2100, 3150.
    expect(claimedAt).toEqual([1, 0, 1, 0, 1, 0, 1]);
    expect(sb.submissions().length).toBe(4);
  });

  it('wakeAt says when the window opens', async () => {
    await enqueue({ from: LONG }, { from: LONG });
    const { d } = dispatcher();
    const t = clock.now();
    const r = await d.runOnce();
    expect(r.claimed).toBe(1);
    expect(r.wakeAt).toBe(t + 1_050);
  });

  it('a 3-segment message books 3 windows', async () => {
    const [long] = await enqueue({ from: LONG, segments: 3, body: 'x'.repeat(400) });
    clock.advance(1);
    const [short] = await enqueue({ from: LONG });
    const { d } = dispatcher();
    const t = clock.now();
    expect((await d.runOnce()).claimed).toBe(1);
    expect((await get(long!.id)).submitState).toBe('accepted');
    for (const off of [1_050, 2_000]) {
      clock.set(t + off);
      expect((await d.runOnce()).claimed).toBe(0);
    }
    clock.set(t + 3 * 1_050);
    expect((await d.runOnce()).claimed).toBe(1);
    expect((await get(short!.id)).submitState).toBe('accepted');
  });

  it('senders are paced independently', async () => {
    await enqueue({ from: LONG }, { from: LONG }, { from: OTHER }, { from: OTHER }, { from: OTHER }, { from: OTHER });
    const { d } = dispatcher();
    const r = await d.runOnce();
    expect(r.claimed).toBe(1 + 3);
  });
});

describe('expiry', () => {
  it('validFor passes before dispatch → expired, never submitted', async () => {
    const [m] = await enqueue({ from: LONG, category: 'otp', validFor: 300 });
    clock.advance(300_000);
    const { d } = dispatcher();
    const r = await d.runOnce();
    expect(r).toMatchObject({ expired: 1, claimed: 0 });
    const rec = await get(m!.id);
    expect(rec.status).toBe('expired');
    expect(await eventTypes(m!.id)).toContain('expired');
    expect(sb.submissionsFor(m!.body)).toBe(0);
  });

  it('tells the provider how long it may keep the message (ValidityPeriod)', async () => {
    const [m] = await enqueue({ from: OTHER, validFor: 120 });
    clock.advance(20_000);
    const { d } = dispatcher();
    await d.runOnce();
    expect((await get(m!.id)).submitState).toBe('accepted');
  });
});

describe('retry and backoff', () => {
  it('500s are retried with growing delays, then it succeeds', async () => {
    const [m] = await enqueue({ from: OTHER });
    sb.fault({ kind: 'status', status: 500, code: 20500, count: 2 });
    const { d } = dispatcher();
    await d.runOnce();
    let rec = await get(m!.id);
    expect(rec).toMatchObject({ status: 'queued', submitState: 'none', attempts: 1 });
    const delay1 = rec.nextAttemptAt - clock.now();
    expect(delay1).toBeGreaterThan(0);
    // Not before it is due.
    clock.set(rec.nextAttemptAt - 1);
    expect((await d.runOnce()).claimed).toBe(0);
    clock.set(rec.nextAttemptAt);
    await d.runOnce();
    rec = await get(m!.id);
    expect(rec).toMatchObject({ status: 'queued', attempts: 2 });
    const delay2 = rec.nextAttemptAt - clock.now();
    expect(delay2).toBeGreaterThan(delay1);
    clock.set(rec.nextAttemptAt);
    await d.runOnce();
    rec = await get(m!.id);
    expect(rec).toMatchObject({ status: 'sending', submitState: 'accepted', attempts: 3 });
    expect(rec.providerMessageId).toMatch(/^SM/);
    const events = await store.listEvents(m!.id);
    const failed = events.filter((e) => e.type === 'submit_failed');
    expect(failed).toHaveLength(2);
    expect(failed[0]!.detail).toMatchObject({ kind: 'transient', attempt: 1 });
    expect(events.filter((e) => e.type === 'submitted')).toHaveLength(1);
    expect(sb.submissionsFor(m!.body)).toBe(3);
  });

  it('429 → rate_limited, retried after Retry-After', async () => {
    const [m] = await enqueue({ from: OTHER });
    sb.fault({ kind: 'status', status: 429, code: 20429, retryAfterS: 7, count: 1 });
    const { d } = dispatcher();
    const t = clock.now();
    await d.runOnce();
    const rec = await get(m!.id);
    expect(rec.status).toBe('queued');
    expect(rec.nextAttemptAt).toBe(t + 7_000);
    const ev = (await store.listEvents(m!.id)).find((e) => e.type === 'submit_failed')!;
    expect(ev.detail).toMatchObject({ kind: 'rate_limited', code: '20429', retryAt: t + 7_000 });
    clock.set(t + 7_000);
    await d.runOnce();
    expect((await get(m!.id)).submitState).toBe('accepted');
  });

  it('permanent 21211 → failed at once with the code kept', async () => {
    const [m] = await enqueue({ from: OTHER, to: '+15005550001' });
    const { d } = dispatcher();
    await d.runOnce();
    const rec = await get(m!.id);
    expect(rec).toMatchObject({ status: 'failed', errorCode: '21211', attempts: 1 });
    expect(rec.completedAt).toBe(clock.now());
    expect(await eventTypes(m!.id)).toEqual(['accepted', 'queued', 'submit_started', 'failed']);
  });

  it('maxAttempts exhausted → failed with the last code', async () => {
    const [m] = await enqueue({ from: OTHER });
    sb.fault({ kind: 'status', status: 503, code: 20503, count: 10 });
    const { d } = dispatcher({ config: { maxAttempts: 3 } });
    for (let i = 0; i < 3; i++) {
      const rec = await get(m!.id);
      clock.set(Math.max(clock.now(), rec.nextAttemptAt));
      expect((await d.runOnce()).claimed).toBe(1);
    }
    const rec = await get(m!.id);
    expect(rec).toMatchObject({ status: 'failed', attempts: 3 });
    expect(rec.errorCode).toBeTruthy();
    const last = (await store.listEvents(m!.id)).at(-1)!;
    expect(last).toMatchObject({ type: 'failed' });
    expect(last.detail).toMatchObject({ reason: 'max_attempts', attempt: 3 });
    expect(sb.submissionsFor(m!.body)).toBe(3);
  });
});

describe('ambiguous submits', () => {
  it('timeout → ambiguous → lookup finds it → no second submission', async () => {
    const [m] = await enqueue({ from: OTHER });
    sb.fault({ kind: 'slow', delayMs: 1_500, count: 1 });
    const { d } = dispatcher({ adapter: adapterFor(200), config: { reconcileDelayMs: 2_000 } });
    await d.runOnce();
    let rec = await get(m!.id);
    expect(rec).toMatchObject({ status: 'sending', submitState: 'ambiguous', leaseOwner: null });
    expect(rec.nextAttemptAt).toBe(clock.now() + 2_000);
    // Not looked up (nor re-sent) before reconcileDelayMs.
    expect(await d.runOnce()).toMatchObject({ claimed: 0, reconciled: 0 });
    clock.advance(2_000);
    expect(await d.runOnce()).toMatchObject({ reconciled: 1, claimed: 0 });
    rec = await get(m!.id);
    expect(rec.submitState).toBe('accepted');
    expect(rec.providerMessageId).toMatch(/^SM/);
    const ev = (await store.listEvents(m!.id)).find((e) => e.type === 'reconciled')!;
    expect(ev.detail).toMatchObject({ found: true, providerMessageId: rec.providerMessageId });
    clock.advance(60_000);
    await d.runOnce();
    expect(sb.submissionsFor(m!.body)).toBe(1);
  });

  it('not found at the provider → sent again exactly once', async () => {
    const [m] = await enqueue({ from: OTHER });
    // An adapter whose first submit "times out" before reaching the sandbox: the request never arrives.
    const real = adapterFor();
    let first = true;
    const flaky: ProviderAdapter = {
      provider: real.provider,
      account: real.account,
      lookup: (q) => real.lookup(q),
      check: () => real.check(),
      send: async (msg, o) => {
        if (first) {
          first = false;
          const { ProviderError } = await import('../../src/providers/provider.ts');
          throw new ProviderError('ambiguous', 'UND_ERR_SOCKET', 'other side closed');
        }
        return real.send(msg, o);
      },
    };
    const { d } = dispatcher({ adapter: flaky, config: { reconcileDelayMs: 1_000, submitTimeoutMs: 2_000 } });
    const t = clock.now();
    await d.runOnce();
    expect((await get(m!.id)).submitState).toBe('ambiguous');
    expect(sb.submissionsFor(m!.body)).toBe(0);
    clock.advance(1_000);
    // Not found yet, but the provider could still be processing it: no re-send before 3 submit timeouts have passed.
    expect(await d.runOnce()).toMatchObject({ reconciled: 1, claimed: 0 });
    expect(await get(m!.id)).toMatchObject({ submitState: 'ambiguous', nextAttemptAt: t + 6_000 });
    expect((await store.listEvents(m!.id)).at(-1)).toMatchObject({ type: 'ambiguous', detail: { reason: 'not_found_yet', lookupAt: t + 6_000 } });
    clock.set(t + 6_000);
    const r = await d.runOnce();
    expect(r.reconciled).toBe(1);
    // Requeued with nextAttemptAt = now and claimed in the same round.
    expect(r.claimed).toBe(1);
    const rec = await get(m!.id);
    expect(rec).toMatchObject({ submitState: 'accepted', attempts: 2 });
    const types = await eventTypes(m!.id);
    expect(types).toEqual(['accepted', 'queued', 'submit_started', 'ambiguous', 'ambiguous', 'reconciled', 'submit_started', 'submitted']);
    clock.advance(60_000);
    await d.runOnce();
    expect(sb.submissionsFor(m!.body)).toBe(1);
  });

  it('lookup failure keeps it ambiguous and retries the lookup later', async () => {
    const [m] = await enqueue({ from: OTHER });
    const real = adapterFor();
    const { ProviderError } = await import('../../src/providers/provider.ts');
    let lookups = 0;
    const adapter: ProviderAdapter = {
      provider: 'twilio',
      account: 'sandbox',
      check: () => real.check(),
      send: async () => {
        throw new ProviderError('ambiguous', 'UND_ERR_HEADERS_TIMEOUT', 'timeout');
      },
      lookup: async () => {
        lookups++;
        throw new ProviderError('transient', 'ECONNREFUSED', 'refused');
      },
    };
    const { d } = dispatcher({ adapter, config: { reconcileDelayMs: 1_000 } });
    await d.runOnce();
    clock.advance(1_000);
    await d.runOnce();
    const rec = await get(m!.id);
    expect(lookups).toBe(1);
    expect(rec).toMatchObject({ status: 'sending', submitState: 'ambiguous', leaseOwner: null });
    expect(rec.nextAttemptAt).toBeGreaterThan(clock.now());
    const last = (await store.listEvents(m!.id)).at(-1)!;
    expect(last).toMatchObject({ type: 'ambiguous' });
    expect(last.detail).toMatchObject({ reason: 'lookup_failed' });
    // Not re-sent, not looked up again before it is due.
    await d.runOnce();
    expect(lookups).toBe(1);
  });
});

describe('stale lease takeover', () => {
  it('a dispatcher that died mid-submit: another takes over after the lease, finds it, does not re-send', async () => {
    const [m] = await enqueue({ from: OTHER });
    // Dispatcher A claims and its request reaches the sandbox, then "dies" before recording the outcome:
    // simulated by claiming through the store and sending through the adapter directly.
    const t = clock.now();
    const claim = await store.claimDue({ now: t, owner: 'dead', leaseMs: 5_000, max: 10, windowMs: 1_050, rates: new Map(), defaultMps: 10 });
    expect(claim.claimed.map((c) => c.id)).toEqual([m!.id]);
    await adapterFor().send({ id: m!.id, to: m!.to, from: m!.from, body: m!.body });

    const { d } = dispatcher({ owner: 'survivor', config: { leaseMs: 5_000 } });
    clock.advance(4_999);
    expect(await d.runOnce()).toMatchObject({ reconciled: 0, claimed: 0 });
    expect((await get(m!.id)).leaseOwner).toBe('dead');
    clock.advance(1);
    expect(await d.runOnce()).toMatchObject({ reconciled: 1 });
    const rec = await get(m!.id);
    // The sandbox shares the clock: 5 s after the submit it has delivered, and the lookup reports that.
    expect(rec).toMatchObject({ status: 'delivered', submitState: 'accepted', leaseOwner: null });
    expect(rec.providerMessageId).toMatch(/^SM/);
    expect(await eventTypes(m!.id)).toContain('reconciled');
    expect(sb.submissionsFor(m!.body)).toBe(1);
  });

  it('a claimed message whose request never left is sent after the takeover, once', async () => {
    const [m] = await enqueue({ from: OTHER });
    await store.claimDue({ now: clock.now(), owner: 'dead', leaseMs: 5_000, max: 10, windowMs: 1_050, rates: new Map(), defaultMps: 10 });
    const { d } = dispatcher({ owner: 'survivor', config: { leaseMs: 5_000, submitTimeoutMs: 2_000 } });
    clock.advance(5_000);
    // Not found 5 s after the claim; re-sent only once 3 submit timeouts (6 s) have passed.
    expect(await d.runOnce()).toMatchObject({ reconciled: 1, claimed: 0 });
    expect(sb.submissionsFor(m!.body)).toBe(0);
    clock.advance(1_000);
    const r = await d.runOnce();
    expect(r).toMatchObject({ reconciled: 1, claimed: 1 });
    expect((await get(m!.id)).submitState).toBe('accepted');
    expect(sb.submissionsFor(m!.body)).toBe(1);
  });
});

describe('loop', () => {
  it('start() dispatches without runOnce, wake() picks up new work, stop() releases', async () => {
    const { d } = dispatcher({ config: { idlePollMs: 60_000 } });
    d.start();
    const [a] = await enqueue({ from: OTHER });
    d.wake();
    await waitFor(async () => (await get(a!.id)).submitState === 'accepted', 'first message submitted');
    const [b] = await enqueue({ from: OTHER });
    d.wake();
    await waitFor(async () => (await get(b!.id)).submitState === 'accepted', 'second message submitted after wake()');
    await d.stop();
    expect(sb.submissions().length).toBe(2);
  });

  it('a failing round is logged and the loop continues', async () => {
    const [m] = await enqueue({ from: OTHER });
    let failNext = true;
    const orig = store.expireDue.bind(store);
    const flakyStore = new Proxy(store, {
      get(target, prop) {
        if (prop === 'expireDue') {
          return async (now: number, max: number) => {
            if (failNext) {
              failNext = false;
              throw new Error('database is locked');
            }
            return orig(now, max);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const { log, lines } = memoryLog();
    const d = new Dispatcher({
      store: flakyStore,
      adapters: new Map([['sandbox', adapterFor()]]),
      clock,
      config: dispatchConfig({ idlePollMs: 20 }),
      rates: new Map(),
      defaultMps: 10,
      owner: 'loop',
      log,
    });
    d.start();
    await waitFor(async () => (await get(m!.id)).submitState === 'accepted', 'submitted after a failed round');
    await d.stop();
    expect(lines.some((l) => l.level === 'error' && l.msg === 'dispatch round failed')).toBe(true);
  });
});

describe('strict pacing at the carrier (docs/reference/dispatch.md)', () => {
  it('a submit answered late moves its booking to the response time: the next one waits a window after it', async () => {
    const [first, second] = await enqueue({ from: LONG }, { from: LONG });
    const real = adapterFor();
    // The request spends 400 ms on the wire (CPU load): the carrier may receive it that late.
    const slow: ProviderAdapter = { ...real, send: async (r) => (clock.advance(400), real.send(r)) };
    const { d } = dispatcher({ adapter: slow });
    const t = clock.now();
    expect((await d.runOnce()).claimed).toBe(1);
    expect((await get(first!.id)).submittedAt).toBe(t + 400);
    // Booked at claim time only, the second could go at t + 1050, 650 ms after the first reached the carrier.
    clock.set(t + 1_050);
    const early = await d.runOnce();
    expect(early.claimed).toBe(0);
    expect(early.wakeAt).toBe(t + 400 + 1_050);
    clock.set(t + 1_450);
    expect((await d.runOnce()).claimed).toBe(1);
    expect((await get(second!.id)).status).not.toBe('queued');
  });

  it('a submit that could outlive its lease (stalled before sending) is handed back unsent, then sent once', async () => {
    const [m] = await enqueue({ from: OTHER });
    const leaseMs = 10_000;
    let stall = true;
    // A guard that stalls 8.5 s before letting the submit go: only 1.5 s of lease left, less than the submit timeout.
    const guard: DispatchGuard = {
      around: async <T,>(_m: MessageRecord, submit: () => Promise<T>) => {
        if (stall) clock.advance(8_500);
        return { kind: 'proceed' as const, value: await submit() };
      },
    };
    const { d } = dispatcher({ config: { leaseMs, submitTimeoutMs: 2_000 }, guard });
    expect((await d.runOnce()).claimed).toBe(1);
    expect(sb.submissionsFor(m!.body)).toBe(0);
    const back = await get(m!.id);
    expect(back).toMatchObject({ status: 'queued', submitState: 'none', attempts: 0, leaseOwner: null });
    expect((await store.listEvents(m!.id)).at(-1)).toMatchObject({ type: 'deferred', detail: { reason: 'lease_too_short' } });
    stall = false;
    await waitFor(async () => ((await d.runOnce()).claimed === 1 ? true : (clock.advance(100), false)), 'claimed again');
    expect(sb.submissionsFor(m!.body)).toBe(1);
    expect((await get(m!.id)).submitState).toBe('accepted');
  });
});
