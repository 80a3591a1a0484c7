/**
 * PostgreSQL implementation of the conversation part of the store port (compliance-port.ts ConversationStore);
 * the same semantics as src/store/sqlite/conversations.ts. The upsert is one statement (INSERT … ON CONFLICT),
 * so concurrent instances touching one thread never create two rows.
 */
import type pg from 'pg';
import { ulid } from '../../domain/ids.ts';
import type { ConversationRecord, ConversationStore, ThreadItem } from '../compliance-port.ts';
import { byRecency, conversationFromRow as toConversation } from '../rows.ts';

export function postgresConversations(d: { pool: pg.Pool; s: string }): ConversationStore {
  const { pool, s } = d;
  return {
    async touchConversation(req) {
      const r = await pool.query(
        `INSERT INTO ${s}.conversations AS c (id, contact, sender_key, account, from_number, program, owner_app, last_message_at, last_direction, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8)
         ON CONFLICT (contact, sender_key) DO UPDATE SET
           program = EXCLUDED.program,
           owner_app = CASE WHEN $9 = 'out' AND $7::text IS NOT NULL THEN $7::text ELSE COALESCE(c.owner_app, $7::text) END,
           last_direction = CASE WHEN $8 >= c.last_message_at THEN $9 ELSE c.last_direction END,
           last_message_at = GREATEST(c.last_message_at, $8)
         RETURNING *`,
        [`cv_${ulid(req.at).toLowerCase()}`, req.contact, `${req.account}:${req.from}`, req.account, req.from, req.program, req.ownerApp ?? null, req.at, req.direction],
      );
      return toConversation(r.rows[0]!);
    },

    async getConversation(id) {
      const r = await pool.query(`SELECT * FROM ${s}.conversations WHERE id = $1`, [id]);
      return r.rows[0] ? toConversation(r.rows[0]) : null;
    },

    async listConversations(q) {
      const where: string[] = [];
      const args: unknown[] = [];
      const arg = (v: unknown) => `$${args.push(v)}`;
      if (q.contact !== undefined) where.push(`contact = ${arg(q.contact)}`);
      if (q.app !== undefined) where.push(`owner_app = ${arg(q.app)}`);
      if (q.since !== undefined) where.push(`last_message_at >= ${arg(q.since)}`);
      if (q.cursor) where.push(`(last_message_at, id) < (${arg(q.cursor.at)}, ${arg(q.cursor.id)})`);
      const limit = Math.max(1, Math.floor(q.limit));
      const r = await pool.query(
        `SELECT * FROM ${s}.conversations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY last_message_at DESC, id DESC LIMIT ${arg(limit + 1)}`,
        args,
      );
      const items = r.rows.slice(0, limit).map(toConversation);
      const last = items.at(-1);
      return { items, nextCursor: r.rows.length > limit && last ? { at: last.lastMessageAt, id: last.id } : null };
    },

    async listConversationMessages(id, q) {
      const cr = await pool.query(`SELECT * FROM ${s}.conversations WHERE id = $1`, [id]);
      const conv = cr.rows[0];
      if (!conv) return { items: [], nextCursor: null };
      const limit = Math.max(1, Math.floor(q.limit));
      const c = q.cursor ?? null;
      const outs = await pool.query(
        `SELECT id, created_at AS at, from_number, to_number, body, status, key_id FROM ${s}.messages
          WHERE to_number = $1 AND account = $2 AND from_number = $3 ${c ? 'AND (created_at, id) < ($5, $6)' : ''}
          ORDER BY created_at DESC, id DESC LIMIT $4`,
        c ? [conv.contact, conv.account, conv.from_number, limit + 1, c.at, c.id] : [conv.contact, conv.account, conv.from_number, limit + 1],
      );
      const ins = await pool.query(
        `SELECT id, received_at AS at, from_number, to_number, body, num_media FROM ${s}.inbound_messages
          WHERE from_number = $1 AND to_number = $2 AND account = $3 ${c ? 'AND (received_at, id) < ($5, $6)' : ''}
          ORDER BY received_at DESC, id DESC LIMIT $4`,
        c ? [conv.contact, conv.from_number, conv.account, limit + 1, c.at, c.id] : [conv.contact, conv.from_number, conv.account, limit + 1],
      );
      const merged: ThreadItem[] = [
        ...outs.rows.map((o) => ({
          direction: 'out' as const,
          id: o.id as string,
          at: Number(o.at),
          from: o.from_number as string,
          to: o.to_number as string,
          body: o.body as string,
          status: o.status as string,
          keyId: (o.key_id ?? null) as string | null,
          numMedia: 0,
        })),
        ...ins.rows.map((i) => ({
          direction: 'in' as const,
          id: i.id as string,
          at: Number(i.at),
          from: i.from_number as string,
          to: i.to_number as string,
          body: i.body as string,
          status: null,
          keyId: null,
          numMedia: Number(i.num_media),
        })),
      ].sort(byRecency);
      const items = merged.slice(0, limit);
      const last = items.at(-1);
      return { items, nextCursor: merged.length > limit && last ? { at: last.at, id: last.id } : null };
    },

    async getThreadOwner(contact, senderKey) {
      const r = await pool.query(`SELECT owner_app FROM ${s}.conversations WHERE contact = $1 AND sender_key = $2`, [contact, senderKey]);
      return (r.rows[0]?.owner_app ?? null) as string | null;
    },
  };
}
