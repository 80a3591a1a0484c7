/**
 * Alert rules (pure): what the Alerts page shows, from one snapshot of store statistics. Time is in the input.
 *
 *   callbacks_missing   messages submitted more than `callbackMissingMinutes` ago still waiting for a final status
 *   failure_rate_rising failed+undelivered share of the finished messages of the last hour is at least `minFailureRate`
 *                       and at least `riseFactor` × the share over the 23 hours before (needs `minFinished` messages)
 *   webhook_rejected    webhook receipts rejected (signature invalid or missing, unknown account, malformed) in the last hour
 *   sender_backlog      a sender's queued segments exceed `backlogSeconds` × its MPS (what it can send in that time)
 *   event_deliveries_failing
 *                       a subscription's latest attempt in the last `deliveryWindowMinutes` failed (retrying), or one
 *                       gave up / got 410 in that window, or the subscription is disabled (from the delivery log)
 */
import type { DeliveryRow, MessageStats, SenderQueueStats, SubscriptionRecord } from '../store/store.ts';

export interface AlertThresholds {
  callbackMissingMinutes: number;
  minFailureRate: number;
  riseFactor: number;
  minFinished: number;
  backlogSeconds: number;
  /** Event deliveries: how far back the delivery log is read. */
  deliveryWindowMinutes: number;
}

export const DEFAULT_ALERT_THRESHOLDS: Readonly<AlertThresholds> = Object.freeze({
  callbackMissingMinutes: 10,
  minFailureRate: 0.05,
  riseFactor: 2,
  minFinished: 20,
  backlogSeconds: 60,
  deliveryWindowMinutes: 60,
});

export type AlertKind = 'callbacks_missing' | 'failure_rate_rising' | 'webhook_rejected' | 'sender_backlog' | 'event_deliveries_failing';

export interface Alert {
  kind: AlertKind;
  severity: 'warning' | 'critical';
  title: string;
  detail: string;
  /** Message ids to look at (callbacks_missing). */
  messageIds?: string[];
  /** Subscription at fault (event_deliveries_failing). */
  subscriptionId?: string;
}

/** A subscription with its delivery log, newest first (at least the attempts of the window). */
export interface SubscriptionDeliveries {
  subscription: Pick<SubscriptionRecord, 'id' | 'app' | 'url' | 'status' | 'disabledReason'>;
  recent: readonly Pick<DeliveryRow, 'startedAt' | 'outcome' | 'httpStatus' | 'error' | 'type'>[];
}

export interface AlertInput {
  /** Stats over the last 24 h in 1 h buckets (24 buckets, the last one is the current hour), callbackDueBefore = now − N min. */
  day: Pick<MessageStats, 'buckets' | 'awaitingCallback'>;
  /** Stats over the last hour (webhooks). */
  hour: Pick<MessageStats, 'webhooks'>;
  queues: readonly SenderQueueStats[];
  /** MPS per `${account}:${from}`; senders not listed use `defaultMps`. */
  mps: ReadonlyMap<string, number>;
  defaultMps: number;
  /** Event subscriptions and their recent delivery attempts; `now` is when they were read. */
  deliveries?: { now: number; subscriptions: readonly SubscriptionDeliveries[] };
}

/** Pure: event-delivery alerts from the delivery log. */
export function deliveryAlerts(now: number, subs: readonly SubscriptionDeliveries[], t: AlertThresholds = DEFAULT_ALERT_THRESHOLDS): Alert[] {
  const alerts: Alert[] = [];
  const since = now - t.deliveryWindowMinutes * 60_000;
  for (const { subscription: s, recent } of subs) {
    const who = `Subscription ${s.id} (${s.app}, ${s.url})`;
    if (s.status === 'disabled') {
      alerts.push({
        kind: 'event_deliveries_failing',
        severity: 'critical',
        title: `${who} is disabled`,
        detail: `${s.disabledReason ?? 'Disabled.'} No events are delivered to it; the app must subscribe again.`,
        subscriptionId: s.id,
      });
      continue;
    }
    const window = recent.filter((d) => d.startedAt >= since);
    if (window.length === 0) continue;
    const failed = window.filter((d) => d.outcome !== 'delivered');
    const latest = window[0]!;
    const givenUp = failed.filter((d) => d.outcome === 'gave_up' || d.outcome === 'gone').length;
    if (latest.outcome === 'delivered' && givenUp === 0) continue;
    const last = latest.outcome === 'delivered' ? failed[0]! : latest;
    const why = last.httpStatus !== null ? `HTTP ${last.httpStatus}` : (last.error ?? 'no answer');
    alerts.push({
      kind: 'event_deliveries_failing',
      severity: givenUp > 0 ? 'critical' : 'warning',
      title: `${who}: ${failed.length} of ${window.length} event deliveries failed in the last ${t.deliveryWindowMinutes} min`,
      detail: `${givenUp > 0 ? `${givenUp} given up (replay them with POST /v1/deliveries/{id}/replay). ` : 'Retrying with backoff for 26 h. '}Last failure: ${why} (${last.type}).`,
      subscriptionId: s.id,
    });
  }
  return alerts;
}

function failureShare(buckets: MessageStats['buckets']): { failed: number; finished: number } {
  let failed = 0;
  let finished = 0;
  for (const b of buckets) {
    failed += b.counts.failed + b.counts.undelivered;
    finished += b.counts.failed + b.counts.undelivered + b.counts.delivered;
  }
  return { failed, finished };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function evaluateAlerts(input: AlertInput, t: AlertThresholds = DEFAULT_ALERT_THRESHOLDS): Alert[] {
  const alerts: Alert[] = [];
  const aw = input.day.awaitingCallback;
  if (aw.count > 0) {
    alerts.push({
      kind: 'callbacks_missing',
      severity: 'warning',
      title: `${aw.count} message${aw.count === 1 ? '' : 's'} without a final status ${t.callbackMissingMinutes}+ minutes after submit`,
      detail: 'The provider has not reported delivery. Check the status callback URL (publicUrl) and the provider console.',
      messageIds: aw.sample,
    });
  }
  const buckets = input.day.buckets;
  if (buckets.length >= 2) {
    const cur = failureShare(buckets.slice(-1));
    const base = failureShare(buckets.slice(0, -1));
    const curRate = cur.finished > 0 ? cur.failed / cur.finished : 0;
    const baseRate = base.finished > 0 ? base.failed / base.finished : 0;
    if (cur.finished >= t.minFinished && curRate >= t.minFailureRate && curRate >= t.riseFactor * baseRate) {
      alerts.push({
        kind: 'failure_rate_rising',
        severity: curRate >= 0.5 ? 'critical' : 'warning',
        title: `Failure rate ${pct(curRate)} in the last hour (before: ${pct(baseRate)})`,
        detail: `${cur.failed} of ${cur.finished} finished messages failed or were undelivered. See the error breakdown on the Overview.`,
      });
    }
  }
  if (input.hour.webhooks.rejected > 0) {
    alerts.push({
      kind: 'webhook_rejected',
      severity: 'critical',
      title: `${input.hour.webhooks.rejected} webhook${input.hour.webhooks.rejected === 1 ? '' : 's'} rejected in the last hour`,
      detail: 'Signature invalid or missing, unknown AccountSid, or malformed. Check the auth token and publicUrl (signatures cover the exact URL).',
    });
  }
  for (const q of input.queues) {
    const mps = input.mps.get(`${q.account}:${q.from}`) ?? input.defaultMps;
    const limit = mps * t.backlogSeconds;
    if (q.queuedSegments > limit) {
      alerts.push({
        kind: 'sender_backlog',
        severity: q.queuedSegments > limit * 10 ? 'critical' : 'warning',
        title: `Sender ${q.from} (${q.account}) has ${q.queuedSegments} segments queued`,
        detail: `Above ${t.backlogSeconds} s of sending at ${mps} MPS (${limit} segments). Add senders or raise the MPS with the provider.`,
      });
    }
  }
  if (input.deliveries) alerts.push(...deliveryAlerts(input.deliveries.now, input.deliveries.subscriptions, t));
  return alerts;
}
