/**
 * The plugin mounted at /sandbox inside a host Fastify app (as Switchboard mounts it), over real HTTP:
 * Twilio API under the prefix, the control API through the typed control client, HTTP faults.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { request } from 'undici';
import twilio from 'twilio';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../config/schema.ts';
import { createSandbox, type SandboxEngine } from './engine.ts';
import { sandboxPlugin } from './plugin.ts';
import { createControlClient, SandboxControlError, type SandboxControlClient } from './control-client.ts';
import { raw, sdkClient, startReceiver, until, validateResponse, type Receiver } from './conformance-support.ts';
import { startSandboxServer } from './server.ts';

const AC = SANDBOX_ACCOUNT_SID;
let app: FastifyInstance;
let engine: SandboxEngine;
let base: string;
let rx: Receiver;
let ctl: SandboxControlClient;
let client: twilio.Twilio;
const create = (form: Record<string, string>) => raw(`${base}/2010-04-01/Accounts/${AC}/Messages.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN, form });

beforeAll(async () => {
  rx = await startReceiver();
  engine = createSandbox({ seed: 3, latency: { sendingMs: 5, sentMs: 10, deliveredMs: 20 } });
  app = Fastify();
  // The host app has its own form parser at the root (Switchboard's webhooks do); the plugin must still work.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, { hostParsed: body }));
  app.post('/host/form', async (req) => req.body);
  await app.register(sandboxPlugin, { prefix: '/sandbox', engine });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/sandbox`;
  ctl = createControlClient({ baseUrl: base });
  client = sdkClient(base, AC, SANDBOX_AUTH_TOKEN);
});
afterAll(async () => {
  await engine?.close();
  await app?.close();
  await rx?.close();
});

describe('mounted under a prefix', () => {
  it('serves the Twilio API and Messaging v1 under /sandbox, with absolute v1 URLs that include the prefix', async () => {
    const m = await client.messages.create({ to: '+14155550301', from: '+15005550006', body: 'prefixed' });
    expect((await client.messages(m.sid).fetch()).body).toBe('prefixed');
    const svc = await client.messaging.v1.services.create({ friendlyName: 'p' });
    expect(svc.url).toBe(`${base}/v1/Services/${svc.sid}`);
    const list = await raw(`${base}/v1/Services?PageSize=1`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    expect((list.json as { meta: { url: string } }).meta.url).toBe(`${base}/v1/Services?PageSize=1&Page=0`);
    // the host's own form route is untouched
    const host = await request(`${base.replace('/sandbox', '')}/host/form`, { method: 'POST', body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(await host.body.json()).toEqual({ hostParsed: 'a=1' });
  });

  it('unknown resources are 404 20404, wrong methods 405, missing auth 401 with WWW-Authenticate', async () => {
    const nf = await raw(`${base}/2010-04-01/Accounts/${AC}/Calls.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN });
    expect(nf.status).toBe(404);
    expect(nf.json).toMatchObject({ code: 20404, status: 404 });
    const na = await raw(`${base}/2010-04-01/Accounts/${AC}/Messages.json`, { method: 'DELETE', user: AC, pass: SANDBOX_AUTH_TOKEN });
    expect(na.status).toBe(405);
    const noAuth = await raw(`${base}/2010-04-01/Accounts/${AC}/Messages.json`);
    expect(noAuth.status).toBe(401);
    expect(noAuth.headers['www-authenticate']).toBe('Basic realm="Twilio API"');
    expect(validateResponse('api', '/2010-04-01/Accounts/{AccountSid}/Messages.json', 'get', 200, { messages: [] })).toEqual([]);
  });
});

describe('control API and client', () => {
  it('info lists accounts and numbers; setNumber points a number at a webhook; reply delivers it signed', async () => {
    const info = await ctl.info();
    expect(info.accounts.map((a) => a.sid)).toContain(AC);
    expect(info.numbers.map((n) => n.phoneNumber)).toEqual(expect.arrayContaining(['+15005550006', '+18005550100', '55501']));
    const url = `${rx.url}/inbound/ctl`;
    rx.respond('/inbound/ctl', { type: 'text/xml', body: '<Response><Message><Body>got it</Body><Media>https://example.com/r.png</Media></Message></Response>' });
    const n = await ctl.setNumber({ phoneNumber: '+18005550100', smsUrl: url });
    expect(n.smsUrl).toBe(url);
    const r = await ctl.reply({ from: '+14155550310', to: '+18005550100', body: 'hi from the phone' });
    expect(r.webhook).toMatchObject({ url, status: 200 });
    expect(r.message).toMatchObject({ direction: 'inbound', status: 'received', from: '+14155550310', to: '+18005550100' });
    expect(r.replies.map((x) => [x.body, x.num_media])).toEqual([['got it', '1']]);
    const h = rx.hooks.filter((x) => x.path === '/inbound/ctl').at(-1)!;
    expect(twilio.validateRequest(SANDBOX_AUTH_TOKEN, h.headers['x-twilio-signature'] as string, url, h.params)).toBe(true);
    await until(async () => (await ctl.inbox('+14155550310')).length === 2, 'reply delivered to the handset');
    expect((await ctl.inbox('+14155550310')).map((e) => [e.direction, e.body, e.mediaUrls])).toEqual([
      ['sent', 'hi from the phone', []],
      ['received', 'got it', ['https://example.com/r.png']],
    ]);
    expect((await ctl.phones()).map((p) => p.number)).toContain('+14155550310');
    const cbs = await ctl.callbacks();
    expect(cbs.some((c) => c.kind === 'inbound' && c.url === url && c.state === 'delivered')).toBe(true);
  });

  it('bad control input → 4xx with a code and the field; replying to an unknown number → 404', async () => {
    await expect(ctl.reply({ from: '+14155550311', to: '', body: 'x' })).rejects.toMatchObject({ status: 400, code: 'SANDBOX_INVALID' });
    await expect(ctl.reply({ from: '+14155550311', to: '+19995550000', body: 'x' })).rejects.toMatchObject({ status: 404, code: 'SANDBOX_NOT_FOUND' });
    await expect(ctl.addFault({ kind: 'status', status: 700, code: 1 })).rejects.toBeInstanceOf(SandboxControlError);
    await expect(ctl.addFault({ kind: 'nope' } as never)).rejects.toMatchObject({ status: 400 });
    const bad = await request(`${base}/_sandbox/numbers`, { method: 'POST', body: JSON.stringify({ phoneNumber: '+14155550312', type: 'pager' }), headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(await bad.body.json()).toMatchObject({ error: { code: 'SANDBOX_INVALID', field: 'type' } });
  });

  it('status fault: answered with the status, Twilio error JSON and Retry-After; no message created; recorded', async () => {
    const id = await ctl.addFault({ kind: 'status', status: 429, code: 20429, retryAfterS: 5, count: 1 });
    expect((await ctl.faults()).map((f) => f.id)).toEqual([id]);
    const before = engine.messagesBySid.size;
    const r = await create({ To: '+14155550320', From: '+15005550006', Body: 'faulted' });
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('5');
    expect(r.json).toEqual({ code: 20429, message: 'Too Many Requests', more_info: 'https://www.twilio.com/docs/errors/20429', status: 429 });
    expect(engine.messagesBySid.size).toBe(before);
    expect(await ctl.faults()).toEqual([]);
    const subs = await ctl.submissions();
    expect(subs.at(-1)).toMatchObject({ params: { Body: 'faulted', To: '+14155550320' }, response: { status: 429, code: 20429, fault: 'status' } });
    expect((await create({ To: '+14155550320', From: '+15005550006', Body: 'ok now' })).status).toBe(201);
  });

  it('slow fault: the message exists before the delayed 201 arrives', async () => {
    await ctl.addFault({ kind: 'slow', delayMs: 60_000, count: 1 });
    let settled = false;
    const pending = create({ To: '+14155550321', From: '+15005550006', Body: 'slow one' }).finally(() => (settled = true));
    const sid = await until(() => [...engine.messagesBySid.values()].find((m) => m.body === 'slow one')?.sid, 'message created');
    expect(settled).toBe(false);
    expect((await client.messages(sid).fetch()).body).toBe('slow one');
    await ctl.clearFaults();
    expect(await ctl.faults()).toEqual([]);
    void pending.catch(() => undefined);
  });

  it('timeout fault: never answered (client gives up); the message is created unless create=false', async () => {
    await ctl.addFault({ kind: 'timeout', count: 1 });
    const t = request(`${base}/2010-04-01/Accounts/${AC}/Messages.json`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${AC}:${SANDBOX_AUTH_TOKEN}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'To=%2B14155550322&From=%2B15005550006&Body=held',
      headersTimeout: 300,
    });
    await expect(t).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
    expect([...engine.messagesBySid.values()].filter((m) => m.body === 'held')).toHaveLength(1);
    await ctl.addFault({ kind: 'timeout', count: 1, create: false });
    const t2 = request(`${base}/2010-04-01/Accounts/${AC}/Messages.json`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${AC}:${SANDBOX_AUTH_TOKEN}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'To=%2B14155550322&From=%2B15005550006&Body=never',
      headersTimeout: 300,
    });
    await expect(t2).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
    expect([...engine.messagesBySid.values()].filter((m) => m.body === 'never')).toHaveLength(0);
    expect((await ctl.submissions()).filter((s) => s.params.Body === 'never')).toHaveLength(1);
  });

  it('faults by kind: clear one kind, remove one by id', async () => {
    const a = await ctl.addFault({ kind: 'callback', action: 'drop' });
    await ctl.addFault({ kind: 'sender_down', from: '+15005550006' });
    await ctl.clearFaults('sender_down');
    expect((await ctl.faults()).map((f) => f.id)).toEqual([a]);
    await ctl.removeFault(a);
    expect(await ctl.faults()).toEqual([]);
    await expect(ctl.removeFault(a)).rejects.toMatchObject({ status: 404 });
  });
});

describe('host app shutdown', () => {
  it('closing the host app closes the sandbox, even with a request held open by a timeout fault', async () => {
    const e = createSandbox({});
    const host = Fastify();
    await host.register(sandboxPlugin, { prefix: '/sandbox', engine: e });
    await host.listen({ host: '127.0.0.1', port: 0 });
    const addr = host.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/sandbox`;
    e.faults.add({ kind: 'timeout' });
    const held = raw(`${url}/2010-04-01/Accounts/${AC}/Messages.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN, form: { To: '+14155550340', From: '+15005550006', Body: 'held' } });
    await until(() => e.submissions().length === 1, 'request arrived');
    await host.close();
    await expect(held).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(e.nextDueAt()).toBeNull(); // the engine's queue was stopped by the close
  });
});

describe('standalone server', () => {
  it('a control token protects the control API; close() answers held slow requests and returns', async () => {
    const s = await startSandboxServer({ host: '127.0.0.1', port: 0, controlToken: 'sekret' });
    try {
      await expect(createControlClient({ baseUrl: s.url }).info()).rejects.toMatchObject({ status: 401 });
      const c = createControlClient({ baseUrl: s.url, token: 'sekret' });
      expect((await c.info()).name).toBe('switchboard-sandbox');
      await c.addFault({ kind: 'slow', delayMs: 600_000 });
      const held = raw(`${s.url}/2010-04-01/Accounts/${AC}/Messages.json`, { user: AC, pass: SANDBOX_AUTH_TOKEN, form: { To: '+14155550330', From: '+15005550006', Body: 'x' } });
      await until(() => s.sandbox.submissions().length === 1, 'request arrived');
      await s.close();
      await expect(held).resolves.toMatchObject({ status: 201 });
    } finally {
      await s.close();
    }
  });
});
