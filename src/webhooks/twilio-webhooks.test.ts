/**
 * Twilio webhook ingestion through Fastify inject() against a real SQLite store (a temp file).
 * Requests are signed with the official SDK's `getExpectedTwilioSignature`, exactly as Twilio would.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import Fastify, { type FastifyInstance } from 'fastify';
import twilio from 'twilio';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TwilioAccountConfig } from '../config/schema.ts';
import { ManualClock } from '../domain/clock.ts';
import { newId } from '../domain/ids.ts';
import type { MessageRecord, MessageStatus, NewEvent, SubmitState } from '../domain/message.ts';
import { Dispatcher } from '../dispatch/dispatcher.ts';
import type { ProviderAdapter, SendResult } from '../providers/provider.ts';
import { createSqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { InboundRecord, Store } from '../store/store.ts';
import { EMPTY_TWIML, twilioWebhookRoutes, type TwilioWebhookOptions } from './twilio-webhooks.ts';

const PUBLIC_URL = 'https://sb.example.com';
const SID_A = 'AC' + 'a'.repeat(32);
const SID_B = 'AC' + 'b'.repeat(32);
const TOKEN_A = 'token-a-0000000000000000000000000';
const TOKEN_B = 'token-b-0000000000000000000000000';

function account(name: string, accountSid: string, authToken: string): TwilioAccountConfig {
  return { name, provider: 'twilio', baseUrl: 'http://127.0.0.1:9', accountSid, authToken, apiKeySid: null, apiKeySecret: null, senders: [] };
}

let dir: string;
let dbPath: string;
let store: Store;
let clock: ManualClock;
let app: FastifyInstance;
let statusCalls: { message: MessageRecord; event: NewEvent }[];
let inboundCalls: InboundRecord[];

async function build(over: Partial<TwilioWebhookOptions> = {}): Promise<FastifyInstance> {
  const a = Fastify({ logger: false });
  // The rest of the app keeps its JSON parsing (the plugin's parser is encapsulated).
  a.post('/json-echo', async (req) => ({ got: req.body }));
  await a.register(twilioWebhookRoutes, {
    store,
    clock,
    accounts: [account('unit-a', SID_A, TOKEN_A), account('unit-b', SID_B, TOKEN_B)],
    publicUrl: PUBLIC_URL,
    onStatus: (message, event) => void statusCalls.push({ message, event }),
    // As the inbound handler does at its end: mark the message handled (a redelivery is then a plain duplicate).
    onInbound: async (r) => {
      inboundCalls.push(r);
      await store.markInboundHandled({ id: r.id, outbox: [], now: clock.now() });
    },
    ...over,
  });
  await a.ready();
  return a;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-webhooks-'));
  dbPath = join(dir, 'test.db');
  store = createSqliteStore({ path: dbPath });
  await store.migrate();
  clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
  statusCalls = [];
  inboundCalls = [];
  app = await build();
});

afterEach(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers

type Params = Record<string, string | string[]>;

function formBody(params: Params): string {
  const f = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const item of Array.isArray(v) ? v : [v]) f.append(k, item);
  return f.toString();
}

interface PostOpts {
  token?: string;
  /** Sign this URL instead of PUBLIC_URL + path. */
  signedUrl?: string;
  signedParams?: Params;
  signature?: string | null;
  contentType?: string;
  rawBody?: string;
  headers?: Record<string, string>;
}

async function post(path: string, params: Params, o: PostOpts = {}) {
  const signature =
    o.signature === null ? undefined : (o.signature ?? twilio.getExpectedTwilioSignature(o.token ?? TOKEN_A, o.signedUrl ?? PUBLIC_URL + path, o.signedParams ?? params));
  return app.inject({
    method: 'POST',
    url: path,
    headers: {
      'content-type': o.contentType ?? 'application/x-www-form-urlencoded',
      ...(signature !== undefined ? { 'x-twilio-signature': signature } : {}),
      ...o.headers,
    },
    payload: o.rawBody ?? formBody(params),
  });
}

const SM = (n: number) => 'SM' + n.toString(16).padStart(32, '0');

function statusParams(sid: string, status: string, extra: Params = {}, accountSid = SID_A): Params {
  return {
    AccountSid: accountSid,
    ApiVersion: '2010-04-01',
    From: '+15005550006',
    MessageSid: sid,
    MessageStatus: status,
    SmsSid: sid,
    SmsStatus: status,
    To: '+14155550100',
    ...extra,
  };
}

async function insertMessage(over: { status?: MessageStatus; submitState?: SubmitState; providerMessageId?: string | null; account?: string } = {}): Promise<MessageRecord> {
  const now = clock.now();
  const m: MessageRecord = {
    id: newId('msg', now),
    keyId: null,
    account: over.account ?? 'unit-a',
    provider: 'twilio',
    to: '+14155550100',
    from: '+15005550006',
    body: 'hello',
    segments: 1,
    encoding: 'GSM-7',
    category: 'transactional',
    priority: 5,
    status: over.status ?? 'sending',
    submitState: over.submitState ?? 'accepted',
    metadata: null,
    idempotencyKey: null,
    requestHash: null,
    providerMessageId: over.providerMessageId === undefined ? SM(Math.floor(Math.random() * 1e9)) : over.providerMessageId,
    providerStatus: 'queued',
    errorCode: null,
    errorMessage: null,
    attempts: 1,
    nextAttemptAt: now,
    expiresAt: now + 3_600_000,
    leaseOwner: null,
    leaseExpiresAt: null,
    createdAt: now,
    updatedAt: now,
    submittedAt: now,
    completedAt: null,
  };
  const [r] = await store.insertMessages([{ message: m, events: [{ messageId: m.id, type: 'accepted', status: 'queued', at: now, detail: null }] }]);
  expect(r!.inserted).toBe(true);
  return m;
}

const statusPath = (m?: MessageRecord) => (m ? `/webhooks/twilio/status?m=${encodeURIComponent(m.id)}` : '/webhooks/twilio/status');

async function statusEvents(id: string) {
  return (await store.listEvents(id)).filter((e) => e.type === 'status');
}

interface WebhookRow {
  kind: string;
  dedupe_key: string;
  duplicate: number;
  url: string;
  headers: string;
  raw_body: string;
  signature_valid: number;
}

/** The raw receipts, read straight from the SQLite file (the port has no list method). */
function receipts(): WebhookRow[] {
  const db = new BetterSqlite3(dbPath, { readonly: true });
  try {
    return db.prepare('SELECT kind, dedupe_key, duplicate, url, headers, raw_body, signature_valid FROM webhooks ORDER BY id').all() as WebhookRow[];
  } finally {
    db.close();
  }
}

function expectError(res: { statusCode: number; json(): unknown }, status: number, code: string, field?: string) {
  expect(res.statusCode).toBe(status);
  const body = res.json() as { error: { code: string; message: string; field?: string } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  if (field !== undefined) expect(body.error.field).toBe(field);
}

// ---------------------------------------------------------------- signature and accounts

describe('signature verification', () => {
  it('a valid callback is applied (204) and its raw receipt kept', async () => {
    const m = await insertMessage();
    const params = statusParams(m.providerMessageId!, 'sent');
    clock.advance(1_000);
    const res = await post(statusPath(m), params);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    const after = await store.getMessage(m.id);
    expect(after).toMatchObject({ status: 'sent', providerStatus: 'sent', updatedAt: clock.now() });
    const [e] = await statusEvents(m.id);
    expect(e).toMatchObject({ status: 'sent', at: clock.now(), detail: { applied: true, from: 'sending', providerStatus: 'sent', providerMessageId: m.providerMessageId } });
    const [r] = receipts();
    expect(r).toMatchObject({ kind: 'status', duplicate: 0, signature_valid: 1, url: PUBLIC_URL + statusPath(m), raw_body: formBody(params) });
    expect(r!.dedupe_key).toBe(`twilio:status:${m.providerMessageId}:sent:`);
    // Compact: the raw form body is the payload; headers are not kept again (none worth keeping were sent).
    expect(JSON.parse(r!.headers)).toEqual({});
    expect(statusCalls.map((c) => [c.message.id, c.message.status, c.event.detail?.applied])).toEqual([[m.id, 'sent', true]]);
  });

  it.each<[string, PostOpts]>([
    ['wrong signature', { signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }],
    ['signed with another account token', { token: TOKEN_B }],
    ['signed for another URL (query tampered)', { signedUrl: `${PUBLIC_URL}/webhooks/twilio/status?m=msg_other` }],
    ['signed for another host', { signedUrl: 'https://evil.example.com/webhooks/twilio/status' }],
    ['a param tampered after signing', { signedParams: {} }],
  ])('%s → 403 SB_WEBHOOK_SIGNATURE, kept with signatureValid false, nothing applied', async (_name, o) => {
    const m = await insertMessage();
    const params = statusParams(m.providerMessageId!, 'delivered');
    const signedParams = o.signedParams ? { ...params, MessageStatus: 'sent' } : undefined;
    const res = await post(statusPath(m), params, { ...o, signedParams });
    expectError(res, 403, 'SB_WEBHOOK_SIGNATURE');
    expect((await store.getMessage(m.id))!.status).toBe('sending');
    expect(await statusEvents(m.id)).toEqual([]);
    const rows = receipts();
    expect(rows).toHaveLength(1);
    // Refused before the signature verified: a small record (why, size, hash), never the body.
    expect(rows[0]).toMatchObject({ signature_valid: 0, raw_body: '' });
    const body = formBody(params);
    expect(JSON.parse(rows[0]!.headers)).toMatchObject({
      'x-switchboard-rejected': 'SB_WEBHOOK_SIGNATURE',
      'x-switchboard-body-bytes': String(Buffer.byteLength(body)),
      'x-switchboard-body-sha256': createHash('sha256').update(body).digest('hex'),
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(rows[0]!.dedupe_key).toMatch(/^twilio:status:rejected:/);
    expect(statusCalls).toEqual([]);
  });

  it('a forged callback does not take the dedupe key of the real one', async () => {
    const m = await insertMessage();
    const params = statusParams(m.providerMessageId!, 'delivered');
    expect((await post(statusPath(m), params, { signature: 'forged' })).statusCode).toBe(403);
    expect((await post(statusPath(m), params)).statusCode).toBe(204);
    expect((await store.getMessage(m.id))!.status).toBe('delivered');
  });

  it('missing X-Twilio-Signature → 403', async () => {
    const m = await insertMessage();
    const res = await post(statusPath(m), statusParams(m.providerMessageId!, 'sent'), { signature: null });
    expectError(res, 403, 'SB_WEBHOOK_SIGNATURE');
    expect((res.json() as { error: { message: string } }).error.message).toMatch(/Missing/);
    expect(receipts()[0]!.signature_valid).toBe(0);
  });

  it('unknown AccountSid → 403 SB_WEBHOOK_ACCOUNT_UNKNOWN, kept', async () => {
    const m = await insertMessage();
    const params = statusParams(m.providerMessageId!, 'sent', {}, 'AC' + 'c'.repeat(32));
    const res = await post(statusPath(m), params, { token: 'whatever' });
    expectError(res, 403, 'SB_WEBHOOK_ACCOUNT_UNKNOWN', 'AccountSid');
    expect(receipts()).toMatchObject([{ signature_valid: 0, raw_body: '' }]);
    expect(JSON.parse(receipts()[0]!.headers)['x-switchboard-rejected']).toBe('SB_WEBHOOK_ACCOUNT_UNKNOWN');
    expect((await store.getMessage(m.id))!.status).toBe('sending');
  });

  it('large unsigned bodies with an unknown AccountSid leave small records, not their bodies', async () => {
    const filler = 'x'.repeat(250 * 1024 - 200);
    for (let i = 0; i < 5; i++) {
      const res = await post('/webhooks/twilio/inbound', { AccountSid: 'AC' + 'd'.repeat(32), MessageSid: SM(900 + i), From: '+15550001', To: '+15550002', Body: filler }, { token: 'whatever' });
      expectError(res, 403, 'SB_WEBHOOK_ACCOUNT_UNKNOWN', 'AccountSid');
    }
    const rows = receipts();
    expect(rows).toHaveLength(5);
    for (const r of rows) {
      expect(r).toMatchObject({ kind: 'inbound', signature_valid: 0, raw_body: '' });
      expect(Number(JSON.parse(r.headers)['x-switchboard-body-bytes'])).toBeGreaterThan(250 * 1024 - 200);
      expect(r.headers.length).toBeLessThan(1_000);
    }
  });

  it('verifies against publicUrl + the URL as received (path prefix in publicUrl, query kept)', async () => {
    await app.close();
    app = await build({ publicUrl: 'https://example.org/switchboard/' });
    const m = await insertMessage();
    const params = statusParams(m.providerMessageId!, 'sent');
    const ok = await post(statusPath(m), params, { signedUrl: `https://example.org/switchboard${statusPath(m)}` });
    expect(ok.statusCode).toBe(204);
    const bad = await post(statusPath(m), statusParams(m.providerMessageId!, 'delivered'), { signedUrl: `https://example.org${statusPath(m)}` });
    expect(bad.statusCode).toBe(403);
  });

  it("a valid callback of account B for a message of account A is kept raw but not applied", async () => {
    const m = await insertMessage({ account: 'unit-a' });
    const res = await post(statusPath(m), statusParams(m.providerMessageId!, 'delivered', {}, SID_B), { token: TOKEN_B });
    expect(res.statusCode).toBe(204);
    expect((await store.getMessage(m.id))!.status).toBe('sending');
    expect(await statusEvents(m.id)).toEqual([]);
    expect(receipts()).toMatchObject([{ signature_valid: 1, duplicate: 0 }]);
  });
});

// ---------------------------------------------------------------- status semantics

describe('status callbacks', () => {
  it('matches by provider id when the URL has no ?m=', async () => {
    const m = await insertMessage({ status: 'sent' });
    const res = await post(statusPath(), statusParams(m.providerMessageId!, 'delivered', { RawDlrDoneDate: '2601011200' }));
    expect(res.statusCode).toBe(204);
    const after = (await store.getMessage(m.id))!;
    expect(after).toMatchObject({ status: 'delivered', completedAt: clock.now(), providerStatus: 'delivered' });
    expect((await statusEvents(m.id))[0]!.detail).toMatchObject({ applied: true, rawDlrDoneDate: '2601011200' });
  });

  it('an unknown message is kept raw and answered 204 (not a 5xx)', async () => {
    const res = await post('/webhooks/twilio/status?m=msg_doesnotexist', statusParams(SM(424242), 'delivered'));
    expect(res.statusCode).toBe(204);
    expect(receipts()).toMatchObject([{ signature_valid: 1, duplicate: 0 }]);
  });

  it('duplicate callbacks are recorded as duplicates and applied once', async () => {
    const m = await insertMessage({ status: 'sent' });
    const params = statusParams(m.providerMessageId!, 'delivered');
    for (let i = 0; i < 3; i++) {
      clock.advance(500);
      expect((await post(statusPath(m), params, { headers: { 'i-twilio-idempotency-token': 'tok-1' } })).statusCode).toBe(204);
    }
    expect((await statusEvents(m.id)).length).toBe(1);
    expect(receipts().map((r) => r.duplicate)).toEqual([0, 1, 1]);
    expect(JSON.parse(receipts()[2]!.headers)['i-twilio-idempotency-token']).toBe('tok-1');
    expect(statusCalls).toHaveLength(1);
  });

  it('a redelivery after a crash between keeping the receipt and applying it still applies (once)', async () => {
    const m = await insertMessage({ status: 'sent' });
    const params = statusParams(m.providerMessageId!, 'delivered');
    // The first delivery was kept, then the process died before the status was applied.
    await store.recordWebhook({
      provider: 'twilio', kind: 'status', dedupeKey: `twilio:status:${m.providerMessageId}:delivered:`, receivedAt: clock.now(),
      url: PUBLIC_URL + statusPath(m), headers: {}, rawBody: formBody(params), signatureValid: true,
    });
    expect((await post(statusPath(m), params)).statusCode).toBe(204);
    expect((await store.getMessage(m.id))!.status).toBe('delivered');
    const evs = await statusEvents(m.id);
    expect(evs).toHaveLength(1);
    expect(evs[0]!.detail).toMatchObject({ applied: true, redelivered: true });
    expect((await post(statusPath(m), params)).statusCode).toBe(204);
    expect(await statusEvents(m.id)).toHaveLength(1);
  });

  it('the same status with another ErrorCode is not a duplicate', async () => {
    const m = await insertMessage({ status: 'sent' });
    await post(statusPath(m), statusParams(m.providerMessageId!, 'undelivered', { ErrorCode: '30003' }));
    await post(statusPath(m), statusParams(m.providerMessageId!, 'undelivered', { ErrorCode: '30005' }));
    expect(receipts().map((r) => [r.dedupe_key.split(':').slice(3).join(':'), r.duplicate])).toEqual([
      ['undelivered:30003', 0],
      ['undelivered:30005', 0],
    ]);
    expect((await store.getMessage(m.id))!.errorCode).toBe('30005');
  });

  it('out of order: delivered then sent → stays delivered; the late sent is on the timeline, not applied', async () => {
    const m = await insertMessage();
    clock.advance(100);
    await post(statusPath(m), statusParams(m.providerMessageId!, 'delivered'));
    const deliveredAt = clock.now();
    clock.advance(100);
    await post(statusPath(m), statusParams(m.providerMessageId!, 'sent'));
    const after = (await store.getMessage(m.id))!;
    expect(after).toMatchObject({ status: 'delivered', providerStatus: 'delivered', completedAt: deliveredAt });
    const evs = await statusEvents(m.id);
    expect(evs.map((e) => [e.status, e.detail?.applied, e.detail?.reason ?? null])).toEqual([
      ['delivered', true, null],
      ['sent', false, 'final'],
    ]);
    expect(statusCalls.map((c) => c.event.detail?.applied)).toEqual([true, false]);
  });

  it('out of order: sent then queued → stays sent', async () => {
    const m = await insertMessage();
    await post(statusPath(m), statusParams(m.providerMessageId!, 'sent'));
    await post(statusPath(m), statusParams(m.providerMessageId!, 'queued'));
    expect((await store.getMessage(m.id))!).toMatchObject({ status: 'sent', providerStatus: 'sent' });
    const evs = await statusEvents(m.id);
    expect(evs.map((e) => [e.detail?.providerStatus, e.detail?.applied, e.detail?.reason ?? null])).toEqual([
      ['sent', true, null],
      ['queued', false, 'out_of_order'],
    ]);
  });

  it('undelivered keeps the error code and its meaning, and completes the message', async () => {
    const m = await insertMessage({ status: 'sent' });
    await post(statusPath(m), statusParams(m.providerMessageId!, 'undelivered', { ErrorCode: '30003' }));
    expect((await store.getMessage(m.id))!).toMatchObject({
      status: 'undelivered',
      errorCode: '30003',
      errorMessage: 'Unreachable destination handset',
      completedAt: clock.now(),
    });
  });

  it('read after delivered refreshes providerStatus only', async () => {
    const m = await insertMessage({ status: 'sent' });
    await post(statusPath(m), statusParams(m.providerMessageId!, 'delivered'));
    await post(statusPath(m), statusParams(m.providerMessageId!, 'read'));
    expect((await store.getMessage(m.id))!).toMatchObject({ status: 'delivered', providerStatus: 'read' });
    expect((await statusEvents(m.id)).map((e) => e.detail?.reason ?? 'applied')).toEqual(['applied', 'unchanged']);
  });

  it('an undocumented Twilio status is recorded, not applied, and answered 204', async () => {
    const m = await insertMessage();
    expect((await post(statusPath(m), statusParams(m.providerMessageId!, 'teleported'))).statusCode).toBe(204);
    expect((await store.getMessage(m.id))!.status).toBe('sending');
    expect((await statusEvents(m.id))[0]).toMatchObject({ status: null, detail: { applied: false, reason: 'unmapped_status' } });
  });

  it('a callback that arrives before the submit was recorded (in_flight, no provider id) still applies', async () => {
    const m = await insertMessage({ submitState: 'in_flight', providerMessageId: null });
    const sid = SM(777);
    await post(statusPath(m), statusParams(sid, 'sent'));
    expect((await store.getMessage(m.id))!).toMatchObject({ status: 'sent', submitState: 'accepted', providerMessageId: sid });
    // And a later callback without ?m= now finds it by provider id.
    await post(statusPath(), statusParams(sid, 'delivered'));
    expect((await store.getMessage(m.id))!.status).toBe('delivered');
  });

  it('with the real dispatcher: a callback that overtakes the submit response is kept, and the submit recorded after it', async () => {
    const m = await insertMessage({ status: 'queued', submitState: 'none', providerMessageId: null });
    const sid = SM(31337);
    let release!: (r: SendResult) => void;
    const gate = new Promise<SendResult>((resolve) => (release = resolve));
    let sent = 0;
    const adapter: ProviderAdapter = {
      provider: 'twilio',
      account: 'unit-a',
      send: async () => {
        sent++;
        return gate;
      },
      lookup: async () => null,
      check: async () => ({ ok: true, detail: 'test' }),
    };
    const warnings: Record<string, unknown>[] = [];
    const noop = () => {};
    const dispatcher = new Dispatcher({
      store,
      adapters: new Map([['unit-a', adapter]]),
      clock,
      config: { enabled: true, concurrency: 4, leaseMs: 30_000, maxAttempts: 3, backoff: { baseMs: 1_000, maxMs: 10_000 }, rateWindowMarginMs: 50, submitTimeoutMs: 5_000, idlePollMs: 100, reconcileDelayMs: 1_000 },
      rates: new Map(),
      defaultMps: 10,
      owner: 'test-dispatcher',
      log: { debug: noop, info: noop, warn: (o) => void warnings.push(o), error: (o) => void warnings.push(o) },
    });
    const round = dispatcher.runOnce();
    // Wait (polling state, with a deadline) until the submit is on the wire.
    const deadline = Date.now() + 10_000;
    while (sent === 0 || (await store.getMessage(m.id))!.submitState !== 'in_flight') {
      if (Date.now() > deadline) throw new Error('submit never started');
      await new Promise((r) => setTimeout(r, 10));
    }
    clock.advance(200);
    expect((await post(statusPath(m), statusParams(sid, 'delivered'))).statusCode).toBe(204);
    expect((await store.getMessage(m.id))!).toMatchObject({ status: 'delivered', submitState: 'accepted', providerMessageId: sid });
    clock.advance(50);
    release({ providerMessageId: sid, providerStatus: 'queued', status: 'sending' });
    await round;
    const after = (await store.getMessage(m.id))!;
    expect(after).toMatchObject({ status: 'delivered', submitState: 'accepted', providerMessageId: sid, leaseOwner: null, providerStatus: 'delivered' });
    const evs = await store.listEvents(m.id);
    expect(evs.map((e) => e.type)).toEqual(['accepted', 'submit_started', 'status', 'submitted']);
    expect(evs.at(-1)!.detail).toMatchObject({ afterCallback: true, providerMessageId: sid });
    expect(warnings).toEqual([]);
    expect(sent).toBe(1);
  });

  it('concurrent callbacks (sent, delivered, queued at once) end at delivered', async () => {
    for (let i = 0; i < 5; i++) {
      const m = await insertMessage();
      const sid = m.providerMessageId!;
      const codes = await Promise.all(['sent', 'delivered', 'queued', 'sent'].map((s) => post(statusPath(m), statusParams(sid, s)).then((r) => r.statusCode)));
      expect(codes).toEqual([204, 204, 204, 204]);
      expect((await store.getMessage(m.id))!.status).toBe('delivered');
    }
  });
});

// ---------------------------------------------------------------- malformed input

describe('malformed requests → 4xx with the JSON error shape, never 5xx', () => {
  it('JSON body → 415', async () => {
    const res = await post(statusPath(), {}, { contentType: 'application/json', rawBody: JSON.stringify({ MessageSid: SM(1) }) });
    expectError(res, 415, 'SB_UNSUPPORTED_MEDIA_TYPE');
    expect(receipts()).toMatchObject([{ signature_valid: 0 }]);
  });

  it('text/plain → 415; no content type → 415', async () => {
    expectError(await post(statusPath(), {}, { contentType: 'text/plain', rawBody: 'hello' }), 415, 'SB_UNSUPPORTED_MEDIA_TYPE');
    const none = await app.inject({ method: 'POST', url: statusPath(), payload: 'a=b' });
    expectError(none, 415, 'SB_UNSUPPORTED_MEDIA_TYPE');
    // Content types Fastify cannot even parse are refused before the handler (not kept).
    for (const ct of ['', 'weird']) {
      expectError(await app.inject({ method: 'POST', url: statusPath(), payload: 'a=b', headers: { 'content-type': ct } }), 415, 'SB_UNSUPPORTED_MEDIA_TYPE');
    }
    expect(receipts()).toHaveLength(2);
  });

  it('content type with a charset parameter is accepted', async () => {
    const m = await insertMessage();
    const res = await post(statusPath(m), statusParams(m.providerMessageId!, 'sent'), { contentType: 'application/x-www-form-urlencoded; charset=utf-8' });
    expect(res.statusCode).toBe(204);
  });

  it.each([
    ['bad percent-encoding', 'AccountSid=' + SID_A + '&Body=%zz'],
    ['truncated UTF-8', 'AccountSid=' + SID_A + '&Body=%E2%82'],
    ['a field without a name', '=x&AccountSid=' + SID_A],
  ])('%s → 400 SB_WEBHOOK_MALFORMED', async (_name, raw) => {
    const res = await post(statusPath(), {}, { rawBody: raw, signature: 'x' });
    expectError(res, 400, 'SB_WEBHOOK_MALFORMED');
    expect(receipts()).toHaveLength(1);
  });

  it('empty body / no AccountSid → 400 naming AccountSid', async () => {
    expectError(await post(statusPath(), {}, { rawBody: '' }), 400, 'SB_WEBHOOK_MALFORMED', 'AccountSid');
    expectError(await post(statusPath(), { MessageSid: SM(1) }), 400, 'SB_WEBHOOK_MALFORMED', 'AccountSid');
  });

  it.each<[string, Params, string]>([
    ['no MessageSid', { AccountSid: SID_A, MessageStatus: 'sent' }, 'MessageSid'],
    ['no MessageStatus', { AccountSid: SID_A, MessageSid: SM(1) }, 'MessageStatus'],
    ['empty MessageStatus', { AccountSid: SID_A, MessageSid: SM(1), MessageStatus: '' }, 'MessageStatus'],
  ])('signed but %s → 400 naming the field, kept with a valid signature', async (_name, params, field) => {
    const res = await post(statusPath(), params);
    expectError(res, 400, 'SB_WEBHOOK_MALFORMED', field);
    expect(receipts()).toMatchObject([{ signature_valid: 1 }]);
  });

  it('a repeated MessageSid → 400', async () => {
    const res = await post(statusPath(), { AccountSid: SID_A, MessageSid: [SM(1), SM(2)], MessageStatus: 'sent' });
    expectError(res, 400, 'SB_WEBHOOK_MALFORMED');
  });

  it('a body over the limit → 413', async () => {
    await app.close();
    app = await build({ bodyLimit: 1_024 });
    const res = await post(statusPath(), statusParams(SM(1), 'sent', { Body: 'x'.repeat(2_000) }));
    expectError(res, 413, 'SB_BODY_TOO_LARGE');
  });

  it('the rest of the app still parses JSON', async () => {
    const res = await app.inject({ method: 'POST', url: '/json-echo', payload: { a: 1 } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ got: { a: 1 } });
  });
});

// ---------------------------------------------------------------- inbound

const INBOUND_PATH = '/webhooks/twilio/inbound';

function inboundParams(sid: string, extra: Params = {}): Params {
  return {
    AccountSid: SID_A,
    ApiVersion: '2010-04-01',
    Body: 'Hello there 👋',
    From: '+14155550199',
    FromCountry: 'US',
    MessageSid: sid,
    NumMedia: '0',
    NumSegments: '1',
    SmsMessageSid: sid,
    SmsSid: sid,
    SmsStatus: 'received',
    To: '+15005550006',
    ToState: '',
    ...extra,
  };
}

describe('inbound messages', () => {
  it('are stored, answered with empty TwiML, and handed to onInbound', async () => {
    const res = await post(INBOUND_PATH, inboundParams(SM(9001)));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/xml/);
    expect(res.body).toBe(EMPTY_TWIML);
    const { items } = await store.listInbound({ limit: 10 });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      provider: 'twilio',
      account: 'unit-a',
      providerMessageId: SM(9001),
      from: '+14155550199',
      to: '+15005550006',
      body: 'Hello there 👋',
      numMedia: 0,
      mediaUrls: [],
      providerKeyword: null,
      receivedAt: clock.now(),
    });
    expect(items[0]!.id).toMatch(/^in_/);
    expect(inboundCalls.map((r) => r.providerMessageId)).toEqual([SM(9001)]);
    expect(receipts()).toMatchObject([{ kind: 'inbound', signature_valid: 1, dedupe_key: `twilio:inbound:${SM(9001)}` }]);
  });

  it('MMS: NumMedia and MediaUrlN are kept in order; OptOutType becomes providerKeyword', async () => {
    const params = inboundParams(SM(9002), {
      NumMedia: '2',
      MediaUrl0: 'https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME0',
      MediaContentType0: 'image/jpeg',
      MediaUrl1: 'https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1',
      MediaContentType1: 'image/png',
      Body: 'STOP',
      OptOutType: 'stop',
    });
    expect((await post(INBOUND_PATH, params)).statusCode).toBe(200);
    const [r] = (await store.listInbound({ limit: 10 })).items;
    expect(r).toMatchObject({ numMedia: 2, mediaUrls: [params.MediaUrl0, params.MediaUrl1], providerKeyword: 'STOP', body: 'STOP' });
  });

  it('accounts sharing an AccountSid: the one owning the To number gets the message', async () => {
    await app.close();
    const owner = { ...account('unit-a-tollfree', SID_A, TOKEN_A), senders: [{ from: '+18005550100', type: 'toll_free' as const, mps: 3 }] };
    app = await build({ accounts: [account('unit-a', SID_A, TOKEN_A), owner] });
    await post(INBOUND_PATH, inboundParams(SM(9010), { To: '+18005550100' }));
    await post(INBOUND_PATH, inboundParams(SM(9011), { To: '+15005550006' }));
    const items = (await store.listInbound({ limit: 10 })).items;
    expect(Object.fromEntries(items.map((r) => [r.to, r.account]))).toEqual({ '+18005550100': 'unit-a-tollfree', '+15005550006': 'unit-a' });
  });

  it('duplicates are stored once and handed over once', async () => {
    const params = inboundParams(SM(9003));
    for (let i = 0; i < 3; i++) expect((await post(INBOUND_PATH, params)).statusCode).toBe(200);
    expect((await store.listInbound({ limit: 10 })).items).toHaveLength(1);
    expect(inboundCalls).toHaveLength(1);
    expect(receipts().map((r) => r.duplicate)).toEqual([0, 1, 1]);
  });

  it('a redelivery of a message whose handling never completed hands the stored record over again, until handled', async () => {
    await app.close();
    const resumed: InboundRecord[] = [];
    let crash = true;
    app = await build({
      // The process "dies" inside the handler the first time: stored, never marked handled.
      onInbound: async (r) => {
        inboundCalls.push(r);
        if (crash) throw new Error('killed after insertInbound');
        await store.markInboundHandled({ id: r.id, outbox: [], now: clock.now() });
      },
      resumeInbound: async (r) => {
        resumed.push(r);
        await store.markInboundHandled({ id: r.id, outbox: [], now: clock.now() });
      },
    });
    const params = inboundParams(SM(9007));
    expect((await post(INBOUND_PATH, params)).statusCode).toBe(200);
    const [stored] = (await store.listInbound({ limit: 10 })).items;
    expect(inboundCalls.map((r) => r.id)).toEqual([stored!.id]);
    clock.advance(15_000);
    expect((await post(INBOUND_PATH, params)).statusCode).toBe(200); // Twilio's retry
    expect(resumed).toEqual([stored]);
    expect((await post(INBOUND_PATH, params)).statusCode).toBe(200);
    expect(resumed).toHaveLength(1);
    expect(inboundCalls).toHaveLength(1);
    expect((await store.listInbound({ limit: 10 })).items).toEqual([stored]);
  });

  it('a failing onInbound is logged; the message stays stored and Twilio gets 200', async () => {
    await app.close();
    const errors: Record<string, unknown>[] = [];
    const log = { debug() {}, info() {}, warn() {}, error: (o: Record<string, unknown>) => void errors.push(o) };
    app = await build({ onInbound: () => Promise.reject(new Error('consent ledger down')), log });
    expect((await post(INBOUND_PATH, inboundParams(SM(9004)))).statusCode).toBe(200);
    expect((await store.listInbound({ limit: 10 })).items).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });

  it.each<[string, Params, string]>([
    ['no From', { From: '' }, 'From'],
    ['no To', { To: '' }, 'To'],
    ['NumMedia not a number', { NumMedia: 'two' }, 'NumMedia'],
    ['NumMedia without the URLs', { NumMedia: '1' }, 'MediaUrl0'],
  ])('%s → 400 naming the field, nothing stored', async (_name, extra, field) => {
    const params = inboundParams(SM(9005), extra);
    expectError(await post(INBOUND_PATH, params), 400, 'SB_WEBHOOK_MALFORMED', field);
    expect((await store.listInbound({ limit: 10 })).items).toEqual([]);
  });

  it('bad signature → 403, kept, nothing stored', async () => {
    expectError(await post(INBOUND_PATH, inboundParams(SM(9006)), { token: 'nope' }), 403, 'SB_WEBHOOK_SIGNATURE');
    expect((await store.listInbound({ limit: 10 })).items).toEqual([]);
    expect(receipts()).toMatchObject([{ kind: 'inbound', signature_valid: 0 }]);
  });
});
