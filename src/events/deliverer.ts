/**
 * The event deliverer: drains the outbox to apps' subscribed URLs (docs/dev/compliance-integration.md §5).
 *
 * One round (`runOnce`): `claimDueDeliveries` (a lease per row, so several instances share the outbox), then per
 * row: the subscription (deleted/disabled → failed); the URL policy (`checkWebhookUrl`); POST the stored payload
 * as is with `Switchboard-Signature: t=…,v1=…` (every active secret), `Switchboard-Event-Id`, `-Event-Type`,
 * `-Delivery-Id`, timeout DELIVERY_TIMEOUT_MS. The connection goes to an address checked by
 * `checkResolvedAddress` at connect time (the agent's DNS lookup is the check: no rebinding between check and
 * connect). The response decides (`classifyDeliveryResponse`): 2xx delivered; 410 → subscription disabled;
 * anything else or no answer → retried per `nextDeliveryAttempt` (≥ 24 h), then `failed` (replayable).
 * Every attempt is written to the delivery log by `completeDelivery`. Time comes from the injected clock, so
 * tests drive retries without waiting.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, request } from 'undici';
import type { Clock } from '../domain/clock.ts';
import type { EventsConfig } from '../compliance/config.ts';
import type { OutboxRow, Store } from '../store/store.ts';
import { classifyDeliveryResponse, DELIVERY_TIMEOUT_MS, nextDeliveryAttempt } from './retry-policy.ts';
import { signEvent, SIGNATURE_HEADER } from './signing.ts';
import { checkResolvedAddress, checkWebhookUrl, type UrlPolicyOptions } from './url-policy.ts';
import { WakeLoop } from '../dispatch/wake-loop.ts';

type LogFn = (obj: Record<string, unknown>, msg?: string) => void;
export interface DelivererLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}
const noop: LogFn = () => {};

export interface DelivererDeps {
  store: Store;
  clock: Clock;
  config: EventsConfig;
  /** Lease owner id (unique per process). */
  owner: string;
  log?: DelivererLogger;
  random?: () => number;
  /** DNS lookup (tests may pin names); default node:dns lookup. */
  resolve?: (host: string) => Promise<LookupAddress[]>;
  /** Called once per attempt after its outcome is recorded (or the lease was lost): metrics. Must not throw. */
  onAttempt?: (row: OutboxRow, result: DeliveryResult) => void;
}

export interface DeliveryResult {
  id: string;
  outcome: 'delivered' | 'retry' | 'gone' | 'gave_up' | 'lost';
  httpStatus: number | null;
}

export function urlPolicy(config: EventsConfig): UrlPolicyOptions {
  return { allowLoopback: config.allowLoopbackUrls, allowPrivate: config.allowPrivateUrls, allowHttp: !config.requireHttps };
}

export class EventDeliverer {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly config: EventsConfig;
  private readonly owner: string;
  private readonly log: DelivererLogger;
  private readonly random: () => number;
  private readonly policy: UrlPolicyOptions;
  private readonly agent: Agent;
  private readonly onAttempt: ((row: OutboxRow, result: DeliveryResult) => void) | undefined;
  private readonly loop = new WakeLoop(() => this.loopRound());

  constructor(deps: DelivererDeps) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.config = deps.config;
    this.owner = deps.owner;
    this.log = deps.log ?? { debug: noop, info: noop, warn: noop, error: noop };
    this.random = deps.random ?? Math.random;
    this.onAttempt = deps.onAttempt;
    this.policy = urlPolicy(deps.config);
    const resolve =
      deps.resolve ??
      ((host: string) =>
        new Promise<LookupAddress[]>((ok, fail) => dnsLookup(host, { all: true }, (err, addrs) => (err ? fail(err) : ok(addrs)))));
    const policy = this.policy;
    // The connect-time lookup is the address check: the socket connects to the address that passed it.
    const lookup: LookupFunction = (hostname, options, callback) => {
      resolve(hostname).then(
        (addrs) => {
          const good = addrs.filter((a) => checkResolvedAddress(a.address, policy).ok);
          if (good.length === 0) {
            const why = addrs.length ? checkResolvedAddress(addrs[0]!.address, policy) : { ok: false, reason: 'no address' };
            const err = Object.assign(new Error(`address of ${hostname} not allowed: ${'reason' in why ? why.reason : ''}`), { code: 'SB_ADDRESS_REJECTED' });
            callback(err, '', 4);
            return;
          }
          if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, good);
          else callback(null, good[0]!.address, good[0]!.family);
        },
        (err: NodeJS.ErrnoException) => callback(err, '', 4),
      );
    };
    this.agent = new Agent({ connect: { lookup, timeout: DELIVERY_TIMEOUT_MS }, keepAliveTimeout: 10_000, connections: 64 });
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.agent.close();
  }

  /** New rows were enqueued: run a round now. */
  wake(): void {
    this.loop.wake();
  }

  /** One round of the background loop; returns how long to sleep before the next (ms). */
  private async loopRound(): Promise<number> {
    let delay = this.config.idlePollMs;
    try {
      const done = await this.runOnce();
      const next = await this.store.nextDeliveryDueAt();
      if (next !== null) delay = Math.min(delay, Math.max(0, next - this.clock.now()));
      if (done.length === 0) delay = Math.max(delay, 5);
    } catch (err) {
      this.log.error({ err }, 'event delivery round failed');
    }
    return delay;
  }

  /** One round: claim due rows and deliver them (in parallel up to `concurrency`); resolves when all are recorded. */
  async runOnce(): Promise<DeliveryResult[]> {
    const rows = await this.store.claimDueDeliveries({ now: this.clock.now(), owner: this.owner, leaseMs: this.config.leaseMs, max: this.config.concurrency });
    return Promise.all(rows.map((r) => this.deliver(r)));
  }

  private async finish(row: OutboxRow, startedAt: number, httpStatus: number | null, error: string | null, outcome: DeliveryResult['outcome']): Promise<DeliveryResult> {
    const result = await this.record(row, startedAt, httpStatus, error, outcome);
    try {
      this.onAttempt?.(row, result);
    } catch (err) {
      this.log.error({ err, deliveryId: row.id }, 'delivery onAttempt hook failed');
    }
    return result;
  }

  private async record(row: OutboxRow, startedAt: number, httpStatus: number | null, error: string | null, outcome: DeliveryResult['outcome']): Promise<DeliveryResult> {
    const now = this.clock.now();
    const attempt = row.attempts + 1;
    let next: { status: 'delivered' | 'pending' | 'failed'; nextAttemptAt?: number };
    let logged: 'delivered' | 'retry' | 'gone' | 'gave_up' = outcome === 'lost' ? 'gave_up' : outcome;
    if (outcome === 'delivered') next = { status: 'delivered' };
    else if (outcome === 'retry') {
      const at = nextDeliveryAttempt(attempt, row.firstAttemptAt ?? startedAt, now, this.random());
      if (at === null) {
        next = { status: 'failed' };
        logged = 'gave_up';
      } else next = { status: 'pending', nextAttemptAt: at };
    } else next = { status: 'failed' };
    const ok = await this.store.completeDelivery({
      id: row.id,
      owner: this.owner,
      attempt: { attempt, startedAt, durationMs: Math.max(0, now - startedAt), httpStatus, error, outcome: logged },
      next,
      now,
    });
    if (!ok) {
      this.log.warn({ deliveryId: row.id }, 'delivery lease lost; outcome not recorded');
      return { id: row.id, outcome: 'lost', httpStatus };
    }
    this.log.debug({ deliveryId: row.id, subscriptionId: row.subscriptionId, type: row.type, attempt, httpStatus, outcome: logged, nextAttemptAt: next.nextAttemptAt }, 'event delivery attempt');
    return { id: row.id, outcome: logged, httpStatus };
  }

  private async deliver(row: OutboxRow): Promise<DeliveryResult> {
    const startedAt = this.clock.now();
    const sub = await this.store.getSubscription(row.subscriptionId);
    if (!sub || sub.deletedAt !== null || sub.status !== 'active') {
      return this.finish(row, startedAt, null, sub ? `subscription ${sub.deletedAt !== null ? 'deleted' : 'disabled'}` : 'subscription not found', 'gave_up');
    }
    const check = checkWebhookUrl(sub.url, this.policy);
    if (!check.ok) return this.finish(row, startedAt, null, `URL not allowed: ${check.reason}`, 'gave_up');
    let host = check.url.hostname;
    if (host.startsWith('[')) host = host.slice(1, -1);
    if (isIP(host)) {
      const a = checkResolvedAddress(host, this.policy);
      if (!a.ok) return this.finish(row, startedAt, null, `URL not allowed: ${a.reason}`, 'gave_up');
    }
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await request(check.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Switchboard-Events/1',
          [SIGNATURE_HEADER.toLowerCase()]: signEvent(sub.secrets, Math.floor(startedAt / 1000), row.payload),
          'switchboard-event-id': row.eventId,
          'switchboard-event-type': row.type,
          'switchboard-delivery-id': row.id,
        },
        body: row.payload,
        headersTimeout: DELIVERY_TIMEOUT_MS,
        bodyTimeout: DELIVERY_TIMEOUT_MS,
      });
      status = res.statusCode;
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
      if (classifyDeliveryResponse(status) !== 'delivered') error = `HTTP ${status}`;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      error = `${e.code ?? 'ERROR'}: ${e.message ?? String(err)}`.slice(0, 512);
    }
    const outcome = classifyDeliveryResponse(status);
    if (outcome === 'gone') {
      await this.store.disableSubscription(sub.id, `endpoint answered 410 Gone at ${new Date(this.clock.now()).toISOString()}`, this.clock.now());
      this.log.warn({ subscriptionId: sub.id }, 'subscription disabled: endpoint answered 410 Gone');
    }
    return this.finish(row, startedAt, status, error, outcome);
  }
}
