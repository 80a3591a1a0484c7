/**
 * PostgreSQL side of the statistics methods (`stats`, `senderQueues`; contract in src/store/store.ts). Read-only
 * aggregate queries; percentiles use the same nearest-rank offset as SQLite (stats-query.ts), so both engines
 * answer identically. `s` is the quoted schema name.
 */
import { MESSAGE_STATUSES, type MessageStatus } from '../../domain/message.ts';
import { AWAITING_SAMPLE, bucketCount, nearestRankOffset, zeroCounts } from '../stats-query.ts';
import type { LatencyStats, MessageStats, SenderQueueStats, StatsQuery } from '../store.ts';

export type PgQuery = (text: string, values?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

const RANGE = 'created_at >= $1 AND created_at < $2';

async function latency(query: PgQuery, s: string, where: string, expr: string, q: StatsQuery): Promise<LatencyStats> {
  const { rows } = await query(`SELECT COUNT(*)::bigint AS n FROM ${s}.messages WHERE ${RANGE} AND ${where}`, [q.since, q.until]);
  const n = Number(rows[0]!.n);
  if (n === 0) return { count: 0, values: q.percentiles.map(() => null) };
  const values: number[] = [];
  for (const p of q.percentiles) {
    const r = await query(`SELECT (${expr})::bigint AS d FROM ${s}.messages WHERE ${RANGE} AND ${where} ORDER BY d OFFSET $3 LIMIT 1`, [
      q.since,
      q.until,
      nearestRankOffset(p, n),
    ]);
    values.push(Number(r.rows[0]!.d));
  }
  return { count: n, values };
}

export async function postgresStats(query: PgQuery, s: string, q: StatsQuery): Promise<MessageStats> {
  const n = bucketCount(q);
  const totals = zeroCounts();
  const buckets = Array.from({ length: n }, (_, i) => ({ start: q.since + i * q.bucketMs, counts: zeroCounts() }));
  let submittedSegments = 0;
  const grouped = await query(
    `SELECT ((created_at - $1) / $3::bigint)::bigint AS i, status, COUNT(*)::bigint AS n,
            COALESCE(SUM(CASE WHEN submitted_at IS NOT NULL THEN segments ELSE 0 END), 0)::bigint AS seg
       FROM ${s}.messages WHERE ${RANGE} GROUP BY 1, status`,
    [q.since, q.until, Math.floor(q.bucketMs)],
  );
  for (const r of grouped.rows) {
    const status = r.status as MessageStatus;
    if (!MESSAGE_STATUSES.includes(status)) continue;
    const count = Number(r.n);
    totals[status] += count;
    submittedSegments += Number(r.seg);
    const b = buckets[Math.min(Number(r.i), n - 1)];
    if (b) b.counts[status] += count;
  }
  const errors = (
    await query(
      `SELECT error_code AS code, COUNT(*)::bigint AS n FROM ${s}.messages WHERE ${RANGE} AND status IN ('failed', 'undelivered')
        GROUP BY error_code ORDER BY n DESC, error_code COLLATE "C" ASC NULLS LAST`,
      [q.since, q.until],
    )
  ).rows.map((r) => ({ code: (r.code ?? null) as string | null, count: Number(r.n) }));
  const wh = (
    await query(
      `SELECT COUNT(*)::bigint AS received, COUNT(*) FILTER (WHERE NOT signature_valid)::bigint AS rejected
         FROM ${s}.webhooks WHERE received_at >= $1 AND received_at < $2`,
      [q.since, q.until],
    )
  ).rows[0]!;
  const awaitingWhere = `status IN ('sending', 'sent') AND submit_state = 'accepted' AND submitted_at < $1`;
  const aw = (await query(`SELECT COUNT(*)::bigint AS n, MIN(submitted_at)::bigint AS oldest FROM ${s}.messages WHERE ${awaitingWhere}`, [q.callbackDueBefore]))
    .rows[0]!;
  const sample = (
    await query(`SELECT id FROM ${s}.messages WHERE ${awaitingWhere} ORDER BY submitted_at, id COLLATE "C" LIMIT ${AWAITING_SAMPLE}`, [q.callbackDueBefore])
  ).rows.map((r) => r.id as string);
  return {
    totals,
    submittedSegments,
    buckets,
    dispatchLatency: await latency(query, s, 'submitted_at IS NOT NULL', 'submitted_at - created_at', q),
    deliveryLatency: await latency(query, s, "status = 'delivered' AND submitted_at IS NOT NULL AND completed_at IS NOT NULL", 'completed_at - submitted_at', q),
    errors,
    webhooks: { received: Number(wh.received), rejected: Number(wh.rejected) },
    awaitingCallback: { count: Number(aw.n), oldestSubmittedAt: aw.oldest === null || aw.oldest === undefined ? null : Number(aw.oldest), sample },
  };
}

export async function postgresSenderQueues(query: PgQuery, s: string, q: { now: number; recentMs: number }): Promise<SenderQueueStats[]> {
  const out = new Map<string, SenderQueueStats>();
  const entry = (account: string, from: string): SenderQueueStats => {
    const k = JSON.stringify([account, from]);
    let e = out.get(k);
    if (!e) out.set(k, (e = { account, from, queued: 0, queuedSegments: 0, oldestCreatedAt: null, recentSegments: 0 }));
    return e;
  };
  const queued = await query(
    `SELECT account, from_number, COUNT(*)::bigint AS n, SUM(segments)::bigint AS seg, MIN(created_at)::bigint AS oldest
       FROM ${s}.messages WHERE status = 'queued' GROUP BY account, from_number`,
  );
  for (const r of queued.rows) {
    Object.assign(entry(r.account as string, r.from_number as string), { queued: Number(r.n), queuedSegments: Number(r.seg), oldestCreatedAt: Number(r.oldest) });
  }
  if (q.recentMs > 0) {
    const recent = await query(
      `SELECT account, from_number, SUM(segments)::bigint AS seg FROM ${s}.messages
        WHERE submitted_at >= $1 AND submitted_at < $2 GROUP BY account, from_number`,
      [q.now - q.recentMs, q.now],
    );
    for (const r of recent.rows) entry(r.account as string, r.from_number as string).recentSegments = Number(r.seg);
  }
  return [...out.values()].sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
}
