/**
 * PostgreSQL implementation of the retention part of the store port (compliance-port.ts RetentionStore); same
 * semantics as src/store/sqlite/retention.ts. Rows are taken with FOR UPDATE SKIP LOCKED, so two instances
 * running the job at once never redact the same row twice; the lease is one atomic upsert.
 */
import type pg from 'pg';
import { HASH_PREFIX, REDACTED_BODY } from '../../compliance/retention.ts';
import type { RetentionStore } from '../compliance-port.ts';

export function postgresRetention(d: { s: string; tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T>; pool: pg.Pool }): RetentionStore {
  const { s } = d;
  const hashedLike = `${HASH_PREFIX}%`;
  return {
    async redactMessagesBefore(req) {
      if (req.senders.length === 0 || req.max <= 0) return { redacted: 0, hashed: 0 };
      const hashing = req.hash !== null;
      return d.tx(async (c) => {
        let redacted = 0;
        let hashed = 0;
        const outs = await c.query(
          `SELECT id, body, to_number FROM ${s}.messages
            WHERE created_at < $1 AND completed_at IS NOT NULL AND (account || ':' || from_number) = ANY($2::text[])
              AND (body <> $3 OR ($4 AND to_number NOT LIKE $5))
            ORDER BY created_at LIMIT $6 FOR UPDATE SKIP LOCKED`,
          [req.before, req.senders, REDACTED_BODY, hashing, hashedLike, req.max],
        );
        for (const m of outs.rows as { id: string; body: string; to_number: string }[]) {
          const to = req.hash && !m.to_number.startsWith(HASH_PREFIX) ? req.hash(m.to_number) : m.to_number;
          await c.query(`UPDATE ${s}.messages SET body = $1, to_number = $2, updated_at = $3 WHERE id = $4`, [REDACTED_BODY, to, req.now, m.id]);
          if (m.body !== REDACTED_BODY) redacted++;
          if (to !== m.to_number) hashed++;
        }
        const room = req.max - outs.rows.length;
        if (room > 0) {
          const ins = await c.query(
            `SELECT id, body, from_number FROM ${s}.inbound_messages
              WHERE received_at < $1 AND (account || ':' || to_number) = ANY($2::text[])
                AND (body <> $3 OR ($4 AND from_number NOT LIKE $5))
              ORDER BY received_at LIMIT $6 FOR UPDATE SKIP LOCKED`,
            [req.before, req.senders, REDACTED_BODY, hashing, hashedLike, room],
          );
          for (const m of ins.rows as { id: string; body: string; from_number: string }[]) {
            const from = req.hash && !m.from_number.startsWith(HASH_PREFIX) ? req.hash(m.from_number) : m.from_number;
            await c.query(`UPDATE ${s}.inbound_messages SET body = $1, from_number = $2 WHERE id = $3`, [REDACTED_BODY, from, m.id]);
            if (m.body !== REDACTED_BODY) redacted++;
            if (from !== m.from_number) hashed++;
          }
        }
        return { redacted, hashed };
      });
    },

    async purgeRawWebhooksBefore(req) {
      if (req.max <= 0) return 0;
      const r = await d.pool.query(
        `UPDATE ${s}.webhooks SET raw_body = '', headers = '{}'::jsonb
          WHERE id IN (SELECT id FROM ${s}.webhooks WHERE received_at < $1 AND (raw_body <> '' OR headers::text <> '{}') ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [req.before, req.max],
      );
      return r.rowCount ?? 0;
    },

    async tryLease(req) {
      const r = await d.pool.query(
        `INSERT INTO ${s}.leases AS l (name, owner, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
           WHERE l.expires_at <= $4 OR l.owner = EXCLUDED.owner
         RETURNING name`,
        [req.name, req.owner, req.until, req.now],
      );
      return (r.rowCount ?? 0) > 0;
    },
  };
}
