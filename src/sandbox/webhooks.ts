/**
 * Webhooks out, as Twilio sends them: form-encoded POST, `X-Twilio-Signature` over the URL (fragment removed) and
 * the params, `I-Twilio-Idempotency-Token` (the same on retries), connection overrides from the URL fragment
 * (`#ct=…&rt=…&tt=…&rc=…&rp=…`), and TwiML replies parsed from inbound-webhook responses.
 */
import { randomUUID } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';
import { computeTwilioSignature } from '../providers/twilio/signature.ts';

export interface ConnectionOverrides {
  /** Connect timeout (ms), 100–10000, default 5000. */
  ct: number;
  /** Read timeout (ms), 100–15000, default 15000. */
  rt: number;
  /** Total time (ms), 100–15000, default 15000. */
  tt: number;
  /** Retries after the first attempt, 0–5, default 1. */
  rc: number;
  /** Which failures are retried: connection failures and timeouts always; `4xx`/`5xx`/`all` add HTTP statuses. */
  rp: string[];
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The overrides of a URL without a fragment (shared: read only). */
const DEFAULT_OVERRIDES: Readonly<ConnectionOverrides> = Object.freeze({ ct: 5_000, rt: 15_000, tt: 15_000, rc: 1, rp: Object.freeze(['ct', 'rt']) as string[] });

/** Split `https://host/path?q#ct=1000&rc=3` into the URL Twilio requests (and signs) and the overrides. */
export function parseWebhookUrl(raw: string): { url: string; overrides: ConnectionOverrides } {
  const hash = raw.indexOf('#');
  if (hash < 0) return { url: raw, overrides: DEFAULT_OVERRIDES };
  const url = raw.slice(0, hash);
  const frag = new URLSearchParams(raw.slice(hash + 1));
  const num = (k: string, def: number, lo: number, hi: number) => {
    const v = frag.get(k);
    const n = v === null ? NaN : Number(v);
    return Number.isFinite(n) ? clamp(Math.round(n), lo, hi) : def;
  };
  return {
    url,
    overrides: {
      ct: num('ct', DEFAULT_OVERRIDES.ct, 100, 10_000),
      rt: num('rt', DEFAULT_OVERRIDES.rt, 100, 15_000),
      tt: num('tt', DEFAULT_OVERRIDES.tt, 100, 15_000),
      rc: num('rc', DEFAULT_OVERRIDES.rc, 0, 5),
      rp: (frag.get('rp') ?? 'ct,rt').split(',').map((s) => s.trim()).filter(Boolean),
    },
  };
}

export interface WebhookAttemptResult {
  ok: boolean;
  /** HTTP status, or null when the connection failed / timed out. */
  status: number | null;
  body: string;
  contentType: string;
  error?: string;
}

export interface SignedWebhook {
  /** The URL as configured (may carry a `#…` overrides fragment). */
  url: string;
  params: Record<string, string>;
  authToken: string;
  idempotencyToken?: string;
}

/** One delivery attempt (no retries). Never throws. */
export class WebhookSender {
  private agents = new Map<number, Agent>();

  private agent(connectTimeout: number): Agent {
    let a = this.agents.get(connectTimeout);
    if (!a) {
      a = new Agent({ connect: { timeout: connectTimeout }, keepAliveTimeout: 4_000, connections: 64 });
      this.agents.set(connectTimeout, a);
    }
    return a;
  }

  /**
   * One POST, through undici's dispatcher directly: no AbortController, no response stream, the body collected as
   * it comes. The total time (`tt`) aborts the request wherever it is (still queued for a connection, or under way).
   */
  attempt(hook: SignedWebhook, token: string): Promise<WebhookAttemptResult> {
    const { url, overrides } = parseWebhookUrl(hook.url);
    return new Promise<WebhookAttemptResult>((resolve) => {
      let settled = false;
      let controller: Dispatcher.DispatchController | null = null;
      let expired: Error | null = null;
      let status = 0;
      let contentType = '';
      const chunks: Buffer[] = [];
      const fail = (e: unknown) => finish({ ok: false, status: null, body: '', contentType: '', error: e instanceof Error ? e.message : String(e) });
      const finish = (r: WebhookAttemptResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(total);
        resolve(r);
      };
      const total = setTimeout(() => {
        expired = new Error(`total time ${overrides.tt} ms exceeded`);
        if (controller) controller.abort(expired);
        else fail(expired); // still waiting for a connection: aborted as soon as it gets one
      }, overrides.tt);
      let target: URL;
      try {
        target = new URL(url);
      } catch (e) {
        fail(e);
        return;
      }
      const body = new URLSearchParams(hook.params).toString();
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          if (expired) c.abort(expired);
        },
        onResponseStart(_c, statusCode, headers) {
          status = statusCode;
          const ct = headers['content-type'];
          contentType = (Array.isArray(ct) ? ct[0] : ct) ?? '';
        },
        onResponseData(_c, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          finish({ ok: status >= 200 && status < 300, status, body: chunks.length === 0 ? '' : Buffer.concat(chunks).toString('utf8'), contentType });
        },
        onResponseError(_c, err) {
          fail(err);
        },
      };
      try {
        this.agent(overrides.ct).dispatch(
          {
            origin: target.origin,
            path: `${target.pathname}${target.search}`,
            method: 'POST',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              'x-twilio-signature': computeTwilioSignature(hook.authToken, url, hook.params),
              'i-twilio-idempotency-token': token,
              'user-agent': 'TwilioProxy/1.1',
              'x-home-region': 'us1',
              accept: '*/*',
            },
            body,
            headersTimeout: overrides.rt,
            bodyTimeout: overrides.rt,
          },
          handler,
        );
      } catch (e) {
        fail(e);
      }
    });
  }

  /** Whether a failed attempt is retried under the URL's retry policy. */
  static retryable(r: WebhookAttemptResult, rp: string[]): boolean {
    if (r.ok) return false;
    if (r.status === null) return true;
    if (rp.includes('all')) return true;
    if (r.status >= 500) return rp.includes('5xx');
    if (r.status >= 400) return rp.includes('4xx');
    return false;
  }

  newToken(): string {
    return randomUUID();
  }

  /** Let in-flight webhooks finish for up to `graceMs`, then cut them off. */
  async close(graceMs = 1_000): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(
      agents.map(async (a) => {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
        await Promise.race([a.close().catch(() => undefined), grace]);
        clearTimeout(timer);
        await a.destroy().catch(() => undefined);
      }),
    );
  }
}

export interface TwimlReply {
  body: string;
  mediaUrls: string[];
  to?: string;
  from?: string;
}

function decodeXml(s: string): string {
  return s
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function attr(attrs: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(attrs);
  return m ? decodeXml(m[2] ?? m[3] ?? '') : undefined;
}

/**
 * Messages to send back from an inbound webhook's response: TwiML `<Response><Message>…</Message></Response>`
 * (text, or `<Body>`/`<Media>` children; `to`/`from` attributes), or a `text/plain` body sent as one reply.
 */
export function parseWebhookReply(body: string, contentType: string): TwimlReply[] {
  const text = body.trim();
  if (!text) return [];
  if (/^text\/plain/i.test(contentType)) return [{ body: text, mediaUrls: [] }];
  if (!/<Response[\s>/]/.test(text)) return [];
  const out: TwimlReply[] = [];
  const re = /<Message\b([^>]*?)(?:\/>|>([\s\S]*?)<\/Message>)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const attrs = m[1] ?? '';
    // CDATA sections become escaped text first, so tag stripping below cannot eat them.
    const inner = (m[2] ?? '').replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_, t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    const mediaUrls: string[] = [];
    for (const mm of inner.matchAll(/<Media\b[^>]*>([\s\S]*?)<\/Media>/g)) mediaUrls.push(decodeXml(mm[1]!.trim()));
    const bodyEl = /<Body\b[^>]*>([\s\S]*?)<\/Body>/.exec(inner);
    const msgBody = bodyEl ? decodeXml(bodyEl[1]!) : decodeXml(inner.replace(/<Media\b[^>]*>[\s\S]*?<\/Media>/g, '').replace(/<[^>]+>/g, ''));
    const reply: TwimlReply = { body: msgBody.trim(), mediaUrls };
    const to = attr(attrs, 'to');
    const from = attr(attrs, 'from');
    if (to) reply.to = to;
    if (from) reply.from = from;
    if (reply.body || reply.mediaUrls.length) out.push(reply);
  }
  return out;
}
