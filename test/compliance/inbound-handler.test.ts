/**
 * The inbound handler on a real SQLite store and the default config's sandbox account: keyword → ledger with
 * evidence (and Twilio OptOutType), auto-replies through the accept path with the exemption mark, provider-
 * handled replies, per-program keywords, thread ownership (last writer, rule, fallback, unknown sender) and the
 * out-of-hours auto-reply, all without HTTP.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsentService } from '../../src/compliance/consent-service.ts';
import { DEFAULT_PROGRAM, type ProgramConfig } from '../../src/compliance/programs.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { createInboundHandler, type InboundHandlerDeps } from '../../src/inbound/inbound-handler.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { InboundRecord, Store } from '../../src/store/store.ts';
import { tempDir } from '../dispatch/support.ts';

const T0 = Date.UTC(2026, 2, 3, 14, 0, 0); // Tuesday 15:00 in Paris
const CONTACT = '+14155550142';
const LONG = '+15005550006';
const TOLL_FREE = '+18005550100';

const french: ProgramConfig = {
  ...(DEFAULT_PROGRAM as ProgramConfig),
  name: 'fr',
  senders: [`sandbox:${TOLL_FREE}`],
  keywords: { optOut: ['STOP', 'ARRET'], optIn: ['START'], help: ['AIDE'], punctuation: 'ignore_opt_out' },
  replies: { optOut: 'Désabonné.', optIn: 'Réabonné.', help: null },
  autoReplies: 'provider',
};

const tmp = tempDir('sb-inbound-');
let store: Store;
let clock: ManualClock;
let config: Readonly<Config>;
let consent: ConsentService;
let seq = 0;

beforeEach(async () => {
  store = createSqliteStore({ path: `${tmp.dir}/${Math.random().toString(36).slice(2)}.db` });
  await store.migrate();
  clock = new ManualClock(T0);
  config = loadConfig({ env: {}, file: null, cwd: tmp.dir, overrides: { logLevel: 'silent', compliance: { programs: [french] } } });
  consent = new ConsentService({ store, clock, programs: config.compliance.programs, accounts: config.accounts });
});
afterEach(async () => {
  await store.close();
});

async function inbound(body: string, to = LONG, extra: Partial<InboundRecord> = {}): Promise<InboundRecord> {
  seq++;
  const r: InboundRecord = { id: `in_${seq}`, provider: 'twilio', account: 'sandbox', providerMessageId: `SM${seq}`, from: CONTACT, to, body, numMedia: 0, mediaUrls: [], providerKeyword: null, receivedAt: clock.now(), ...extra };
  await store.insertInbound(r);
  return r;
}

function handler(over: Partial<InboundHandlerDeps> = {}) {
  return createInboundHandler({ consent, config, ...over });
}

describe('inbound handler', () => {
  it('STOP: ledger with evidence, a confirmation marked with the event it confirms, threaded', async () => {
    const h = handler();
    const rec = await inbound('stop', LONG);
    const out = await h(rec);
    expect(out).toMatchObject({ keyword: 'opt_out', program: 'default', owner: null });
    const [ev] = await store.listConsentHistory(CONTACT);
    expect(ev).toMatchObject({ id: out.consentEventId, state: 'opted_out', source: 'inbound_keyword', evidence: { inboundMessageId: rec.id, keyword: 'STOP' } });
    const reply = (await store.getMessage(out.replyMessageId!))!;
    expect(reply).toMatchObject({ to: CONTACT, from: LONG, keyId: null, category: 'transactional', status: 'queued' });
    expect(reply.metadata).toMatchObject({ keywordReply: { kind: 'opt_out', confirmsEventId: out.consentEventId } });
    const thread = await store.listConversationMessages(out.conversationId!, { limit: 10 });
    expect(thread.items.map((i) => i.direction).sort()).toEqual(['in', 'out']);

    // HELP to an opted-out contact gets no reply (as Twilio).
    const help = await h(await inbound('HELP'));
    expect(help).toMatchObject({ keyword: 'help', replyMessageId: null });
  });

  it('STOP with OptOutType (the provider handled it and replied): one ledger row with its evidence, no reply of ours, threaded', async () => {
    const h = handler();
    const rec = await inbound('stop', LONG, { providerKeyword: 'STOP' });
    const out = await h(rec);
    expect(out).toMatchObject({ keyword: 'opt_out', program: 'default', replyMessageId: null, completed: true });
    const history = await store.listConsentHistory(CONTACT);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ id: out.consentEventId, state: 'opted_out', source: 'inbound_keyword', evidence: { inboundMessageId: rec.id, keyword: 'STOP', raw: { providerOptOutType: 'STOP' } } });
    expect((await store.listMessages({ to: CONTACT, limit: 10 })).items).toEqual([]);
    const thread = await store.listConversationMessages(out.conversationId!, { limit: 10 });
    expect(thread.items.map((i) => [i.direction, i.id])).toEqual([['in', rec.id]]);
    // START reported by the provider: recorded, no reply either.
    clock.advance(1_000);
    const start = await h(await inbound('start', LONG, { providerKeyword: 'START' }));
    expect(start).toMatchObject({ keyword: 'opt_in', replyMessageId: null });
    expect((await store.listConsentHistory(CONTACT)).map((e) => e.state)).toEqual(['opted_out', 'opted_in']);
  });

  it('a provider-only OptOutType is recorded with source provider; a near-miss is an ordinary message', async () => {
    const h = handler();
    const out = await h(await inbound('please stop texting me', LONG, { providerKeyword: 'STOP' }));
    expect(out).toMatchObject({ keyword: 'none', replyMessageId: null });
    expect((await store.getConsent(CONTACT, 'default'))[0]).toMatchObject({ state: 'opted_out', source: 'provider' });
    const other = await h(await inbound('STOP PLEASE', LONG, { from: '+14155550199' }));
    expect(other.consentEventId).toBeNull();
    expect(await store.getConsent('+14155550199')).toEqual([]);
  });

  it('per-program keywords and punctuation; replies left to the provider', async () => {
    const h = handler();
    const out = await h(await inbound('Arret.', TOLL_FREE));
    expect(out).toMatchObject({ keyword: 'opt_out', program: 'fr', replyMessageId: null });
    expect((await store.getConsent(CONTACT, 'fr'))[0]!.state).toBe('opted_out');
    expect(await store.getConsent(CONTACT, 'default')).toEqual([]);
    expect((await h(await inbound('AIDE', TOLL_FREE))).keyword).toBe('help');
    expect((await h(await inbound('AIDE', LONG))).keyword).toBe('none');
  });

  it('owner: keyword prefix rule, last writer, fallback, unknown sender; out-of-hours takes over and auto-replies', async () => {
    await store.touchConversation({ contact: CONTACT, account: 'sandbox', from: LONG, program: 'default', direction: 'out', ownerApp: 'billing', at: T0 - 1_000 });
    const h = handler({
      conversations: {
        routingRules: [{ keywordPrefix: 'JOBS', app: 'hr' }],
        fallbackApp: 'inbox',
        unknownSenderApp: 'triage',
        outOfHours: { start: '09:00', end: '18:00', timeZone: 'Europe/Paris', app: 'night-desk', autoReply: 'We are closed; back at 9:00.' },
      },
    });
    expect((await h(await inbound('is my invoice paid?'))).owner).toBe('billing');
    expect((await h(await inbound('jobs any openings?'))).owner).toBe('hr');
    expect((await h(await inbound('hello', '55501'))).owner).toBe('inbox');
    expect((await h(await inbound('hello', '+19995550000'))).owner).toBe('triage');

    clock.set(Date.UTC(2026, 2, 3, 21, 0, 0)); // 22:00 in Paris
    const night = await h(await inbound('still there?'));
    expect(night.owner).toBe('night-desk');
    const reply = (await store.getMessage(night.replyMessageId!))!;
    expect(reply).toMatchObject({ body: 'We are closed; back at 9:00.', from: LONG, to: CONTACT, keyId: null });
    expect(reply.metadata).toMatchObject({ autoReply: 'out_of_hours' });
  });
});
