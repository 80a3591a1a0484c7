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
import { ConsentService } from '../compliance/consent-service.ts';
import { AppEvents } from '../events/outbox.ts';
import { dashboardPlugin, decodeContactCursor, decodeCursor, encodeContactCursor, encodeCursor, parseUtcInput } from './plugin.ts';

const T0 = Date.UTC(2026, 0, 1, 12);
let dir: string;
let store: Store;
let clock: ManualClock;
let app: FastifyInstance;
let sandbox: SandboxEngine;
let tokens: { dash: string; admin: string; sender: string };
let consent: ConsentService;

async function build(config: Config = defaultConfig()): Promise<FastifyInstance> {
  const a = Fastify();
  const metrics = createMetrics({ store, clock });
  consent = new ConsentService({ store, clock, programs: [], accounts: config.accounts });
  await a.register(dashboardPlugin, { prefix: '/dashboard', store, config, clock, sandbox, metrics, consent, sessionSecret: 'test-secret-0123456789' });
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

describe('contacts page (consent ledger)', () => {
  const who = '+14155550177';
  const contactPage = async (cookie: string, qs: string) => {
    const res = await app.inject({ method: 'GET', url: `/dashboard/contacts${qs}`, headers: { cookie } });
    return res;
  };

  it('needs a session; links numbers from the message pages to it', async () => {
    const res = await app.inject({ method: 'GET', url: '/dashboard/contacts?contact=%2B14155550177' });
    expect(res.statusCode).toBe(303);
    const [m] = await seed({ m: { to: who } });
    const s = await session();
    const list = await app.inject({ method: 'GET', url: '/dashboard/messages', headers: { cookie: s.cookie } });
    expect(list.body).toContain(`<a class="contact-link" href="/dashboard/contacts?contact=%2B14155550177">${who}</a>`);
    const one = await app.inject({ method: 'GET', url: `/dashboard/messages/${m!.id}`, headers: { cookie: s.cookie } });
    expect(one.body).toContain('href="/dashboard/contacts?contact=%2B14155550177"');
    expect(list.body).toContain('href="/dashboard/contacts" class="">Contacts</a>');
  });

  it('shows the state per program and the history with the raw inbound keyword message as evidence', async () => {
    await store.insertInbound({ id: 'in_01STOP', provider: 'twilio', account: 'sandbox', providerMessageId: 'SM9', from: who, to: '+15005550006', body: 'Stop ', numMedia: 0, mediaUrls: [], providerKeyword: null, receivedAt: T0 - 5_000 });
    const r = await consent.record({ contact: who, program: 'default', state: 'opted_out', source: 'inbound_keyword', at: T0 - 5_000, evidence: { inboundMessageId: 'in_01STOP', keyword: 'STOP' } });
    expect(r.result.accepted).toBe(true);
    const s = await session();
    const res = await contactPage(s.cookie, '?contact=4155550177'); // national format → E.164
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(`data-contact="${who}"`);
    expect(res.body).toMatch(/<tr data-program="default"><td>default<\/td><td><span class="consent opted_out"/);
    expect(res.body).toMatch(/<tr data-seq="\d+" data-source="inbound_keyword" data-state="opted_out">/);
    expect(res.body).toMatch(/data-evidence="inbound">inbound <code>in_01STOP<\/code>: <q class="pre">Stop <\/q>/);
    expect(res.body).toContain('keyword <b>STOP</b>');
    // …and the opt-out list has the number
    expect(res.body).toMatch(new RegExp(`<tr data-contact="\\${who}" data-program="default">`));
    const bad = await contactPage(s.cookie, '?contact=abc');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('not a valid phone number');
  });

  it('records an opt-out with a note from the page (CSRF, source dashboard, who) and fails the queued messages', async () => {
    const [queued] = await seed({ m: { to: who, status: 'queued' } });
    const s = await session();
    const post = (fields: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/dashboard/contacts/consent', headers: { ...FORM, cookie: s.cookie }, payload: form(fields) });
    const noCsrf = await post({ contact: who, program: 'default', state: 'opted_out', note: 'x' });
    expect(noCsrf.statusCode).toBe(403);
    expect(await store.listConsentHistory(who)).toEqual([]);
    const res = await post({ _csrf: s.csrf, contact: who, program: 'default', state: 'opted_out', note: 'Asked on the phone <b>' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/dashboard/contacts?contact=%2B14155550177&program=default&recorded=opted_out&changed=1&failed=1`);
    const [h] = await store.listConsentHistory(who);
    expect(h).toMatchObject({ contact: who, program: 'default', state: 'opted_out', source: 'dashboard', at: T0, evidence: { appName: 'ops', note: 'Asked on the phone <b>' } });
    expect(h!.evidence.keyId).toMatch(/^key_/);
    expect(await store.getMessage(queued!.id)).toMatchObject({ status: 'failed', errorCode: 'SB_OPTED_OUT' });
    const page = await contactPage(s.cookie, (res.headers.location as string).replace('/dashboard/contacts', ''));
    expect(page.body).toContain('Recorded opted out in default; 1 queued message to this number failed (SB_OPTED_OUT).');
    expect(page.body).toContain('note: <span class="pre">Asked on the phone &lt;b&gt;</span>');
    expect(page.body).toMatch(/data-evidence="who">by <b>ops<\/b>/);
    // The same again: accepted, no change.
    const again = await post({ _csrf: s.csrf, contact: who, program: 'default', state: 'opted_out' });
    expect(again.headers.location).toContain('changed=0');
    // Bad input: 400 with the reason, nothing recorded.
    for (const [fields, text] of [
      [{ contact: 'nope', program: 'default', state: 'opted_in' }, 'not a valid phone number'],
      [{ contact: who, program: 'marketing', state: 'opted_in' }, 'No program named'],
      [{ contact: who, program: 'default', state: 'unknown' }, 'Choose opt in or opt out'],
    ] as const) {
      const r = await post({ _csrf: s.csrf, ...fields });
      expect(r.statusCode).toBe(400);
      expect(r.body).toContain(text);
    }
    expect(await store.listConsentHistory(who)).toHaveLength(2);
  });

  it("re-subscribing after the contact's own STOP needs a note (422 without)", async () => {
    await store.insertInbound({ id: 'in_02', provider: 'twilio', account: 'sandbox', providerMessageId: 'SM8', from: who, to: '+15005550006', body: 'STOP', numMedia: 0, mediaUrls: [], providerKeyword: null, receivedAt: T0 - 5_000 });
    await consent.record({ contact: who, program: 'default', state: 'opted_out', source: 'inbound_keyword', at: T0 - 5_000, evidence: { inboundMessageId: 'in_02', keyword: 'STOP' } });
    const s = await session();
    const post = (note: string) =>
      app.inject({ method: 'POST', url: '/dashboard/contacts/consent', headers: { ...FORM, cookie: s.cookie }, payload: form({ _csrf: s.csrf, contact: who, program: 'default', state: 'opted_in', note }) });
    const refused = await post('  ');
    expect(refused.statusCode).toBe(422);
    expect(refused.body).toContain('SB_CONSENT_EVIDENCE_REQUIRED');
    const ok = await post('Signed consent form #42');
    expect(ok.statusCode).toBe(303);
    expect((await store.getConsent(who, 'default'))[0]).toMatchObject({ state: 'opted_in', source: 'dashboard' });
  });

  it('opt-out list: pages of 50 in (contact, program) order, program filter, CSV export like /v1/consent/export', async () => {
    const numbers = Array.from({ length: 120 }, (_, i) => `+1415555${String(1000 + i).padStart(4, '0')}`);
    for (const [i, n] of numbers.entries()) {
      await consent.record({ contact: n, program: 'default', state: i % 10 === 0 ? 'opted_in' : 'opted_out', source: 'api', at: T0 - 1_000 + i, evidence: { keyId: 'k', appName: 'crm' } });
    }
    const optedOut = numbers.filter((_, i) => i % 10 !== 0);
    const s = await session();
    const seen: string[] = [];
    let url: string | null = '/dashboard/contacts';
    for (let i = 0; url && i < 10; i++) {
      const res: LightMyRequestResponse = await app.inject({ method: 'GET', url, headers: { cookie: s.cookie } });
      const rows = [...res.body.matchAll(/<tr data-contact="([^"]+)" data-program="default">/g)].map((m) => m[1]!);
      expect(rows.length).toBeLessThanOrEqual(50);
      seen.push(...rows);
      const next: string | undefined = /id="next-page" href="([^"]+)"/.exec(res.body)?.[1];
      url = next ? next.replace(/&amp;/g, '&') : null;
    }
    expect(seen).toEqual(optedOut);
    const csv = await app.inject({ method: 'GET', url: '/dashboard/contacts/export.csv?state=opted_out&program=default', headers: { cookie: s.cookie } });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toBe('attachment; filename="consent-opted_out-default.csv"');
    const lines = csv.body.trimEnd().split('\r\n');
    expect(lines[0]).toBe('contact,program,state,since,source,event_id');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(optedOut);
    expect(lines[1]).toMatch(new RegExp(`^\\${optedOut[0]},default,opted_out,${new Date(T0 - 999).toISOString()},api,\\w+$`));
    const all = await app.inject({ method: 'GET', url: '/dashboard/contacts/export.csv', headers: { cookie: s.cookie } });
    expect(all.body.trimEnd().split('\r\n')).toHaveLength(121);
    const bad = await app.inject({ method: 'GET', url: '/dashboard/contacts/export.csv?state=maybe', headers: { cookie: s.cookie } });
    expect(bad.statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/dashboard/contacts?cursor=!!', headers: { cookie: s.cookie } })).statusCode).toBe(400);
  });
});

describe('alerts: event deliveries to apps', () => {
  it('a subscription whose latest attempt failed, and a disabled one, are alerts (from the delivery log)', async () => {
    const sub = (id: string) => ({ id, keyId: 'k', app: 'crm', url: `https://crm.example/${id}`, events: ['contact.opted_out' as const], secrets: ['whsec_x'], status: 'active' as const, disabledReason: null, createdAt: T0, deletedAt: null });
    await store.createSubscription(sub('sub_failing'));
    await store.createSubscription(sub('sub_ok'));
    await store.createSubscription(sub('sub_gone'));
    await store.disableSubscription('sub_gone', 'endpoint answered 410 Gone', T0 - 1_000);
    const rows = await new AppEvents(store).emit('contact.opted_out', { contact: '+14155550100' }, { all: true }, T0 - 60_000);
    expect(rows.map((r) => r.subscriptionId).sort()).toEqual(['sub_failing', 'sub_ok']);
    const claimed = await store.claimDueDeliveries({ now: T0 - 50_000, owner: 't', leaseMs: 60_000, max: 10 });
    for (const r of claimed) {
      const failing = r.subscriptionId === 'sub_failing';
      const ok = await store.completeDelivery({
        id: r.id,
        owner: 't',
        attempt: { attempt: 1, startedAt: T0 - 50_000, durationMs: 20, httpStatus: failing ? 503 : 200, error: failing ? 'HTTP 503' : null, outcome: failing ? 'retry' : 'delivered' },
        next: failing ? { status: 'pending', nextAttemptAt: T0 + 30_000 } : { status: 'delivered' },
        now: T0 - 49_000,
      });
      expect(ok).toBe(true);
    }
    const s = await session();
    const res = await app.inject({ method: 'GET', url: '/dashboard/alerts', headers: { cookie: s.cookie } });
    const alerts = [...res.body.matchAll(/<div class="card alert (\w+)" data-alert="event_deliveries_failing"><b>([^<]+)<\/b>/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(alerts).toHaveLength(2);
    expect(alerts).toContain('warning Subscription sub_failing (crm, https://crm.example/sub_failing): 1 of 1 event deliveries failed in the last 60 min');
    expect(alerts).toContain('critical Subscription sub_gone (crm, https://crm.example/sub_gone) is disabled');
    expect(res.body).toContain('Last failure: HTTP 503 (contact.opted_out).');
  });
});

describe('helpers', () => {
  it('contact cursor round trip and rejects junk', () => {
    const c = { contact: '+14155550100', program: 'marketing-eu' };
    expect(decodeContactCursor(encodeContactCursor(c))).toEqual(c);
    expect(decodeContactCursor('!!')).toBeNull();
    expect(decodeContactCursor(Buffer.from('no-newline').toString('base64url'))).toBeNull();
  });

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
