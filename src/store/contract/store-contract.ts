/**
 * The store contract: one vitest suite every engine runs (SQLite in src/store/sqlite/sqlite-store.test.ts,
 * PostgreSQL in src/store/postgres/). Engine-neutral: it only talks to the port (src/store/store.ts).
 *
 * `factory` returns a store on an EMPTY, NOT YET MIGRATED database, and a cleanup. It is called before every test;
 * the suite migrates it. Time is always passed in (fixed epoch `T0`), never read from a clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_PRIORITY, MESSAGE_STATUSES, type Category, type MessageRecord, type MessageStatus, type NewEvent, type SubmitState } from '../../domain/message.ts';
import { newId } from '../../domain/ids.ts';
import { maxWindowSum, senderKey, type UsageEntry } from '../../dispatch/rate-limit.ts';
import type { ApiKeyRecord, ClaimRequest, InboundRecord, MessageCursor, Store, WebhookReceipt } from '../store.ts';

import { describeComplianceContract } from './compliance-contract.ts';
import { describeInboundHandlingContract } from './inbound-handling-contract.ts';

export type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const W = 1_050;
const OWNER = 'dispatcher-a';

let seq = 0;

export interface MessageInput {
  now?: number;
  id?: string;
  keyId?: string | null;
  account?: string;
  from?: string;
  to?: string;
  body?: string;
  category?: Category;
  priority?: number;
  segments?: number;
  status?: MessageStatus;
  submitState?: SubmitState;
  idempotencyKey?: string | null;
  nextAttemptAt?: number;
  expiresAt?: number;
  leaseOwner?: string | null;
  leaseExpiresAt?: number | null;
  providerMessageId?: string | null;
  metadata?: Record<string, unknown> | null;
  attempts?: number;
}

/** A message as the accept pipeline stores it (queued, due now, valid for an hour) unless overridden. */
export function contractMessage(i: MessageInput = {}): MessageRecord {
  const now = i.now ?? T0;
  const category = i.category ?? 'transactional';
  seq++;
  return {
    id: i.id ?? newId('msg', now),
    keyId: i.keyId === undefined ? null : i.keyId,
    account: i.account ?? 'acct',
    provider: 'twilio',
    to: i.to ?? '+14155550100',
    from: i.from ?? '+15005550006',
    body: i.body ?? `contract message ${seq}`,
    segments: i.segments ?? 1,
    encoding: 'GSM-7',
    category,
    priority: i.priority ?? DEFAULT_PRIORITY[category],
    status: i.status ?? 'queued',
    submitState: i.submitState ?? 'none',
    metadata: i.metadata === undefined ? null : i.metadata,
    idempotencyKey: i.idempotencyKey ?? null,
    requestHash: i.idempotencyKey ? `hash-${i.idempotencyKey}` : null,
    providerMessageId: i.providerMessageId ?? null,
    providerStatus: null,
    errorCode: null,
    errorMessage: null,
    attempts: i.attempts ?? 0,
    nextAttemptAt: i.nextAttemptAt ?? now,
    expiresAt: i.expiresAt ?? now + 3_600_000,
    leaseOwner: i.leaseOwner ?? null,
    leaseExpiresAt: i.leaseExpiresAt ?? null,
    createdAt: now,
    updatedAt: now,
    submittedAt: null,
    completedAt: null,
  };
}

function acceptEvents(m: MessageRecord): NewEvent[] {
  return [
    { messageId: m.id, type: 'accepted', status: 'queued', at: m.createdAt, detail: null },
    { messageId: m.id, type: 'queued', status: 'queued', at: m.createdAt, detail: { n: 1 } },
  ];
}

/** Chunks of a booking as the carrier paces it: at most `mps` segments per window, one window apart. */
function chunks(at: number, segments: number, mps: number, windowMs: number): UsageEntry[] {
  const out: UsageEntry[] = [];
  let left = Math.max(1, segments);
  for (let i = 0; left > 0; i++) {
    const n = Math.min(mps, left);
    out.push({ at: at + i * windowMs, segments: n });
    left -= n;
  }
  return out;
}

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describeComplianceContract(name, factory);
  describeInboundHandlingContract(name, factory);
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      const made = await factory();
      store = made.store;
      cleanup = made.cleanup;
      const applied = await store.migrate();
      expect(applied.length).toBeGreaterThan(0);
      expect(await store.appliedMigrations()).toEqual(applied);
    });

    afterEach(async () => {
      await store?.close();
      await cleanup?.();
    });

    async function insert(...inputs: MessageInput[]): Promise<MessageRecord[]> {
      const records = inputs.map((i) => contractMessage(i));
      const out = await store.insertMessages(records.map((message) => ({ message, events: acceptEvents(message) })));
      for (const o of out) expect(o.inserted).toBe(true);
      return records;
    }

    async function must(id: string): Promise<MessageRecord> {
      const m = await store.getMessage(id);
      if (!m) throw new Error(`no message ${id}`);
      return m;
    }

    function claimReq(over: Partial<ClaimRequest> = {}): ClaimRequest {
      return { now: T0, owner: OWNER, leaseMs: 30_000, max: 100, windowMs: W, rates: new Map(), defaultMps: 100, ...over };
    }

    /** The provider answered these claimed submits at `at`: record it as the dispatcher does (settling the bookings). */
    async function answered(claimed: readonly MessageRecord[], at: number): Promise<void> {
      for (const m of claimed) {
        const r = await store.transition({
          id: m.id,
          from: ['sending'],
          submitStates: ['in_flight'],
          leaseOwner: m.leaseOwner ?? OWNER,
          patch: { submitState: 'accepted', providerMessageId: `SM${m.id}`, submittedAt: at, leaseOwner: null, leaseExpiresAt: null },
          now: at,
          settleBookingAt: at,
        });
        expect(r).not.toBeNull();
      }
    }

    // ------------------------------------------------------------------ lifecycle

    describe('migrations and lifecycle', () => {
      it('migrate() is idempotent and appliedMigrations() lists names in order', async () => {
        const before = await store.appliedMigrations();
        expect(await store.migrate()).toEqual([]);
        expect(await store.appliedMigrations()).toEqual(before);
        expect(new Set(before).size).toBe(before.length);
      });

      it('ping() resolves and capabilities name the engine', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        expect(['sqlite', 'postgres']).toContain(store.capabilities.name);
        expect(typeof store.capabilities.multiInstance).toBe('boolean');
      });
    });

    // ------------------------------------------------------------------ api keys

    describe('api keys', () => {
      const key = (over: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
        id: newId('key', T0),
        name: 'billing',
        hash: `h-${Math.random().toString(36).slice(2)}`,
        prefix: 'sb_live_ab',
        scopes: ['messages:send', 'messages:read'],
        account: 'billing-us',
        createdAt: T0,
        revokedAt: null,
        ...over,
      });

      it('create, find by hash, list, count', async () => {
        expect(await store.countApiKeys()).toBe(0);
        const a = key({ name: 'a', createdAt: T0 });
        const b = key({ name: 'b', createdAt: T0 + 1, account: null, scopes: [] });
        await store.createApiKey(a);
        await store.createApiKey(b);
        expect(await store.findApiKeyByHash(a.hash)).toEqual(a);
        expect(await store.findApiKeyByHash(b.hash)).toEqual(b);
        expect(await store.findApiKeyByHash('nope')).toBeNull();
        expect(await store.listApiKeys()).toEqual([a, b]);
        expect(await store.countApiKeys()).toBe(2);
      });

      it('a second key with the same hash is refused', async () => {
        const a = key();
        await store.createApiKey(a);
        await expect(store.createApiKey(key({ hash: a.hash }))).rejects.toThrow();
        expect(await store.countApiKeys()).toBe(1);
      });

      it.each([
        ['by id', (k: ApiKeyRecord) => k.id],
        ['by name', (k: ApiKeyRecord) => k.name],
      ])('revoke %s: sets revokedAt once, then false', async (_label, pick) => {
        const a = key({ name: 'to-revoke' });
        const other = key({ name: 'keep' });
        await store.createApiKey(a);
        await store.createApiKey(other);
        expect(await store.revokeApiKey(pick(a), T0 + 5)).toBe(true);
        expect(await store.revokeApiKey(pick(a), T0 + 6)).toBe(false);
        expect((await store.findApiKeyByHash(a.hash))?.revokedAt).toBe(T0 + 5);
        expect((await store.findApiKeyByHash(other.hash))?.revokedAt).toBeNull();
        expect(await store.revokeApiKey('no-such-key', T0)).toBe(false);
        // Revoked keys still count (the first-start dev key is not re-created) and are still listed.
        expect(await store.countApiKeys()).toBe(2);
        expect((await store.listApiKeys()).length).toBe(2);
      });
    });

    // ------------------------------------------------------------------ messages

    describe('insert, get and idempotency', () => {
      it('round-trips every field and the accept events', async () => {
        const m = contractMessage({ keyId: 'key_1', idempotencyKey: 'idem-1', metadata: { order: 42, tags: ['a'], nested: { x: true } }, category: 'otp', segments: 3 });
        const [out] = await store.insertMessages([{ message: m, events: acceptEvents(m) }]);
        expect(out).toEqual({ inserted: true, message: m });
        expect(await store.getMessage(m.id)).toEqual(m);
        expect(await store.getMessage('msg_missing')).toBeNull();
        const events = await store.listEvents(m.id);
        expect(events.map(({ id: _id, ...e }) => e)).toEqual(acceptEvents(m));
        expect(events[0]!.id).toBeLessThan(events[1]!.id);
      });

      it('same (keyId, idempotencyKey) returns the existing message and inserts nothing', async () => {
        const first = contractMessage({ keyId: 'key_1', idempotencyKey: 'k' });
        const replay = contractMessage({ keyId: 'key_1', idempotencyKey: 'k', body: 'different' });
        const otherKey = contractMessage({ keyId: 'key_2', idempotencyKey: 'k' });
        const [a] = await store.insertMessages([{ message: first, events: acceptEvents(first) }]);
        expect(a!.inserted).toBe(true);
        const [b, c] = await store.insertMessages([
          { message: replay, events: acceptEvents(replay) },
          { message: otherKey, events: acceptEvents(otherKey) },
        ]);
        expect(b).toEqual({ inserted: false, existing: first });
        expect(c).toEqual({ inserted: true, message: otherKey });
        expect(await store.getMessage(replay.id)).toBeNull();
        expect(await store.listEvents(replay.id)).toEqual([]);
        expect(await store.findByIdempotencyKey('key_1', 'k')).toEqual(first);
        expect(await store.findByIdempotencyKey('key_2', 'k')).toEqual(otherKey);
        expect(await store.findByIdempotencyKey('key_3', 'k')).toBeNull();
      });

      it('duplicates inside one batch: the first wins, later ones get it back', async () => {
        const a = contractMessage({ keyId: 'key_1', idempotencyKey: 'same' });
        const b = contractMessage({ keyId: 'key_1', idempotencyKey: 'same' });
        const c = contractMessage({ keyId: 'key_1' });
        const d = contractMessage({ keyId: 'key_1' });
        const out = await store.insertMessages([a, b, c, d].map((message) => ({ message, events: acceptEvents(message) })));
        expect(out).toEqual([
          { inserted: true, message: a },
          { inserted: false, existing: a },
          { inserted: true, message: c },
          { inserted: true, message: d },
        ]);
      });

      it('concurrent inserts with the same idempotency key: exactly one is stored, all get it back', async () => {
        const tries = Array.from({ length: 5 }, () => contractMessage({ keyId: 'key_c', idempotencyKey: 'race' }));
        const outs = (await Promise.all(tries.map((message) => store.insertMessages([{ message, events: acceptEvents(message) }])))).map((o) => o[0]!);
        const winners = outs.filter((o) => o.inserted);
        expect(winners).toHaveLength(1);
        const stored = winners[0]!.inserted ? winners[0]!.message : null;
        for (const o of outs) if (!o.inserted) expect(o.existing).toEqual(stored);
        expect((await store.listMessages({ keyId: 'key_c', limit: 10 })).items).toHaveLength(1);
      });

      it('a batch of 1,000 is stored completely', async () => {
        const records = Array.from({ length: 1_000 }, (_, i) => contractMessage({ now: T0 + (i % 10), keyId: 'bulk', idempotencyKey: `b-${i}` }));
        const out = await store.insertMessages(records.map((message) => ({ message, events: acceptEvents(message) })));
        expect(out.filter((o) => o.inserted)).toHaveLength(1_000);
        expect((await store.countByStatus()).queued).toBe(1_000);
        expect(await store.getMessage(records[777]!.id)).toEqual(records[777]);
        expect(await store.listEvents(records[999]!.id)).toHaveLength(2);
      });

      it('an empty batch is a no-op', async () => {
        expect(await store.insertMessages([])).toEqual([]);
      });

      it('findByProviderId finds by (provider, providerMessageId)', async () => {
        const [m] = await insert({ providerMessageId: 'SM123' });
        expect((await store.findByProviderId('twilio', 'SM123'))?.id).toBe(m!.id);
        expect(await store.findByProviderId('other', 'SM123')).toBeNull();
        expect(await store.findByProviderId('twilio', 'SM999')).toBeNull();
      });

      it('appendEvent adds to the timeline in order', async () => {
        const [m] = await insert({});
        await store.appendEvent({ messageId: m!.id, type: 'status', status: 'delivered', at: T0 + 9, detail: { applied: false, raw: 'delivered' } });
        const events = await store.listEvents(m!.id);
        expect(events.map((e) => e.type)).toEqual(['accepted', 'queued', 'status']);
        expect(events[2]).toMatchObject({ messageId: m!.id, status: 'delivered', at: T0 + 9, detail: { applied: false, raw: 'delivered' } });
      });

      it('countByStatus reports every status, zero included', async () => {
        await insert({}, {}, { status: 'sending', submitState: 'accepted' }, { status: 'delivered' });
        const counts = await store.countByStatus();
        expect(Object.keys(counts).sort()).toEqual([...MESSAGE_STATUSES].sort());
        expect(counts).toMatchObject({ queued: 2, sending: 1, delivered: 1, failed: 0, expired: 0 });
      });
    });

    describe('listMessages', () => {
      it('newest first, cursor paging stable across equal createdAt, no gaps or repeats', async () => {
        const inputs: MessageInput[] = [];
        for (let i = 0; i < 11; i++) inputs.push({ now: T0 + Math.floor(i / 4) * 1000 }); // groups of 4 share createdAt
        const records = await insert(...inputs);
        const expected = [...records].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).map((r) => r.id);
        for (const limit of [1, 2, 3, 4, 5, 11, 50]) {
          const seen: string[] = [];
          let cursor: MessageCursor | null = null;
          for (let page = 0; page < 20; page++) {
            const res: { items: MessageRecord[]; nextCursor: MessageCursor | null } = await store.listMessages({ limit, cursor });
            expect(res.items.length).toBeLessThanOrEqual(limit);
            seen.push(...res.items.map((m) => m.id));
            cursor = res.nextCursor;
            if (!cursor) break;
          }
          expect(seen).toEqual(expected);
        }
      });

      it('nextCursor is null on the last page', async () => {
        await insert({}, {});
        expect((await store.listMessages({ limit: 2 })).nextCursor).toBeNull();
        const first = await store.listMessages({ limit: 1 });
        expect(first.nextCursor).not.toBeNull();
        expect((await store.listMessages({ limit: 1, cursor: first.nextCursor })).nextCursor).toBeNull();
      });

      it.each<[string, (ids: Record<string, string>) => Parameters<Store['listMessages']>[0], string[]]>([
        ['status', () => ({ status: 'delivered', limit: 10 }), ['d']],
        ['to', () => ({ to: '+14155550999', limit: 10 }), ['b', 'a']],
        ['since (inclusive)', () => ({ since: T0 + 2000, limit: 10 }), ['d', 'c']],
        ['until (exclusive)', () => ({ until: T0 + 2000, limit: 10 }), ['b', 'a']],
        ['keyId', () => ({ keyId: 'key_x', limit: 10 }), ['c', 'a']],
        ['combined', () => ({ keyId: 'key_x', to: '+14155550999', limit: 10 }), ['a']],
        ['limit', () => ({ limit: 2 }), ['d', 'c']],
        ['category', () => ({ category: 'promotional', limit: 10 }), ['c', 'b']],
        ['category combined', () => ({ category: 'promotional', keyId: 'key_x', limit: 10 }), ['c']],
        ['category none', () => ({ category: 'otp', limit: 10 }), []],
      ])('filter: %s', async (_label, query, want) => {
        const [a, b, c, d] = await insert(
          { now: T0, to: '+14155550999', keyId: 'key_x' },
          { now: T0 + 1000, to: '+14155550999', category: 'promotional' },
          { now: T0 + 2000, keyId: 'key_x', category: 'promotional' },
          { now: T0 + 3000, status: 'delivered' },
        );
        const ids: Record<string, string> = { a: a!.id, b: b!.id, c: c!.id, d: d!.id };
        const res = await store.listMessages(query(ids));
        expect(res.items.map((m) => Object.keys(ids).find((k) => ids[k] === m.id))).toEqual(want);
      });
    });

    // ------------------------------------------------------------------ transition

    describe('transition (compare-and-set)', () => {
      type Case = {
        label: string;
        start: MessageInput;
        req: { from: MessageStatus[]; submitStates?: SubmitState[]; leaseOwner?: string; status?: MessageStatus };
        applies: boolean;
      };
      const cases: Case[] = [
        { label: 'from matches', start: {}, req: { from: ['queued'], status: 'canceled' }, applies: true },
        { label: 'from does not match', start: { status: 'sending' }, req: { from: ['queued'], status: 'canceled' }, applies: false },
        { label: 'several from, one matches', start: { status: 'sent' }, req: { from: ['sending', 'sent'], status: 'delivered' }, applies: true },
        { label: 'submitState matches', start: { status: 'sending', submitState: 'in_flight' }, req: { from: ['sending'], submitStates: ['in_flight'], status: 'sent' }, applies: true },
        { label: 'submitState does not match', start: { status: 'sending', submitState: 'ambiguous' }, req: { from: ['sending'], submitStates: ['in_flight'], status: 'sent' }, applies: false },
        { label: 'lease owner matches', start: { status: 'sending', leaseOwner: 'me', leaseExpiresAt: T0 + 1 }, req: { from: ['sending'], leaseOwner: 'me', status: 'sent' }, applies: true },
        { label: 'lease owner differs', start: { status: 'sending', leaseOwner: 'other', leaseExpiresAt: T0 + 1 }, req: { from: ['sending'], leaseOwner: 'me', status: 'sent' }, applies: false },
        { label: 'lease required but none held', start: { status: 'sending' }, req: { from: ['sending'], leaseOwner: 'me', status: 'sent' }, applies: false },
        { label: 'backwards move refused even if `from` allows it', start: { status: 'delivered' }, req: { from: ['delivered'], status: 'sent' }, applies: false },
        { label: 'terminal to anything refused', start: { status: 'failed' }, req: { from: ['failed', 'sending'], status: 'sending' }, applies: false },
        { label: 'same status (field update only)', start: { status: 'sent' }, req: { from: ['sent'], status: 'sent' }, applies: true },
        { label: 'no status in patch', start: { status: 'delivered' }, req: { from: ['delivered'] }, applies: true },
        { label: 'empty from', start: {}, req: { from: [], status: 'canceled' }, applies: false },
      ];

      it.each(cases)('$label', async ({ start, req, applies }) => {
        const [m] = await insert(start);
        const now = T0 + 500;
        const rec = await store.transition({
          id: m!.id,
          from: req.from,
          submitStates: req.submitStates,
          leaseOwner: req.leaseOwner,
          patch: { ...(req.status ? { status: req.status } : {}), providerStatus: 'x-updated', errorCode: 'E1' },
          now,
          event: { messageId: m!.id, type: 'status', status: req.status ?? null, at: now, detail: { case: true } },
        });
        const after = await must(m!.id);
        const events = await store.listEvents(m!.id);
        if (applies) {
          expect(rec).toEqual(after);
          expect(after).toMatchObject({ status: req.status ?? m!.status, providerStatus: 'x-updated', errorCode: 'E1', updatedAt: now });
          expect(events.map((e) => e.type)).toEqual(['accepted', 'queued', 'status']);
        } else {
          expect(rec).toBeNull();
          expect(after).toEqual(m);
          expect(events.map((e) => e.type)).toEqual(['accepted', 'queued']);
        }
      });

      it('unknown id → null', async () => {
        expect(await store.transition({ id: 'msg_nope', from: ['queued'], patch: { status: 'canceled' }, now: T0 })).toBeNull();
      });

      it('sets every patchable field, null included', async () => {
        const [m] = await insert({ status: 'sending', submitState: 'in_flight', leaseOwner: 'me', leaseExpiresAt: T0 + 30_000 });
        const patch = {
          status: 'queued' as const,
          submitState: 'none' as const,
          providerMessageId: 'SMabc',
          providerStatus: 'queued',
          errorCode: '30001',
          errorMessage: 'queue overflow',
          attempts: 4,
          nextAttemptAt: T0 + 9_000,
          leaseOwner: null,
          leaseExpiresAt: null,
          submittedAt: T0 + 7,
          completedAt: null,
          body: '[redacted]',
        };
        const rec = await store.transition({ id: m!.id, from: ['sending'], patch, now: T0 + 8 });
        expect(rec).toEqual({ ...m, ...patch, updatedAt: T0 + 8 });
        expect(await must(m!.id)).toEqual(rec);
        expect((await store.findByProviderId('twilio', 'SMabc'))?.id).toBe(m!.id);
      });

      it('two racing transitions from the same state: exactly one applies', async () => {
        const [m] = await insert({ status: 'sending', submitState: 'in_flight', leaseOwner: 'me', leaseExpiresAt: T0 + 30_000 });
        const attempt = (to: MessageStatus) =>
          store.transition({
            id: m!.id,
            from: ['sending'],
            submitStates: ['in_flight'],
            leaseOwner: 'me',
            patch: { status: to, submitState: 'accepted', leaseOwner: null },
            now: T0 + 1,
            event: { messageId: m!.id, type: 'submitted', status: to, at: T0 + 1, detail: null },
          });
        const results = await Promise.all([attempt('sent'), attempt('failed')]);
        expect(results.filter((r) => r !== null)).toHaveLength(1);
        expect((await store.listEvents(m!.id)).filter((e) => e.type === 'submitted')).toHaveLength(1);
      });
    });

    // ------------------------------------------------------------------ claimDue

    describe('claimDue', () => {
      it('claims due work: sending / in_flight, attempts + 1, lease, submit_started event', async () => {
        const [m] = await insert({ attempts: 2 });
        const res = await store.claimDue(claimReq({ now: T0 + 10, leaseMs: 5_000 }));
        expect(res.claimed).toHaveLength(1);
        const c = res.claimed[0]!;
        expect(c).toEqual({
          ...m,
          status: 'sending',
          submitState: 'in_flight',
          attempts: 3,
          leaseOwner: OWNER,
          leaseExpiresAt: T0 + 10 + 5_000,
          updatedAt: T0 + 10,
        });
        expect(await must(m!.id)).toEqual(c);
        const last = (await store.listEvents(m!.id)).at(-1)!;
        expect(last).toMatchObject({ type: 'submit_started', status: 'sending', at: T0 + 10 });
        // Claimed work is not claimed again.
        expect((await store.claimDue(claimReq({ now: T0 + 20, owner: 'other' }))).claimed).toEqual([]);
      });

      it('nothing queued → no claims, wakeAt null', async () => {
        expect(await store.claimDue(claimReq())).toEqual({ claimed: [], wakeAt: null });
        await insert({ status: 'delivered' }, { status: 'sending', submitState: 'accepted' });
        expect(await store.claimDue(claimReq())).toEqual({ claimed: [], wakeAt: null });
      });

      it('not yet due, or already past validity, is not claimed; wakeAt is the next due time', async () => {
        const [later, expired, due] = await insert({ nextAttemptAt: T0 + 7_000 }, { expiresAt: T0 }, {});
        const res = await store.claimDue(claimReq());
        expect(res.claimed.map((m) => m.id)).toEqual([due!.id]);
        expect(res.wakeAt).toBe(T0 + 7_000);
        expect((await must(expired!.id)).status).toBe('queued');
        const res2 = await store.claimDue(claimReq({ now: T0 + 7_000 }));
        expect(res2.claimed.map((m) => m.id)).toEqual([later!.id]);
      });

      it('priority first, then oldest, across senders', async () => {
        const [promo, trans, otp, explicit, transOld] = await insert(
          { now: T0 - 50, category: 'promotional', from: '+1A' },
          { now: T0 - 40, category: 'transactional', from: '+1B' },
          { now: T0 - 30, category: 'otp', from: '+1C' },
          { now: T0 - 20, category: 'promotional', priority: 7, from: '+1A' },
          { now: T0 - 60, category: 'transactional', from: '+1C' },
        );
        const res = await store.claimDue(claimReq());
        expect(res.claimed.map((m) => m.id)).toEqual([otp!.id, explicit!.id, transOld!.id, trans!.id, promo!.id]);
      });

      it('equal priority and createdAt: insertion order (FIFO), not id order', async () => {
        // Ids chosen so that id order is the reverse of insertion order. Engines keep an insertion sequence for this
        // (SQLite: the rowid column `seq`); ULIDs created in the same millisecond are in random order.
        const ids = ['msg_z9', 'msg_z5', 'msg_z1', 'msg_y9', 'msg_y5', 'msg_y1'];
        await insert(...ids.slice(0, 4).map((id) => ({ id, now: T0 - 10 })));
        await insert(...ids.slice(4).map((id) => ({ id, now: T0 - 10 })));
        const got: string[] = [];
        for (let i = 0; i < ids.length; i++) got.push(...(await store.claimDue(claimReq({ max: 1 }))).claimed.map((m) => m.id));
        expect(got).toEqual(ids);
      });

      it('max limits the claim in priority order; wakeAt says more is claimable now', async () => {
        const recs = await insert(
          { now: T0 - 5, category: 'promotional', from: '+1A' },
          { now: T0 - 4, category: 'otp', from: '+1B' },
          { now: T0 - 3, category: 'transactional', from: '+1A' },
          { now: T0 - 2, category: 'otp', from: '+1A' },
        );
        const res = await store.claimDue(claimReq({ max: 2 }));
        expect(res.claimed.map((m) => m.id)).toEqual([recs[1]!.id, recs[3]!.id]);
        expect(res.wakeAt).not.toBeNull();
        expect(res.wakeAt!).toBeLessThanOrEqual(T0);
        const rest = await store.claimDue(claimReq({ max: 10 }));
        expect(rest.claimed.map((m) => m.id)).toEqual([recs[2]!.id, recs[0]!.id]);
      });

      it('per-sender rate: at most mps segments per window; wakeAt is when the window opens', async () => {
        const A = '+1555000001';
        const B = '+1555000002';
        await insert(...Array.from({ length: 5 }, (_, i) => ({ now: T0 - 10 + i, from: A })), ...Array.from({ length: 5 }, (_, i) => ({ now: T0 - 10 + i, from: B })));
        const rates = new Map([[senderKey('acct', A), 2]]);
        const res = await store.claimDue(claimReq({ rates, defaultMps: 4 }));
        await answered(res.claimed, T0);
        const byFrom = (from: string) => res.claimed.filter((m) => m.from === from).length;
        expect(byFrom(A)).toBe(2);
        expect(byFrom(B)).toBe(4);
        expect(res.wakeAt).toBe(T0 + W);
        // Half a window later nothing more is allowed.
        expect((await store.claimDue(claimReq({ now: T0 + W / 2, rates, defaultMps: 4 }))).claimed).toEqual([]);
        const next = await store.claimDue(claimReq({ now: T0 + W, rates, defaultMps: 4 }));
        expect(next.claimed.filter((m) => m.from === A)).toHaveLength(2);
        expect(next.claimed.filter((m) => m.from === B)).toHaveLength(1);
      });

      it('the same sender number under two accounts has two separate rate keys', async () => {
        await insert({ account: 'one', from: '+1999' }, { account: 'one', from: '+1999' }, { account: 'two', from: '+1999' });
        const res = await store.claimDue(claimReq({ defaultMps: 1 }));
        expect(res.claimed.map((m) => m.account).sort()).toEqual(['one', 'two']);
      });

      it('every sender with queued work is found, whatever the accounts and numbers, deep queues included', async () => {
        // Senders spread over accounts whose names and numbers interleave in key order; one has a deep queue.
        const senders = [
          ['a', '+1'],
          ['a', '+2'],
          ['a', '+3'],
          ['ab', '+1'],
          ['b', '+0'],
          ['b', '+9'],
          ['c', '+5'],
        ] as const;
        await insert(...Array.from({ length: 40 }, (_, i) => ({ now: T0 - 1_000 + i, account: 'a', from: '+2' })));
        await insert(...senders.map(([account, from], i) => ({ now: T0 - 500 + i, account, from, category: 'otp' as Category })));
        const res = await store.claimDue(claimReq({ defaultMps: 1, max: 100 }));
        // One per sender (1 MPS each): the OTP head of each, in priority then age order.
        expect(res.claimed.map((m) => `${m.account}:${m.from}`)).toEqual(senders.map(([account, from]) => `${account}:${from}`));
        expect(res.claimed.every((m) => m.category === 'otp')).toBe(true);
        expect(res.wakeAt).toBe(T0 + W);
        await answered(res.claimed, T0);
        // A sender's head is read up to what its window can take: a 2 MPS sender with a deep queue takes 2, and the
        // claim says more is claimable now only when `max` (not the window) held work back.
        const two = await store.claimDue(claimReq({ now: T0 + W, rates: new Map([[senderKey('a', '+2'), 2]]), defaultMps: 1, max: 100 }));
        expect(two.claimed.filter((m) => m.from === '+2' && m.account === 'a')).toHaveLength(2);
        expect(two.wakeAt).toBe(T0 + 2 * W);
        await answered(two.claimed, T0 + W);
        const capped = await store.claimDue(claimReq({ now: T0 + 2 * W, rates: new Map([[senderKey('a', '+2'), 50]]), max: 3 }));
        expect(capped.claimed).toHaveLength(3);
        expect(capped.wakeAt).toBe(T0 + 2 * W);
      });

      it('bookings hold across owners (the window is per sender, not per dispatcher)', async () => {
        await insert({ from: '+1X' }, { from: '+1X' });
        const a = await store.claimDue(claimReq({ owner: 'a', defaultMps: 1 }));
        await answered(a.claimed, T0);
        const b = await store.claimDue(claimReq({ owner: 'b', now: T0 + 1, defaultMps: 1 }));
        expect(a.claimed).toHaveLength(1);
        expect(b.claimed).toHaveLength(0);
        expect(b.wakeAt).toBe(T0 + W);
      });

      it('strict priority within a sender: a head that does not fit blocks smaller work behind it', async () => {
        const S = '+1STRICT';
        const O = '+1OTHER';
        const rates = new Map([[senderKey('acct', S), 3]]);
        const [first] = await insert({ now: T0 - 100, from: S, segments: 2 });
        const c0 = await store.claimDue(claimReq({ rates }));
        expect(c0.claimed.map((m) => m.id)).toEqual([first!.id]);
        await answered(c0.claimed, T0);
        const [otp, promo, other] = await insert(
          { now: T0 + 50, from: S, category: 'otp', segments: 2 },
          { now: T0 + 40, from: S, category: 'promotional', segments: 1 },
          { now: T0 + 60, from: O, category: 'promotional' },
        );
        const blocked = await store.claimDue(claimReq({ now: T0 + 100, rates }));
        expect(blocked.claimed.map((m) => m.id)).toEqual([other!.id]);
        await answered(blocked.claimed, T0 + 100);
        expect(blocked.wakeAt).toBe(T0 + W);
        const open = await store.claimDue(claimReq({ now: T0 + W, rates, max: 1 }));
        expect(open.claimed.map((m) => m.id)).toEqual([otp!.id]);
        await answered(open.claimed, T0 + W);
        const then = await store.claimDue(claimReq({ now: T0 + W, rates }));
        expect(then.claimed.map((m) => m.id)).toEqual([promo!.id]);
      });

      it('a message longer than mps occupies consecutive windows', async () => {
        const rates = new Map([[senderKey('acct', '+1LONG'), 1]]);
        const [three, one] = await insert({ now: T0 - 2, from: '+1LONG', segments: 3 }, { now: T0 - 1, from: '+1LONG', segments: 1 });
        const c0 = await store.claimDue(claimReq({ rates }));
        expect(c0.claimed.map((m) => m.id)).toEqual([three!.id]);
        await answered(c0.claimed, T0);
        // Booked at T0, T0+W, T0+2W: the next single segment fits only at T0+3W.
        const r1 = await store.claimDue(claimReq({ now: T0 + W, rates }));
        expect(r1.claimed).toEqual([]);
        expect(r1.wakeAt).toBe(T0 + 3 * W);
        expect((await store.claimDue(claimReq({ now: T0 + 3 * W - 1, rates }))).claimed).toEqual([]);
        expect((await store.claimDue(claimReq({ now: T0 + 3 * W, rates }))).claimed.map((m) => m.id)).toEqual([one!.id]);
      });

      it.each([
        { mps: 1, segments: [1, 1, 1, 1, 1, 1] },
        { mps: 3, segments: [1, 2, 3, 1, 1, 2, 3, 1] },
        { mps: 2, segments: [5, 1, 1, 4, 2, 1] },
        { mps: 10, segments: [3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 7] },
        { mps: 1, segments: [3, 1, 2] },
      ])('driven by wakeAt, every message goes out and no window exceeds mps=$mps ($segments)', async ({ mps, segments }) => {
        const S = '+1PACE';
        const rates = new Map([[senderKey('acct', S), mps]]);
        const recs = await insert(...segments.map((s, i) => ({ now: T0 - 1000 + i, from: S, segments: s, category: (i % 3 === 0 ? 'otp' : 'promotional') as Category })));
        const bookings: UsageEntry[] = [];
        const claimedAt = new Map<string, number>();
        let now = T0;
        for (let round = 0; round < 200 && claimedAt.size < recs.length; round++) {
          const res = await store.claimDue(claimReq({ now, rates, max: 2 }));
          await answered(res.claimed, now);
          for (const m of res.claimed) {
            claimedAt.set(m.id, now);
            bookings.push(...chunks(now, m.segments, mps, W));
          }
          if (claimedAt.size === recs.length) break;
          expect(res.wakeAt).not.toBeNull();
          // Also probe a time strictly inside the current window: still allowed only what fits.
          now = Math.max(now + (res.claimed.length === 0 ? 1 : 0), res.wakeAt!);
        }
        expect(claimedAt.size).toBe(recs.length);
        expect(maxWindowSum(bookings, W)).toBeLessThanOrEqual(mps);
        // Priority held: every OTP was claimed no later than every promotional message.
        const otpTimes = recs.filter((r) => r.category === 'otp').map((r) => claimedAt.get(r.id)!);
        const promoTimes = recs.filter((r) => r.category === 'promotional').map((r) => claimedAt.get(r.id)!);
        expect(Math.max(...otpTimes)).toBeLessThanOrEqual(Math.min(...promoTimes));
        // And no idle windows: total time is what pacing demands.
        const totalChunks = segments.reduce((n, s) => n + Math.ceil(s / mps), 0);
        const lastBooking = Math.max(...bookings.map((b) => b.at));
        expect(lastBooking - T0).toBeLessThanOrEqual(totalChunks * W);
      });

      it('two dispatchers claiming at once never claim the same message', async () => {
        await insert(...Array.from({ length: 30 }, (_, i) => ({ now: T0 - 100 + i, from: `+1${i % 3}` })));
        const [a, b] = await Promise.all([store.claimDue(claimReq({ owner: 'a', max: 20 })), store.claimDue(claimReq({ owner: 'b', max: 20 }))]);
        const ids = [...a.claimed, ...b.claimed].map((m) => m.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids).toHaveLength(30);
        for (const m of a.claimed) expect((await must(m.id)).leaseOwner).toBe('a');
        for (const m of b.claimed) expect((await must(m.id)).leaseOwner).toBe('b');
      });

      it('a retried message counts attempts across claims', async () => {
        const [m] = await insert({});
        await store.claimDue(claimReq());
        await store.transition({
          id: m!.id,
          from: ['sending'],
          submitStates: ['in_flight'],
          leaseOwner: OWNER,
          patch: { status: 'queued', submitState: 'none', nextAttemptAt: T0 + 5_000, leaseOwner: null, leaseExpiresAt: null },
          now: T0 + 1,
        });
        const early = await store.claimDue(claimReq({ now: T0 + 2 }));
        expect(early.claimed).toEqual([]);
        expect(early.wakeAt).toBe(T0 + 5_000);
        const again = await store.claimDue(claimReq({ now: T0 + 5_000 }));
        expect(again.claimed.map((c) => c.attempts)).toEqual([2]);
        expect((await store.listEvents(m!.id)).filter((e) => e.type === 'submit_started')).toHaveLength(2);
      });
    });

    describe('strict pacing at the carrier (open bookings, settle)', () => {
      const S = '+1STRICTPACE';
      const rates = new Map([[senderKey('acct', S), 1]]);

      it('a booking whose request is on the wire counts as arriving now; the response moves it to the response time', async () => {
        await insert({ now: T0 - 2, from: S }, { now: T0 - 1, from: S });
        const first = await store.claimDue(claimReq({ rates }));
        expect(first.claimed).toHaveLength(1);
        // A window later the request is still unanswered: it may arrive any moment, so nothing more goes.
        const during = await store.claimDue(claimReq({ now: T0 + W, rates }));
        expect(during.claimed).toEqual([]);
        expect(during.wakeAt).toBe(T0 + 2 * W);
        // Answered at T0 + W + 100: the booking is there now, the next fits one window after it.
        await answered(first.claimed, T0 + W + 100);
        const early = await store.claimDue(claimReq({ now: T0 + 2 * W + 99, rates }));
        expect(early.claimed).toEqual([]);
        expect(early.wakeAt).toBe(T0 + 2 * W + 100);
        expect((await store.claimDue(claimReq({ now: T0 + 2 * W + 100, rates }))).claimed).toHaveLength(1);
      });

      it('settling is part of the outcome write: it does not apply when the transition does not', async () => {
        await insert({ now: T0 - 2, from: S }, { now: T0 - 1, from: S });
        const first = await store.claimDue(claimReq({ rates }));
        const lost = await store.transition({
          id: first.claimed[0]!.id,
          from: ['sending'],
          leaseOwner: 'someone-else',
          patch: { submitState: 'accepted' },
          now: T0 + 10,
          settleBookingAt: T0 + 10,
        });
        expect(lost).toBeNull();
        // Still open: a window after the claim it still counts as arriving now.
        expect((await store.claimDue(claimReq({ now: T0 + W + 20, rates }))).claimed).toEqual([]);
      });

      it('an unanswered booking (its dispatcher died) counts until its lease expiry, then ages out', async () => {
        await insert({ now: T0 - 2, from: S }, { now: T0 - 1, from: S });
        expect((await store.claimDue(claimReq({ rates, leaseMs: 5_000 }))).claimed).toHaveLength(1);
        const pinned = await store.claimDue(claimReq({ now: T0 + 5_000 + W - 1, rates }));
        expect(pinned.claimed).toEqual([]);
        expect(pinned.wakeAt).toBe(T0 + 5_000 + W);
        expect((await store.claimDue(claimReq({ now: T0 + 5_000 + W, rates }))).claimed).toHaveLength(1);
      });

      it('a settled multi-window message keeps its chunk spacing from the response time', async () => {
        const [three, one] = await insert({ now: T0 - 2, from: S, segments: 2 }, { now: T0 - 1, from: S });
        const c = await store.claimDue(claimReq({ rates }));
        expect(c.claimed.map((m) => m.id)).toEqual([three!.id]);
        await answered(c.claimed, T0 + 300);
        // Chunks now at T0+300 and T0+300+W: the next single segment fits at T0+300+2W.
        const r = await store.claimDue(claimReq({ now: T0 + 2 * W, rates }));
        expect(r.claimed).toEqual([]);
        expect(r.wakeAt).toBe(T0 + 300 + 2 * W);
        expect((await store.claimDue(claimReq({ now: T0 + 300 + 2 * W, rates }))).claimed.map((m) => m.id)).toEqual([one!.id]);
      });
    });

    describe('named leases (run-once background jobs across instances)', () => {
      it('owners racing for a free lease: exactly one gets it; it renews; the others get it only after expiry', async () => {
        const owners = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'];
        const got = await Promise.all(owners.map((owner) => store.tryLease({ name: 'sweep', owner, until: T0 + 10_000, now: T0 })));
        expect(got.filter(Boolean)).toHaveLength(1);
        const holder = owners[got.indexOf(true)]!;
        const other = owners.find((o) => o !== holder)!;
        expect(await store.tryLease({ name: 'sweep', owner: holder, until: T0 + 20_000, now: T0 + 9_000 })).toBe(true);
        expect(await store.tryLease({ name: 'sweep', owner: other, until: T0 + 30_000, now: T0 + 19_999 })).toBe(false);
        expect(await store.tryLease({ name: 'sweep', owner: other, until: T0 + 30_000, now: T0 + 20_000 })).toBe(true);
      });
    });

    // ------------------------------------------------------------------ expiry, stale claims, leases

    describe('expireDue', () => {
      it('expires queued messages past validity, appends an event, respects max', async () => {
        const [a, b, live, sending] = await insert(
          { expiresAt: T0 - 10 },
          { expiresAt: T0 },
          { expiresAt: T0 + 1 },
          { expiresAt: T0 - 10, status: 'sending', submitState: 'ambiguous' },
        );
        const first = await store.expireDue(T0, 1);
        expect(first).toHaveLength(1);
        const second = await store.expireDue(T0, 10);
        expect([...first, ...second].map((m) => m.id).sort()).toEqual([a!.id, b!.id].sort());
        for (const m of [...first, ...second]) {
          expect(m).toMatchObject({ status: 'expired', completedAt: T0, updatedAt: T0 });
          expect(await must(m.id)).toEqual(m);
          expect((await store.listEvents(m.id)).at(-1)).toMatchObject({ type: 'expired', status: 'expired', at: T0 });
        }
        expect((await must(live!.id)).status).toBe('queued');
        expect((await must(sending!.id)).status).toBe('sending');
        expect(await store.expireDue(T0, 10)).toEqual([]);
      });

      it('with an outbox builder: its rows for each expired message are inserted in the same transaction', async () => {
        const [a, live] = await insert({ expiresAt: T0 - 10 }, { expiresAt: T0 + 1 });
        const seen: [string, NewEvent][] = [];
        const expired = await store.expireDue(T0, 10, (m, event) => {
          seen.push([m.id, event]);
          return [{ id: `dl_exp_${m.id}`, eventId: `evt_${m.id}`, subscriptionId: 'sub_1', type: 'message.status', payload: JSON.stringify({ id: m.id, status: m.status }), nextAttemptAt: T0, createdAt: T0 }];
        });
        expect(expired.map((m) => m.id)).toEqual([a!.id]);
        expect(seen).toEqual([[a!.id, { messageId: a!.id, type: 'expired', status: 'expired', at: T0, detail: { reason: 'validity', expiresAt: T0 - 10 } }]]);
        expect(await store.getOutboxRow(`dl_exp_${a!.id}`)).toMatchObject({ status: 'pending', type: 'message.status', payload: JSON.stringify({ id: a!.id, status: 'expired' }) });
        expect(await store.getOutboxRow(`dl_exp_${live!.id}`)).toBeNull();
      });

      it('a builder that throws rolls the expiry back (nothing expired without its events)', async () => {
        const [a] = await insert({ expiresAt: T0 - 10 });
        await expect(
          store.expireDue(T0, 10, () => {
            throw new Error('builder failed');
          }),
        ).rejects.toThrow('builder failed');
        expect((await must(a!.id)).status).toBe('queued');
        expect((await store.listEvents(a!.id)).some((e) => e.type === 'expired')).toBe(false);
      });
    });

    describe('claimStatusPoll', () => {
      const req = { now: T0, owner: 'poller', leaseMs: 4_000, max: 10, updatedBefore: T0 - 600_000, expiresAfter: T0 - 3_600_000 };
      const old = T0 - 600_000;
      const cases: { label: string; m: MessageInput; taken: boolean }[] = [
        { label: 'sent, accepted, quiet long enough', m: { status: 'sent', submitState: 'accepted', providerMessageId: 'SMa', now: old }, taken: true },
        { label: 'sending, accepted, quiet long enough', m: { status: 'sending', submitState: 'accepted', providerMessageId: 'SMb', now: old }, taken: true },
        { label: 'changed too recently', m: { status: 'sent', submitState: 'accepted', providerMessageId: 'SMc', now: old + 1 }, taken: false },
        { label: 'no provider id', m: { status: 'sent', submitState: 'accepted', now: old }, taken: false },
        { label: 'in flight', m: { status: 'sending', submitState: 'in_flight', providerMessageId: 'SMd', now: old }, taken: false },
        { label: 'delivered (final)', m: { status: 'delivered', submitState: 'accepted', providerMessageId: 'SMe', now: old }, taken: false },
        { label: 'validity + margin passed', m: { status: 'sent', submitState: 'accepted', providerMessageId: 'SMf', now: old, expiresAt: T0 - 3_600_000 }, taken: false },
        { label: 'live lease (another poller)', m: { status: 'sent', submitState: 'accepted', providerMessageId: 'SMg', now: old, leaseOwner: 'x', leaseExpiresAt: T0 + 1 }, taken: false },
        { label: 'expired lease', m: { status: 'sent', submitState: 'accepted', providerMessageId: 'SMh', now: old, leaseOwner: 'x', leaseExpiresAt: T0 }, taken: true },
      ];
      it.each(cases)('$label → taken: $taken', async ({ m: input, taken }) => {
        const [m] = await insert(input);
        const res = await store.claimStatusPoll(req);
        if (taken) {
          // Leased; nothing else changes (updatedAt stays the last change).
          expect(res).toEqual([{ ...m, leaseOwner: 'poller', leaseExpiresAt: T0 + 4_000 }]);
          expect(await must(m!.id)).toEqual(res[0]);
          expect(await store.claimStatusPoll({ ...req, now: T0 + 1, owner: 'other' })).toEqual([]);
          expect(await store.claimStatusPoll({ ...req, now: T0 + 4_000, owner: 'other' })).toHaveLength(1);
        } else {
          expect(res).toEqual([]);
          expect(await must(m!.id)).toEqual(m);
        }
      });

      it('oldest change first, at most max; pollers racing each get distinct messages', async () => {
        const ms = await insert(...[3, 1, 2, 0].map((k) => ({ status: 'sent' as const, submitState: 'accepted' as const, providerMessageId: `SM${k}`, now: old - k })));
        const first = await store.claimStatusPoll({ ...req, max: 2 });
        expect(first.map((m) => m.providerMessageId)).toEqual(['SM3', 'SM2']);
        const racing = await Promise.all(['p1', 'p2', 'p3'].map((owner) => store.claimStatusPoll({ ...req, owner, max: 2 })));
        const ids = racing.flat().map((m) => m.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.sort()).toEqual(ms.filter((m) => !first.some((f) => f.id === m.id)).map((m) => m.id).sort());
      });
    });

    describe('claimStale', () => {
      const cases: { label: string; m: MessageInput; taken: boolean }[] = [
        { label: 'in_flight, lease expired', m: { status: 'sending', submitState: 'in_flight', leaseOwner: 'dead', leaseExpiresAt: T0 }, taken: true },
        { label: 'in_flight, lease live', m: { status: 'sending', submitState: 'in_flight', leaseOwner: 'alive', leaseExpiresAt: T0 + 1 }, taken: false },
        { label: 'ambiguous, due, no lease', m: { status: 'sending', submitState: 'ambiguous', nextAttemptAt: T0 }, taken: true },
        { label: 'ambiguous, not yet due', m: { status: 'sending', submitState: 'ambiguous', nextAttemptAt: T0 + 1 }, taken: false },
        { label: 'ambiguous, due, live lease (being reconciled)', m: { status: 'sending', submitState: 'ambiguous', nextAttemptAt: T0, leaseOwner: 'x', leaseExpiresAt: T0 + 1 }, taken: false },
        { label: 'ambiguous, due, expired lease', m: { status: 'sending', submitState: 'ambiguous', nextAttemptAt: T0, leaseOwner: 'x', leaseExpiresAt: T0 - 1 }, taken: true },
        { label: 'accepted', m: { status: 'sending', submitState: 'accepted', leaseOwner: 'dead', leaseExpiresAt: T0 - 1 }, taken: false },
        { label: 'queued', m: { status: 'queued', leaseOwner: 'dead', leaseExpiresAt: T0 - 1 }, taken: false },
        { label: 'sent with stale lease', m: { status: 'sent', submitState: 'in_flight', leaseOwner: 'dead', leaseExpiresAt: T0 - 1 }, taken: false },
      ];
      it.each(cases)('$label → taken: $taken', async ({ m: input, taken }) => {
        const [m] = await insert(input);
        const res = await store.claimStale({ now: T0, owner: 'survivor', leaseMs: 4_000, max: 10 });
        if (taken) {
          expect(res).toEqual([{ ...m, leaseOwner: 'survivor', leaseExpiresAt: T0 + 4_000, updatedAt: T0 }]);
          expect(await must(m!.id)).toEqual(res[0]);
          // Now leased: not taken twice.
          expect(await store.claimStale({ now: T0 + 1, owner: 'third', leaseMs: 4_000, max: 10 })).toEqual([]);
        } else {
          expect(res).toEqual([]);
          expect(await must(m!.id)).toEqual(m);
        }
      });

      it('respects max', async () => {
        await insert(...Array.from({ length: 5 }, () => ({ status: 'sending' as const, submitState: 'ambiguous' as const, nextAttemptAt: T0 - 1 })));
        expect(await store.claimStale({ now: T0, owner: 's', leaseMs: 1_000, max: 3 })).toHaveLength(3);
        expect(await store.claimStale({ now: T0, owner: 's', leaseMs: 1_000, max: 3 })).toHaveLength(2);
      });

      it('a message claimed by a dispatcher that died is taken exactly when its lease expires', async () => {
        const [m] = await insert({});
        await store.claimDue(claimReq({ owner: 'dead', leaseMs: 5_000 }));
        expect(await store.claimStale({ now: T0 + 4_999, owner: 'survivor', leaseMs: 5_000, max: 10 })).toEqual([]);
        const taken = await store.claimStale({ now: T0 + 5_000, owner: 'survivor', leaseMs: 5_000, max: 10 });
        expect(taken.map((t) => [t.id, t.status, t.submitState, t.leaseOwner])).toEqual([[m!.id, 'sending', 'in_flight', 'survivor']]);
      });
    });

    describe('releaseLeases', () => {
      it("drops the owner's leases on messages not in flight, keeps in-flight and others' leases", async () => {
        const [amb, inflightMine, ambOther] = await insert(
          { status: 'sending', submitState: 'ambiguous', nextAttemptAt: T0 - 1 },
          {},
          { status: 'sending', submitState: 'ambiguous', nextAttemptAt: T0 - 1, leaseOwner: 'other', leaseExpiresAt: T0 + 60_000 },
        );
        expect(await store.claimStale({ now: T0, owner: OWNER, leaseMs: 10_000, max: 10 })).toHaveLength(1);
        expect((await store.claimDue(claimReq())).claimed.map((m) => m.id)).toEqual([inflightMine!.id]);
        expect(await store.releaseLeases(OWNER, T0 + 5)).toBe(1);
        expect(await must(amb!.id)).toMatchObject({ leaseOwner: null, leaseExpiresAt: null, submitState: 'ambiguous', status: 'sending', updatedAt: T0 + 5 });
        expect(await must(inflightMine!.id)).toMatchObject({ leaseOwner: OWNER, submitState: 'in_flight' });
        expect(await must(ambOther!.id)).toMatchObject({ leaseOwner: 'other' });
        expect(await store.releaseLeases(OWNER, T0 + 6)).toBe(0);
        // Released ambiguous work is claimable by anyone right away.
        expect((await store.claimStale({ now: T0 + 6, owner: 'next', leaseMs: 1_000, max: 10 })).map((m) => m.id)).toEqual([amb!.id]);
      });
    });

    // ------------------------------------------------------------------ webhooks, inbound, meta

    describe('recordWebhook', () => {
      const receipt = (dedupeKey: string, over: Partial<WebhookReceipt> = {}): WebhookReceipt => ({
        provider: 'twilio',
        kind: 'status',
        dedupeKey,
        receivedAt: T0,
        url: 'https://sb.example/webhooks/twilio/status?m=msg_1',
        headers: { 'x-twilio-signature': 'abc=', 'content-type': 'application/x-www-form-urlencoded' },
        rawBody: 'MessageSid=SM1&MessageStatus=delivered',
        signatureValid: true,
        ...over,
      });

      it('first receipt is new, a second with the same key is a duplicate but still kept', async () => {
        const a = await store.recordWebhook(receipt('twilio:status:SM1:delivered'));
        const b = await store.recordWebhook(receipt('twilio:status:SM1:delivered', { receivedAt: T0 + 1 }));
        const c = await store.recordWebhook(receipt('twilio:status:SM1:sent'));
        const d = await store.recordWebhook(receipt('twilio:status:SM1:delivered', { signatureValid: false, rawBody: 'x' }));
        expect(a.duplicate).toBe(false);
        expect(b.duplicate).toBe(true);
        expect(c.duplicate).toBe(false);
        expect(d.duplicate).toBe(true);
        expect(new Set([a.id, b.id, c.id, d.id]).size).toBe(4);
        for (const r of [a, b, c, d]) expect(Number.isInteger(r.id)).toBe(true);
      });

      it('concurrent identical receipts: exactly one is new', async () => {
        const results = await Promise.all(Array.from({ length: 5 }, () => store.recordWebhook(receipt('twilio:status:SM9:sent'))));
        expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      });
    });

    describe('inbound', () => {
      const inbound = (over: Partial<InboundRecord> = {}): InboundRecord => ({
        id: newId('in', over.receivedAt ?? T0),
        provider: 'twilio',
        account: 'acct',
        providerMessageId: `SM${Math.random().toString(36).slice(2)}`,
        from: '+14155550100',
        to: '+15005550006',
        body: 'hello',
        numMedia: 0,
        mediaUrls: [],
        providerKeyword: null,
        receivedAt: T0,
        ...over,
      });

      it('insert, duplicate by (provider, providerMessageId), round trip', async () => {
        const a = inbound({ numMedia: 2, mediaUrls: ['https://m/1', 'https://m/2'], providerKeyword: 'STOP', body: 'STOP' });
        expect(await store.insertInbound(a)).toEqual({ duplicate: false });
        expect(await store.insertInbound({ ...a, id: newId('in', T0), body: 'again' })).toEqual({ duplicate: true, unhandled: a });
        expect(await store.insertInbound(inbound({ providerMessageId: a.providerMessageId, provider: 'other' }))).toEqual({ duplicate: false });
        const list = await store.listInbound({ limit: 10, from: a.from });
        expect(list.items.find((i) => i.id === a.id)).toEqual(a);
        expect(list.items.filter((i) => i.providerMessageId === a.providerMessageId)).toHaveLength(2);
      });

      it('newest first, filters, cursor paging stable across equal receivedAt', async () => {
        const all: InboundRecord[] = [];
        for (let i = 0; i < 9; i++) {
          const r = inbound({ receivedAt: T0 + Math.floor(i / 3), from: i % 2 ? '+1ODD' : '+1EVEN', to: i < 4 ? '+1LOW' : '+1HIGH' });
          all.push(r);
          await store.insertInbound(r);
        }
        const order = (xs: InboundRecord[]) => [...xs].sort((a, b) => b.receivedAt - a.receivedAt || (a.id < b.id ? 1 : -1)).map((r) => r.id);
        const pageAll = async (q: { from?: string; to?: string }, limit: number) => {
          const seen: string[] = [];
          let cursor: MessageCursor | null = null;
          for (let i = 0; i < 20; i++) {
            const res: { items: InboundRecord[]; nextCursor: MessageCursor | null } = await store.listInbound({ ...q, limit, cursor });
            seen.push(...res.items.map((r) => r.id));
            cursor = res.nextCursor;
            if (!cursor) break;
          }
          return seen;
        };
        expect(await pageAll({}, 2)).toEqual(order(all));
        expect(await pageAll({}, 9)).toEqual(order(all));
        expect(await pageAll({ from: '+1ODD' }, 1)).toEqual(order(all.filter((r) => r.from === '+1ODD')));
        expect(await pageAll({ to: '+1LOW', from: '+1EVEN' }, 2)).toEqual(order(all.filter((r) => r.to === '+1LOW' && r.from === '+1EVEN')));
      });
    });

    describe('meta', () => {
      it('get missing → null; set; overwrite', async () => {
        expect(await store.getMeta('devKeyCreated')).toBeNull();
        await store.setMeta('devKeyCreated', '1');
        expect(await store.getMeta('devKeyCreated')).toBe('1');
        await store.setMeta('devKeyCreated', 'two');
        expect(await store.getMeta('devKeyCreated')).toBe('two');
        await store.setMeta('other', '');
        expect(await store.getMeta('other')).toBe('');
      });
    });

    // ------------------------------------------------------------------ operator statistics (dashboard, /metrics)

    describe('stats and senderQueues', () => {
      const MIN = 60_000;
      /** A message in any state, stored as-is (the accept pipeline's shape with the given outcome). */
      function shaped(i: MessageInput, o: Partial<MessageRecord>): MessageRecord {
        return { ...contractMessage(i), ...o };
      }
      async function put(...ms: MessageRecord[]): Promise<void> {
        const out = await store.insertMessages(ms.map((message) => ({ message, events: acceptEvents(message) })));
        for (const x of out) expect(x.inserted).toBe(true);
      }
      const q = (over: Partial<Parameters<Store['stats']>[0]> = {}) => ({
        since: T0,
        until: T0 + 3 * MIN,
        bucketMs: MIN,
        percentiles: [0.5, 0.9, 1],
        callbackDueBefore: T0,
        ...over,
      });

      it('counts by current status, per creation bucket, inside [since, until) only', async () => {
        await put(
          shaped({ now: T0 - 1 }, { status: 'delivered' }), // before the range
          shaped({ now: T0 }, { status: 'delivered', submittedAt: T0 + 100, completedAt: T0 + 1_100, segments: 2 }),
          shaped({ now: T0 + 59_999 }, { status: 'failed', errorCode: '30007', completedAt: T0 + 60_000 }),
          shaped({ now: T0 + MIN }, { status: 'sent', submittedAt: T0 + MIN + 50, submitState: 'accepted', segments: 3 }),
          shaped({ now: T0 + 2 * MIN + 5 }, { status: 'queued' }),
          shaped({ now: T0 + 3 * MIN }, { status: 'delivered' }), // until is exclusive
        );
        const s = await store.stats(q());
        expect(s.totals).toEqual({ queued: 1, sending: 0, sent: 1, delivered: 1, undelivered: 0, failed: 1, canceled: 0, expired: 0 });
        expect(s.buckets.map((b) => b.start)).toEqual([T0, T0 + MIN, T0 + 2 * MIN]);
        expect(s.buckets.map((b) => [b.counts.delivered, b.counts.failed, b.counts.sent, b.counts.queued])).toEqual([
          [1, 1, 0, 0],
          [0, 0, 1, 0],
          [0, 0, 0, 1],
        ]);
        // Only submitted messages count towards the billable segments.
        expect(s.submittedSegments).toBe(5);
        // The last bucket may be partial: 2.5 minutes ask for 3 buckets.
        expect((await store.stats(q({ until: T0 + 2.5 * MIN }))).buckets).toHaveLength(3);
      });

      it('latency percentiles are nearest-rank over accept→submit and submit→delivered', async () => {
        // accept→submit: 10, 20, …, 100 ms; the even ones delivered after 1000·k ms.
        const ms: MessageRecord[] = [];
        for (let k = 1; k <= 10; k++) {
          const delivered = k % 2 === 0;
          ms.push(
            shaped(
              { now: T0 + k },
              {
                status: delivered ? 'delivered' : 'sent',
                submitState: 'accepted',
                submittedAt: T0 + k + 10 * k,
                completedAt: delivered ? T0 + k + 10 * k + 1_000 * k : null,
              },
            ),
          );
        }
        ms.push(shaped({ now: T0 + 20 }, { status: 'queued' }));
        await put(...ms);
        const s = await store.stats(q({ percentiles: [0.5, 0.9, 0.99, 1] }));
        expect(s.dispatchLatency).toEqual({ count: 10, values: [50, 90, 100, 100] });
        // delivered: k = 2, 4, 6, 8, 10 → 2000 … 10000
        expect(s.deliveryLatency).toEqual({ count: 5, values: [6_000, 10_000, 10_000, 10_000] });
        const empty = await store.stats(q({ since: T0 + 10 * MIN, until: T0 + 11 * MIN }));
        expect(empty.dispatchLatency).toEqual({ count: 0, values: [null, null, null] });
        expect(empty.totals.delivered).toBe(0);
      });

      it('error breakdown: failed and undelivered by code, most frequent first, no code last', async () => {
        await put(
          shaped({ now: T0 }, { status: 'undelivered', errorCode: '30003' }),
          shaped({ now: T0 + 1 }, { status: 'failed', errorCode: '30007' }),
          shaped({ now: T0 + 2 }, { status: 'undelivered', errorCode: '30007' }),
          shaped({ now: T0 + 3 }, { status: 'failed', errorCode: null }),
          shaped({ now: T0 + 4 }, { status: 'failed', errorCode: '21211' }),
          shaped({ now: T0 + 5 }, { status: 'delivered', errorCode: '30001' }), // not a failure
        );
        const s = await store.stats(q());
        expect(s.errors).toEqual([
          { code: '30007', count: 2 },
          { code: '21211', count: 1 },
          { code: '30003', count: 1 },
          { code: null, count: 1 },
        ]);
      });

      it('webhooks received and rejected (signature not valid) in range', async () => {
        const base: WebhookReceipt = {
          provider: 'twilio',
          kind: 'status',
          dedupeKey: 'k',
          receivedAt: T0,
          url: 'https://sb.example/webhooks/twilio/status',
          headers: {},
          rawBody: 'x=1',
          signatureValid: true,
        };
        await store.recordWebhook({ ...base, dedupeKey: 'a' });
        await store.recordWebhook({ ...base, dedupeKey: 'a', receivedAt: T0 + 1 }); // duplicate, still received
        await store.recordWebhook({ ...base, dedupeKey: 'b', signatureValid: false, receivedAt: T0 + MIN });
        await store.recordWebhook({ ...base, dedupeKey: 'c', signatureValid: false, receivedAt: T0 - 1 });
        expect((await store.stats(q())).webhooks).toEqual({ received: 3, rejected: 1 });
      });

      it('awaitingCallback: accepted, not final, submitted before the cut-off, whatever the creation time', async () => {
        const old = shaped({ now: T0 - 60 * MIN }, { status: 'sent', submitState: 'accepted', submittedAt: T0 - 50 * MIN });
        const older = shaped({ now: T0 - 60 * MIN }, { status: 'sending', submitState: 'accepted', submittedAt: T0 - 55 * MIN });
        await put(
          old,
          older,
          shaped({ now: T0 - 60 * MIN }, { status: 'sent', submitState: 'accepted', submittedAt: T0 - 1 + MIN }), // after the cut-off
          shaped({ now: T0 - 60 * MIN }, { status: 'delivered', submitState: 'accepted', submittedAt: T0 - 50 * MIN, completedAt: T0 }),
          shaped({ now: T0 - 60 * MIN }, { status: 'sending', submitState: 'in_flight', submittedAt: null }),
        );
        const s = await store.stats(q({ callbackDueBefore: T0 }));
        expect(s.awaitingCallback).toEqual({ count: 2, oldestSubmittedAt: T0 - 55 * MIN, sample: [older.id, old.id] });
        expect((await store.stats(q({ callbackDueBefore: T0 - 55 * MIN }))).awaitingCallback).toEqual({ count: 0, oldestSubmittedAt: null, sample: [] });
      });

      it('rejects queries no engine should run', async () => {
        await expect(store.stats(q({ bucketMs: 0 }))).rejects.toThrow(RangeError);
        await expect(store.stats(q({ until: T0 }))).rejects.toThrow(RangeError);
        await expect(store.stats(q({ bucketMs: 1, until: T0 + 5_000 }))).rejects.toThrow(RangeError);
        await expect(store.stats(q({ percentiles: [0] }))).rejects.toThrow(RangeError);
      });

      it('senderQueues: queue per sender, oldest age, segments submitted recently', async () => {
        await put(
          shaped({ now: T0 - 5_000, account: 'b', from: '+1B' }, { status: 'queued', segments: 2 }),
          shaped({ now: T0 - 9_000, account: 'b', from: '+1B' }, { status: 'queued', segments: 1, nextAttemptAt: T0 + MIN }),
          shaped({ now: T0 - 1_000, account: 'a', from: '+1Z' }, { status: 'queued', segments: 4 }),
          shaped({ now: T0 - 30_000, account: 'a', from: '+1A' }, { status: 'delivered', submittedAt: T0 - 30_000, segments: 3 }),
          shaped({ now: T0 - 90_000, account: 'a', from: '+1A' }, { status: 'sent', submittedAt: T0 - 70_000, segments: 5 }), // too old
          shaped({ now: T0 - 90_000, account: 'c', from: '+1C' }, { status: 'delivered', submittedAt: T0 - 80_000 }), // too old: not listed
        );
        expect(await store.senderQueues({ now: T0, recentMs: MIN })).toEqual([
          { account: 'a', from: '+1A', queued: 0, queuedSegments: 0, oldestCreatedAt: null, recentSegments: 3 },
          { account: 'a', from: '+1Z', queued: 1, queuedSegments: 4, oldestCreatedAt: T0 - 1_000, recentSegments: 0 },
          { account: 'b', from: '+1B', queued: 2, queuedSegments: 3, oldestCreatedAt: T0 - 9_000, recentSegments: 0 },
        ]);
        expect((await store.senderQueues({ now: T0, recentMs: 0 })).map((x) => x.from)).toEqual(['+1Z', '+1B']);
      });
    });
  });
}
