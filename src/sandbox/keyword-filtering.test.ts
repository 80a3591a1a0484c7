/**
 * Twilio's default opt-out filtering per number (`keywordFiltering`), as Twilio support turns it off on request:
 * off → keywords neither block nor unblock, get no carrier reply and no `OptOutType`; toll-free numbers keep the
 * network's own STOP/START/UNSTOP layer (support article 360058144374). Table-driven over the engine, then the
 * control API over real HTTP.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../domain/clock.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../config/schema.ts';
import { createSandbox, type SandboxEngine, type SandboxSenderType } from './engine.ts';
import { TwilioApiError } from './format.ts';
import { KEYWORD_REPLIES, TOLL_FREE_STOP_REPLY } from './magic.ts';
import { createControlClient, SandboxControlError } from './control-client.ts';
import { startReceiver, type Receiver } from './conformance-support.ts';
import { startSandboxServer } from './server.ts';

const AC = SANDBOX_ACCOUNT_SID;
const HANDSET = '+14155550190';
const NUMBER: Record<'long_code' | 'toll_free' | 'short_code', string> = { long_code: '+15005550006', toll_free: '+18005550100', short_code: '55501' };
const TF_UNSTOP = 'NETWORK MSG: You have replied "unstop" and will begin receiving messages again from this number.';

let rx: Receiver;
let sb: SandboxEngine;
let path = 0;

beforeAll(async () => {
  rx = await startReceiver();
});
afterAll(async () => {
  await rx.close();
});
afterEach(async () => {
  await sb?.close();
});

/** Send from `from` to the handset: 'blocked' (21610) or 'sent'. */
function trySend(from: string): 'blocked' | 'sent' {
  const principal = sb.authenticate(AC, SANDBOX_AUTH_TOKEN)!;
  try {
    sb.createMessage(AC, { From: from, To: HANDSET, Body: 'after the keyword' }, principal);
    return 'sent';
  } catch (e) {
    if (e instanceof TwilioApiError && e.code === 21610) return 'blocked';
    throw e;
  }
}

interface Row {
  name: string;
  type: 'long_code' | 'toll_free' | 'short_code';
  filtering: boolean;
  /** In a Messaging Service with Advanced Opt-Out (OptOutType). */
  advancedOptOut: boolean;
  /** Texted first (effects only). */
  before?: string[];
  body: string;
  keyword: 'stop' | 'start' | 'help' | null;
  replies: string[];
  optOutType: string | null;
  next: 'blocked' | 'sent';
}

const rows: Row[] = [
  { name: 'long code, filtering on: STOP blocks and replies', type: 'long_code', filtering: true, advancedOptOut: false, body: 'STOP', keyword: 'stop', replies: [KEYWORD_REPLIES.stop], optOutType: null, next: 'blocked' },
  { name: 'long code, filtering on, Advanced Opt-Out: OptOutType', type: 'long_code', filtering: true, advancedOptOut: true, body: 'stop', keyword: 'stop', replies: [KEYWORD_REPLIES.stop], optOutType: 'STOP', next: 'blocked' },
  { name: 'long code, filtering on: HELP replies', type: 'long_code', filtering: true, advancedOptOut: true, body: 'HELP', keyword: 'help', replies: [KEYWORD_REPLIES.help], optOutType: 'HELP', next: 'sent' },
  { name: 'long code, filtering off: STOP is an ordinary message', type: 'long_code', filtering: false, advancedOptOut: true, body: 'STOP', keyword: null, replies: [], optOutType: null, next: 'sent' },
  { name: 'long code, filtering off: UNSUBSCRIBE too', type: 'long_code', filtering: false, advancedOptOut: false, body: ' unsubscribe ', keyword: null, replies: [], optOutType: null, next: 'sent' },
  { name: 'long code, filtering off: HELP gets no carrier reply', type: 'long_code', filtering: false, advancedOptOut: true, body: 'HELP', keyword: null, replies: [], optOutType: null, next: 'sent' },
  { name: 'long code, filtering off: START gets no carrier reply', type: 'long_code', filtering: false, advancedOptOut: true, body: 'START', keyword: null, replies: [], optOutType: null, next: 'sent' },
  { name: 'toll-free, filtering off: the network still blocks STOP', type: 'toll_free', filtering: false, advancedOptOut: true, body: 'STOP', keyword: 'stop', replies: [TOLL_FREE_STOP_REPLY], optOutType: null, next: 'blocked' },
  { name: 'toll-free, filtering off: other opt-out words are Twilio’s, not the network’s', type: 'toll_free', filtering: false, advancedOptOut: true, body: 'CANCEL', keyword: null, replies: [], optOutType: null, next: 'sent' },
  { name: 'toll-free, filtering off: HELP gets no reply', type: 'toll_free', filtering: false, advancedOptOut: true, body: 'help', keyword: null, replies: [], optOutType: null, next: 'sent' },
  { name: 'toll-free, filtering off: UNSTOP lifts the network block', type: 'toll_free', filtering: false, advancedOptOut: false, before: ['STOP'], body: 'Unstop', keyword: 'start', replies: [TF_UNSTOP], optOutType: null, next: 'sent' },
  { name: 'toll-free, filtering off: YES does not lift it', type: 'toll_free', filtering: false, advancedOptOut: false, before: ['STOP'], body: 'YES', keyword: null, replies: [], optOutType: null, next: 'blocked' },
  { name: 'short code in a service, filtering on: handled', type: 'short_code', filtering: true, advancedOptOut: true, body: 'STOP', keyword: 'stop', replies: [KEYWORD_REPLIES.stop], optOutType: 'STOP', next: 'blocked' },
  { name: 'short code in a service, filtering off: not handled', type: 'short_code', filtering: false, advancedOptOut: true, body: 'STOP', keyword: null, replies: [], optOutType: null, next: 'sent' },
];

describe('keywordFiltering per number (engine)', () => {
  it.each(rows)('$name', async (row) => {
    sb = createSandbox({ clock: new ManualClock(Date.UTC(2026, 0, 1)), seed: 1 });
    const inbound = `/inbound/kf/${++path}`;
    const phone = NUMBER[row.type];
    const n = sb.setNumber({ phoneNumber: phone, type: row.type as SandboxSenderType, smsUrl: `${rx.url}${inbound}` });
    expect(n.keywordFiltering).toBe(true);
    if (row.advancedOptOut) {
      const svc = sb.createService(AC, { FriendlyName: 'kf' });
      sb.addToService(AC, svc.sid, n.sid, row.type === 'short_code' ? 'SC' : 'PN');
      sb.setAdvancedOptOut(svc.sid, true);
    }
    expect(sb.setKeywordFiltering(n.sid, row.filtering).keywordFiltering).toBe(row.filtering);
    for (const b of row.before ?? []) await sb.reply({ from: HANDSET, to: phone, body: b });
    const r = await sb.reply({ from: HANDSET, to: phone, body: row.body });
    expect(r.keyword).toBe(row.keyword);
    expect(r.replies.map((m) => [m.from, m.to, m.body])).toEqual(row.replies.map((b) => [phone, HANDSET, b]));
    expect(r.webhook?.status).toBe(204);
    const hook = rx.hooks.filter((h) => h.path === inbound).at(-1)!;
    expect(hook.params.Body).toBe(row.body);
    expect(hook.params.OptOutType ?? null).toBe(row.optOutType);
    expect(trySend(phone)).toBe(row.next);
  });

  it('numbers[].keywordFiltering sets it at start; default on; setNumber updates it; by phone number too', () => {
    sb = createSandbox({ numbers: [{ phoneNumber: '+14155550901', keywordFiltering: false }] });
    expect(sb.numbersByValue.get('+14155550901')!.keywordFiltering).toBe(false);
    expect(sb.numbersByValue.get('+15005550006')!.keywordFiltering).toBe(true);
    expect(sb.setNumber({ phoneNumber: '+14155550901', keywordFiltering: true }).keywordFiltering).toBe(true);
    expect(sb.setNumber({ phoneNumber: '+14155550901', smsUrl: null }).keywordFiltering).toBe(true);
    expect(sb.setKeywordFiltering('+14155550901', false).keywordFiltering).toBe(false);
    expect(() => sb.setKeywordFiltering('+15005550999', false)).toThrow(TwilioApiError);
  });

  it('turning filtering off stops enforcing the number’s earlier keyword blocks; a toll-free network block stays', async () => {
    sb = createSandbox({ clock: new ManualClock(Date.UTC(2026, 0, 1)), seed: 1 });
    await sb.reply({ from: HANDSET, to: NUMBER.long_code, body: 'STOP' });
    await sb.reply({ from: HANDSET, to: NUMBER.toll_free, body: 'STOP' });
    expect([trySend(NUMBER.long_code), trySend(NUMBER.toll_free)]).toEqual(['blocked', 'blocked']);
    sb.setKeywordFiltering(NUMBER.long_code, false);
    sb.setKeywordFiltering(NUMBER.toll_free, false);
    expect([trySend(NUMBER.long_code), trySend(NUMBER.toll_free)]).toEqual(['sent', 'blocked']);
    sb.setKeywordFiltering(NUMBER.long_code, true);
    expect(trySend(NUMBER.long_code)).toBe('blocked');
  });
});

describe('keywordFiltering over the control API', () => {
  it('POST /_sandbox/numbers/{number}/keyword-filtering and numbers[].keywordFiltering; validation; listed in /_sandbox', async () => {
    const server = await startSandboxServer({ host: '127.0.0.1', port: 0 });
    try {
      const ctl = createControlClient({ baseUrl: server.url });
      const pn = (await ctl.numbers()).find((n) => n.phoneNumber === NUMBER.long_code)!;
      expect(pn.keywordFiltering).toBe(true);
      expect((await ctl.setKeywordFiltering(pn.sid, false)).keywordFiltering).toBe(false);
      expect((await ctl.info()).numbers.find((n) => n.sid === pn.sid)!.keywordFiltering).toBe(false);
      const r = await ctl.reply({ from: HANDSET, to: NUMBER.long_code, body: 'STOP' });
      expect([r.keyword, r.replies.length]).toEqual([null, 0]);
      expect((await ctl.setKeywordFiltering(NUMBER.long_code, true)).keywordFiltering).toBe(true);
      expect((await ctl.reply({ from: HANDSET, to: NUMBER.long_code, body: 'STOP' })).keyword).toBe('stop');
      expect((await ctl.setNumber({ phoneNumber: '+14155550902', keywordFiltering: false })).keywordFiltering).toBe(false);

      const missing = await ctl.setKeywordFiltering('+15005550999', false).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(SandboxControlError);
      expect((missing as SandboxControlError).status).toBe(404);
      const res = await fetch(`${server.url}/_sandbox/numbers/${pn.sid}/keyword-filtering`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: 'no' }) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe('enabled');
      const bad = await fetch(`${server.url}/_sandbox/numbers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phoneNumber: '+14155550903', keywordFiltering: 1 }) });
      expect(bad.status).toBe(400);
    } finally {
      await server.close();
    }
  });
});
