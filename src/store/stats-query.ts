/**
 * Engine-neutral helpers for the statistics methods of the store port (`stats`, `senderQueues`): argument checks,
 * empty shapes and the nearest-rank rule, so SQLite and PostgreSQL answer the same contract (store-contract.ts).
 */
import { MESSAGE_STATUSES, type MessageStatus } from '../domain/message.ts';
import type { StatsQuery } from './store.ts';

export const MAX_STATS_BUCKETS = 1_000;
export const AWAITING_SAMPLE = 20;

/** Number of buckets a query asks for; throws RangeError on a query no engine should run. */
export function bucketCount(q: StatsQuery): number {
  if (!(q.bucketMs > 0) || !Number.isFinite(q.bucketMs)) throw new RangeError('stats: bucketMs must be > 0');
  if (!(q.until > q.since)) throw new RangeError('stats: until must be after since');
  for (const p of q.percentiles) if (!(p > 0 && p <= 1)) throw new RangeError(`stats: percentile ${p} is not in (0, 1]`);
  const n = Math.ceil((q.until - q.since) / q.bucketMs);
  if (n > MAX_STATS_BUCKETS) throw new RangeError(`stats: ${n} buckets asked, at most ${MAX_STATS_BUCKETS}`);
  return n;
}

export function zeroCounts(): Record<MessageStatus, number> {
  return Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as Record<MessageStatus, number>;
}

/** 0-based offset of the nearest-rank percentile `p` among `n` sorted values (n > 0). */
export function nearestRankOffset(p: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil(p * n - 1e-9))) - 1;
}
