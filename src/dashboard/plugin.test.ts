/**
 * Dashboard over inject(): auth (redirects, bad keys, scopes, CSRF, logout, revocation, forged cookies) and the pages
 * with real data in a real SQLite store and a real sandbox engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../api/keys.ts';
import type { Scope } from '../api/scopes.ts';
import { defaultConfig, type Config } from '../config/schema.ts';
import { ManualClock } from '../domain/clock.ts';
import type { MessageRecord, NewEvent } from '../domain/message.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { createSandbox, type SandboxEngine } from '../sandbox/engine.ts';
import { contractMessage } from '../store/contract/store-contract.ts';
import { createSqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { dashboardPlugin, decodeCursor, encodeCursor, parseUtcInput } from './plugin.ts';

const T0 = Date.UTC(2026, 0, 1, 12);
let dir: string;
let store: Store;
let clock: ManualClock;
let app: FastifyInstance;
let sandbox: SandboxEngine;
let tokens: { dash: string; admin: string; sender: string };

async function build(config: Config = defaultConfig()): Promise<FastifyInstance> {
  const a = Fastify();
  const metrics = createMetrics({ store, clock });
  await a.register(dashboardPlugin, { prefix: '/dashboard', store, config, clock, sandbox, metrics, sessionSecret: 'test-secret-0123456789' });
  await a.ready();
  return a;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-dash-'));
  store = createSqliteStore({ path: join(dir, 'd.db') });
  await store.migrate();
  clock = new ManualClock(T0);
  sandbox = createSandbox({ clock, seed: 1 });
  const mk = async (name: string, scopes: string[]) => (await createApiKey(store, { name, scopes: scopes as Scope[], now: T0 })).token;
  tokens = { dash: await mk('ops', ['dashboard']), admin: await mk('root', ['admin']), sender: await mk('billing-app', ['messages:send']) };
  app = await build();
});
afterEach(async () => {
  await app.close();
  await sandbox.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function cookiesOf(res: LightMyRequestResponse): Record<string, string> {
  const raw = res.headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const out: Record<string, string> = {};
  for (const c of list) {
    const [pair] = c.split(';');
    const eq = pair!.indexOf('=');
    out[pair!.slice(0, eq)] = decodeURIComponent(pair!.slice(eq + 1));
  }
  return out;
}

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function loginForm(): Promise<{ csrf: string; cookie: string }> {
  const res = await app.inject({ method: 'GET', url: '/dashboard/login' });
  expect(res.statusCode).toBe(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(res.body)![1]!;
  return { csrf, cookie: `sb_login=${cookiesOf(res).sb_login}` };
}

async function login(token: string, next = '/dashboard/overview'): Promise<LightMyRequestResponse> {
  const f = await loginForm();
  return app.inject({ method: 'POST', url: '/dashboard/login', headers: { ...FORM, cookie: f.cookie }, payload: form({ _csrf: f.csrf, key: token, next }) });
}

/** A logged-in session: its cookie header and CSRF token. */
async function session(token = tokens.dash): Promise<{ cookie: string; csrf: string }> {
  const res = await login(token);
  expect(res.statusCode).toBe(303);
  const cookie = `sb_session=${cookiesOf(res).sb_session}`;
  const page = await app.inject({ method: 'GET', url: '/dashboard/overview', headers: { cookie } });
  expect(page.statusCode).toBe(200);
  return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1]! };
}

async function seed(...ms: { m: Partial<MessageRecord>; events?: Omit<NewEvent, 'messageId'>[] }[]): Promise<MessageRecord[]> {
  const records = ms.map((x) => ({ ...contractMessage({ now: T0 - 60_000, account: 'sandbox', from: '+15005550006' }), ...x.m }));
  await store.insertMessages(
    records.map((message, i) => ({
      message,
      events: [{ messageId: message.id, type: 'accepted', status: 'queued', at: message.createdAt, detail: null }, ...(ms[i]!.events ?? []).map((e) => ({ ...e, messageId: message.id }))],
    })),
  );
  return records;
}

describe('dashboard auth', () => {
  it('no session: pages redirect to the login page with next; assets and login are public', async () => {
    for (const url of ['/dashboard/overview', '/dashboard/messages?to=%2B1415', '/dashboard/alerts', '/dashboard/phones', '/dashboard/']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(303);
      expect(res.headers.location).toBe(`/dashboard/login?next=${encodeURIComponent(url)}`);
    }
    expect((await app.inject({ method: 'GET', url: '/dashboard/assets/app.css' })).statusCode).toBe(200);
    const login = await app.inject({ method: 'GET', url: '/dashboard/login' });
    expect(login.statusCode).toBe(200);
    expect(login.headers['content-security-policy']).toContain("default-src 'none'");
    expect(String(login.headers['set-cookie'])).toMatch(/^sb_login=[^;]+; Path=\/dashboard; Max-Age=3600; HttpOnly; SameSite=Strict$/);
  });

  it('bad key → 401; key without the dashboard scope → 403; no session cookie set', async () => {
    const bad = await login('sb_live_' + 'x'.repeat(43));
    expect(bad.statusCode).toBe(401);
    expect(bad.body).toContain('Unknown or revoked API key.');
    expect(cookiesOf(bad).sb_session).toBeUndefined();
    const empty = await login('');
    expect(empty.statusCode).toBe(401);
    const scope = await login(tokens.sender);
    expect(scope.statusCode).toBe(403);
    expect(scope.body).toContain('lacks the dashboard scope');
    expect(cookiesOf(scope).sb_session).toBeUndefined();
  });

  it('login form without the matching CSRF cookie is refused', async () => {
    const f = await loginForm();
    const noCookie = await app.inject({ method: 'POST', url: '/dashboard/login', headers: FORM, payload: form({ _csrf: f.csrf, key: tokens.dash }) });
    expect(noCookie.statusCode).toBe(403);
    const wrong = await app.inject({ method: 'POST', url: '/dashboard/login', headers: { ...FORM, cookie: f.cookie }, payload: form({ _csrf: 'nope', key: tokens.dash }) });
    expect(wrong.statusCode).toBe(403);
    expect(cookiesOf(wrong).sb_session).toBeUndefined();
  });

  it('dashboard and admin keys log in: HttpOnly SameSite=Strict cookie, redirect to a safe next only', async () => {
    const res = await login(tokens.dash, '/dashboard/messages?status=failed');
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/dashboard/messages?status=failed');
    const set = (res.headers['set-cookie'] as string[]).find((c) => c.startsWith('sb_session='))!;
    expect(set).toMatch(/; Path=\/dashboard; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    expect((await login(tokens.admin, 'https://evil.example/')).headers.location).toBe('/dashboard/overview');
    expect((await login(tokens.admin, '//evil.example/dashboard/')).headers.location).toBe('/dashboard/overview');
  });

  it('Secure cookie when publicUrl is https', async () => {
    await app.close();
    const c = defaultConfig();
    c.publicUrl = 'https://sb.example.com';
    app = await build(c);
    const res = await login(tokens.dash);
    expect((res.headers['set-cookie'] as string[]).find((x) => x.startsWith('sb_session='))).toMatch(/; Secure$/);
  });

  it('POST without or with a wrong CSRF token → 403; logout with it clears the cookie', async () => {
    const s = await session();
    const none = await app.inject({ method: 'POST', url: '/dashboard/logout', headers: { ...FORM, cookie: s.cookie }, payload: '' });
    expect(none.statusCode).toBe(403);
    expect(none.body).toContain('CSRF');
    const wrong = await app.inject({ method: 'POST', url: '/dashboard/logout', headers: { ...FORM, cookie: s.cookie }, payload: form({ _csrf: s.csrf.slice(1) + 'A' }) });
    expect(wrong.statusCode).toBe(403);
    const out = await app.inject({ method: 'POST', url: '/dashboard/logout', headers: { ...FORM, cookie: s.cookie }, payload: form({ _csrf: s.csrf }) });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/dashboard/login');
    expect(cookiesOf(out).sb_session).toBe('');
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
  });

  it('a forged, expired or revoked-key session is no session', async () => {
    const s = await session();
    const forged = s.cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    expect((await app.inject({ method: 'GET', url: '/dashboard/overview', headers: { cookie: forged } })).statusCode).toBe(303);
    clock.advance(12 * 3_600_000);
    expect((await app.inject({ method: 'GET', url: '/dashboard/overview', headers: { cookie: s.cookie } })).statusCode).toBe(303);
    clock.set(T0);
    expect((await app.inject({ method: 'GET', url: '/dashboard/overview', headers: { cookie: s.cookie } })).statusCode).toBe(200);
    await store.revokeApiKey('ops', T0);
    expect((await app.inject({ method: 'GET', url: '/dashboard/overview', headers: { cookie: s.cookie } })).statusCode).toBe(303);
  });
});

describe('dashboard pages', () => {
  it('messages: lists newest first and filters by number, status, app, category, time and provider id', async () => {
    const keys = await store.listApiKeys();
    const appKey = keys.find((k) => k.name === 'billing-app')!.id;
    const [a, b, c] = await seed(
      { m: { to: '+14155550100', status: 'delivered', keyId: appKey, category: 'otp', providerMessageId: 'SM111', createdAt: T0 - 3_000 } },
      { m: { to: '+14155550199', status: 'failed', errorCode: '21211', createdAt: T0 - 2_000 } },
      { m: { to: '+14155550100', status: 'queued', createdAt: T0 - 1_000, category: 'promotional' } },
    );
    const s = await session();
    const ids = async (qs: string) => {
      const res = await app.inject({ method: 'GET', url: `/dashboard/messages${qs}`, headers: { cookie: s.cookie } });
      expect(res.statusCode, qs).toBe(200);
      return [...res.body.matchAll(/<tr data-id="([^"]+)"/g)].map((m) => m[1]);
    };
    expect(await ids('')).toEqual([c!.id, b!.id, a!.id]);
    expect(await ids('?to=%2B14155550100')).toEqual([c!.id, a!.id]);
    expect(await ids('?to=4155550100')).toEqual([c!.id, a!.id]); // national format, default country US
    expect(await ids('?status=failed')).toEqual([b!.id]);
    expect(await ids(`?key=${appKey}`)).toEqual([a!.id]);
    expect(await ids('?category=promotional')).toEqual([c!.id]);
    expect(await ids('?providerId=SM111')).toEqual([a!.id]);
    const t = (ms: number) => new Date(ms).toISOString().slice(0, 19);
    expect(await ids(`?since=${t(T0 - 2_000)}&until=${t(T0 - 1_000)}`)).toEqual([b!.id]);
    const bad = await app.inject({ method: 'GET', url: '/dashboard/messages?since=yesterday', headers: { cookie: s.cookie } });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('Times must look like');
  });

  it('messages: pages of 50 with an "Older" cursor, category filtering across pages', async () => {
    const many = Array.from({ length: 120 }, (_, i) => ({ m: { createdAt: T0 - 100_000 + i, category: (i % 2 ? 'otp' : 'transactional') as 'otp' } }));
    const recs = await seed(...many);
    const s = await session();
    const walk = async (qs: string) => {
      const seen: string[] = [];
      let url: string | null = `/dashboard/messages${qs}`;
      for (let i = 0; url && i < 10; i++) {
        const res: LightMyRequestResponse = await app.inject({ method: 'GET', url, headers: { cookie: s.cookie } });
        seen.push(...[...res.body.matchAll(/<tr data-id="([^"]+)"/g)].map((m) => m[1]!));
        const next: string | undefined = /id="next-page" href="([^"]+)"/.exec(res.body)?.[1];
        url = next ? next.replace(/&amp;/g, '&') : null;
      }
      return seen;
    };
    const newest = [...recs].sort((x, y) => y.createdAt - x.createdAt);
    expect(await walk('')).toEqual(newest.map((m) => m.id));
    expect(await walk('?category=otp')).toEqual(newest.filter((m) => m.category === 'otp').map((m) => m.id));
  });

  it('message page: full timeline with callbacks, retries and error meaning linked to Twilio docs', async () => {
    const [m] = await seed({
      m: { status: 'undelivered', errorCode: '30007', errorMessage: 'Filtered', providerMessageId: 'SM222', submittedAt: T0 - 59_000, completedAt: T0 - 50_000, attempts: 2 },
      events: [
        { type: 'queued', status: 'queued', at: T0 - 60_000, detail: null },
        { type: 'submit_started', status: 'sending', at: T0 - 59_900, detail: { attempt: 1 } },
        { type: 'submit_failed', status: 'queued', at: T0 - 59_800, detail: { kind: 'transient', code: '20500', message: 'Twilio internal server error' } },
        { type: 'submitted', status: 'sending', at: T0 - 59_000, detail: { providerMessageId: 'SM222' } },
        { type: 'status', status: 'sent', at: T0 - 55_000, detail: { applied: true, providerStatus: 'sent' } },
        { type: 'status', status: 'undelivered', at: T0 - 50_000, detail: { applied: true, providerStatus: 'undelivered', errorCode: '30007' } },
        { type: 'status', status: 'sent', at: T0 - 40_000, detail: { applied: false, reason: 'final', providerStatus: 'sent' } },
      ],
    });
    const s = await session();
    const res = await app.inject({ method: 'GET', url: `/dashboard/messages/${m!.id}`, headers: { cookie: s.cookie } });
    expect(res.statusCode).toBe(200);
    expect([...res.body.matchAll(/<tr data-event="([^"]+)"/g)].map((x) => x[1])).toEqual(['accepted', 'queued', 'submit_started', 'submit_failed', 'submitted', 'status', 'status', 'status']);
    expect(res.body).toContain('href="https://www.twilio.com/docs/api/errors/30007"');
    expect(res.body).toContain('href="https://www.twilio.com/docs/api/errors/20500"');
    expect(res.body).toMatch(/<span id="message-status"><span class="status undelivered"/);
    expect(res.body).toContain('(not applied: final)');
    const missing = await app.inject({ method: 'GET', url: '/dashboard/messages/msg_nope', headers: { cookie: s.cookie } });
    expect(missing.statusCode).toBe(404);
  });

  it('overview: totals, delivery rate, latency percentiles, error breakdown, cost and sender queues', async () => {
    await seed(
      { m: { status: 'delivered', createdAt: T0 - 60_000, submittedAt: T0 - 59_000, completedAt: T0 - 57_000, segments: 2 } },
      { m: { status: 'delivered', createdAt: T0 - 60_000, submittedAt: T0 - 59_500, completedAt: T0 - 55_500 } },
      { m: { status: 'undelivered', errorCode: '30003', createdAt: T0 - 60_000, submittedAt: T0 - 59_000, completedAt: T0 - 58_000 } },
      { m: { status: 'failed', errorCode: '21211', createdAt: T0 - 60_000 } },
      { m: { status: 'queued', createdAt: T0 - 30_000, segments: 3 } },
    );
    const s = await session();
    const res = await app.inject({ method: 'GET', url: '/dashboard/overview?range=1h', headers: { cookie: s.cookie } });
    expect(res.statusCode).toBe(200);
    const kpi = (k: string) => new RegExp(`data-kpi="${k}"><b>([^<]+)</b>`).exec(res.body)?.[1];
    expect(kpi('accepted')).toBe('5');
    expect(kpi('delivered')).toBe('2');
    expect(kpi('delivery-rate')).toBe('50.0%');
    expect(kpi('cost')).toBe('USD 0.03'); // 4 submitted segments × 0.0079
    expect(res.body).toContain('<svg id="chart-volume"');
    expect([...res.body.matchAll(/data-series="delivered" data-value="(\d+)"/g)].map((x) => x[1])).toEqual(['2']);
    expect(res.body).toMatch(/id="chart-errors"[^]*data-series="21211" data-value="1"[^]*data-series="30003" data-value="1"/);
    // accept→submit p50 over {1000, 500, 1000} = 1000 ms; submit→delivered p99 over {2000, 4000} = 4000 ms
    expect(res.body).toMatch(/accept → submit<\/td><td class="num">1.00 s/);
    expect(res.body).toMatch(/submit → delivered<\/td><td class="num">2.00 s<\/td><td class="num">4.00 s<\/td><td class="num">4.00 s/);
    expect(res.body).toMatch(/<tr data-sender="\+15005550006"><td>sandbox<\/td><td class="mono">\+15005550006<\/td><td class="num">1<\/td><td class="num">3<\/td>/);
  });

  it('alerts: missing callbacks, rejected webhooks, sender backlog', async () => {
    const s = await session();
    let res = await app.inject({ method: 'GET', url: '/dashboard/alerts', headers: { cookie: s.cookie } });
    expect(res.body).toContain('id="no-alerts"');
    const [late] = await seed(
      { m: { status: 'sent', submitState: 'accepted', submittedAt: T0 - 11 * 60_000, createdAt: T0 - 12 * 60_000 } },
      ...Array.from({ length: 61 }, () => ({ m: { status: 'queued' as const } })),
    );
    await store.recordWebhook({ provider: 'twilio', kind: 'status', dedupeKey: 'x', receivedAt: T0 - 1_000, url: 'u', headers: {}, rawBody: '', signatureValid: false });
    res = await app.inject({ method: 'GET', url: '/dashboard/alerts', headers: { cookie: s.cookie } });
    expect([...res.body.matchAll(/data-alert="([^"]+)"/g)].map((x) => x[1])).toEqual(['callbacks_missing', 'webhook_rejected', 'sender_backlog']);
    expect(res.body).toContain(`href="/dashboard/messages/${late!.id}"`);
  });

  it('sandbox phones: reply from a handset through the engine, see it in the inbox; STOP is reported', async () => {
    const s = await session();
    const post = (fields: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/dashboard/phones/reply', headers: { ...FORM, cookie: s.cookie }, payload: form({ _csrf: s.csrf, ...fields }) });
    const res = await post({ from: '+14155550123', to: '+15005550006', body: 'hello there' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/dashboard/phones?number=%2B14155550123&sent=1');
    const inbox = await app.inject({ method: 'GET', url: res.headers.location as string, headers: { cookie: s.cookie } });
    expect(inbox.body).toMatch(/<div class="bubble sent" data-direction="sent">[^]*hello there/);
    const stop = await post({ from: '+14155550123', to: '+15005550006', body: 'STOP' });
    expect(stop.headers.location).toContain('keyword=stop');
    const after = await app.inject({ method: 'GET', url: stop.headers.location as string, headers: { cookie: s.cookie } });
    expect(after.body).toContain('Keyword STOP handled by the carrier.');
    // The carrier's opt-out confirmation reaches the handset once the sandbox's clock-driven delivery has run.
    clock.advance(10_000);
    await sandbox.runDue();
    const confirmed = await app.inject({ method: 'GET', url: stop.headers.location as string, headers: { cookie: s.cookie } });
    expect(confirmed.body).toMatch(/<div class="bubble received" data-direction="received">[^]*unsubscribed/i);
    expect((await post({ from: '+14155550123', to: '+19999999999', body: 'x' })).statusCode).toBe(400);
    expect((await post({ from: 'abc', to: '+15005550006', body: 'x' })).statusCode).toBe(400);
  });

  it('escapes everything a message carries (no markup injection)', async () => {
    const [m] = await seed({ m: { body: '<script>alert(1)</script> & "q"', errorCode: '"><img src=x>', status: 'failed', metadata: { a: '<b>' } } });
    const s = await session();
    const page = await app.inject({ method: 'GET', url: `/dashboard/messages/${m!.id}`, headers: { cookie: s.cookie } });
    expect(page.body).not.toContain('<script>alert');
    expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;');
    expect(page.body).not.toContain('"><img');
    const list = await app.inject({ method: 'GET', url: '/dashboard/messages?to=%22%3E%3Cscript%3E', headers: { cookie: s.cookie } });
    expect(list.body).not.toContain('"><script>');
  });
});

describe('helpers', () => {
  it.each([
    ['', null],
    ['2026-01-31T13:45', Date.UTC(2026, 0, 31, 13, 45)],
    ['2026-01-31T13:45:10', Date.UTC(2026, 0, 31, 13, 45, 10)],
    ['2026-01-31', NaN],
    ['2026-13-31T13:45', NaN],
  ])('parseUtcInput(%j)', (input, expected) => {
    expect(parseUtcInput(input)).toEqual(expected);
  });

  it('cursor round trip and rejects junk', () => {
    const c = { createdAt: T0, id: 'msg_01ABC' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    expect(decodeCursor('x.y.z')).toBeNull();
    expect(decodeCursor('12.<script>')).toBeNull();
  });
});
