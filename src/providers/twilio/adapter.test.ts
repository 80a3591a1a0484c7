/**
 * The Twilio adapter against the real sandbox over HTTP (no mocks): success, every error class, timeout →
 * ambiguous, lookup by sid and by content, check().
 */
import { createServer } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, type TwilioAccountConfig } from '../../config/schema.ts';
import { ProviderError } from '../provider.ts';
import { createTwilioAdapter, parseRetryAfter } from './adapter.ts';
import { startTestSandbox, type SandboxHandle } from '../../../test/dispatch/support.ts';

const FROM = '+15005550006';
let sb: SandboxHandle;

function account(over: Partial<TwilioAccountConfig> = {}): TwilioAccountConfig {
  return {
    name: 'sandbox',
    provider: 'twilio',
    baseUrl: sb.url,
    accountSid: SANDBOX_ACCOUNT_SID,
    authToken: SANDBOX_AUTH_TOKEN,
    apiKeySid: null,
    apiKeySecret: null,
    senders: [],
    ...over,
  };
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a ProviderError, the call succeeded');
}

let n = 0;
const uniqueBody = (tag: string) => `adapter test ${tag} ${++n} ${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  sb = await startTestSandbox();
});
afterAll(async () => {
  await sb?.close();
});

describe('send', () => {
  it('creates the message with the Twilio form fields and returns its sid', async () => {
    const adapter = createTwilioAdapter(account(), { publicUrl: 'http://127.0.0.1:9/base/', timeoutMs: 5_000 });
    const body = uniqueBody('ok');
    const r = await adapter.send({ id: 'msg_abc', to: '+14155550100', from: FROM, body, validitySeconds: 300 });
    expect(r.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    expect(['queued', 'accepted']).toContain(r.providerStatus);
    expect(r.status).toBe('sending');
    expect(sb.submissionsFor(body)).toBe(1);
    const sub = sb.submissions().find((s) => s.body === body)!;
    expect(sub.to).toBe('+14155550100');
    const found = await adapter.lookup({ providerMessageId: r.providerMessageId, to: '+14155550100', from: FROM, body, since: 0 });
    expect(found?.providerMessageId).toBe(r.providerMessageId);
  });

  it('authenticates with an API key when one is set, and fails permanently with bad credentials', async () => {
    const bad = createTwilioAdapter(account({ authToken: 'wrong' }), { publicUrl: 'http://127.0.0.1:9', timeoutMs: 5_000 });
    const e = await failure(bad.send({ id: 'msg_auth', to: '+14155550100', from: FROM, body: uniqueBody('auth') }));
    expect(e.kind).toBe('permanent');
    expect(e.code).toBe('20003');
    expect(e.httpStatus).toBe(401);
  });

  it.each([
    ['+15005550001', '21211'],
    ['+15005550004', '21610'],
    ['+15005550009', '21614'],
  ])('magic To %s → permanent with Twilio code %s kept', async (to, code) => {
    const adapter = createTwilioAdapter(account(), { publicUrl: 'http://127.0.0.1:9', timeoutMs: 5_000 });
    const e = await failure(adapter.send({ id: 'msg_perm', to, from: FROM, body: uniqueBody('perm') }));
    expect(e.kind).toBe('permanent');
    expect(e.code).toBe(code);
    expect(e.httpStatus).toBe(400);
  });

  it('a 500 is transient', async () => {
    const adapter = createTwilioAdapter(account(), { publicUrl: 'http://127.0.0.1:9', timeoutMs: 5_000 });
    sb.fault({ kind: 'status', status: 500, code: 20500, count: 1 });
    const e = await failure(adapter.send({ id: 'msg_5xx', to: '+14155550100', from: FROM, body: uniqueBody('5xx') }));
    expect(e.kind).toBe('transient');
    expect(e.httpStatus).toBe(500);
  });

  it('a 429 is rate_limited and honours Retry-After', async () => {
    const adapter = createTwilioAdapter(account(), { publicUrl: 'http://127.0.0.1:9', timeoutMs: 5_000 });
    sb.fault({ kind: 'status', status: 429, code: 20429, retryAfterS: 3, count: 1 });
    const e = await failure(adapter.send({ id: 'msg_429', to: '+14155550100', from: FROM, body: uniqueBody('429') }));
    expect(e.kind).toBe('rate_limited');
    expect(e.code).toBe('20429');
    expect(e.retryAfterMs).toBe(3_000);
  });

  it('connection refused (request never left) is transient', async () => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as { port: number }).port;
    srv.close();
    await once(srv, 'close');
    const adapter = createTwilioAdapter(account({ baseUrl: `http://127.0.0.1:${port}` }), { publicUrl: 'http://127.0.0.1:9', timeoutMs: 2_000 });
    const e = await failure(adapter.send({ id: 'msg_refused', to: '+14155550100', from: FROM, body: uniqueBody('refused') }));
    expect(e.kind).toBe('transient');
  });

  it('a response timeout after the request left is ambiguous, and the message exists at the provider', async () => {
    const adapter = createTwilioAdapter(account(), { publicUrl: 'http://127.0.0.1:9', timeoutMs: 300 });
    sb.fault({ kind: 'slow', delayMs: 2_000, count: 1 });
    const body = uniqueBody('slow');
    const since = Date.now();
    const e = await failure(adapter.send({ id: 'msg_slow', to: '+14155550101', from: FROM, body }));
    expect(e.kind).toBe('ambiguous');
    expect(sb.submissionsFor(body)).toBe(1);
    const found = await adapter.lookup({ to: '+14155550101', from: FROM, body, since });
    expect(found).not.toBeNull();
    expect(found!.providerMessageId).toMatch(/^SM/);
  });
});

describe('lookup', () => {
  it('by sid: found, and 404 → null', async () => {
    const adapter = createTwilioAdapter(account(), { publicUrl: 'http://127.0.0.1:9', timeoutMs: 5_000 });
    const body = uniqueBody('sid');
    const r = await adapter.send({ id: 'msg_sid', to: '+14155550102', from: FROM, body });
    const found = await adapter.lookup({ providerMessageId: r.providerMessageId, to: '+14155550102', from: FROM, body, since: 0 });
    expect(found).toMatchObject({ providerMessageId: r.providerMessageId });
    const missing = await adapter.lookup({ providerMessageId: 'SM' + '0'.repeat(32), to: '+14155550102', from: FROM, body, since: 0 });
    expect(missing).toBeNull();
  });

  it('by content: matches To/From/Body created at or after `since − 2 s`, else null', async () => {
    const adapter = createTwilioAdapter(account(), { publicUrl: 'http://127.0.0.1:9', timeoutMs: 5_000 });
    const body = uniqueBody('match');
    const since = Date.now();
    const r = await adapter.send({ id: 'msg_match', to: '+14155550103', from: FROM, body });
    expect(await adapter.lookup({ to: '+14155550103', from: FROM, body, since })).toMatchObject({ providerMessageId: r.providerMessageId });
    // Same body to another number, another body, or created well before `since`: not ours.
    expect(await adapter.lookup({ to: '+14155550104', from: FROM, body, since })).toBeNull();
    expect(await adapter.lookup({ to: '+14155550103', from: FROM, body: body + ' other', since })).toBeNull();
    expect(await adapter.lookup({ to: '+14155550103', from: FROM, body, since: Date.now() + 60_000 })).toBeNull();
  });
});

describe('check', () => {
  it('ok with valid credentials, not ok with bad ones or an unreachable base URL', async () => {
    expect((await createTwilioAdapter(account(), { publicUrl: 'http://x', timeoutMs: 5_000 }).check()).ok).toBe(true);
    expect((await createTwilioAdapter(account({ authToken: 'nope' }), { publicUrl: 'http://x', timeoutMs: 5_000 }).check()).ok).toBe(false);
    expect((await createTwilioAdapter(account({ baseUrl: 'http://127.0.0.1:1' }), { publicUrl: 'http://x', timeoutMs: 1_000 }).check()).ok).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  it.each([
    [undefined, null],
    ['', null],
    ['3', 3_000],
    ['1.5', 1_500],
    ['garbage', null],
    [new Date(Date.UTC(2026, 0, 1, 0, 0, 10)).toUTCString(), 10_000],
  ])('%s → %s', (header, expected) => {
    expect(parseRetryAfter(header, Date.UTC(2026, 0, 1))).toBe(expected);
  });
});
