/**
 * Twilio adapter over the real REST API (2010-04-01), with undici and a keep-alive Agent.
 * The same code talks to the built-in sandbox in development and to https://api.twilio.com in production:
 * only `account.baseUrl` differs. Every failure leaves as a ProviderError (see providers/provider.ts);
 * why undici and not the `twilio` SDK is in docs/reference/dispatch.md (bench/adapter.ts measures both).
 */
import { Agent, request, errors as undiciErrors, type Dispatcher } from 'undici';
import type { TwilioAccountConfig } from '../../config/schema.ts';
import { ProviderError, type LookupResult, type OutboundMessage, type ProviderAdapter, type SendResult } from '../provider.ts';
import { classifyTwilioFailure } from './errors.ts';
import { mapTwilioStatus } from './status-map.ts';

export interface TwilioAdapterOptions {
  /** Switchboard's public base URL; status callbacks go to `{publicUrl}/webhooks/twilio/status?m={id}`. */
  publicUrl: string;
  /** Request timeout (ms). A timeout after the request left is `ambiguous`. */
  timeoutMs: number;
  /** Shared keep-alive dispatcher; one is created per adapter when omitted. */
  agent?: Dispatcher;
}

/** Twilio's message JSON (the fields we read; counts are strings, dates RFC 2822). */
interface TwilioMessageJson {
  sid: string;
  status: string;
  to: string | null;
  from: string | null;
  body: string | null;
  date_created: string | null;
  error_code: number | null;
  error_message?: string | null;
}

/** Date matching slack for lookups: Twilio dates have one-second resolution. */
const LOOKUP_SLACK_MS = 2_000;
const LOOKUP_PAGE_SIZE = 50;

/** Network error codes that mean the request never reached the server (safe to retry). */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET' && code !== 'UND_ERR_ABORTED') return code;
    e = (e as { cause?: unknown }).cause;
  }
  const top = err && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  return typeof top === 'string' ? top : undefined;
}

/**
 * Whether a network failure happened before the request left this process. Connect-phase failures
 * (refused, DNS, connect timeout, TLS) did not reach Twilio; anything later (headers/body timeout,
 * reset, socket closed, abort) may have, and is ambiguous for a create.
 */
export function requestNeverLeft(err: unknown): boolean {
  if (err instanceof undiciErrors.ConnectTimeoutError) return true;
  const code = errorCode(err);
  return code !== undefined && NOT_SENT_CODES.has(code);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = errorCode(err);
    return code ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** RFC 2822 / HTTP date or seconds → ms, for Retry-After. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  const trimmed = v.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export function createTwilioAdapter(account: TwilioAccountConfig, opts: TwilioAdapterOptions): ProviderAdapter {
  const dispatcher: Dispatcher =
    opts.agent ??
    new Agent({
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      connections: 128,
      pipelining: 1,
      connect: { timeout: Math.max(1, Math.min(opts.timeoutMs, 10_000)) },
    });
  const base = account.baseUrl.replace(/\/+$/, '');
  const accountPath = `/2010-04-01/Accounts/${encodeURIComponent(account.accountSid)}`;
  const user = account.apiKeySid && account.apiKeySecret ? account.apiKeySid : account.accountSid;
  const pass = account.apiKeySid && account.apiKeySecret ? account.apiKeySecret : account.authToken;
  const authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  const publicUrl = opts.publicUrl.replace(/\/+$/, '');

  interface Reply {
    statusCode: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
    json: unknown;
  }

  /** One HTTP exchange. Network failures are thrown as ProviderError (transient if never sent, else ambiguous). */
  async function call(method: 'GET' | 'POST', path: string, form?: URLSearchParams, signal?: AbortSignal): Promise<Reply> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(base + path, {
        method,
        dispatcher,
        headers: {
          authorization,
          accept: 'application/json',
          'user-agent': 'switchboard (undici)',
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body: form ? form.toString() : undefined,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
        signal,
      });
    } catch (err) {
      throw networkFailure(err);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      // The server answered (so the request arrived) but the body broke off.
      throw networkFailure(err, true);
    }
    let json: unknown = null;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    return { statusCode: res.statusCode, headers: res.headers, text, json };
  }

  function networkFailure(err: unknown, arrived = false): ProviderError {
    if (err instanceof ProviderError) return err;
    return classifyTwilioFailure({ network: { error: err, sent: arrived || !requestNeverLeft(err), message: describe(err) } });
  }

  function httpFailure(r: Reply): ProviderError {
    return classifyTwilioFailure({
      httpStatus: r.statusCode,
      body: r.json ?? r.text,
      retryAfterMs: parseRetryAfter(r.headers['retry-after']),
    });
  }

  function toLookup(m: TwilioMessageJson): LookupResult {
    return {
      providerMessageId: m.sid,
      providerStatus: m.status,
      status: mapTwilioStatus(m.status) ?? 'sending',
      errorCode: m.error_code === null || m.error_code === undefined ? null : String(m.error_code),
    };
  }

  return {
    provider: 'twilio',
    account: account.name,

    async send(msg: OutboundMessage, sendOpts?: { signal?: AbortSignal }): Promise<SendResult> {
      const form = new URLSearchParams();
      form.set('To', msg.to);
      form.set('From', msg.from);
      form.set('Body', msg.body);
      if (msg.validitySeconds !== undefined) form.set('ValidityPeriod', String(Math.min(36_000, Math.max(1, Math.round(msg.validitySeconds)))));
      form.set('StatusCallback', `${publicUrl}/webhooks/twilio/status?m=${encodeURIComponent(msg.id)}`);
      for (const [k, v] of Object.entries(msg.passthrough ?? {})) form.set(k, v);
      const r = await call('POST', `${accountPath}/Messages.json`, form, sendOpts?.signal);
      if (r.statusCode !== 201 && r.statusCode !== 200) throw httpFailure(r);
      const m = r.json as Partial<TwilioMessageJson> | null;
      if (!m || typeof m.sid !== 'string' || typeof m.status !== 'string') {
        // The provider accepted something but we cannot read its id: it may well exist — look it up.
        throw new ProviderError('ambiguous', 'BAD_RESPONSE', `Twilio create returned ${r.statusCode} without a message sid`, { httpStatus: r.statusCode });
      }
      return { providerMessageId: m.sid, providerStatus: m.status, status: mapTwilioStatus(m.status) ?? 'sending' };
    },

    async lookup(q): Promise<LookupResult | null> {
      if (q.providerMessageId) {
        const r = await call('GET', `${accountPath}/Messages/${encodeURIComponent(q.providerMessageId)}.json`);
        if (r.statusCode === 404) return null;
        if (r.statusCode !== 200) throw httpFailure(r);
        const m = r.json as Partial<TwilioMessageJson> | null;
        if (!m || typeof m.sid !== 'string' || typeof m.status !== 'string') {
          throw new ProviderError('transient', 'BAD_RESPONSE', 'Twilio fetch returned 200 without a message sid/status', { httpStatus: r.statusCode });
        }
        return toLookup(m as TwilioMessageJson);
      }
      const params = new URLSearchParams({ To: q.to, From: q.from, PageSize: String(LOOKUP_PAGE_SIZE) });
      const r = await call('GET', `${accountPath}/Messages.json?${params.toString()}`);
      if (r.statusCode !== 200) throw httpFailure(r);
      const list = (r.json as { messages?: TwilioMessageJson[] } | null)?.messages;
      if (!Array.isArray(list)) throw new ProviderError('transient', 'BAD_RESPONSE', 'Twilio list response without `messages`', { httpStatus: r.statusCode });
      const floor = q.since - LOOKUP_SLACK_MS;
      let best: TwilioMessageJson | null = null;
      let bestAt = Infinity;
      for (const m of list) {
        if (!m || typeof m.sid !== 'string' || typeof m.status !== 'string' || m.body !== q.body) continue;
        const at = m.date_created ? Date.parse(m.date_created) : NaN;
        if (Number.isNaN(at) || at < floor) continue;
        // Earliest match at or after our submit: the one our (first) request created.
        if (at < bestAt) {
          best = m;
          bestAt = at;
        }
      }
      return best ? toLookup(best) : null;
    },

    async check(): Promise<{ ok: boolean; detail: string }> {
      try {
        const r = await call('GET', `${accountPath}.json`);
        if (r.statusCode === 200) {
          const a = r.json as { friendly_name?: string; status?: string } | null;
          return { ok: true, detail: `${base}: account ${account.accountSid} "${a?.friendly_name ?? ''}" ${a?.status ?? ''}`.trim() };
        }
        const e = httpFailure(r);
        return { ok: false, detail: `${base}: HTTP ${r.statusCode} code ${e.code}: ${e.message}` };
      } catch (err) {
        return { ok: false, detail: `${base}: ${err instanceof Error ? err.message : String(err)}` };
      }
    },
  };
}
