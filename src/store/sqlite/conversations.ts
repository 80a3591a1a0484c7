/**
 * SQLite implementation of the conversation part of the store port (compliance-port.ts ConversationStore):
 * one row per (contact, account:from) in `conversations` (migration 0003); a thread's messages are read from
 * `messages` (to = contact, same account and sender) and `inbound_messages` (from = contact, to = our number).
 */
import type { Database, Statement } from 'better-sqlite3';
import { ulid } from '../../domain/ids.ts';
import type { MessageRecord } from '../../domain/message.ts';
import type { ConversationRecord, ConversationStore, ThreadItem, TimeCursor } from '../compliance-port.ts';
import { byRecency, conversationFromRow as toConversation, type Row } from '../rows.ts';

/** The thread upsert (named parameters @id @contact @key @account @from @program @owner @at @dir): the newest
 *  message sets last activity; an outbound message with an owner takes the thread; otherwise the owner stays. */
const TOUCH_SQL = `INSERT INTO conversations (id, contact, sender_key, account, from_number, program, owner_app, last_message_at, last_direction, created_at)
  VALUES (@id, @contact, @key, @account, @from, @program, @owner, @at, @dir, @at)
  ON CONFLICT (contact, sender_key) DO UPDATE SET
    program = excluded.program,
    owner_app = CASE WHEN @dir = 'out' AND @owner IS NOT NULL THEN @owner ELSE COALESCE(conversations.owner_app, @owner) END,
    last_direction = CASE WHEN @at >= conversations.last_message_at THEN @dir ELSE conversations.last_direction END,
    last_message_at = MAX(conversations.last_message_at, @at)
  RETURNING *`;

/**
 * Files an outbound message in its thread; called by insertMessages inside its transaction (store.ts
 * `OutboundThread`). The owner is the name of the message's API key (system messages leave the owner).
 */
export function sqliteOutboundThreading(db: Database): (m: MessageRecord, program: string) => void {
  const keyName = db.prepare('SELECT name FROM api_keys WHERE id = ?');
  const touch = db.prepare(TOUCH_SQL);
  // Key names never change (keys are created and revoked, not renamed): read each once.
  const names = new Map<string, string | null>();
  const nameOf = (keyId: string): string | null => {
    let n = names.get(keyId);
    if (n === undefined) {
      n = (keyName.get(keyId) as { name: string } | undefined)?.name ?? null;
      if (n !== null) names.set(keyId, n);
    }
    return n;
  };
  return (m, program) => {
    const owner = m.keyId === null ? null : nameOf(m.keyId);
    touch.get({ id: `cv_${ulid(m.createdAt).toLowerCase()}`, contact: m.to, key: `${m.account}:${m.from}`, account: m.account, from: m.from, program, owner, at: m.createdAt, dir: 'out' });
  };
}

export function sqliteConversations(db: Database, write: <T>(fn: () => T) => Promise<T>): ConversationStore {
  const cache = new Map<string, Statement>();
  const p = (sql: string): Statement => {
    let st = cache.get(sql);
    if (!st) cache.set(sql, (st = db.prepare(sql)));
    return st;
  };

  return {
    async touchConversation(req) {
      return write(() => {
        const key = `${req.account}:${req.from}`;
        const id = `cv_${ulid(req.at).toLowerCase()}`;
        const row = p(TOUCH_SQL).get({ id, contact: req.contact, key, account: req.account, from: req.from, program: req.program, owner: req.ownerApp ?? null, at: req.at, dir: req.direction }) as Row;
        return toConversation(row);
      });
    },

    async getConversation(id) {
      const r = p('SELECT * FROM conversations WHERE id = ?').get(id) as Row | undefined;
      return r ? toConversation(r) : null;
    },

    async listConversations(q) {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (q.contact !== undefined) (where.push('contact = ?'), args.push(q.contact));
      if (q.app !== undefined) (where.push('owner_app = ?'), args.push(q.app));
      if (q.since !== undefined) (where.push('last_message_at >= ?'), args.push(q.since));
      if (q.cursor) (where.push('(last_message_at < ? OR (last_message_at = ? AND id < ?))'), args.push(q.cursor.at, q.cursor.at, q.cursor.id));
      const limit = Math.max(1, Math.floor(q.limit));
      const rows = p(`SELECT * FROM conversations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY last_message_at DESC, id DESC LIMIT ?`).all(
        ...args,
        limit + 1,
      ) as Row[];
      const items = rows.slice(0, limit).map(toConversation);
      const last = items.at(-1);
      return { items, nextCursor: rows.length > limit && last ? { at: last.lastMessageAt, id: last.id } : null };
    },

    async listConversationMessages(id, q) {
      const row = p('SELECT * FROM conversations WHERE id = ?').get(id) as Row | undefined;
      if (!row) return { items: [], nextCursor: null };
      const conv = toConversation(row);
      const limit = Math.max(1, Math.floor(q.limit));
      const c: TimeCursor | null = q.cursor ?? null;
      const outArgs: (string | number)[] = [conv.contact, conv.account, conv.from];
      const inArgs: (string | number)[] = [conv.contact, conv.from, conv.account];
      let outCond = '';
      let inCond = '';
      if (c) {
        outCond = 'AND (created_at < ? OR (created_at = ? AND id < ?))';
        inCond = 'AND (received_at < ? OR (received_at = ? AND id < ?))';
        outArgs.push(c.at, c.at, c.id);
        inArgs.push(c.at, c.at, c.id);
      }
      const outs = p(
        `SELECT id, created_at AS at, from_number, to_number, body, status, key_id FROM messages
          WHERE to_number = ? AND account = ? AND from_number = ? ${outCond} ORDER BY created_at DESC, id DESC LIMIT ?`,
      ).all(...outArgs, limit + 1) as { id: string; at: number; from_number: string; to_number: string; body: string; status: string; key_id: string | null }[];
      const ins = p(
        `SELECT id, received_at AS at, from_number, to_number, body, num_media FROM inbound_messages
          WHERE from_number = ? AND to_number = ? AND account = ? ${inCond} ORDER BY received_at DESC, id DESC LIMIT ?`,
      ).all(...inArgs, limit + 1) as { id: string; at: number; from_number: string; to_number: string; body: string; num_media: number }[];
      const merged: ThreadItem[] = [
        ...outs.map((o) => ({ direction: 'out' as const, id: o.id, at: o.at, from: o.from_number, to: o.to_number, body: o.body, status: o.status, keyId: o.key_id, numMedia: 0 })),
        ...ins.map((i) => ({ direction: 'in' as const, id: i.id, at: i.at, from: i.from_number, to: i.to_number, body: i.body, status: null, keyId: null, numMedia: i.num_media })),
      ].sort(byRecency);
      const items = merged.slice(0, limit);
      const last = items.at(-1);
      return { items, nextCursor: merged.length > limit && last ? { at: last.at, id: last.id } : null };
    },

    async getThreadOwner(contact, senderKey) {
      const r = p('SELECT owner_app FROM conversations WHERE contact = ? AND sender_key = ?').get(contact, senderKey) as { owner_app: string | null } | undefined;
      return r?.owner_app ?? null;
    },
  };
}
