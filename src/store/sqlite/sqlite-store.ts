/**
 * The embedded store: one SQLite file through better-sqlite3 (synchronous; the port's promises resolve at once).
 *
 * Durability: WAL journal with `synchronous = NORMAL`. A commit appends the transaction to the WAL file with
 * write(2) before `insertMessages` returns, so once the API has answered 2xx the rows are in the operating system's
 * page cache and survive the process being killed (kill -9, OOM, crash) at any instant: the next open replays the
 * WAL. What NORMAL gives up is an fsync per commit, so a power loss or kernel crash can lose the last transactions
 * (never corrupt the file). `synchronous: 'full'` fsyncs the WAL on every commit for power-loss durability at a
 * throughput cost. See docs/reference/storage.md.
 *
 * Concurrency: every write runs in a `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so two
 * processes never deadlock upgrading a read lock); `busy_timeout` makes a second process wait for the lock instead
 * of failing. One process at a time should dispatch (`multiInstance: false`), but other processes (CLI, tests) may
 * read and write the same file safely.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { canTransition, MESSAGE_STATUSES, type MessageEvent, type MessageRecord, type MessageStatus, type NewEvent } from '../../domain/message.ts';
import { reserve, senderKey, type UsageEntry } from '../../dispatch/rate-limit.ts';
import type {
  ApiKeyRecord,
  ClaimRequest,
  ClaimResult,
  InboundQuery,
  InboundRecord,
  InsertOutcome,
  OutboundThread,
  MessageCursor,
  MessagePatch,
  MessageQuery,
  MessageStats,
  NewOutboxRow,
  SenderQueueStats,
  ExpiryOutbox,
  StaleClaimRequest,
  StatsQuery,
  StatusPollClaimRequest,
  Store,
  StoreCapabilities,
  TransitionRequest,
  WebhookReceipt,
} from '../store.ts';
import { apiKeyFromRow, eventFromRow, inboundFromRow, MESSAGE_INSERT_COLUMNS, messageFromRow, parseJsonText, PATCH_COLUMNS, type Row } from '../rows.ts';
import { appliedMigrations, migrate } from './migrations.ts';
import { sqliteCompliance } from './compliance.ts';
import { sqliteConversations, sqliteOutboundThreading } from './conversations.ts';
import { sqliteRetention } from './retention.ts';
import type { ComplianceStore } from '../compliance-port.ts';
import { sqliteSenderQueues, sqliteStats } from './stats.ts';

export interface SqliteStoreOptions {
  /** Database file; its directory is created if missing. `:memory:` for a private in-memory database. */
  path: string;
  /** How long a write waits for another process's lock before failing (ms). Default 5000. */
  busyTimeoutMs?: number;
  /** `normal` (default): survives process crashes; `full`: also survives power loss (fsync per commit). */
  synchronous?: 'normal' | 'full';
}

export function createSqliteStore(opts: SqliteStoreOptions): Store {
  return new SqliteStore(opts);
}

// ------------------------------------------------------------------ rows

type MessageRow = {
  /** Insertion order (rowid); not part of the record. */
  seq?: number;
  id: string;
  key_id: string | null;
  account: string;
  provider: string;
  to_number: string;
  from_number: string;
  body: string;
  segments: number;
  encoding: string;
  category: string;
  priority: number;
  status: string;
  submit_state: string;
  metadata: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  provider_message_id: string | null;
  provider_status: string | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  next_attempt_at: number;
  expires_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  created_at: number;
  updated_at: number;
  submitted_at: number | null;
  completed_at: number | null;
};

const toMessage = (r: MessageRow): MessageRecord => messageFromRow(r, parseJsonText);

/** Named parameters (column → value) of a message insert. */
function messageParams(m: MessageRecord): Row {
  return Object.fromEntries(MESSAGE_INSERT_COLUMNS.map(([column, , pick]) => [column, pick(m)]));
}

const MESSAGE_COLUMNS = MESSAGE_INSERT_COLUMNS.map(([column]) => column);

const toApiKey = (r: Row): ApiKeyRecord => apiKeyFromRow(r, parseJsonText);
const toInbound = (r: Row): InboundRecord => inboundFromRow(r, parseJsonText);

const json = (v: Record<string, unknown> | null): string | null => (v === null ? null : JSON.stringify(v));

// ------------------------------------------------------------------ statements

function prepareAll(db: Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    insertMessage: p(`INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')}) VALUES (${MESSAGE_COLUMNS.map((c) => `@${c}`).join(', ')})`),
    insertEvent: p('INSERT INTO message_events (message_id, type, status, at, detail) VALUES (?, ?, ?, ?, ?)'),
    getMessage: p('SELECT * FROM messages WHERE id = ?'),
    findIdem: p('SELECT * FROM messages WHERE key_id IS ? AND idempotency_key = ?'),
    findProvider: p('SELECT * FROM messages WHERE provider = ? AND provider_message_id = ? ORDER BY created_at LIMIT 1'),
    listEvents: p('SELECT * FROM message_events WHERE message_id = ? ORDER BY id'),
    countByStatus: p('SELECT status, COUNT(*) AS n FROM messages GROUP BY status'),

    createKey: p('INSERT INTO api_keys (id, name, hash, prefix, scopes, account, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    findKey: p('SELECT * FROM api_keys WHERE hash = ?'),
    listKeys: p('SELECT * FROM api_keys ORDER BY created_at, id'),
    revokeKey: p('UPDATE api_keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL'),
    countKeys: p('SELECT COUNT(*) AS n FROM api_keys'),

    // Rate windows live in memory (see `pacing`); this is their compact durable summary, one row per sender.
    pacingRow: p('SELECT last_at AS lastAt, open_until AS openUntil FROM sender_pacing WHERE sender_key = ?'),
    pacingBooked: p(
      `INSERT INTO sender_pacing (sender_key, last_at, open_until) VALUES (?, ?, ?)
       ON CONFLICT (sender_key) DO UPDATE SET last_at = max(last_at, excluded.last_at), open_until = max(coalesce(open_until, 0), excluded.open_until)`,
    ),
    pacingSet: p(
      `INSERT INTO sender_pacing (sender_key, last_at, open_until) VALUES (?, ?, ?)
       ON CONFLICT (sender_key) DO UPDATE SET last_at = max(last_at, excluded.last_at), open_until = excluded.open_until`,
    ),
    // The senders with queued work, one index seek each (partial index messages_queue: only queued rows are in it).
    firstSender: p(`SELECT account, from_number FROM messages INDEXED BY messages_queue WHERE status = 'queued' ORDER BY account, from_number LIMIT 1`),
    nextSenderOfAccount: p(
      `SELECT from_number FROM messages INDEXED BY messages_queue
        WHERE status = 'queued' AND account = ? AND from_number > ? ORDER BY from_number LIMIT 1`,
    ),
    nextAccount: p(
      `SELECT account, from_number FROM messages INDEXED BY messages_queue
        WHERE status = 'queued' AND account > ? ORDER BY account, from_number LIMIT 1`,
    ),
    senderHead: p(
      `SELECT seq, id, priority, created_at, segments FROM messages INDEXED BY messages_queue
        WHERE status = 'queued' AND account = ? AND from_number = ? AND next_attempt_at <= ? AND expires_at > ?
        ORDER BY priority DESC, created_at, seq LIMIT ?`,
    ),
    nextDue: p(`SELECT MIN(next_attempt_at) AS t FROM messages WHERE status = 'queued' AND next_attempt_at > ?`),
    claimOne: p(
      `UPDATE messages SET status = 'sending', submit_state = 'in_flight', attempts = attempts + 1,
              lease_owner = ?, lease_expires_at = ?, updated_at = ?
        WHERE id = ? AND status = 'queued' RETURNING *`,
    ),
    // The partial index holds queued rows only: a seek to the expired ones, whatever the queue depth.
    expiring: p(`SELECT id FROM messages INDEXED BY messages_queued_expiry WHERE status = 'queued' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`),
    expireOne: p(
      `UPDATE messages SET status = 'expired', completed_at = ?, updated_at = ?, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ? AND status = 'queued' RETURNING *`,
    ),
    stale: p(
      `SELECT id FROM messages
        WHERE status = 'sending'
          AND NOT (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL AND lease_expires_at > @now)
          AND (submit_state = 'in_flight' OR (submit_state = 'ambiguous' AND next_attempt_at <= @now))
        ORDER BY next_attempt_at, id LIMIT @max`,
    ),
    leaseOne: p('UPDATE messages SET lease_owner = ?, lease_expires_at = ?, updated_at = ? WHERE id = ? RETURNING *'),
    pollable: p(
      `SELECT id FROM messages
        WHERE status IN ('sending', 'sent') AND submit_state = 'accepted' AND provider_message_id IS NOT NULL
          AND updated_at <= @updatedBefore AND expires_at > @expiresAfter
          AND NOT (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL AND lease_expires_at > @now)
        ORDER BY updated_at, id LIMIT @max`,
    ),
    pollLease: p('UPDATE messages SET lease_owner = ?, lease_expires_at = ? WHERE id = ? RETURNING *'),
    release: p(`UPDATE messages SET lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE lease_owner = ? AND submit_state <> 'in_flight'`),

    webhookSeen: p('SELECT 1 FROM webhooks WHERE dedupe_key = ? AND duplicate = 0'),
    insertWebhook: p(
      `INSERT INTO webhooks (provider, kind, dedupe_key, duplicate, received_at, url, headers, raw_body, signature_valid)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertInbound: p(
      `INSERT INTO inbound_messages (id, provider, account, provider_message_id, from_number, to_number, body, num_media, media_urls, provider_keyword, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (provider, provider_message_id) DO NOTHING`,
    ),

    getMeta: p('SELECT value FROM meta WHERE key = ?'),
    setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
  };
}
type Statements = ReturnType<typeof prepareAll>;

/** A queued message as the claim orders it (the claim's UPDATE … RETURNING gives the full row). */
type HeadRow = Pick<MessageRow, 'seq' | 'id' | 'priority' | 'created_at' | 'segments'>;

interface SenderState {
  account: string;
  from: string;
  key: string;
  mps: number;
  usage: Booking[];
  /** The page of the sender's due queue being merged (claimed rows leave the queue, so the next page starts after them). */
  heads: HeadRow[];
  pos: number;
  /** Rows read so far, and the most this claim reads for the sender (what its window can take, plus one). */
  fetched: number;
  limit: number;
  /** The last page was full: more due work may be behind it. */
  full: boolean;
  blocked: boolean;
}

/** A rate-window booking held in memory: a `UsageEntry` and the message it was booked for ('' for a restart seed). */
interface Booking extends UsageEntry {
  messageId: string;
}

/**
 * Segments of the booking that stands for a previous process's bookings after a restart: it fills any window it is
 * in, so nothing is booked next to bookings this process cannot see (one window after open, at most).
 */
const UNKNOWN_SEGMENTS = 1e12;

/** Does `a` go before `b` in dispatch order (priority desc, created asc, then insertion order)? */
function before(a: HeadRow, b: HeadRow): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.created_at !== b.created_at) return a.created_at < b.created_at;
  return a.seq! < b.seq!;
}

// ------------------------------------------------------------------ the store

/** A queued write of the group commit (see `write`). */
interface PendingWrite {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (err: unknown) => void;
}

/** Writes per group commit at most; a full group is committed at once instead of at the end of the turn. */
const MAX_GROUP = 2_000;

class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { name: 'sqlite', multiInstance: false };
  private readonly db: Database;
  private stmts: Statements | null = null;
  private readonly dynamic = new Map<string, Statement>();
  private closed = false;

  constructor(opts: SqliteStoreOptions) {
    if (opts.path !== ':memory:' && !opts.path.startsWith('file:')) mkdirSync(dirname(opts.path), { recursive: true });
    const busy = opts.busyTimeoutMs ?? 5_000;
    this.db = new BetterSqlite3(opts.path, { timeout: busy });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busy))}`);
  }

  /** Statements are prepared on first use (after `migrate()` created the tables). */
  private get s(): Statements {
    if (this.closed) throw new Error('store is closed');
    this.stmts ??= prepareAll(this.db);
    return this.stmts;
  }

  private prepared(sql: string): Statement {
    let st = this.dynamic.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.dynamic.set(sql, st);
    }
    return st;
  }

  private threadOutbound: ((m: MessageRecord, program: string) => void) | null = null;

  /**
   * Group commit: `fn` is queued and run, with every other write queued in the same event-loop turn, in one
   * BEGIN IMMEDIATE … COMMIT (each in its own savepoint, so one failing write rolls back alone and the others
   * still commit). The promise settles only after that COMMIT: a caller that awaits it (the API before its 2xx)
   * knows its rows are in the WAL. A write issued while a batch runs (from inside another write) joins it directly.
   * docs/reference/storage.md, "Group commit".
   */
  private write<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    if (this.inBatch) {
      try {
        return Promise.resolve(fn());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (this.pending.length >= MAX_GROUP) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushBound);
      }
    });
  }

  private readonly pending: PendingWrite[] = [];
  private flushScheduled = false;
  private inBatch = false;
  private readonly flushBound = () => {
    this.flushScheduled = false;
    this.flush();
  };
  private txStmts: { begin: Statement; commit: Statement; rollback: Statement; savepoint: Statement; release: Statement; rollbackTo: Statement } | null = null;
  /** Commits so far (tests and bench count writes per message with it). */
  commits = 0;

  /** Run every queued write in one transaction, then settle their promises. */
  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.pending.length);
    if (this.closed) {
      for (const w of batch) w.reject(new Error('store is closed'));
      return;
    }
    const t = (this.txStmts ??= {
      begin: this.db.prepare('BEGIN IMMEDIATE'),
      commit: this.db.prepare('COMMIT'),
      rollback: this.db.prepare('ROLLBACK'),
      savepoint: this.db.prepare('SAVEPOINT w'),
      release: this.db.prepare('RELEASE w'),
      rollbackTo: this.db.prepare('ROLLBACK TO w'),
    });
    try {
      t.begin.run();
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    const single = batch.length === 1;
    const results: { ok: boolean; value: unknown }[] = new Array(batch.length);
    this.inBatch = true;
    try {
      for (let i = 0; i < batch.length; i++) {
        if (!single) t.savepoint.run();
        try {
          results[i] = { ok: true, value: batch[i]!.fn() };
          if (!single) t.release.run();
        } catch (err) {
          results[i] = { ok: false, value: err };
          if (!single) {
            t.rollbackTo.run();
            t.release.run();
          }
        }
      }
    } finally {
      this.inBatch = false;
    }
    try {
      if (single && !results[0]!.ok) t.rollback.run();
      else {
        t.commit.run();
        this.commits++;
      }
    } catch (err) {
      try {
        if (this.db.inTransaction) t.rollback.run();
      } catch {
        /* the rollback error says no more than the commit error */
      }
      for (const w of batch) w.reject(err);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]!;
      if (r.ok) batch[i]!.resolve(r.value);
      else batch[i]!.reject(r.value);
    }
  }

  private addEvent(e: NewEvent): void {
    this.s.insertEvent.run(e.messageId, e.type, e.status, e.at, json(e.detail));
  }

  // ---- lifecycle

  /**
   * On close, the rate windows' settled state: each sender's latest booking and whether one may still be on the wire,
   * so the next process starts from the truth rather than from the last claim's lease expiry.
   */
  private savePacing(): void {
    if (this.pacing.size === 0 || this.stmts === null) return;
    try {
      this.db.transaction(() => {
        for (const [key, usage] of this.pacing) {
          if (usage.length === 0) continue;
          let lastAt = -Infinity;
          let openUntil: number | null = null;
          for (const e of usage) {
            lastAt = Math.max(lastAt, e.at);
            if (e.openUntil != null) openUntil = Math.max(openUntil ?? -Infinity, e.openUntil);
          }
          this.s.pacingSet.run(key, lastAt, openUntil);
        }
      }).immediate();
    } catch {
      /* best effort: the per-claim summary (open until the lease expiry) is already durable, and stricter */
    }
  }

  async migrate(): Promise<string[]> {
    return migrate(this.db);
  }

  async appliedMigrations(): Promise<string[]> {
    return appliedMigrations(this.db);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.savePacing();
    this.closed = true;
    this.db.close();
  }

  // ---- api keys

  async createApiKey(k: ApiKeyRecord): Promise<void> {
    this.s.createKey.run(k.id, k.name, k.hash, k.prefix, JSON.stringify(k.scopes), k.account, k.createdAt, k.revokedAt);
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const r = this.s.findKey.get(hash) as Row | undefined;
    return r ? toApiKey(r) : null;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (this.s.listKeys.all() as Row[]).map(toApiKey);
  }

  async revokeApiKey(idOrName: string, now: number): Promise<boolean> {
    return this.s.revokeKey.run(now, idOrName, idOrName).changes > 0;
  }

  async countApiKeys(): Promise<number> {
    return (this.s.countKeys.get() as { n: number }).n;
  }

  // ---- messages

  async insertMessages(items: { message: MessageRecord; events: NewEvent[]; thread?: OutboundThread }[]): Promise<InsertOutcome[]> {
    if (items.length === 0) return [];
    const s = this.s;
    return this.write(() => {
      const out: InsertOutcome[] = [];
      for (const { message, events, thread } of items) {
        if (message.idempotencyKey !== null) {
          const existing = s.findIdem.get(message.keyId, message.idempotencyKey) as MessageRow | undefined;
          if (existing) {
            out.push({ inserted: false, existing: toMessage(existing) });
            continue;
          }
        }
        s.insertMessage.run(messageParams(message));
        for (const e of events) this.addEvent(e);
        // Issue 4: the thread is filed with the message (durable together; nothing to redo after a crash).
        if (thread) (this.threadOutbound ??= sqliteOutboundThreading(this.db))(message, thread.program);
        out.push({ inserted: true, message });
      }
      return out;
    });
  }

  async getMessage(id: string): Promise<MessageRecord | null> {
    const r = this.s.getMessage.get(id) as MessageRow | undefined;
    return r ? toMessage(r) : null;
  }

  async findByIdempotencyKey(keyId: string, idempotencyKey: string): Promise<MessageRecord | null> {
    const r = this.s.findIdem.get(keyId, idempotencyKey) as MessageRow | undefined;
    return r ? toMessage(r) : null;
  }

  async findByProviderId(provider: string, providerMessageId: string): Promise<MessageRecord | null> {
    const r = this.s.findProvider.get(provider, providerMessageId) as MessageRow | undefined;
    return r ? toMessage(r) : null;
  }

  async listMessages(q: MessageQuery): Promise<{ items: MessageRecord[]; nextCursor: MessageCursor | null }> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.status !== undefined) (where.push('status = ?'), args.push(q.status));
    if (q.to !== undefined) (where.push('to_number = ?'), args.push(q.to));
    if (q.keyId !== undefined) (where.push('key_id = ?'), args.push(q.keyId));
    if (q.category !== undefined) (where.push('category = ?'), args.push(q.category));
    if (q.since !== undefined) (where.push('created_at >= ?'), args.push(q.since));
    if (q.until !== undefined) (where.push('created_at < ?'), args.push(q.until));
    if (q.cursor) (where.push('(created_at < ? OR (created_at = ? AND id < ?))'), args.push(q.cursor.createdAt, q.cursor.createdAt, q.cursor.id));
    const limit = Math.max(1, Math.floor(q.limit));
    const sql = `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
    const rows = this.prepared(sql).all(...args, limit + 1) as MessageRow[];
    const items = rows.slice(0, limit).map(toMessage);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null };
  }

  async listEvents(messageId: string): Promise<MessageEvent[]> {
    return (this.s.listEvents.all(messageId) as Row[]).map((r) => eventFromRow(r, parseJsonText));
  }

  async appendEvent(event: NewEvent): Promise<void> {
    return this.write(() => this.addEvent(event));
  }

  async transition(req: TransitionRequest): Promise<MessageRecord | null> {
    const target = req.patch.status;
    // Never backwards: a status may only be set from statuses that can reach it (or be kept as it is).
    const from = target === undefined ? [...req.from] : req.from.filter((s) => s === target || canTransition(s, target));
    if (from.length === 0) return null;
    const sets: string[] = [];
    const args: (string | number | null)[] = [];
    for (const [k, v] of Object.entries(req.patch) as [keyof MessagePatch, MessagePatch[keyof MessagePatch]][]) {
      if (v === undefined) continue;
      const col = PATCH_COLUMNS[k];
      if (!col) throw new Error(`transition: unknown patch field ${String(k)}`);
      sets.push(`${col} = ?`);
      args.push(v as string | number | null);
    }
    sets.push('updated_at = ?');
    args.push(req.now);
    const where = ['id = ?', `status IN (${from.map(() => '?').join(', ')})`];
    args.push(req.id, ...from);
    if (req.submitStates !== undefined) {
      if (req.submitStates.length === 0) return null;
      where.push(`submit_state IN (${req.submitStates.map(() => '?').join(', ')})`);
      args.push(...req.submitStates);
    }
    if (req.leaseOwner !== undefined) {
      where.push('lease_owner = ?');
      args.push(req.leaseOwner);
    }
    const st = this.prepared(`UPDATE messages SET ${sets.join(', ')} WHERE ${where.join(' AND ')} RETURNING *`);
    return this.write(() => {
      const row = st.get(...args) as MessageRow | undefined;
      if (!row) return null;
      if (req.event) this.addEvent(req.event);
      if (req.outbox && req.outbox.length > 0) {
        const ins = this.prepared(
          `INSERT INTO event_outbox (id, event_id, subscription_id, type, payload, status, attempts, next_attempt_at, created_at)
           VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
        );
        for (const o of req.outbox) ins.run(o.id, o.eventId, o.subscriptionId, o.type, o.payload, o.nextAttemptAt, o.createdAt);
      }
      // The submit was answered: its open bookings move to start then and close (rate-limit.ts settle).
      if (req.settleBookingAt !== undefined) this.settleBookings(req.id, req.settleBookingAt);
      return toMessage(row);
    });
  }

  async countByStatus(): Promise<Record<MessageStatus, number>> {
    const out = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as Record<MessageStatus, number>;
    for (const r of this.s.countByStatus.all() as { status: MessageStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }

  // ---- dispatch

  /**
   * Rate windows, per sender key: the bookings that can still matter (rate-limit.ts prune). SQLite has one dispatcher
   * per file (`multiInstance: false`), so they live here instead of in a table (no insert, settle update and delete
   * per message); each claim upserts one summary row per sender it booked for (`sender_pacing`: latest booking time,
   * latest lease expiry), `close()` writes the settled state. A sender seen for the first time by this process
   * starts from that summary as one booking that fills its window (open until the summary's lease expiry): after a
   * crash or restart, pacing stays strict at the cost of at most one window per sender.
   */
  private readonly pacing = new Map<string, Booking[]>();
  /** Open bookings by message id (settled by the transition that records the submit's outcome). */
  private readonly openBookings = new Map<string, Booking[]>();

  private windowOf(key: string, now: number, windowMs: number): Booking[] {
    let usage = this.pacing.get(key);
    if (!usage) {
      usage = [];
      const row = this.s.pacingRow.get(key) as { lastAt: number; openUntil: number | null } | undefined;
      if (row && Math.max(row.lastAt, row.openUntil ?? row.lastAt) > now - windowMs) {
        usage.push({ at: row.lastAt, segments: UNKNOWN_SEGMENTS, openUntil: row.openUntil, messageId: '' });
      }
      this.pacing.set(key, usage);
      return usage;
    }
    // Drop what can no longer affect a booking at or after now (an open booking counts up to its openUntil).
    const t = now - windowMs;
    if (usage.length > 0 && usage.some((e) => Math.max(e.at, e.openUntil ?? e.at) <= t)) {
      const kept: Booking[] = [];
      for (const e of usage) {
        if (Math.max(e.at, e.openUntil ?? e.at) > t) kept.push(e);
        else if (e.openUntil != null) this.openBookings.delete(e.messageId);
      }
      this.pacing.set(key, kept);
      return kept;
    }
    return usage;
  }

  /** The submit of `messageId` was answered at `at`: its open bookings move to start then and close (rate-limit.ts settle). */
  private settleBookings(messageId: string, at: number): void {
    const entries = this.openBookings.get(messageId);
    if (!entries) return;
    this.openBookings.delete(messageId);
    let first = Infinity;
    for (const e of entries) first = Math.min(first, e.at);
    const shift = Math.max(0, at - first);
    for (const e of entries) {
      e.at += shift;
      e.openUntil = null;
    }
  }

  async claimDue(req: ClaimRequest): Promise<ClaimResult> {
    const s = this.s;
    const { now, windowMs } = req;
    return this.write(() => {
      const max = Math.max(0, Math.floor(req.max));
      // The senders with queued work: one index seek each, independent of the queue depth.
      const found: { account: string; from: string }[] = [];
      let cur = s.firstSender.get() as { account: string; from_number: string } | undefined;
      while (cur && max > 0) {
        const { account, from_number } = cur;
        found.push({ account, from: from_number });
        const next = s.nextSenderOfAccount.get(account, from_number) as { from_number: string } | undefined;
        cur = next ? { account, from_number: next.from_number } : (s.nextAccount.get(account) as { account: string; from_number: string } | undefined);
      }
      // Each sender's due queue is read in pages: at first about its share of `max`, more only when the merge used
      // it all up, and never more than its window could take now plus one. A claim reads about `max` rows.
      const share = Math.ceil(max / Math.max(1, found.length)) + 1;
      const readPage = (st: SenderState, size: number): void => {
        const n = Math.min(size, st.limit - st.fetched);
        st.heads = n > 0 ? (s.senderHead.all(st.account, st.from, now, now, n) as HeadRow[]) : [];
        st.pos = 0;
        st.fetched += st.heads.length;
        st.full = n > 0 && st.heads.length === n;
      };
      const senders: SenderState[] = [];
      for (const { account, from } of found) {
        const key = senderKey(account, from);
        const mps = req.rates.get(key) ?? req.defaultMps;
        const st: SenderState = { account, from, key, mps, usage: [], heads: [], pos: 0, fetched: 0, limit: Math.min(max, Math.max(1, Math.ceil(mps))) + 1, full: false, blocked: false };
        readPage(st, share);
        if (st.heads.length === 0) continue;
        st.usage = this.windowOf(key, now, windowMs);
        senders.push(st);
      }

      const claimed: MessageRecord[] = [];
      const wake: number[] = [];
      const booked = new Map<string, number>();
      // Merge the senders' queues in global dispatch order; a sender whose head does not fit stops (strict priority).
      while (claimed.length < max) {
        let pick: SenderState | null = null;
        for (const st of senders) {
          if (st.blocked) continue;
          if (st.pos >= st.heads.length) {
            if (!st.full || st.fetched >= st.limit) continue;
            readPage(st, Math.max(share, max - claimed.length + 1));
            if (st.heads.length === 0) continue;
          }
          if (!pick || before(st.heads[st.pos]!, pick.heads[pick.pos]!)) pick = st;
        }
        if (!pick) break;
        const row = pick.heads[pick.pos]!;
        const r = reserve(pick.usage, now, windowMs, pick.mps, row.segments);
        if (!r.ok) {
          pick.blocked = true;
          wake.push(r.retryAt);
          continue;
        }
        const updated = s.claimOne.get(req.owner, now + req.leaseMs, now, row.id) as MessageRow | undefined;
        pick.pos++;
        if (!updated) continue;
        const entries: Booking[] = r.entries.map((e) => ({ ...e, openUntil: now + req.leaseMs, messageId: row.id }));
        pick.usage.push(...entries);
        this.openBookings.set(row.id, entries);
        booked.set(pick.key, Math.max(booked.get(pick.key) ?? -Infinity, ...entries.map((e) => e.at)));
        this.addEvent({ messageId: row.id, type: 'submit_started', status: 'sending', at: now, detail: { owner: req.owner, attempt: updated.attempts } });
        claimed.push(toMessage(updated));
      }
      for (const [key, lastAt] of booked) s.pacingBooked.run(key, lastAt, now + req.leaseMs);

      // More due work that only `max` held back is claimable right away.
      if (senders.some((st) => !st.blocked && (st.pos < st.heads.length || st.full))) wake.push(now);
      const next = (s.nextDue.get(now) as { t: number | null }).t;
      if (next !== null) wake.push(next);
      return { claimed, wakeAt: wake.length ? Math.min(...wake) : null };
    });
  }

  async expireDue(now: number, max: number, outbox?: ExpiryOutbox): Promise<MessageRecord[]> {
    const s = this.s;
    return this.write(() => {
      const out: MessageRecord[] = [];
      for (const { id } of s.expiring.all(now, Math.max(0, Math.floor(max))) as { id: string }[]) {
        const row = s.expireOne.get(now, now, id) as MessageRow | undefined;
        if (!row) continue;
        const event: NewEvent = { messageId: id, type: 'expired', status: 'expired', at: now, detail: { reason: 'validity', expiresAt: row.expires_at } };
        this.addEvent(event);
        const m = toMessage(row);
        if (outbox) this.insertOutboxRows(outbox(m, event));
        out.push(m);
      }
      return out;
    });
  }

  private insertOutboxRows(rows: readonly NewOutboxRow[]): void {
    if (rows.length === 0) return;
    const ins = this.prepared(
      `INSERT INTO event_outbox (id, event_id, subscription_id, type, payload, status, attempts, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
    );
    for (const o of rows) ins.run(o.id, o.eventId, o.subscriptionId, o.type, o.payload, o.nextAttemptAt, o.createdAt);
  }

  async claimStatusPoll(req: StatusPollClaimRequest): Promise<MessageRecord[]> {
    const s = this.s;
    return this.write(() => {
      const ids = s.pollable.all({
        now: req.now,
        updatedBefore: req.updatedBefore,
        expiresAfter: req.expiresAfter,
        max: Math.max(0, Math.floor(req.max)),
      }) as { id: string }[];
      return ids.map(({ id }) => toMessage(s.pollLease.get(req.owner, req.now + req.leaseMs, id) as MessageRow));
    });
  }

  async claimStale(req: StaleClaimRequest): Promise<MessageRecord[]> {
    const s = this.s;
    return this.write(() => {
      const ids = s.stale.all({ now: req.now, max: Math.max(0, Math.floor(req.max)) }) as { id: string }[];
      return ids.map(({ id }) => toMessage(s.leaseOne.get(req.owner, req.now + req.leaseMs, req.now, id) as MessageRow));
    });
  }

  async releaseLeases(owner: string, now: number): Promise<number> {
    const s = this.s;
    return this.write(() => s.release.run(now, owner).changes);
  }

  // ---- webhooks and inbound

  async recordWebhook(w: WebhookReceipt): Promise<{ id: number; duplicate: boolean }> {
    const s = this.s;
    return this.write(() => {
      const duplicate = s.webhookSeen.get(w.dedupeKey) !== undefined;
      const info = s.insertWebhook.run(w.provider, w.kind, w.dedupeKey, duplicate ? 1 : 0, w.receivedAt, w.url, JSON.stringify(w.headers), w.rawBody, w.signatureValid ? 1 : 0);
      return { id: Number(info.lastInsertRowid), duplicate };
    });
  }

  async insertInbound(r: InboundRecord): Promise<{ duplicate: boolean; unhandled?: InboundRecord }> {
    return this.write(() => {
    const info = this.s.insertInbound.run(
      r.id,
      r.provider,
      r.account,
      r.providerMessageId,
      r.from,
      r.to,
      r.body,
      r.numMedia,
      JSON.stringify(r.mediaUrls),
      r.providerKeyword,
      r.receivedAt,
    );
    if (info.changes > 0) return { duplicate: false };
    // A duplicate: hand back the stored row when its handling never completed (a crash after the insert).
    const stored = this.prepared('SELECT * FROM inbound_messages WHERE provider = ? AND provider_message_id = ? AND handled_at IS NULL').get(r.provider, r.providerMessageId) as
      | Row
      | undefined;
    return stored ? { duplicate: true, unhandled: toInbound(stored) } : { duplicate: true };
    });
  }

  async listUnhandledInbound(q: { before: number; limit: number }): Promise<InboundRecord[]> {
    const rows = this.prepared('SELECT * FROM inbound_messages WHERE handled_at IS NULL AND received_at < ? ORDER BY received_at, id LIMIT ?').all(
      q.before,
      Math.max(1, Math.floor(q.limit)),
    ) as Row[];
    return rows.map(toInbound);
  }

  async listInbound(q: InboundQuery): Promise<{ items: InboundRecord[]; nextCursor: MessageCursor | null }> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.from !== undefined) (where.push('from_number = ?'), args.push(q.from));
    if (q.to !== undefined) (where.push('to_number = ?'), args.push(q.to));
    if (q.cursor) (where.push('(received_at < ? OR (received_at = ? AND id < ?))'), args.push(q.cursor.createdAt, q.cursor.createdAt, q.cursor.id));
    const limit = Math.max(1, Math.floor(q.limit));
    const sql = `SELECT * FROM inbound_messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC, id DESC LIMIT ?`;
    const rows = this.prepared(sql).all(...args, limit + 1) as Row[];
    const items = rows.slice(0, limit).map(toInbound);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? { createdAt: last.receivedAt, id: last.id } : null };
  }

  // ---- operator statistics (stats.ts)

  async stats(q: StatsQuery): Promise<MessageStats> {
    if (this.closed) throw new Error('store is closed');
    return sqliteStats(this.db, q);
  }

  async senderQueues(q: { now: number; recentMs: number }): Promise<SenderQueueStats[]> {
    if (this.closed) throw new Error('store is closed');
    return sqliteSenderQueues(this.db, q);
  }

  // ---- compliance: consent ledger, subscriptions, event outbox (compliance.ts)

  private complianceImpl: Omit<ComplianceStore, 'listUnhandledInbound'> | null = null;
  private get compliance(): Omit<ComplianceStore, 'listUnhandledInbound'> {
    if (this.closed) throw new Error('store is closed');
    this.complianceImpl ??= {
      ...sqliteCompliance(this.db, (fn) => this.write(fn)),
      ...sqliteConversations(this.db, (fn) => this.write(fn)),
      ...sqliteRetention(this.db, (fn) => this.write(fn)),
    };
    return this.complianceImpl;
  }
  touchConversation: ComplianceStore['touchConversation'] = (req) => this.compliance.touchConversation(req);
  getConversation: ComplianceStore['getConversation'] = (id) => this.compliance.getConversation(id);
  listConversations: ComplianceStore['listConversations'] = (q) => this.compliance.listConversations(q);
  listConversationMessages: ComplianceStore['listConversationMessages'] = (id, q) => this.compliance.listConversationMessages(id, q);
  getThreadOwner: ComplianceStore['getThreadOwner'] = (c, k) => this.compliance.getThreadOwner(c, k);
  redactMessagesBefore: ComplianceStore['redactMessagesBefore'] = (req) => this.compliance.redactMessagesBefore(req);
  purgeRawWebhooksBefore: ComplianceStore['purgeRawWebhooksBefore'] = (req) => this.compliance.purgeRawWebhooksBefore(req);
  tryLease: ComplianceStore['tryLease'] = (req) => this.compliance.tryLease(req);
  getConsent: ComplianceStore['getConsent'] = (c, p) => this.compliance.getConsent(c, p);
  getConsentMany: ComplianceStore['getConsentMany'] = (pairs) => this.compliance.getConsentMany(pairs);
  recordConsent: ComplianceStore['recordConsent'] = (req) => this.compliance.recordConsent(req);
  listConsentHistory: ComplianceStore['listConsentHistory'] = (c, p) => this.compliance.listConsentHistory(c, p);
  exportConsent: ComplianceStore['exportConsent'] = (q) => this.compliance.exportConsent(q);
  createSubscription: ComplianceStore['createSubscription'] = (s) => this.compliance.createSubscription(s);
  getSubscription: ComplianceStore['getSubscription'] = (id) => this.compliance.getSubscription(id);
  listSubscriptions: ComplianceStore['listSubscriptions'] = (q) => this.compliance.listSubscriptions(q);
  deleteSubscription: ComplianceStore['deleteSubscription'] = (id, now) => this.compliance.deleteSubscription(id, now);
  disableSubscription: ComplianceStore['disableSubscription'] = (id, r, now) => this.compliance.disableSubscription(id, r, now);
  enqueueEvents: ComplianceStore['enqueueEvents'] = (rows) => this.compliance.enqueueEvents(rows);
  markInboundHandled: ComplianceStore['markInboundHandled'] = (req) => this.compliance.markInboundHandled(req);
  claimDueDeliveries: ComplianceStore['claimDueDeliveries'] = (req) => this.compliance.claimDueDeliveries(req);
  completeDelivery: ComplianceStore['completeDelivery'] = (req) => this.compliance.completeDelivery(req);
  getOutboxRow: ComplianceStore['getOutboxRow'] = (id) => this.compliance.getOutboxRow(id);
  listDeliveries: ComplianceStore['listDeliveries'] = (id, q) => this.compliance.listDeliveries(id, q);
  replayDelivery: ComplianceStore['replayDelivery'] = (id, now) => this.compliance.replayDelivery(id, now);
  nextDeliveryDueAt: ComplianceStore['nextDeliveryDueAt'] = () => this.compliance.nextDeliveryDueAt();

  // ---- meta

  async getMeta(key: string): Promise<string | null> {
    const r = this.s.getMeta.get(key) as { value: string } | undefined;
    return r ? r.value : null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.s.setMeta.run(key, value);
  }
}
