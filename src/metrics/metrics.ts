/**
 * Prometheus metrics (prom-client) on a private Registry per app, so several apps (tests) never share counters.
 *
 * Counters and histograms are fed by the composition root through the observer methods below, from:
 *   - the API accept path            → `accepted(messages)`
 *   - the dispatcher hooks            → `submitted(m)` (onSubmitted), `completed(m)` (onFinal)
 *   - the webhook hooks               → `statusCallback(m, event)` (onStatus), `inbound(r)` (onInbound)
 *   - HTTP responses of /webhooks/*   → signature failures and rejections (metricsPlugin's onSend hook)
 *   - the event deliverer's onAttempt → `eventDelivery(row, result)` (webhooks to apps)
 * Queue gauges and the per-status gauge are computed from the store at scrape time (`collect`).
 * Every metric, its labels and its meaning: docs/reference/metrics.md.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../domain/clock.ts';
import { isTerminal, MESSAGE_STATUSES, type MessageRecord, type NewEvent } from '../domain/message.ts';
import type { DeliveryResult } from '../events/deliverer.ts';
import type { InboundRecord, OutboxRow, SenderQueueStats, Store } from '../store/store.ts';

export interface MetricsOptions {
  store: Store;
  clock: Clock;
  /** Configured senders, so their queue gauges read 0 instead of being absent. */
  senders?: readonly { account: string; from: string }[];
  /** Also export Node's process metrics (CPU, memory, event loop lag) with the `switchboard_` prefix. Default false. */
  processMetrics?: boolean;
}

const MESSAGE_LABELS = ['provider', 'account', 'sender', 'category'] as const;
const COMPLETED_LABELS = [...MESSAGE_LABELS, 'status', 'error_code'] as const;

/** Seconds; from 50 ms (in-process sandbox) to 15 min (a sender backlog). */
export const DISPATCH_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** Seconds; carriers report from ~1 s to hours. */
export const DELIVERY_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 14_400];

function labelsOf(m: MessageRecord): Record<(typeof MESSAGE_LABELS)[number], string> {
  return { provider: m.provider, account: m.account, sender: m.from, category: m.category };
}

export class SwitchboardMetrics {
  readonly registry = new Registry();
  private readonly acceptedTotal: Counter<(typeof MESSAGE_LABELS)[number]>;
  private readonly sentTotal: Counter<(typeof MESSAGE_LABELS)[number]>;
  private readonly completedTotal: Counter<(typeof COMPLETED_LABELS)[number]>;
  private readonly dispatchLatency: Histogram<(typeof MESSAGE_LABELS)[number]>;
  private readonly deliveryLatency: Histogram<'provider' | 'account' | 'sender' | 'status'>;
  private readonly callbacksTotal: Counter<'provider' | 'kind' | 'outcome'>;
  private readonly rejectedTotal: Counter<'provider' | 'kind' | 'code'>;
  private readonly signatureFailures: Counter<'provider' | 'kind'>;
  private readonly eventDeliveries: Counter<'outcome' | 'type' | 'subscription'>;

  constructor(private readonly opts: MetricsOptions) {
    const registers = [this.registry];
    this.acceptedTotal = new Counter({
      name: 'switchboard_messages_accepted_total',
      help: 'Messages accepted by the API (stored durably, 2xx answered).',
      labelNames: MESSAGE_LABELS,
      registers,
    });
    this.sentTotal = new Counter({
      name: 'switchboard_messages_sent_total',
      help: 'Messages handed to the provider (the provider returned its id).',
      labelNames: MESSAGE_LABELS,
      registers,
    });
    this.completedTotal = new Counter({
      name: 'switchboard_messages_completed_total',
      help: 'Messages that reached a final status (delivered, undelivered, failed, expired, canceled), by status and error code.',
      labelNames: COMPLETED_LABELS,
      registers,
    });
    this.dispatchLatency = new Histogram({
      name: 'switchboard_dispatch_latency_seconds',
      help: 'Accept to provider submit (submittedAt - createdAt).',
      labelNames: MESSAGE_LABELS,
      buckets: DISPATCH_BUCKETS,
      registers,
    });
    this.deliveryLatency = new Histogram({
      name: 'switchboard_delivery_latency_seconds',
      help: 'Provider submit to final status report (completedAt - submittedAt), by final status.',
      labelNames: ['provider', 'account', 'sender', 'status'],
      buckets: DELIVERY_BUCKETS,
      registers,
    });
    this.callbacksTotal = new Counter({
      name: 'switchboard_callbacks_total',
      help: 'Authentic provider webhooks ingested: status callbacks (applied, not_applied) and inbound messages (stored).',
      labelNames: ['provider', 'kind', 'outcome'],
      registers,
    });
    this.rejectedTotal = new Counter({
      name: 'switchboard_webhook_rejected_total',
      help: 'Provider webhooks answered 4xx/5xx, by Switchboard error code.',
      labelNames: ['provider', 'kind', 'code'],
      registers,
    });
    this.signatureFailures = new Counter({
      name: 'switchboard_webhook_signature_failures_total',
      help: 'Provider webhooks whose signature did not verify (SB_WEBHOOK_SIGNATURE).',
      labelNames: ['provider', 'kind'],
      registers,
    });

    this.eventDeliveries = new Counter({
      name: 'switchboard_event_deliveries_total',
      help: 'Event delivery attempts to apps (webhooks), by outcome (delivered, retry, gone, gave_up, lost), event type and subscription.',
      labelNames: ['outcome', 'type', 'subscription'],
      registers,
    });

    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'switchboard_' });

    const store = opts.store;
    const clock = opts.clock;
    const configured = opts.senders ?? [];
    // One store read per scrape, shared by the three queue gauges (prom-client collects them concurrently).
    let pending: Promise<{ now: number; rows: SenderQueueStats[] }> | null = null;
    const load = () =>
      (pending ??= (async () => {
        const now = clock.now();
        return { now, rows: await store.senderQueues({ now, recentMs: 0 }) };
      })().finally(() => {
        pending = null;
      }));
    const queueGauge = (name: string, help: string, value: (r: SenderQueueStats, now: number) => number) => {
      const g: Gauge<'account' | 'sender'> = new Gauge({
        name,
        help,
        labelNames: ['account', 'sender'],
        registers,
        async collect() {
          const { now, rows } = await load();
          g.reset();
          for (const s of configured) g.set({ account: s.account, sender: s.from }, 0);
          for (const r of rows) g.set({ account: r.account, sender: r.from }, value(r, now));
        },
      });
    };
    queueGauge('switchboard_queue_depth', 'Messages queued per sender (due or scheduled), read from the store at scrape time.', (r) => r.queued);
    queueGauge('switchboard_queue_segments', 'Segments queued per sender, read from the store at scrape time.', (r) => r.queuedSegments);
    queueGauge(
      'switchboard_queue_oldest_age_seconds',
      'Age of the oldest queued message per sender (0 when none), read from the store at scrape time.',
      (r, now) => (r.oldestCreatedAt === null ? 0 : Math.max(0, now - r.oldestCreatedAt) / 1000),
    );
    new Gauge({
      name: 'switchboard_messages',
      help: 'Messages in the store by current status, read at scrape time.',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await store.countByStatus();
        for (const s of MESSAGE_STATUSES) this.set({ status: s }, counts[s] ?? 0);
      },
    });
  }

  // ---------------------------------------------------------------- observers (fed by the composition root)

  /** The API stored these messages (new ones only, not idempotent replays). */
  accepted(messages: readonly MessageRecord[]): void {
    for (const m of messages) this.acceptedTotal.inc(labelsOf(m));
  }

  /** Dispatcher `onSubmitted`: the provider returned its id. */
  submitted(m: MessageRecord): void {
    this.sentTotal.inc(labelsOf(m));
    if (m.submittedAt !== null) this.dispatchLatency.observe(labelsOf(m), Math.max(0, m.submittedAt - m.createdAt) / 1000);
  }

  /**
   * A message reached a final status (dispatcher `onFinal`, or a status callback that moved it there). Each final
   * move is reported by exactly one of them (the one whose compare-and-set wrote it: the dispatcher does not report a
   * status a callback finalised before it recorded the submit), so every report counts.
   */
  completed(m: MessageRecord): void {
    if (!isTerminal(m.status)) return;
    this.completedTotal.inc({ ...labelsOf(m), status: m.status, error_code: m.errorCode ?? '' });
    if (m.submittedAt !== null && m.completedAt !== null && (m.status === 'delivered' || m.status === 'undelivered' || m.status === 'failed')) {
      this.deliveryLatency.observe(
        { provider: m.provider, account: m.account, sender: m.from, status: m.status },
        Math.max(0, m.completedAt - m.submittedAt) / 1000,
      );
    }
  }

  /** Webhook `onStatus`: a status callback was recorded on `m`'s timeline; counts a final move once. */
  statusCallback(m: MessageRecord, event: NewEvent): void {
    const applied = event.detail?.applied === true;
    this.callbacksTotal.inc({ provider: m.provider, kind: 'status', outcome: applied ? 'applied' : 'not_applied' });
    const from = event.detail?.from;
    if (applied && isTerminal(m.status) && (typeof from !== 'string' || !isTerminal(from as MessageRecord['status']))) this.completed(m);
  }

  /** Webhook `onInbound`: a new inbound message was stored. */
  inbound(r: InboundRecord): void {
    this.callbacksTotal.inc({ provider: r.provider, kind: 'inbound', outcome: 'stored' });
  }

  /** A provider webhook was answered with an error (from the HTTP hook in metricsPlugin). */
  webhookRejected(provider: string, kind: string, code: string): void {
    this.rejectedTotal.inc({ provider, kind, code });
    if (code === 'SB_WEBHOOK_SIGNATURE') this.signatureFailures.inc({ provider, kind });
  }

  /** Event deliverer `onAttempt`: one HTTP attempt (or a give-up without one) to an app's subscription. */
  eventDelivery(row: Pick<OutboxRow, 'type' | 'subscriptionId'>, result: Pick<DeliveryResult, 'outcome'>): void {
    this.eventDeliveries.inc({ outcome: result.outcome, type: row.type, subscription: row.subscriptionId });
  }

  /** Webhook signature failures counted by this instance since it started. */
  async signatureFailureCount(): Promise<number> {
    return (await this.signatureFailures.get()).values.reduce((sum, v) => sum + v.value, 0);
  }

  /** Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

export function createMetrics(opts: MetricsOptions): SwitchboardMetrics {
  return new SwitchboardMetrics(opts);
}
