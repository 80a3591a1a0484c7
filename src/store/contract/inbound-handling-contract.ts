/**
 * The store contract, resumable inbound handling and same-transaction app events (issue 4, "nothing lost"):
 * `markInboundHandled`, `listUnhandledInbound`, `insertInbound`'s `unhandled`, `recordConsent` keyed by the inbound
 * message it records, and `transition({ outbox })`. Run by describeStoreContract for every engine. Port only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConsentEvent } from '../../compliance/consent-policy.ts';
import type { InboundRecord, NewOutboxRow, Store } from '../store.ts';
import { contractMessage, type StoreFactory } from './store-contract.ts';

const T0 = Date.UTC(2026, 0, 2, 9, 0, 0);
const CONTACT = '+14155550177';

function inbound(n: number, over: Partial<InboundRecord> = {}): InboundRecord {
  return {
    id: `in_contract_${n}`,
    provider: 'twilio',
    account: 'acct',
    providerMessageId: `SMcontract${n}`,
    from: CONTACT,
    to: '+15005550006',
    body: `hello ${n}`,
    numMedia: 0,
    mediaUrls: [],
    providerKeyword: null,
    receivedAt: T0 + n,
    ...over,
  };
}

function row(id: string, at: number, type: NewOutboxRow['type'] = 'message.received'): NewOutboxRow {
  return { id, eventId: `evt_${id}`, subscriptionId: 'sub_contract', type, payload: JSON.stringify({ id }), nextAttemptAt: at, createdAt: at };
}

function stop(inboundId: string, at: number, program = 'marketing'): ConsentEvent {
  return { contact: CONTACT, program, state: 'opted_out', source: 'inbound_keyword', at, evidence: { inboundMessageId: inboundId, keyword: 'STOP' } };
}

export function describeInboundHandlingContract(name: string, factory: StoreFactory): void {
  describe(`inbound handling store contract: ${name}`, () => {
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

    it('an inbound message stays unhandled until markInboundHandled, which writes its events exactly once', async () => {
      const a = inbound(1);
      const b = inbound(2);
      expect(await store.insertInbound(a)).toEqual({ duplicate: false });
      expect(await store.insertInbound(b)).toEqual({ duplicate: false });
      // Oldest first; only those received before `before`; `limit` respected.
      expect((await store.listUnhandledInbound({ before: T0 + 10, limit: 10 })).map((r) => r.id)).toEqual([a.id, b.id]);
      expect((await store.listUnhandledInbound({ before: T0 + 2, limit: 10 })).map((r) => r.id)).toEqual([a.id]);
      expect((await store.listUnhandledInbound({ before: T0 + 10, limit: 1 })).map((r) => r.id)).toEqual([a.id]);
      expect((await store.listUnhandledInbound({ before: T0 + 10, limit: 10 }))[0]).toEqual(a);

      expect(await store.markInboundHandled({ id: a.id, outbox: [row('dl_first', T0 + 5)], now: T0 + 5 })).toBe(true);
      expect(await store.getOutboxRow('dl_first')).toMatchObject({ status: 'pending', eventId: 'evt_dl_first', type: 'message.received' });
      // A second completion (a re-run that raced the first) writes nothing.
      expect(await store.markInboundHandled({ id: a.id, outbox: [row('dl_second', T0 + 6)], now: T0 + 6 })).toBe(false);
      expect(await store.getOutboxRow('dl_second')).toBeNull();
      expect((await store.listUnhandledInbound({ before: T0 + 10, limit: 10 })).map((r) => r.id)).toEqual([b.id]);
      // Unknown id: nothing written.
      expect(await store.markInboundHandled({ id: 'in_nope', outbox: [row('dl_nope', T0)], now: T0 })).toBe(false);
      expect(await store.getOutboxRow('dl_nope')).toBeNull();
    });

    it('a duplicate insert hands back the stored row while it is unhandled, and nothing once handled', async () => {
      const a = inbound(3);
      await store.insertInbound(a);
      const retry = { ...a, id: 'in_contract_retry', body: 'retried', receivedAt: T0 + 60_000 };
      expect(await store.insertInbound(retry)).toEqual({ duplicate: true, unhandled: a });
      await store.markInboundHandled({ id: a.id, outbox: [], now: T0 + 7 });
      expect(await store.insertInbound(retry)).toEqual({ duplicate: true });
      expect((await store.listInbound({ limit: 10 })).items.map((r) => r.id)).toEqual([a.id]);
    });

    it('recordConsent is idempotent per inbound message: one ledger row, one app event, the first row id', async () => {
      await store.createSubscription({
        id: 'sub_contract',
        keyId: 'key_a',
        app: 'app-a',
        url: 'https://example.com/hook',
        events: ['contact.opted_out'],
        secrets: ['whsec_1'],
        status: 'active',
        disabledReason: null,
        createdAt: T0,
        deletedAt: null,
      });
      const first = await store.recordConsent({ event: stop('in_k1', T0), programSenders: [], outbox: [row('dl_c1', T0, 'contact.opted_out')], now: T0 + 1 });
      expect(first).toMatchObject({ result: { accepted: true, changed: true }, failedMessageIds: [] });
      expect(first.duplicate).toBeFalsy();
      // The same inbound message again (a handling re-run after a crash), even once the program was renamed.
      for (const program of ['marketing', 'renamed']) {
        const again = await store.recordConsent({ event: stop('in_k1', T0 + 50, program), programSenders: [], outbox: [row(`dl_c_${program}`, T0 + 50, 'contact.opted_out')], now: T0 + 51 });
        expect(again).toMatchObject({ duplicate: true, eventId: first.eventId, failedMessageIds: [], result: { accepted: true, changed: false, next: { program: 'marketing', state: 'opted_out', eventId: first.eventId } } });
        expect(await store.getOutboxRow(`dl_c_${program}`)).toBeNull();
      }
      expect((await store.listConsentHistory(CONTACT)).map((h) => h.id)).toEqual([first.eventId]);
      expect(await store.getOutboxRow('dl_c1')).toMatchObject({ type: 'contact.opted_out' });
      // Another inbound message is its own evidence (a repeated STOP is kept); an API change never matches one.
      const other = await store.recordConsent({ event: stop('in_k2', T0 + 100), programSenders: [], outbox: [], now: T0 + 101 });
      expect(other.duplicate).toBeFalsy();
      const api = await store.recordConsent({
        event: { contact: CONTACT, program: 'marketing', state: 'opted_out', source: 'api', at: T0 + 200, evidence: { keyId: 'key_a', inboundMessageId: 'in_k1' } },
        programSenders: [],
        outbox: [],
        now: T0 + 201,
      });
      expect(api.duplicate).toBeFalsy();
      expect(await store.listConsentHistory(CONTACT)).toHaveLength(3);
    });

    it('transition writes its outbox rows in the same write, only when the update applies', async () => {
      const m = contractMessage({ now: T0, status: 'sending', submitState: 'accepted' });
      await store.insertMessages([{ message: m, events: [] }]);
      const applied = await store.transition({
        id: m.id,
        from: ['sending'],
        patch: { status: 'delivered', completedAt: T0 + 1 },
        now: T0 + 1,
        event: { messageId: m.id, type: 'status', status: 'delivered', at: T0 + 1, detail: { applied: true } },
        outbox: [row('dl_s1', T0 + 1, 'message.status'), row('dl_s2', T0 + 1, 'message.status')],
      });
      expect(applied?.status).toBe('delivered');
      expect(await store.getOutboxRow('dl_s1')).toMatchObject({ type: 'message.status', status: 'pending', nextAttemptAt: T0 + 1 });
      expect(await store.getOutboxRow('dl_s2')).toMatchObject({ type: 'message.status' });
      // Compare-and-set lost: neither the message nor the outbox changes.
      const lost = await store.transition({ id: m.id, from: ['sending'], patch: { status: 'sent' }, now: T0 + 2, outbox: [row('dl_s3', T0 + 2, 'message.status')] });
      expect(lost).toBeNull();
      expect(await store.getOutboxRow('dl_s3')).toBeNull();
    });
  });
}
