/**
 * The dispatch-time consent re-check against a real SQLite store and the real Dispatcher, with an in-memory
 * provider adapter that records every submit: blocked messages are never submitted; the opt-out confirmation is
 * the one exemption; quiet hours defer without an attempt; a provider 21610 lands in the ledger; and an opt-out
 * recorded while a checked submit is on the wire is stamped after that submit returned (ConsentGate).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsentService } from '../../src/compliance/consent-service.ts';
import { ComplianceDispatchGuard } from '../../src/compliance/dispatch-guard.ts';
import { DEFAULT_PROGRAM, type ProgramConfig } from '../../src/compliance/programs.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { ProviderError, type OutboundMessage, type ProviderAdapter, type SendResult } from '../../src/providers/provider.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { dispatchConfig, insertRecords, makeRecord, tempDir } from '../dispatch/support.ts';

const T0 = Date.UTC(2026, 0, 6, 15, 0, 0); // Tuesday 10:00 in New York
const CONTACT = '+12125550123';
const SENDER = '+15005550006';

class RecordingAdapter implements ProviderAdapter {
  readonly sent: { to: string; body: string; at: number }[] = [];
  fail: ProviderError | null = null;
  hold: Promise<void> | null = null;
  onSend: (() => void) | null = null;
  constructor(private readonly clock: ManualClock) {}
  readonly provider = 'twilio';
  readonly account = 'sandbox';
  async send(req: OutboundMessage): Promise<SendResult> {
    this.onSend?.();
    if (this.hold) await this.hold;
    if (this.fail) throw this.fail;
    this.sent.push({ to: req.to, body: req.body, at: this.clock.now() });
    return { providerMessageId: `SM${String(this.sent.length).padStart(32, '0')}`, providerStatus: 'queued', status: 'sending' };
  }
  async lookup(): Promise<null> {
    return null;
  }
  async check(): Promise<{ ok: boolean; detail: string }> {
    return { ok: true, detail: 'recording adapter' };
  }
}

const marketing: ProgramConfig = {
  ...(DEFAULT_PROGRAM as ProgramConfig),
  name: 'marketing',
  senders: [`sandbox:${SENDER}`],
  quietHours: { start: '21:00', end: '08:00', appliesTo: ['promotional'] },
  countries: { deny: ['FR'] },
};

let store: Store;
let clock: ManualClock;
let adapter: RecordingAdapter;
let consent: ConsentService;
let dispatcher: Dispatcher;
const tmp = tempDir('sb-guard-');

beforeEach(async () => {
  store = createSqliteStore({ path: `${tmp.dir}/${Math.random().toString(36).slice(2)}.db` });
  await store.migrate();
  clock = new ManualClock(T0);
  adapter = new RecordingAdapter(clock);
  consent = new ConsentService({ store, clock, programs: [marketing], accounts: [{ name: 'sandbox', senders: [{ from: SENDER }] }] });
  dispatcher = new Dispatcher({
    store,
    adapters: new Map<string, ProviderAdapter>([['sandbox', adapter]]),
    clock,
    config: dispatchConfig(),
    rates: new Map(),
    defaultMps: 1000,
    owner: 'test',
    guard: new ComplianceDispatchGuard(consent),
  });
});
afterEach(async () => {
  await store.close();
});

const stop = (at: number, inbound = `in_${at}`) =>
  consent.record({ contact: CONTACT, program: 'marketing', state: 'opted_out', source: 'inbound_keyword', at, evidence: { inboundMessageId: inbound, keyword: 'STOP' } });

describe('dispatch-time consent re-check', () => {
  it('submits with consent_checked right before; blocks an opted-out contact without submitting', async () => {
    const [ok] = await insertRecords(store, [makeRecord({ now: T0, to: CONTACT, from: SENDER })]);
    await dispatcher.runOnce();
    expect(adapter.sent.length).toBe(1);
    const types = (await store.listEvents(ok!.id)).map((e) => e.type);
    expect(types.slice(-3)).toEqual(['submit_started', 'consent_checked', 'submitted']);

    // Opted out while this one was claimed-but-unchecked: simulate with no sweep scope (a sender outside the config).
    const [late] = await insertRecords(store, [makeRecord({ now: T0, to: CONTACT, from: SENDER })]);
    await store.recordConsent({
      event: { contact: CONTACT, program: 'marketing', state: 'opted_out', source: 'api', at: T0 + 1, evidence: { keyId: 'k' } },
      programSenders: [],
      outbox: [],
      now: T0 + 1,
    });
    await dispatcher.runOnce();
    expect(adapter.sent.length).toBe(1);
    const m = (await store.getMessage(late!.id))!;
    expect(m).toMatchObject({ status: 'failed', errorCode: 'SB_OPTED_OUT', submitState: 'none' });
    const failed = (await store.listEvents(late!.id)).at(-1)!;
    expect(failed.type).toBe('failed');
    expect(failed.detail).toMatchObject({ code: 'SB_OPTED_OUT', providerCode: '21610', stage: 'dispatch', program: 'marketing' });
    expect((await store.listEvents(late!.id)).some((e) => e.type === 'consent_checked')).toBe(false);
  });

  it('lets only the confirmation of the current opt-out through', async () => {
    const r = await stop(T0);
    const confirm = makeRecord({ now: T0, to: CONTACT, from: SENDER, body: 'unsubscribed' });
    confirm.metadata = { keywordReply: { kind: 'opt_out', confirmsEventId: r.eventId } };
    const stale = makeRecord({ now: T0, to: CONTACT, from: SENDER, body: 'stale confirmation' });
    stale.metadata = { keywordReply: { kind: 'opt_out', confirmsEventId: 'ce_older' } };
    const forged = makeRecord({ now: T0, to: CONTACT, from: SENDER, body: 'forged by an app' });
    forged.keyId = 'key_app';
    forged.metadata = { keywordReply: { kind: 'opt_out', confirmsEventId: r.eventId } };
    await insertRecords(store, [confirm, stale, forged]);
    await dispatcher.runOnce();
    expect(adapter.sent.map((s) => s.body)).toEqual(['unsubscribed']);
    expect((await store.getMessage(stale.id))!.errorCode).toBe('SB_OPTED_OUT');
    expect((await store.getMessage(forged.id))!.errorCode).toBe('SB_OPTED_OUT');
  });

  it('defers promotional traffic in the recipient’s quiet hours (not an attempt) and blocks a denied country', async () => {
    clock.set(Date.UTC(2026, 0, 7, 4, 0, 0)); // 23:00 in New York
    const promo = makeRecord({ now: clock.now(), to: CONTACT, from: SENDER, category: 'promotional', validFor: 36_000 });
    const otp = makeRecord({ now: clock.now(), to: CONTACT, from: SENDER, category: 'otp' });
    const french = makeRecord({ now: clock.now(), to: '+33612345678', from: SENDER });
    await insertRecords(store, [promo, otp, french]);
    await dispatcher.runOnce();
    expect(adapter.sent.map((s) => s.to)).toEqual([CONTACT]);
    const held = (await store.getMessage(promo.id))!;
    const morning = Date.UTC(2026, 0, 7, 13, 0, 0); // 08:00 in New York
    expect(held).toMatchObject({ status: 'queued', attempts: 0, nextAttemptAt: morning, submitState: 'none' });
    expect((await store.listEvents(promo.id)).at(-1)).toMatchObject({ type: 'deferred', status: 'queued', detail: { reason: 'quiet_hours', until: morning } });
    expect((await store.getMessage(french.id))!.errorCode).toBe('SB_COUNTRY_BLOCKED');

    clock.set(morning);
    await dispatcher.runOnce();
    expect(adapter.sent.length).toBe(2);
    expect((await store.getMessage(promo.id))!.attempts).toBe(1);
  });

  it('records a provider 21610 as a provider opt-out', async () => {
    adapter.fail = new ProviderError('permanent', '21610', 'Attempt to send to unsubscribed recipient', { httpStatus: 400 });
    const [m] = await insertRecords(store, [makeRecord({ now: T0, to: CONTACT, from: SENDER })]);
    await dispatcher.runOnce();
    expect((await store.getMessage(m!.id))!.errorCode).toBe('21610');
    const [snap] = await store.getConsent(CONTACT, 'marketing');
    expect(snap).toMatchObject({ state: 'opted_out', source: 'provider' });
    const [h] = await store.listConsentHistory(CONTACT);
    expect(h!.evidence).toEqual({ raw: { errorCode: '21610', messageId: m!.id } });
  });

  it('a provider 21610 for a contact the ledger already has opted out adds no second row', async () => {
    await stop(T0);
    const [m] = await insertRecords(store, [makeRecord({ now: T0, to: CONTACT, from: SENDER })]);
    await new ComplianceDispatchGuard(consent).onProviderOptOut(m!, '21610');
    expect((await store.listConsentHistory(CONTACT)).map((h) => [h.state, h.source])).toEqual([['opted_out', 'inbound_keyword']]);
    // Opted back in: a later 21610 is news again (the provider still blocks) and is recorded.
    await consent.record({ contact: CONTACT, program: 'marketing', state: 'opted_in', source: 'inbound_keyword', at: T0 + 10, evidence: { inboundMessageId: 'in_start', keyword: 'START' } });
    clock.set(T0 + 20);
    await new ComplianceDispatchGuard(consent).onProviderOptOut(m!, '21610');
    expect((await store.listConsentHistory(CONTACT)).map((h) => [h.state, h.source])).toEqual([
      ['opted_out', 'inbound_keyword'],
      ['opted_in', 'inbound_keyword'],
      ['opted_out', 'provider'],
    ]);
  });

  it('stamps an opt-out after the checked submit on the wire returned, and checks no new one meanwhile', async () => {
    let release!: () => void;
    adapter.hold = new Promise<void>((r) => (release = r));
    let sendStarted!: () => void;
    const started = new Promise<void>((r) => (sendStarted = r));
    adapter.onSend = () => sendStarted();
    const [a] = await insertRecords(store, [makeRecord({ now: T0, to: CONTACT, from: SENDER, body: 'on the wire' })]);
    const round = dispatcher.runOnce();
    await started;
    let recorded = false;
    const stopping = stop(T0 + 10).then((r) => {
      recorded = true;
      return r;
    });
    // The opt-out waits for the submit on the wire; meanwhile it is not recorded.
    await new Promise((r) => setImmediate(r));
    expect(recorded).toBe(false);
    expect(await store.listConsentHistory(CONTACT)).toEqual([]);
    clock.advance(50);
    release();
    await round;
    const r = await stopping;
    const [h] = await store.listConsentHistory(CONTACT);
    expect(h!.id).toBe(r.eventId);
    expect(h!.recordedAt).toBeGreaterThanOrEqual(adapter.sent[0]!.at);
    expect((await store.getMessage(a!.id))!.status).toBe('sending');
    expect(consent.gate.size).toBe(0);
  });
});
