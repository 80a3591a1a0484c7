/**
 * The dispatch engine: moves queued messages to the provider, durably, through the store port.
 *
 * One round (`runOnce`):
 *   1. `expireDue`   — queued messages past `expiresAt` become `expired` (never submitted late).
 *   2. `claimStale`  — in-flight submits whose lease expired (a dispatcher died) and ambiguous submits that are
 *                      due are looked up at the provider before anything is re-sent (reconcile).
 *   3. `claimDue`    — due queued messages, priority first, within each sender's rate window, up to the free
 *                      concurrency slots; each is submitted and its outcome recorded with a compare-and-set
 *                      that also settles its rate booking at the response time (`settleBookingAt`: strict pacing
 *                      at the carrier, docs/reference/dispatch.md).
 *   4. `claimStatusPoll` — at most once a second, a few messages with the provider whose status has not changed for
 *                      `statusPollAfterMs` (callbacks lost) are looked up and the answer applied as a callback would.
 *
 * Every status the dispatcher moves a message to beyond `sending` (failed, expired, a final status found at the
 * provider, a polled status) is reported once: its `message.status` outbox rows (`statusOutbox`) are written in the
 * same transaction as the change, and `onFinal` fires for a final status this dispatcher wrote (never for one a
 * status callback wrote first: the webhook path reported that).
 *
 * The loop (`start`) runs rounds and sleeps until the store's `wakeAt`, `idlePollMs`, or `wake()`.
 * Every `now` comes from the injected clock; rules are documented in docs/reference/dispatch.md.
 */
import type { Clock } from '../domain/clock.ts';
import { isTerminal, type MessageRecord, type MessageStatus, type NewEvent, type SubmitState } from '../domain/message.ts';
import type { DispatchConfig } from '../config/schema.ts';
import { ProviderError, type LookupResult, type ProviderAdapter, type SendResult } from '../providers/provider.ts';
import type { ExpiryOutbox, Store, TransitionRequest } from '../store/store.ts';
import { decideStatusUpdate } from '../webhooks/status-update.ts';
import { nextRetryDelay } from './backoff.ts';
import { WakeLoop } from './wake-loop.ts';

/** `message.status` outbox rows for one change (`next` = the message as it will be, `event` = its timeline event). */
export type StatusOutboxBuilder = ExpiryOutbox;

type LogFn = (obj: Record<string, unknown>, msg?: string) => void;
export interface DispatchLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export interface DispatcherDeps {
  store: Store;
  /** Provider adapters by account name. */
  adapters: ReadonlyMap<string, ProviderAdapter>;
  clock: Clock;
  config: DispatchConfig;
  /** senderKey(account, from) → segments per second. */
  rates: ReadonlyMap<string, number>;
  defaultMps: number;
  /** Lease owner id of this dispatcher (unique per process). */
  owner: string;
  log?: DispatchLogger;
  random?: () => number;
  hooks?: { onSubmitted?(m: MessageRecord): void; onFinal?(m: MessageRecord): void };
  /** Compliance check immediately before each submission (consent re-check, quiet hours); see DispatchGuard. */
  guard?: DispatchGuard;
  /**
   * App events for the status changes the dispatcher decides (src/compliance/module.ts `dispatchStatusOutbox`):
   * resolves to a synchronous builder (it reads the subscriptions once), whose rows are written in the same
   * transaction as the change — also inside `expireDue`'s. Without it no `message.status` rows are written here.
   */
  statusOutbox?(now: number): Promise<StatusOutboxBuilder>;
}

/** What the guard decided for one claimed message. */
export type GuardOutcome<T> =
  | { kind: 'proceed'; value: T }
  /** Never submitted: sending → failed with `code`. */
  | { kind: 'blocked'; code: string; message: string; detail: Record<string, unknown> }
  /** Not now (quiet hours): sending → queued until `until`; not an attempt. */
  | { kind: 'deferred'; until: number; detail: Record<string, unknown> };

/**
 * Runs immediately before the provider call (src/compliance/dispatch-guard.ts). When it allows the message it
 * calls `submit` itself, so it can hold its decision (the contact's consent) until the request has been answered.
 */
export interface DispatchGuard {
  around<T>(m: MessageRecord, submit: () => Promise<T>): Promise<GuardOutcome<T>>;
  /** The provider refused the send because the contact opted out there (Twilio 21610): record it in the ledger. */
  onProviderOptOut?(m: MessageRecord, code: string): Promise<void>;
}

/**
 * A submit not found at the provider is re-sent only once its last attempt started at least this many submit timeouts
 * ago (the provider may still be processing a request we gave up on); see reconcile.
 */
const NOT_FOUND_AFTER_TIMEOUTS = 3;

/** `call` refused to start a submit that could outlive the lease (see submit). */
const LEASE_TOO_SHORT = Symbol('lease too short');

/** Status poll: at most one poll step per this much clock time, each looking up at most STATUS_POLL_BATCH messages. */
const STATUS_POLL_EVERY_MS = 1_000;
const STATUS_POLL_BATCH = 4;
/** A message is polled until its validity plus this margin has passed (then the dashboard's awaiting-callback alert shows it). */
export const STATUS_POLL_MARGIN_MS = 3_600_000;
/** `dispatch.statusPollAfterMs` when a config literal leaves it out. */
export const DEFAULT_STATUS_POLL_AFTER_MS = 600_000;

/** Provider error codes that mean "the recipient opted out at the provider". */
const PROVIDER_OPT_OUT_CODES: readonly string[] = ['21610'];

export interface RoundResult {
  claimed: number;
  expired: number;
  reconciled: number;
  /** Messages looked up by the status poll this round. */
  polled: number;
  /** Earliest time more work may become claimable (store's answer); null when nothing is queued. */
  wakeAt: number | null;
}

/** Provider statuses that say more than "sending" (the message left the provider or ended). */
const BEYOND_SENDING: readonly MessageStatus[] = ['sent', 'delivered', 'undelivered', 'failed'];
/** Max messages expired per round (the rest next round). */
const EXPIRE_BATCH = 500;
/** Shortest sleep after a round that found nothing to do, so a stale `wakeAt` cannot spin the loop. */
const MIN_IDLE_SLEEP_MS = 5;

const noop: LogFn = () => {};
const silentLog: DispatchLogger = { debug: noop, info: noop, warn: noop, error: noop };

export class Dispatcher {
  private readonly store: Store;
  private readonly adapters: ReadonlyMap<string, ProviderAdapter>;
  private readonly clock: Clock;
  private readonly config: DispatchConfig;
  private readonly rates: ReadonlyMap<string, number>;
  private readonly defaultMps: number;
  private readonly owner: string;
  private readonly log: DispatchLogger;
  private readonly random: () => number;
  private readonly hooks: NonNullable<DispatcherDeps['hooks']>;
  private readonly guard: DispatchGuard | null;
  private readonly statusOutbox: DispatcherDeps['statusOutbox'] | null;
  /** Clock time before which no poll step runs. */
  private nextPollAt = 0;

  /** Submits on the wire (promise per message id). */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Status polls under way (awaited by stop). */
  private readonly polling = new Set<Promise<void>>();
  private readonly loop = new WakeLoop(() => this.loopRound());
  /** The last round could not claim for lack of slots: a finished submit wakes the loop. */
  private starved = false;
  /** Free slots that wake a starved loop (an eighth of the concurrency, 1 to 16). */
  private get wakeBatch(): number {
    return Math.max(1, Math.min(16, Math.ceil(this.config.concurrency / 8)));
  }

  constructor(deps: DispatcherDeps) {
    this.store = deps.store;
    this.adapters = deps.adapters;
    this.clock = deps.clock;
    this.config = deps.config;
    this.rates = deps.rates;
    this.defaultMps = deps.defaultMps;
    this.owner = deps.owner;
    this.log = deps.log ?? silentLog;
    this.random = deps.random ?? Math.random;
    this.hooks = deps.hooks ?? {};
    this.guard = deps.guard ?? null;
    this.statusOutbox = deps.statusOutbox ? deps.statusOutbox.bind(deps) : null;
  }

  /** Submits currently on the wire. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  start(): void {
    this.loop.start();
  }

  /** Stop claiming, wait for in-flight submits to be recorded, release this owner's remaining leases. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.allSettled([...this.inFlight.values(), ...this.polling]);
    try {
      const released = await this.store.releaseLeases(this.owner, this.clock.now());
      if (released > 0) this.log.info({ owner: this.owner, released }, 'dispatcher released leases');
    } catch (err) {
      this.log.error({ err }, 'dispatcher could not release leases');
    }
  }

  /** New work was accepted: run a round now instead of waiting for the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /** One full round; waits until every submit it started has been recorded. */
  async runOnce(): Promise<RoundResult> {
    const { result, submits } = await this.round();
    await Promise.allSettled(submits);
    return result;
  }

  // ---------------------------------------------------------------- loop

  /** One round of the background loop; returns how long to sleep before the next (ms). */
  private async loopRound(): Promise<number> {
    let delay = this.config.idlePollMs;
    try {
      const { result } = await this.round();
      const now = this.clock.now();
      if (this.starved) {
        // Woken by a finished submit (or the poll) rather than spinning on work we cannot take yet.
        delay = this.config.idlePollMs;
      } else if (result.wakeAt !== null) {
        delay = Math.min(delay, Math.max(0, result.wakeAt - now));
      }
      if (result.claimed === 0 && result.reconciled === 0 && result.expired === 0 && result.polled === 0) delay = Math.max(delay, MIN_IDLE_SLEEP_MS);
    } catch (err) {
      this.log.error({ err }, 'dispatch round failed');
    }
    return delay;
  }

  // ---------------------------------------------------------------- round

  private async round(): Promise<{ result: RoundResult; submits: Promise<void>[] }> {
    const cfg = this.config;

    // 1. expiry (with the message.status rows of each expiry, in its transaction) and 2. the stale/ambiguous submits
    //    to reconcile: issued together, so a group-committing store writes both in one transaction.
    const expireAt = this.clock.now();
    const outbox = this.statusOutbox ? await this.statusOutbox(expireAt) : undefined;
    const [expiry, staleClaim] = await Promise.allSettled([
      this.store.expireDue(expireAt, EXPIRE_BATCH, outbox),
      this.store.claimStale({ now: this.clock.now(), owner: this.owner, leaseMs: cfg.leaseMs, max: Math.max(1, cfg.concurrency) }),
    ]);
    const expired = expiry.status === 'fulfilled' ? expiry.value : [];
    for (const m of expired) {
      this.log.info({ messageId: m.id }, 'message expired before dispatch');
      this.fireFinal(m);
    }

    // 2. reconcile stale in-flight and due ambiguous submits (lookup before any re-send); leases taken are always
    //    reconciled, even when the expiry failed (then the round fails after it).
    const stale = staleClaim.status === 'fulfilled' ? staleClaim.value : [];
    if (stale.length > 0) {
      await Promise.allSettled(stale.map((m) => this.reconcile(m)));
    }
    if (expiry.status === 'rejected') throw expiry.reason;
    if (staleClaim.status === 'rejected') throw staleClaim.reason;

    // 3. claim due work within the rate windows, up to the free slots
    const free = cfg.concurrency - this.inFlight.size;
    let claimed: MessageRecord[] = [];
    let wakeAt: number | null = null;
    if (free > 0) {
      this.starved = false;
      const res = await this.store.claimDue({
        now: this.clock.now(),
        owner: this.owner,
        leaseMs: cfg.leaseMs,
        max: free,
        windowMs: 1000 + cfg.rateWindowMarginMs,
        rates: this.rates,
        defaultMps: this.defaultMps,
      });
      claimed = res.claimed;
      wakeAt = res.wakeAt;
      if (claimed.length === free) this.starved = true;
    } else {
      this.starved = true;
    }

    const submits: Promise<void>[] = [];
    for (const m of claimed) {
      const p = this.submit(m).finally(() => {
        this.inFlight.delete(m.id);
        // Starved (every slot was taken): wake for a batch of free slots, not for each one, so draining a backlog
        // runs rounds that each claim a share of the concurrency instead of one message per finished submit.
        if (this.starved && this.loop.isRunning && this.config.concurrency - this.inFlight.size >= this.wakeBatch) this.wake();
      });
      this.inFlight.set(m.id, p);
      submits.push(p);
    }

    // 4. status poll (after the submits have started; not waited for by the loop, like submits; leased, so one
    //    instance polls a message). A failure here must not hide the submits already started.
    let polled: MessageRecord[] = [];
    try {
      polled = await this.claimPolls();
    } catch (err) {
      this.log.error({ err }, 'status poll claim failed');
    }
    for (const m of polled) {
      const p = this.pollStatus(m)
        .catch((err: unknown) => this.log.error({ err, messageId: m.id }, 'status poll failed'))
        .finally(() => this.polling.delete(p));
      this.polling.add(p);
      submits.push(p);
    }
    return { result: { claimed: claimed.length, expired: expired.length, reconciled: stale.length, polled: polled.length, wakeAt }, submits };
  }

  // ---------------------------------------------------------------- submit

  private async submit(m: MessageRecord): Promise<void> {
    const adapter = this.adapters.get(m.account);
    if (!adapter) {
      await this.failNow(m, 'SB_NO_ADAPTER', `No provider adapter for account "${m.account}"`, { kind: 'permanent' });
      return;
    }
    const call = (): Promise<{ ok: true; result: SendResult } | { ok: false; err: unknown }> => {
      // The request should be answered or aborted (submitTimeoutMs) before our lease runs out; otherwise another
      // instance could take the message over, find nothing at the provider yet and send it again. After a stall
      // between claim and send (event loop, GC, slow guard) that left less than that (or less than half the lease,
      // when leaseMs is configured below submitTimeoutMs), hand it back unsent instead.
      const minLeft = Math.min(this.config.submitTimeoutMs, this.config.leaseMs / 2);
      if (m.leaseExpiresAt !== null && m.leaseExpiresAt - this.clock.now() < minLeft) {
        return Promise.resolve({ ok: false as const, err: LEASE_TOO_SHORT });
      }
      const validitySeconds = Math.min(36_000, Math.max(1, Math.ceil((m.expiresAt - this.clock.now()) / 1000)));
      return adapter.send({ id: m.id, to: m.to, from: m.from, body: m.body, validitySeconds }).then(
        (result) => ({ ok: true as const, result }),
        (err: unknown) => ({ ok: false as const, err }),
      );
    };
    let outcome: Awaited<ReturnType<typeof call>>;
    if (this.guard) {
      let g: GuardOutcome<Awaited<ReturnType<typeof call>>>;
      try {
        g = await this.guard.around(m, call);
      } catch (err) {
        // The check itself failed (store unavailable): not submitted; retried like a transient failure.
        await this.onSubmitError(m, new ProviderError('transient', 'SB_GUARD_FAILED', err instanceof Error ? err.message : String(err)));
        return;
      }
      if (g.kind === 'blocked') {
        await this.failNow(m, g.code, g.message, g.detail);
        return;
      }
      if (g.kind === 'deferred') {
        await this.defer(m, g.until, g.detail);
        return;
      }
      outcome = g.value;
    } else {
      outcome = await call();
    }
    if (!outcome.ok && outcome.err === LEASE_TOO_SHORT) {
      await this.defer(m, this.clock.now(), { reason: 'lease_too_short', leaseExpiresAt: m.leaseExpiresAt });
      return;
    }
    if (!outcome.ok) {
      await this.onSubmitError(m, outcome.err);
      return;
    }
    await this.onSubmitted(m, outcome.result);
  }

  /** Held by the guard (quiet hours): back to `queued` until `until`; the claim does not count as an attempt. */
  private async defer(m: MessageRecord, until: number, detail: Record<string, unknown>): Promise<void> {
    const now = this.clock.now();
    const rec = await this.store.transition({
      id: m.id,
      from: ['sending'],
      submitStates: ['in_flight'],
      leaseOwner: this.owner,
      patch: { status: 'queued', submitState: 'none', nextAttemptAt: until, attempts: Math.max(0, m.attempts - 1), leaseOwner: null, leaseExpiresAt: null },
      now,
      settleBookingAt: now,
      event: { messageId: m.id, type: 'deferred', status: 'queued', at: now, detail: { ...detail, until } },
    });
    if (!rec) this.lostLease(m, 'deferred');
    else this.log.info({ messageId: m.id, until }, 'message deferred');
  }

  private async onSubmitted(m: MessageRecord, r: SendResult): Promise<void> {
    const now = this.clock.now();
    const detail = { providerMessageId: r.providerMessageId, providerStatus: r.providerStatus, attempt: m.attempts };
    const advanced = BEYOND_SENDING.includes(r.status);
    const terminal = advanced && isTerminal(r.status);
    let ours = true;
    let rec = await this.reportingTransition(m, {
      id: m.id,
      from: ['sending'],
      submitStates: ['in_flight'],
      leaseOwner: this.owner,
      patch: {
        submitState: 'accepted',
        providerMessageId: r.providerMessageId,
        providerStatus: r.providerStatus,
        ...(advanced ? { status: r.status } : {}),
        ...(terminal ? { completedAt: now } : {}),
        submittedAt: now,
        leaseOwner: null,
        leaseExpiresAt: null,
      },
      now,
      settleBookingAt: now,
      event: { messageId: m.id, type: 'submitted', status: advanced ? r.status : 'sending', at: now, detail },
    });
    if (!rec) {
      // A status callback got there first (status already past `sending`): keep its status, add our ids. The webhook
      // path reported that status (message.status, onStatus): not reported again here.
      ours = false;
      rec = await this.store.transition({
        id: m.id,
        from: BEYOND_SENDING,
        patch: { submitState: 'accepted', providerMessageId: r.providerMessageId, submittedAt: now, leaseOwner: null, leaseExpiresAt: null },
        now,
        settleBookingAt: now,
        event: { messageId: m.id, type: 'submitted', status: null, at: now, detail: { ...detail, afterCallback: true } },
      });
    }
    if (!rec) {
      const cur = await this.store.getMessage(m.id);
      this.log.warn(
        { messageId: m.id, providerMessageId: r.providerMessageId, status: cur?.status, submitState: cur?.submitState, leaseOwner: cur?.leaseOwner },
        'submit accepted by provider but the message changed hands; not recorded',
      );
      return;
    }
    this.log.debug({ messageId: m.id, providerMessageId: r.providerMessageId, attempt: m.attempts }, 'submitted');
    this.fireSubmitted(rec);
    if (ours && isTerminal(rec.status)) this.fireFinal(rec);
  }

  private async onSubmitError(m: MessageRecord, err: unknown): Promise<void> {
    const pe =
      err instanceof ProviderError
        ? err
        : // An adapter bug or unknown failure: we cannot know whether it reached the provider.
          new ProviderError('ambiguous', 'UNKNOWN', err instanceof Error ? err.message : String(err));
    if (!(err instanceof ProviderError)) this.log.error({ err, messageId: m.id }, 'adapter threw a non-ProviderError; treating as ambiguous');
    const now = this.clock.now();
    const attempt = m.attempts;
    const base = { kind: pe.kind, code: pe.code, message: pe.message, httpStatus: pe.httpStatus, attempt };

    switch (pe.kind) {
      case 'permanent':
        await this.failNow(m, pe.code, pe.message, base);
        if (this.guard?.onProviderOptOut && PROVIDER_OPT_OUT_CODES.includes(pe.code)) {
          try {
            await this.guard.onProviderOptOut(m, pe.code);
          } catch (err) {
            this.log.error({ err, messageId: m.id }, 'could not record the provider opt-out');
          }
        }
        return;
      case 'ambiguous': {
        const lookupAt = now + this.config.reconcileDelayMs;
        const rec = await this.store.transition({
          id: m.id,
          from: ['sending'],
          submitStates: ['in_flight'],
          leaseOwner: this.owner,
          patch: { submitState: 'ambiguous', nextAttemptAt: lookupAt, leaseOwner: null, leaseExpiresAt: null },
          now,
          settleBookingAt: now,
          event: { messageId: m.id, type: 'ambiguous', status: 'sending', at: now, detail: { ...base, lookupAt } },
        });
        if (!rec) this.lostLease(m, 'ambiguous');
        else this.log.warn({ messageId: m.id, code: pe.code, lookupAt }, 'ambiguous submit; will look it up before any retry');
        return;
      }
      case 'transient':
      case 'rate_limited': {
        if (attempt >= this.config.maxAttempts) {
          await this.failNow(m, pe.code, pe.message, { ...base, reason: 'max_attempts' });
          return;
        }
        const delay =
          pe.kind === 'rate_limited' && pe.retryAfterMs !== null && pe.retryAfterMs > 0
            ? pe.retryAfterMs
            : nextRetryDelay(attempt, this.config.backoff, this.random);
        const retryAt = now + delay;
        const rec = await this.store.transition({
          id: m.id,
          from: ['sending'],
          submitStates: ['in_flight'],
          leaseOwner: this.owner,
          patch: { status: 'queued', submitState: 'none', nextAttemptAt: retryAt, leaseOwner: null, leaseExpiresAt: null },
          now,
          settleBookingAt: now,
          event: { messageId: m.id, type: 'submit_failed', status: 'queued', at: now, detail: { ...base, retryAt } },
        });
        if (!rec) this.lostLease(m, 'submit_failed');
        else this.log.info({ messageId: m.id, kind: pe.kind, code: pe.code, attempt, retryAt }, 'submit failed; retry scheduled');
        return;
      }
    }
  }

  /** `sending`/in_flight → `failed`, keeping the provider's code. */
  private async failNow(m: MessageRecord, code: string, message: string, detail: Record<string, unknown>): Promise<void> {
    const now = this.clock.now();
    const rec = await this.reportingTransition(m, {
      id: m.id,
      from: ['sending'],
      submitStates: ['in_flight'],
      leaseOwner: this.owner,
      patch: { status: 'failed', submitState: 'none', errorCode: code, errorMessage: message, leaseOwner: null, leaseExpiresAt: null, completedAt: now },
      now,
      settleBookingAt: now,
      event: { messageId: m.id, type: 'failed', status: 'failed', at: now, detail: { ...detail, code, message } },
    });
    if (!rec) {
      this.lostLease(m, 'failed');
      return;
    }
    this.log.warn({ messageId: m.id, code, message }, 'message failed');
    this.fireFinal(rec);
  }

  // ---------------------------------------------------------------- reconcile

  /**
   * A submit whose outcome we do not know (lease expired mid-submit, or ambiguous): ask the provider.
   * Found → accepted with its id; not found → queued again (re-sent once); lookup failed → stays ambiguous.
   */
  private async reconcile(m: MessageRecord): Promise<void> {
    const adapter = this.adapters.get(m.account);
    const events = await this.store.listEvents(m.id);
    let since = m.createdAt;
    let lookupFailures = 0;
    for (const e of events) {
      if (e.type === 'submit_started') {
        since = e.at;
        lookupFailures = 0;
      } else if (e.type === 'ambiguous' && e.detail && e.detail.reason === 'lookup_failed') {
        lookupFailures++;
      }
    }
    const fromState: SubmitState[] = [m.submitState];

    let found: LookupResult | null;
    try {
      if (!adapter) throw new ProviderError('transient', 'SB_NO_ADAPTER', `No provider adapter for account "${m.account}"`);
      found = await adapter.lookup({ providerMessageId: m.providerMessageId, to: m.to, from: m.from, body: m.body, since });
    } catch (err) {
      const pe = err instanceof ProviderError ? err : null;
      const now = this.clock.now();
      const delay = Math.max(this.config.reconcileDelayMs, nextRetryDelay(lookupFailures + 1, this.config.backoff, this.random));
      const lookupAt = now + delay;
      const rec = await this.store.transition({
        id: m.id,
        from: ['sending'],
        submitStates: fromState,
        leaseOwner: this.owner,
        patch: { submitState: 'ambiguous', nextAttemptAt: lookupAt, leaseOwner: null, leaseExpiresAt: null },
        now,
        event: {
          messageId: m.id,
          type: 'ambiguous',
          status: 'sending',
          at: now,
          detail: { reason: 'lookup_failed', kind: pe?.kind ?? null, code: pe?.code ?? 'UNKNOWN', message: err instanceof Error ? err.message : String(err), lookupAt },
        },
      });
      if (!rec) this.lostLease(m, 'lookup_failed');
      else this.log.warn({ messageId: m.id, err, lookupAt }, 'lookup of an uncertain submit failed; will retry');
      return;
    }

    const now = this.clock.now();
    if (found) {
      const advanced = BEYOND_SENDING.includes(found.status);
      const terminal = advanced && isTerminal(found.status);
      const detail = { found: true, providerMessageId: found.providerMessageId, providerStatus: found.providerStatus, attempt: m.attempts };
      let ours = true;
      let rec = await this.reportingTransition(m, {
        id: m.id,
        from: ['sending'],
        submitStates: fromState,
        leaseOwner: this.owner,
        patch: {
          submitState: 'accepted',
          providerMessageId: found.providerMessageId,
          providerStatus: found.providerStatus,
          ...(advanced ? { status: found.status } : {}),
          ...(terminal ? { completedAt: now } : {}),
          ...(found.errorCode && advanced ? { errorCode: found.errorCode } : {}),
          submittedAt: m.submittedAt ?? now,
          leaseOwner: null,
          leaseExpiresAt: null,
        },
        now,
        event: { messageId: m.id, type: 'reconciled', status: advanced ? found.status : 'sending', at: now, detail },
      });
      if (!rec) {
        // A status callback moved it first and reported it: only our ids are added.
        ours = false;
        rec = await this.store.transition({
          id: m.id,
          from: BEYOND_SENDING,
          patch: { submitState: 'accepted', providerMessageId: found.providerMessageId, submittedAt: m.submittedAt ?? now, leaseOwner: null, leaseExpiresAt: null },
          now,
          event: { messageId: m.id, type: 'reconciled', status: null, at: now, detail: { ...detail, afterCallback: true } },
        });
      }
      if (!rec) {
        this.lostLease(m, 'reconciled');
        return;
      }
      this.log.info({ messageId: m.id, providerMessageId: found.providerMessageId }, 'uncertain submit found at the provider');
      this.fireSubmitted(rec);
      if (ours && isTerminal(rec.status)) this.fireFinal(rec);
      return;
    }

    // Not at the provider (yet). A request that timed out on our side can still be processed by a provider that is
    // slow to read it (seen under CPU load: received 9 s after it was sent). Conclude "it never arrived" only once the
    // last submit is NOT_FOUND_AFTER_TIMEOUTS × submitTimeoutMs old; until then look again at that time.
    const notFoundAfter = since + NOT_FOUND_AFTER_TIMEOUTS * this.config.submitTimeoutMs;
    if (now < notFoundAfter) {
      const rec = await this.store.transition({
        id: m.id,
        from: ['sending'],
        submitStates: fromState,
        leaseOwner: this.owner,
        patch: { submitState: 'ambiguous', nextAttemptAt: notFoundAfter, leaseOwner: null, leaseExpiresAt: null },
        now,
        event: { messageId: m.id, type: 'ambiguous', status: 'sending', at: now, detail: { reason: 'not_found_yet', submittedAt: since, lookupAt: notFoundAfter } },
      });
      if (!rec) this.lostLease(m, 'not_found_yet');
      else this.log.info({ messageId: m.id, lookupAt: notFoundAfter }, 'uncertain submit not found at the provider yet; will look again before any re-send');
      return;
    }

    // Not at the provider: it never arrived. Send again (or expire / give up).
    if (m.expiresAt <= now) {
      const rec = await this.reportingTransition(m, {
        id: m.id,
        from: ['sending'],
        submitStates: fromState,
        leaseOwner: this.owner,
        patch: { status: 'expired', submitState: 'none', leaseOwner: null, leaseExpiresAt: null, completedAt: now },
        now,
        event: { messageId: m.id, type: 'expired', status: 'expired', at: now, detail: { found: false, reason: 'expired_before_resend' } },
      });
      if (rec) this.fireFinal(rec);
      else this.lostLease(m, 'expired');
      return;
    }
    if (m.attempts >= this.config.maxAttempts) {
      const code = m.errorCode ?? 'SB_MAX_ATTEMPTS';
      const rec = await this.reportingTransition(m, {
        id: m.id,
        from: ['sending'],
        submitStates: fromState,
        leaseOwner: this.owner,
        patch: { status: 'failed', submitState: 'none', errorCode: code, errorMessage: 'Not found at the provider after the last attempt', leaseOwner: null, leaseExpiresAt: null, completedAt: now },
        now,
        event: { messageId: m.id, type: 'failed', status: 'failed', at: now, detail: { found: false, reason: 'max_attempts', attempt: m.attempts, code } },
      });
      if (rec) this.fireFinal(rec);
      else this.lostLease(m, 'failed');
      return;
    }
    const rec = await this.store.transition({
      id: m.id,
      from: ['sending'],
      submitStates: fromState,
      leaseOwner: this.owner,
      patch: { status: 'queued', submitState: 'none', nextAttemptAt: now, leaseOwner: null, leaseExpiresAt: null },
      now,
      event: { messageId: m.id, type: 'reconciled', status: 'queued', at: now, detail: { found: false, attempt: m.attempts } },
    });
    if (!rec) this.lostLease(m, 'reconciled');
    else this.log.info({ messageId: m.id }, 'uncertain submit not found at the provider; queued to send again');
  }

  // ---------------------------------------------------------------- status poll

  /** At most once per STATUS_POLL_EVERY_MS: lease a few messages whose status callbacks may have been lost. */
  private async claimPolls(): Promise<MessageRecord[]> {
    const after = this.config.statusPollAfterMs ?? DEFAULT_STATUS_POLL_AFTER_MS;
    const now = this.clock.now();
    if (after <= 0 || now < this.nextPollAt) return [];
    this.nextPollAt = now + STATUS_POLL_EVERY_MS;
    return this.store.claimStatusPoll({
      now,
      owner: this.owner,
      leaseMs: this.config.leaseMs,
      max: STATUS_POLL_BATCH,
      updatedBefore: now - after,
      expiresAfter: now - STATUS_POLL_MARGIN_MS,
    });
  }

  /**
   * Ask the provider for the status of a message whose callbacks did not come, and apply the answer exactly as a
   * status callback would (decideStatusUpdate: only forward), event `status` with detail.source 'poll'. Every write
   * clears our lease and sets updatedAt, so the next poll of a message still not final is statusPollAfterMs later.
   */
  private async pollStatus(m: MessageRecord): Promise<void> {
    const adapter = this.adapters.get(m.account);
    let found: LookupResult | null;
    try {
      if (!adapter) throw new ProviderError('transient', 'SB_NO_ADAPTER', `No provider adapter for account "${m.account}"`);
      found = await adapter.lookup({ providerMessageId: m.providerMessageId, to: m.to, from: m.from, body: m.body, since: m.submittedAt ?? m.createdAt });
    } catch (err) {
      const pe = err instanceof ProviderError ? err : null;
      this.log.warn({ messageId: m.id, err }, 'status poll: lookup failed; will poll again later');
      await this.pollRecord(m, null, { reason: 'lookup_failed', kind: pe?.kind ?? null, code: pe?.code ?? 'UNKNOWN', message: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (!found) {
      this.log.warn({ messageId: m.id, providerMessageId: m.providerMessageId }, 'status poll: the provider does not know the message');
      await this.pollRecord(m, null, { reason: 'not_found', providerMessageId: m.providerMessageId });
      return;
    }
    const now = this.clock.now();
    const base = { source: 'poll', providerMessageId: found.providerMessageId, providerStatus: found.providerStatus, errorCode: found.errorCode };
    const d = decideStatusUpdate(
      m,
      { providerMessageId: found.providerMessageId, providerStatus: found.providerStatus, mapped: found.status, errorCode: found.errorCode, errorMessage: null },
      now,
    );
    if (d.action === 'record') {
      await this.pollRecord(m, found.status, { ...base, applied: false, reason: d.reason, current: m.status });
      return;
    }
    const applied = d.action === 'advance';
    const req: TransitionRequest = {
      id: m.id,
      from: d.from,
      submitStates: ['accepted'],
      leaseOwner: this.owner,
      patch: { ...d.patch, leaseOwner: null, leaseExpiresAt: null },
      now,
      event: {
        messageId: m.id,
        type: 'status',
        status: found.status,
        at: now,
        detail: applied ? { ...base, applied: true, from: m.status } : { ...base, applied: false, reason: 'unchanged', current: m.status },
      },
    };
    const rec = applied ? await this.reportingTransition(m, req) : await this.store.transition(req);
    if (!rec) {
      this.lostLease(m, 'status_poll');
      return;
    }
    if (applied) {
      this.log.info({ messageId: m.id, from: m.status, status: rec.status, providerStatus: found.providerStatus }, 'status poll: status applied (callback missing)');
      if (isTerminal(rec.status)) this.fireFinal(rec);
    }
  }

  /** A poll that changes nothing: kept on the timeline, lease cleared. */
  private async pollRecord(m: MessageRecord, status: MessageStatus | null, detail: Record<string, unknown>): Promise<void> {
    const now = this.clock.now();
    const rec = await this.store.transition({
      id: m.id,
      from: [m.status],
      submitStates: ['accepted'],
      leaseOwner: this.owner,
      patch: { leaseOwner: null, leaseExpiresAt: null },
      now,
      event: { messageId: m.id, type: 'status', status, at: now, detail: { source: 'poll', applied: false, ...detail } },
    });
    if (!rec) this.lostLease(m, 'status_poll');
  }

  // ---------------------------------------------------------------- helpers

  /**
   * `store.transition` that moves the status (beyond `sending`), with the change's `message.status` outbox rows
   * written in the same transaction (statusOutbox), so a crash right after the change cannot lose its app event.
   */
  private async reportingTransition(m: MessageRecord, req: TransitionRequest): Promise<MessageRecord | null> {
    const to = req.patch.status;
    if (!this.statusOutbox || !req.event || to === undefined || to === 'queued' || to === 'sending' || to === m.status) return this.store.transition(req);
    const build = await this.statusOutbox(req.now);
    const event: NewEvent = req.event;
    const rows = build({ ...m, ...req.patch, updatedAt: req.now }, event);
    return this.store.transition(rows.length > 0 ? { ...req, outbox: rows } : req);
  }

  private lostLease(m: MessageRecord, step: string): void {
    this.log.warn({ messageId: m.id, step, owner: this.owner }, 'message changed under us (lease lost or status moved); outcome not recorded');
  }

  private fireSubmitted(m: MessageRecord): void {
    try {
      this.hooks.onSubmitted?.(m);
    } catch (err) {
      this.log.error({ err, messageId: m.id }, 'onSubmitted hook threw');
    }
  }

  private fireFinal(m: MessageRecord): void {
    try {
      this.hooks.onFinal?.(m);
    } catch (err) {
      this.log.error({ err, messageId: m.id }, 'onFinal hook threw');
    }
  }
}
