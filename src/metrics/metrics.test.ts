import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../domain/clock.ts';
import type { MessageRecord, NewEvent } from '../domain/message.ts';
import { Dispatcher } from '../dispatch/dispatcher.ts';
import { ProviderError, type ProviderAdapter } from '../providers/provider.ts';
import { contractMessage } from '../store/contract/store-contract.ts';
import { createSqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { parseExposition, sumOf } from './exposition.ts';
import { createMetrics, type SwitchboardMetrics } from './metrics.ts';
import { metricsPlugin, rejectionCode } from './plugin.ts';

const T0 = Date.UTC(2026, 0, 1, 12);

let dir: string;
let store: Store;
let clock: ManualClock;
let metrics: SwitchboardMetrics;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-metrics-'));
  store = createSqliteStore({ path: join(dir, 'm.db') });
  await store.migrate();
  clock = new ManualClock(T0);
  metrics = createMetrics({ store, clock, senders: [{ account: 'sandbox', from: '+15005550006' }, { account: 'sandbox', from: '55501' }] });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function msg(o: Partial<MessageRecord> = {}): MessageRecord {
  return { ...contractMessage({ now: T0, account: 'sandbox', from: '+15005550006' }), ...o };
}

async function scrape(): Promise<ReturnType<typeof parseExposition>> {
  return parseExposition(await metrics.text());
}

describe('SwitchboardMetrics observers', () => {
  it('counts accepted, sent and completed with their labels, and observes latencies', async () => {
    const a = msg({ category: 'otp' });
    const b = msg();
    metrics.accepted([a, b]);
    const aSent = { ...a, status: 'sending' as const, submitState: 'accepted' as const, submittedAt: T0 + 250 };
    metrics.submitted(aSent);
    metrics.completed({ ...aSent, status: 'delivered', completedAt: T0 + 2_250 });
    metrics.completed({ ...b, status: 'failed', errorCode: '21211', completedAt: T0 + 10 });
    metrics.completed({ ...b, status: 'sent' }); // not final: ignored
    const s = await scrape();
    expect(sumOf(s, 'switchboard_messages_accepted_total')).toBe(2);
    expect(sumOf(s, 'switchboard_messages_accepted_total', { category: 'otp', account: 'sandbox', sender: '+15005550006', provider: 'twilio' })).toBe(1);
    expect(sumOf(s, 'switchboard_messages_sent_total')).toBe(1);
    expect(sumOf(s, 'switchboard_messages_completed_total', { status: 'delivered', error_code: '' })).toBe(1);
    expect(sumOf(s, 'switchboard_messages_completed_total', { status: 'failed', error_code: '21211' })).toBe(1);
    expect(sumOf(s, 'switchboard_messages_completed_total')).toBe(2);
    expect(sumOf(s, 'switchboard_dispatch_latency_seconds_count')).toBe(1);
    expect(sumOf(s, 'switchboard_dispatch_latency_seconds_sum')).toBeCloseTo(0.25);
    expect(sumOf(s, 'switchboard_dispatch_latency_seconds_bucket', { le: '0.1' })).toBe(0);
    expect(sumOf(s, 'switchboard_dispatch_latency_seconds_bucket', { le: '0.5' })).toBe(1);
    // failed before submit: no delivery latency
    expect(sumOf(s, 'switchboard_delivery_latency_seconds_count')).toBe(1);
    expect(sumOf(s, 'switchboard_delivery_latency_seconds_sum', { status: 'delivered' })).toBeCloseTo(2);
  });

  it('status callbacks: counted by outcome; a final move counts as completed once', async () => {
    const m = msg({ status: 'delivered', submittedAt: T0 + 1, completedAt: T0 + 1_001 });
    const ev = (detail: Record<string, unknown>): NewEvent => ({ messageId: m.id, type: 'status', status: 'delivered', at: T0, detail });
    metrics.statusCallback(m, ev({ applied: true, from: 'sent' }));
    metrics.statusCallback(m, ev({ applied: false, reason: 'final', current: 'delivered' }));
    metrics.statusCallback({ ...m, status: 'sent', completedAt: null }, ev({ applied: true, from: 'sending' }));
    metrics.inbound({ id: 'in_1', provider: 'twilio', account: 'sandbox', providerMessageId: 'SM1', from: '+1', to: '+2', body: '', numMedia: 0, mediaUrls: [], providerKeyword: null, receivedAt: T0 });
    const s = await scrape();
    expect(sumOf(s, 'switchboard_callbacks_total', { kind: 'status', outcome: 'applied' })).toBe(2);
    expect(sumOf(s, 'switchboard_callbacks_total', { kind: 'status', outcome: 'not_applied' })).toBe(1);
    expect(sumOf(s, 'switchboard_callbacks_total', { kind: 'inbound', outcome: 'stored' })).toBe(1);
    expect(sumOf(s, 'switchboard_messages_completed_total', { status: 'delivered' })).toBe(1);
  });

  it('queue gauges are read from the store at scrape time; configured senders read 0', async () => {
    const q1 = msg({ createdAt: T0 - 30_000, segments: 2 });
    const q2 = msg({ createdAt: T0 - 5_000 });
    const other = { ...contractMessage({ now: T0 - 1_000, account: 'billing', from: '+18005550100' }) };
    await store.insertMessages([q1, q2, other].map((message) => ({ message, events: [] })));
    let s = await scrape();
    expect(sumOf(s, 'switchboard_queue_depth', { account: 'sandbox', sender: '+15005550006' })).toBe(2);
    expect(sumOf(s, 'switchboard_queue_segments', { account: 'sandbox', sender: '+15005550006' })).toBe(3);
    expect(sumOf(s, 'switchboard_queue_oldest_age_seconds', { account: 'sandbox', sender: '+15005550006' })).toBe(30);
    expect(sumOf(s, 'switchboard_queue_depth', { account: 'billing', sender: '+18005550100' })).toBe(1);
    expect(s.some((x) => x.name === 'switchboard_queue_depth' && x.labels.sender === '55501' && x.value === 0)).toBe(true);
    expect(sumOf(s, 'switchboard_messages', { status: 'queued' })).toBe(3);
    clock.advance(10_000);
    s = await scrape();
    expect(sumOf(s, 'switchboard_queue_oldest_age_seconds', { account: 'sandbox', sender: '+15005550006' })).toBe(40);
  });

  it('two instances never share counters', async () => {
    const other = createMetrics({ store, clock });
    metrics.accepted([msg()]);
    expect(sumOf(parseExposition(await other.text()), 'switchboard_messages_accepted_total')).toBe(0);
    expect(sumOf(await scrape(), 'switchboard_messages_accepted_total')).toBe(1);
  });
});

describe('metricsPlugin', () => {
  let app: FastifyInstance;
  beforeEach(async () => {
    app = Fastify();
    await app.register(metricsPlugin, { metrics });
    // A stand-in for the webhook plugin: its own encapsulated context, answering like src/webhooks does.
    await app.register(async (child) => {
      child.post('/webhooks/twilio/status', async (req, reply) => {
        const sig = req.headers['x-twilio-signature'];
        if (sig === 'bad') return reply.code(403).send({ error: { code: 'SB_WEBHOOK_SIGNATURE', message: 'no' } });
        if (sig === 'acct') return reply.code(403).send({ error: { code: 'SB_WEBHOOK_ACCOUNT_UNKNOWN', message: 'no' } });
        return reply.code(204).send();
      });
    });
    app.post('/v1/messages', async (_req, reply) => reply.code(401).send({ error: { code: 'SB_AUTH_MISSING', message: 'x' } }));
  });
  afterEach(() => app.close());

  it('serves the text format and counts rejected webhooks by code (signature failures separately)', async () => {
    for (const sig of ['bad', 'bad', 'acct', 'good']) {
      await app.inject({ method: 'POST', url: '/webhooks/twilio/status?m=msg_1', headers: { 'x-twilio-signature': sig } });
    }
    await app.inject({ method: 'POST', url: '/v1/messages' }); // not a webhook: not counted
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const s = parseExposition(res.body);
    expect(sumOf(s, 'switchboard_webhook_signature_failures_total', { provider: 'twilio', kind: 'status' })).toBe(2);
    expect(sumOf(s, 'switchboard_webhook_rejected_total', { code: 'SB_WEBHOOK_SIGNATURE' })).toBe(2);
    expect(sumOf(s, 'switchboard_webhook_rejected_total', { code: 'SB_WEBHOOK_ACCOUNT_UNKNOWN' })).toBe(1);
    expect(sumOf(s, 'switchboard_webhook_rejected_total')).toBe(3);
  });

  it('rejectionCode reads the catalogue code or falls back to the status', () => {
    expect(rejectionCode('{"error":{"code":"SB_WEBHOOK_MALFORMED"}}', 400)).toBe('SB_WEBHOOK_MALFORMED');
    expect(rejectionCode('<html>', 502)).toBe('HTTP_502');
    expect(rejectionCode('{"error":{"code":"x y"}}', 400)).toBe('HTTP_400');
    expect(rejectionCode(undefined, 415)).toBe('HTTP_415');
  });
});

describe('completed is counted once', () => {
  // Wired as src/app.ts wires it: dispatcher onSubmitted/onFinal → submitted/completed, webhook onStatus → statusCallback.
  function wiredDispatcher(send: ProviderAdapter['send']): Dispatcher {
    const adapter: ProviderAdapter = { provider: 'twilio', account: 'sandbox', send, lookup: async () => null, check: async () => ({ ok: true, detail: 'test' }) };
    return new Dispatcher({
      store,
      adapters: new Map([['sandbox', adapter]]),
      clock,
      config: { enabled: true, concurrency: 4, leaseMs: 30_000, maxAttempts: 3, backoff: { baseMs: 1_000, maxMs: 10_000 }, rateWindowMarginMs: 50, submitTimeoutMs: 5_000, idlePollMs: 100, reconcileDelayMs: 1_000, statusPollAfterMs: 0 },
      rates: new Map(),
      defaultMps: 10,
      owner: 'metrics-test',
      hooks: { onSubmitted: (m) => metrics.submitted(m), onFinal: (m) => metrics.completed(m) },
    });
  }

  it('a callback finalised it before the dispatcher recorded the submit: counted once (the dispatcher does not report it)', async () => {
    const m = msg();
    await store.insertMessages([{ message: m, events: [] }]);
    const d = wiredDispatcher(async () => {
      // The delivery report overtakes the 201: the webhook path applies it and reports it.
      const now = clock.now();
      const event: NewEvent = { messageId: m.id, type: 'status', status: 'delivered', at: now, detail: { applied: true, from: 'sending' } };
      const rec = await store.transition({ id: m.id, from: ['sending'], patch: { status: 'delivered', completedAt: now, providerMessageId: 'SM1', submitState: 'accepted' }, now, event });
      metrics.statusCallback(rec!, event);
      clock.advance(50);
      return { providerMessageId: 'SM1', providerStatus: 'queued', status: 'sending' };
    });
    await d.runOnce();
    expect((await store.getMessage(m.id))!).toMatchObject({ status: 'delivered', submitState: 'accepted' });
    const s = await scrape();
    expect(sumOf(s, 'switchboard_messages_sent_total')).toBe(1);
    expect(sumOf(s, 'switchboard_messages_completed_total')).toBe(1);
    expect(sumOf(s, 'switchboard_messages_completed_total', { status: 'delivered' })).toBe(1);
  });

  it('a final status the dispatcher wrote is reported by it alone', async () => {
    const m = msg();
    await store.insertMessages([{ message: m, events: [] }]);
    const d = wiredDispatcher(async () => {
      throw new ProviderError('permanent', '21211', 'invalid To', { httpStatus: 400 });
    });
    await d.runOnce();
    const s = await scrape();
    expect(sumOf(s, 'switchboard_messages_completed_total', { status: 'failed', error_code: '21211' })).toBe(1);
    expect(sumOf(s, 'switchboard_messages_completed_total')).toBe(1);
  });
});
