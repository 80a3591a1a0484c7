/**
 * Issue 4 "done when", events to apps, over real sockets: a non-keyword reply from a sandbox handset is delivered
 * to the subscribed app's URL (the app that last wrote to the handset from that number), signed — verified with
 * the snippet printed in docs/guides/compliance.md — and retried after the app answers 500. Time is a
 * ManualClock: the retry becomes due by advancing it, never by waiting.
 */
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { startTestApp, tempDir, waitFor } from './support.ts';

const HANDSET = '+14155550188';
const LONG_CODE = '+15005550006';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

let built: App;
let url: string;
let token: string;
let clock: ManualClock;
let hook: Server;
let hookUrl: string;
const received: Received[] = [];
const answers: number[] = [500];
let verify: (secret: string, header: string | undefined, rawBody: string, toleranceSec?: number) => boolean;
const tmp = tempDir('sb-events-');

/** The verification snippet exactly as the guide prints it. */
async function loadDocsSnippet(): Promise<typeof verify> {
  const guide = readFileSync(new URL('../../docs/guides/compliance.md', import.meta.url), 'utf8');
  const at = guide.indexOf('### Verifying a delivery');
  const start = guide.indexOf('```js\n', at) + '```js\n'.length;
  const code = guide.slice(start, guide.indexOf('```', start));
  const file = join(tmp.dir, 'verify.mjs');
  writeFileSync(file, code);
  return ((await import(pathToFileURL(file).href)) as { verifySwitchboard: typeof verify }).verifySwitchboard;
}

beforeAll(async () => {
  verify = await loadDocsSnippet();
  hook = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = answers.shift() ?? 204;
      res.end();
    });
  });
  hook.listen(0, '127.0.0.1');
  await once(hook, 'listening');
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hooks/switchboard`;

  clock = new ManualClock(Date.now());
  ({ built, url } = await startTestApp(tmp.dir, { events: { allowLoopbackUrls: true, idlePollMs: 50 } }, { clock }));
  token = built.devKey!.token;
}, 60_000);

afterAll(async () => {
  await built?.close();
  hook?.close();
  tmp.cleanup();
});

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

describe('events to apps: message.received, signed, retried after a 500', () => {
  let subId = '';
  let secret = '';

  it('refuses link-local and malformed subscription URLs', async () => {
    const metadata = await api('POST', '/v1/subscriptions', { url: 'http://169.254.169.254/latest', events: ['message.received'] });
    expect(metadata.status).toBe(422);
    expect(metadata.json.error).toMatchObject({ code: 'SB_WEBHOOK_URL_REJECTED', field: 'url' });
    const creds = await api('POST', '/v1/subscriptions', { url: 'https://user:pw@example.com/h', events: ['message.received'] });
    expect(creds.json.error.code).toBe('SB_WEBHOOK_URL_REJECTED');
    const badType = await api('POST', '/v1/subscriptions', { url: hookUrl, events: ['message.nope'] });
    expect(badType.status).toBe(400);
  });

  it('subscribes; the secret is shown once', async () => {
    const r = await api('POST', '/v1/subscriptions', { url: hookUrl, events: ['message.received', 'contact.help'] });
    expect(r.status).toBe(201);
    expect(r.json.secret).toMatch(/^whsec_/);
    subId = r.json.id;
    secret = r.json.secret;
    const list = await api('GET', '/v1/subscriptions');
    expect(list.json.items.map((s: any) => s.id)).toEqual([subId]);
    expect(list.json.items[0].secret).toBeUndefined();
  });

  it('delivers the reply to the app that last wrote, signed; retries after 500 when due; replays on request', async () => {
    const sent = await api('POST', '/v1/messages', { to: HANDSET, from: LONG_CODE, body: 'Your order shipped' });
    expect(sent.status).toBe(202);
    clock.advance(1_000);
    await built.sandbox!.reply({ from: HANDSET, to: LONG_CODE, body: 'Is my order ready?' });

    await waitFor('first delivery attempt', async () => (received.length >= 1 ? true : undefined));
    const first = received[0]!;
    expect(verify(secret, first.headers['switchboard-signature'] as string, first.body)).toBe(true);
    expect(verify('whsec_wrong', first.headers['switchboard-signature'] as string, first.body)).toBe(false);
    const event = JSON.parse(first.body);
    expect(event).toMatchObject({ type: 'message.received', apiVersion: '2026-01', data: { from: HANDSET, to: LONG_CODE, body: 'Is my order ready?', ownerApp: 'dev' } });
    expect(first.headers['switchboard-event-id']).toBe(event.id);

    const log1 = await waitFor('the 500 in the delivery log', async () => {
      const r = await api('GET', `/v1/subscriptions/${subId}/deliveries`);
      return r.json.items.length === 1 ? r.json.items : undefined;
    });
    expect(log1[0]).toMatchObject({ attempt: 1, httpStatus: 500, outcome: 'retry', eventId: event.id });
    const row = (await built.store.getOutboxRow(log1[0].deliveryId))!;
    expect(row.status).toBe('pending');
    const delay = row.nextAttemptAt - clock.now();
    expect(delay).toBeGreaterThanOrEqual(24_000);
    expect(delay).toBeLessThanOrEqual(36_000);
    // Not due yet: a round delivers nothing.
    expect(await built.compliance.deliverer.runOnce()).toEqual([]);
    expect(received.length).toBe(1);

    clock.advance(delay);
    built.compliance.deliverer.wake();
    await waitFor('the retry', async () => (received.length >= 2 ? true : undefined));
    const second = received[1]!;
    expect(second.body).toBe(first.body);
    expect(second.headers['switchboard-event-id']).toBe(event.id);
    expect(verify(secret, second.headers['switchboard-signature'] as string, second.body)).toBe(true);
    const log2 = await waitFor('the delivered attempt', async () => {
      const r = await api('GET', `/v1/subscriptions/${subId}/deliveries`);
      return r.json.items.length === 2 ? r.json.items : undefined;
    });
    expect(log2.map((d: any) => [d.attempt, d.httpStatus, d.outcome])).toEqual([
      [2, 204, 'delivered'],
      [1, 500, 'retry'],
    ]);

    const replay = await api('POST', `/v1/deliveries/${log2[0].deliveryId}/replay`);
    expect(replay.status).toBe(202);
    await waitFor('the replay', async () => (received.length >= 3 ? true : undefined));
    expect(received[2]!.headers['switchboard-event-id']).toBe(event.id);
  });

  it('files the reply in the thread of the app that last wrote; a reply in the thread is sticky to the same sender', async () => {
    const event = JSON.parse(received[0]!.body);
    const convId = event.data.conversationId as string;
    expect(convId).toMatch(/^cv_/);
    const thread = await api('GET', `/v1/conversations/${convId}`);
    expect(thread.status).toBe(200);
    expect(thread.json).toMatchObject({ contact: HANDSET, from: LONG_CODE, ownerApp: 'dev', lastDirection: 'in' });
    expect(thread.json.messages.map((m: any) => [m.direction, m.body])).toEqual([
      ['in', 'Is my order ready?'],
      ['out', 'Your order shipped'],
    ]);
    const list = await api('GET', `/v1/conversations?contact=${encodeURIComponent(HANDSET)}`);
    expect(list.json.items.map((c: any) => c.id)).toEqual([convId]);

    const res = await fetch(`${url}/v1/conversations/${convId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'reply-1' },
      body: JSON.stringify({ body: 'Yes, it left this morning.' }),
    });
    expect(res.status).toBe(202);
    const sentReply = (await res.json()) as { id: string; to: string; from: string };
    expect(sentReply).toMatchObject({ to: HANDSET, from: LONG_CODE });
    const again = await fetch(`${url}/v1/conversations/${convId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'reply-1' },
      body: JSON.stringify({ body: 'Yes, it left this morning.' }),
    });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(sentReply.id);
    const missing = await api('GET', '/v1/conversations/cv_missing');
    expect(missing.status).toBe(404);
  });

  it('HELP emits contact.help to subscribers (and no message.received)', async () => {
    const before = received.length;
    await built.sandbox!.reply({ from: HANDSET, to: LONG_CODE, body: 'help' });
    await waitFor('contact.help', async () => (received.length > before ? true : undefined));
    const types = received.slice(before).map((r) => JSON.parse(r.body).type);
    expect(types).toEqual(['contact.help']);
  });
});
