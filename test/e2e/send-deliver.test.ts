/**
 * End to end over real sockets: buildApp on 127.0.0.1:0 with the sandbox mounted in-process → POST a message →
 * dispatcher submits it to the sandbox with the real Twilio adapter → the sandbox sends signed status callbacks to
 * our webhook → GET shows `delivered` with the whole timeline. Then an inbound reply through the CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { main } from '../../src/cli/main.ts';
import { captureIo, startTestApp, tempDir, waitFor } from './support.ts';

let built: App;
let url: string;
let token: string;
const tmp = tempDir();

beforeAll(async () => {
  ({ built, url } = await startTestApp(tmp.dir, {
    sandbox: { latency: { sendingMs: 5, sentMs: 20, deliveredMs: 40 } },
    // The longest idle sleep: delivery within the test's deadline shows that an accepted message wakes the dispatcher.
    dispatch: { idlePollMs: 60_000 },
  }));
  expect(built.devKey, 'first start creates a dev key').not.toBeNull();
  token = built.devKey!.token;
});

afterAll(async () => {
  await built?.close();
  tmp.cleanup();
});

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

describe('send → queue → sandbox → callbacks → delivered', () => {
  it('binds the real port into publicUrl and the sandbox account', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url).not.toMatch(/:0$/);
    expect(built.config.publicUrl).toBe(url);
    expect(built.config.accounts.find((a) => a.name === 'sandbox')?.baseUrl).toBe(`${url}/sandbox`);
  });

  it('delivers a message and records every step', async () => {
    const sent = await api('POST', '/v1/messages', { to: '+14155550100', body: 'Hello from the e2e test' });
    expect(sent.status).toBe(202);
    const id = sent.json.id as string;

    const final = await waitFor(`message ${id} delivered`, async () => {
      const r = await api('GET', `/v1/messages/${id}`);
      return r.json.status === 'delivered' && r.json.events.some((e: { status?: string }) => e.status === 'delivered') ? r.json : undefined;
    });

    expect(final.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    expect(final.completedAt).not.toBeNull();
    const steps = final.events.map((e: { type: string; status?: string }) => (e.type === 'status' ? `status:${e.status}` : e.type));
    const expected = ['accepted', 'submit_started', 'submitted', 'status:sent', 'status:delivered'];
    // In this order (other events, e.g. status:sending, may sit between them).
    let at = -1;
    for (const step of expected) {
      const i = steps.indexOf(step, at + 1);
      expect(i, `${step} after index ${at} in ${steps.join(', ')}`).toBeGreaterThan(at);
      at = i;
    }
    const submitted = final.events.find((e: { type: string }) => e.type === 'submitted');
    expect(submitted.detail.providerMessageId).toBe(final.providerMessageId);
    for (const e of final.events) expect(e.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it.each([
    ['+15005550001', 'failed', '21211'],
    ['+15005550010', 'undelivered', '30003'],
  ])('the sandbox magic number %s ends %s with the provider code %s kept', async (to, status, code) => {
    const sent = await api('POST', '/v1/messages', { to, body: 'magic' });
    expect(sent.status).toBe(202);
    const final = await waitFor(`message to ${to} ${status}`, async () => {
      const r = await api('GET', `/v1/messages/${sent.json.id}`);
      return r.json.status === status ? r.json : undefined;
    });
    expect(final.errorCode).toBe(code);
  });

  it('the listing shows it, and /readyz is ready', async () => {
    const list = await api('GET', '/v1/messages?status=delivered&limit=5');
    expect(list.status).toBe(200);
    expect(list.json.items.length).toBeGreaterThan(0);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('GET /metrics counts what happened (Prometheus text)', async () => {
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const value = (name: string) => [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    expect(value('switchboard_messages_accepted_total')).toBeGreaterThanOrEqual(3);
    expect(value('switchboard_messages_sent_total')).toBeGreaterThanOrEqual(2);
  });

  it('/openapi.json documents our routes (webhooks included), not the sandbox', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    const paths = Object.keys(doc.paths);
    expect(paths).toEqual(expect.arrayContaining(['/v1/messages', '/v1/messages/batch', '/v1/messages/{id}', '/v1/messages/{id}/cancel', '/healthz', '/readyz']));
    expect(paths.filter((p) => p.startsWith('/sandbox'))).toEqual([]);
  });

  it('`switchboard sandbox reply` delivers an inbound message to our webhook', async () => {
    const io = captureIo();
    const code = await main(['sandbox', 'reply', '--from', '+14155550142', '--to', '+15005550006', '--body', 'Thanks!', '--url', `${url}/sandbox`], io);
    expect(io.stderr).toEqual([]);
    expect(code).toBe(0);
    expect(io.stdout.join('\n')).toMatch(/Webhook .*\/webhooks\/twilio\/inbound → 200/);
    const inbound = await built.store.listInbound({ from: '+14155550142', limit: 5 });
    expect(inbound.items.map((m) => m.body)).toEqual(['Thanks!']);
    const unknown = captureIo();
    expect(await main(['sandbox', 'reply', '--from', '+14155550142', '--to', '+19995550000', '--body', 'x', '--url', `${url}/sandbox`], unknown)).toBe(1);
    expect(unknown.stderr.join('\n')).toMatch(/Sandbox refused the reply: HTTP 404/);
  });

  it('`switchboard send` talks HTTP to the running server', async () => {
    const io = captureIo({ SWITCHBOARD_API_KEY: token });
    const code = await main(['send', '--to', '+14155550100', '--body', 'via the CLI', '--url', url], io);
    expect(io.stderr).toEqual([]);
    expect(code).toBe(0);
    const m = JSON.parse(io.stdout.join('\n'));
    expect(m).toMatchObject({ status: 'queued', body: 'via the CLI' });
    const bad = captureIo({});
    expect(await main(['send', '--to', '+14155550100', '--body', 'x', '--url', url, '--key', 'sb_live_wrong'], bad)).toBe(1);
    expect(bad.stderr.join('\n')).toContain('SB_AUTH_INVALID');
  });

  it('`switchboard doctor` passes against the running server', async () => {
    const port = new URL(url).port;
    const io = captureIo({ SWITCHBOARD_PORT: port, SWITCHBOARD_DATABASE_URL: `sqlite:${tmp.dir}/switchboard.db` }, tmp.dir);
    const code = await main(['doctor'], io);
    const out = io.stdout.join('\n');
    expect(out).toMatch(/^ok\s+account sandbox: /m);
    expect(out).toMatch(/^ok\s+publicUrl reachable: /m);
    expect(code, out).toBe(0);
  });
});
