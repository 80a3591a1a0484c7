/**
 * Twilio webhook ingestion: `POST /webhooks/twilio/status` (status callbacks) and `POST /webhooks/twilio/inbound`
 * (incoming messages). A Fastify plugin registered *without* fastify-plugin, so its form-body parser and error
 * handler stay inside its own encapsulation context and the rest of the app keeps its JSON parsing.
 *
 * Every receipt is kept raw (`store.recordWebhook`), rejected ones too (signatureValid false), in this order:
 *   1. Content-Type must be application/x-www-form-urlencoded (415), body must parse (400 SB_WEBHOOK_MALFORMED).
 *   2. `AccountSid` must name a configured account (403 SB_WEBHOOK_ACCOUNT_UNKNOWN).
 *   3. X-Twilio-Signature must verify over `publicUrl + request.url` with that account's auth token
 *      (403 SB_WEBHOOK_SIGNATURE).
 *   4. Required fields (400 SB_WEBHOOK_MALFORMED with `field`).
 *   5. Recorded under a dedupe key; then applied (status: monotonic, see status-update.ts; inbound: stored once).
 * Answers: 204 for status callbacks, an empty TwiML `<Response/>` for inbound. No provider call happens inline.
 * Documented in docs/reference/webhooks.md.
 */
import { createHash } from 'node:crypto';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TwilioAccountConfig } from '../config/schema.ts';
import type { Clock } from '../domain/clock.ts';
import { newId, ulid } from '../domain/ids.ts';
import type { MessageRecord, NewEvent } from '../domain/message.ts';
import { SwitchboardError, type ErrorCode } from '../errors.ts';
import { twilioErrorMeaning } from '../providers/twilio/errors.ts';
import { verifyTwilioSignature } from '../providers/twilio/signature.ts';
import { mapTwilioStatus } from '../providers/twilio/status-map.ts';
import type { InboundRecord, NewOutboxRow, Store } from '../store/store.ts';
import { FormParseError, parseForm, single, type FormParams } from './form.ts';
import { decideStatusUpdate, type StatusCallback } from './status-update.ts';

type LogFn = (obj: Record<string, unknown>, msg?: string) => void;
export interface WebhookLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export interface TwilioWebhookOptions {
  store: Store;
  clock: Clock;
  /** Accounts whose webhooks are accepted; matched by `AccountSid`, verified with their `authToken`. */
  accounts: readonly TwilioAccountConfig[];
  /** The base URL Twilio calls (config `publicUrl`); signatures are verified over `publicUrl + request.url`. */
  publicUrl: string;
  log?: WebhookLogger;
  /** After a status callback was recorded on a message's timeline (applied or not; see `event.detail.applied`). */
  onStatus?(message: MessageRecord, event: NewEvent): void;
  /** After a new inbound message was stored (not for duplicates). Awaited; an error is logged, Twilio still gets 200. */
  onInbound?(record: InboundRecord): Promise<void> | void;
  /**
   * A duplicate of an inbound message whose handling never completed (stored, then a crash before the handler marked
   * it handled): the stored record, to handle again. Default: `onInbound`. Awaited; an error is logged.
   */
  resumeInbound?(record: InboundRecord): Promise<void> | void;
  /**
   * App events (`message.status` outbox rows) for a status callback about to be applied: `next` is the message as it
   * will be. They are written in the same transaction as the status change, so a crash cannot lose them.
   */
  statusOutbox?(next: MessageRecord, event: NewEvent): Promise<readonly NewOutboxRow[]>;
  /** Largest accepted body in bytes (default 256 KiB). */
  bodyLimit?: number;
}

export const TWILIO_STATUS_PATH = '/webhooks/twilio/status';
export const TWILIO_INBOUND_PATH = '/webhooks/twilio/inbound';
export const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

const FORM_TYPE = 'application/x-www-form-urlencoded';
const DEFAULT_BODY_LIMIT = 256 * 1024;
/** A compare-and-set lost to a concurrent writer is re-decided on the fresh record at most this many times. */
const MAX_CAS_ROUNDS = 4;

type Kind = 'status' | 'inbound';

/** Reject with a catalogue error after the receipt has been kept. */
class Rejection extends Error {
  readonly error: SwitchboardError;
  constructor(error: SwitchboardError) {
    super(error.message);
    this.error = error;
  }
}

const noop: LogFn = () => {};

/** Headers kept with a valid receipt: only what the raw body does not already say (Twilio's retry token). */
const KEPT_HEADERS = ['i-twilio-idempotency-token'] as const;
/** Headers kept (truncated) with a rejected receipt, to tell a misconfigured sender from a forgery. */
const REJECTED_HEADERS = ['content-type', 'user-agent', 'x-forwarded-for', 'i-twilio-idempotency-token'] as const;
const REJECTED_HEADER_MAX = 200;

function headerValue(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}

function keptHeaders(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const v = headerValue(req, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/**
 * What is kept of a receipt refused before its signature verified: never its body (an unsigned request can be
 * anything, of any size), only its size, its SHA-256 and why it was refused, with a few short headers.
 */
function rejectedSummary(req: FastifyRequest, rawBody: string, code: ErrorCode): Record<string, string> {
  const out: Record<string, string> = {
    'x-switchboard-rejected': code,
    'x-switchboard-body-bytes': String(Buffer.byteLength(rawBody, 'utf8')),
    'x-switchboard-body-sha256': createHash('sha256').update(rawBody, 'utf8').digest('hex'),
  };
  for (const name of REJECTED_HEADERS) {
    const v = headerValue(req, name);
    if (v !== undefined) out[name] = v.slice(0, REJECTED_HEADER_MAX);
  }
  if (req.headers['x-twilio-signature'] !== undefined) out['x-twilio-signature'] = 'present';
  return out;
}

function mediaType(req: FastifyRequest): string {
  const ct = req.headers['content-type'];
  return (ct ?? '').split(';')[0]!.trim().toLowerCase();
}

function err(code: ErrorCode, message?: string, field?: string): Rejection {
  return new Rejection(new SwitchboardError(code, { message, field }));
}

function required(params: FormParams, name: string, ...fallbacks: string[]): string {
  for (const n of [name, ...fallbacks]) {
    const v = single(params, n);
    if (v !== undefined && v.trim() !== '') return v;
  }
  throw err('SB_WEBHOOK_MALFORMED', `Missing form field ${name}`, name);
}

export const twilioWebhookRoutes: FastifyPluginAsync<TwilioWebhookOptions> = async (app, opts) => {
  const { store, clock } = opts;
  const log: WebhookLogger = opts.log ?? (app.log as unknown as WebhookLogger) ?? { debug: noop, info: noop, warn: noop, error: noop };
  const publicUrl = opts.publicUrl.replace(/\/+$/, '');
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;

  // Scoped to this plugin: keep the raw body as a string, whatever the type; the handler decides what it accepts.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error: FastifyError, req, reply) => {
    if (error instanceof SwitchboardError) return reply.code(error.status).send(error.toBody());
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const e = new SwitchboardError('SB_BODY_TOO_LARGE', { message: `Webhook body exceeds ${bodyLimit} bytes` });
      return reply.code(e.status).send(e.toBody());
    }
    if (error.statusCode === 415) {
      const e = new SwitchboardError('SB_UNSUPPORTED_MEDIA_TYPE', { message: `Twilio webhooks are ${FORM_TYPE}` });
      return reply.code(e.status).send(e.toBody());
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      const e = new SwitchboardError('SB_WEBHOOK_MALFORMED', { message: error.message });
      return reply.code(e.status).send(e.toBody());
    }
    log.error({ err: error, url: req.url }, 'webhook ingestion failed');
    // 5xx on purpose: Twilio retries, and the receipt is deduplicated when it comes back.
    const e = new SwitchboardError('SB_INTERNAL');
    return reply.code(e.status).send(e.toBody());
  });

  /**
   * Steps 1–4 of the module comment; keeps every receipt. Returns the params and the accounts (same AccountSid)
   * whose token verified, or throws a Rejection after recording the receipt.
   */
  async function admit(req: FastifyRequest, kind: Kind): Promise<{ params: FormParams; accounts: TwilioAccountConfig[]; receipt: Omit<Parameters<Store['recordWebhook']>[0], 'dedupeKey' | 'signatureValid'> }> {
    const now = clock.now();
    const rawBody = typeof req.body === 'string' ? req.body : '';
    const url = publicUrl + req.url;
    const receipt = { provider: 'twilio', kind, receivedAt: now, url, headers: keptHeaders(req), rawBody };
    // Refused before the signature verified: a small record (why, size, hash), not the body or its headers.
    const reject = async (rejection: Rejection, signatureValid: boolean): Promise<never> => {
      const headers = rejectedSummary(req, rawBody, rejection.error.code);
      await store.recordWebhook({ ...receipt, headers, rawBody: '', dedupeKey: `twilio:${kind}:rejected:${ulid(now)}`, signatureValid });
      log.warn({ kind, url, code: rejection.error.code, message: rejection.message }, 'webhook rejected');
      throw rejection;
    };

    if (mediaType(req) !== FORM_TYPE) {
      return reject(err('SB_UNSUPPORTED_MEDIA_TYPE', `Twilio webhooks are ${FORM_TYPE}`), false);
    }
    let params: FormParams;
    let accountSid: string;
    try {
      params = parseForm(rawBody);
      accountSid = required(params, 'AccountSid');
    } catch (e) {
      if (e instanceof FormParseError) return reject(err('SB_WEBHOOK_MALFORMED', e.message), false);
      if (e instanceof Rejection) return reject(e, false);
      throw e;
    }
    const candidates = opts.accounts.filter((a) => a.accountSid === accountSid);
    if (candidates.length === 0) {
      return reject(err('SB_WEBHOOK_ACCOUNT_UNKNOWN', `No configured account has AccountSid ${accountSid}`, 'AccountSid'), false);
    }
    const header = req.headers['x-twilio-signature'];
    const signature = typeof header === 'string' ? header : undefined;
    const verified = candidates.filter((a) => verifyTwilioSignature(a.authToken, signature, url, params));
    if (verified.length === 0) {
      return reject(
        err('SB_WEBHOOK_SIGNATURE', signature ? `X-Twilio-Signature does not match ${url}` : 'Missing X-Twilio-Signature header'),
        false,
      );
    }
    return { params, accounts: verified, receipt };
  }

  async function handle(req: FastifyRequest, reply: FastifyReply, kind: Kind): Promise<void> {
    try {
      const { params, accounts, receipt } = await admit(req, kind);
      if (kind === 'status') await ingestStatus(req, params, accounts, receipt);
      else await ingestInbound(params, accounts, receipt);
    } catch (e) {
      if (e instanceof Rejection) {
        await reply.code(e.error.status).send(e.error.toBody());
        return;
      }
      throw e;
    }
    if (kind === 'status') await reply.code(204).send();
    else await reply.code(200).type('text/xml; charset=utf-8').send(EMPTY_TWIML);
  }

  type Receipt = Awaited<ReturnType<typeof admit>>['receipt'];

  /** Fields checked after the signature: a malformed but authentic receipt is kept (valid signature) and refused. */
  async function fields<T>(receipt: Receipt, read: () => T): Promise<T> {
    try {
      return read();
    } catch (e) {
      const rejection = e instanceof FormParseError ? err('SB_WEBHOOK_MALFORMED', e.message) : e;
      if (!(rejection instanceof Rejection)) throw e;
      await store.recordWebhook({
        ...receipt,
        headers: { ...receipt.headers, 'x-switchboard-rejected': rejection.error.code },
        dedupeKey: `twilio:${receipt.kind}:rejected:${ulid(receipt.receivedAt)}`,
        signatureValid: true,
      });
      log.warn({ kind: receipt.kind, url: receipt.url, code: rejection.error.code, message: rejection.message }, 'webhook rejected');
      throw rejection;
    }
  }

  // ---------------------------------------------------------------- status

  async function ingestStatus(req: FastifyRequest, params: FormParams, accounts: TwilioAccountConfig[], receipt: Receipt): Promise<void> {
    const f = await fields(receipt, () => {
      const providerMessageId = required(params, 'MessageSid', 'SmsSid');
      const providerStatus = required(params, 'MessageStatus', 'SmsStatus');
      const errorCode = single(params, 'ErrorCode')?.trim() || null;
      return { providerMessageId, providerStatus, errorCode, rawDlrDoneDate: single(params, 'RawDlrDoneDate') ?? null };
    });
    const dedupeKey = `twilio:status:${f.providerMessageId}:${f.providerStatus}:${f.errorCode ?? ''}`;
    const { duplicate } = await store.recordWebhook({ ...receipt, dedupeKey, signatureValid: true });
    const now = receipt.receivedAt;

    const query = req.query as Record<string, unknown> | undefined;
    const hinted = typeof query?.m === 'string' && query.m !== '' ? query.m : null;
    const names = new Set(accounts.map((a) => a.name));
    let m: MessageRecord | null = hinted ? await store.getMessage(hinted) : null;
    if (m && m.provider !== 'twilio') m = null;
    if (!m) m = await store.findByProviderId('twilio', f.providerMessageId);
    if (!m || !names.has(m.account)) {
      log.warn(
        { providerMessageId: f.providerMessageId, providerStatus: f.providerStatus, messageId: hinted, account: m?.account ?? null },
        m ? 'status callback for a message of another account; kept raw, not applied' : 'status callback for an unknown message; kept raw',
      );
      return;
    }

    const cb: StatusCallback = {
      providerMessageId: f.providerMessageId,
      providerStatus: f.providerStatus,
      mapped: mapTwilioStatus(f.providerStatus),
      errorCode: f.errorCode,
      errorMessage: twilioErrorMeaning(f.errorCode) ?? (f.errorCode ? `Twilio error ${f.errorCode}` : null),
    };
    const baseDetail: Record<string, unknown> = {
      providerMessageId: f.providerMessageId,
      providerStatus: f.providerStatus,
      errorCode: f.errorCode,
      ...(f.rawDlrDoneDate ? { rawDlrDoneDate: f.rawDlrDoneDate } : {}),
      ...(duplicate ? { redelivered: true } : {}),
    };

    for (let round = 0; round < MAX_CAS_ROUNDS && m; round++) {
      const d = decideStatusUpdate(m, cb, now);
      if (d.action === 'record') {
        // A duplicate that changes nothing leaves no second trace on the timeline (the raw receipt is kept).
        if (duplicate) return;
        const event: NewEvent = {
          messageId: m.id,
          type: 'status',
          status: cb.mapped,
          at: now,
          detail: { ...baseDetail, applied: false, reason: d.reason, current: m.status },
        };
        await store.appendEvent(event);
        log.info({ messageId: m.id, providerStatus: f.providerStatus, current: m.status, reason: d.reason }, 'status callback recorded, not applied');
        fire(m, event);
        return;
      }
      if (d.action === 'refresh' && duplicate) return;
      const event: NewEvent = {
        messageId: m.id,
        type: 'status',
        status: cb.mapped,
        at: now,
        detail: d.action === 'advance' ? { ...baseDetail, applied: true, from: m.status } : { ...baseDetail, applied: false, reason: 'unchanged', current: m.status },
      };
      const outbox = d.action === 'advance' && opts.statusOutbox ? await opts.statusOutbox({ ...m, ...d.patch, updatedAt: now }, event) : undefined;
      const updated = await store.transition({ id: m.id, from: d.from, patch: d.patch, now, event, ...(outbox && outbox.length > 0 ? { outbox } : {}) });
      if (updated) {
        log.debug({ messageId: m.id, providerStatus: f.providerStatus, status: updated.status }, 'status callback applied');
        fire(updated, event);
        return;
      }
      // Someone else moved the message in between (dispatcher, another callback): decide again on the fresh record.
      m = await store.getMessage(m.id);
    }
    if (m) log.warn({ messageId: m.id, providerStatus: f.providerStatus }, 'status callback lost every compare-and-set round; kept raw only');
  }

  function fire(m: MessageRecord, e: NewEvent): void {
    if (!opts.onStatus) return;
    try {
      opts.onStatus(m, e);
    } catch (error) {
      log.error({ err: error, messageId: m.id }, 'onStatus hook threw');
    }
  }

  // ---------------------------------------------------------------- inbound

  async function ingestInbound(params: FormParams, accounts: TwilioAccountConfig[], receipt: Receipt): Promise<void> {
    const f = await fields(receipt, () => {
      const providerMessageId = required(params, 'MessageSid', 'SmsMessageSid', 'SmsSid');
      const from = required(params, 'From');
      const to = required(params, 'To');
      const body = single(params, 'Body') ?? '';
      const numMediaRaw = single(params, 'NumMedia')?.trim() || '0';
      if (!/^\d{1,2}$/.test(numMediaRaw)) throw err('SB_WEBHOOK_MALFORMED', `NumMedia must be a small integer, got ${JSON.stringify(numMediaRaw)}`, 'NumMedia');
      const numMedia = Number(numMediaRaw);
      const mediaUrls: string[] = [];
      for (let i = 0; i < numMedia; i++) {
        const u = single(params, `MediaUrl${i}`);
        if (u === undefined || u === '') throw err('SB_WEBHOOK_MALFORMED', `NumMedia is ${numMedia} but MediaUrl${i} is missing`, `MediaUrl${i}`);
        mediaUrls.push(u);
      }
      const keyword = single(params, 'OptOutType')?.trim().toUpperCase() || null;
      return { providerMessageId, from, to, body, numMedia, mediaUrls, keyword };
    });
    await store.recordWebhook({ ...receipt, dedupeKey: `twilio:inbound:${f.providerMessageId}`, signatureValid: true });
    const record: InboundRecord = {
      id: newId('in', receipt.receivedAt),
      provider: 'twilio',
      // Several configured accounts may share an AccountSid: prefer the one that owns the number written to.
      account: (accounts.find((a) => a.senders.some((s) => s.from === f.to)) ?? accounts[0]!).name,
      providerMessageId: f.providerMessageId,
      from: f.from,
      to: f.to,
      body: f.body,
      numMedia: f.numMedia,
      mediaUrls: f.mediaUrls,
      providerKeyword: f.keyword,
      receivedAt: receipt.receivedAt,
    };
    // Dedupe on (provider, MessageSid) in the store, not on the receipt: a retry after a crash between the two
    // writes still stores the message once.
    const { duplicate, unhandled } = await store.insertInbound(record);
    if (duplicate) {
      if (!unhandled) {
        log.debug({ providerMessageId: f.providerMessageId }, 'duplicate inbound message ignored');
        return;
      }
      // Stored by an earlier delivery whose handling never completed (a crash in between): handle it now.
      log.info({ inboundId: unhandled.id, providerMessageId: f.providerMessageId }, 'inbound message redelivered before it was handled; handling it');
      const resume = opts.resumeInbound ?? opts.onInbound;
      if (resume) {
        try {
          await resume(unhandled);
        } catch (error) {
          log.error({ err: error, inboundId: unhandled.id }, 'resumed inbound handling failed; the message is stored and will be retried');
        }
      }
      return;
    }
    log.info({ inboundId: record.id, providerMessageId: f.providerMessageId, account: record.account }, 'inbound message stored');
    if (opts.onInbound) {
      try {
        await opts.onInbound(record);
      } catch (error) {
        log.error({ err: error, inboundId: record.id }, 'onInbound hook failed; the message is stored');
      }
    }
  }

  // Schema metadata only (for /openapi.json): the form body is parsed and checked by the handler, not by Ajv.
  const doc = (summary: string, description: string) => ({ schema: { tags: ['webhooks'], summary, description } });
  app.post(
    TWILIO_STATUS_PATH,
    doc(
      'Twilio status callback',
      'Form-encoded, signed with X-Twilio-Signature over publicUrl + path + query. `?m=` carries the Switchboard message id. 204 on success; 403 SB_WEBHOOK_SIGNATURE / SB_WEBHOOK_ACCOUNT_UNKNOWN; 400 SB_WEBHOOK_MALFORMED; 415.',
    ),
    (req, reply) => handle(req, reply, 'status'),
  );
  app.post(
    TWILIO_INBOUND_PATH,
    doc(
      'Twilio inbound message',
      'Form-encoded, signed with X-Twilio-Signature. Stored once per MessageSid; answered 200 with an empty TwiML <Response/> (text/xml).',
    ),
    (req, reply) => handle(req, reply, 'inbound'),
  );
};
