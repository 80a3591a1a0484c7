/**
 * The operator dashboard, served by Switchboard itself: `app.register(dashboardPlugin, { prefix: '/dashboard', … })`.
 * Server-rendered HTML (pages.ts), inline SVG charts (charts.ts), one small script; no build step, no CDN.
 *
 * Auth: log in with an API key holding the `dashboard` (or `admin`) scope → signed session cookie (session.ts:
 * HttpOnly, SameSite=Strict, Secure when publicUrl is https). The key is re-checked on every request (revoking it ends
 * the session). Every POST carries a CSRF token. The signing secret is `sessionSecret`, else one kept in the store's
 * meta table (shared by every instance on the same database).
 * Pages: overview, messages (search), message (timeline), contacts (consent ledger), alerts, sandbox phones. Documented in docs/reference/dashboard.md.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { csvLine } from '../api/consent.ts';
import { findActiveKey } from '../api/keys.ts';
import { CONSENT_STATES, emptySnapshot, type ConsentEvent, type ConsentSnapshot, type ConsentState } from '../compliance/consent-policy.ts';
import type { ConsentService } from '../compliance/consent-service.ts';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../domain/clock.ts';
import { MESSAGE_STATUSES, CATEGORIES, type Category, type MessageRecord, type MessageStatus } from '../domain/message.ts';
import { senderKey } from '../dispatch/rate-limit.ts';
import type { SwitchboardMetrics } from '../metrics/metrics.ts';
import { normalizePhone } from '../pipeline/phone.ts';
import { twilioErrorMeaning, twilioErrorUrl } from '../providers/twilio/errors.ts';
import type { ApiKeyRecord, InboundRecord, MessageCursor, Store } from '../store/store.ts';
import { DEFAULT_ALERT_THRESHOLDS, evaluateAlerts, type AlertThresholds } from './alerts.ts';
import { CSS, JS } from './assets.ts';
import { query } from './html.ts';
import {
  alertsPage,
  contactsPage,
  errorPage,
  loginPage,
  messagePage,
  messagesPage,
  overviewPage,
  phonesPage,
  type ContactView,
  type ErrorInfo,
  type Layout,
  type MessageFilters,
  type PhoneEntryView,
  type SenderRow,
} from './pages.ts';
import { csrfToken, LOGIN_COOKIE, newSessionId, parseCookies, safeEqual, serializeCookie, SESSION_COOKIE, SESSION_TTL_MS, signSession, verifySession, type Session } from './session.ts';

/** What the dashboard needs from the sandbox carrier (SandboxEngine satisfies it). */
export interface SandboxPhonesLike {
  readonly phones: {
    list(): { number: string; messages: number; last: number }[];
    inbox(number: string): PhoneEntryView[];
  };
  reply(input: { from: string; to: string; body: string }): Promise<{ keyword: string | null; webhook: { status: number | null; error?: string } | null }>;
}

export interface DashboardOptions {
  store: Store;
  config: Readonly<Config>;
  clock: Clock;
  /** In sandbox mode: the in-process carrier, for the Sandbox phones page. */
  sandbox?: SandboxPhonesLike;
  /** This instance's metrics (the Alerts page shows its signature-failure counter). */
  metrics?: SwitchboardMetrics;
  /** The consent ledger (compliance module): the Contacts page, and recording opt-in/opt-out from it. */
  consent?: ConsentService;
  /** HMAC secret for session cookies; default: generated once and kept in the store (meta `dashboard_session_secret`). */
  sessionSecret?: string;
  /** Cost estimate: price of one segment (default 0.0079, Twilio US SMS list price) and its currency. */
  pricePerSegment?: number;
  currency?: string;
  alerts?: Partial<AlertThresholds>;
}

export const SESSION_SECRET_META = 'dashboard_session_secret';
export const DASHBOARD_SCOPES = ['dashboard', 'admin'] as const;
const PAGE_SIZE = 50;
/** Subscriptions whose delivery log the Alerts page reads (newest attempts of each). */
const ALERT_SUBSCRIPTIONS = 200;
const ALERT_DELIVERIES = 100;
const RECORD_STATES: readonly ConsentState[] = ['opted_out', 'opted_in'];
const RATE_WINDOW_MS = 60_000;
const RANGES: Readonly<Record<string, { span: number; bucket: number }>> = {
  '1h': { span: 3_600_000, bucket: 5 * 60_000 },
  '24h': { span: 86_400_000, bucket: 3_600_000 },
  '7d': { span: 7 * 86_400_000, bucket: 6 * 3_600_000 },
};
const PERCENTILES = [0.5, 0.9, 0.99];
const FORM_TYPE = 'application/x-www-form-urlencoded';

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

interface Ctx {
  session: Session;
  key: ApiKeyRecord;
  csrf: string;
}

export function hasDashboardScope(scopes: readonly string[]): boolean {
  return DASHBOARD_SCOPES.some((s) => scopes.includes(s));
}

/** `YYYY-MM-DDTHH:MM[:SS]` read as UTC; null when empty; NaN when invalid. */
export function parseUtcInput(v: string): number | null {
  if (!v) return null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v)) return NaN;
  return Date.parse(`${v}Z`);
}

export function encodeCursor(c: MessageCursor): string {
  return `${c.createdAt}.${c.id}`;
}

export function decodeCursor(s: string): MessageCursor | null {
  const m = /^(\d{1,16})\.([\w-]{1,64})$/.exec(s);
  return m ? { createdAt: Number(m[1]), id: m[2]! } : null;
}

/** Opt-out list position: the last (contact, program) shown. */
export function encodeContactCursor(c: { contact: string; program: string }): string {
  return Buffer.from(`${c.contact}\n${c.program}`, 'utf8').toString('base64url');
}

export function decodeContactCursor(s: string): { contact: string; program: string } | null {
  if (!/^[\w-]{1,400}$/.test(s)) return null;
  const parts = Buffer.from(s, 'base64url').toString('utf8').split('\n');
  return parts.length === 2 && parts[0] && parts[1] ? { contact: parts[0], program: parts[1] } : null;
}

function after(s: { contact: string; program: string }, c: { contact: string; program: string }): boolean {
  return s.contact > c.contact || (s.contact === c.contact && s.program > c.program);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v.trim() : '';
}

async function loadSecret(store: Store, given: string | undefined): Promise<string> {
  if (given) return given;
  const kept = await store.getMeta(SESSION_SECRET_META);
  if (kept) return kept;
  const secret = randomBytes(32).toString('base64url');
  await store.setMeta(SESSION_SECRET_META, secret);
  // Another instance may have written its own at the same time: use whatever the store kept.
  return (await store.getMeta(SESSION_SECRET_META)) ?? secret;
}

export async function dashboardPlugin(app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const { store, config, clock, sandbox } = opts;
  const base = app.prefix.replace(/\/+$/, '');
  const secret = await loadSecret(store, opts.sessionSecret);
  const secure = config.publicUrl.startsWith('https:');
  const thresholds: AlertThresholds = { ...DEFAULT_ALERT_THRESHOLDS, ...opts.alerts };
  const price = opts.pricePerSegment ?? 0.0079;
  const currency = opts.currency ?? 'USD';
  const providers = [...new Set(config.accounts.map((a) => a.provider))];
  const mps = new Map(config.accounts.flatMap((a) => a.senders.map((s) => [senderKey(a.name, s.from), s.mps] as const)));
  const sandboxNumbers = config.accounts.filter((a) => a.accountSid === config.sandbox.accountSid).flatMap((a) => a.senders.map((s) => s.from));
  const ctxs = new WeakMap<FastifyRequest, Ctx>();

  app.addContentTypeParser(FORM_TYPE, { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(k)) reply.header(k, v);
    return payload;
  });

  const layout = (ctx: Ctx | null, active: Layout['active'], title: string): Layout => ({
    base,
    title,
    active,
    csrf: ctx?.csrf ?? null,
    who: ctx ? ctx.key.name : null,
    sandbox: !!sandbox,
    contacts: !!opts.consent,
  });
  const send = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(body);
  const cookie = (name: string, value: string, maxAgeS: number) => serializeCookie(name, value, { path: base || '/', secure, maxAge: maxAgeS });
  const safeNext = (n: string) => (n.startsWith(`${base}/`) && !n.startsWith('//') && !/[\\\r\n]/.test(n) ? n : `${base}/overview`);

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'dashboard request failed');
    return send(reply, errorPage(layout(ctxs.get(req) ?? null, 'overview', 'Error'), status, status === 500 ? 'Internal error; see the server log.' : err.message), status);
  });
  app.setNotFoundHandler((req, reply) => send(reply, errorPage(layout(ctxs.get(req) ?? null, 'overview', 'Not found'), 404, 'No such page.'), 404));

  /** The session's key, still active and allowed; null otherwise. */
  async function authenticate(req: FastifyRequest): Promise<Ctx | null> {
    const session = verifySession(secret, parseCookies(req.headers.cookie)[SESSION_COOKIE], clock.now());
    if (!session) return null;
    const key = (await store.listApiKeys()).find((k) => k.id === session.keyId);
    if (!key || key.revokedAt !== null || !hasDashboardScope(key.scopes)) return null;
    return { session, key, csrf: csrfToken(secret, session.id) };
  }

  // Every page but login and the assets needs a session; every POST a CSRF token.
  app.addHook('preHandler', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (path === `${base}/login` || path.startsWith(`${base}/assets/`)) return;
    const ctx = await authenticate(req);
    if (!ctx) {
      if (req.method === 'GET' || req.method === 'HEAD') return reply.code(303).header('location', `${base}/login${query({ next: req.url })}`).send();
      return send(reply, errorPage(layout(null, 'login', 'Session expired'), 401, 'Your session has expired. Log in again.'), 401);
    }
    if (req.method === 'POST') {
      const given = str((req.body as Record<string, unknown> | undefined)?._csrf);
      if (!given || !safeEqual(given, ctx.csrf)) {
        req.log.warn({ path }, 'dashboard CSRF token mismatch');
        return send(reply, errorPage(layout(ctx, 'overview', 'Forbidden'), 403, 'The form has expired or did not come from this dashboard (CSRF check failed). Reload the page and try again.'), 403);
      }
    }
    ctxs.set(req, ctx);
  });
  const ctxOf = (req: FastifyRequest): Ctx => ctxs.get(req)!;

  app.get('/assets/app.css', async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=300').send(CSS));
  app.get('/assets/app.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(JS));

  // ---------------------------------------------------------------- login / logout

  app.get('/login', async (req, reply) => {
    const next = safeNext(str((req.query as Record<string, unknown>).next));
    if (await authenticate(req)) return reply.code(303).header('location', next).send();
    const token = randomBytes(18).toString('base64url');
    reply.header('set-cookie', cookie(LOGIN_COOKIE, token, 3_600));
    return send(reply, loginPage(base, { csrf: token, next }));
  });

  app.post('/login', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(str(body.next));
    const expected = parseCookies(req.headers.cookie)[LOGIN_COOKIE];
    const again = (status: number, error: string) => {
      const token = randomBytes(18).toString('base64url');
      reply.header('set-cookie', cookie(LOGIN_COOKIE, token, 3_600));
      return send(reply, loginPage(base, { csrf: token, next, error }), status);
    };
    const given = str(body._csrf);
    if (!expected || !given || !safeEqual(given, expected)) return again(403, 'The login form expired (CSRF check failed). Try again.');
    const token = str(body.key);
    const key = token ? await findActiveKey(store, token) : null;
    if (!key) {
      req.log.info('dashboard login with an unknown or revoked key');
      return again(401, 'Unknown or revoked API key.');
    }
    if (!hasDashboardScope(key.scopes)) return again(403, `The key "${key.name}" lacks the dashboard scope.`);
    const now = clock.now();
    const session: Session = { keyId: key.id, id: newSessionId(), expiresAt: now + SESSION_TTL_MS };
    req.log.info({ keyId: key.id }, 'dashboard login');
    reply.header('set-cookie', [cookie(SESSION_COOKIE, signSession(secret, session), SESSION_TTL_MS / 1000), cookie(LOGIN_COOKIE, '', 0)]);
    return reply.code(303).header('location', next).send();
  });

  app.post('/logout', async (_req, reply) => {
    reply.header('set-cookie', cookie(SESSION_COOKIE, '', 0));
    return reply.code(303).header('location', `${base}/login`).send();
  });

  app.get('/', async (_req, reply) => reply.code(303).header('location', `${base}/overview`).send());

  // ---------------------------------------------------------------- overview

  app.get('/overview', async (req, reply) => {
    const ctx = ctxOf(req);
    const range = str((req.query as Record<string, unknown>).range) || '24h';
    const r = RANGES[range] ?? RANGES['24h']!;
    const now = clock.now();
    const until = Math.floor(now / r.bucket) * r.bucket + r.bucket;
    const stats = await store.stats({ since: until - r.span, until, bucketMs: r.bucket, percentiles: PERCENTILES, callbackDueBefore: now - thresholds.callbackMissingMinutes * 60_000 });
    const queues = await store.senderQueues({ now, recentMs: RATE_WINDOW_MS });
    const rows: SenderRow[] = [];
    const seen = new Set<string>();
    for (const a of config.accounts) {
      for (const s of a.senders) {
        const q = queues.find((x) => x.account === a.name && x.from === s.from) ?? null;
        seen.add(senderKey(a.name, s.from));
        rows.push({ account: a.name, from: s.from, mps: s.mps, queue: q, rate: (q?.recentSegments ?? 0) / (RATE_WINDOW_MS / 1000) });
      }
    }
    for (const q of queues) {
      if (!seen.has(senderKey(q.account, q.from))) rows.push({ account: q.account, from: q.from, mps: 1, queue: q, rate: q.recentSegments / (RATE_WINDOW_MS / 1000) });
    }
    return send(
      reply,
      overviewPage(layout(ctx, 'overview', 'Overview'), {
        range: RANGES[range] ? range : '24h',
        ranges: Object.keys(RANGES),
        stats,
        percentiles: PERCENTILES,
        pricePerSegment: price,
        currency,
        senders: rows,
        rateWindowS: RATE_WINDOW_MS / 1000,
      }),
    );
  });

  // ---------------------------------------------------------------- messages

  app.get('/messages', async (req, reply) => {
    const ctx = ctxOf(req);
    const qs = req.query as Record<string, unknown>;
    const filters: MessageFilters = {
      q: '',
      to: str(qs.to),
      status: str(qs.status),
      key: str(qs.key),
      category: str(qs.category),
      since: str(qs.since),
      until: str(qs.until),
      providerId: str(qs.providerId),
    };
    const keys = await store.listApiKeys();
    const render = (items: MessageRecord[], next: string | null, error?: string, note?: string) =>
      send(reply, messagesPage(layout(ctx, 'messages', 'Messages'), { filters, keys, items, next, error, note }), error ? 400 : 200);

    if (/^msg_[\w-]{1,60}$/.test(filters.to)) return reply.code(303).header('location', `${base}/messages/${encodeURIComponent(filters.to)}`).send();
    if (filters.providerId) {
      const found: MessageRecord[] = [];
      for (const p of providers) {
        const m = await store.findByProviderId(p, filters.providerId);
        if (m) found.push(m);
      }
      return render(found, null, undefined, `Looked up provider id ${filters.providerId}; other filters ignored.`);
    }
    if (filters.status && !MESSAGE_STATUSES.includes(filters.status as MessageStatus)) return render([], null, `Unknown status "${filters.status}".`);
    if (filters.category && !CATEGORIES.includes(filters.category as Category)) return render([], null, `Unknown category "${filters.category}".`);
    const since = parseUtcInput(filters.since);
    const until = parseUtcInput(filters.until);
    if (Number.isNaN(since) || Number.isNaN(until)) return render([], null, 'Times must look like 2026-01-31T13:45 (UTC).');
    let to: string | undefined;
    let note: string | undefined;
    if (filters.to) {
      const n = normalizePhone(filters.to, config.defaultCountry);
      to = n.ok ? n.e164 : filters.to;
      if (n.ok && n.e164 !== filters.to) note = `Searching ${n.e164}.`;
    }
    const cursorText = str(qs.cursor);
    const cursor = cursorText ? decodeCursor(cursorText) : null;
    if (cursorText && !cursor) return render([], null, 'Invalid page cursor.');
    const res = await store.listMessages({
      limit: PAGE_SIZE,
      cursor,
      ...(filters.status ? { status: filters.status as MessageStatus } : {}),
      ...(to ? { to } : {}),
      ...(filters.key ? { keyId: filters.key } : {}),
      ...(filters.category ? { category: filters.category as Category } : {}),
      ...(since !== null ? { since } : {}),
      ...(until !== null ? { until } : {}),
    });
    return render(res.items, res.nextCursor ? encodeCursor(res.nextCursor) : null, undefined, note);
  });

  app.get('/messages/:id', async (req, reply) => {
    const ctx = ctxOf(req);
    const id = (req.params as { id: string }).id;
    const m = await store.getMessage(id);
    if (!m) return send(reply, errorPage(layout(ctx, 'messages', 'Not found'), 404, `No message ${id}.`), 404);
    const events = await store.listEvents(id);
    const keyName = m.keyId ? ((await store.listApiKeys()).find((k) => k.id === m.keyId)?.name ?? null) : null;
    const errorInfo = (code: string): ErrorInfo => (m.provider === 'twilio' ? { meaning: twilioErrorMeaning(code), url: twilioErrorUrl(code) } : { meaning: null, url: null });
    return send(reply, messagePage(layout(ctx, 'messages', `Message ${id}`), { m, events, keyName, errorInfo }));
  });

  // ---------------------------------------------------------------- contacts (consent ledger)

  const consent = opts.consent;
  if (consent) {
    const programNames = () => consent.allPrograms().map((p) => p.name);

    async function contactView(contact: string): Promise<ContactView> {
      const rows = new Map((await store.getConsent(contact)).map((s) => [s.program, s]));
      const states = [...new Set([...programNames(), ...rows.keys()])].map((program) => {
        const s: ConsentSnapshot = rows.get(program) ?? emptySnapshot(contact, program);
        return { program, state: s.state, since: s.since > 0 ? s.since : null, source: s.source };
      });
      const history = await store.listConsentHistory(contact);
      const wanted = new Set(history.map((h) => h.evidence?.inboundMessageId).filter((id): id is string => !!id));
      const inbound = new Map<string, Pick<InboundRecord, 'body' | 'to' | 'receivedAt'>>();
      // The contact's inbound messages, newest first, until every one the evidence names is found (bounded).
      let cursor: MessageCursor | null = null;
      for (let pageNo = 0; wanted.size > inbound.size && pageNo < 20; pageNo++) {
        const res: { items: InboundRecord[]; nextCursor: MessageCursor | null } = await store.listInbound({ from: contact, limit: 200, cursor });
        for (const r of res.items) if (wanted.has(r.id)) inbound.set(r.id, r);
        cursor = res.nextCursor;
        if (!cursor) break;
      }
      return { contact, states, history, inbound };
    }

    async function optOutPage(program: string, cursor: { contact: string; program: string } | null): Promise<{ items: ConsentSnapshot[]; next: string | null }> {
      const items: ConsentSnapshot[] = [];
      let more = false;
      for await (const s of store.exportConsent({ state: 'opted_out', ...(program ? { program } : {}) })) {
        if (cursor && !after(s, cursor)) continue;
        if (items.length === PAGE_SIZE) {
          more = true;
          break;
        }
        items.push(s);
      }
      const last = items[items.length - 1];
      return { items, next: more && last ? encodeContactCursor(last) : null };
    }

    const renderContacts = async (
      req: FastifyRequest,
      reply: FastifyReply,
      q: { search: string; program: string; cursor: string; notice?: string; error?: string; status?: number },
    ) => {
      const ctx = ctxOf(req);
      let error = q.error;
      let contact: ContactView | null = null;
      if (q.search) {
        const n = normalizePhone(q.search, config.defaultCountry);
        if (n.ok) contact = await contactView(n.e164);
        else error ??= `${q.search} is not a valid phone number (${n.reason}).`;
      }
      const names = programNames();
      const program = names.includes(q.program) ? q.program : '';
      const cursor = q.cursor ? decodeContactCursor(q.cursor) : null;
      if (q.cursor && !cursor) error ??= 'Invalid page cursor.';
      const list = await optOutPage(program, cursor);
      return send(
        reply,
        contactsPage(layout(ctx, 'contacts', contact ? `Contact ${contact.contact}` : 'Contacts'), {
          search: q.search,
          programs: names,
          program,
          contact,
          optOuts: list.items,
          next: list.next,
          notice: q.notice,
          error,
        }),
        q.status ?? (error ? 400 : 200),
      );
    };

    app.get('/contacts', async (req, reply) => {
      const qs = req.query as Record<string, unknown>;
      const recorded = str(qs.recorded);
      let notice: string | undefined;
      if ((RECORD_STATES as readonly string[]).includes(recorded)) {
        const failed = Number(str(qs.failed)) || 0;
        notice = `Recorded ${recorded.replace('_', ' ')} in ${str(qs.program)}${qs.changed === '1' ? '' : ' (no change: it was already the current state)'}${
          failed > 0 ? `; ${failed} queued message${failed === 1 ? '' : 's'} to this number failed (SB_OPTED_OUT)` : ''
        }.`;
      }
      return renderContacts(req, reply, { search: str(qs.contact), program: str(qs.program), cursor: str(qs.cursor), notice });
    });

    app.post('/contacts/consent', async (req, reply) => {
      const ctx = ctxOf(req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const search = str(body.contact);
      const program = str(body.program);
      const state = str(body.state);
      const note = typeof body.note === 'string' ? body.note.trim() : '';
      const fail = (error: string, status = 400) => renderContacts(req, reply, { search, program, cursor: '', error, status });
      const n = normalizePhone(search, config.defaultCountry);
      if (!n.ok) return fail(`${search || 'The number'} is not a valid phone number.`);
      if (!consent.programNamed(program)) return fail(`No program named "${program}".`);
      if (!(RECORD_STATES as readonly string[]).includes(state)) return fail('Choose opt in or opt out.');
      if (note.length > 2000) return fail('The note is longer than 2,000 characters.');
      const event: ConsentEvent = {
        contact: n.e164,
        program,
        state: state as ConsentState,
        source: 'dashboard',
        at: clock.now(),
        evidence: { keyId: ctx.key.id, appName: ctx.key.name, ...(note ? { note } : {}) },
      };
      const r = await consent.record(event);
      if (!r.result.accepted) return fail(`${r.result.code}: ${r.result.reason}`, 422);
      req.log.info({ program, state, changed: r.result.changed, keyId: ctx.key.id, failedQueued: r.failedMessageIds.length }, 'consent recorded from the dashboard');
      const location = `${base}/contacts${query({ contact: n.e164, program, recorded: state, changed: r.result.changed ? 1 : 0, failed: r.failedMessageIds.length })}`;
      return reply.code(303).header('location', location).send();
    });

    // The same rows and columns as GET /v1/consent/export?format=csv, streamed from the store.
    app.get('/contacts/export.csv', async (req, reply) => {
      const qs = req.query as Record<string, unknown>;
      const program = str(qs.program);
      const state = str(qs.state);
      if (program && !consent.programNamed(program)) return renderContacts(req, reply, { search: '', program: '', cursor: '', error: `No program named "${program}".` });
      if (state && !(CONSENT_STATES as readonly string[]).includes(state)) return renderContacts(req, reply, { search: '', program, cursor: '', error: `Unknown state "${state}".` });
      const filter = { ...(program ? { program } : {}), ...(state ? { state: state as ConsentState } : {}) };
      async function* rows(): AsyncGenerator<string> {
        yield csvLine(['contact', 'program', 'state', 'since', 'source', 'event_id']);
        for await (const s of store.exportConsent(filter)) {
          yield csvLine([s.contact, s.program, s.state, s.since > 0 ? new Date(s.since).toISOString() : '', s.source, s.eventId]);
        }
      }
      const name = `consent-${state || 'all'}${program ? `-${program}` : ''}.csv`.replace(/[^\w.-]/g, '_');
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).send(Readable.from(rows()));
    });
  }

  // ---------------------------------------------------------------- alerts

  app.get('/alerts', async (req, reply) => {
    const ctx = ctxOf(req);
    const now = clock.now();
    const due = now - thresholds.callbackMissingMinutes * 60_000;
    const day = await store.stats({ since: now + 1 - 86_400_000, until: now + 1, bucketMs: 3_600_000, percentiles: [], callbackDueBefore: due });
    const hour = await store.stats({ since: now + 1 - 3_600_000, until: now + 1, bucketMs: 3_600_000, percentiles: [], callbackDueBefore: due });
    const queues = await store.senderQueues({ now, recentMs: 0 });
    const subscriptions = [];
    for (const s of (await store.listSubscriptions({})).slice(0, ALERT_SUBSCRIPTIONS)) {
      subscriptions.push({ subscription: s, recent: (await store.listDeliveries(s.id, { limit: ALERT_DELIVERIES })).items });
    }
    const alerts = evaluateAlerts({ day, hour, queues, mps, defaultMps: 1, deliveries: { now, subscriptions } }, thresholds);
    const sigFailures = opts.metrics ? await opts.metrics.signatureFailureCount() : null;
    if (sigFailures) {
      alerts.push({
        kind: 'webhook_rejected',
        severity: 'critical',
        title: `${sigFailures} webhook signature failure${sigFailures === 1 ? '' : 's'} on this instance since it started`,
        detail: 'X-Twilio-Signature did not verify. The auth token or publicUrl in the config does not match what the provider signs.',
      });
    }
    return send(reply, alertsPage(layout(ctx, 'alerts', 'Alerts'), { alerts, callbackMissingMinutes: thresholds.callbackMissingMinutes }));
  });

  // ---------------------------------------------------------------- sandbox phones

  if (sandbox) {
    app.get('/phones', async (req, reply) => {
      const ctx = ctxOf(req);
      const qs = req.query as Record<string, unknown>;
      const selected = str(qs.number) || null;
      const kw = str(qs.keyword);
      const notice = qs.sent === '1' ? `Sent from ${selected ?? 'the handset'}.${kw ? ` Keyword ${kw.toUpperCase()} handled by the carrier.` : ''}` : undefined;
      const phones = sandbox.phones.list().sort((a, b) => b.last - a.last);
      const inbox = selected ? sandbox.phones.inbox(selected) : [];
      return send(reply, phonesPage(layout(ctx, 'phones', 'Sandbox phones'), { phones, selected, inbox, senders: sandboxNumbers, notice }));
    });

    app.post('/phones/reply', async (req, reply) => {
      const ctx = ctxOf(req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const from = str(body.from);
      const to = str(body.to);
      const text = typeof body.body === 'string' ? body.body : '';
      const fail = (error: string) =>
        send(
          reply,
          phonesPage(layout(ctx, 'phones', 'Sandbox phones'), {
            phones: sandbox.phones.list(),
            selected: from || null,
            inbox: from ? sandbox.phones.inbox(from) : [],
            senders: sandboxNumbers,
            error,
          }),
          400,
        );
      if (!from || !text.trim()) return fail('A handset number and a message are required.');
      if (!sandboxNumbers.includes(to)) return fail(`${to} is not a sandbox number.`);
      const n = normalizePhone(from, config.defaultCountry);
      if (!n.ok) return fail(`${from} is not a valid phone number.`);
      try {
        const r = await sandbox.reply({ from: n.e164, to, body: text });
        req.log.info({ from: n.e164, to, keyword: r.keyword, webhookStatus: r.webhook?.status ?? null }, 'sandbox handset replied from the dashboard');
        return reply.code(303).header('location', `${base}/phones${query({ number: n.e164, sent: 1, keyword: r.keyword })}`).send();
      } catch (err) {
        return fail(err instanceof Error ? err.message : String(err));
      }
    });
  }
}
