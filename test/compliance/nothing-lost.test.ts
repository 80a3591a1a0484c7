/**
 * Issue 4 "nothing lost", on both engines: the compliance module wired to the Twilio webhook routes exactly as
 * src/app.ts does, with the process "dying" at the exact points that used to lose a ledger entry or an app event:
 * - after the inbound message is stored, before its keyword handling (Twilio's retry used to be a mere duplicate);
 * - after the ledger write, before the handling completes (a restart's recovery sweep finishes it);
 * - after the inbound message is stored, before `message.received` / `contact.help`;
 * - right after a status change commits, before `message.status` was enqueued.
 * A crash is a store call that throws (before or after doing its work), as a killed process leaves the database.
 * Then the ledger entry / event must exist exactly once, also after further redeliveries.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import twilio from 'twilio';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createComplianceModule, type ComplianceModule } from '../../src/compliance/module.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import type { MessageRecord } from '../../src/domain/message.ts';
import { replyIdFor } from '../../src/inbound/inbound-handler.ts';
import { checkPostgres } from '../../src/store/postgres/test-db.ts';
import type { OutboxRow, Store } from '../../src/store/store.ts';
import { twilioWebhookRoutes } from '../../src/webhooks/twilio-webhooks.ts';
import { crashing, storeEngines, type Crash, type Engine } from '../dispatch/support.ts';

const T0 = Date.UTC(2026, 2, 3, 14, 0, 0);
const PUBLIC_URL = 'https://sb.example.com';
const CONTACT = '+14155550188';
const SENDER = '+15005550006';
const KEY_ID = 'key_billing';
const silent = { debug() {}, info() {}, warn() {}, error() {} };

const pgReach = await checkPostgres();
const engines = storeEngines('sb-nothing-lost-');

describe.each(engines)('nothing lost (%s)', (name, makeEngine) => {
  const run = name === 'sqlite' || pgReach.ok || !!process.env.CI;
  let engine: Engine;
  let clock: ManualClock;
  let config: Readonly<Config>;
  const opened: { store: Store; app: FastifyInstance; module: ComplianceModule }[] = [];
  let inspectAt = 0;

  beforeEach(async () => {
    if (!run) return;
    engine = await makeEngine();
    clock = new ManualClock(T0);
    config = loadConfig({ env: {}, file: null, cwd: process.cwd(), overrides: { logLevel: 'silent', publicUrl: PUBLIC_URL } });
    const store = engine.open();
    await store.migrate();
    await store.createApiKey({ id: KEY_ID, name: 'billing', hash: 'h'.repeat(64), prefix: 'sb_billing', scopes: ['messages:send'], account: 'sandbox', createdAt: T0, revokedAt: null });
    await store.createSubscription({
      id: 'sub_billing',
      keyId: KEY_ID,
      app: 'billing',
      url: 'https://billing.example.com/hooks/switchboard',
      events: ['message.status', 'message.received', 'contact.opted_out', 'contact.opted_in', 'contact.help'],
      secrets: ['whsec_test'],
      status: 'active',
      disabledReason: null,
      createdAt: T0,
      deletedAt: null,
    });
    // The thread is billing's: ordinary replies go to it as message.received.
    await store.touchConversation({ contact: CONTACT, account: 'sandbox', from: SENDER, program: 'default', direction: 'out', ownerApp: 'billing', at: T0 - 60_000 });
    await store.close();
  });

  afterEach(async () => {
    if (!run) return;
    await shutdown();
    await engine.cleanup();
  });

  async function shutdown(): Promise<void> {
    for (const o of opened.splice(0)) {
      await o.app.close();
      await o.module.stop();
      await o.store.close();
    }
  }

  /** A process: the store (crashing once at `crash`), the compliance module and the webhook routes, as app.ts wires them. */
  async function boot(crash: Crash = null): Promise<{ store: Store; app: FastifyInstance; module: ComplianceModule }> {
    const store = engine.open();
    await store.migrate();
    const s = crashing(store, crash);
    const module = createComplianceModule({ store: s, clock, config, owner: `owner-${opened.length}` });
    const app = Fastify({ logger: false });
    await app.register(twilioWebhookRoutes, {
      store: s,
      clock,
      accounts: config.accounts,
      publicUrl: PUBLIC_URL,
      log: silent,
      onStatus: (m, e) => module.onStatus(m, e),
      onInbound: async (r) => {
        await module.onInbound(r);
      },
      resumeInbound: async (r) => {
        await module.onInbound(r);
      },
      statusOutbox: (m, e) => module.statusOutbox(m, e),
    });
    await app.ready();
    const p = { store, app, module };
    opened.push(p);
    return p;
  }

  async function post(app: FastifyInstance, path: string, params: Record<string, string>) {
    const account = config.accounts[0]!;
    const form = new URLSearchParams(params).toString();
    return app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(account.authToken, PUBLIC_URL + path, params) },
      payload: form,
    });
  }

  const inbound = (sid: string, body: string) => ({ AccountSid: config.accounts[0]!.accountSid, MessageSid: sid, SmsMessageSid: sid, From: CONTACT, To: SENDER, Body: body, NumMedia: '0' });

  /** Every app event the deliverer would send (pending outbox rows), read through the port. */
  async function outbox(store: Store): Promise<OutboxRow[]> {
    inspectAt += 1;
    return store.claimDueDeliveries({ now: T0 + 365 * 86_400_000 + inspectAt * 10_000, owner: 'inspector', leaseMs: 1, max: 1_000 });
  }
  const payload = (r: OutboxRow) => JSON.parse(r.payload) as { id: string; type: string; data: Record<string, unknown> };

  it.skipIf(!run)('dies after the STOP is stored, before its handling: the retry records the opt-out once, one event, one confirmation', async () => {
    const { app, store } = await boot({ method: 'recordConsent', when: 'before' });
    const params = inbound('SM' + 'a'.repeat(32), 'STOP');
    expect((await post(app, '/webhooks/twilio/inbound', params)).statusCode).toBe(200);
    const [stored] = (await store.listInbound({ limit: 10 })).items;
    expect(await store.listConsentHistory(CONTACT)).toEqual([]);

    clock.advance(15_000);
    for (let i = 0; i < 2; i++) expect((await post(app, '/webhooks/twilio/inbound', params)).statusCode).toBe(200); // Twilio's retries

    const history = await store.listConsentHistory(CONTACT);
    expect(history.map((h) => [h.state, h.source, h.evidence.inboundMessageId, h.evidence.keyword])).toEqual([['opted_out', 'inbound_keyword', stored!.id, 'STOP']]);
    expect((await store.getConsent(CONTACT, 'default'))[0]).toMatchObject({ state: 'opted_out', eventId: history[0]!.id });
    const replies = (await store.listMessages({ to: CONTACT, limit: 10 })).items;
    expect(replies.map((m) => [m.id, m.metadata?.keywordReply])).toEqual([[replyIdFor(stored!.id), { kind: 'opt_out', confirmsEventId: history[0]!.id }]]);
    expect((await outbox(store)).map((r) => [r.type, payload(r).data.contact])).toEqual([['contact.opted_out', CONTACT]]);
    expect(await store.listUnhandledInbound({ before: clock.now() + 1, limit: 10 })).toEqual([]);
  });

  it.skipIf(!run)('dies after the ledger write, before the handling completes: after a restart the sweep completes it, nothing twice', async () => {
    const first = await boot({ method: 'markInboundHandled', when: 'before' });
    expect((await post(first.app, '/webhooks/twilio/inbound', inbound('SM' + 'b'.repeat(32), 'stop'))).statusCode).toBe(200);
    const [stored] = (await first.store.listInbound({ limit: 10 })).items;
    const [entry] = await first.store.listConsentHistory(CONTACT);
    expect(entry).toMatchObject({ state: 'opted_out', evidence: { inboundMessageId: stored!.id } });
    await shutdown(); // the process is gone

    clock.advance(60_000);
    const second = await boot();
    expect(await second.module.recoverInbound()).toEqual({ ran: true, handled: 1, failed: 0 });
    expect(await second.module.recoverInbound()).toEqual({ ran: true, handled: 0, failed: 0 });
    expect((await second.store.listConsentHistory(CONTACT)).map((h) => h.id)).toEqual([entry!.id]);
    expect((await second.store.listMessages({ to: CONTACT, limit: 10 })).items.map((m) => m.id)).toEqual([replyIdFor(stored!.id)]);
    expect((await outbox(second.store)).map((r) => r.type)).toEqual(['contact.opted_out']);
    expect(await second.store.listUnhandledInbound({ before: clock.now() + 1, limit: 10 })).toEqual([]);
  });

  it.skipIf(!run)('the recovery sweep runs on one instance at a time and leaves a message still within its grace period', async () => {
    const first = await boot({ method: 'recordConsent', when: 'before' });
    expect((await post(first.app, '/webhooks/twilio/inbound', inbound('SM' + 'c'.repeat(32), 'STOP'))).statusCode).toBe(200);
    const other = await boot();
    expect(await other.module.recoverInbound()).toEqual({ ran: true, handled: 0, failed: 0 }); // received just now: grace
    expect(await first.module.recoverInbound()).toEqual({ ran: false, handled: 0, failed: 0 }); // `other` holds the lease
    clock.advance(31_000);
    expect(await other.module.recoverInbound()).toEqual({ ran: true, handled: 1, failed: 0 });
    expect(await other.store.listConsentHistory(CONTACT)).toHaveLength(1);
  });

  it.skipIf(!run).each([
    ['Is my invoice paid?', 'message.received'],
    ['HELP', 'contact.help'],
  ])('dies after %j is stored, before its app event: the retry writes %s exactly once', async (body, type) => {
    const { app, store } = await boot({ method: 'markInboundHandled', when: 'before' });
    const params = inbound('SM' + 'd'.repeat(31) + (type === 'contact.help' ? '1' : '2'), body);
    expect((await post(app, '/webhooks/twilio/inbound', params)).statusCode).toBe(200);
    const [stored] = (await store.listInbound({ limit: 10 })).items;
    expect(await outbox(store)).toEqual([]);

    clock.advance(15_000);
    for (let i = 0; i < 2; i++) expect((await post(app, '/webhooks/twilio/inbound', params)).statusCode).toBe(200);
    const rows = await outbox(store);
    expect(rows.map((r) => r.type)).toEqual([type]);
    const data = payload(rows[0]!).data;
    expect(type === 'message.received' ? data.messageId : data.inboundMessageId).toBe(stored!.id);
    if (type === 'message.received') expect(data).toMatchObject({ body, ownerApp: 'billing' });
  });

  it.skipIf(!run)('dies right after a status change commits: message.status was written with it, once', async () => {
    const { app, store } = await boot({ method: 'transition', when: 'after' });
    const sid = 'SM' + 'e'.repeat(32);
    const m: MessageRecord = {
      id: 'msg_01nothinglost0000000000000',
      keyId: KEY_ID,
      account: 'sandbox',
      provider: 'twilio',
      to: CONTACT,
      from: SENDER,
      body: 'Your invoice is paid',
      segments: 1,
      encoding: 'GSM-7',
      category: 'transactional',
      priority: 5,
      status: 'sent',
      submitState: 'accepted',
      metadata: { invoice: 'INV-7' },
      idempotencyKey: null,
      requestHash: null,
      providerMessageId: sid,
      providerStatus: 'sent',
      errorCode: null,
      errorMessage: null,
      attempts: 1,
      nextAttemptAt: T0,
      expiresAt: T0 + 3_600_000,
      leaseOwner: null,
      leaseExpiresAt: null,
      createdAt: T0,
      updatedAt: T0,
      submittedAt: T0,
      completedAt: null,
    };
    await store.insertMessages([{ message: m, events: [] }]);
    const params = { AccountSid: config.accounts[0]!.accountSid, MessageSid: sid, SmsSid: sid, MessageStatus: 'delivered', SmsStatus: 'delivered', From: SENDER, To: CONTACT };
    expect((await post(app, `/webhooks/twilio/status?m=${m.id}`, params)).statusCode).toBe(500); // died after the commit
    expect((await store.getMessage(m.id))?.status).toBe('delivered');

    clock.advance(15_000);
    expect((await post(app, `/webhooks/twilio/status?m=${m.id}`, params)).statusCode).toBe(204); // Twilio's retry
    const rows = await outbox(store);
    expect(rows.map((r) => [r.type, payload(r).data.id, payload(r).data.status, payload(r).data.metadata])).toEqual([['message.status', m.id, 'delivered', { invoice: 'INV-7' }]]);
  });
});
