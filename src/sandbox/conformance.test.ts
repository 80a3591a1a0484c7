/**
 * Conformance: the official `twilio` SDK against the sandbox over real HTTP. Every JSON response is validated
 * against Twilio's OpenAPI schemas; every webhook is checked with `twilio.validateRequest`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../config/schema.ts';
import { SANDBOX_TEST_ACCOUNT_SID, SANDBOX_TEST_AUTH_TOKEN } from './engine.ts';
import { startSandboxServer, type SandboxServer } from './server.ts';
import { raw, responseProblems, responseStats, sdkClient, startReceiver, until, validateResponse, type Receiver } from './conformance-support.ts';

const AC = SANDBOX_ACCOUNT_SID;
const FROM = '+15005550006';
const MSGS = '/2010-04-01/Accounts/{AccountSid}/Messages.json';
const MSG = '/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json';

let sb: SandboxServer;
let rx: Receiver;
let client: twilio.Twilio;
let toSeq = 0;
/** A recipient no other test uses (lists filter on it). */
const freshTo = () => `+1415777${String(1000 + ++toSeq).padStart(4, '0')}`;

beforeAll(async () => {
  sb = await startSandboxServer({ host: '127.0.0.1', port: 0, seed: 7, latency: { sendingMs: 5, sentMs: 20, deliveredMs: 40 }, mps: { long_code: 1000 } });
  rx = await startReceiver();
  client = sdkClient(sb.url, AC, SANDBOX_AUTH_TOKEN);
});
afterAll(async () => {
  await sb?.close();
  await rx?.close();
});


const validOk = (path: string, method: 'get' | 'post', status: number, body: unknown, spec: 'api' | 'messaging' = 'api') =>
  expect(validateResponse(spec, path, method, status, body)).toEqual([]);

function hooksFor(sid: string) {
  return rx.hooks.filter((h) => h.params.MessageSid === sid);
}

function expectSigned(h: { url: string; headers: Record<string, unknown>; params: Record<string, string> }, token = SANDBOX_AUTH_TOKEN) {
  const sig = h.headers['x-twilio-signature'];
  expect(typeof sig).toBe('string');
  expect(twilio.validateRequest(token, sig as string, h.url, h.params)).toBe(true);
  expect(twilio.validateRequest('wrong-token', sig as string, h.url, h.params)).toBe(false);
}

describe('Messages: create, fetch, callbacks', () => {
  it('create → 201 queued, fetch, then signed sent/delivered callbacks (none for queued)', async () => {
    const to = freshTo();
    const cb = `${rx.url}/status/basic?x=1`;
    const r = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN, form: { To: to, From: FROM, Body: 'hello sandbox', StatusCallback: cb } });
    expect(r.status).toBe(201);
    validOk(MSGS, 'post', 201, r.json);
    const created = r.json as Record<string, unknown>;
    expect(created).toMatchObject({ status: 'queued', num_segments: '1', num_media: '0', error_code: null, direction: 'outbound-api', api_version: '2010-04-01', date_sent: null, price: null });
    expect(created.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(created.uri).toBe(`/2010-04-01/Accounts/${AC}/Messages/${created.sid}.json`);

    const m = await client.messages(created.sid as string).fetch();
    expect(m.sid).toBe(created.sid);
    expect(m.numSegments).toBe('1');
    expect(m.dateCreated).toBeInstanceOf(Date);

    await until(() => hooksFor(created.sid as string).some((h) => h.params.MessageStatus === 'delivered'), 'delivered callback');
    const hooks = hooksFor(created.sid as string);
    expect(hooks.map((h) => h.params.MessageStatus)).toEqual(['sent', 'delivered']);
    for (const h of hooks) {
      expectSigned(h);
      expect(h.path).toBe('/status/basic');
      expect(h.headers['i-twilio-idempotency-token']).toBeTruthy();
      expect(h.params).toMatchObject({ AccountSid: AC, From: FROM, To: to, MessageSid: created.sid, SmsSid: created.sid, ApiVersion: '2010-04-01' });
      expect(h.params.SmsStatus).toBe(h.params.MessageStatus);
    }
    expect(hooks[1]!.params.RawDlrDoneDate).toMatch(/^\d{10}$/);
    expect(hooks[0]!.params.RawDlrDoneDate).toBeUndefined();
    const done = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages/${created.sid}.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    validOk(MSG, 'get', 200, done.json);
    expect(done.json).toMatchObject({ status: 'delivered', price_unit: 'USD' });
    expect((done.json as { price: string }).price).toMatch(/^-\d+\.\d{5}$/);
    expect((done.json as { date_sent: string | null }).date_sent).not.toBeNull();
  });

  it('the SDK create returns the same resource; segments follow the calculator (UCS-2, SmartEncoded)', async () => {
    const m = await client.messages.create({ to: freshTo(), from: FROM, body: 'x'.repeat(161) });
    expect(m.status).toBe('queued');
    expect(m.numSegments).toBe('2');
    const u = await client.messages.create({ to: freshTo(), from: FROM, body: '😀'.repeat(36) });
    expect(u.numSegments).toBe('2');
    const smart = await client.messages.create({ to: freshTo(), from: FROM, body: '“smart” quotes — dash', smartEncoded: true });
    expect(smart.body).toBe('"smart" quotes - dash');
    expect(smart.numSegments).toBe('1');
  });

  it('errors: 401 20003, unknown sid 20404, magic numbers with their codes, missing body 21602', async () => {
    const bad = sdkClient(sb.url, AC, 'wrong');
    await expect(bad.messages.list({ limit: 1 })).rejects.toMatchObject({ status: 401, code: 20003 });
    const e = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages/SM${'0'.repeat(32)}.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    expect(e.status).toBe(404);
    expect(e.json).toEqual({
      code: 20404,
      message: `The requested resource /2010-04-01/Accounts/${AC}/Messages/SM${'0'.repeat(32)}.json was not found`,
      more_info: 'https://www.twilio.com/docs/errors/20404',
      status: 404,
    });
    await expect(client.messages(`SM${'0'.repeat(32)}`).fetch()).rejects.toMatchObject({ status: 404, code: 20404, moreInfo: 'https://www.twilio.com/docs/errors/20404' });
    for (const [to, code] of [
      ['+15005550001', 21211],
      ['+15005550002', 21612],
      ['+15005550003', 21408],
      ['+15005550004', 21610],
      ['+15005550009', 21614],
      ['not-a-number', 21211],
    ] as const) {
      await expect(client.messages.create({ to, from: FROM, body: 'x' })).rejects.toMatchObject({ status: 400, code });
    }
    for (const [from, code] of [
      ['+15005550001', 21212],
      ['+15005550007', 21606],
      ['+15005550008', 21611],
    ] as const) {
      await expect(client.messages.create({ to: freshTo(), from, body: 'x' })).rejects.toMatchObject({ status: 400, code });
    }
    await expect(client.messages.create({ to: freshTo(), from: FROM })).rejects.toMatchObject({ status: 400, code: 21602 });
    await expect(client.messages.create({ to: freshTo(), from: FROM, body: 'x'.repeat(1601) })).rejects.toMatchObject({ status: 400, code: 21617 });
  });
});

describe('Messages: list with paging', () => {
  it('list / page / each agree, newest first, Twilio envelope with PageToken', async () => {
    const to = freshTo();
    const sids: string[] = [];
    for (let i = 0; i < 7; i++) sids.push((await client.messages.create({ to, from: FROM, body: `page ${i}` })).sid);
    const newestFirst = [...sids].reverse();

    const listed = await client.messages.list({ to, pageSize: 3 });
    expect(listed.map((m) => m.sid)).toEqual(newestFirst);
    const limited = await client.messages.list({ to, pageSize: 2, limit: 5 });
    expect(limited.map((m) => m.sid)).toEqual(newestFirst.slice(0, 5));

    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client.messages.each({ to, pageSize: 2, done: (err?: Error) => (err ? reject(err) : resolve()) }, (m) => void seen.push(m.sid));
    });
    expect(seen).toEqual(newestFirst);

    const p1 = await client.messages.page({ to, pageSize: 3 });
    expect(p1.instances.map((m) => m.sid)).toEqual(newestFirst.slice(0, 3));
    const p2 = await p1.nextPage();
    expect(p2!.instances.map((m) => m.sid)).toEqual(newestFirst.slice(3, 6));
    const back = await p2!.previousPage();
    expect(back!.instances.map((m) => m.sid)).toEqual(newestFirst.slice(0, 3));
    const p3 = await p2!.nextPage();
    expect(p3!.instances.map((m) => m.sid)).toEqual(newestFirst.slice(6));
    expect(await p3!.nextPage()).toBeUndefined();

    const r = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages.json?To=${encodeURIComponent(to)}&PageSize=3`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    expect(r.status).toBe(200);
    validOk(MSGS, 'get', 200, r.json);
    const env = r.json as Record<string, unknown>;
    expect(env).toMatchObject({ page: 0, page_size: 3, start: 0, end: 2, previous_page_uri: null });
    expect(env.first_page_uri).toBe(`/2010-04-01/Accounts/${AC}/Messages.json?To=%2B${to.slice(1)}&PageSize=3&Page=0`);
    expect(env.next_page_uri).toBe(`/2010-04-01/Accounts/${AC}/Messages.json?To=%2B${to.slice(1)}&PageSize=3&Page=1&PageToken=PA${newestFirst[2]}`);
    const n = await raw(`${sb.url}${env.next_page_uri as string}`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    expect(n.json).toMatchObject({ page: 1, start: 3, end: 5 });
    const empty = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages.json?To=%2B19999999999`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    expect(empty.json).toMatchObject({ messages: [], page_size: 50, start: 0, end: 0, next_page_uri: null });
    const big = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages.json?PageSize=5000`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    expect((big.json as { page_size: number }).page_size).toBe(1000);
  });

  it('filters by From and DateSent ranges', async () => {
    const to = freshTo();
    const m = await client.messages.create({ to, from: FROM, body: 'dated' });
    await until(async () => (await client.messages(m.sid).fetch()).dateSent, 'date_sent set');
    const sent = (await client.messages(m.sid).fetch()).dateSent!;
    const day = sent.toISOString().slice(0, 10);
    expect((await client.messages.list({ to, from: FROM, dateSent: new Date(`${day}T00:00:00Z`) })).map((x) => x.sid)).toContain(m.sid);
    expect(await client.messages.list({ to, dateSentAfter: new Date(sent.getTime() + 86_400_000) })).toEqual([]);
    expect((await client.messages.list({ to, dateSentBefore: new Date(sent.getTime() + 60_000) })).map((x) => x.sid)).toEqual([m.sid]);
    expect(await client.messages.list({ to, from: '+18005550100' })).toEqual([]);
  });
});

describe('Messages: update and delete', () => {
  it('redacts the body, refuses to cancel a non-scheduled message (30409), deletes (204 then 404)', async () => {
    const m = await client.messages.create({ to: freshTo(), from: FROM, body: 'secret' });
    await until(async () => (await client.messages(m.sid).fetch()).status === 'delivered', 'delivered');
    const red = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages/${m.sid}.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN, form: { Body: '' } });
    expect(red.status).toBe(200);
    validOk(MSG, 'post', 200, red.json);
    expect(red.json).toMatchObject({ body: '', status: 'delivered', sid: m.sid });
    expect((await client.messages(m.sid).update({ body: '' })).body).toBe('');
    await expect(client.messages(m.sid).update({ status: 'canceled' })).rejects.toMatchObject({ status: 400, code: 30409 });
    expect(await client.messages(m.sid).remove()).toBe(true);
    await expect(client.messages(m.sid).fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
    const del = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages/${m.sid}.json`, { method: 'DELETE', user: AC, pass: SANDBOX_AUTH_TOKEN });
    expect(del.status).toBe(404);
  });

  it('MMS: MM sid, num_media, Media subresource', async () => {
    const m = await client.messages.create({ to: freshTo(), from: FROM, body: 'pic', mediaUrl: ['https://example.com/a.png', 'https://example.com/b.jpg'] });
    expect(m.sid).toMatch(/^MM/);
    expect(m.numMedia).toBe('2');
    const media = await client.messages(m.sid).media.list();
    expect(media.map((x) => x.contentType)).toEqual(['image/png', 'image/jpeg']);
    const r = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages/${m.sid}/Media.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    validOk('/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json', 'get', 200, r.json);
    const one = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages/${m.sid}/Media/${media[0]!.sid}.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    validOk('/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json', 'get', 200, one.json);
  });
});

describe('Accounts (subaccounts) and Keys', () => {
  it('creates a subaccount, lists and fetches it, uses its own credentials, suspends it', async () => {
    const sub = await client.api.v2010.accounts.create({ friendlyName: 'billing-unit' });
    expect(sub.sid).toMatch(/^AC[0-9a-f]{32}$/);
    expect(sub.ownerAccountSid).toBe(AC);
    expect(sub.authToken).toMatch(/^[0-9a-f]{32}$/);
    const raw1 = await raw(`${sb.url}/2010-04-01/Accounts/${sub.sid}.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    validOk('/2010-04-01/Accounts/{Sid}.json', 'get', 200, raw1.json);
    const list = await raw(`${sb.url}/2010-04-01/Accounts.json?FriendlyName=billing-unit`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    validOk('/2010-04-01/Accounts.json', 'get', 200, list.json);
    expect((list.json as { accounts: { sid: string }[] }).accounts.map((a) => a.sid)).toEqual([sub.sid]);

    const subClient = sdkClient(sb.url, sub.sid, sub.authToken);
    expect((await subClient.api.v2010.accounts(sub.sid).fetch()).friendlyName).toBe('billing-unit');
    // A subaccount cannot see its parent.
    await expect(subClient.api.v2010.accounts(AC).fetch()).rejects.toMatchObject({ status: 401, code: 20003 });
    // It sends from its own numbers.
    sb.sandbox.setNumber({ phoneNumber: '+14155550999', accountSid: sub.sid });
    const sm = await subClient.messages.create({ to: freshTo(), from: '+14155550999', body: 'from the sub' });
    expect(sm.accountSid).toBe(sub.sid);
    // …and cannot use the parent's.
    await expect(subClient.messages.create({ to: freshTo(), from: FROM, body: 'x' })).rejects.toMatchObject({ code: 21606 });
    // The parent reaches the subaccount's messages.
    expect((await client.api.v2010.accounts(sub.sid).messages(sm.sid).fetch()).body).toBe('from the sub');

    const upd = await client.api.v2010.accounts(sub.sid).update({ status: 'suspended' });
    expect(upd.status).toBe('suspended');
    await expect(subClient.messages.create({ to: freshTo(), from: '+14155550999', body: 'x' })).rejects.toMatchObject({ status: 403 });
  });

  it('creates an API key (secret once), authenticates with it, lists, updates and deletes it', async () => {
    const k = await client.newKeys.create({ friendlyName: 'ci key' });
    expect(k.sid).toMatch(/^SK[0-9a-f]{32}$/);
    expect(k.secret).toMatch(/^[0-9a-f]{32}$/);
    const created = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Keys.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN, form: { FriendlyName: 'raw key' } });
    expect(created.status).toBe(201);
    validOk('/2010-04-01/Accounts/{AccountSid}/Keys.json', 'post', 201, created.json);

    const keyed = sdkClient(sb.url, k.sid, k.secret, AC);
    const m = await keyed.messages.create({ to: freshTo(), from: FROM, body: 'via key' });
    expect(m.accountSid).toBe(AC);

    const listed = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Keys.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    validOk('/2010-04-01/Accounts/{AccountSid}/Keys.json', 'get', 200, listed.json);
    const keys = (listed.json as { keys: Record<string, unknown>[] }).keys;
    expect(keys.map((x) => x.sid)).toContain(k.sid);
    for (const x of keys) expect(x.secret).toBeUndefined();
    const fetched = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Keys/${k.sid}.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    validOk('/2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json', 'get', 200, fetched.json);
    expect((await client.keys(k.sid).update({ friendlyName: 'renamed' })).friendlyName).toBe('renamed');
    expect(await client.keys(k.sid).remove()).toBe(true);
    await expect(keyed.messages.list({ limit: 1 })).rejects.toMatchObject({ status: 401, code: 20003 });
    await expect(client.keys(k.sid).fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
  });
});

describe('Messaging Services', () => {
  it('service send: accepted with from null and 0 segments, then queued/sent/delivered callbacks, sticky sender', async () => {
    const svc = await client.messaging.v1.services.create({ friendlyName: 'notifications', statusCallback: `${rx.url}/status/svc` });
    expect(svc.sid).toMatch(/^MG[0-9a-f]{32}$/);
    const rawSvc = await raw(`${sb.url}/v1/Services/${svc.sid}`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    validOk('/v1/Services/{Sid}', 'get', 200, rawSvc.json, 'messaging');
    const svcList = await raw(`${sb.url}/v1/Services?PageSize=1`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    validOk('/v1/Services', 'get', 200, svcList.json, 'messaging');

    sb.sandbox.setNumber({ phoneNumber: '+12125550101' });
    sb.sandbox.setNumber({ phoneNumber: '+14155550101' });
    const pns = await client.incomingPhoneNumbers.list();
    const ny = pns.find((p) => p.phoneNumber === '+12125550101')!;
    const sf = pns.find((p) => p.phoneNumber === '+14155550101')!;
    for (const pn of [ny, sf]) {
      const added = await raw(`${sb.url}/v1/Services/${svc.sid}/PhoneNumbers`, { user: AC, pass: SANDBOX_AUTH_TOKEN, form: { PhoneNumberSid: pn.sid } });
      expect(added.status).toBe(201);
      validOk('/v1/Services/{ServiceSid}/PhoneNumbers', 'post', 201, added.json, 'messaging');
    }
    expect((await client.messaging.v1.services(svc.sid).phoneNumbers.list()).map((p) => p.phoneNumber).sort()).toEqual(['+12125550101', '+14155550101']);

    const to = '+14155558888';
    const r = await raw(`${sb.url}/2010-04-01/Accounts/${AC}/Messages.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN, form: { To: to, MessagingServiceSid: svc.sid, Body: 'via service' } });
    expect(r.status).toBe(201);
    validOk(MSGS, 'post', 201, r.json);
    expect(r.json).toMatchObject({ status: 'accepted', from: null, num_segments: '0', messaging_service_sid: svc.sid });
    const sid = (r.json as { sid: string }).sid;
    await until(() => hooksFor(sid).some((h) => h.params.MessageStatus === 'delivered'), 'service delivered callback');
    const hooks = hooksFor(sid);
    expect(hooks.map((h) => h.params.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
    for (const h of hooks) {
      expectSigned(h);
      expect(h.params.MessagingServiceSid).toBe(svc.sid);
    }
    const sc = await client.shortCodes.list();
    expect(sc.map((x) => x.shortCode)).toEqual(['55501']);
    expect(sc[0]!.sid).toMatch(/^SC/);
    expect((await client.shortCodes(sc[0]!.sid).update({ smsUrl: `${rx.url}/inbound/sc` })).smsUrl).toBe(`${rx.url}/inbound/sc`);
    // Area-code geomatch picked the 415 number; sticky sender keeps it.
    const m = await client.messages(sid).fetch();
    expect(m.from).toBe('+14155550101');
    expect(m.numSegments).toBe('1');
    const again = await client.messages.create({ to, messagingServiceSid: svc.sid, body: 'again' });
    await until(async () => (await client.messages(again.sid).fetch()).from, 'sender chosen');
    expect((await client.messages(again.sid).fetch()).from).toBe('+14155550101');
    // No body, no media: 21619 for service sends.
    await expect(client.messages.create({ to, messagingServiceSid: svc.sid })).rejects.toMatchObject({ status: 400, code: 21619 });
  });

  it('scheduling: scheduled → cancel (canceled callback); window and service errors 35111/35114/35115/35118', async () => {
    const svc = await client.messaging.v1.services.create({ friendlyName: 'scheduler', statusCallback: `${rx.url}/status/sched` });
    const pn = sb.sandbox.setNumber({ phoneNumber: '+13125550101' });
    await client.messaging.v1.services(svc.sid).phoneNumbers.create({ phoneNumberSid: pn.sid });
    const sendAt = new Date(Date.now() + 3_600_000);
    const m = await client.messages.create({ to: freshTo(), messagingServiceSid: svc.sid, body: 'later', scheduleType: 'fixed', sendAt });
    expect(m.status).toBe('scheduled');
    expect(m.numSegments).toBe('0');
    expect(m.dateSent).toBeNull();
    const c = await client.messages(m.sid).update({ status: 'canceled' });
    expect(c.status).toBe('canceled');
    expect(c.dateSent).toBeNull();
    await until(() => hooksFor(m.sid).some((h) => h.params.MessageStatus === 'canceled'), 'canceled callback');
    expectSigned(hooksFor(m.sid)[0]!);
    await expect(client.messages(m.sid).update({ status: 'canceled' })).rejects.toMatchObject({ code: 30409 });

    const base = { to: freshTo(), body: 'x' };
    await expect(client.messages.create({ ...base, from: FROM, scheduleType: 'fixed', sendAt })).rejects.toMatchObject({ status: 400, code: 35118 });
    await expect(client.messages.create({ ...base, messagingServiceSid: svc.sid, scheduleType: 'fixed' })).rejects.toMatchObject({ status: 400, code: 35111 });
    await expect(client.messages.create({ ...base, messagingServiceSid: svc.sid, scheduleType: 'fixed', sendAt: new Date(Date.now() + 60_000) })).rejects.toMatchObject({ code: 35114 });
    await expect(client.messages.create({ ...base, messagingServiceSid: svc.sid, scheduleType: 'fixed', sendAt: new Date(Date.now() + 40 * 86_400_000) })).rejects.toMatchObject({ code: 35115 });
  });
});

describe('test credentials', () => {
  it('magic numbers answer as Twilio documents; nothing is stored, other resources are 403 20008', async () => {
    const t = sdkClient(sb.url, SANDBOX_TEST_ACCOUNT_SID, SANDBOX_TEST_AUTH_TOKEN);
    const ok = await t.messages.create({ to: '+14155550100', from: '+15005550006', body: 'test creds', statusCallback: `${rx.url}/status/testcreds` });
    expect(ok.status).toBe('queued');
    await expect(t.messages.create({ to: '+14155550100', from: '+14155550100', body: 'x' })).rejects.toMatchObject({ code: 21606 });
    await expect(t.messages.create({ to: '+15005550004', from: '+15005550006', body: 'x' })).rejects.toMatchObject({ code: 21610 });
    await expect(t.messages(ok.sid).fetch()).rejects.toMatchObject({ status: 403, code: 20008 });
    await expect(t.messages.list({ limit: 1 })).rejects.toMatchObject({ status: 403, code: 20008 });
    expect(sb.sandbox.messagesBySid.has(ok.sid)).toBe(false);
    expect(rx.hooks.filter((h) => h.path === '/status/testcreds')).toEqual([]);
  });
});

describe('every response the SDK received', () => {
  // Last in the file: vitest runs a file's tests in order, so this sees every SDK call above.
  it('is valid against the OpenAPI schemas (2xx) or a Twilio error envelope (4xx/5xx)', () => {
    expect(responseStats.validated).toBeGreaterThan(40);
    expect(responseStats.errors).toBeGreaterThan(20);
    expect(responseProblems).toEqual([]);
  });
});
