/**
 * SQLite implementation of the compliance part of the store port (src/store/compliance-port.ts): the consent
 * ledger with its opt-out sweep, subscriptions, the event outbox and the delivery log. Tables: migration
 * 0002_compliance. Every write runs in one BEGIN IMMEDIATE transaction (`write`), so the ledger row, the snapshot,
 * the failed messages and the outbox rows of one consent change commit together or not at all.
 */
import type { Database, Statement } from 'better-sqlite3';
import { applyConsentChange, emptySnapshot, type ConsentSnapshot } from '../../compliance/consent-policy.ts';
import { ulid } from '../../domain/ids.ts';
import {
  consentKey,
  type CompleteDeliveryRequest,
  type ComplianceStore,
  type ConversationStore,
  type RetentionStore,
  type ConsentHistoryEntry,
  type NewOutboxRow,
  type OutboxRow,
  type RecordConsentRequest,
  type RecordConsentResult,
  type SeqCursor,
  type SubscriptionRecord,
} from '../compliance-port.ts';
import { deliveryFromRow, historyFromRow, outboxFromRow, parseJsonText, snapshotFromRow, subscriptionFromRow, type Row } from '../rows.ts';

export const OPT_OUT_MESSAGE = 'The recipient opted out of this program (Twilio 21610)';
const EXPORT_PAGE = 500;

type StateRow = {
  contact: string;
  program: string;
  state: string;
  since: number;
  source: string | null;
  event_id: string | null;
};

const toSnapshot = (r: StateRow): ConsentSnapshot => snapshotFromRow(r);
const toHistory = (r: Row): ConsentHistoryEntry => historyFromRow(r, parseJsonText);
const toSub = (r: Row): SubscriptionRecord => subscriptionFromRow(r, parseJsonText);
const toOutbox = outboxFromRow;
const toDelivery = deliveryFromRow;

/** Split `account:from` at the first colon (account names have none). */
function splitSender(key: string): [string, string] {
  const i = key.indexOf(':');
  return [key.slice(0, i), key.slice(i + 1)];
}

/** The compliance methods over an open, migrated database; `write` runs a function in a BEGIN IMMEDIATE transaction. */
export function sqliteCompliance(db: Database, write: <T>(fn: () => T) => Promise<T>): Omit<ComplianceStore, keyof ConversationStore | keyof RetentionStore | 'listUnhandledInbound'> {
  const cache = new Map<string, Statement>();
  const p = (sql: string): Statement => {
    let st = cache.get(sql);
    if (!st) cache.set(sql, (st = db.prepare(sql)));
    return st;
  };
  const insertOutbox = (rows: readonly NewOutboxRow[]) => {
    const st = p(
      `INSERT INTO event_outbox (id, event_id, subscription_id, type, payload, status, attempts, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
    );
    for (const r of rows) st.run(r.id, r.eventId, r.subscriptionId, r.type, r.payload, r.nextAttemptAt, r.createdAt);
  };

  return {
    // ------------------------------------------------------------ consent
    async getConsent(contact, program) {
      const rows = (program === undefined
        ? p('SELECT * FROM consent_state WHERE contact = ? ORDER BY program').all(contact)
        : p('SELECT * FROM consent_state WHERE contact = ? AND program = ?').all(contact, program)) as StateRow[];
      return rows.map(toSnapshot);
    },

    async getConsentMany(pairs) {
      const out = new Map<string, ConsentSnapshot>();
      const st = p('SELECT * FROM consent_state WHERE contact = ? AND program = ?');
      for (const { contact, program } of pairs) {
        const k = consentKey(contact, program);
        if (out.has(k)) continue;
        const r = st.get(contact, program) as StateRow | undefined;
        if (r) out.set(k, toSnapshot(r));
      }
      return out;
    },

    async recordConsent(req: RecordConsentRequest): Promise<RecordConsentResult> {
      const { now } = req;
      return write(() => {
        const e = req.event;
        const cur = p('SELECT * FROM consent_state WHERE contact = ? AND program = ?').get(e.contact, e.program) as StateRow | undefined;
        // One ledger row per inbound message: a re-run of an interrupted inbound handling writes nothing again.
        const inboundId = e.evidence?.inboundMessageId;
        if (inboundId && (e.source === 'inbound_keyword' || e.source === 'provider')) {
          const prior = p(
            `SELECT id, contact, program FROM consent_events
              WHERE json_extract(evidence, '$.inboundMessageId') = ? AND source IN ('inbound_keyword', 'provider') ORDER BY seq LIMIT 1`,
          ).get(inboundId) as { id: string; contact: string; program: string } | undefined;
          if (prior) {
            const snap = p('SELECT * FROM consent_state WHERE contact = ? AND program = ?').get(prior.contact, prior.program) as StateRow | undefined;
            const next = snap ? toSnapshot(snap) : emptySnapshot(prior.contact, prior.program);
            return { result: { accepted: true, changed: false, next }, eventId: prior.id, failedMessageIds: [], duplicate: true };
          }
        }
        const id = e.id ?? `ce_${ulid(now).toLowerCase()}`;
        const result = applyConsentChange(cur ? toSnapshot(cur) : null, { ...e, id });
        if (!result.accepted) return { result, eventId: null, failedMessageIds: [] };
        p('INSERT INTO consent_events (id, contact, program, state, source, at, recorded_at, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
          id,
          e.contact,
          e.program,
          e.state,
          e.source,
          e.at,
          now,
          JSON.stringify(e.evidence ?? {}),
        );
        const n = result.next;
        if (!cur || cur.event_id !== n.eventId || cur.state !== n.state || cur.since !== n.since) {
          p(
            `INSERT INTO consent_state (contact, program, state, since, source, event_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (contact, program) DO UPDATE SET state = excluded.state, since = excluded.since, source = excluded.source,
               event_id = excluded.event_id, updated_at = excluded.updated_at`,
          ).run(n.contact, n.program, n.state, n.since, n.source, n.eventId, now);
        }
        const failedMessageIds: string[] = [];
        if (result.changed && n.state === 'opted_out' && req.programSenders.length > 0) {
          const senders = new Set(req.programSenders);
          const queued = p(`SELECT id, account, from_number FROM messages WHERE to_number = ? AND status = 'queued' ORDER BY seq`).all(e.contact) as {
            id: string;
            account: string;
            from_number: string;
          }[];
          const fail = p(
            `UPDATE messages SET status = 'failed', submit_state = 'none', error_code = 'SB_OPTED_OUT', error_message = ?, completed_at = ?, updated_at = ?,
                    lease_owner = NULL, lease_expires_at = NULL
              WHERE id = ? AND status = 'queued'`,
          );
          const ev = p('INSERT INTO message_events (message_id, type, status, at, detail) VALUES (?, ?, ?, ?, ?)');
          for (const m of queued) {
            if (!senders.has(`${m.account}:${m.from_number}`)) continue;
            if (fail.run(OPT_OUT_MESSAGE, now, now, m.id).changes === 0) continue;
            ev.run(m.id, 'failed', 'failed', now, JSON.stringify({ code: 'SB_OPTED_OUT', providerCode: '21610', stage: 'opt_out_sweep', consentEventId: id, message: OPT_OUT_MESSAGE }));
            failedMessageIds.push(m.id);
          }
        }
        if (result.changed) insertOutbox(req.outbox);
        return { result, eventId: id, failedMessageIds };
      });
    },

    async listConsentHistory(contact, program) {
      const rows = (program === undefined
        ? p('SELECT * FROM consent_events WHERE contact = ? ORDER BY seq').all(contact)
        : p('SELECT * FROM consent_events WHERE contact = ? AND program = ? ORDER BY seq').all(contact, program)) as Row[];
      return rows.map(toHistory);
    },

    exportConsent(q) {
      return {
        async *[Symbol.asyncIterator]() {
          let after: [string, string] = ['', ''];
          for (;;) {
            const where = ['(contact, program) > (?, ?)'];
            const args: (string | number)[] = [...after];
            if (q.program !== undefined) (where.push('program = ?'), args.push(q.program));
            if (q.state !== undefined) (where.push('state = ?'), args.push(q.state));
            const rows = p(`SELECT * FROM consent_state WHERE ${where.join(' AND ')} ORDER BY contact, program LIMIT ${EXPORT_PAGE}`).all(...args) as StateRow[];
            for (const r of rows) yield toSnapshot(r);
            if (rows.length < EXPORT_PAGE) return;
            const last = rows[rows.length - 1]!;
            after = [last.contact, last.program];
          }
        },
      };
    },

    // ------------------------------------------------------------ subscriptions
    async createSubscription(s) {
      p(
        `INSERT INTO subscriptions (id, key_id, app, url, events, secrets, status, disabled_reason, created_at, deleted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(s.id, s.keyId, s.app, s.url, JSON.stringify(s.events), JSON.stringify(s.secrets), s.status, s.disabledReason, s.createdAt, s.deletedAt);
    },

    async getSubscription(id) {
      const r = p('SELECT * FROM subscriptions WHERE id = ?').get(id) as Row | undefined;
      return r ? toSub(r) : null;
    },

    async listSubscriptions(q) {
      const where = ['deleted_at IS NULL'];
      const args: string[] = [];
      if (q.keyId !== undefined) (where.push('key_id = ?'), args.push(q.keyId));
      if (q.app !== undefined) (where.push('app = ?'), args.push(q.app));
      if (q.activeOnly) where.push(`status = 'active'`);
      const rows = p(`SELECT * FROM subscriptions WHERE ${where.join(' AND ')} ORDER BY created_at, id`).all(...args) as Row[];
      return rows.map(toSub).filter((s) => q.type === undefined || s.events.includes(q.type));
    },

    async deleteSubscription(id, now) {
      return write(() => {
        const changed = p('UPDATE subscriptions SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL').run(now, id).changes > 0;
        if (changed) {
          p(`UPDATE event_outbox SET status = 'failed', completed_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE subscription_id = ? AND status IN ('pending', 'delivering')`).run(now, id);
        }
        return changed;
      });
    },

    async disableSubscription(id, reason, _now) {
      p(`UPDATE subscriptions SET status = 'disabled', disabled_reason = ? WHERE id = ?`).run(reason, id);
    },

    async enqueueEvents(rows) {
      return write(() => insertOutbox(rows));
    },

    async markInboundHandled(req) {
      return write(() => {
        const marked = p('UPDATE inbound_messages SET handled_at = ? WHERE id = ? AND handled_at IS NULL').run(req.now, req.id).changes > 0;
        if (marked) insertOutbox(req.outbox);
        return marked;
      });
    },

    async claimDueDeliveries(req) {
      const { now } = req;
      return write(() => {
        const rows = p(
          `SELECT id FROM event_outbox
            WHERE (status = 'pending' AND next_attempt_at <= ?) OR (status = 'delivering' AND lease_expires_at <= ?)
            ORDER BY next_attempt_at, seq LIMIT ?`,
        ).all(now, now, Math.max(0, Math.floor(req.max))) as { id: string }[];
        const take = p(
          `UPDATE event_outbox SET status = 'delivering', lease_owner = ?, lease_expires_at = ?
            WHERE id = ? AND ((status = 'pending' AND next_attempt_at <= ?) OR (status = 'delivering' AND lease_expires_at <= ?)) RETURNING *`,
        );
        const out: OutboxRow[] = [];
        for (const { id } of rows) {
          const r = take.get(req.owner, now + req.leaseMs, id, now, now) as Row | undefined;
          if (r) out.push(toOutbox(r));
        }
        return out;
      });
    },

    async completeDelivery(req: CompleteDeliveryRequest) {
      const { now, attempt: a } = req;
      return write(() => {
        const row = p(`SELECT * FROM event_outbox WHERE id = ? AND status = 'delivering' AND lease_owner = ?`).get(req.id, req.owner) as Row | undefined;
        if (!row) return false;
        p(
          `INSERT INTO deliveries (outbox_id, subscription_id, attempt, started_at, duration_ms, http_status, error, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(row.id, row.subscription_id, a.attempt, a.startedAt, a.durationMs, a.httpStatus, a.error === null ? null : a.error.slice(0, 512), a.outcome);
        const done = req.next.status !== 'pending';
        p(
          `UPDATE event_outbox SET status = ?, attempts = attempts + 1, first_attempt_at = COALESCE(first_attempt_at, ?), next_attempt_at = ?,
                  lease_owner = NULL, lease_expires_at = NULL, completed_at = ? WHERE id = ?`,
        ).run(req.next.status, a.startedAt, req.next.nextAttemptAt ?? row.next_attempt_at, done ? now : null, row.id);
        return true;
      });
    },

    async getOutboxRow(id) {
      const r = p('SELECT * FROM event_outbox WHERE id = ?').get(id) as Row | undefined;
      return r ? toOutbox(r) : null;
    },

    async listDeliveries(subscriptionId, q) {
      const limit = Math.max(1, Math.floor(q.limit));
      const args: (string | number)[] = [subscriptionId];
      let cond = '';
      if (q.cursor) (cond = 'AND d.seq < ?'), args.push(q.cursor.seq);
      const rows = p(
        `SELECT d.*, o.event_id, o.type FROM deliveries d JOIN event_outbox o ON o.id = d.outbox_id
          WHERE d.subscription_id = ? ${cond} ORDER BY d.seq DESC LIMIT ?`,
      ).all(...args, limit + 1) as Row[];
      const items = rows.slice(0, limit).map(toDelivery);
      const last = items.at(-1);
      return { items, nextCursor: rows.length > limit && last ? ({ seq: last.seq } satisfies SeqCursor) : null };
    },

    async replayDelivery(id, now) {
      const r = p(
        `UPDATE event_outbox SET status = 'pending', next_attempt_at = ?, first_attempt_at = NULL, completed_at = NULL
          WHERE id = ? AND status IN ('delivered', 'failed') RETURNING *`,
      ).get(now, id) as Row | undefined;
      return r ? toOutbox(r) : null;
    },

    async nextDeliveryDueAt() {
      const r = p(`SELECT MIN(next_attempt_at) AS t FROM event_outbox WHERE status = 'pending'`).get() as { t: number | null };
      const l = p(`SELECT MIN(lease_expires_at) AS t FROM event_outbox WHERE status = 'delivering'`).get() as { t: number | null };
      const ts = [r.t, l.t].filter((x): x is number => x !== null);
      return ts.length ? Math.min(...ts) : null;
    },
  };
}

export { splitSender };
