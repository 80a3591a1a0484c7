/**
 * SQLite implementation of the retention part of the store port (compliance-port.ts RetentionStore): body
 * redaction and number hashing of due messages, raw webhook purge, and named leases (table `leases`).
 */
import type { Database, Statement } from 'better-sqlite3';
import { HASH_PREFIX, REDACTED_BODY } from '../../compliance/retention.ts';
import type { RetentionStore } from '../compliance-port.ts';

export function sqliteRetention(db: Database, write: <T>(fn: () => T) => Promise<T>): RetentionStore {
  const cache = new Map<string, Statement>();
  const p = (sql: string): Statement => {
    let st = cache.get(sql);
    if (!st) cache.set(sql, (st = db.prepare(sql)));
    return st;
  };
  const hashedLike = `${HASH_PREFIX}%`;

  return {
    async redactMessagesBefore(req) {
      if (req.senders.length === 0 || req.max <= 0) return { redacted: 0, hashed: 0 };
      const keys = JSON.stringify(req.senders);
      const hashing = req.hash !== null ? 1 : 0;
      return write(() => {
        let redacted = 0;
        let hashed = 0;
        const outs = p(
          `SELECT id, body, to_number FROM messages
            WHERE created_at < ? AND completed_at IS NOT NULL AND (account || ':' || from_number) IN (SELECT value FROM json_each(?))
              AND (body <> ? OR (? = 1 AND to_number NOT LIKE ?))
            ORDER BY created_at LIMIT ?`,
        ).all(req.before, keys, REDACTED_BODY, hashing, hashedLike, req.max) as { id: string; body: string; to_number: string }[];
        const upd = p('UPDATE messages SET body = ?, to_number = ?, updated_at = ? WHERE id = ?');
        for (const m of outs) {
          const to = req.hash && !m.to_number.startsWith(HASH_PREFIX) ? req.hash(m.to_number) : m.to_number;
          upd.run(REDACTED_BODY, to, req.now, m.id);
          if (m.body !== REDACTED_BODY) redacted++;
          if (to !== m.to_number) hashed++;
        }
        const room = req.max - outs.length;
        if (room > 0) {
          const ins = p(
            `SELECT id, body, from_number FROM inbound_messages
              WHERE received_at < ? AND (account || ':' || to_number) IN (SELECT value FROM json_each(?))
                AND (body <> ? OR (? = 1 AND from_number NOT LIKE ?))
              ORDER BY received_at LIMIT ?`,
          ).all(req.before, keys, REDACTED_BODY, hashing, hashedLike, room) as { id: string; body: string; from_number: string }[];
          const updIn = p('UPDATE inbound_messages SET body = ?, from_number = ? WHERE id = ?');
          for (const m of ins) {
            const from = req.hash && !m.from_number.startsWith(HASH_PREFIX) ? req.hash(m.from_number) : m.from_number;
            updIn.run(REDACTED_BODY, from, m.id);
            if (m.body !== REDACTED_BODY) redacted++;
            if (from !== m.from_number) hashed++;
          }
        }
        return { redacted, hashed };
      });
    },

    async purgeRawWebhooksBefore(req) {
      if (req.max <= 0) return 0;
      return write(
        () =>
          p(
            `UPDATE webhooks SET raw_body = '', headers = '{}'
              WHERE id IN (SELECT id FROM webhooks WHERE received_at < ? AND (raw_body <> '' OR headers <> '{}') ORDER BY received_at LIMIT ?)`,
          ).run(req.before, req.max).changes,
      );
    },

    async tryLease(req) {
      return write(
        () =>
          p(
            `INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
               WHERE leases.expires_at <= ? OR leases.owner = excluded.owner`,
          ).run(req.name, req.owner, req.until, req.now).changes > 0,
      );
    },
  };
}
