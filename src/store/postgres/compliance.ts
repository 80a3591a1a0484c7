/**
 * PostgreSQL implementation of the compliance part of the store port (src/store/compliance-port.ts): the consent
 * ledger with its opt-out sweep, subscriptions, the event outbox and the delivery log. Tables: migration
 * 0002_compliance. Same semantics as the SQLite implementation (src/store/sqlite/compliance.ts); what differs is how
 * several instances are kept apart:
 * - recordConsent serializes changes of one (contact, program) with a transaction-level advisory lock, so two
 *   instances never both apply a change to the same stale snapshot (a row lock cannot cover a row not yet created);
 * - claimDueDeliveries takes rows with FOR UPDATE SKIP LOCKED, so instances never deliver the same row twice at once.
 */
import type pg from 'pg';
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
  type RecordConsentRequest,
  type RecordConsentResult,
  type SubscriptionRecord,
} from '../compliance-port.ts';
import { deliveryFromRow, historyFromRow, jsonAsIs, outboxFromRow, snapshotFromRow, subscriptionFromRow, type Row } from '../rows.ts';

/** Error message of messages failed by the opt-out sweep (the same text as the SQLite store). */
export const OPT_OUT_MESSAGE = 'The recipient opted out of this program (Twilio 21610)';
const EXPORT_PAGE = 500;

type Queryable = Pick<pg.PoolClient, 'query'>;

export interface ComplianceDeps {
  pool: pg.Pool;
  /** Quoted schema (table prefix). */
  s: string;
  /** Unquoted schema name (advisory lock namespace). */
  schema: string;
  tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T>;
}

const toSnapshot = snapshotFromRow;
const toHistory = (r: Row): ConsentHistoryEntry => historyFromRow(r, jsonAsIs);
const toSub = (r: Row): SubscriptionRecord => subscriptionFromRow(r, jsonAsIs);
const toOutbox = outboxFromRow;
const toDelivery = deliveryFromRow;

export function postgresCompliance(d: ComplianceDeps): Omit<ComplianceStore, keyof ConversationStore | keyof RetentionStore | 'listUnhandledInbound'> {
  const { s } = d;
  const q = <R extends Row = Row>(text: string, values: unknown[] = [], db: Queryable = d.pool) => db.query<R>(text, values);

  /** Insert outbox rows (one statement). */
  const insertOutbox = async (rows: readonly NewOutboxRow[], db: Queryable) => {
    if (rows.length === 0) return;
    await q(
      `INSERT INTO ${s}.event_outbox (id, event_id, subscription_id, type, payload, status, attempts, next_attempt_at, created_at)
       SELECT u.id, u.event_id, u.subscription_id, u.type, u.payload, 'pending', 0, u.next_attempt_at, u.created_at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
         WITH ORDINALITY AS u(id, event_id, subscription_id, type, payload, next_attempt_at, created_at, n)
       ORDER BY u.n`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.eventId),
        rows.map((r) => r.subscriptionId),
        rows.map((r) => r.type),
        rows.map((r) => r.payload),
        rows.map((r) => r.nextAttemptAt),
        rows.map((r) => r.createdAt),
      ],
      db,
    );
  };

  return {
    // ------------------------------------------------------------ consent
    async getConsent(contact, program) {
      const r =
        program === undefined
          ? await q(`SELECT * FROM ${s}.consent_state WHERE contact = $1 ORDER BY program`, [contact])
          : await q(`SELECT * FROM ${s}.consent_state WHERE contact = $1 AND program = $2`, [contact, program]);
      return r.rows.map(toSnapshot);
    },

    async getConsentMany(pairs) {
      const out = new Map<string, ConsentSnapshot>();
      if (pairs.length === 0) return out;
      const r = await q(
        `SELECT c.* FROM ${s}.consent_state c JOIN unnest($1::text[], $2::text[]) AS k(contact, program) ON c.contact = k.contact AND c.program = k.program`,
        [pairs.map((p) => p.contact), pairs.map((p) => p.program)],
      );
      for (const row of r.rows) {
        const snap = toSnapshot(row);
        out.set(consentKey(snap.contact, snap.program), snap);
      }
      return out;
    },

    async recordConsent(req: RecordConsentRequest): Promise<RecordConsentResult> {
      const { now } = req;
      const e = req.event;
      return d.tx(async (c) => {
        // One change at a time per (contact, program), across instances, including the first (no row to lock yet).
        await q('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [`switchboard:consent:${d.schema}`, `${e.contact}\n${e.program}`], c);
        const cur = (await q(`SELECT * FROM ${s}.consent_state WHERE contact = $1 AND program = $2 FOR UPDATE`, [e.contact, e.program], c)).rows[0];
        // One ledger row per inbound message: a re-run of an interrupted inbound handling writes nothing again (the
        // advisory lock above serializes two runs for the same message).
        const inboundId = e.evidence?.inboundMessageId;
        if (inboundId && (e.source === 'inbound_keyword' || e.source === 'provider')) {
          const prior = (
            await q(
              `SELECT id, contact, program FROM ${s}.consent_events
                WHERE (evidence->>'inboundMessageId') = $1 AND source IN ('inbound_keyword', 'provider') ORDER BY seq LIMIT 1`,
              [inboundId],
              c,
            )
          ).rows[0];
          if (prior) {
            const snap = (await q(`SELECT * FROM ${s}.consent_state WHERE contact = $1 AND program = $2`, [prior.contact, prior.program], c)).rows[0];
            const next = snap ? toSnapshot(snap) : emptySnapshot(prior.contact as string, prior.program as string);
            return { result: { accepted: true, changed: false, next }, eventId: prior.id as string, failedMessageIds: [], duplicate: true };
          }
        }
        const id = e.id ?? `ce_${ulid(now).toLowerCase()}`;
        const result = applyConsentChange(cur ? toSnapshot(cur) : null, { ...e, id });
        if (!result.accepted) return { result, eventId: null, failedMessageIds: [] };
        await q(
          `INSERT INTO ${s}.consent_events (id, contact, program, state, source, at, recorded_at, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`,
          [id, e.contact, e.program, e.state, e.source, e.at, now, JSON.stringify(e.evidence ?? {})],
          c,
        );
        const n = result.next;
        if (!cur || cur.event_id !== n.eventId || cur.state !== n.state || cur.since !== n.since) {
          await q(
            `INSERT INTO ${s}.consent_state (contact, program, state, since, source, event_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (contact, program) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since, source = EXCLUDED.source,
               event_id = EXCLUDED.event_id, updated_at = EXCLUDED.updated_at`,
            [n.contact, n.program, n.state, n.since, n.source, n.eventId, now],
            c,
          );
        }
        let failedMessageIds: string[] = [];
        if (result.changed && n.state === 'opted_out' && req.programSenders.length > 0) {
          // The sweep: every queued message to the contact from the program's senders fails, with its event. A
          // message a dispatcher is claiming right now is waited for and skipped when it is no longer queued.
          const swept = await q<{ id: string }>(
            `WITH f AS (
               UPDATE ${s}.messages
               SET status = 'failed', submit_state = 'none', error_code = 'SB_OPTED_OUT', error_message = $3,
                   completed_at = $4::bigint, updated_at = $4::bigint, lease_owner = NULL, lease_expires_at = NULL
               WHERE to_number = $1 AND status = 'queued' AND sender_key = ANY($2::text[])
               RETURNING id, seq
             ), ev AS (
               INSERT INTO ${s}.message_events (message_id, type, status, at, detail)
               SELECT f.id, 'failed', 'failed', $4::bigint,
                      jsonb_build_object('code', 'SB_OPTED_OUT', 'providerCode', '21610', 'stage', 'opt_out_sweep',
                                         'consentEventId', $5::text, 'message', $3::text)
               FROM f ORDER BY f.seq
             )
             SELECT id FROM f ORDER BY seq`,
            [e.contact, [...req.programSenders], OPT_OUT_MESSAGE, now, id],
            c,
          );
          failedMessageIds = swept.rows.map((r) => r.id);
        }
        if (result.changed) await insertOutbox(req.outbox, c);
        return { result, eventId: id, failedMessageIds };
      });
    },

    async listConsentHistory(contact, program) {
      const r =
        program === undefined
          ? await q(`SELECT * FROM ${s}.consent_events WHERE contact = $1 ORDER BY seq`, [contact])
          : await q(`SELECT * FROM ${s}.consent_events WHERE contact = $1 AND program = $2 ORDER BY seq`, [contact, program]);
      return r.rows.map(toHistory);
    },

    exportConsent(filter) {
      return {
        async *[Symbol.asyncIterator]() {
          let after: [string, string] = ['', ''];
          for (;;) {
            const where = ['(contact, program) > ($1, $2)'];
            const values: unknown[] = [...after];
            if (filter.program !== undefined) (values.push(filter.program), where.push(`program = $${values.length}`));
            if (filter.state !== undefined) (values.push(filter.state), where.push(`state = $${values.length}`));
            const r = await q(`SELECT * FROM ${s}.consent_state WHERE ${where.join(' AND ')} ORDER BY contact, program LIMIT ${EXPORT_PAGE}`, values);
            for (const row of r.rows) yield toSnapshot(row);
            if (r.rows.length < EXPORT_PAGE) return;
            const last = r.rows[r.rows.length - 1]!;
            after = [last.contact as string, last.program as string];
          }
        },
      };
    },

    // ------------------------------------------------------------ subscriptions
    async createSubscription(sub) {
      await q(
        `INSERT INTO ${s}.subscriptions (id, key_id, app, url, events, secrets, status, disabled_reason, created_at, deleted_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10)`,
        [sub.id, sub.keyId, sub.app, sub.url, JSON.stringify(sub.events), JSON.stringify(sub.secrets), sub.status, sub.disabledReason, sub.createdAt, sub.deletedAt],
      );
    },

    async getSubscription(id) {
      const r = await q(`SELECT * FROM ${s}.subscriptions WHERE id = $1`, [id]);
      return r.rows[0] ? toSub(r.rows[0]) : null;
    },

    async listSubscriptions(f) {
      const where = ['deleted_at IS NULL'];
      const values: unknown[] = [];
      if (f.keyId !== undefined) (values.push(f.keyId), where.push(`key_id = $${values.length}`));
      if (f.app !== undefined) (values.push(f.app), where.push(`app = $${values.length}`));
      if (f.type !== undefined) (values.push(JSON.stringify([f.type])), where.push(`events @> $${values.length}::jsonb`));
      if (f.activeOnly) where.push(`status = 'active'`);
      const r = await q(`SELECT * FROM ${s}.subscriptions WHERE ${where.join(' AND ')} ORDER BY created_at, id`, values);
      return r.rows.map(toSub);
    },

    async deleteSubscription(id, now) {
      return d.tx(async (c) => {
        const r = await q(`UPDATE ${s}.subscriptions SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL`, [now, id], c);
        const changed = (r.rowCount ?? 0) > 0;
        if (changed) {
          await q(
            `UPDATE ${s}.event_outbox SET status = 'failed', completed_at = $1, lease_owner = NULL, lease_expires_at = NULL
             WHERE subscription_id = $2 AND status IN ('pending', 'delivering')`,
            [now, id],
            c,
          );
        }
        return changed;
      });
    },

    async disableSubscription(id, reason, _now) {
      await q(`UPDATE ${s}.subscriptions SET status = 'disabled', disabled_reason = $1 WHERE id = $2`, [reason, id]);
    },

    async enqueueEvents(rows) {
      await insertOutbox(rows, d.pool);
    },

    async markInboundHandled(req) {
      return d.tx(async (c) => {
        const r = await q(`UPDATE ${s}.inbound_messages SET handled_at = $1 WHERE id = $2 AND handled_at IS NULL`, [req.now, req.id], c);
        const marked = (r.rowCount ?? 0) > 0;
        if (marked) await insertOutbox(req.outbox, c);
        return marked;
      });
    },

    async claimDueDeliveries(req) {
      const max = Math.max(0, Math.floor(req.max));
      if (max === 0) return [];
      const r = await q(
        `UPDATE ${s}.event_outbox SET status = 'delivering', lease_owner = $2, lease_expires_at = $3::bigint
         WHERE id IN (
           SELECT id FROM ${s}.event_outbox
           WHERE (status = 'pending' AND next_attempt_at <= $1) OR (status = 'delivering' AND lease_expires_at <= $1)
           ORDER BY next_attempt_at, seq
           LIMIT $4
           FOR UPDATE SKIP LOCKED
         )
         RETURNING *`,
        [req.now, req.owner, req.now + req.leaseMs, max],
      );
      return r.rows.sort((a, b) => (a.next_attempt_at as number) - (b.next_attempt_at as number) || (a.seq as number) - (b.seq as number)).map(toOutbox);
    },

    async completeDelivery(req: CompleteDeliveryRequest) {
      const { now, attempt: a } = req;
      const done = req.next.status !== 'pending';
      // One statement: the row moves on (only while we hold its lease) and the attempt is logged with it.
      const r = await q(
        `WITH o AS (
           UPDATE ${s}.event_outbox
           SET status = $3, attempts = attempts + 1, first_attempt_at = COALESCE(first_attempt_at, $4::bigint),
               next_attempt_at = COALESCE($5::bigint, next_attempt_at), lease_owner = NULL, lease_expires_at = NULL,
               completed_at = $6::bigint
           WHERE id = $1 AND status = 'delivering' AND lease_owner = $2
           RETURNING id, subscription_id
         ), l AS (
           INSERT INTO ${s}.deliveries (outbox_id, subscription_id, attempt, started_at, duration_ms, http_status, error, outcome)
           SELECT o.id, o.subscription_id, $7::int, $4::bigint, $8::int, $9::int, $10::text, $11::text FROM o
         )
         SELECT id FROM o`,
        [
          req.id,
          req.owner,
          req.next.status,
          a.startedAt,
          req.next.nextAttemptAt ?? null,
          done ? now : null,
          a.attempt,
          a.durationMs,
          a.httpStatus,
          a.error === null ? null : a.error.slice(0, 512),
          a.outcome,
        ],
      );
      return (r.rowCount ?? 0) > 0;
    },

    async getOutboxRow(id) {
      const r = await q(`SELECT * FROM ${s}.event_outbox WHERE id = $1`, [id]);
      return r.rows[0] ? toOutbox(r.rows[0]) : null;
    },

    async listDeliveries(subscriptionId, page) {
      const limit = Math.max(1, Math.floor(page.limit));
      const values: unknown[] = [subscriptionId];
      let cond = '';
      if (page.cursor) (values.push(page.cursor.seq), (cond = `AND d.seq < $${values.length}`));
      values.push(limit + 1);
      const r = await q(
        `SELECT d.*, o.event_id, o.type FROM ${s}.deliveries d JOIN ${s}.event_outbox o ON o.id = d.outbox_id
         WHERE d.subscription_id = $1 ${cond} ORDER BY d.seq DESC LIMIT $${values.length}`,
        values,
      );
      const items = r.rows.slice(0, limit).map(toDelivery);
      const last = items.at(-1);
      return { items, nextCursor: r.rows.length > limit && last ? { seq: last.seq } : null };
    },

    async replayDelivery(id, now) {
      const r = await q(
        `UPDATE ${s}.event_outbox SET status = 'pending', next_attempt_at = $1, first_attempt_at = NULL, completed_at = NULL
         WHERE id = $2 AND status IN ('delivered', 'failed') RETURNING *`,
        [now, id],
      );
      return r.rows[0] ? toOutbox(r.rows[0]) : null;
    },

    async nextDeliveryDueAt() {
      const r = await q<{ t: number | null }>(
        `SELECT LEAST(
           (SELECT min(next_attempt_at) FROM ${s}.event_outbox WHERE status = 'pending'),
           (SELECT min(lease_expires_at) FROM ${s}.event_outbox WHERE status = 'delivering')
         ) AS t`,
      );
      return r.rows[0]?.t ?? null;
    },
  };
}
