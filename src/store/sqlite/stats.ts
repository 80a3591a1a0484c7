/**
 * SQLite side of the statistics methods (`stats`, `senderQueues`; contract in src/store/store.ts). Plain aggregate
 * queries over the existing tables: read-only, no transaction needed (a WAL reader sees one snapshot per statement).
 */
import type { Database } from 'better-sqlite3';
import { MESSAGE_STATUSES, type MessageStatus } from '../../domain/message.ts';
import { AWAITING_SAMPLE, bucketCount, nearestRankOffset, zeroCounts } from '../stats-query.ts';
import type { LatencyStats, MessageStats, SenderQueueStats, StatsQuery } from '../store.ts';

const RANGE = 'created_at >= @since AND created_at < @until';

function latency(db: Database, where: string, expr: string, q: StatsQuery): LatencyStats {
  const params = { since: q.since, until: q.until };
  const { n } = db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE ${RANGE} AND ${where}`).get(params) as { n: number };
  if (n === 0) return { count: 0, values: q.percentiles.map(() => null) };
  const pick = db.prepare(`SELECT ${expr} AS d FROM messages WHERE ${RANGE} AND ${where} ORDER BY d LIMIT 1 OFFSET @off`);
  return { count: n, values: q.percentiles.map((p) => (pick.get({ ...params, off: nearestRankOffset(p, n) }) as { d: number }).d) };
}

export function sqliteStats(db: Database, q: StatsQuery): MessageStats {
  const n = bucketCount(q);
  const range = { since: q.since, until: q.until };
  const totals = zeroCounts();
  const buckets = Array.from({ length: n }, (_, i) => ({ start: q.since + i * q.bucketMs, counts: zeroCounts() }));
  let submittedSegments = 0;
  const rows = db
    .prepare(
      `SELECT CAST((created_at - @since) / @b AS INTEGER) AS i, status, COUNT(*) AS n,
              COALESCE(SUM(CASE WHEN submitted_at IS NOT NULL THEN segments ELSE 0 END), 0) AS seg
         FROM messages WHERE ${RANGE} GROUP BY i, status`,
    )
    .all({ ...range, b: Math.floor(q.bucketMs) }) as { i: number; status: MessageStatus; n: number; seg: number }[];
  for (const r of rows) {
    if (!MESSAGE_STATUSES.includes(r.status)) continue;
    totals[r.status] += r.n;
    submittedSegments += r.seg;
    const b = buckets[Math.min(r.i, n - 1)];
    if (b) b.counts[r.status] += r.n;
  }
  const errors = (
    db
      .prepare(
        `SELECT error_code AS code, COUNT(*) AS n FROM messages WHERE ${RANGE} AND status IN ('failed', 'undelivered')
          GROUP BY error_code ORDER BY n DESC, error_code IS NULL, error_code`,
      )
      .all(range) as { code: string | null; n: number }[]
  ).map((r) => ({ code: r.code, count: r.n }));
  const wh = db
    .prepare('SELECT COUNT(*) AS received, COALESCE(SUM(signature_valid = 0), 0) AS rejected FROM webhooks WHERE received_at >= @since AND received_at < @until')
    .get(range) as { received: number; rejected: number };
  const awaitingWhere = `status IN ('sending', 'sent') AND submit_state = 'accepted' AND submitted_at < @due`;
  const aw = db.prepare(`SELECT COUNT(*) AS n, MIN(submitted_at) AS oldest FROM messages WHERE ${awaitingWhere}`).get({ due: q.callbackDueBefore }) as {
    n: number;
    oldest: number | null;
  };
  const sample = (
    db.prepare(`SELECT id FROM messages WHERE ${awaitingWhere} ORDER BY submitted_at, id LIMIT ${AWAITING_SAMPLE}`).all({ due: q.callbackDueBefore }) as { id: string }[]
  ).map((r) => r.id);
  return {
    totals,
    submittedSegments,
    buckets,
    dispatchLatency: latency(db, 'submitted_at IS NOT NULL', 'submitted_at - created_at', q),
    deliveryLatency: latency(db, "status = 'delivered' AND submitted_at IS NOT NULL AND completed_at IS NOT NULL", 'completed_at - submitted_at', q),
    errors,
    webhooks: { received: wh.received, rejected: wh.rejected },
    awaitingCallback: { count: aw.n, oldestSubmittedAt: aw.oldest ?? null, sample },
  };
}

export function sqliteSenderQueues(db: Database, q: { now: number; recentMs: number }): SenderQueueStats[] {
  const out = new Map<string, SenderQueueStats>();
  const entry = (account: string, from: string): SenderQueueStats => {
    const k = JSON.stringify([account, from]);
    let e = out.get(k);
    if (!e) out.set(k, (e = { account, from, queued: 0, queuedSegments: 0, oldestCreatedAt: null, recentSegments: 0 }));
    return e;
  };
  const queued = db
    .prepare(
      `SELECT account, from_number AS "from", COUNT(*) AS n, SUM(segments) AS seg, MIN(created_at) AS oldest
         FROM messages WHERE status = 'queued' GROUP BY account, from_number`,
    )
    .all() as { account: string; from: string; n: number; seg: number; oldest: number }[];
  for (const r of queued) Object.assign(entry(r.account, r.from), { queued: r.n, queuedSegments: r.seg, oldestCreatedAt: r.oldest });
  if (q.recentMs > 0) {
    const recent = db
      .prepare(
        `SELECT account, from_number AS "from", SUM(segments) AS seg FROM messages
          WHERE submitted_at >= @since AND submitted_at < @now GROUP BY account, from_number`,
      )
      .all({ since: q.now - q.recentMs, now: q.now }) as { account: string; from: string; seg: number }[];
    for (const r of recent) entry(r.account, r.from).recentSegments = r.seg;
  }
  return [...out.values()].sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
}
