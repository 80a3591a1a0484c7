/**
 * The sandbox carrier's state and behaviour, without HTTP: accounts, API keys, numbers, Messaging Services,
 * messages and their status progression, per-sender queues, opt-outs, virtual phones, webhooks out and faults.
 * The Fastify plugin (plugin.ts) maps Twilio's REST API onto these methods; tests may drive it directly.
 *
 * Time: everything reads `clock.now()`; later work is a task in a clock-driven DueQueue (see scheduler.ts).
 */
import { systemClock, type Clock } from '../domain/clock.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../config/schema.ts';
import { countSegments } from '../pipeline/segments.ts';
import { FaultRegistry } from './faults.ts';
import { DueQueue } from './scheduler.ts';
import { TwilioApiError, newSecret, rawDlrDoneDate, seededRandom, sidFactory } from './format.ts';
import {
  ASYNC_ERROR_MESSAGES,
  KEYWORD_REPLIES,
  SANDBOX_NUMBERS,
  TEST_CREDENTIALS_VALID_FROM,
  TOLL_FREE_STOP_REPLY,
  classifyKeyword,
  guessSenderType,
  invalidTo,
  isAddress,
  isSender,
  magicFromError,
  magicToError,
  notOwned,
  optedOut,
  queueFull,
  type SyncError,
} from './magic.ts';
import { WebhookSender, parseWebhookReply, parseWebhookUrl, type WebhookAttemptResult } from './webhooks.ts';

export type SandboxSenderType = 'long_code' | 'toll_free' | 'short_code' | 'alphanumeric' | 'whatsapp';

export type MessageStatus =
  | 'queued'
  | 'sending'
  | 'sent'
  | 'failed'
  | 'delivered'
  | 'undelivered'
  | 'receiving'
  | 'received'
  | 'accepted'
  | 'scheduled'
  | 'read'
  | 'canceled';

export interface SandboxAccountSpec {
  sid: string;
  authToken: string;
  friendlyName?: string;
}

export interface SandboxNumberSpec {
  phoneNumber: string;
  /** Owning account; default: the first configured account. */
  accountSid?: string;
  type?: SandboxSenderType;
  /** Where inbound messages to this number are POSTed (Twilio's SmsUrl). */
  smsUrl?: string | null;
  /** Segments per second for this sender (default: by type, see `SandboxOptions.mps`). */
  mps?: number;
  /**
   * Twilio's default opt-out filtering on this number (default true): the carrier blocks/unblocks on STOP/START and
   * replies to STOP/START/HELP itself, and a service with Advanced Opt-Out adds `OptOutType`. `false` is what Twilio
   * support does on request ("disable default opt-out filtering"): keywords reach the webhook as ordinary messages.
   * Toll-free numbers keep the network-level STOP/START/UNSTOP layer, which Twilio cannot remove.
   */
  keywordFiltering?: boolean;
}

export interface SandboxLatency {
  /** Clock ms from leaving the sender queue to `sending`. */
  sendingMs: number;
  /** … to `sent` (or `failed`). */
  sentMs: number;
  /** … to `delivered` / `undelivered`. */
  deliveredMs: number;
}

export interface SandboxOptions {
  clock?: Clock;
  /** Seed for outcome draws (and for SIDs when `deterministicSids`). Default 1. */
  seed?: number;
  /** SIDs derived from the seed only (identical across runs). Default false: SIDs are unique per process. */
  deterministicSids?: boolean;
  latency?: Partial<SandboxLatency>;
  /** Random outcomes for ordinary recipients (0–1 each). Default 0: everything is delivered. */
  outcomes?: { undeliveredRate?: number; failedRate?: number };
  /** Live-style accounts. Default: SANDBOX_ACCOUNT_SID / SANDBOX_AUTH_TOKEN. */
  accounts?: SandboxAccountSpec[];
  /** Twilio-style test credentials (magic numbers only, nothing stored, no callbacks). `false` disables. */
  testCredentials?: SandboxAccountSpec | false;
  numbers?: SandboxNumberSpec[];
  /** Segments per second per sender type (long code 1, toll-free 3, short code 100, alphanumeric 10, WhatsApp 80). */
  mps?: Partial<Record<SandboxSenderType, number>>;
  /** Queue capacity in hours of sending at the sender's MPS (Twilio: 10). */
  queueHours?: number;
  /** Reject `From` values the account does not own with 21606. Default false: unknown senders are provisioned on first use. */
  strictSenders?: boolean;
  /** Scheduling window for `SendAt` (seconds ahead). Default 300 … 3,024,000 (35 days). */
  scheduling?: { minLeadS?: number; maxLeadS?: number };
  /** Clock ms before a failed webhook attempt is retried. Default 1000. */
  webhookRetryDelayMs?: number;
  /** Messages kept; beyond it the oldest finished ones are forgotten (fetch → 20404). Default 200,000. */
  messageLimit?: number;
  /** Most recent submissions / webhook records kept (older ones are dropped). Default 50,000 each; 1,000 per handset. */
  historyLimit?: number;
  /** Real ms between due-task checks when the clock is not the system clock. Default 10. */
  pollMs?: number;
  log?: { warn: (obj: Record<string, unknown>, msg?: string) => void };
}

export interface SandboxAccount {
  sid: string;
  authToken: string;
  friendlyName: string;
  ownerSid: string;
  status: 'active' | 'suspended' | 'closed';
  type: 'Trial' | 'Full';
  /** Twilio-style test credentials. */
  test: boolean;
  dateCreated: number;
  dateUpdated: number;
}

export interface SandboxKey {
  sid: string;
  secret: string;
  friendlyName: string;
  accountSid: string;
  dateCreated: number;
  dateUpdated: number;
}

export interface SandboxNumber {
  /** PN… (phone numbers) or SC… (short codes). */
  sid: string;
  phoneNumber: string;
  accountSid: string;
  type: SandboxSenderType;
  smsUrl: string | null;
  /** Per-number MPS override (null: by type). */
  mps: number | null;
  friendlyName: string;
  serviceSid: string | null;
  /** Twilio's default opt-out filtering (see `SandboxNumberSpec.keywordFiltering`). */
  keywordFiltering: boolean;
  dateCreated: number;
  dateUpdated: number;
}

export interface SandboxService {
  sid: string;
  accountSid: string;
  friendlyName: string;
  inboundRequestUrl: string | null;
  inboundMethod: 'GET' | 'POST';
  fallbackUrl: string | null;
  fallbackMethod: 'GET' | 'POST';
  statusCallback: string | null;
  stickySender: boolean;
  mmsConverter: boolean;
  smartEncoding: boolean;
  scanMessageContent: 'inherit' | 'enable' | 'disable';
  fallbackToLongCode: boolean;
  areaCodeGeomatch: boolean;
  synchronousValidation: boolean;
  validityPeriod: number;
  usecase: string;
  usAppToPersonRegistered: boolean;
  useInboundWebhookOnNumber: boolean;
  /** Sandbox switch (Twilio sets it in the console): adds `OptOutType` to inbound webhooks. */
  advancedOptOut: boolean;
  dateCreated: number;
  dateUpdated: number;
  /** Sticky sender: recipient → sender. */
  sticky: Map<string, string>;
}

export interface SandboxMedia {
  sid: string;
  url: string;
  contentType: string;
  dateCreated: number;
}

export interface SandboxMessage {
  sid: string;
  accountSid: string;
  messagingServiceSid: string | null;
  from: string | null;
  to: string;
  body: string;
  status: MessageStatus;
  direction: 'inbound' | 'outbound-api' | 'outbound-reply';
  numSegments: number;
  encoding: 'GSM-7' | 'UCS-2';
  media: SandboxMedia[];
  errorCode: number | null;
  errorMessage: string | null;
  price: string | null;
  priceUnit: string;
  dateCreated: number;
  dateUpdated: number;
  dateSent: number | null;
  statusCallback: string | null;
  validityPeriodS: number;
  sendAt: number | null;
  smartEncoded: boolean;
  /** Creation order (ties in date_created keep insertion order). */
  seq: number;
}

export interface Submission {
  /** Form params (first value of repeated keys). */
  params: Record<string, string>;
  /** Every value of every key. */
  paramsAll: Record<string, string[]>;
  accountSid: string;
  receivedAt: number;
  /** How it was answered (set once known). */
  response?: { status: number; sid?: string; code?: number; fault?: string };
}

export interface CallbackAttempt {
  at: number;
  status: number | null;
  error?: string;
}

export interface CallbackRecord {
  id: number;
  kind: 'status' | 'inbound';
  url: string;
  params: Record<string, string>;
  token: string;
  createdAt: number;
  attempts: CallbackAttempt[];
  /** What a callback fault did to it. */
  fault?: 'dropped' | 'duplicate' | 'delayed' | 'reordered';
  state: 'pending' | 'delivered' | 'failed' | 'dropped';
}

export interface PhoneEntry {
  sid: string;
  /** `received`: delivered to this handset; `sent`: sent from it. */
  direction: 'received' | 'sent';
  from: string;
  to: string;
  body: string;
  mediaUrls: string[];
  at: number;
}

export interface ReplyInput {
  /** The virtual handset sending. */
  from: string;
  /** The sandbox number it texts. */
  to: string;
  body: string;
  mediaUrl?: string | string[];
}

export interface ReplyResult {
  /** The inbound message created. */
  message: SandboxMessage;
  /** Webhook delivery outcome, or null when the number has no webhook. */
  webhook: { url: string; status: number | null; error?: string } | null;
  /** Messages sent back to the handset (TwiML replies, keyword auto-replies). */
  replies: SandboxMessage[];
  /** The keyword the carrier acted on (null when it left the message alone, e.g. `keywordFiltering` off). */
  keyword: 'stop' | 'start' | 'help' | null;
}

export type Form = Record<string, string | string[] | undefined>;

export interface Principal {
  account: SandboxAccount;
  /** The key used, when authenticated with an API key. */
  keySid: string | null;
}

/** Segments per second per sender type when neither the number nor `SandboxOptions.mps` says otherwise. */
export const DEFAULT_SANDBOX_MPS: Readonly<Record<SandboxSenderType, number>> = { long_code: 1, toll_free: 3, short_code: 100, alphanumeric: 10, whatsapp: 80 };
/** Every sender type, in the order the docs list them. */
export const SANDBOX_SENDER_TYPES = Object.keys(DEFAULT_SANDBOX_MPS) as readonly SandboxSenderType[];
export const DEFAULT_SANDBOX_LATENCY: Readonly<SandboxLatency> = { sendingMs: 50, sentMs: 200, deliveredMs: 800 };
export const SANDBOX_TEST_ACCOUNT_SID = 'AC00000000000000000000000000000009';
export const SANDBOX_TEST_AUTH_TOKEN = 'sandbox0test0token00000000000000';
export const DEFAULT_SANDBOX_NUMBERS: readonly { phoneNumber: string; type: SandboxSenderType }[] = [
  { phoneNumber: '+15005550006', type: 'long_code' },
  { phoneNumber: '+18005550100', type: 'toll_free' },
  { phoneNumber: '55501', type: 'short_code' },
];
const TERMINAL: ReadonlySet<MessageStatus> = new Set(['delivered', 'undelivered', 'failed', 'canceled', 'read', 'received']);

/**
 * ASCII characters of GSM-7's basic set: each is one grapheme and one septet, and Smart Encoding leaves it alone
 * (no backtick, tab, control characters or the extension table's ^ { } \\ [ ~ ] |).
 */
const PLAIN_GSM = /^[\n\r !"#$%&'()*+,\-./0-9:;<=>?@A-Z_a-z]*$/;

/**
 * `countSegments` with a shortcut for the common plain-ASCII body (no grapheme split needed: one septet per
 * character, segments filled 160 / 153). Same result as `countSegments` for every body (exported for tests).
 */
export function segmentsOf(body: string, smartEncode: boolean): { segments: number; encoding: 'GSM-7' | 'UCS-2'; body: string } {
  if (PLAIN_GSM.test(body)) return { segments: body.length <= 160 ? 1 : Math.ceil(body.length / 153), encoding: 'GSM-7', body };
  return countSegments(body, { smartEncode });
}

/** Entries kept per virtual handset. */
const PHONE_HISTORY = 1_000;

/**
 * Keep a history list near its newest `max` entries: the oldest go a batch at a time (once a quarter more has piled
 * up), so an append stays O(1) however long the sandbox runs. Readers see `recent(list, max)`.
 */
function trim<T>(list: T[], max: number): void {
  if (list.length > max + Math.max(1, max >> 2)) list.splice(0, list.length - max);
}

/** The newest `max` entries of a history list (a copy). */
function recent<T>(list: readonly T[], max: number): T[] {
  return list.length > max ? list.slice(list.length - max) : list.slice();
}

/** First value of a form field. */
export function one(form: Form, key: string): string | undefined {
  const v = form[key];
  return Array.isArray(v) ? v[0] : v;
}

function many(form: Form, key: string): string[] {
  const v = form[key];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function bool(form: Form, key: string): boolean | undefined {
  const v = one(form, key);
  if (v === undefined) return undefined;
  return v.toLowerCase() === 'true';
}

function apiError(e: SyncError): TwilioApiError {
  return new TwilioApiError(e.status, e.code, e.message);
}

export function notFound(path: string): TwilioApiError {
  return new TwilioApiError(404, 20404, `The requested resource ${path} was not found`);
}

function badParam(code: number, message: string): TwilioApiError {
  return new TwilioApiError(400, code, message);
}

function mediaContentType(url: string): string {
  const ext = /\.([a-z0-9]+)(?:$|[?#])/i.exec(url)?.[1]?.toLowerCase();
  const types: Record<string, string> = {
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    png: 'image/png',
    gif: 'image/gif',
    mp4: 'video/mp4',
    mp3: 'audio/mpeg',
    pdf: 'application/pdf',
    vcf: 'text/vcard',
    txt: 'text/plain',
  };
  return (ext && types[ext]) || 'image/jpeg';
}

function countryOf(n: string): string {
  const d = n.replace(/^[a-z]+:/, '');
  if (/^\+1\d{10}$/.test(d) || /^\d{5,6}$/.test(d)) return '+1';
  return d.slice(0, 3);
}

function areaCode(n: string): string | null {
  const m = /^\+1(\d{3})\d{7}$/.test(n) ? n.slice(2, 5) : null;
  return m;
}

export class SandboxEngine {
  readonly clock: Clock;
  readonly faults: FaultRegistry;
  readonly latency: SandboxLatency;
  readonly accounts = new Map<string, SandboxAccount>();
  readonly keys = new Map<string, SandboxKey>();
  readonly numbersByValue = new Map<string, SandboxNumber>();
  readonly services = new Map<string, SandboxService>();
  readonly messagesBySid = new Map<string, SandboxMessage>();
  /** Paging keys of deleted messages, so a PageToken naming one keeps working. */
  private readonly tombstones = new Map<string, { dateCreated: number; seq: number }>();
  private readonly subs: Submission[] = [];
  private readonly callbackLog: CallbackRecord[] = [];
  private readonly phoneBook = new Map<string, PhoneEntry[]>();
  /** Opted-out recipients per scope (`svc:MG…` or `num:+1…`). */
  private readonly optOuts = new Set<string>();
  private readonly senderFree = new Map<string, number>();
  private readonly heldSent = new Map<string, () => void>();
  /** Status callbacks waiting for their message's previous callback (see `inTurn`). */
  private readonly callbackTurns = new Map<string, ((done: () => void) => void)[]>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly queue: DueQueue;
  private readonly webhooks = new WebhookSender();
  private readonly random: () => number;
  private readonly sid: (prefix: string) => string;
  /** Segments per second per sender type (a number's own `mps` wins). */
  readonly mps: Readonly<Record<SandboxSenderType, number>>;
  private readonly defaultAccountSid: string;
  private readonly historyLimit: number;
  private readonly scheduledByAccount = new Map<string, number>();
  private seq = 0;
  private callbackSeq = 0;
  private closed = false;
  /** Requests held open by `timeout` faults, slow-fault delays, and responses still being written. */
  private readonly heldSockets = new Set<{ destroy(): void }>();
  private readonly delayWaiters = new Set<() => void>();
  private readonly pendingResponses = new Set<Promise<unknown>>();

  constructor(readonly options: SandboxOptions = {}) {
    this.clock = options.clock ?? systemClock;
    const seed = options.seed ?? 1;
    this.random = seededRandom(seed);
    this.sid = sidFactory(seed, options.deterministicSids ?? false);
    this.latency = { ...DEFAULT_SANDBOX_LATENCY, ...(options.latency ?? {}) };
    this.mps = { ...DEFAULT_SANDBOX_MPS, ...(options.mps ?? {}) };
    this.historyLimit = options.historyLimit ?? 50_000;
    this.faults = new FaultRegistry(this.clock);
    this.queue = new DueQueue(this.clock, {
      mode: this.clock === systemClock ? 'timer' : 'poll',
      pollMs: options.pollMs ?? 10,
      onError: (err) => this.warn({ err: String(err) }, 'sandbox task failed'),
    });
    const now = this.now();
    const accounts = options.accounts?.length ? options.accounts : [{ sid: SANDBOX_ACCOUNT_SID, authToken: SANDBOX_AUTH_TOKEN, friendlyName: 'Switchboard sandbox' }];
    for (const a of accounts) this.addAccount(a, false, now);
    this.defaultAccountSid = accounts[0]!.sid;
    if (options.testCredentials !== false) {
      const t = options.testCredentials ?? { sid: SANDBOX_TEST_ACCOUNT_SID, authToken: SANDBOX_TEST_AUTH_TOKEN, friendlyName: 'Test credentials' };
      this.addAccount(t, true, now);
    }
    for (const n of DEFAULT_SANDBOX_NUMBERS) this.setNumber({ phoneNumber: n.phoneNumber, type: n.type });
    for (const n of options.numbers ?? []) this.setNumber(n);
  }

  private addAccount(a: SandboxAccountSpec, test: boolean, now: number): void {
    this.accounts.set(a.sid, {
      sid: a.sid,
      authToken: a.authToken,
      friendlyName: a.friendlyName ?? a.sid,
      ownerSid: a.sid,
      status: 'active',
      type: 'Full',
      test,
      dateCreated: now,
      dateUpdated: now,
    });
  }

  private warn(obj: Record<string, unknown>, msg: string): void {
    this.options.log?.warn(obj, msg);
  }

  /** Logical now: the due time of the running task, else the clock. */
  now(): number {
    return this.queue.current ?? this.clock.now();
  }

  // ------------------------------------------------------------------ test-facing API

  /** Every create request received, in arrival order (recorded even when a fault answered it). */
  submissions(): Submission[] {
    return recent(this.subs, this.historyLimit);
  }

  recordSubmission(accountSid: string, form: Form): Submission {
    const params: Record<string, string> = {};
    const paramsAll: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(form)) {
      if (v === undefined) continue;
      const arr = Array.isArray(v) ? v : [v];
      paramsAll[k] = arr;
      params[k] = arr[0] ?? '';
    }
    const s: Submission = { params, paramsAll, accountSid, receivedAt: this.now() };
    this.subs.push(s);
    trim(this.subs, this.historyLimit);
    return s;
  }

  /** Webhooks sent (status callbacks and inbound), oldest first. */
  callbacks(): CallbackRecord[] {
    return recent(this.callbackLog, this.historyLimit).map((c) => ({ ...c, attempts: c.attempts.slice() }));
  }

  /** Run every task due at the current clock time, then wait for the webhooks they started. */
  async runDue(): Promise<number> {
    const n = this.queue.runDue();
    await this.flush();
    return n;
  }

  /**
   * Run what is due without waiting for webhooks. Every API request calls this first, so a read always sees
   * the state as of `clock.now()` — never a race with the poll interval.
   */
  catchUp(): void {
    if (!this.closed) this.queue.runDue();
  }

  /** Wait until no webhook is in flight. */
  async flush(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Clock time of the next scheduled task (status change, callback, retry, scheduled send), or null. */
  nextDueAt(): number | null {
    return this.queue.nextAt();
  }

  /** Virtual handsets: every number that received or sent a message, and its messages. */
  readonly phones = {
    list: (): { number: string; messages: number; last: number }[] =>
      [...this.phoneBook.entries()].map(([number, msgs]) => ({ number, messages: Math.min(msgs.length, PHONE_HISTORY), last: msgs[msgs.length - 1]?.at ?? 0 })),
    inbox: (number: string): PhoneEntry[] => recent(this.phoneBook.get(number) ?? [], PHONE_HISTORY),
    clear: (number?: string): void => {
      if (number) this.phoneBook.delete(number);
      else this.phoneBook.clear();
    },
  };

  private phoneAdd(number: string, e: PhoneEntry): void {
    let list = this.phoneBook.get(number);
    if (!list) this.phoneBook.set(number, (list = []));
    list.push(e);
    trim(list, PHONE_HISTORY);
  }

  /** Add or update a number (owner, type, inbound webhook URL). */
  setNumber(spec: SandboxNumberSpec): SandboxNumber {
    const now = this.now();
    const existing = this.numbersByValue.get(spec.phoneNumber);
    const accountSid = spec.accountSid ?? existing?.accountSid ?? this.defaultAccountSid;
    if (!this.accounts.has(accountSid)) throw new Error(`unknown account ${accountSid}`);
    const type = spec.type ?? existing?.type ?? guessSenderType(spec.phoneNumber);
    if (existing) {
      if (existing.accountSid !== accountSid && existing.serviceSid) {
        this.services.get(existing.serviceSid)?.sticky.clear();
        existing.serviceSid = null;
      }
      existing.accountSid = accountSid;
      existing.type = type;
      if (spec.smsUrl !== undefined) existing.smsUrl = spec.smsUrl;
      if (spec.mps !== undefined) existing.mps = spec.mps;
      if (spec.keywordFiltering !== undefined) existing.keywordFiltering = spec.keywordFiltering;
      existing.dateUpdated = now;
      return existing;
    }
    const n: SandboxNumber = {
      sid: this.sid(type === 'short_code' ? 'SC' : 'PN'),
      phoneNumber: spec.phoneNumber,
      accountSid,
      type,
      smsUrl: spec.smsUrl ?? null,
      mps: spec.mps ?? null,
      friendlyName: spec.phoneNumber,
      serviceSid: null,
      keywordFiltering: spec.keywordFiltering ?? true,
      dateCreated: now,
      dateUpdated: now,
    };
    this.numbersByValue.set(n.phoneNumber, n);
    return n;
  }

  numbers(accountSid?: string): SandboxNumber[] {
    return [...this.numbersByValue.values()].filter((n) => !accountSid || n.accountSid === accountSid);
  }

  numberBySid(sid: string): SandboxNumber | undefined {
    for (const n of this.numbersByValue.values()) if (n.sid === sid) return n;
    return undefined;
  }

  /** Whether `to` has opted out of messages from `from` (or its service). */
  isOptedOut(to: string, scope: { from?: string | null; serviceSid?: string | null }): boolean {
    return this.optOuts.has(`${this.optOutScope(scope)}|${to}`);
  }

  private optOutScope(scope: { from?: string | null; serviceSid?: string | null }): string {
    if (scope.serviceSid) return `svc:${scope.serviceSid}`;
    const n = scope.from ? this.numbersByValue.get(scope.from) : undefined;
    if (n?.serviceSid) return `svc:${n.serviceSid}`;
    return `num:${scope.from ?? ''}`;
  }

  /**
   * Turn Twilio's default opt-out filtering on or off for one number (its PN/SC SID or its phone number), as
   * Twilio support does on request. Off: keywords neither block nor unblock, get no carrier reply and no
   * `OptOutType`; blocks recorded earlier are not enforced on sends from it. A toll-free number keeps the network's
   * STOP/START/UNSTOP layer (block, unblock, `NETWORK MSG` replies), which Twilio cannot turn off.
   */
  setKeywordFiltering(numberSidOrPhone: string, enabled: boolean): SandboxNumber {
    const n = this.numberBySid(numberSidOrPhone) ?? this.numbersByValue.get(numberSidOrPhone);
    if (!n) throw notFound(`number ${numberSidOrPhone}`);
    n.keywordFiltering = enabled;
    n.dateUpdated = this.now();
    return n;
  }

  /** Whether a send from `from` to `to` is refused for an opt-out: Twilio's blocks only while the number filters. */
  private blocksSend(to: string, scope: { from?: string | null; serviceSid?: string | null }): boolean {
    if (!this.isOptedOut(to, scope)) return false;
    const n = scope.from ? this.numbersByValue.get(scope.from) : undefined;
    return !n || n.keywordFiltering || n.type === 'toll_free';
  }

  setAdvancedOptOut(serviceSid: string, enabled: boolean): void {
    const s = this.services.get(serviceSid);
    if (!s) throw notFound(`/v1/Services/${serviceSid}`);
    s.advancedOptOut = enabled;
  }

  /** Real-time delay for a `slow` fault; ends early when the sandbox closes. */
  delay(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(t);
        this.delayWaiters.delete(finish);
        resolve();
      };
      const t = setTimeout(finish, ms);
      this.delayWaiters.add(finish);
    });
  }

  /** Keep a request's socket open without answering (a `timeout` fault); destroyed on close. */
  holdSocket(socket: { destroy(): void; once(event: 'close', fn: () => void): unknown }): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.heldSockets.add(socket);
    socket.once('close', () => this.heldSockets.delete(socket));
  }

  /** A response that close() lets finish before returning (e.g. one a slow fault was holding). */
  trackResponse(done: Promise<unknown>): void {
    this.pendingResponses.add(done);
    void done.finally(() => this.pendingResponses.delete(done));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const finish of [...this.delayWaiters]) finish();
    for (const s of this.heldSockets) s.destroy();
    this.heldSockets.clear();
    await Promise.race([Promise.allSettled([...this.pendingResponses]), new Promise((r) => setTimeout(r, 2_000).unref())]);
    this.queue.stop();
    await this.webhooks.close();
    await Promise.race([this.flush(), new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  // ------------------------------------------------------------------ auth

  /** Resolve HTTP Basic credentials to an account (Account SID + token, or API key SID + secret). */
  authenticate(user: string, pass: string): Principal | null {
    if (user.startsWith('SK')) {
      const k = this.keys.get(user);
      if (!k || k.secret !== pass) return null;
      const account = this.accounts.get(k.accountSid);
      return account && account.status !== 'closed' ? { account, keySid: k.sid } : null;
    }
    const account = this.accounts.get(user);
    if (!account || account.authToken !== pass || account.status === 'closed') return null;
    return { account, keySid: null };
  }

  /** Whether `principal` may act on `accountSid` (itself or one of its subaccounts). */
  mayAccess(principal: Principal, accountSid: string): boolean {
    if (principal.account.sid === accountSid) return true;
    const target = this.accounts.get(accountSid);
    return !!target && target.ownerSid === principal.account.sid && target.sid !== target.ownerSid;
  }

  // ------------------------------------------------------------------ accounts and keys

  createSubaccount(parentSid: string, friendlyName?: string): SandboxAccount {
    const now = this.now();
    const d = new Date(now);
    const h = d.getUTCHours();
    const label = `${d.toISOString().slice(0, 10)} ${String(h % 12 === 0 ? 12 : h % 12).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')} ${h < 12 ? 'am' : 'pm'}`;
    const a: SandboxAccount = {
      sid: this.sid('AC'),
      authToken: newSecret(),
      friendlyName: friendlyName ?? `SubAccount Created at ${label}`,
      ownerSid: parentSid,
      status: 'active',
      type: 'Full',
      test: false,
      dateCreated: now,
      dateUpdated: now,
    };
    this.accounts.set(a.sid, a);
    return a;
  }

  updateAccount(sid: string, form: Form): SandboxAccount {
    const a = this.accounts.get(sid);
    if (!a) throw notFound(`/2010-04-01/Accounts/${sid}.json`);
    const name = one(form, 'FriendlyName');
    const status = one(form, 'Status');
    if (status !== undefined && !['active', 'suspended', 'closed'].includes(status)) throw badParam(20001, `Status must be one of active, suspended, closed`);
    if (a.status === 'closed' && status && status !== 'closed') throw badParam(20001, 'A closed account cannot be reopened');
    if (name !== undefined) a.friendlyName = name;
    if (status) a.status = status as SandboxAccount['status'];
    a.dateUpdated = this.now();
    return a;
  }

  createKey(accountSid: string, friendlyName?: string): SandboxKey {
    if (friendlyName !== undefined && friendlyName.length > 64) throw badParam(20001, 'FriendlyName must be at most 64 characters');
    const now = this.now();
    const k: SandboxKey = { sid: this.sid('SK'), secret: newSecret(), friendlyName: friendlyName ?? '', accountSid, dateCreated: now, dateUpdated: now };
    this.keys.set(k.sid, k);
    return k;
  }

  getKey(accountSid: string, sid: string): SandboxKey {
    const k = this.keys.get(sid);
    if (!k || k.accountSid !== accountSid) throw notFound(`/2010-04-01/Accounts/${accountSid}/Keys/${sid}.json`);
    return k;
  }

  // ------------------------------------------------------------------ messages

  getMessage(accountSid: string, sid: string): SandboxMessage {
    const m = this.messagesBySid.get(sid);
    if (!m || m.accountSid !== accountSid) throw notFound(`/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`);
    return m;
  }

  /** Paging key of a message (also of a deleted one). */
  messageKey(sid: string): { dateCreated: number; seq: number } | null {
    const m = this.messagesBySid.get(sid);
    return m ? { dateCreated: m.dateCreated, seq: m.seq } : (this.tombstones.get(sid) ?? null);
  }

  /** Messages of an account, newest first, filtered as Twilio's list does. */
  listMessages(accountSid: string, f: { to?: string; from?: string; sentAfter?: number; sentBefore?: number }): SandboxMessage[] {
    const out: SandboxMessage[] = [];
    for (const m of this.messagesBySid.values()) {
      if (m.accountSid !== accountSid) continue;
      if (f.to !== undefined && m.to !== f.to) continue;
      if (f.from !== undefined && m.from !== f.from) continue;
      if (f.sentAfter !== undefined && (m.dateSent === null || m.dateSent < f.sentAfter)) continue;
      if (f.sentBefore !== undefined && (m.dateSent === null || m.dateSent >= f.sentBefore)) continue;
      out.push(m);
    }
    return out.sort((a, b) => b.dateCreated - a.dateCreated || b.seq - a.seq);
  }

  deleteMessage(accountSid: string, sid: string): void {
    const m = this.getMessage(accountSid, sid);
    if (!TERMINAL.has(m.status) && m.status !== 'scheduled') {
      throw badParam(20009, `Cannot delete message ${sid}: it is still being sent (status ${m.status})`);
    }
    if (m.status === 'scheduled') this.countScheduled(m.accountSid, -1);
    this.tombstones.set(sid, { dateCreated: m.dateCreated, seq: m.seq });
    this.messagesBySid.delete(sid);
  }

  /** Redact (`Body=""`) or cancel (`Status=canceled`, scheduled messages only). */
  updateMessage(accountSid: string, sid: string, form: Form): SandboxMessage {
    const m = this.getMessage(accountSid, sid);
    const body = one(form, 'Body');
    const status = one(form, 'Status');
    if (body === undefined && status === undefined) throw badParam(20001, 'Body or Status is required');
    if (body !== undefined && body !== '') throw badParam(20001, "Body can only be set to an empty string (redaction)");
    if (status !== undefined) {
      if (status !== 'canceled') throw badParam(20001, "Status can only be set to 'canceled'");
      if (m.status !== 'scheduled') throw badParam(30409, 'This message cannot be canceled');
      this.setStatus(m, 'canceled');
      m.dateSent = null;
      this.statusCallback(m);
    }
    if (body === '') {
      m.body = '';
      m.dateUpdated = this.now();
    }
    return m;
  }

  /**
   * `POST …/Messages.json`. `principal` is the authenticated caller (already allowed on `accountSid`).
   * Throws TwilioApiError for synchronous failures, exactly as Twilio answers them.
   */
  createMessage(accountSid: string, form: Form, principal: Principal): SandboxMessage {
    const now = this.now();
    const account = this.accounts.get(accountSid);
    if (!account) throw notFound(`/2010-04-01/Accounts/${accountSid}/Messages.json`);
    if (account.status !== 'active') throw new TwilioApiError(403, 20403, 'Account is not active');
    const test = principal.account.test;
    const to = one(form, 'To');
    let from = one(form, 'From') ?? null;
    const serviceSid = one(form, 'MessagingServiceSid') ?? null;
    const body = one(form, 'Body') ?? '';
    const mediaUrls = many(form, 'MediaUrl').filter((u) => u !== '');
    const contentSid = one(form, 'ContentSid');

    if (!to) throw badParam(21604, "A 'To' phone number is required.");
    if (test && serviceSid) throw new TwilioApiError(403, 20008, 'Resource not accessible with Test Account Credentials');
    if (!from && !serviceSid) throw badParam(21603, "A 'From' phone number is required.");
    let service: SandboxService | null = null;
    if (serviceSid) {
      service = this.services.get(serviceSid) ?? null;
      if (!service || service.accountSid !== accountSid) throw badParam(21705, `The Messaging Service Sid ${serviceSid} is invalid.`);
    }
    if (!body && mediaUrls.length === 0 && !contentSid) {
      throw service ? badParam(21619, 'A text message body, media URL or content SID is required.') : badParam(21602, 'Message body is required.');
    }
    if (mediaUrls.length > 10) throw badParam(21623, 'Number of media files exceeds allowed limit of 10.');
    for (const u of mediaUrls) if (!/^https?:\/\/[^\s]+$/.test(u)) throw badParam(21620, `Invalid media URL(s): ${u}`);
    if ([...body].length > 1600) throw badParam(21617, 'The concatenated message body exceeds the 1600 character limit.');
    const validityRaw = one(form, 'ValidityPeriod');
    let validity = service?.validityPeriod ?? 36_000;
    if (validityRaw !== undefined) {
      const v = Number(validityRaw);
      if (!Number.isInteger(v) || v < 1 || v > 36_000) throw badParam(21910, 'ValidityPeriod must be an integer between 1 and 36000.');
      validity = v;
    }
    const statusCallback = one(form, 'StatusCallback') ?? null;
    if (statusCallback !== null) {
      let ok = false;
      try {
        const u = new URL(statusCallback);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && !u.hostname.includes('_');
      } catch {
        ok = false;
      }
      if (!ok) throw badParam(21609, `Invalid StatusCallback URL: ${statusCallback}`);
    }
    const scheduleType = one(form, 'ScheduleType');
    const sendAtRaw = one(form, 'SendAt');
    let sendAt: number | null = null;
    if (scheduleType !== undefined || sendAtRaw !== undefined) {
      if (scheduleType !== undefined && scheduleType !== 'fixed') throw badParam(35114, `ScheduleType ${scheduleType} is not supported; use 'fixed'.`);
      if (!service) throw badParam(35118, 'MessagingServiceSid is required to schedule a message.');
      if (scheduleType === undefined) throw badParam(35114, 'ScheduleType is required with SendAt.');
      if (!sendAtRaw) throw badParam(35111, 'SendAt is required to schedule a message.');
      const at = Date.parse(sendAtRaw);
      const minLead = (this.options.scheduling?.minLeadS ?? 300) * 1000;
      const maxLead = (this.options.scheduling?.maxLeadS ?? 3_024_000) * 1000;
      if (Number.isNaN(at) || at - now < minLead) {
        throw badParam(35114, `SendAt time must be at least ${minLead / 1000} seconds and at most ${maxLead / 1000} seconds in the future.`);
      }
      if (at - now > maxLead) throw badParam(35115, `SendAt time must be at most ${maxLead / 1000} seconds in the future.`);
      if (this.scheduledCount(accountSid) >= 500_000) throw badParam(35125, 'Account exceeded the 500,000 scheduled messages limit.');
      sendAt = at;
    }
    if (!isAddress(to)) throw apiError(invalidTo(to));

    // Sender checks.
    let sender: SandboxNumber | null = null;
    if (from) {
      const magic = magicFromError(from);
      if (magic) throw apiError(magic);
      if (test) {
        if (from !== TEST_CREDENTIALS_VALID_FROM) throw apiError(notOwned(from));
      } else {
        if (!isSender(from)) throw badParam(21212, `The 'From' number ${from} is not a valid phone number, shortcode, or alphanumeric sender ID.`);
        sender = this.numbersByValue.get(from) ?? null;
        if (sender && sender.accountSid !== accountSid) throw apiError(notOwned(from));
        if (!sender) {
          if (this.options.strictSenders) throw apiError(notOwned(from));
          sender = this.setNumber({ phoneNumber: from, accountSid });
        }
      }
    }
    const toMagic = magicToError(to, from);
    if (toMagic) throw apiError(toMagic);
    if (from && to.startsWith('whatsapp:') !== from.startsWith('whatsapp:')) {
      throw badParam(63007, `Twilio could not find a Channel with the specified From address: ${from}`);
    }
    if (!test && this.blocksSend(to, { from, serviceSid })) throw apiError(optedOut(to));
    if (service && !from && this.poolOf(service).length === 0) throw badParam(21704, 'The Messaging Service contains no phone numbers.');

    const smart = bool(form, 'SmartEncoded') ?? service?.smartEncoding ?? false;
    const seg = segmentsOf(body, smart);
    const whatsapp = to.startsWith('whatsapp:');
    const m: SandboxMessage = {
      sid: this.sid(mediaUrls.length > 0 ? 'MM' : 'SM'),
      accountSid,
      messagingServiceSid: service?.sid ?? null,
      from,
      to,
      body: seg.body,
      status: 'queued',
      direction: 'outbound-api',
      numSegments: whatsapp ? 1 : seg.segments,
      encoding: seg.encoding,
      media: [],
      errorCode: null,
      errorMessage: null,
      price: null,
      priceUnit: 'USD',
      dateCreated: now,
      dateUpdated: now,
      dateSent: null,
      statusCallback,
      validityPeriodS: validity,
      sendAt,
      smartEncoded: smart,
      seq: ++this.seq,
    };
    for (const u of mediaUrls) m.media.push({ sid: this.sid('ME'), url: u, contentType: mediaContentType(u), dateCreated: now });

    if (test) return m; // test credentials: answered, never stored, no callbacks

    if (sendAt !== null) {
      m.status = 'scheduled';
      this.store(m);
      this.countScheduled(m.accountSid, 1);
      this.queue.at(sendAt, () => {
        if (m.status === 'scheduled' && this.messagesBySid.has(m.sid)) this.releaseFromService(m, service!);
      });
      return m;
    }
    if (service && !sender) {
      m.status = 'accepted';
      this.store(m);
      // Sender selection takes a moment, like Twilio's.
      this.queue.at(now + Math.min(20, this.latency.sendingMs), () => {
        if (m.status === 'accepted' && this.messagesBySid.has(m.sid)) this.releaseFromService(m, service!);
      });
      return m;
    }
    // Direct send (or a service send with an explicit From): the sender's queue decides now.
    const slot = this.reserve(sender!, m.numSegments, now);
    if (slot === null) throw apiError(queueFull(sender!.phoneNumber));
    this.store(m);
    this.progress(m, sender!, slot);
    return m;
  }

  /** Messages of an account still `scheduled` (what Twilio's 500,000 limit counts). */
  scheduledCount(accountSid: string): number {
    return this.scheduledByAccount.get(accountSid) ?? 0;
  }

  /** Scheduled messages per account (for the 500,000 limit) without scanning every message. */
  private countScheduled(accountSid: string, delta: number): void {
    const n = (this.scheduledByAccount.get(accountSid) ?? 0) + delta;
    if (n > 0) this.scheduledByAccount.set(accountSid, n);
    else this.scheduledByAccount.delete(accountSid);
  }

  private store(m: SandboxMessage): void {
    this.messagesBySid.set(m.sid, m);
    const limit = this.options.messageLimit ?? 200_000;
    if (this.messagesBySid.size <= limit) return;
    // Forget the oldest finished messages (the map iterates in insertion order), like a log retention window.
    for (const [sid, old] of this.messagesBySid) {
      if (this.messagesBySid.size <= limit) break;
      if (!TERMINAL.has(old.status)) continue;
      this.messagesBySid.delete(sid);
    }
  }

  private setStatus(m: SandboxMessage, status: MessageStatus, error?: number): void {
    if (m.status === 'scheduled' && status !== 'scheduled') this.countScheduled(m.accountSid, -1);
    m.status = status;
    m.dateUpdated = this.now();
    if (error !== undefined) {
      m.errorCode = error;
      m.errorMessage = ASYNC_ERROR_MESSAGES[error] ?? 'Unknown error';
    }
  }

  /** The senders in a service's pool (phone numbers and short codes added to it). */
  poolOf(service: SandboxService): SandboxNumber[] {
    return [...this.numbersByValue.values()].filter((n) => n.serviceSid === service.sid);
  }

  /** Pick the sender for a service send: sticky, short code, area-code geomatch, country geomatch, any. */
  pickSender(service: SandboxService, to: string): SandboxNumber | null {
    const pool = this.poolOf(service);
    if (pool.length === 0) return null;
    const wa = to.startsWith('whatsapp:');
    const usable = pool.filter((n) => (n.type === 'whatsapp') === wa);
    if (usable.length === 0) return null;
    if (service.stickySender) {
      const s = service.sticky.get(to);
      const hit = s ? usable.find((n) => n.phoneNumber === s) : undefined;
      if (hit) return hit;
    }
    const country = countryOf(to);
    const sameCountry = usable.filter((n) => n.type === 'alphanumeric' || countryOf(n.phoneNumber) === country);
    const short = sameCountry.find((n) => n.type === 'short_code');
    let pick: SandboxNumber | undefined = short;
    if (!pick && service.areaCodeGeomatch) {
      const ac = areaCode(to.replace(/^whatsapp:/, ''));
      pick = ac ? sameCountry.find((n) => areaCode(n.phoneNumber) === ac) : undefined;
    }
    pick ??= sameCountry.find((n) => n.type !== 'alphanumeric') ?? sameCountry[0] ?? usable[0];
    if (pick && service.stickySender) service.sticky.set(to, pick.phoneNumber);
    return pick ?? null;
  }

  /** accepted/scheduled → queued once a sender is chosen (a `queued` callback), or failed 30001 on queue overflow. */
  private releaseFromService(m: SandboxMessage, service: SandboxService): void {
    const now = this.now();
    const sender = this.pickSender(service, m.to);
    if (!sender) {
      m.from = null;
      this.setStatus(m, 'failed', 30008);
      this.statusCallback(m);
      return;
    }
    m.from = sender.phoneNumber;
    if (this.blocksSend(m.to, { from: sender.phoneNumber, serviceSid: service.sid })) {
      this.setStatus(m, 'failed', 21610);
      m.errorMessage = 'Attempt to send to unsubscribed recipient';
      this.statusCallback(m);
      return;
    }
    this.setStatus(m, 'queued');
    this.statusCallback(m);
    const slot = this.reserve(sender, m.numSegments, now);
    if (slot === null) {
      this.setStatus(m, 'failed', 30001);
      this.statusCallback(m);
      return;
    }
    this.progress(m, sender, slot);
  }

  /**
   * Reserve sending time in the sender's queue (MPS × segments). Returns the clock time the message leaves the
   * queue, or null when the queue already holds `queueHours` of sending.
   */
  private reserve(sender: SandboxNumber, segments: number, now: number): number | null {
    const mps = Math.max(0.001, sender.mps ?? this.mps[sender.type]);
    const free = Math.max(now, this.senderFree.get(sender.phoneNumber) ?? now);
    const duration = (Math.max(1, segments) * 1000) / mps;
    const capacityMs = (this.options.queueHours ?? 10) * 3_600_000;
    if (free - now + duration > capacityMs) return null;
    this.senderFree.set(sender.phoneNumber, free + duration);
    return free;
  }

  /** Queue backlog of a sender, in clock ms of sending still ahead. */
  backlogMs(phoneNumber: string): number {
    return Math.max(0, (this.senderFree.get(phoneNumber) ?? 0) - this.now());
  }

  /** Schedule a message's life after it leaves the queue at `start`. */
  private progress(m: SandboxMessage, sender: SandboxNumber, start: number): void {
    const L = this.latency;
    if (start - m.dateCreated > m.validityPeriodS * 1000) {
      this.queue.at(m.dateCreated + m.validityPeriodS * 1000, () => {
        if (!this.live(m, 'queued')) return;
        this.setStatus(m, 'failed', 30036);
        this.statusCallback(m);
      });
      return;
    }
    const tSending = start + L.sendingMs;
    const tSent = Math.max(tSending, start + L.sentMs);
    const tFinal = Math.max(tSent, start + L.deliveredMs);
    const down = this.faults.take(['sender_down'], (s) => s.from === sender.phoneNumber);
    const to = m.to.replace(/^whatsapp:/, '');
    let outcome: { status: 'failed' | 'undelivered'; code: number } | 'delivered' | 'no_dlr' = 'delivered';
    if (down) outcome = { status: down.status ?? 'failed', code: down.errorCode ?? 30008 };
    else if (to === SANDBOX_NUMBERS.failed) outcome = { status: 'failed', code: 30005 };
    else if (to === SANDBOX_NUMBERS.undelivered) outcome = { status: 'undelivered', code: 30003 };
    else if (to === SANDBOX_NUMBERS.noDlr) outcome = 'no_dlr';
    else {
      const r = this.random();
      const failedRate = this.options.outcomes?.failedRate ?? 0;
      const undeliveredRate = this.options.outcomes?.undeliveredRate ?? 0;
      if (r < failedRate) outcome = { status: 'failed', code: 30008 };
      else if (r < failedRate + undeliveredRate) outcome = { status: 'undelivered', code: 30003 };
    }
    this.queue.at(tSending, () => {
      if (this.live(m, 'queued')) this.setStatus(m, 'sending');
    });
    if (typeof outcome === 'object' && outcome.status === 'failed') {
      const code = outcome.code;
      this.queue.at(tSent, () => {
        if (!this.live(m, 'sending', 'queued')) return;
        this.setStatus(m, 'failed', code);
        this.statusCallback(m);
      });
      return;
    }
    this.queue.at(tSent, () => {
      if (!this.live(m, 'sending', 'queued')) return;
      this.setStatus(m, 'sent');
      m.dateSent = this.now();
      m.price = (-(m.media.length > 0 ? 0.02 : 0.0079 * m.numSegments)).toFixed(5);
      this.statusCallback(m);
    });
    if (outcome === 'no_dlr') return;
    const final = outcome;
    this.queue.at(tFinal, () => {
      if (!this.live(m, 'sent')) return;
      if (typeof final === 'object') {
        this.setStatus(m, 'undelivered', final.code);
        this.statusCallback(m, { RawDlrDoneDate: rawDlrDoneDate(this.now()) });
        return;
      }
      this.setStatus(m, 'delivered');
      this.statusCallback(m, { RawDlrDoneDate: rawDlrDoneDate(this.now()) });
      this.phoneAdd(m.to, { sid: m.sid, direction: 'received', from: m.from ?? '', to: m.to, body: m.body, mediaUrls: m.media.map((x) => x.url), at: this.now() });
      this.afterDelivered(m);
    });
  }

  /** Still this message, undeleted, in one of these statuses. */
  private live(m: SandboxMessage, ...statuses: MessageStatus[]): boolean {
    return this.messagesBySid.get(m.sid) === m && statuses.includes(m.status);
  }

  private afterDelivered(m: SandboxMessage): void {
    const to = m.to;
    const at = this.now() + Math.max(1, this.latency.deliveredMs);
    if (to.startsWith('whatsapp:')) {
      this.queue.at(at, () => {
        if (!this.live(m, 'delivered')) return;
        this.setStatus(m, 'read');
        this.statusCallback(m, { EventType: 'READ' });
      });
      return;
    }
    if (!m.from) return;
    const from = m.from;
    if (to === SANDBOX_NUMBERS.autoReply) {
      this.queue.at(at, () => void this.track(this.reply({ from: to, to: from, body: `Auto-reply: ${m.body}`.slice(0, 1600) })));
    } else if (to === SANDBOX_NUMBERS.autoStop) {
      this.queue.at(at, () => void this.track(this.reply({ from: to, to: from, body: 'STOP' })));
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    const q = p.catch((err: unknown) => {
      this.warn({ err: String(err) }, 'sandbox background task failed');
      return undefined as T;
    });
    this.inflight.add(q);
    void q.finally(() => this.inflight.delete(q));
    return q;
  }

  // ------------------------------------------------------------------ webhooks

  private statusCallback(m: SandboxMessage, extra: Record<string, string> = {}): void {
    const service = m.messagingServiceSid ? this.services.get(m.messagingServiceSid) : undefined;
    const url = m.statusCallback ?? service?.statusCallback ?? null;
    if (!url || this.closed) return;
    const account = this.accounts.get(m.accountSid);
    if (!account) return;
    const params: Record<string, string> = {
      AccountSid: m.accountSid,
      ApiVersion: '2010-04-01',
      From: m.from ?? '',
      MessageSid: m.sid,
      MessageStatus: m.status,
      SmsSid: m.sid,
      SmsStatus: m.status,
      To: m.to,
    };
    if (m.messagingServiceSid) params.MessagingServiceSid = m.messagingServiceSid;
    if (m.errorCode !== null && (m.status === 'failed' || m.status === 'undelivered')) params.ErrorCode = String(m.errorCode);
    if (m.to.startsWith('whatsapp:')) params.ChannelPrefix = 'whatsapp';
    Object.assign(params, extra);

    const fault = this.faults.take(['callback']);
    if (!fault) {
      const held = this.takeHeld(m.sid);
      this.inTurn(m.sid, (done) => void this.sendWebhook('status', url, params, account.authToken, undefined, held, done));
      return;
    }
    switch (fault.action) {
      case 'drop':
        this.releaseHeld(m.sid);
        this.logDropped(url, params);
        return;
      case 'duplicate': {
        this.releaseHeld(m.sid);
        const rec = this.sendWebhook('status', url, params, account.authToken);
        rec.fault = 'duplicate';
        const dup = this.sendWebhook('status', url, params, account.authToken, rec.token);
        dup.fault = 'duplicate';
        return;
      }
      case 'delay':
        this.queue.at(this.now() + (fault.delayMs ?? 1_000), () => {
          const rec = this.sendWebhook('status', url, params, account.authToken);
          rec.fault = 'delayed';
        });
        return;
      case 'reorder': {
        // Hold this callback until the message's next one has gone out (or for a while if none follows).
        this.releaseHeld(m.sid);
        const release = () => {
          this.heldSent.delete(m.sid);
          const rec = this.sendWebhook('status', url, params, account.authToken);
          rec.fault = 'reordered';
        };
        this.heldSent.set(m.sid, release);
        this.queue.at(this.now() + Math.max(1_000, this.latency.deliveredMs * 3), () => {
          if (this.heldSent.get(m.sid) === release) release();
        });
        return;
      }
    }
  }

  /**
   * A message's status callbacks leave in order: each one goes out once the one before it has had its first answer
   * (or failed to get one), so `sent` reaches the app before `delivered` even at zero latency. Faults bypass this.
   */
  private inTurn(sid: string, send: (done: () => void) => void): void {
    const waiting = this.callbackTurns.get(sid);
    if (waiting) {
      waiting.push(send);
      return;
    }
    this.callbackTurns.set(sid, []);
    const done = (): void => {
      const next = this.callbackTurns.get(sid)?.shift();
      if (next) next(done);
      else this.callbackTurns.delete(sid);
    };
    send(done);
  }

  /** A held (reordered) callback to send once the one going out now has been answered. */
  private takeHeld(sid: string): (() => void) | undefined {
    const held = this.heldSent.get(sid);
    this.heldSent.delete(sid);
    return held;
  }

  private releaseHeld(sid: string): void {
    this.takeHeld(sid)?.();
  }

  private logDropped(url: string, params: Record<string, string>): void {
    this.callbackLog.push({
      id: ++this.callbackSeq,
      kind: 'status',
      url,
      params,
      token: this.webhooks.newToken(),
      createdAt: this.now(),
      attempts: [],
      fault: 'dropped',
      state: 'dropped',
    });
    trim(this.callbackLog, this.historyLimit);
  }

  /** Deliver a signed webhook with Twilio's retry policy; the record fills in as attempts complete. */
  private sendWebhook(
    kind: 'status' | 'inbound',
    url: string,
    params: Record<string, string>,
    authToken: string,
    token = this.webhooks.newToken(),
    onFinal?: (r: WebhookAttemptResult) => void,
    onFirstAnswer?: () => void,
  ): CallbackRecord {
    const rec: CallbackRecord = { id: ++this.callbackSeq, kind, url, params, token, createdAt: this.now(), attempts: [], state: 'pending' };
    this.callbackLog.push(rec);
    trim(this.callbackLog, this.historyLimit);
    const { overrides } = parseWebhookUrl(url);
    const attempt = (): void => {
      if (this.closed) return;
      const at = this.now();
      void this.track(
        this.webhooks.attempt({ url, params, authToken }, token).then((r) => {
          rec.attempts.push({ at, status: r.status, ...(r.error ? { error: r.error } : {}) });
          const first = rec.attempts.length === 1 ? onFirstAnswer : undefined;
          if (r.ok) {
            rec.state = 'delivered';
            onFinal?.(r);
            first?.();
            return;
          }
          if (rec.attempts.length <= overrides.rc && WebhookSender.retryable(r, overrides.rp) && !this.closed) {
            this.queue.at(this.now() + (this.options.webhookRetryDelayMs ?? 1_000), attempt);
            first?.();
            return;
          }
          rec.state = 'failed';
          onFinal?.(r);
          first?.();
        }),
      );
    };
    attempt();
    return rec;
  }

  // ------------------------------------------------------------------ inbound (virtual phones)

  /**
   * A virtual handset texts a sandbox number: the inbound message is logged, keywords applied (STOP/START/HELP),
   * the number's (or its service's) webhook called, signed, and TwiML `<Message>` replies sent back.
   */
  async reply(input: ReplyInput): Promise<ReplyResult> {
    const now = this.now();
    if (!isAddress(input.from)) throw new TwilioApiError(400, 21211, `'from' ${input.from} is not a valid phone number`);
    const number = this.numbersByValue.get(input.to);
    if (!number) throw notFound(`number ${input.to}`);
    const account = this.accounts.get(number.accountSid)!;
    const service = number.serviceSid ? (this.services.get(number.serviceSid) ?? null) : null;
    const mediaUrls = input.mediaUrl === undefined ? [] : Array.isArray(input.mediaUrl) ? input.mediaUrl : [input.mediaUrl];
    const seg = countSegments(input.body);
    const m: SandboxMessage = {
      sid: this.sid(mediaUrls.length > 0 ? 'MM' : 'SM'),
      accountSid: account.sid,
      messagingServiceSid: service?.sid ?? null,
      from: input.from,
      to: input.to,
      body: input.body,
      status: 'received',
      direction: 'inbound',
      numSegments: seg.segments,
      encoding: seg.encoding,
      media: mediaUrls.map((u) => ({ sid: this.sid('ME'), url: u, contentType: mediaContentType(u), dateCreated: now })),
      errorCode: null,
      errorMessage: null,
      price: (-0.0079 * seg.segments).toFixed(5),
      priceUnit: 'USD',
      dateCreated: now,
      dateUpdated: now,
      dateSent: now,
      statusCallback: null,
      validityPeriodS: 36_000,
      sendAt: null,
      smartEncoded: false,
      seq: ++this.seq,
    };
    this.store(m);
    this.phoneAdd(input.from, { sid: m.sid, direction: 'sent', from: input.from, to: input.to, body: input.body, mediaUrls, at: now });

    // Keywords (Twilio handles them for long codes, toll-free, and any number in a Messaging Service, unless its
    // default opt-out filtering was turned off; the toll-free network's STOP/START/UNSTOP layer stays regardless).
    const handles = number.keywordFiltering && (number.type !== 'short_code' || service !== null);
    const keyword = handles ? classifyKeyword(input.body) : number.type === 'toll_free' ? tollFreeNetworkKeyword(input.body) : null;
    const scope = `${this.optOutScope({ from: number.phoneNumber, serviceSid: service?.sid })}|${input.from}`;
    const replies: SandboxMessage[] = [];
    if (keyword === 'stop') this.optOuts.add(scope);
    if (keyword === 'start') this.optOuts.delete(scope);
    if (keyword) {
      const text = !handles ? (keyword === 'stop' ? TOLL_FREE_STOP_REPLY : tollFreeStartReply(input.body)) : keyword === 'stop' && number.type === 'toll_free' ? TOLL_FREE_STOP_REPLY : KEYWORD_REPLIES[keyword];
      replies.push(this.sendReply(number, input.from, { body: text, mediaUrls: [] }, true));
    }

    const url = service && !service.useInboundWebhookOnNumber && service.inboundRequestUrl ? service.inboundRequestUrl : number.smsUrl;
    if (!url) return { message: m, webhook: null, replies, keyword };
    const params: Record<string, string> = {
      ToCountry: countryOf(input.to) === '+1' ? 'US' : '',
      ToState: '',
      SmsMessageSid: m.sid,
      NumMedia: String(mediaUrls.length),
      ToCity: '',
      FromZip: '',
      SmsSid: m.sid,
      FromState: '',
      SmsStatus: 'received',
      FromCity: '',
      Body: input.body,
      FromCountry: countryOf(input.from) === '+1' ? 'US' : '',
      To: input.to,
      ToZip: '',
      NumSegments: String(seg.segments),
      MessageSid: m.sid,
      AccountSid: account.sid,
      From: input.from,
      ApiVersion: '2010-04-01',
    };
    if (service) params.MessagingServiceSid = service.sid;
    if (input.from.startsWith('whatsapp:')) {
      params.WaId = input.from.replace(/^whatsapp:\+/, '');
      params.ProfileName = 'Sandbox Phone';
      params.NumSegments = '1';
    }
    m.media.forEach((x, i) => {
      params[`MediaUrl${i}`] = x.url;
      params[`MediaContentType${i}`] = x.contentType;
    });
    if (service?.advancedOptOut && handles && keyword) params.OptOutType = keyword.toUpperCase();

    const deliver = (target: string) =>
      new Promise<WebhookAttemptResult>((resolve) => {
        this.sendWebhook('inbound', target, params, account.authToken, undefined, resolve);
      });
    let target = url;
    let result = await deliver(target);
    // A service's fallback URL gets the request when its inbound URL fails (only when the service's URL was used).
    if (!result.ok && service?.fallbackUrl && url === service.inboundRequestUrl && !this.closed) {
      target = service.fallbackUrl;
      result = await deliver(target);
    }
    if (result.ok) {
      for (const r of parseWebhookReply(result.body, result.contentType)) replies.push(this.sendReply(number, r.to ?? input.from, r, false, r.from));
    }
    return { message: m, webhook: { url: parseWebhookUrl(target).url, status: result.status, ...(result.error ? { error: result.error } : {}) }, replies, keyword };
  }

  /** An `outbound-reply` from a sandbox number to a handset (TwiML reply or keyword auto-reply). */
  private sendReply(number: SandboxNumber, to: string, r: { body: string; mediaUrls: string[] }, keywordReply: boolean, fromOverride?: string): SandboxMessage {
    const now = this.now();
    const from = fromOverride && this.numbersByValue.get(fromOverride)?.accountSid === number.accountSid ? this.numbersByValue.get(fromOverride)! : number;
    const seg = countSegments(r.body);
    const m: SandboxMessage = {
      sid: this.sid(r.mediaUrls.length > 0 ? 'MM' : 'SM'),
      accountSid: number.accountSid,
      messagingServiceSid: from.serviceSid,
      from: from.phoneNumber,
      to,
      body: seg.body,
      status: 'queued',
      direction: 'outbound-reply',
      numSegments: seg.segments,
      encoding: seg.encoding,
      media: r.mediaUrls.map((u) => ({ sid: this.sid('ME'), url: u, contentType: mediaContentType(u), dateCreated: now })),
      errorCode: null,
      errorMessage: null,
      price: null,
      priceUnit: 'USD',
      dateCreated: now,
      dateUpdated: now,
      dateSent: null,
      statusCallback: null,
      validityPeriodS: 36_000,
      sendAt: null,
      smartEncoded: false,
      seq: ++this.seq,
    };
    this.store(m);
    if (!keywordReply && this.blocksSend(to, { from: from.phoneNumber })) {
      this.setStatus(m, 'failed', 21610);
      m.errorMessage = 'Attempt to send to unsubscribed recipient';
      return m;
    }
    const slot = this.reserve(from, m.numSegments, now);
    if (slot === null) {
      this.setStatus(m, 'failed', 30001);
      return m;
    }
    this.progress(m, from, slot);
    return m;
  }

  // ------------------------------------------------------------------ messaging services

  createService(accountSid: string, form: Form): SandboxService {
    const name = one(form, 'FriendlyName');
    if (!name) throw badParam(20001, 'Missing required parameter FriendlyName in the post body');
    const now = this.now();
    const s: SandboxService = {
      sid: this.sid('MG'),
      accountSid,
      friendlyName: name,
      inboundRequestUrl: null,
      inboundMethod: 'POST',
      fallbackUrl: null,
      fallbackMethod: 'POST',
      statusCallback: null,
      stickySender: true,
      mmsConverter: true,
      smartEncoding: true,
      scanMessageContent: 'inherit',
      fallbackToLongCode: true,
      areaCodeGeomatch: true,
      synchronousValidation: false,
      validityPeriod: 36_000,
      usecase: 'undeclared',
      usAppToPersonRegistered: false,
      useInboundWebhookOnNumber: false,
      advancedOptOut: false,
      dateCreated: now,
      dateUpdated: now,
      sticky: new Map(),
    };
    this.applyServiceForm(s, form);
    this.services.set(s.sid, s);
    return s;
  }

  getService(accountSid: string, sid: string): SandboxService {
    const s = this.services.get(sid);
    if (!s || s.accountSid !== accountSid) throw notFound(`/v1/Services/${sid}`);
    return s;
  }

  updateService(accountSid: string, sid: string, form: Form): SandboxService {
    const s = this.getService(accountSid, sid);
    this.applyServiceForm(s, form);
    s.dateUpdated = this.now();
    return s;
  }

  deleteService(accountSid: string, sid: string): void {
    this.getService(accountSid, sid);
    for (const n of this.numbersByValue.values()) if (n.serviceSid === sid) n.serviceSid = null;
    this.services.delete(sid);
  }

  private applyServiceForm(s: SandboxService, form: Form): void {
    const str = (k: string) => one(form, k);
    const b = (k: string) => bool(form, k);
    if (str('FriendlyName') !== undefined) s.friendlyName = str('FriendlyName')!;
    if (str('InboundRequestUrl') !== undefined) s.inboundRequestUrl = str('InboundRequestUrl') || null;
    if (str('FallbackUrl') !== undefined) s.fallbackUrl = str('FallbackUrl') || null;
    if (str('StatusCallback') !== undefined) s.statusCallback = str('StatusCallback') || null;
    for (const [k, field] of [
      ['InboundMethod', 'inboundMethod'],
      ['FallbackMethod', 'fallbackMethod'],
    ] as const) {
      const v = str(k)?.toUpperCase();
      if (v === undefined) continue;
      if (v !== 'GET' && v !== 'POST') throw badParam(20001, `${k} must be GET or POST`);
      s[field] = v;
    }
    for (const [k, field] of [
      ['StickySender', 'stickySender'],
      ['MmsConverter', 'mmsConverter'],
      ['SmartEncoding', 'smartEncoding'],
      ['FallbackToLongCode', 'fallbackToLongCode'],
      ['AreaCodeGeomatch', 'areaCodeGeomatch'],
      ['SynchronousValidation', 'synchronousValidation'],
      ['UseInboundWebhookOnNumber', 'useInboundWebhookOnNumber'],
    ] as const) {
      const v = b(k);
      if (v !== undefined) s[field] = v;
    }
    const scan = str('ScanMessageContent');
    if (scan !== undefined) {
      if (scan !== 'inherit' && scan !== 'enable' && scan !== 'disable') throw badParam(20001, 'ScanMessageContent must be inherit, enable or disable');
      s.scanMessageContent = scan;
    }
    const vp = str('ValidityPeriod');
    if (vp !== undefined) {
      const v = Number(vp);
      if (!Number.isInteger(v) || v < 1 || v > 36_000) throw badParam(20001, 'ValidityPeriod must be an integer between 1 and 36000');
      s.validityPeriod = v;
    }
    if (str('Usecase') !== undefined) s.usecase = str('Usecase')!;
    if (s.stickySender === false) s.sticky.clear();
  }

  /** Add a number (PN…) or short code (SC…) to a service's sender pool. */
  addToService(accountSid: string, serviceSid: string, numberSid: string, kind: 'PN' | 'SC'): SandboxNumber {
    const s = this.getService(accountSid, serviceSid);
    const n = this.numberBySid(numberSid);
    if (!n || n.accountSid !== accountSid || !numberSid.startsWith(kind)) {
      throw badParam(21710, `${kind === 'PN' ? 'Phone Number' : 'Short Code'} ${numberSid} was not found in this account.`);
    }
    if (n.serviceSid && n.serviceSid !== s.sid) throw new TwilioApiError(409, 21710, `${numberSid} is already in Messaging Service ${n.serviceSid}.`);
    n.serviceSid = s.sid;
    n.dateUpdated = this.now();
    return n;
  }

  removeFromService(accountSid: string, serviceSid: string, numberSid: string): void {
    this.getService(accountSid, serviceSid);
    const n = this.numberBySid(numberSid);
    if (!n || n.serviceSid !== serviceSid) throw notFound(`/v1/Services/${serviceSid}/PhoneNumbers/${numberSid}`);
    n.serviceSid = null;
    this.services.get(serviceSid)!.sticky.forEach((from, to, map) => {
      if (from === n.phoneNumber) map.delete(to);
    });
  }
}

/** The toll-free network's own layer (support article 360058144374): STOP blocks, START/UNSTOP unblock; nothing else. */
function tollFreeNetworkKeyword(body: string): 'stop' | 'start' | null {
  const w = body.trim().toUpperCase();
  return w === 'STOP' ? 'stop' : w === 'START' || w === 'UNSTOP' ? 'start' : null;
}

function tollFreeStartReply(body: string): string {
  return `NETWORK MSG: You have replied "${body.trim().toLowerCase()}" and will begin receiving messages again from this number.`;
}

export function createSandbox(opts: SandboxOptions = {}): SandboxEngine {
  return new SandboxEngine(opts);
}
