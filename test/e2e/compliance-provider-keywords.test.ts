/**
 * STOP/START/HELP when the carrier handles keywords too, through the in-process sandbox over real HTTP (issue 4),
 * on both engines. The default `npm start` setup: the sandbox handles keywords on long codes and toll-free numbers
 * (as Twilio does) and buildApp puts them in a Messaging Service per program with Advanced Opt-Out, so the
 * inbound webhook carries `OptOutType`. Expected, per STOP: exactly one ledger row, exactly one confirmation at the
 * handset (the carrier's), no Switchboard reply refused with 21610 — for the default `autoReplies: "switchboard"`
 * program and for an `autoReplies: "provider"` one. A short code outside a service: the carrier leaves keywords
 * to Switchboard, which records once and sends the program's own confirmation, delivered.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { DEFAULT_PROGRAM, type ProgramConfig } from '../../src/compliance/programs.ts';
import { replyIdFor } from '../../src/inbound/inbound-handler.ts';
import { KEYWORD_REPLIES, TOLL_FREE_STOP_REPLY } from '../../src/sandbox/magic.ts';
import { TEST_DATABASE_URL } from '../../src/store/postgres/test-db.ts';
import { tempDir, waitFor } from './support.ts';

const LONG_CODE = '+15005550006';
const TOLL_FREE = '+18005550100';
const SHORT_CODE = '55501';
const CARE_STOP = 'Acme Care: unsubscribed.';

/** The toll-free number belongs to a program that leaves the replies to the provider. */
const care: ProgramConfig = { ...(DEFAULT_PROGRAM as ProgramConfig), name: 'care', senders: [`sandbox:${TOLL_FREE}`], autoReplies: 'provider', replies: { optOut: CARE_STOP, optIn: 'Acme Care: welcome back.', help: 'Acme Care help.' } };

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
])('keywords the carrier handles too (%s)', (_engine, databaseUrl) => {
  let built: App;
  let url: string;
  let token: string;

  beforeAll(async () => {
    const config = loadConfig({
      env: {},
      cwd: tmp.dir,
      file: null,
      overrides: {
        server: { port: 0 },
        databaseUrl: databaseUrl(),
        logLevel: 'silent',
        sandbox: { latency: { sendingMs: 5, sentMs: 10, deliveredMs: 20 } },
        compliance: { programs: [care] },
      },
    });
    built = await buildApp(config, { handleSignals: false });
    url = await built.start();
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
  /** The handset texts `body` to `to`; the webhook was answered (the handling is done when it returns). */
  async function text(handset: string, to: string, body: string): Promise<string> {
    const r = await built.sandbox!.reply({ from: handset, to, body });
    expect(r.webhook?.status).toBe(200);
    const inbound = (await built.store.listInbound({ limit: 100 })).items.find((i) => i.providerMessageId === r.message.sid);
    return inbound!.id;
  }

  it('the in-process carrier reports keywords on long codes and toll-free numbers (Advanced Opt-Out), one service per program; not on the short code', () => {
    const numbers = new Map(built.sandbox!.numbers().map((n) => [n.phoneNumber, n]));
    const long = numbers.get(LONG_CODE)!;
    const tollFree = numbers.get(TOLL_FREE)!;
    expect(long.serviceSid).toMatch(/^MG/);
    expect(tollFree.serviceSid).toMatch(/^MG/);
    expect(tollFree.serviceSid).not.toBe(long.serviceSid);
    expect(numbers.get(SHORT_CODE)!.serviceSid).toBeNull();
  });

  it('autoReplies "switchboard" (default), long code: STOP → one ledger row, one confirmation (the carrier’s), no 21610', async () => {
    const handset = '+14155550161';
    const inboundId = await text(handset, LONG_CODE, 'STOP');
    const rows = await history(handset, 'default');
    expect(rows.map((r) => [r.state, r.source, r.evidence.keyword, r.evidence.raw?.providerOptOutType])).toEqual([['opted_out', 'inbound_keyword', 'STOP', 'STOP']]);
    expect(rows[0].evidence.inboundMessageId).toBe(inboundId);
    // No reply of ours: nothing stored for the handset, nothing submitted to the carrier (hence no 21610).
    expect(await built.store.getMessage(replyIdFor(inboundId))).toBeNull();
    expect(await switchboardSent(handset)).toEqual({ stored: 0, submitted: 0 });
    await waitFor('the carrier’s confirmation', async () => (received(handset).length > 0 ? true : undefined));
    expect(received(handset).map((e) => [e.from, e.body])).toEqual([[LONG_CODE, KEYWORD_REPLIES.stop]]);

    // Refused at accept, never reaching the carrier; still one ledger row.
    const refused = await api('POST', '/v1/messages', { to: handset, from: LONG_CODE, body: 'after stop' });
    expect(refused.status).toBe(422);
    expect(refused.json.error.code).toBe('SB_OPTED_OUT');
    expect((await history(handset, 'default')).length).toBe(1);
  });

  it('START and HELP on the long code: recorded once (HELP: not at all), the carrier’s reply only; sends resume', async () => {
    const handset = '+14155550161';
    await text(handset, LONG_CODE, 'start');
    await text(handset, LONG_CODE, 'HELP');
    expect((await history(handset, 'default')).map((r) => [r.state, r.source, r.evidence.raw?.providerOptOutType])).toEqual([
      ['opted_out', 'inbound_keyword', 'STOP'],
      ['opted_in', 'inbound_keyword', 'START'],
    ]);
    expect(await switchboardSent(handset)).toEqual({ stored: 0, submitted: 0 });
    await waitFor('the carrier’s START and HELP replies', async () => (received(handset).length >= 3 ? true : undefined));
    expect(received(handset).map((e) => e.body)).toEqual([KEYWORD_REPLIES.stop, KEYWORD_REPLIES.start, KEYWORD_REPLIES.help]);

    const sent = await api('POST', '/v1/messages', { to: handset, from: LONG_CODE, body: 'welcome back' });
    expect(sent.status).toBe(202);
    await waitFor('the new message at the handset', async () => (received(handset).some((e) => e.body === 'welcome back') ? true : undefined));
  });

  it('autoReplies "provider", toll-free: STOP → one ledger row, the carrier’s confirmation only, no Switchboard reply', async () => {
    const handset = '+14155550162';
    const inboundId = await text(handset, TOLL_FREE, 'stop');
    expect((await history(handset, 'care')).map((r) => [r.state, r.source, r.evidence.raw?.providerOptOutType])).toEqual([['opted_out', 'inbound_keyword', 'STOP']]);
    expect(await built.store.getMessage(replyIdFor(inboundId))).toBeNull();
    expect(await switchboardSent(handset)).toEqual({ stored: 0, submitted: 0 });
    await waitFor('the carrier’s confirmation', async () => (received(handset).length > 0 ? true : undefined));
    expect(received(handset).map((e) => [e.from, e.body])).toEqual([[TOLL_FREE, TOLL_FREE_STOP_REPLY]]);
    expect(received(handset).some((e) => e.body === CARE_STOP)).toBe(false);
    // The carrier's opt-out is the program's scope only: the long code (program default) still reaches the handset.
    const other = await api('POST', '/v1/messages', { to: handset, from: LONG_CODE, body: 'from the default program' });
    expect(other.status).toBe(202);
    await waitFor('delivery from the other program', async () => (received(handset).some((e) => e.body === 'from the default program') ? true : undefined));
  });

  it('short code (the carrier leaves keywords to Switchboard): one ledger row, Switchboard’s confirmation, delivered', async () => {
    const handset = '+14155550163';
    const inboundId = await text(handset, SHORT_CODE, 'Stop');
    expect((await history(handset, 'default')).map((r) => [r.state, r.source, r.evidence.raw])).toEqual([['opted_out', 'inbound_keyword', undefined]]);
    const reply = await waitFor('our confirmation delivered', async () => {
      const m = await built.store.getMessage(replyIdFor(inboundId));
      return m && ['delivered', 'failed', 'undelivered'].includes(m.status) ? m : undefined;
    });
    expect(reply).toMatchObject({ status: 'delivered', errorCode: null, to: handset, from: SHORT_CODE });
    await waitFor('the confirmation at the handset', async () => (received(handset).length > 0 ? true : undefined));
    expect(received(handset).map((e) => [e.from, e.body])).toEqual([[SHORT_CODE, DEFAULT_PROGRAM.replies.optOut]]);
    expect((await history(handset, 'default')).length).toBe(1);
  });
});
