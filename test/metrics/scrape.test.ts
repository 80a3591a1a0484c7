/**
 * /metrics after a real run: buildApp on 127.0.0.1:0 with the in-process sandbox → messages sent through the API
 * (delivered, undelivered 30003, failed 30005) → dispatcher and signed callbacks → scrape and compare the counters
 * with what was sent and with the store. Also a forged webhook → signature failure counter; and event deliveries to
 * two subscribed apps (one answers 500) → switchboard_event_deliveries_total matches the store's delivery log.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { parseExposition, sumOf, type Sample } from '../../src/metrics/exposition.ts';
import { SANDBOX_NUMBERS } from '../../src/sandbox/magic.ts';
import { startTestApp, tempDir, waitFor } from '../e2e/support.ts';

let built: App;
let url: string;
let token: string;
let hooks: Server;
let hooksUrl: string;
const tmp = tempDir('sb-metrics-');

beforeAll(async () => {
  hooks = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = req.url === '/fail' ? 500 : 204;
      res.end();
    });
  });
  hooks.listen(0, '127.0.0.1');
  await once(hooks, 'listening');
  hooksUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
  ({ built, url } = await startTestApp(tmp.dir, {
    sandbox: { latency: { sendingMs: 5, sentMs: 20, deliveredMs: 40 } },
    // The apps' webhook receiver below listens on 127.0.0.1.
    events: { allowLoopbackUrls: true },
  }));
  token = built.devKey!.token;
});

afterAll(async () => {
  await built?.close();
  hooks?.close();
  tmp.cleanup();
});

async function send(to: string, category = 'transactional'): Promise<string> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ to, from: '55501', body: `metrics test to ${to}`, category }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

describe('/metrics after a run', () => {
  it('counters match what was sent', async () => {
    const plan = [
      { to: '+14155550101', category: 'transactional', final: 'delivered' },
      { to: '+14155550102', category: 'otp', final: 'delivered' },
      { to: '+14155550103', category: 'promotional', final: 'delivered' },
      { to: SANDBOX_NUMBERS.undelivered, category: 'transactional', final: 'undelivered' },
      { to: SANDBOX_NUMBERS.failed, category: 'transactional', final: 'failed' },
    ];
    const ids: string[] = [];
    for (const p of plan) ids.push(await send(p.to, p.category));
    const finals = await waitFor('every message final', async () => {
      const ms = await Promise.all(ids.map((id) => built.store.getMessage(id)));
      return ms.every((m) => m && ['delivered', 'undelivered', 'failed'].includes(m.status)) ? ms : undefined;
    });
    expect(finals.map((m) => m!.status)).toEqual(plan.map((p) => p.final));

    // The completion counter is bumped right after the store write that made the message final: poll the scrape.
    const s = await waitFor('completed counters', async () => {
      const x = await scrape();
      return sumOf(x, 'switchboard_messages_completed_total') === plan.length ? x : undefined;
    });
    const labels = { provider: 'twilio', account: 'sandbox', sender: '55501' };
    expect(sumOf(s, 'switchboard_messages_accepted_total', labels)).toBe(5);
    expect(sumOf(s, 'switchboard_messages_accepted_total', { ...labels, category: 'otp' })).toBe(1);
    expect(sumOf(s, 'switchboard_messages_accepted_total', { ...labels, category: 'promotional' })).toBe(1);
    expect(sumOf(s, 'switchboard_messages_sent_total', labels)).toBe(5);
    expect(sumOf(s, 'switchboard_messages_completed_total', { ...labels, status: 'delivered' })).toBe(3);
    const undelivered = finals.find((m) => m!.status === 'undelivered')!;
    const failed = finals.find((m) => m!.status === 'failed')!;
    expect(sumOf(s, 'switchboard_messages_completed_total', { ...labels, status: 'undelivered', error_code: undelivered.errorCode! })).toBe(1);
    expect(sumOf(s, 'switchboard_messages_completed_total', { ...labels, status: 'failed', error_code: failed.errorCode! })).toBe(1);
    expect(undelivered.errorCode).toBe('30003');
    expect(sumOf(s, 'switchboard_dispatch_latency_seconds_count', labels)).toBe(5);
    expect(sumOf(s, 'switchboard_delivery_latency_seconds_count', labels)).toBe(5);
    // Every status callback that reached a message is counted (applied or not).
    const statusEvents = (await Promise.all(ids.map((id) => built.store.listEvents(id)))).flat().filter((e) => e.type === 'status').length;
    expect(sumOf(s, 'switchboard_callbacks_total', { kind: 'status' })).toBe(statusEvents);
    // Nothing left in the queue; gauges read the store.
    expect(sumOf(s, 'switchboard_queue_depth')).toBe(0);
    expect(sumOf(s, 'switchboard_messages', { status: 'delivered' })).toBe(3);
    expect(sumOf(s, 'switchboard_webhook_signature_failures_total')).toBe(0);
  });

  it('a forged status callback counts as a signature failure', async () => {
    const res = await fetch(`${url}/webhooks/twilio/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'Zm9yZ2Vk' },
      body: new URLSearchParams({ AccountSid: built.config.sandbox.accountSid, MessageSid: 'SM0', MessageStatus: 'delivered' }).toString(),
    });
    expect(res.status).toBe(403);
    const s = await scrape();
    expect(sumOf(s, 'switchboard_webhook_signature_failures_total', { provider: 'twilio', kind: 'status' })).toBe(1);
    expect(sumOf(s, 'switchboard_webhook_rejected_total', { code: 'SB_WEBHOOK_SIGNATURE' })).toBe(1);
  });

  it('event deliveries to apps are counted by outcome and subscription, as the delivery log records them', async () => {
    const subscribe = async (path: string) => {
      const res = await fetch(`${url}/v1/subscriptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: `${hooksUrl}${path}`, events: ['message.status'] }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const ok = await subscribe('/ok');
    const failing = await subscribe('/fail');
    const id = await send('+14155550104');
    await waitFor('delivered', async () => ((await built.store.getMessage(id))?.status === 'delivered' ? true : undefined));
    const log = async (sub: string) => (await built.store.listDeliveries(sub, { limit: 1000 })).items;
    // Each message.status event is attempted once per subscription (the failing one retries only after ≥ 24 s).
    const s = await waitFor('metrics match the delivery log', async () => {
      const [okLog, failLog, x] = [await log(ok), await log(failing), await scrape()];
      const settled =
        okLog.length >= 1 &&
        okLog.length === failLog.length &&
        sumOf(x, 'switchboard_event_deliveries_total', { subscription: ok }) === okLog.length &&
        sumOf(x, 'switchboard_event_deliveries_total', { subscription: failing }) === failLog.length;
      return settled ? { x, okLog, failLog } : undefined;
    });
    expect(s.okLog.every((d) => d.outcome === 'delivered' && d.httpStatus === 204)).toBe(true);
    expect(s.failLog.every((d) => d.outcome === 'retry' && d.httpStatus === 500)).toBe(true);
    expect(sumOf(s.x, 'switchboard_event_deliveries_total', { subscription: ok, outcome: 'delivered', type: 'message.status' })).toBe(s.okLog.length);
    expect(sumOf(s.x, 'switchboard_event_deliveries_total', { subscription: failing, outcome: 'retry', type: 'message.status' })).toBe(s.failLog.length);
    expect(sumOf(s.x, 'switchboard_event_deliveries_total', { subscription: failing, outcome: 'delivered' })).toBe(0);
  });
});
