/**
 * Sandbox behaviour on a ManualClock (deterministic): status progression and timing, per-sender queues and
 * capacity, validity expiry, scheduling, outcomes, opt-out, inbound + TwiML replies, callback faults, retries.
 * Webhooks go over real HTTP to a local receiver.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import { ManualClock } from '../domain/clock.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../config/schema.ts';
import { createSandbox, segmentsOf, type Form, type Principal, type SandboxEngine, type SandboxOptions } from './engine.ts';
import { TwilioApiError, seededRandom } from './format.ts';
import { countSegments } from '../pipeline/segments.ts';
import { SANDBOX_NUMBERS } from './magic.ts';
import { startReceiver, until, type Receiver } from './conformance-support.ts';

const AC = SANDBOX_ACCOUNT_SID;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
let rx: Receiver;
let clock: ManualClock;
let sb: SandboxEngine;
let principal: Principal;

beforeAll(async () => {
  rx = await startReceiver();
});
afterAll(async () => {
  await rx.close();
});
afterEach(async () => {
  await sb?.close();
});

function start(opts: Omit<SandboxOptions, 'clock'> = {}): SandboxEngine {
  clock = new ManualClock(T0);
  sb = createSandbox({ clock, seed: 1, latency: { sendingMs: 100, sentMs: 1_000, deliveredMs: 3_000 }, ...opts });
  principal = sb.authenticate(AC, SANDBOX_AUTH_TOKEN)!;
  return sb;
}

let path = 0;
/** A fresh receiver path for one test's callbacks. */
function cbUrl(): string {
  return `${rx.url}/cb/${++path}`;
}
/** Webhooks the receiver got on this URL's path. */
const hooksAt = (url: string) => rx.hooks.filter((h) => h.path === new URL(url).pathname);

function send(form: Form) {
  return sb.createMessage(AC, { From: '+15005550006', Body: 'hi', ...form }, principal);
}

async function advance(ms: number): Promise<void> {
  clock.advance(ms);
  await sb.runDue();
}

function syncError(fn: () => unknown): TwilioApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TwilioApiError) return e;
    throw e;
  }
  throw new Error('expected a TwilioApiError');
}

describe('status progression on the clock', () => {
  beforeEach(() => void start());

  it('queued → sending → sent → delivered at the configured latencies, callbacks only for sent and delivered', async () => {
    const url = cbUrl();
    const m = send({ To: '+14155550100', StatusCallback: url });
    expect(m.status).toBe('queued');
    await advance(99);
    expect(m.status).toBe('queued');
    await advance(1);
    expect(m.status).toBe('sending');
    await advance(899);
    expect(m.status).toBe('sending');
    await advance(1);
    expect(m.status).toBe('sent');
    expect(m.dateSent).toBe(T0 + 1_000);
    await advance(2_000);
    expect(m.status).toBe('delivered');
    await until(() => hooksAt(url).length === 2, 'two callbacks');
    expect(hooksAt(url).map((h) => h.params.MessageStatus)).toEqual(['sent', 'delivered']);
    expect(hooksAt(url)[1]!.params.RawDlrDoneDate).toBe('2601011200');
    expect(sb.phones.inbox('+14155550100').map((e) => e.sid)).toEqual([m.sid]);
  });

  it('latency 0,0,0: sent then delivered at once; delivered goes out only after sent has been answered', async () => {
    await sb.close();
    start({ latency: { sendingMs: 0, sentMs: 0, deliveredMs: 0 } });
    const got: string[] = [];
    const held: (() => void)[] = [];
    const slow = createServer((req, res) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => {
        const status = new URLSearchParams(b).get('MessageStatus')!;
        got.push(status);
        if (status === 'sent') held.push(() => res.end());
        else res.end();
      });
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/status`;
      const m = send({ To: '+14155550104', StatusCallback: url });
      sb.catchUp();
      expect(m.status).toBe('delivered');
      expect(m.dateSent).toBe(T0);
      await until(() => got.length === 1, 'the sent callback');
      expect(got).toEqual(['sent']);
      expect(sb.callbacks().map((c) => c.params.MessageStatus)).toEqual(['sent']); // delivered waits its turn
      held.shift()!();
      await until(() => got.length === 2, 'the delivered callback');
      expect(got).toEqual(['sent', 'delivered']);
      await sb.flush();
      expect(sb.callbacks().map((c) => [c.params.MessageStatus, c.state])).toEqual([['sent', 'delivered'], ['delivered', 'delivered']]);
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((r) => slow.close(() => r()));
    }
  });

  it('a callback that gets no answer does not hold back the next one of its message', async () => {
    await sb.close();
    start({ latency: { sendingMs: 0, sentMs: 0, deliveredMs: 0 } });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const url = `http://127.0.0.1:${port}/status#rc=0`;
    send({ To: '+14155550105', StatusCallback: url });
    await advance(0);
    expect(sb.callbacks().map((c) => [c.params.MessageStatus, c.state, c.attempts.length])).toEqual([
      ['sent', 'failed', 1],
      ['delivered', 'failed', 1],
    ]);
  });

  it('a long code sends 1 segment per second: the second message leaves the queue a second later', async () => {
    const a = send({ To: '+14155550101' });
    const b = send({ To: '+14155550102', Body: 'y'.repeat(200) }); // 2 segments
    const c = send({ To: '+14155550103' });
    expect(sb.backlogMs('+15005550006')).toBe(4_000);
    await advance(1_000);
    expect([a.status, b.status, c.status]).toEqual(['sent', 'queued', 'queued']);
    await advance(100);
    expect(b.status).toBe('sending'); // b leaves the queue at +1 s
    await advance(900);
    expect([b.status, c.status]).toEqual(['sent', 'queued']);
    await advance(1_099);
    expect(c.status).toBe('queued');
    await advance(1);
    expect(c.status).toBe('sending'); // c leaves at +3 s (b's 2 segments took 2 s)
    expect(c.dateSent).toBeNull();
    await advance(900);
    expect(c.dateSent).toBe(T0 + 4_000);
  });

  it('a per-number mps overrides the type default (and `mps` per type applies otherwise)', async () => {
    await sb.close();
    start({ mps: { toll_free: 10 } });
    sb.setNumber({ phoneNumber: '+14155550210', mps: 4 });
    for (let i = 0; i < 4; i++) sb.createMessage(AC, { From: '+14155550210', To: '+14155550310', Body: 'x' }, principal);
    expect(sb.backlogMs('+14155550210')).toBe(1_000);
    for (let i = 0; i < 5; i++) sb.createMessage(AC, { From: '+18005550100', To: '+14155550310', Body: 'x' }, principal);
    expect(sb.backlogMs('+18005550100')).toBe(500);
  });

  it('queue capacity (queueHours of sending at the MPS): direct sends beyond it → 21611; service sends fail later with 30001', async () => {
    await sb.close();
    start({ queueHours: 0.01 }); // 36 s at 1 MPS = 36 segments
    sb.setNumber({ phoneNumber: '+14155550200', type: 'long_code' });
    const svc = sb.createService(AC, { FriendlyName: 'cap' });
    sb.addToService(AC, svc.sid, sb.numbersByValue.get('+14155550200')!.sid, 'PN');
    for (let i = 0; i < 3; i++) sb.createMessage(AC, { From: '+14155550200', To: '+14155550300', Body: 'x'.repeat(1530) }, principal); // 10 segments each
    sb.createMessage(AC, { From: '+14155550200', To: '+14155550300', Body: 'x'.repeat(918) }, principal); // 6 segments
    expect(sb.backlogMs('+14155550200')).toBe(36_000);
    const e = syncError(() => sb.createMessage(AC, { From: '+14155550200', To: '+14155550300', Body: 'one more' }, principal));
    expect([e.status, e.code]).toEqual([400, 21611]);
    const url = cbUrl();
    const viaService = sb.createMessage(AC, { MessagingServiceSid: svc.sid, To: '+14155550301', Body: 'svc', StatusCallback: url }, principal);
    expect(viaService.status).toBe('accepted');
    await advance(50);
    expect(viaService).toMatchObject({ status: 'failed', errorCode: 30001, from: '+14155550200' });
    await until(() => hooksAt(url).length === 2, 'queued + failed callbacks');
    // Both go out in the same instant, so their arrival order is not defined.
    expect(hooksAt(url).map((h) => `${h.params.MessageStatus}:${h.params.ErrorCode ?? ''}`).sort()).toEqual(['failed:30001', 'queued:']);
  });

  it('ValidityPeriod: a message still queued when it runs out fails with 30036', async () => {
    const url = cbUrl();
    send({ To: '+14155550110', Body: 'x'.repeat(153 * 5) }); // 5 s of sending ahead
    const late = send({ To: '+14155550111', ValidityPeriod: '3', StatusCallback: url });
    await advance(2_999);
    expect(late.status).toBe('queued');
    await advance(1);
    expect(late).toMatchObject({ status: 'failed', errorCode: 30036, errorMessage: 'Validity Period Expired' });
    await until(() => hooksAt(url).length === 1, 'failed callback');
    expect(hooksAt(url)[0]!.params).toMatchObject({ MessageStatus: 'failed', ErrorCode: '30036' });
    expect(syncError(() => send({ To: '+14155550111', ValidityPeriod: '36001' })).code).toBe(21910);
  });

  it('sandbox numbers: undelivered 30003, failed 30005 (never sent), no DLR; WhatsApp reaches read', async () => {
    sb.setNumber({ phoneNumber: 'whatsapp:+14155550050' });
    const und = send({ To: SANDBOX_NUMBERS.undelivered });
    const fail = send({ To: SANDBOX_NUMBERS.failed });
    const nodlr = send({ To: SANDBOX_NUMBERS.noDlr });
    const url = cbUrl();
    const wa = sb.createMessage(AC, { From: 'whatsapp:+14155550050', To: 'whatsapp:+14155550051', Body: 'wa', StatusCallback: url }, principal);
    for (const [ms, n] of [
      [1_000, 1],
      [2_000, 2],
      [3_000, 3],
    ] as const) {
      await advance(ms);
      await until(() => hooksAt(url).length === n, `wa callback ${n}`);
    }
    await advance(20_000);
    expect(und).toMatchObject({ status: 'undelivered', errorCode: 30003 });
    expect(fail).toMatchObject({ status: 'failed', errorCode: 30005, dateSent: null });
    expect(nodlr.status).toBe('sent');
    expect(wa.status).toBe('read');
    expect(hooksAt(url).map((h) => h.params.MessageStatus)).toEqual(['sent', 'delivered', 'read']);
    expect(hooksAt(url)[2]!.params).toMatchObject({ EventType: 'READ', ChannelPrefix: 'whatsapp' });
    expect(syncError(() => send({ To: 'whatsapp:+14155550051' })).code).toBe(63007);
  });

  it('messageLimit: the oldest finished messages are forgotten, unfinished ones kept', async () => {
    await sb.close();
    start({ messageLimit: 3 });
    const a = send({ To: '+14155550180' });
    await advance(3_000);
    expect(a.status).toBe('delivered');
    const b = send({ To: '+14155550181' });
    send({ To: '+14155550182' });
    send({ To: '+14155550183' });
    expect(sb.messagesBySid.has(a.sid)).toBe(false);
    expect(sb.messagesBySid.has(b.sid)).toBe(true);
    expect(syncError(() => sb.getMessage(AC, a.sid)).code).toBe(20404);
    send({ To: '+14155550184' }); // nothing finished to forget: kept over the limit rather than lose state
    expect(sb.messagesBySid.size).toBe(4);
  });

  it('historyLimit: submissions and callback records keep the newest N, however many came before', async () => {
    await sb.close();
    start({ historyLimit: 8, latency: { sendingMs: 0, sentMs: 0, deliveredMs: 0 } });
    sb.setNumber({ phoneNumber: '+14155550211', mps: 1_000 });
    const url = `${cbUrl()}#rc=0`;
    for (let i = 0; i < 50; i++) {
      sb.recordSubmission(AC, { Body: `n${i}` });
      sb.createMessage(AC, { From: '+14155550211', To: '+14155550311', Body: `n${i}`, StatusCallback: url }, principal);
      await advance(1);
      expect(sb.submissions().map((x) => x.params.Body)).toEqual(Array.from({ length: Math.min(8, i + 1) }, (_, k) => `n${i + 1 - Math.min(8, i + 1) + k}`));
    }
    const cbs = sb.callbacks();
    expect(cbs).toHaveLength(8);
    expect(cbs.at(-1)!.params).toMatchObject({ MessageStatus: 'delivered' });
    expect(cbs.map((c) => c.id)).toEqual(Array.from({ length: 8 }, (_, k) => cbs[0]!.id + k));
    expect(cbs.at(-1)!.id).toBe(100); // 50 messages × (sent + delivered)
    expect(sb.phones.inbox('+14155550311')).toHaveLength(50);
  });

  it('random outcomes are reproducible with the same seed', async () => {
    const run = async () => {
      await sb.close();
      start({ outcomes: { undeliveredRate: 0.3, failedRate: 0.2 } });
      const ms = Array.from({ length: 40 }, (_, i) => send({ To: `+1415555${String(1000 + i)}` }));
      await advance(60_000);
      await advance(60_000);
      return ms.map((m) => m.status);
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    expect(new Set(a)).toEqual(new Set(['delivered', 'undelivered', 'failed']));
  });
});

describe('Messaging Services on the clock', () => {
  beforeEach(() => void start());

  it('a scheduled message is released at SendAt: queued callback, then sent and delivered', async () => {
    const url = cbUrl();
    const svc = sb.createService(AC, { FriendlyName: 's', StatusCallback: url });
    sb.addToService(AC, svc.sid, sb.numbersByValue.get('+18005550100')!.sid, 'PN');
    const at = new Date(T0 + 600_000).toISOString();
    const m = sb.createMessage(AC, { MessagingServiceSid: svc.sid, To: '+14155550120', Body: 'later', ScheduleType: 'fixed', SendAt: at }, principal);
    expect(m.status).toBe('scheduled');
    await advance(599_999);
    expect(m.status).toBe('scheduled');
    await advance(1);
    expect(m).toMatchObject({ status: 'queued', from: '+18005550100' });
    await until(() => hooksAt(url).length === 1, 'queued callback');
    await advance(1_000);
    await until(() => hooksAt(url).length === 2, 'sent callback');
    await advance(2_000);
    expect(m.status).toBe('delivered');
    await until(() => hooksAt(url).length === 3, 'callbacks');
    expect(hooksAt(url).map((h) => h.params.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
  });

  it('the scheduled count follows release, cancel and delete (the 500,000 limit reads it)', async () => {
    const svc = sb.createService(AC, { FriendlyName: 's' });
    sb.addToService(AC, svc.sid, sb.numbersByValue.get('+18005550100')!.sid, 'PN');
    const later = (ms: number) => ({ MessagingServiceSid: svc.sid, To: '+14155550121', Body: 'later', ScheduleType: 'fixed', SendAt: new Date(T0 + ms).toISOString() });
    const a = sb.createMessage(AC, later(600_000), principal);
    const b = sb.createMessage(AC, later(900_000), principal);
    const c = sb.createMessage(AC, later(900_000), principal);
    sb.createMessage(AC, later(900_000), principal);
    expect(sb.scheduledCount(AC)).toBe(4);
    sb.updateMessage(AC, b.sid, { Status: 'canceled' });
    expect(sb.scheduledCount(AC)).toBe(3);
    sb.deleteMessage(AC, c.sid);
    expect(sb.scheduledCount(AC)).toBe(2);
    await advance(600_000);
    expect(a.status).toBe('queued');
    expect(sb.scheduledCount(AC)).toBe(1);
    await advance(300_000);
    expect(sb.scheduledCount(AC)).toBe(0);
    expect(sb.scheduledCount('AC00000000000000000000000000000002')).toBe(0);
  });

  it('StatusCallback on the message overrides the service one; validity period comes from the service', async () => {
    const svcUrl = cbUrl();
    const msgUrl = cbUrl();
    const svc = sb.createService(AC, { FriendlyName: 's', StatusCallback: svcUrl, ValidityPeriod: '5' });
    sb.addToService(AC, svc.sid, sb.numbersByValue.get('+18005550100')!.sid, 'PN');
    const m = sb.createMessage(AC, { MessagingServiceSid: svc.sid, To: '+14155550121', Body: 'x', StatusCallback: msgUrl }, principal);
    expect(m.validityPeriodS).toBe(5);
    await advance(5_000);
    await until(() => hooksAt(msgUrl).length === 3, 'message callbacks');
    expect(hooksAt(svcUrl)).toEqual([]);
  });
});

describe('inbound, TwiML replies, opt-out', () => {
  beforeEach(() => void start());

  it('a handset reply is POSTed to the number smsUrl, signed; a TwiML <Message> goes back to the handset', async () => {
    const url = `${rx.url}/inbound/twiml`;
    rx.respond('/inbound/twiml', { type: 'text/xml', body: '<?xml version="1.0"?><Response><Message>Thanks &amp; bye</Message></Response>' });
    sb.setNumber({ phoneNumber: '+15005550006', smsUrl: url });
    const r = await sb.reply({ from: '+14155550130', to: '+15005550006', body: 'hello?', mediaUrl: 'https://example.com/cat.gif' });
    expect(r.webhook).toMatchObject({ url, status: 200 });
    const h = rx.hooks.filter((x) => x.path === '/inbound/twiml').at(-1)!;
    expect(twilio.validateRequest(SANDBOX_AUTH_TOKEN, h.headers['x-twilio-signature'] as string, url, h.params)).toBe(true);
    expect(h.params).toMatchObject({
      From: '+14155550130',
      To: '+15005550006',
      Body: 'hello?',
      NumMedia: '1',
      NumSegments: '1',
      SmsStatus: 'received',
      AccountSid: AC,
      ApiVersion: '2010-04-01',
      MediaUrl0: 'https://example.com/cat.gif',
      MediaContentType0: 'image/gif',
      MessageSid: r.message.sid,
      SmsMessageSid: r.message.sid,
    });
    expect(r.message.sid).toMatch(/^MM/);
    expect(r.replies).toHaveLength(1);
    expect(r.replies[0]).toMatchObject({ direction: 'outbound-reply', from: '+15005550006', to: '+14155550130', body: 'Thanks & bye' });
    await advance(3_000);
    expect(sb.phones.inbox('+14155550130').map((e) => [e.direction, e.body])).toEqual([
      ['sent', 'hello?'],
      ['received', 'Thanks & bye'],
    ]);
  });

  it('WhatsApp inbound carries WaId and ProfileName', async () => {
    const url = `${rx.url}/inbound/wa`;
    sb.setNumber({ phoneNumber: 'whatsapp:+14155550060', smsUrl: url });
    await sb.reply({ from: 'whatsapp:+14155550061', to: 'whatsapp:+14155550060', body: 'hola' });
    expect(rx.hooks.filter((h) => h.path === '/inbound/wa').at(-1)!.params).toMatchObject({ WaId: '14155550061', ProfileName: 'Sandbox Phone', From: 'whatsapp:+14155550061' });
  });

  it('STOP opts the handset out (21610 on the next send, default reply), START lifts it; short codes are left alone', async () => {
    const r = await sb.reply({ from: '+14155550140', to: '+15005550006', body: ' stop ' });
    expect(r.keyword).toBe('stop');
    expect(r.webhook).toBeNull();
    expect(r.replies[0]!.body).toMatch(/^You have successfully been unsubscribed/);
    expect(syncError(() => send({ To: '+14155550140' })).code).toBe(21610);
    expect((await sb.reply({ from: '+14155550140', to: '+15005550006', body: 'STOP please' })).keyword).toBeNull();
    expect((await sb.reply({ from: '+14155550140', to: '+15005550006', body: 'Start' })).keyword).toBe('start');
    expect(send({ To: '+14155550140' }).status).toBe('queued');
    expect((await sb.reply({ from: '+14155550141', to: '55501', body: 'STOP' })).keyword).toBeNull();
    const tf = await sb.reply({ from: '+14155550142', to: '+18005550100', body: 'STOP' });
    expect(tf.replies[0]!.body).toMatch(/^NETWORK MSG/);
  });

  it('opt-out through a service number covers the whole service; OptOutType with advanced opt-out', async () => {
    const url = `${rx.url}/inbound/svc`;
    const svc = sb.createService(AC, { FriendlyName: 'svc', InboundRequestUrl: url });
    sb.setNumber({ phoneNumber: '+14155550150' });
    sb.setNumber({ phoneNumber: '+14155550151' });
    for (const n of ['+14155550150', '+14155550151']) sb.addToService(AC, svc.sid, sb.numbersByValue.get(n)!.sid, 'PN');
    sb.setAdvancedOptOut(svc.sid, true);
    const r = await sb.reply({ from: '+14155550160', to: '+14155550150', body: 'UNSUBSCRIBE' });
    expect(r.webhook?.status).toBe(204);
    expect(rx.hooks.filter((h) => h.path === '/inbound/svc').at(-1)!.params).toMatchObject({ OptOutType: 'STOP', MessagingServiceSid: svc.sid });
    expect(syncError(() => sb.createMessage(AC, { MessagingServiceSid: svc.sid, To: '+14155550160', Body: 'x' }, principal)).code).toBe(21610);
    expect(syncError(() => sb.createMessage(AC, { From: '+14155550151', To: '+14155550160', Body: 'x' }, principal)).code).toBe(21610);
  });

  it("a failing service inbound URL falls back to the service's fallback URL", async () => {
    rx.respond('/inbound/broken', { status: 500 });
    rx.respond('/inbound/fallback', { type: 'text/plain', body: 'from the fallback' });
    const svc = sb.createService(AC, { FriendlyName: 'fb', InboundRequestUrl: `${rx.url}/inbound/broken#rc=0`, FallbackUrl: `${rx.url}/inbound/fallback` });
    sb.addToService(AC, svc.sid, sb.numbersByValue.get('+18005550100')!.sid, 'PN');
    const r = await sb.reply({ from: '+14155550170', to: '+18005550100', body: 'anyone?' });
    expect(r.webhook).toMatchObject({ url: `${rx.url}/inbound/fallback`, status: 200 });
    expect(r.replies.map((x) => x.body)).toEqual(['from the fallback']);
    expect(rx.hooks.filter((h) => h.path === '/inbound/broken')).toHaveLength(1);
  });

  it('sandbox handsets that answer: auto-reply and auto-STOP', async () => {
    const url = `${rx.url}/inbound/auto`;
    sb.setNumber({ phoneNumber: '+15005550006', smsUrl: url });
    send({ To: SANDBOX_NUMBERS.autoReply, Body: 'ping' });
    send({ To: SANDBOX_NUMBERS.autoStop, Body: 'promo' });
    await advance(3_000);
    await advance(4_000);
    await until(() => rx.hooks.filter((h) => h.path === '/inbound/auto').length === 2, 'two inbound webhooks');
    const bodies = rx.hooks.filter((h) => h.path === '/inbound/auto').map((h) => [h.params.From, h.params.Body]);
    expect(bodies).toEqual(
      expect.arrayContaining([
        [SANDBOX_NUMBERS.autoReply, 'Auto-reply: ping'],
        [SANDBOX_NUMBERS.autoStop, 'STOP'],
      ]),
    );
    expect(syncError(() => send({ To: SANDBOX_NUMBERS.autoStop })).code).toBe(21610);
  });
});

describe('callback faults and retries', () => {
  beforeEach(() => void start());

  const statuses = (url: string) => hooksAt(url).map((h) => h.params.MessageStatus);

  it('drop: the callback is never sent (and logged as dropped)', async () => {
    const url = cbUrl();
    sb.faults.add({ kind: 'callback', action: 'drop', count: 1 });
    send({ To: '+14155550170', StatusCallback: url });
    await advance(3_000);
    await until(() => hooksAt(url).length === 1, 'delivered callback');
    expect(statuses(url)).toEqual(['delivered']);
    expect(sb.callbacks().filter((c) => c.url === url).map((c) => c.state)).toEqual(['dropped', 'delivered']);
  });

  it('duplicate: the same callback twice with the same idempotency token', async () => {
    const url = cbUrl();
    sb.faults.add({ kind: 'callback', action: 'duplicate', count: 1 });
    send({ To: '+14155550171', StatusCallback: url });
    await advance(3_000);
    await until(() => hooksAt(url).length === 3, 'three callbacks');
    const sent = hooksAt(url).filter((h) => h.params.MessageStatus === 'sent');
    expect(sent).toHaveLength(2);
    expect(sent[0]!.headers['i-twilio-idempotency-token']).toBe(sent[1]!.headers['i-twilio-idempotency-token']);
  });

  it('reorder: sent arrives after delivered', async () => {
    const url = cbUrl();
    sb.faults.add({ kind: 'callback', action: 'reorder', count: 1 });
    send({ To: '+14155550172', StatusCallback: url });
    await advance(1_000);
    await advance(2_000);
    await until(() => hooksAt(url).length === 2, 'two callbacks');
    expect(statuses(url)).toEqual(['delivered', 'sent']);
  });

  it('delay: the callback goes out delayMs of clock time later', async () => {
    const url = cbUrl();
    sb.faults.add({ kind: 'callback', action: 'delay', delayMs: 10_000, count: 1 });
    send({ To: '+14155550173', StatusCallback: url });
    await advance(3_000);
    await until(() => hooksAt(url).length === 1, 'delivered callback');
    expect(statuses(url)).toEqual(['delivered']);
    await advance(8_000);
    await until(() => hooksAt(url).length === 2, 'delayed sent callback');
    expect(statuses(url)).toEqual(['delivered', 'sent']);
  });

  it('sender_down: messages from that sender fail with the given code', async () => {
    sb.faults.add({ kind: 'sender_down', from: '+15005550006', errorCode: 30007 });
    const m = send({ To: '+14155550174' });
    const other = sb.createMessage(AC, { From: '+18005550100', To: '+14155550174', Body: 'x' }, principal);
    await advance(3_000);
    expect(m).toMatchObject({ status: 'failed', errorCode: 30007, errorMessage: 'Message filtered' });
    expect(other.status).toBe('delivered');
  });

  it('a failing callback URL is retried per the #rc fragment (5xx with rp=5xx), same token, fragment not sent', async () => {
    rx.respond('/cb/retry', { status: 500 });
    const url = `${rx.url}/cb/retry#rc=2&rp=5xx`;
    send({ To: '+14155550175', StatusCallback: url });
    await advance(1_000);
    await until(() => rx.hooks.filter((h) => h.path === '/cb/retry').length === 1, 'first attempt');
    await advance(1_000);
    await until(() => rx.hooks.filter((h) => h.path === '/cb/retry').length === 2, 'first retry');
    await advance(1_000); // also due: delivered (first attempt) at +3 s
    await until(() => rx.hooks.filter((h) => h.path === '/cb/retry').length === 4, 'second retry + delivered');
    const sent = rx.hooks.filter((h) => h.path === '/cb/retry' && h.params.MessageStatus === 'sent');
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((h) => h.headers['i-twilio-idempotency-token'])).size).toBe(1);
    const rec = sb.callbacks().find((c) => c.url === url && c.params.MessageStatus === 'sent')!;
    expect(rec.attempts.map((a) => a.status)).toEqual([500, 500, 500]);
    expect(rec.state).toBe('failed');
    for (const h of sent) expect(twilio.validateRequest(SANDBOX_AUTH_TOKEN, h.headers['x-twilio-signature'] as string, `${rx.url}/cb/retry`, h.params)).toBe(true);
  });
});

describe('segmentsOf (the plain-ASCII shortcut)', () => {
  it('agrees with countSegments on every ASCII character and on random bodies of 0–500 characters', () => {
    const ascii = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));
    const pick = (chars: string[], n: number, r: () => number) => Array.from({ length: n }, () => chars[Math.floor(r() * chars.length)]!).join('');
    const r = seededRandom(3);
    const plain = ascii.filter((c) => /[\n\r !"#$%&'()*+,\-./0-9:;<=>?@A-Z_a-z]/.test(c));
    const bodies = [...ascii, ...ascii.map((c) => c.repeat(161)), '\r\n'.repeat(90), 'é'.repeat(100), 'x'.repeat(160), 'x'.repeat(161), 'x'.repeat(306), 'x'.repeat(307)];
    for (let i = 0; i < 400; i++) bodies.push(pick(plain, Math.floor(r() * 500), r), pick([...plain, '€', '^', '`', '\t', 'é', '😀'], Math.floor(r() * 500), r));
    for (const body of bodies) {
      for (const smart of [false, true]) {
        const want = countSegments(body, { smartEncode: smart });
        const got = segmentsOf(body, smart);
        expect({ segments: got.segments, encoding: got.encoding, body: got.body }, JSON.stringify(body)).toEqual({ segments: want.segments, encoding: want.encoding, body: want.body });
      }
    }
  });
});
