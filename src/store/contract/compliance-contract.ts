/**
 * The store contract, compliance part (issue 4): consent ledger with the opt-out sweep, subscriptions, the event
 * outbox and the delivery log. Run by describeStoreContract for every engine. Engine-neutral: port only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { replayHistory, type ConsentEvent } from '../../compliance/consent-policy.ts';
import type { NewEvent } from '../../domain/message.ts';
import { consentKey, type NewOutboxRow, type Store, type SubscriptionRecord } from '../store.ts';
import { contractMessage, type StoreFactory } from './store-contract.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const ALICE = '+14155550101';
const BOB = '+14155550102';

function accepted(m: ReturnType<typeof contractMessage>): NewEvent[] {
  return [{ messageId: m.id, type: 'accepted', status: 'queued', at: m.createdAt, detail: null }];
}

function keywordEvent(contact: string, state: 'opted_out' | 'opted_in', at: number, inbound = `in_${at}`): ConsentEvent {
  return { contact, program: 'marketing', state, source: 'inbound_keyword', at, evidence: { inboundMessageId: inbound, keyword: state === 'opted_out' ? 'STOP' : 'START' } };
}

let outboxSeq = 0;
function outboxRow(subscriptionId: string, at: number, over: Partial<NewOutboxRow> = {}): NewOutboxRow {
  outboxSeq++;
  return {
    id: `dl_${String(outboxSeq).padStart(6, '0')}_${at}`,
    eventId: `evt_${outboxSeq}`,
    subscriptionId,
    type: 'message.received',
    payload: JSON.stringify({ n: outboxSeq }),
    nextAttemptAt: at,
    createdAt: at,
    ...over,
  };
}

function subscription(id: string, over: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    id,
    keyId: 'key_a',
    app: 'app-a',
    url: 'https://example.com/hook',
    events: ['message.received', 'contact.opted_out'],
    secrets: ['whsec_1'],
    status: 'active',
    disabledReason: null,
    createdAt: T0,
    deletedAt: null,
    ...over,
  };
}

export function describeComplianceContract(name: string, factory: StoreFactory): void {
  describe(`compliance store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await factory());
      await store.migrate();
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    describe('consent ledger', () => {
      it('appends every change with its evidence and keeps the snapshot equal to a replay of the history', async () => {
        expect(await store.getConsent(ALICE)).toEqual([]);
        const r1 = await store.recordConsent({ event: keywordEvent(ALICE, 'opted_out', T0), programSenders: [], outbox: [], now: T0 + 5 });
        expect(r1.result).toMatchObject({ accepted: true, changed: true });
        expect(r1.eventId).toMatch(/\S/);
        const api: ConsentEvent = { contact: ALICE, program: 'marketing', state: 'opted_in', source: 'api', at: T0 + 1_000, evidence: { keyId: 'key_a', note: 'signed form #42' } };
        const r2 = await store.recordConsent({ event: api, programSenders: [], outbox: [], now: T0 + 1_005 });
        expect(r2.result).toMatchObject({ accepted: true, changed: true });
        await store.recordConsent({ event: { ...keywordEvent(ALICE, 'opted_out', T0 + 2_000), program: 'alerts' }, programSenders: [], outbox: [], now: T0 + 2_001 });

        const snaps = await store.getConsent(ALICE);
        expect(snaps.map((s) => [s.program, s.state, s.since, s.source])).toEqual([
          ['alerts', 'opted_out', T0 + 2_000, 'inbound_keyword'],
          ['marketing', 'opted_in', T0 + 1_000, 'api'],
        ]);
        expect((await store.getConsent(ALICE, 'marketing'))[0]!.eventId).toBe(r2.eventId);

        const history = await store.listConsentHistory(ALICE, 'marketing');
        expect(history.map((h) => [h.id, h.state, h.source, h.at, h.recordedAt])).toEqual([
          [r1.eventId, 'opted_out', 'inbound_keyword', T0, T0 + 5],
          [r2.eventId, 'opted_in', 'api', T0 + 1_000, T0 + 1_005],
        ]);
        expect(history[0]!.evidence).toEqual({ inboundMessageId: `in_${T0}`, keyword: 'STOP' });
        expect(history[1]!.evidence).toEqual({ keyId: 'key_a', note: 'signed form #42' });
        expect(history[0]!.seq).toBeLessThan(history[1]!.seq);
        expect((await store.listConsentHistory(ALICE)).length).toBe(3);
        const replayed = replayHistory(ALICE, 'marketing', history);
        expect(replayed).toEqual((await store.getConsent(ALICE, 'marketing'))[0]);
      });

      it('refuses a change the policy refuses and writes nothing (reversing a STOP without evidence)', async () => {
        await store.recordConsent({ event: keywordEvent(ALICE, 'opted_out', T0), programSenders: [], outbox: [], now: T0 });
        const r = await store.recordConsent({
          event: { contact: ALICE, program: 'marketing', state: 'opted_in', source: 'api', at: T0 + 10, evidence: { keyId: 'k' } },
          programSenders: [],
          outbox: [outboxRow('sub_x', T0)],
          now: T0 + 10,
        });
        expect(r.result).toMatchObject({ accepted: false, code: 'SB_CONSENT_EVIDENCE_REQUIRED' });
        expect(r.eventId).toBeNull();
        expect((await store.listConsentHistory(ALICE)).length).toBe(1);
        expect((await store.getConsent(ALICE))[0]!.state).toBe('opted_out');
        expect(await store.claimDueDeliveries({ now: T0 + 10, owner: 'o', leaseMs: 1_000, max: 10 })).toEqual([]);
      });

      it('keeps an older change in the history without letting it override a newer state', async () => {
        await store.recordConsent({ event: keywordEvent(ALICE, 'opted_out', T0 + 1_000), programSenders: [], outbox: [], now: T0 + 1_000 });
        const old = await store.recordConsent({
          event: { contact: ALICE, program: 'marketing', state: 'opted_in', source: 'import', at: T0, evidence: { raw: { row: 3 } } },
          programSenders: [],
          outbox: [],
          now: T0 + 2_000,
        });
        expect(old.result).toMatchObject({ accepted: true, changed: false });
        expect((await store.getConsent(ALICE, 'marketing'))[0]).toMatchObject({ state: 'opted_out', since: T0 + 1_000 });
        expect((await store.listConsentHistory(ALICE)).map((h) => h.source)).toEqual(['inbound_keyword', 'import']);
      });

      it('recordConsent opted_out fails the queued messages of the program senders in the same transaction', async () => {
        const inProgram = contractMessage({ to: ALICE, account: 'acct', from: '+15005550006' });
        const inProgram2 = contractMessage({ to: ALICE, account: 'acct', from: '+15005550007', category: 'promotional' });
        const otherSender = contractMessage({ to: ALICE, account: 'acct', from: '+15005550099' });
        const otherContact = contractMessage({ to: BOB, account: 'acct', from: '+15005550006' });
        const sending = contractMessage({ to: ALICE, account: 'acct', from: '+15005550006', status: 'sending', submitState: 'in_flight' });
        await store.insertMessages([inProgram, inProgram2, otherSender, otherContact, sending].map((m) => ({ message: m, events: accepted(m) })));
        await store.createSubscription(subscription('sub_1'));

        const r = await store.recordConsent({
          event: keywordEvent(ALICE, 'opted_out', T0 + 10),
          programSenders: ['acct:+15005550006', 'acct:+15005550007'],
          outbox: [outboxRow('sub_1', T0 + 10, { type: 'contact.opted_out' })],
          now: T0 + 20,
        });
        expect(r.failedMessageIds.sort()).toEqual([inProgram.id, inProgram2.id].sort());
        for (const id of [inProgram.id, inProgram2.id]) {
          const m = (await store.getMessage(id))!;
          expect(m).toMatchObject({ status: 'failed', errorCode: 'SB_OPTED_OUT', completedAt: T0 + 20 });
          const last = (await store.listEvents(id)).at(-1)!;
          expect(last).toMatchObject({ type: 'failed', status: 'failed', at: T0 + 20 });
          expect(last.detail).toMatchObject({ code: 'SB_OPTED_OUT', providerCode: '21610', stage: 'opt_out_sweep', consentEventId: r.eventId });
        }
        expect((await store.getMessage(otherSender.id))!.status).toBe('queued');
        expect((await store.getMessage(otherContact.id))!.status).toBe('queued');
        expect((await store.getMessage(sending.id))!.status).toBe('sending');
        const claimed = await store.claimDueDeliveries({ now: T0 + 20, owner: 'o', leaseMs: 1_000, max: 10 });
        expect(claimed.map((c) => c.type)).toEqual(['contact.opted_out']);

        // Re-stating the opt-out: history grows, nothing else (no sweep, no outbox).
        const again = contractMessage({ to: ALICE, account: 'acct', from: '+15005550006' });
        await store.insertMessages([{ message: again, events: accepted(again) }]);
        const r2 = await store.recordConsent({
          event: keywordEvent(ALICE, 'opted_out', T0 + 30, 'in_again'),
          programSenders: ['acct:+15005550006'],
          outbox: [outboxRow('sub_1', T0 + 30, { type: 'contact.opted_out' })],
          now: T0 + 30,
        });
        expect(r2.result).toMatchObject({ accepted: true, changed: false });
        expect(r2.failedMessageIds).toEqual([]);
        expect((await store.getMessage(again.id))!.status).toBe('queued');
        // The snapshot points at the latest confirming event (an opt-out reply may confirm exactly it).
        expect((await store.getConsent(ALICE, 'marketing'))[0]!.eventId).toBe(r2.eventId);
        expect(await store.claimDueDeliveries({ now: T0 + 40, owner: 'o', leaseMs: 1_000, max: 10 })).toEqual([]);
      });

      it('getConsentMany returns the rows that exist, keyed by consentKey', async () => {
        await store.recordConsent({ event: keywordEvent(ALICE, 'opted_out', T0), programSenders: [], outbox: [], now: T0 });
        const m = await store.getConsentMany([
          { contact: ALICE, program: 'marketing' },
          { contact: ALICE, program: 'marketing' },
          { contact: BOB, program: 'marketing' },
          { contact: ALICE, program: 'alerts' },
        ]);
        expect([...m.keys()]).toEqual([consentKey(ALICE, 'marketing')]);
        expect(m.get(consentKey(ALICE, 'marketing'))!.state).toBe('opted_out');
      });

      it('exportConsent streams every snapshot in (contact, program) order across pages, with filters', async () => {
        const n = 1_100;
        for (let i = 0; i < n; i++) {
          const contact = `+1415556${String(i).padStart(4, '0')}`;
          const state = i % 3 === 0 ? 'opted_out' : 'opted_in';
          await store.recordConsent({
            event: { contact, program: i % 2 === 0 ? 'marketing' : 'alerts', state, source: 'import', at: T0 + i, evidence: { raw: { line: i + 2 } } },
            programSenders: [],
            outbox: [],
            now: T0,
          });
        }
        const all: string[] = [];
        for await (const s of store.exportConsent({})) all.push(`${s.contact}|${s.program}`);
        expect(all.length).toBe(n);
        expect([...all].sort()).toEqual(all);
        let marketingOut = 0;
        for await (const s of store.exportConsent({ program: 'marketing', state: 'opted_out' })) {
          expect([s.program, s.state]).toEqual(['marketing', 'opted_out']);
          marketingOut++;
        }
        expect(marketingOut).toBe([...Array(n).keys()].filter((i) => i % 2 === 0 && i % 3 === 0).length);
      });
    });

    describe('conversations', () => {
      const inbound = (id: string, from: string, to: string, at: number) => ({
        id,
        provider: 'twilio',
        account: 'acct',
        providerMessageId: `SM${id}`,
        from,
        to,
        body: `in ${id}`,
        numMedia: 0,
        mediaUrls: [],
        providerKeyword: null,
        receivedAt: at,
      });

      it('one thread per (contact, sender): upsert, owner = last app that wrote, newest activity first', async () => {
        const a = await store.touchConversation({ contact: ALICE, account: 'acct', from: '+15005550006', program: 'marketing', direction: 'out', ownerApp: 'billing', at: T0 });
        expect(a).toMatchObject({ contact: ALICE, senderKey: 'acct:+15005550006', ownerApp: 'billing', lastDirection: 'out', lastMessageAt: T0, createdAt: T0 });
        expect(a.id).toMatch(/^cv_/);
        // Inbound keeps the owner; a late (older) touch does not move lastMessageAt back.
        const b = await store.touchConversation({ contact: ALICE, account: 'acct', from: '+15005550006', program: 'marketing', direction: 'in', ownerApp: 'fallback', at: T0 + 10 });
        expect(b).toMatchObject({ id: a.id, ownerApp: 'billing', lastDirection: 'in', lastMessageAt: T0 + 10 });
        const c = await store.touchConversation({ contact: ALICE, account: 'acct', from: '+15005550006', program: 'marketing', direction: 'out', ownerApp: 'support', at: T0 + 5 });
        expect(c).toMatchObject({ id: a.id, ownerApp: 'support', lastDirection: 'in', lastMessageAt: T0 + 10 });
        expect(await store.getThreadOwner(ALICE, 'acct:+15005550006')).toBe('support');
        expect(await store.getThreadOwner(ALICE, 'acct:+19999999999')).toBeNull();
        // An inbound-first thread takes the resolved owner.
        const d = await store.touchConversation({ contact: BOB, account: 'acct', from: '+15005550006', program: 'marketing', direction: 'in', ownerApp: 'fallback', at: T0 + 20 });
        expect(d.ownerApp).toBe('fallback');
        const e = await store.touchConversation({ contact: ALICE, account: 'acct', from: '55501', program: 'alerts', direction: 'out', ownerApp: null, at: T0 + 30 });
        expect(e.ownerApp).toBeNull();

        const page1 = await store.listConversations({ limit: 2 });
        expect(page1.items.map((x) => x.id)).toEqual([e.id, d.id]);
        const page2 = await store.listConversations({ limit: 2, cursor: page1.nextCursor });
        expect(page2.items.map((x) => x.id)).toEqual([a.id]);
        expect(page2.nextCursor).toBeNull();
        expect((await store.listConversations({ limit: 10, contact: ALICE })).items.map((x) => x.id)).toEqual([e.id, a.id]);
        expect((await store.listConversations({ limit: 10, app: 'support' })).items.map((x) => x.id)).toEqual([a.id]);
        expect((await store.listConversations({ limit: 10, since: T0 + 15 })).items.map((x) => x.id)).toEqual([e.id, d.id]);
        expect(await store.getConversation(a.id)).toEqual({ ...c });
        expect(await store.getConversation('cv_nope')).toBeNull();
      });

      it('insertMessages with `thread` files the inserted messages in their threads in the same write (owner = the key name)', async () => {
        await store.createApiKey({ id: 'key_a', name: 'billing', hash: 'h-thread-a', prefix: 'sb_live_ab', scopes: [], account: null, createdAt: T0, revokedAt: null });
        await store.createApiKey({ id: 'key_b', name: 'support', hash: 'h-thread-b', prefix: 'sb_live_cd', scopes: [], account: null, createdAt: T0, revokedAt: null });
        const thread = { program: 'marketing' };
        // One batch, two messages to one thread (the newest wins) and one to another contact, unthreaded one aside.
        const a1 = contractMessage({ now: T0, to: ALICE, account: 'acct', from: '+15005550006', keyId: 'key_a' });
        const a2 = contractMessage({ now: T0 + 10, to: ALICE, account: 'acct', from: '+15005550006', keyId: 'key_a' });
        const b1 = contractMessage({ now: T0 + 5, to: BOB, account: 'acct', from: '+15005550006', keyId: 'key_a' });
        const plain = contractMessage({ now: T0 + 5, to: BOB, account: 'acct', from: '55501', keyId: 'key_a' });
        await store.insertMessages([...[a1, a2, b1].map((m) => ({ message: m, events: accepted(m), thread })), { message: plain, events: accepted(plain) }]);
        const [alice] = (await store.listConversations({ contact: ALICE, limit: 10 })).items;
        expect(alice).toMatchObject({ contact: ALICE, senderKey: 'acct:+15005550006', program: 'marketing', ownerApp: 'billing', lastDirection: 'out', lastMessageAt: T0 + 10 });
        expect((await store.listConversations({ contact: BOB, limit: 10 })).items.map((c) => [c.senderKey, c.ownerApp])).toEqual([['acct:+15005550006', 'billing']]);
        // The contact answers; then another app writes (owner moves); a system message (no key) leaves the owner.
        await store.touchConversation({ contact: ALICE, account: 'acct', from: '+15005550006', program: 'marketing', direction: 'in', ownerApp: null, at: T0 + 20 });
        const s1 = contractMessage({ now: T0 + 30, to: ALICE, account: 'acct', from: '+15005550006', keyId: 'key_b' });
        await store.insertMessages([{ message: s1, events: accepted(s1), thread }]);
        expect(await store.getThreadOwner(ALICE, 'acct:+15005550006')).toBe('support');
        const sys = contractMessage({ now: T0 + 40, to: ALICE, account: 'acct', from: '+15005550006' });
        await store.insertMessages([{ message: sys, events: accepted(sys), thread }]);
        expect(await store.getConversation(alice!.id)).toMatchObject({ ownerApp: 'support', lastDirection: 'out', lastMessageAt: T0 + 40, createdAt: T0 });
        // A duplicate (same key and idempotency key) is not inserted and does not touch the thread.
        const first = contractMessage({ now: T0 + 50, to: BOB, account: 'acct', from: '+15005550006', keyId: 'key_b', idempotencyKey: 'k1' });
        const dup = contractMessage({ now: T0 + 60, to: BOB, account: 'acct', from: '+15005550006', keyId: 'key_b', idempotencyKey: 'k1' });
        await store.insertMessages([{ message: first, events: accepted(first), thread }]);
        const [again] = await store.insertMessages([{ message: dup, events: accepted(dup), thread }]);
        expect(again!.inserted).toBe(false);
        expect((await store.listConversations({ contact: BOB, limit: 10 })).items[0]).toMatchObject({ ownerApp: 'support', lastMessageAt: T0 + 50 });
      });

      it('a thread reads both directions, newest first, cursor paged, and nothing of other threads', async () => {
        const conv = await store.touchConversation({ contact: ALICE, account: 'acct', from: '+15005550006', program: 'marketing', direction: 'out', ownerApp: 'billing', at: T0 });
        const o1 = contractMessage({ now: T0, to: ALICE, account: 'acct', from: '+15005550006', keyId: 'key_a' });
        const o2 = contractMessage({ now: T0 + 20, to: ALICE, account: 'acct', from: '+15005550006' });
        const other = contractMessage({ now: T0 + 5, to: ALICE, account: 'acct', from: '55501' });
        await store.insertMessages([o1, o2, other].map((m) => ({ message: m, events: accepted(m) })));
        await store.insertInbound(inbound('in_1', ALICE, '+15005550006', T0 + 10));
        await store.insertInbound(inbound('in_2', ALICE, '+15005550006', T0 + 30));
        await store.insertInbound(inbound('in_3', BOB, '+15005550006', T0 + 15));
        const p1 = await store.listConversationMessages(conv.id, { limit: 3 });
        expect(p1.items.map((i) => [i.direction, i.id])).toEqual([
          ['in', 'in_2'],
          ['out', o2.id],
          ['in', 'in_1'],
        ]);
        expect(p1.items[1]).toMatchObject({ from: '+15005550006', to: ALICE, body: o2.body, status: 'queued', keyId: null });
        const p2 = await store.listConversationMessages(conv.id, { limit: 3, cursor: p1.nextCursor });
        expect(p2.items.map((i) => [i.direction, i.id, i.keyId])).toEqual([['out', o1.id, 'key_a']]);
        expect(p2.nextCursor).toBeNull();
        expect(await store.listConversationMessages('cv_nope', { limit: 3 })).toEqual({ items: [], nextCursor: null });
      });
    });

    describe('retention', () => {
      const hash = (n: string) => `hmac256:h(${n})`;
      it('redacts finished messages and inbound bodies of the program before the cut-off; optionally hashes numbers; never the ledger', async () => {
        const old = contractMessage({ now: T0 - 10_000, to: ALICE, account: 'acct', from: '+15005550006' });
        const oldQueued = contractMessage({ now: T0 - 10_000, to: BOB, account: 'acct', from: '+15005550006' });
        const recent = contractMessage({ now: T0 + 10, to: ALICE, account: 'acct', from: '+15005550006' });
        const otherProgram = contractMessage({ now: T0 - 10_000, to: ALICE, account: 'acct', from: '55501' });
        await store.insertMessages([old, oldQueued, recent, otherProgram].map((m) => ({ message: m, events: accepted(m) })));
        for (const m of [old, recent, otherProgram]) {
          await store.transition({ id: m.id, from: ['queued'], patch: { status: 'failed', completedAt: T0 - 5_000 }, now: T0 - 5_000 });
        }
        await store.insertInbound({ id: 'in_old', provider: 'twilio', account: 'acct', providerMessageId: 'SMold', from: ALICE, to: '+15005550006', body: 'my secret', numMedia: 0, mediaUrls: [], providerKeyword: null, receivedAt: T0 - 9_000 });
        await store.recordConsent({ event: keywordEvent(ALICE, 'opted_out', T0 - 9_000, 'in_old'), programSenders: [], outbox: [], now: T0 - 9_000 });

        const r1 = await store.redactMessagesBefore({ senders: ['acct:+15005550006'], before: T0, hash: null, now: T0, max: 1 });
        expect(r1).toEqual({ redacted: 1, hashed: 0 });
        const r2 = await store.redactMessagesBefore({ senders: ['acct:+15005550006'], before: T0, hash: null, now: T0, max: 10 });
        expect(r2).toEqual({ redacted: 1, hashed: 0 });
        expect(await store.redactMessagesBefore({ senders: ['acct:+15005550006'], before: T0, hash: null, now: T0, max: 10 })).toEqual({ redacted: 0, hashed: 0 });
        expect((await store.getMessage(old.id))!.body).toBe('[redacted]');
        expect((await store.getMessage(oldQueued.id))!.body).toBe(oldQueued.body);
        expect((await store.getMessage(recent.id))!.body).toBe(recent.body);
        expect((await store.getMessage(otherProgram.id))!.body).toBe(otherProgram.body);
        expect((await store.listInbound({ limit: 5 })).items[0]!.body).toBe('[redacted]');

        // Turning hashing on later hashes the numbers of rows already redacted.
        const r3 = await store.redactMessagesBefore({ senders: ['acct:+15005550006'], before: T0, hash, now: T0, max: 10 });
        expect(r3).toEqual({ redacted: 0, hashed: 2 });
        expect((await store.getMessage(old.id))!.to).toBe(`hmac256:h(${ALICE})`);
        expect((await store.listInbound({ limit: 5 })).items[0]!.from).toBe(`hmac256:h(${ALICE})`);
        expect(await store.redactMessagesBefore({ senders: ['acct:+15005550006'], before: T0, hash, now: T0, max: 10 })).toEqual({ redacted: 0, hashed: 0 });
        // The ledger keeps its evidence.
        expect((await store.listConsentHistory(ALICE)).map((h) => [h.contact, h.evidence.inboundMessageId])).toEqual([[ALICE, 'in_old']]);
      });

      it('purges raw webhook payloads before the cut-off, keeping the dedupe key', async () => {
        const receipt = (key: string, at: number) => ({ provider: 'twilio', kind: 'status', dedupeKey: key, receivedAt: at, url: 'https://x/webhooks', headers: { a: 'b' }, rawBody: 'MessageSid=SM1', signatureValid: true });
        await store.recordWebhook(receipt('k1', T0 - 100));
        await store.recordWebhook(receipt('k2', T0 - 50));
        await store.recordWebhook(receipt('k3', T0 + 50));
        expect(await store.purgeRawWebhooksBefore({ before: T0, max: 1 })).toBe(1);
        expect(await store.purgeRawWebhooksBefore({ before: T0, max: 10 })).toBe(1);
        expect(await store.purgeRawWebhooksBefore({ before: T0, max: 10 })).toBe(0);
        expect((await store.recordWebhook(receipt('k1', T0 + 60))).duplicate).toBe(true);
      });

      it('a named lease has one holder until it expires', async () => {
        expect(await store.tryLease({ name: 'retention', owner: 'a', until: T0 + 1_000, now: T0 })).toBe(true);
        expect(await store.tryLease({ name: 'retention', owner: 'b', until: T0 + 2_000, now: T0 + 10 })).toBe(false);
        expect(await store.tryLease({ name: 'retention', owner: 'a', until: T0 + 3_000, now: T0 + 20 })).toBe(true);
        expect(await store.tryLease({ name: 'retention', owner: 'b', until: T0 + 4_000, now: T0 + 2_999 })).toBe(false);
        expect(await store.tryLease({ name: 'retention', owner: 'b', until: T0 + 4_000, now: T0 + 3_000 })).toBe(true);
        expect(await store.tryLease({ name: 'other', owner: 'a', until: T0 + 4_000, now: T0 + 3_000 })).toBe(true);
      });
    });

    describe('subscriptions, outbox and delivery log', () => {
      it('lists live subscriptions by key, app and event type; delete fails their pending rows', async () => {
        await store.createSubscription(subscription('sub_1'));
        await store.createSubscription(subscription('sub_2', { keyId: 'key_b', app: 'app-b', events: ['message.status'], createdAt: T0 + 1 }));
        expect((await store.listSubscriptions({})).map((s) => s.id)).toEqual(['sub_1', 'sub_2']);
        expect((await store.listSubscriptions({ keyId: 'key_b' })).map((s) => s.id)).toEqual(['sub_2']);
        expect((await store.listSubscriptions({ type: 'message.received' })).map((s) => s.id)).toEqual(['sub_1']);
        expect((await store.listSubscriptions({ app: 'app-b' })).map((s) => s.id)).toEqual(['sub_2']);
        expect(await store.getSubscription('sub_1')).toEqual(subscription('sub_1'));

        await store.enqueueEvents([outboxRow('sub_1', T0), outboxRow('sub_2', T0)]);
        expect(await store.deleteSubscription('sub_1', T0 + 5)).toBe(true);
        expect(await store.deleteSubscription('sub_1', T0 + 6)).toBe(false);
        expect(await store.deleteSubscription('nope', T0 + 6)).toBe(false);
        expect((await store.listSubscriptions({})).map((s) => s.id)).toEqual(['sub_2']);
        const due = await store.claimDueDeliveries({ now: T0 + 10, owner: 'o', leaseMs: 1_000, max: 10 });
        expect(due.map((d) => d.subscriptionId)).toEqual(['sub_2']);

        await store.disableSubscription('sub_2', 'endpoint answered 410 Gone', T0 + 20);
        expect(await store.getSubscription('sub_2')).toMatchObject({ status: 'disabled', disabledReason: 'endpoint answered 410 Gone' });
        expect((await store.listSubscriptions({ activeOnly: true })).map((s) => s.id)).toEqual([]);
      });

      it('claims due rows once, logs each attempt, retries later, and takes over an expired lease', async () => {
        await store.createSubscription(subscription('sub_1'));
        const a = outboxRow('sub_1', T0);
        const b = outboxRow('sub_1', T0 + 500);
        await store.enqueueEvents([a, b]);
        expect(await store.nextDeliveryDueAt()).toBe(T0);

        const first = await store.claimDueDeliveries({ now: T0, owner: 'o1', leaseMs: 1_000, max: 10 });
        expect(first.map((r) => [r.id, r.status, r.leaseOwner, r.leaseExpiresAt])).toEqual([[a.id, 'delivering', 'o1', T0 + 1_000]]);
        expect(await store.claimDueDeliveries({ now: T0 + 1, owner: 'o2', leaseMs: 1_000, max: 10 })).toEqual([]);

        // 500 → retry in 30 s
        expect(
          await store.completeDelivery({
            id: a.id,
            owner: 'o1',
            attempt: { attempt: 1, startedAt: T0, durationMs: 12, httpStatus: 500, error: 'HTTP 500', outcome: 'retry' },
            next: { status: 'pending', nextAttemptAt: T0 + 30_000 },
            now: T0 + 12,
          }),
        ).toBe(true);
        expect(await store.getOutboxRow(a.id)).toMatchObject({ status: 'pending', attempts: 1, firstAttemptAt: T0, nextAttemptAt: T0 + 30_000, leaseOwner: null });
        // A lost lease cannot complete.
        expect(
          await store.completeDelivery({
            id: a.id,
            owner: 'o1',
            attempt: { attempt: 1, startedAt: T0, durationMs: 1, httpStatus: 200, error: null, outcome: 'delivered' },
            next: { status: 'delivered' },
            now: T0 + 13,
          }),
        ).toBe(false);

        const second = await store.claimDueDeliveries({ now: T0 + 600, owner: 'o1', leaseMs: 1_000, max: 10 });
        expect(second.map((r) => r.id)).toEqual([b.id]);
        // o1 dies; after the lease o2 takes it over.
        expect(await store.claimDueDeliveries({ now: T0 + 1_599, owner: 'o2', leaseMs: 1_000, max: 10 })).toEqual([]);
        const taken = await store.claimDueDeliveries({ now: T0 + 1_600, owner: 'o2', leaseMs: 1_000, max: 10 });
        expect(taken.map((r) => [r.id, r.leaseOwner])).toEqual([[b.id, 'o2']]);
        await store.completeDelivery({
          id: b.id,
          owner: 'o2',
          attempt: { attempt: 1, startedAt: T0 + 1_600, durationMs: 3, httpStatus: 200, error: null, outcome: 'delivered' },
          next: { status: 'delivered' },
          now: T0 + 1_603,
        });

        const again = await store.claimDueDeliveries({ now: T0 + 30_000, owner: 'o1', leaseMs: 1_000, max: 10 });
        expect(again.map((r) => [r.id, r.attempts])).toEqual([[a.id, 1]]);
        await store.completeDelivery({
          id: a.id,
          owner: 'o1',
          attempt: { attempt: 2, startedAt: T0 + 30_000, durationMs: 8, httpStatus: 204, error: null, outcome: 'delivered' },
          next: { status: 'delivered' },
          now: T0 + 30_008,
        });
        expect(await store.getOutboxRow(a.id)).toMatchObject({ status: 'delivered', attempts: 2, firstAttemptAt: T0, completedAt: T0 + 30_008 });

        const log = await store.listDeliveries('sub_1', { limit: 1 });
        expect(log.items.map((d) => [d.outboxId, d.attempt, d.httpStatus, d.outcome, d.eventId])).toEqual([[a.id, 2, 204, 'delivered', a.eventId]]);
        const page2 = await store.listDeliveries('sub_1', { limit: 5, cursor: log.nextCursor });
        expect(page2.items.map((d) => [d.outboxId, d.attempt, d.httpStatus, d.outcome, d.error])).toEqual([
          [b.id, 1, 200, 'delivered', null],
          [a.id, 1, 500, 'retry', 'HTTP 500'],
        ]);
        expect(page2.nextCursor).toBeNull();
      });

      it('replays a delivered or failed row with a new retry window; not one in progress', async () => {
        await store.createSubscription(subscription('sub_1'));
        const a = outboxRow('sub_1', T0);
        await store.enqueueEvents([a]);
        const [row] = await store.claimDueDeliveries({ now: T0, owner: 'o', leaseMs: 1_000, max: 1 });
        expect(await store.replayDelivery(a.id, T0 + 1)).toBeNull();
        await store.completeDelivery({
          id: row!.id,
          owner: 'o',
          attempt: { attempt: 1, startedAt: T0, durationMs: 5, httpStatus: 500, error: 'HTTP 500', outcome: 'gave_up' },
          next: { status: 'failed' },
          now: T0 + 5,
        });
        const replayed = await store.replayDelivery(a.id, T0 + 100);
        expect(replayed).toMatchObject({ id: a.id, eventId: a.eventId, status: 'pending', nextAttemptAt: T0 + 100, firstAttemptAt: null, attempts: 1, completedAt: null });
        expect((await store.claimDueDeliveries({ now: T0 + 100, owner: 'o', leaseMs: 1_000, max: 1 })).map((r) => r.id)).toEqual([a.id]);
        expect(await store.replayDelivery('dl_missing', T0)).toBeNull();
      });
    });
  });
}
