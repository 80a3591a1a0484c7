/**
 * Issue 4 "done when", over real sockets: buildApp on 127.0.0.1:0 with the sandbox carrier in-process.
 * 1,000 messages are queued to one handset; the handset texts STOP (sandbox virtual phone → signed inbound
 * webhook → keyword → ledger). None is submitted after the STOP is recorded (counted per message at the
 * sandbox, timestamps compared), every unsent one ends failed SB_OPTED_OUT, the confirmation reaches the
 * handset; START re-enables; HELP gets the program's reply; the ledger history shows every change with its
 * evidence (JSON and CSV).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { DEFAULT_KEYWORDS } from '../../src/inbound/keywords.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/config/schema.ts';
import type { ProgramConfig } from '../../src/compliance/programs.ts';
import { startTestApp, tempDir, waitFor } from './support.ts';

const HANDSET = '+14155550177';
const SHORT_CODE = '55501';
const LONG_CODE = '+15005550006';
const HELP_TEXT = 'Acme Alerts: order updates. Reply STOP to end. Help: acme.test/help';
const STOP_TEXT = 'Acme Alerts: you are unsubscribed. Reply START to resubscribe.';
const START_TEXT = 'Acme Alerts: welcome back. Reply STOP to end.';
const N = 1_000;

const alerts: ProgramConfig = {
  name: 'alerts',
  senders: [`sandbox:${SHORT_CODE}`],
  keywords: { optOut: [...DEFAULT_KEYWORDS.optOut, 'ARRET'], optIn: [...DEFAULT_KEYWORDS.optIn], help: [...DEFAULT_KEYWORDS.help] },
  replies: { optOut: STOP_TEXT, optIn: START_TEXT, help: HELP_TEXT },
  autoReplies: 'switchboard',
  promotionalRequiresOptIn: false,
  transactionalPolicy: 'allow_unless_opted_out',
  otpPolicy: 'allow_unless_opted_out',
  retention: { bodyDays: null, hashNumbers: false, rawWebhookDays: null },
};

let built: App;
let url: string;
let token: string;
const tmp = tempDir('sb-compliance-');

beforeAll(async () => {
  ({ built, url } = await startTestApp(tmp.dir, {
    sandbox: { latency: { sendingMs: 5, sentMs: 10, deliveredMs: 20 } },
    accounts: [
      {
        name: 'sandbox',
        provider: 'twilio',
        baseUrl: 'http://127.0.0.1:0/sandbox',
        accountSid: SANDBOX_ACCOUNT_SID,
        authToken: SANDBOX_AUTH_TOKEN,
        senders: [
          { from: LONG_CODE, type: 'long_code', mps: 10 },
          // A short code without a Messaging Service: the carrier leaves keywords to Switchboard (as Twilio does).
          { from: SHORT_CODE, type: 'short_code', mps: 20 },
        ],
      },
    ],
    compliance: { programs: [alerts] },
  }));
  token = built.devKey!.token;
}, 60_000);

afterAll(async () => {
  await built?.close();
  tmp.cleanup();
});

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string; type: string | null }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* CSV */
  }
  return { status: res.status, json, text, type: res.headers.get('content-type') };
}

const inbox = () => built.sandbox!.phones.inbox(HANDSET).filter((e) => e.direction === 'received');
const enc = encodeURIComponent(HANDSET);

describe('STOP while 1,000 messages are queued, then START and HELP', () => {
  let stopRecordedAt = 0;
  const ids: string[] = [];

  it('queues 1,000 messages to one handset and starts sending them', async () => {
    const messages = Array.from({ length: N }, (_, i) => ({ to: HANDSET, from: SHORT_CODE, body: `bulk ${i}` }));
    const r = await api('POST', '/v1/messages/batch', { messages });
    expect(r.status).toBe(202);
    expect(r.json.accepted).toBe(N);
    for (const x of r.json.results) ids.push(x.message.id);
    await waitFor('20 submissions at the sandbox', async () =>
      built.sandbox!.submissions().filter((s) => s.params.To === HANDSET).length >= 20 ? true : undefined,
    );
  });

  it('STOP from the handset: none submitted after it is recorded, the rest fail SB_OPTED_OUT, the confirmation arrives', async () => {
    const res = await built.sandbox!.reply({ from: HANDSET, to: SHORT_CODE, body: ' Stop ' });
    expect(res.webhook?.status).toBe(200);
    const history = await api('GET', `/v1/contacts/${enc}/consent/history?program=alerts`);
    expect(history.status).toBe(200);
    const stop = history.json.items.at(-1);
    expect(stop).toMatchObject({ program: 'alerts', state: 'opted_out', source: 'inbound_keyword', evidence: { keyword: 'STOP' } });
    expect(stop.evidence.inboundMessageId).toMatch(/^in_/);
    stopRecordedAt = Date.parse(stop.recordedAt);

    // Every bulk message settles: submitted before the STOP, or failed without being submitted.
    const store = built.store;
    await waitFor('every bulk message settled', async () => {
      for (const id of ids) {
        const m = await store.getMessage(id);
        if (!m || m.status === 'queued' || m.submitState === 'in_flight') return undefined;
      }
      return true;
    });

    const perBody = new Map<string, number[]>();
    for (const s of built.sandbox!.submissions()) {
      if (s.params.To !== HANDSET || !s.params.Body?.startsWith('bulk ')) continue;
      perBody.set(s.params.Body, [...(perBody.get(s.params.Body) ?? []), s.receivedAt]);
    }
    let submitted = 0;
    let blocked = 0;
    for (const [i, id] of ids.entries()) {
      const m = (await store.getMessage(id))!;
      const events = await store.listEvents(id);
      const times = perBody.get(`bulk ${i}`) ?? [];
      expect(times.length, `submissions of bulk ${i}`).toBeLessThanOrEqual(1);
      for (const t of times) expect(t, `bulk ${i} reached the carrier after the STOP`).toBeLessThanOrEqual(stopRecordedAt);
      for (const e of events) {
        if (e.type === 'consent_checked' || e.type === 'submitted') expect(e.at, `${e.type} of bulk ${i}`).toBeLessThanOrEqual(stopRecordedAt);
      }
      if (m.providerMessageId) {
        submitted++;
        expect(times.length).toBe(1);
      } else {
        blocked++;
        expect(m, `bulk ${i}`).toMatchObject({ status: 'failed', errorCode: 'SB_OPTED_OUT' });
        expect(times.length).toBe(0);
        expect(events.at(-1)).toMatchObject({ type: 'failed' });
      }
    }
    expect(submitted).toBeGreaterThanOrEqual(20);
    expect(blocked).toBeGreaterThan(0);
    expect(submitted + blocked).toBe(N);

    await waitFor('the opt-out confirmation at the handset', async () => (inbox().some((e) => e.body === STOP_TEXT) ? true : undefined));
    const consent = await api('GET', `/v1/contacts/${enc}/consent`);
    expect(consent.json.programs).toEqual(expect.arrayContaining([expect.objectContaining({ program: 'alerts', state: 'opted_out', source: 'inbound_keyword' })]));
  });

  it('refuses a new send in the program at accept (422 SB_OPTED_OUT); other programs are unaffected', async () => {
    const refused = await api('POST', '/v1/messages', { to: HANDSET, from: SHORT_CODE, body: 'after stop' });
    expect(refused.status).toBe(422);
    expect(refused.json.error).toMatchObject({ code: 'SB_OPTED_OUT', field: 'to' });
    const other = await api('POST', '/v1/messages', { to: HANDSET, from: LONG_CODE, body: 'from another program' });
    expect(other.status).toBe(202);
  });

  it('START re-enables: confirmation, then a new send is delivered', async () => {
    await built.sandbox!.reply({ from: HANDSET, to: SHORT_CODE, body: 'start' });
    await waitFor('the opt-in confirmation', async () => (inbox().some((e) => e.body === START_TEXT) ? true : undefined));
    const sent = await api('POST', '/v1/messages', { to: HANDSET, from: SHORT_CODE, body: 'welcome back message' });
    expect(sent.status).toBe(202);
    await waitFor('the new message at the handset', async () => (inbox().some((e) => e.body === 'welcome back message') ? true : undefined));
  });

  it('HELP gets the configured reply and changes no consent', async () => {
    const before = await api('GET', `/v1/contacts/${enc}/consent/history`);
    await built.sandbox!.reply({ from: HANDSET, to: SHORT_CODE, body: 'HELP' });
    await waitFor('the help reply', async () => (inbox().some((e) => e.body === HELP_TEXT) ? true : undefined));
    const after = await api('GET', `/v1/contacts/${enc}/consent/history`);
    expect(after.json.items.length).toBe(before.json.items.length);
    const consent = await api('GET', `/v1/contacts/${enc}/consent?program=alerts`);
    expect(consent.json.programs).toEqual([expect.objectContaining({ program: 'alerts', state: 'opted_in' })]);
  });

  it('a near-miss ("STOP PLEASE") is an ordinary message, not an opt-out', async () => {
    await built.sandbox!.reply({ from: HANDSET, to: SHORT_CODE, body: 'STOP PLEASE' });
    const consent = await api('GET', `/v1/contacts/${enc}/consent?program=alerts`);
    expect(consent.json.programs[0].state).toBe('opted_in');
  });

  it('the ledger export for the contact shows every change with its evidence (JSON and CSV)', async () => {
    const h = await api('GET', `/v1/contacts/${enc}/consent/history`);
    expect(h.json.contact).toBe(HANDSET);
    expect(h.json.items.map((x: any) => [x.program, x.state, x.source, x.evidence.keyword])).toEqual([
      ['alerts', 'opted_out', 'inbound_keyword', 'STOP'],
      ['alerts', 'opted_in', 'inbound_keyword', 'START'],
    ]);
    for (const x of h.json.items) expect(x.evidence.inboundMessageId).toMatch(/^in_/);

    // An operator opt-out with a note, then the CSV export carries all three.
    const rec = await api('POST', `/v1/contacts/${enc}/consent`, { program: 'alerts', state: 'opted_out', note: 'asked by phone, ticket 991' });
    expect(rec.status).toBe(200);
    expect(rec.json).toMatchObject({ program: 'alerts', state: 'opted_out', changed: true });
    const csv = await api('GET', `/v1/contacts/${enc}/consent/history?format=csv`);
    expect(csv.type).toMatch(/^text\/csv/);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe('seq,id,contact,program,state,source,at,recorded_at,evidence');
    expect(lines.length).toBe(4);
    expect(lines[3]).toContain('ticket 991');
    expect(lines[1]).toContain('""keyword"":""STOP""');

    // Reversing the contact's own STOP without evidence is refused.
    await built.sandbox!.reply({ from: HANDSET, to: SHORT_CODE, body: 'ARRET' });
    const refused = await api('POST', `/v1/contacts/${enc}/consent`, { program: 'alerts', state: 'opted_in' });
    expect(refused.status).toBe(422);
    expect(refused.json.error.code).toBe('SB_CONSENT_EVIDENCE_REQUIRED');
    const unknownProgram = await api('POST', `/v1/contacts/${enc}/consent`, { program: 'nope', state: 'opted_in', note: 'x' });
    expect(unknownProgram.json.error).toMatchObject({ code: 'SB_PROGRAM_UNKNOWN', field: 'program' });
    const badPhone = await api('GET', '/v1/contacts/12/consent');
    expect(badPhone.json.error.code).toBe('SB_PHONE_INVALID');
  });
});
