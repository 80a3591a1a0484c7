/**
 * STOP/START/HELP on the in-process sandbox carrier over real HTTP (issue 4 "HELP gets the configured reply"), on
 * both engines. The default `npm start` setup (buildApp `configureSandboxKeywords`):
 *
 * - a program with `autoReplies: "switchboard"` (the default): its long codes have the carrier's default opt-out
 *   filtering turned off (as Twilio support does on request), so Switchboard's configured replies are the only
 *   ones: per STOP exactly one confirmation at the handset (the program's text, delivered), one ledger row, no 21610
 *   anywhere; HELP and START get the configured replies; other-language keywords (ARRET) work the same way;
 * - a program with `autoReplies: "provider"` (here on the toll-free number): the carrier handles the keyword and
 *   reports it (`OptOutType`, Advanced Opt-Out); Switchboard records once and sends nothing;
 * - a short code outside a service: the carrier leaves keywords to Switchboard, which confirms.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/config/schema.ts';
import { DEFAULT_PROGRAM, type ProgramConfig } from '../../src/compliance/programs.ts';
import { replyIdFor } from '../../src/inbound/inbound-handler.ts';
import { DEFAULT_KEYWORDS } from '../../src/inbound/keywords.ts';
import type { ReplyResult } from '../../src/sandbox/engine.ts';
import { KEYWORD_REPLIES, TOLL_FREE_STOP_REPLY } from '../../src/sandbox/magic.ts';
import { TEST_DATABASE_URL } from '../../src/store/postgres/test-db.ts';
import { startTestApp, tempDir, waitFor } from './support.ts';

/** Program "alerts" (configured texts, French keywords, autoReplies left at its default). */
const LONG_CODE = '+15005550006';
/** The built-in default program. */
const DEFAULT_LONG_CODE = '+14155550900';
const TOLL_FREE = '+18005550100';
/** Program "care" (autoReplies "provider"), with the toll-free number. */
const PROVIDER_LONG_CODE = '+14155550901';
const SHORT_CODE = '55501';
const ALERTS = { optOut: 'Acme Alerts: unsubscribed. Reply START to resubscribe.', optIn: 'Acme Alerts: welcome back. Reply STOP to end.', help: 'Acme Alerts: help at acme.test/help. Reply STOP to end.' };
const CARE_STOP = 'Acme Care: unsubscribed.';

const alerts: ProgramConfig = {
  ...(DEFAULT_PROGRAM as ProgramConfig),
  name: 'alerts',
  senders: [`sandbox:${LONG_CODE}`],
  keywords: { optOut: [...DEFAULT_KEYWORDS.optOut, 'ARRET'], optIn: [...DEFAULT_KEYWORDS.optIn], help: [...DEFAULT_KEYWORDS.help, 'AIDE'] },
  replies: ALERTS,
};
delete (alerts as { autoReplies?: unknown }).autoReplies;
/** The toll-free number belongs to a program that leaves the replies to the provider. */
const care: ProgramConfig = { ...(DEFAULT_PROGRAM as ProgramConfig), name: 'care', senders: [`sandbox:${TOLL_FREE}`, `sandbox:${PROVIDER_LONG_CODE}`], autoReplies: 'provider', replies: { optOut: CARE_STOP, optIn: 'Acme Care: welcome back.', help: 'Acme Care help.' } };

const tmp = tempDir('sb-provider-kw-');
const schema = `sb_provkw_${process.pid}_${Date.now().toString(36)}`;

afterAll(async () => {
  tmp.cleanup();
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

describe.each([
  ['sqlite', () => `sqlite:${tmp.dir}/switchboard.db`],
  ['postgres', () => `${TEST_DATABASE_URL}?schema=${schema}`],
])('keywords on the sandbox carrier (%s)', (_engine, databaseUrl) => {
  let built: App;
  let url: string;
  let token: string;

  beforeAll(async () => {
    ({ built, url } = await startTestApp(tmp.dir, {
      databaseUrl: databaseUrl(),
      sandbox: { latency: { sendingMs: 5, sentMs: 10, deliveredMs: 20 } },
      accounts: [
        {
          name: 'sandbox',
          provider: 'twilio',
          baseUrl: 'http://127.0.0.1:0/sandbox',
          accountSid: SANDBOX_ACCOUNT_SID,
          authToken: SANDBOX_AUTH_TOKEN,
          senders: [
            { from: LONG_CODE, type: 'long_code', mps: 20 },
            { from: DEFAULT_LONG_CODE, type: 'long_code', mps: 20 },
            { from: TOLL_FREE, type: 'toll_free', mps: 20 },
            { from: PROVIDER_LONG_CODE, type: 'long_code', mps: 20 },
            { from: SHORT_CODE, type: 'short_code', mps: 20 },
          ],
        },
      ],
      compliance: { programs: [alerts, care] },
    }));
    token = built.devKey!.token;
  }, 60_000);

  afterAll(async () => {
    await built?.close();
  });

  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }
  const received = (handset: string) => built.sandbox!.phones.inbox(handset).filter((e) => e.direction === 'received');
  const history = async (handset: string, program: string) => (await api('GET', `/v1/contacts/${encodeURIComponent(handset)}/consent/history?program=${program}`)).json.items as any[];
  /** What Switchboard sent (or tried to send) to the handset: stored messages and submissions at the carrier. */
  async function switchboardSent(handset: string): Promise<{ stored: number; submitted: number }> {
    const stored = (await built.store.listMessages({ to: handset, limit: 100 })).items.length;
    const submitted = built.sandbox!.submissions().filter((s) => s.params.To === handset).length;
    return { stored, submitted };
  }
  /** Every 21610 the carrier produced for the handset (refused sends and failed messages). */
  const carrier21610 = (handset: string) => [...built.sandbox!.messagesBySid.values()].filter((m) => m.to === handset && m.errorCode === 21610).length;
  /** The handset texts `body` to `to`; the webhook was answered (the handling is done when it returns). */
  async function text(handset: string, to: string, body: string): Promise<{ inboundId: string; carrier: ReplyResult }> {
    const r = await built.sandbox!.reply({ from: handset, to, body });
    expect(r.webhook?.status).toBe(200);
    const inbound = (await built.store.listInbound({ limit: 100 })).items.find((i) => i.providerMessageId === r.message.sid);
    return { inboundId: inbound!.id, carrier: r };
  }
  /** Switchboard's keyword reply to an inbound message, once it reached an end state. */
  async function ourReply(inboundId: string) {
    return waitFor('the keyword reply settled', async () => {
      const m = await built.store.getMessage(replyIdFor(inboundId));
      return m && ['delivered', 'failed', 'undelivered'].includes(m.status) ? m : undefined;
    });
  }
  /** A send through the API; on 202, waits until it reached the handset. */
  async function sendTo(handset: string, from: string, body: string): Promise<{ status: number; code?: string }> {
    const r = await api('POST', '/v1/messages', { to: handset, from, body });
    if (r.status === 202) await waitFor(`"${body}" at the handset`, async () => (received(handset).some((e) => e.body === body) ? true : undefined));
    return { status: r.status, code: r.json.error?.code };
  }

  it('setup: "switchboard" long codes without carrier filtering; the "provider" toll-free number in an Advanced Opt-Out service; the short code untouched', () => {
    const numbers = new Map(built.sandbox!.numbers().map((n) => [n.phoneNumber, n]));
    for (const n of [LONG_CODE, DEFAULT_LONG_CODE]) expect(numbers.get(n)).toMatchObject({ keywordFiltering: false, serviceSid: null });
    const tollFree = numbers.get(TOLL_FREE)!;
    expect(tollFree.serviceSid).toMatch(/^MG/);
    expect(numbers.get(PROVIDER_LONG_CODE)).toMatchObject({ keywordFiltering: true, serviceSid: tollFree.serviceSid });
    expect(built.sandbox!.services.get(tollFree.serviceSid!)!.advancedOptOut).toBe(true);
    expect(numbers.get(SHORT_CODE)).toMatchObject({ keywordFiltering: true, serviceSid: null });
  });

  it('default program, long code: STOP → exactly one confirmation (the program’s text, delivered), one ledger row, no 21610', async () => {
    const handset = '+14155550161';
    const { inboundId, carrier } = await text(handset, DEFAULT_LONG_CODE, 'STOP');
    expect([carrier.keyword, carrier.replies.length]).toEqual([null, 0]);
    const rows = await history(handset, 'default');
    expect(rows.map((r) => [r.state, r.source, r.evidence.keyword, r.evidence.raw])).toEqual([['opted_out', 'inbound_keyword', 'STOP', undefined]]);
    expect(rows[0].evidence.inboundMessageId).toBe(inboundId);
    expect(await ourReply(inboundId)).toMatchObject({ status: 'delivered', errorCode: null, from: DEFAULT_LONG_CODE, to: handset, body: DEFAULT_PROGRAM.replies.optOut });
    await waitFor('the confirmation at the handset', async () => (received(handset).length > 0 ? true : undefined));
    expect(received(handset).map((e) => [e.from, e.body])).toEqual([[DEFAULT_LONG_CODE, DEFAULT_PROGRAM.replies.optOut]]);
    expect(await switchboardSent(handset)).toEqual({ stored: 1, submitted: 1 });

    // Switchboard's ledger is the block: refused at accept, never reaching the carrier; still one row, no 21610.
    expect(await sendTo(handset, DEFAULT_LONG_CODE, 'after stop')).toEqual({ status: 422, code: 'SB_OPTED_OUT' });
    expect((await history(handset, 'default')).length).toBe(1);
    expect(carrier21610(handset)).toBe(0);
    expect(received(handset)).toHaveLength(1);
  });

  it('default program, long code: HELP → the configured reply; START → the configured reply, and sends work again', async () => {
    const handset = '+14155550161';
    // Like Twilio, an opted-out contact gets no HELP reply: START first.
    const start = await text(handset, DEFAULT_LONG_CODE, 'start');
    expect(start.carrier.replies).toHaveLength(0);
    expect(await ourReply(start.inboundId)).toMatchObject({ status: 'delivered', body: DEFAULT_PROGRAM.replies.optIn });
    const help = await text(handset, DEFAULT_LONG_CODE, 'HELP');
    expect(help.carrier.replies).toHaveLength(0);
    expect(await ourReply(help.inboundId)).toMatchObject({ status: 'delivered', body: DEFAULT_PROGRAM.replies.help });
    expect((await history(handset, 'default')).map((r) => [r.state, r.source, r.evidence.keyword])).toEqual([
      ['opted_out', 'inbound_keyword', 'STOP'],
      ['opted_in', 'inbound_keyword', 'START'],
    ]);
    expect(await sendTo(handset, DEFAULT_LONG_CODE, 'welcome back')).toEqual({ status: 202 });
    expect(received(handset).map((e) => e.body)).toEqual([DEFAULT_PROGRAM.replies.optOut, DEFAULT_PROGRAM.replies.optIn, DEFAULT_PROGRAM.replies.help, 'welcome back']);
    expect(carrier21610(handset)).toBe(0);
  });

  it('a program with its own texts and French keywords, long code: ARRET, AIDE, START, STOP get its replies, one row each, no 21610', async () => {
    const handset = '+14155550164';
    const arret = await text(handset, LONG_CODE, 'Arret');
    expect(arret.carrier.replies).toHaveLength(0);
    expect(await ourReply(arret.inboundId)).toMatchObject({ status: 'delivered', errorCode: null, body: ALERTS.optOut });
    expect(await sendTo(handset, LONG_CODE, 'after arret')).toEqual({ status: 422, code: 'SB_OPTED_OUT' });
    const start = await text(handset, LONG_CODE, 'START');
    expect(await ourReply(start.inboundId)).toMatchObject({ status: 'delivered', body: ALERTS.optIn });
    const aide = await text(handset, LONG_CODE, 'aide');
    expect(await ourReply(aide.inboundId)).toMatchObject({ status: 'delivered', body: ALERTS.help });
    const stop = await text(handset, LONG_CODE, 'STOP');
    expect(await ourReply(stop.inboundId)).toMatchObject({ status: 'delivered', body: ALERTS.optOut });
    expect((await history(handset, 'alerts')).map((r) => [r.state, r.evidence.keyword, r.evidence.inboundMessageId])).toEqual([
      ['opted_out', 'ARRET', arret.inboundId],
      ['opted_in', 'START', start.inboundId],
      ['opted_out', 'STOP', stop.inboundId],
    ]);
    await waitFor('four replies at the handset', async () => (received(handset).length >= 4 ? true : undefined));
    expect(received(handset).map((e) => [e.from, e.body])).toEqual([ALERTS.optOut, ALERTS.optIn, ALERTS.help, ALERTS.optOut].map((b) => [LONG_CODE, b]));
    expect(carrier21610(handset)).toBe(0);
    // The program's opt-out does not reach the default program's number.
    expect(await sendTo(handset, DEFAULT_LONG_CODE, 'from the default program')).toEqual({ status: 202 });
  });

  it('autoReplies "provider", toll-free: STOP → one ledger row, the carrier’s confirmation only, no Switchboard reply', async () => {
    const handset = '+14155550162';
    const { inboundId, carrier } = await text(handset, TOLL_FREE, 'stop');
    expect(carrier.keyword).toBe('stop');
    expect((await history(handset, 'care')).map((r) => [r.state, r.source, r.evidence.raw?.providerOptOutType])).toEqual([['opted_out', 'inbound_keyword', 'STOP']]);
    expect(await built.store.getMessage(replyIdFor(inboundId))).toBeNull();
    expect(await switchboardSent(handset)).toEqual({ stored: 0, submitted: 0 });
    await waitFor('the carrier’s confirmation', async () => (received(handset).length > 0 ? true : undefined));
    expect(received(handset).map((e) => [e.from, e.body])).toEqual([[TOLL_FREE, TOLL_FREE_STOP_REPLY]]);
    expect(received(handset).some((e) => e.body === CARE_STOP)).toBe(false);
    // The carrier's opt-out is the program's scope only: the long code (another program) still reaches the handset.
    expect(await sendTo(handset, DEFAULT_LONG_CODE, 'from the default program')).toEqual({ status: 202 });
  });

  it('autoReplies "provider", long code: STOP, START, HELP → the carrier’s replies only, one ledger row per change (OptOutType)', async () => {
    const handset = '+14155550166';
    const stop = await text(handset, PROVIDER_LONG_CODE, 'STOP');
    const start = await text(handset, PROVIDER_LONG_CODE, 'Start');
    const help = await text(handset, PROVIDER_LONG_CODE, 'help');
    expect([stop, start, help].map((t) => t.carrier.keyword)).toEqual(['stop', 'start', 'help']);
    expect((await history(handset, 'care')).map((r) => [r.state, r.source, r.evidence.keyword, r.evidence.raw?.providerOptOutType])).toEqual([
      ['opted_out', 'inbound_keyword', 'STOP', 'STOP'],
      ['opted_in', 'inbound_keyword', 'START', 'START'],
    ]);
    for (const t of [stop, start, help]) expect(await built.store.getMessage(replyIdFor(t.inboundId))).toBeNull();
    expect(await switchboardSent(handset)).toEqual({ stored: 0, submitted: 0 });
    await waitFor('the carrier’s three replies', async () => (received(handset).length >= 3 ? true : undefined));
    expect(received(handset).map((e) => [e.from, e.body])).toEqual([KEYWORD_REPLIES.stop, KEYWORD_REPLIES.start, KEYWORD_REPLIES.help].map((b) => [PROVIDER_LONG_CODE, b]));
    expect(carrier21610(handset)).toBe(0);
  });

  it('autoReplies "provider", toll-free: HELP → the carrier’s reply only, no ledger row, no Switchboard reply', async () => {
    const handset = '+14155550165';
    const { inboundId, carrier } = await text(handset, TOLL_FREE, 'HELP');
    expect(carrier.keyword).toBe('help');
    expect(carrier.replies).toHaveLength(1);
    expect(await history(handset, 'care')).toEqual([]);
    expect(await built.store.getMessage(replyIdFor(inboundId))).toBeNull();
    expect(await switchboardSent(handset)).toEqual({ stored: 0, submitted: 0 });
    await waitFor('the carrier’s reply', async () => (received(handset).length > 0 ? true : undefined));
    expect(received(handset).map((e) => [e.from, e.body])).toEqual([[TOLL_FREE, carrier.replies[0]!.body]]);
  });

  it('short code (the carrier leaves keywords to Switchboard): one ledger row, Switchboard’s confirmation, delivered', async () => {
    const handset = '+14155550163';
    const { inboundId } = await text(handset, SHORT_CODE, 'Stop');
    expect((await history(handset, 'default')).map((r) => [r.state, r.source, r.evidence.raw])).toEqual([['opted_out', 'inbound_keyword', undefined]]);
    expect(await ourReply(inboundId)).toMatchObject({ status: 'delivered', errorCode: null, to: handset, from: SHORT_CODE });
    await waitFor('the confirmation at the handset', async () => (received(handset).length > 0 ? true : undefined));
    expect(received(handset).map((e) => [e.from, e.body])).toEqual([[SHORT_CODE, DEFAULT_PROGRAM.replies.optOut]]);
    expect((await history(handset, 'default')).length).toBe(1);
  });
});
