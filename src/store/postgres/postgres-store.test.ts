/**
 * The PostgreSQL store: the shared store contract, plus what only a multi-instance engine must prove — two
 * instances (two pools) claiming at once never claim the same message, a sender's rate holds across them, and
 * migrations racing from several instances apply once.
 *
 * Needs PostgreSQL (SWITCHBOARD_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test). When it is
 * unreachable the suite fails under CI and is skipped, with a warning, elsewhere.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { maxWindowSum, senderKey, type UsageEntry } from '../../dispatch/rate-limit.ts';
import { replayHistory } from '../../compliance/consent-policy.ts';
import type { MessageRecord } from '../../domain/message.ts';
import { contractMessage, describeStoreContract } from '../contract/store-contract.ts';
import type { ClaimRequest, Store } from '../store.ts';
import { POSTGRES_MIGRATIONS } from './migrations.ts';
import { createPostgresStore, postgresOptionsFromUrl } from './postgres-store.ts';
import { checkPostgres, createTestSchema, describeTestDatabase, pgTestFactory, TEST_DATABASE_URL, type TestSchema } from './test-db.ts';

const reach = await checkPostgres();
const where = describeTestDatabase();

if (!reach.ok && process.env.CI) {
  describe('postgres store', () => {
    it(`PostgreSQL at ${where} is reachable`, () => {
      throw new Error(`PostgreSQL at ${where} is unreachable (${reach.reason}); CI requires it. Set SWITCHBOARD_TEST_DATABASE_URL or start the server.`);
    });
  });
} else if (!reach.ok) {
  console.warn(`[postgres-store.test] skipping: PostgreSQL at ${where} is unreachable (${reach.reason}). Set SWITCHBOARD_TEST_DATABASE_URL to run it.`);
}

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A plain connection to the test database, outside any store. */
async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
const W = 1_050;

describe.skipIf(!reach.ok)('postgres store', () => {
  describeStoreContract('postgres', pgTestFactory);

  describe('postgres only', () => {
    const opened: Store[] = [];
    let schema: TestSchema | null = null;

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await schema?.drop();
      schema = null;
    });

    /** `n` instances (separate pools) on one fresh, migrated schema. */
    async function instances(n: number): Promise<Store[]> {
      schema = await createTestSchema();
      const stores = Array.from({ length: n }, () => schema!.store());
      opened.push(...stores);
      await stores[0]!.migrate();
      return stores;
    }

    async function insertAll(store: Store, records: MessageRecord[]): Promise<void> {
      for (let i = 0; i < records.length; i += 1_000) {
        const out = await store.insertMessages(records.slice(i, i + 1_000).map((message) => ({ message, events: [] })));
        expect(out.every((o) => o.inserted)).toBe(true);
      }
    }

    it('capabilities: postgres, multi-instance', () => {
      const s = createPostgresStore({ connectionString: TEST_DATABASE_URL });
      opened.push(s);
      expect(s.capabilities).toEqual({ name: 'postgres', multiInstance: true });
    });

    it('refuses a schema name that is not a plain identifier', () => {
      expect(() => createPostgresStore({ connectionString: TEST_DATABASE_URL, schema: 'x"; DROP TABLE y; --' })).toThrow(/schema name/);
    });

    it('migrations racing from four instances apply once', async () => {
      schema = await createTestSchema();
      const stores = Array.from({ length: 4 }, () => schema!.store());
      opened.push(...stores);
      const results = await Promise.all(stores.map((s) => s.migrate()));
      const names = POSTGRES_MIGRATIONS.map((m) => m.name);
      expect(results.filter((r) => r.length > 0)).toEqual([names]);
      expect(results.flat()).toEqual(names);
      for (const s of stores) expect(await s.appliedMigrations()).toEqual(names);
      // Each migration is recorded once.
      const other = schema.store();
      opened.push(other);
      expect(await other.migrate()).toEqual([]);
    });

    it('a failing migration leaves nothing behind and reports its name', async () => {
      schema = await createTestSchema();
      const bad = schema.store({ migrations: [...POSTGRES_MIGRATIONS, { name: '9999_broken', sql: 'CREATE TABLE __SCHEMA__.half (x INT); SELECT no_such_column FROM __SCHEMA__.half;' }] });
      opened.push(bad);
      await expect(bad.migrate()).rejects.toThrow(/9999_broken/);
      expect(await bad.appliedMigrations()).toEqual(POSTGRES_MIGRATIONS.map((m) => m.name));
      expect(await withClient((c) => c.query('SELECT to_regclass($1) AS t', [`"${schema!.schema}".half`]))).toMatchObject({ rows: [{ t: null }] });
      const good = schema.store();
      opened.push(good);
      expect(await good.migrate()).toEqual([]);
      await expect(good.ping()).resolves.toBeUndefined();
    });

    it('a queued row locked by another transaction is skipped (SKIP LOCKED), not waited for', async () => {
      const [a] = await instances(1);
      const [head, second, third] = [0, 1, 2].map((i) => contractMessage({ now: T0 - 100 + i, from: '+1LOCKED' }));
      await insertAll(a!, [head!, second!, third!]);
      const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT id FROM "${schema!.schema}".messages WHERE id = $1 FOR UPDATE`, [head!.id]);
        const res = await a!.claimDue({ now: T0, owner: 'a', leaseMs: 30_000, max: 10, windowMs: W, rates: new Map(), defaultMps: 100 });
        expect(res.claimed.map((m) => m.id)).toEqual([second!.id, third!.id]);
        expect((await a!.getMessage(head!.id))?.status).toBe('queued');
        await holder.query('ROLLBACK');
        const after = await a!.claimDue({ now: T0 + 1, owner: 'a', leaseMs: 30_000, max: 10, windowMs: W, rates: new Map(), defaultMps: 100 });
        expect(after.claimed.map((m) => m.id)).toEqual([head!.id]);
      } finally {
        await holder.end();
      }
    });

    it('a skipped row is claimed on a later round and its window is not used up meanwhile', async () => {
      // mps 1: the head is locked elsewhere (e.g. being canceled). Nothing of that sender goes this round (the
      // message behind it was planned for the next window), the claim asks to be woken right away, and the head
      // goes as soon as the lock is gone.
      const [a] = await instances(1);
      const rates = new Map([[senderKey('acct', '+1TIGHT'), 1]]);
      const [head, next] = [0, 1].map((i) => contractMessage({ now: T0 - 100 + i, from: '+1TIGHT' }));
      await insertAll(a!, [head!, next!]);
      const claim = (now: number) => a!.claimDue({ now, owner: 'a', leaseMs: 30_000, max: 10, windowMs: W, rates, defaultMps: 1 });
      const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT id FROM "${schema!.schema}".messages WHERE id = $1 FOR UPDATE`, [head!.id]);
        expect(await claim(T0)).toEqual({ claimed: [], wakeAt: T0 });
        await holder.query('ROLLBACK');
      } finally {
        await holder.end();
      }
      const got = (await claim(T0)).claimed;
      expect(got.map((m) => m.id)).toEqual([head!.id]);
      await answered(a!, got, T0);
      expect((await claim(T0 + W - 1)).claimed).toEqual([]);
      expect((await claim(T0 + W)).claimed.map((m) => m.id)).toEqual([next!.id]);
    });

    it('refuses a database migrated by a newer version, or with a different history', async () => {
      const [a] = await instances(1);
      const older = schema!.store({ migrations: POSTGRES_MIGRATIONS.slice(0, 1) });
      opened.push(older);
      await expect(older.migrate()).rejects.toThrow(/newer than this version/);
      const other = schema!.store({ migrations: [{ name: '0001_something_else', sql: 'SELECT 1' }, ...POSTGRES_MIGRATIONS.slice(1)] });
      opened.push(other);
      await expect(other.migrate()).rejects.toThrow(/history does not match/);
      expect(await a!.appliedMigrations()).toEqual(POSTGRES_MIGRATIONS.map((m) => m.name));
    });

    it('consent changes racing from several instances are applied one at a time', async () => {
      const stores = await instances(3);
      const contact = '+14155550123';
      const changes = Array.from({ length: 12 }, (_, i) => ({
        contact,
        program: 'marketing',
        state: (i % 2 ? 'opted_in' : 'opted_out') as 'opted_in' | 'opted_out',
        source: 'api' as const,
        at: T0 + (i % 5) * 1_000 + i,
        evidence: { note: `change ${i}` },
      }));
      const results = await Promise.all(changes.map((event, i) => stores[i % 3]!.recordConsent({ event, programSenders: [], outbox: [], now: T0 + 60_000 })));
      expect(results.every((r) => r.result.accepted)).toBe(true);
      const history = await stores[0]!.listConsentHistory(contact, 'marketing');
      expect(history).toHaveLength(changes.length);
      // The snapshot is what replaying the whole history gives, whatever order the instances wrote in.
      expect(await stores[1]!.getConsent(contact, 'marketing')).toEqual([replayHistory(contact, 'marketing', history)]);
    });

    it('outbox rows are claimed by one instance at a time', async () => {
      const stores = await instances(3);
      await stores[0]!.createSubscription({
        id: 'sub_1', keyId: 'key_a', app: 'app', url: 'https://example.com/h', events: ['message.received'], secrets: ['s'], status: 'active', disabledReason: null, createdAt: T0, deletedAt: null,
      });
      await stores[0]!.enqueueEvents(
        Array.from({ length: 60 }, (_, i) => ({ id: `dl_${i}`, eventId: `evt_${i}`, subscriptionId: 'sub_1', type: 'message.received' as const, payload: `{"n":${i}}`, nextAttemptAt: T0, createdAt: T0 })),
      );
      const claims = await Promise.all(stores.flatMap((st, i) => [0, 1].map((k) => st.claimDueDeliveries({ now: T0, owner: `o${i}-${k}`, leaseMs: 10_000, max: 15 }))));
      const ids = claims.flat().map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toHaveLength(60);
    });

    it('two instances claiming concurrently never claim the same message, and take it all', async () => {
      const [a, b] = await instances(2);
      const senders = ['+1555000001', '+1555000002', '+1555000003', '+1555000004'];
      const records = Array.from({ length: 800 }, (_, i) => contractMessage({ now: T0 - 10_000 + i, from: senders[i % senders.length] }));
      await insertAll(a!, records);
      const req = (owner: string): ClaimRequest => ({ now: T0, owner, leaseMs: 30_000, max: 25, windowMs: W, rates: new Map(), defaultMps: 1_000 });
      const claimedBy = new Map<string, string>();
      const dupes: string[] = [];
      const loop = async (store: Store, owner: string) => {
        for (let round = 0; round < 200; round++) {
          const res = await store.claimDue(req(owner));
          for (const m of res.claimed) {
            if (claimedBy.has(m.id)) dupes.push(m.id);
            claimedBy.set(m.id, owner);
          }
          if (res.claimed.length === 0 && res.wakeAt === null) return;
        }
      };
      await Promise.all([loop(a!, 'a'), loop(b!, 'b'), loop(a!, 'a2'), loop(b!, 'b2')]);
      expect(dupes).toEqual([]);
      expect(claimedBy.size).toBe(records.length);
      const counts = await a!.countByStatus();
      expect(counts.sending).toBe(records.length);
      expect(counts.queued).toBe(0);
      // Every claim left exactly one submit_started event and attempts = 1.
      for (const r of records.slice(0, 50)) {
        const m = await b!.getMessage(r.id);
        expect(m).toMatchObject({ attempts: 1, leaseOwner: claimedBy.get(r.id) });
        expect((await b!.listEvents(r.id)).filter((e) => e.type === 'submit_started')).toHaveLength(1);
      }
    });

    it('the per-sender rate holds across instances: claimed segments per sender per window never exceed mps', async () => {
      const [a, b, c] = await instances(3);
      const slow = '+1555111111';
      const fast = '+1555222222';
      const rates = new Map([
        [senderKey('acct', slow), 2],
        [senderKey('acct', fast), 5],
      ]);
      const segs = [1, 2, 1, 3, 1, 1, 2];
      const records = Array.from({ length: 60 }, (_, i) =>
        contractMessage({ now: T0 - 10_000 + i, from: i % 2 ? slow : fast, segments: segs[i % segs.length], category: i % 5 === 0 ? 'otp' : 'promotional' }),
      );
      await insertAll(a!, records);
      const bookings = new Map<string, UsageEntry[]>([
        [slow, []],
        [fast, []],
      ]);
      const claimedAt = new Map<string, number>();
      // Three instances share one simulated clock that only moves forward: each round, all three claim at `now`
      // concurrently, then the clock moves to the earliest wakeAt any of them reported.
      let now = T0;
      for (let round = 0; round < 400 && claimedAt.size < records.length; round++) {
        const results = await Promise.all(
          [a!, b!, c!].map((s, i) => s.claimDue({ now, owner: `inst-${i}`, leaseMs: 30_000, max: 3, windowMs: W, rates, defaultMps: 1 })),
        );
        // Every submit is answered at once (the strict-pacing settle is covered by the contract suite).
        await Promise.all(results.map((res, i) => answered([a!, b!, c!][i]!, res.claimed, now)));
        for (const res of results) {
          for (const m of res.claimed) {
            expect(claimedAt.has(m.id)).toBe(false);
            claimedAt.set(m.id, now);
            const mps = rates.get(senderKey(m.account, m.from))!;
            let left = m.segments;
            for (let k = 0; left > 0; k++) {
              const n = Math.min(mps, left);
              bookings.get(m.from)!.push({ at: now + k * W, segments: n });
              left -= n;
            }
          }
        }
        const wakes = results.map((r) => r.wakeAt).filter((w): w is number => w !== null);
        const claimedNow = results.some((r) => r.claimed.length > 0);
        if (wakes.length === 0) break;
        now = Math.max(now + (claimedNow ? 0 : 1), Math.min(...wakes));
      }
      expect(claimedAt.size).toBe(records.length);
      expect(maxWindowSum(bookings.get(slow)!, W)).toBeLessThanOrEqual(2);
      expect(maxWindowSum(bookings.get(fast)!, W)).toBeLessThanOrEqual(5);
      // The store's own booking log agrees (it is what every instance reads).
      const log = (await withClient((c) => c.query(`SELECT sender_key, at::float8 AS at, segments FROM "${schema!.schema}".rate_usage`))).rows as {
        sender_key: string;
        at: number;
        segments: number;
      }[];
      for (const [from, mps] of [
        [slow, 2],
        [fast, 5],
      ] as const) {
        const entries = log.filter((e) => e.sender_key === senderKey('acct', from));
        expect(entries.length).toBeGreaterThan(0);
        expect(maxWindowSum(entries, W)).toBeLessThanOrEqual(mps);
      }
      // Priority held globally per sender: every OTP of a sender was claimed no later than its promotional messages.
      for (const from of [slow, fast]) {
        const mine = records.filter((r) => r.from === from);
        const otp = mine.filter((r) => r.category === 'otp').map((r) => claimedAt.get(r.id)!);
        const promo = mine.filter((r) => r.category === 'promotional').map((r) => claimedAt.get(r.id)!);
        expect(Math.max(...otp)).toBeLessThanOrEqual(Math.min(...promo));
      }
    });

    it("a dead instance's claims are taken over by another instance once the lease expires", async () => {
      const [dead, survivor] = await instances(2);
      const records = Array.from({ length: 5 }, (_, i) => contractMessage({ now: T0 - 100 + i }));
      await insertAll(dead!, records);
      const claimed = await dead!.claimDue({ now: T0, owner: 'dead', leaseMs: 10_000, max: 10, windowMs: W, rates: new Map(), defaultMps: 100 });
      expect(claimed.claimed).toHaveLength(5);
      await dead!.close();
      expect(await survivor!.claimStale({ now: T0 + 9_999, owner: 'survivor', leaseMs: 10_000, max: 10 })).toEqual([]);
      const taken = await survivor!.claimStale({ now: T0 + 10_000, owner: 'survivor', leaseMs: 10_000, max: 10 });
      expect(taken.map((m) => m.id).sort()).toEqual(records.map((r) => r.id).sort());
      for (const m of taken) expect(m).toMatchObject({ status: 'sending', submitState: 'in_flight', leaseOwner: 'survivor' });
    });

    it('webhook dedupe holds across instances', async () => {
      const stores = await instances(3);
      const receipt = {
        provider: 'twilio',
        kind: 'status',
        dedupeKey: 'twilio:status:SMx:delivered',
        receivedAt: T0,
        url: 'https://sb.example/webhooks/twilio/status',
        headers: { 'x-twilio-signature': 'sig' },
        rawBody: 'MessageSid=SMx&MessageStatus=delivered',
        signatureValid: true,
      };
      const results = await Promise.all(stores.flatMap((s) => [s.recordWebhook(receipt), s.recordWebhook(receipt)]));
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(results.map((r) => r.id)).size).toBe(6);
    });

    it('idempotent inserts racing from two instances store one message', async () => {
      const [a, b] = await instances(2);
      const first = contractMessage({ keyId: 'key_1', idempotencyKey: 'race' });
      const second = contractMessage({ keyId: 'key_1', idempotencyKey: 'race', body: 'other' });
      const [ra, rb] = await Promise.all([
        a!.insertMessages([{ message: first, events: [] }]),
        b!.insertMessages([{ message: second, events: [] }]),
      ]);
      const outcomes = [...ra, ...rb];
      expect(outcomes.filter((o) => o.inserted)).toHaveLength(1);
      const winner = outcomes.find((o) => o.inserted)!;
      const loser = outcomes.find((o) => !o.inserted)!;
      expect(loser).toEqual({ inserted: false, existing: winner.inserted ? winner.message : null });
    });

    it('stats: totals, buckets, nearest-rank latencies, errors, webhooks, awaiting callbacks', async () => {
      const [a] = await instances(1);
      const m = (i: number, over: Partial<MessageRecord>): MessageRecord => ({ ...contractMessage({ now: T0 + i * 1_000 }), ...over });
      const recs = [
        m(0, { status: 'delivered', submitState: 'accepted', submittedAt: T0 + 100, completedAt: T0 + 1_100, segments: 2 }),
        m(1, { status: 'delivered', submitState: 'accepted', submittedAt: T0 + 1_300, completedAt: T0 + 4_300 }),
        m(2, { status: 'sent', submitState: 'accepted', submittedAt: T0 + 2_500, segments: 3 }),
        m(3, { status: 'failed', errorCode: '30003', completedAt: T0 + 3_000 }),
        m(4, { status: 'undelivered', submitState: 'accepted', submittedAt: T0 + 4_050, errorCode: '30003' }),
        m(5, { status: 'failed', errorCode: null }),
        m(6, { status: 'queued' }),
        m(20, { status: 'sending', submitState: 'accepted', submittedAt: T0 + 20_010 }), // outside the range, still awaiting
      ];
      await insertAll(a!, recs);
      await a!.recordWebhook({ provider: 'twilio', kind: 'status', dedupeKey: 'k1', receivedAt: T0 + 5, url: 'u', headers: {}, rawBody: '', signatureValid: true });
      await a!.recordWebhook({ provider: 'twilio', kind: 'status', dedupeKey: 'k2', receivedAt: T0 + 6, url: 'u', headers: {}, rawBody: '', signatureValid: false });
      await a!.recordWebhook({ provider: 'twilio', kind: 'status', dedupeKey: 'k3', receivedAt: T0 + 10_000, url: 'u', headers: {}, rawBody: '', signatureValid: false });

      const st = await a!.stats({ since: T0, until: T0 + 10_000, bucketMs: 4_000, percentiles: [0.5, 1], callbackDueBefore: T0 + 30_000 });
      expect(st.totals).toMatchObject({ delivered: 2, sent: 1, failed: 2, undelivered: 1, queued: 1, sending: 0, canceled: 0, expired: 0 });
      expect(st.submittedSegments).toBe(2 + 1 + 3 + 1);
      expect(st.buckets.map((b) => b.start)).toEqual([T0, T0 + 4_000, T0 + 8_000]);
      expect(st.buckets[0]!.counts).toMatchObject({ delivered: 2, sent: 1, failed: 1 });
      expect(st.buckets[1]!.counts).toMatchObject({ undelivered: 1, failed: 1, queued: 1 });
      expect(Object.values(st.buckets[2]!.counts).every((n) => n === 0)).toBe(true);
      // dispatch latencies (submittedAt - createdAt): 100, 300, 500, 50 → sorted 50,100,300,500: p50 = rank 2, p100 = rank 4
      expect(st.dispatchLatency).toEqual({ count: 4, values: [100, 500] });
      // delivery latencies: 1000, 3000
      expect(st.deliveryLatency).toEqual({ count: 2, values: [1_000, 3_000] });
      expect(st.errors).toEqual([
        { code: '30003', count: 2 },
        { code: null, count: 1 },
      ]);
      expect(st.webhooks).toEqual({ received: 2, rejected: 1 });
      expect(st.awaitingCallback).toEqual({ count: 2, oldestSubmittedAt: T0 + 2_500, sample: [recs[2]!.id, recs[7]!.id] });

      const empty = await a!.stats({ since: T0 - 10_000, until: T0, bucketMs: 10_000, percentiles: [0.9], callbackDueBefore: T0 });
      expect(empty.dispatchLatency).toEqual({ count: 0, values: [null] });
      expect(empty.buckets).toHaveLength(1);
      expect(empty.awaitingCallback).toEqual({ count: 0, oldestSubmittedAt: null, sample: [] });
      await expect(a!.stats({ since: 0, until: 2_000_000, bucketMs: 1_000, percentiles: [], callbackDueBefore: 0 })).rejects.toThrow(RangeError);
    });

    it('senderQueues: queue depth and recent submitted segments per sender, ordered by account then from', async () => {
      const [a] = await instances(1);
      const m = (over: Partial<MessageRecord>, now = T0): MessageRecord => ({ ...contractMessage({ now }), ...over });
      await insertAll(a!, [
        m({ account: 'b', from: '+1B', segments: 2 }, T0 - 50),
        m({ account: 'b', from: '+1B', segments: 1 }, T0 - 10),
        m({ account: 'a', from: '+1Z', status: 'sent', submitState: 'accepted', submittedAt: T0 - 500, segments: 3 }),
        m({ account: 'a', from: '+1Z', status: 'sent', submitState: 'accepted', submittedAt: T0 - 5_000, segments: 7 }),
        m({ account: 'a', from: '+1A', status: 'delivered', submitState: 'accepted', submittedAt: T0 - 50_000 }),
      ]);
      expect(await a!.senderQueues({ now: T0, recentMs: 1_000 })).toEqual([
        { account: 'a', from: '+1Z', queued: 0, queuedSegments: 0, oldestCreatedAt: null, recentSegments: 3 },
        { account: 'b', from: '+1B', queued: 2, queuedSegments: 3, oldestCreatedAt: T0 - 50, recentSegments: 0 },
      ]);
      expect((await a!.senderQueues({ now: T0, recentMs: 0 })).map((x) => x.from)).toEqual(['+1B']);
    });

    it('two stores on two schemas of one database do not see each other', async () => {
      const [a] = await instances(1);
      const other = await createTestSchema();
      try {
        const b = other.store();
        opened.push(b);
        await b.migrate();
        await insertAll(a!, [contractMessage({})]);
        expect((await a!.countByStatus()).queued).toBe(1);
        expect((await b.countByStatus()).queued).toBe(0);
      } finally {
        await other.drop();
      }
    });
  });
});


/** The provider answered these claimed submits at `at`: recorded as the dispatcher does, settling their bookings. */
async function answered(store: Store, claimed: readonly MessageRecord[], at: number): Promise<void> {
  for (const m of claimed) {
    const r = await store.transition({
      id: m.id,
      from: ['sending'],
      submitStates: ['in_flight'],
      leaseOwner: m.leaseOwner!,
      patch: { submitState: 'accepted', providerMessageId: `SM${m.id}`, submittedAt: at, leaseOwner: null, leaseExpiresAt: null },
      now: at,
      settleBookingAt: at,
    });
    if (!r) throw new Error(`could not record the answer for ${m.id}`);
  }
}

describe('postgresOptionsFromUrl', () => {
  it.each([
    ['plain', 'postgres://u@h:5432/db', { connectionString: 'postgres://u@h:5432/db', schema: undefined, pool: {} }],
    [
      'schema and pool settings are taken out, others kept',
      'postgresql://u:p@h/db?sslmode=require&schema=sb&pool_max=20&pool_idle_timeout_ms=5000&pool_connection_timeout_ms=700',
      { connectionString: 'postgresql://u:p@h/db?sslmode=require', schema: 'sb', pool: { max: 20, idleTimeoutMs: 5_000, connectionTimeoutMs: 700 } },
    ],
  ])('%s', (_label, url, want) => {
    const got = postgresOptionsFromUrl(url);
    expect({ ...got, pool: Object.fromEntries(Object.entries(got.pool ?? {}).filter(([, v]) => v !== undefined)) }).toEqual(want);
  });

  it.each([
    ['not postgres', 'sqlite:./x.db', /not a PostgreSQL URL/],
    ['bad pool_max', 'postgres://h/db?pool_max=0', /pool_max must be a positive integer/],
    ['bad number', 'postgres://h/db?pool_idle_timeout_ms=soon', /pool_idle_timeout_ms/],
  ])('refuses %s', (_label, url, err) => {
    expect(() => postgresOptionsFromUrl(url)).toThrow(err);
  });
});
