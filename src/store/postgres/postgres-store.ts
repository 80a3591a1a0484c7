/**
 * PostgreSQL implementation of the store port (src/store/store.ts), for one or many Switchboard instances
 * sharing one database. Rules and operations: docs/reference/storage-postgres.md.
 *
 * - Every statement is schema-qualified (`"<schema>".table`), so several stores can share a database.
 * - Each port method is one statement, or one transaction when it needs several.
 * - Multi-instance: `claimDue` locks the senders it books for (row locks on `rate_senders`, taken in key order,
 *   so two claimers never deadlock) and the messages it claims (`FOR UPDATE SKIP LOCKED`); the booked usage lives in
 *   `rate_usage`, so a sender's window holds across instances. Status changes are conditional UPDATEs.
 */
import pg from 'pg';
import { canTransition, MESSAGE_STATUSES, type MessageEvent, type MessageRecord, type MessageStatus, type NewEvent } from '../../domain/message.ts';
import type { UsageEntry } from '../../dispatch/rate-limit.ts';
import { ulid } from '../../domain/ids.ts';
import type {
  ApiKeyRecord,
  ClaimRequest,
  ClaimResult,
  InboundQuery,
  InboundRecord,
  InsertOutcome,
  OutboundThread,
  LatencyStats,
  MessageCursor,
  MessagePatch,
  MessageQuery,
  MessageStats,
  SenderQueueStats,
  ExpiryOutbox,
  NewOutboxRow,
  StaleClaimRequest,
  StatsQuery,
  StatusPollClaimRequest,
  Store,
  StoreCapabilities,
  TransitionRequest,
  WebhookReceipt,
} from '../store.ts';
import type { ComplianceStore } from '../compliance-port.ts';
import { apiKeyFromRow, eventFromRow, inboundFromRow, jsonAsIs, MESSAGE_INSERT_COLUMNS, messageFromRow, PATCH_COLUMNS, type ColumnKind, type Row } from '../rows.ts';
import { AWAITING_SAMPLE, bucketCount, zeroCounts } from '../stats-query.ts';
import { planClaims, type QueueHead } from './claim-plan.ts';
import { postgresCompliance } from './compliance.ts';
import { postgresConversations } from './conversations.ts';
import { postgresRetention } from './retention.ts';
import { migrationSql, POSTGRES_MIGRATIONS, quoteIdent, type PostgresMigration } from './migrations.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database?…` */
  connectionString: string;
  /** Schema holding the tables (created by `migrate()`); default `public`. Letters, digits and `_` only. */
  schema?: string;
  pool?: {
    /** Connections per instance (default 10). Budget: instances × max < the server's `max_connections`. */
    max?: number;
    /** Close a connection idle this long (ms, default 30,000). */
    idleTimeoutMs?: number;
    /** Give up waiting for a free connection (or a new one) after this long (ms, default 10,000). */
    connectionTimeoutMs?: number;
  };
  /**
   * Errors of idle pooled connections (the server restarted, a network cut). The pool drops the connection and
   * the next query opens a new one; without a listener `pg` would crash the process. Default: ignored.
   */
  onError?: (err: Error) => void;
  /** Migrations to apply (tests only; default POSTGRES_MIGRATIONS). */
  migrations?: readonly PostgresMigration[];
}

export const POSTGRES_POOL_DEFAULTS = { max: 10, idleTimeoutMs: 30_000, connectionTimeoutMs: 10_000 } as const;

/** Most senders one claim considers (in head priority order); the others wait for the next round. */
const MAX_SENDERS_PER_CLAIM = 256;

/**
 * A claim waits at most this long for another instance's claim on the same senders (which normally holds them
 * for a few milliseconds); past it the claim fails and the dispatcher retries next round.
 */
const CLAIM_LOCK_TIMEOUT_MS = 10_000;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const INT8_OID = 20;
/** BIGINT (epoch ms, serial ids, counts) as JS numbers: all our values are far below 2^53. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (v: string) => Number(v);
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  },
} as pg.CustomTypesConfig;

type Queryable = Pick<pg.PoolClient, 'query'>;

// ------------------------------------------------------------------------------------------------ row mapping

const toMessage = (r: Row): MessageRecord => messageFromRow(r, jsonAsIs);
const toEvent = (r: Row): MessageEvent => eventFromRow(r, jsonAsIs);
const toApiKey = (r: Row): ApiKeyRecord => apiKeyFromRow(r, jsonAsIs);
const toInbound = (r: Row): InboundRecord => inboundFromRow(r, jsonAsIs);

const json = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

/** The array type each message column is sent as (one array per column, `unnest`). */
const ARRAY_TYPE: Readonly<Record<ColumnKind, string>> = { text: 'text[]', int: 'int[]', bigint: 'bigint[]', json: 'jsonb[]' };
const MESSAGE_COLUMNS = MESSAGE_INSERT_COLUMNS.map(([column, kind, pick]) => [column, ARRAY_TYPE[kind], pick] as const);

/** The applied migrations must be a prefix of the ones this version knows (same rule as the SQLite store). */
function checkHistory(applied: readonly string[], known: readonly PostgresMigration[]): void {
  for (let i = 0; i < applied.length; i++) {
    if (i >= known.length) {
      throw new Error(
        `Database schema is newer than this version of Switchboard (applied "${applied.at(-1)}", this version knows up to "${known.at(-1)?.name ?? '(none)'}"). Upgrade Switchboard.`,
      );
    }
    if (known[i]!.name !== applied[i]) {
      throw new Error(
        `Database schema history does not match this version: applied migration #${i + 1} is "${applied[i]}", expected "${known[i]!.name}". Use the Switchboard version that created this database.`,
      );
    }
  }
}

// ------------------------------------------------------------------------------------------------ the store

export function createPostgresStore(opts: PostgresStoreOptions): Store {
  return new PostgresStore(opts);
}

/** Query parameters of a `postgres://` URL that Switchboard reads itself (and removes before handing it to `pg`). */
const URL_OPTIONS = ['schema', 'pool_max', 'pool_idle_timeout_ms', 'pool_connection_timeout_ms'] as const;

/**
 * Store options from a database URL such as `SWITCHBOARD_DATABASE_URL`:
 * `postgres://user@host:5432/db?schema=switchboard&pool_max=20&pool_idle_timeout_ms=30000`. Every other parameter
 * (sslmode, application_name, …) stays in the connection string for `pg`.
 */
export function postgresOptionsFromUrl(url: string): PostgresStoreOptions {
  const u = new URL(url);
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`not a PostgreSQL URL: ${u.protocol}//…`);
  const read = (name: (typeof URL_OPTIONS)[number]) => {
    const v = u.searchParams.get(name);
    u.searchParams.delete(name);
    return v;
  };
  const int = (name: (typeof URL_OPTIONS)[number]) => {
    const v = read(name);
    if (v === null) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`database URL: ${name} must be a positive integer, got "${v}"`);
    return n;
  };
  const schema = read('schema') ?? undefined;
  const pool = { max: int('pool_max'), idleTimeoutMs: int('pool_idle_timeout_ms'), connectionTimeoutMs: int('pool_connection_timeout_ms') };
  return { connectionString: u.toString(), schema, pool };
}

// The compliance methods (consent ledger, subscriptions, outbox) live in compliance.ts and are mixed in by the
// constructor; this declaration tells the compiler the class has them.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
interface PostgresStore extends ComplianceStore {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = { name: 'postgres', multiInstance: true };

  private readonly pool: pg.Pool;
  private readonly schema: string;
  /** Quoted schema, the prefix of every table name. */
  private readonly s: string;
  private readonly migrations: readonly PostgresMigration[];
  /** Sender keys known to have a `rate_senders` row (rows are never deleted). */
  private readonly knownSenders = new Set<string>();
  private closed: Promise<void> | null = null;

  constructor(opts: PostgresStoreOptions) {
    const schema = opts.schema ?? 'public';
    if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid PostgreSQL schema name "${schema}": use letters, digits and _ (at most 63)`);
    this.schema = schema;
    this.s = quoteIdent(schema);
    this.migrations = opts.migrations ?? POSTGRES_MIGRATIONS;
    this.pool = new pg.Pool({
      connectionString: opts.connectionString,
      max: opts.pool?.max ?? POSTGRES_POOL_DEFAULTS.max,
      idleTimeoutMillis: opts.pool?.idleTimeoutMs ?? POSTGRES_POOL_DEFAULTS.idleTimeoutMs,
      connectionTimeoutMillis: opts.pool?.connectionTimeoutMs ?? POSTGRES_POOL_DEFAULTS.connectionTimeoutMs,
      application_name: 'switchboard',
      keepAlive: true,
      types: pgTypes,
    });
    const onError = opts.onError ?? (() => {});
    this.pool.on('error', (err) => onError(err));
    Object.assign(this, postgresCompliance({ pool: this.pool, s: this.s, schema: this.schema, tx: (fn) => this.tx(fn) }));
    Object.assign(this, postgresConversations({ pool: this.pool, s: this.s }));
    Object.assign(this, postgresRetention({ pool: this.pool, s: this.s, tx: (fn) => this.tx(fn) }));
  }

  private q<R extends Row = Row>(text: string, values: unknown[] = [], db: Queryable = this.pool): Promise<pg.QueryResult<R>> {
    return db.query<R>(text, values);
  }

  /** Run `fn` in a transaction; `lockTimeoutMs` bounds every lock wait inside it (then the transaction fails). */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>, lockTimeoutMs?: number): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(lockTimeoutMs === undefined ? 'BEGIN' : `BEGIN; SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error; // the connection is unusable: destroy it instead of returning it to the pool
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  // ---------------------------------------------------------------------------------------------- lifecycle

  async migrate(): Promise<string[]> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // One lock per schema, shared by every instance: the first migrates, the others wait and then find nothing to do.
    const lockKey = `switchboard:migrate:${this.schema}`;
    try {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey]);
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.s}`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${this.s}.schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`);
        const done = (await client.query<{ name: string }>(`SELECT name FROM ${this.s}.schema_migrations ORDER BY name`)).rows.map((r) => r.name);
        checkHistory(done, this.migrations);
        const applied: string[] = [];
        for (const m of this.migrations.slice(done.length)) {
          await client.query('BEGIN');
          try {
            await client.query(migrationSql(m, this.schema));
            await client.query(`INSERT INTO ${this.s}.schema_migrations (name, applied_at) VALUES ($1, $2)`, [m.name, Date.now()]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK');
            throw new Error(`PostgreSQL migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
          }
          applied.push(m.name);
        }
        return applied;
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey]);
      }
    } catch (err) {
      broken = err as Error; // drop the connection: that also frees a session lock still held
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async appliedMigrations(): Promise<string[]> {
    const exists = await this.q<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${this.s}.schema_migrations`]);
    if (!exists.rows[0]?.t) return [];
    const r = await this.q<{ name: string }>(`SELECT name FROM ${this.s}.schema_migrations ORDER BY name`);
    return r.rows.map((x) => x.name);
  }

  async ping(): Promise<void> {
    await this.q('SELECT 1');
  }

  close(): Promise<void> {
    this.closed ??= this.pool.end();
    return this.closed;
  }

  // ---------------------------------------------------------------------------------------------- api keys

  async createApiKey(k: ApiKeyRecord): Promise<void> {
    await this.q(
      `INSERT INTO ${this.s}.api_keys (id, name, hash, prefix, scopes, account, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)`,
      [k.id, k.name, k.hash, k.prefix, JSON.stringify(k.scopes), k.account, k.createdAt, k.revokedAt],
    );
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const r = await this.q(`SELECT * FROM ${this.s}.api_keys WHERE hash = $1`, [hash]);
    return r.rows[0] ? toApiKey(r.rows[0]) : null;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const r = await this.q(`SELECT * FROM ${this.s}.api_keys ORDER BY created_at, id`);
    return r.rows.map(toApiKey);
  }

  async revokeApiKey(idOrName: string, now: number): Promise<boolean> {
    const r = await this.q(`UPDATE ${this.s}.api_keys SET revoked_at = $2 WHERE (id = $1 OR name = $1) AND revoked_at IS NULL`, [idOrName, now]);
    return (r.rowCount ?? 0) > 0;
  }

  async countApiKeys(): Promise<number> {
    const r = await this.q<{ n: number }>(`SELECT count(*) AS n FROM ${this.s}.api_keys`);
    return r.rows[0]!.n;
  }

  // ---------------------------------------------------------------------------------------------- messages

  async insertMessages(items: { message: MessageRecord; events: NewEvent[]; thread?: OutboundThread }[]): Promise<InsertOutcome[]> {
    if (items.length === 0) return [];
    // One round trip: every message as one array per column (unnest), their events the same way; an event is
    // inserted only with its message. A (key_id, idempotency_key) already taken — by an earlier row of this batch
    // too — skips the row (ON CONFLICT DO NOTHING waits for a concurrent inserter of the same key to finish).
    const values: unknown[] = MESSAGE_COLUMNS.map(([, , pick]) => items.map((it) => pick(it.message)));
    const p = values.length;
    const evs = items.flatMap((it) => it.events);
    values.push(
      evs.map((e) => e.messageId),
      evs.map((e) => e.type),
      evs.map((e) => e.status),
      evs.map((e) => e.at),
      evs.map((e) => json(e.detail)),
    );
    // Issue 4: inserted messages with `thread` are filed in their conversation by the same statement (durable
    // with the message). One upsert per thread (the newest message of the batch), in key order.
    const threaded = items.filter((it) => it.thread);
    values.push(
      threaded.map((it) => it.message.id),
      threaded.map((it) => it.thread!.program),
      threaded.map((it) => `cv_${ulid(it.message.createdAt).toLowerCase()}`),
    );
    const cols = MESSAGE_COLUMNS.map(([c]) => c).join(', ');
    const arrays = MESSAGE_COLUMNS.map(([, t], i) => `$${i + 1}::${t}`).join(', ');
    const sql = `
      WITH ins AS (
        INSERT INTO ${this.s}.messages (${cols})
        SELECT ${MESSAGE_COLUMNS.map(([c]) => `u.${c}`).join(', ')}
        FROM unnest(${arrays}) WITH ORDINALITY AS u(${cols}, n)
        ORDER BY u.n
        ON CONFLICT (key_id, idempotency_key) DO NOTHING
        RETURNING *
      ), ev AS (
        INSERT INTO ${this.s}.message_events (message_id, type, status, at, detail)
        SELECT e.message_id, e.type, e.status, e.at, e.detail
        FROM unnest($${p + 1}::text[], $${p + 2}::text[], $${p + 3}::text[], $${p + 4}::bigint[], $${p + 5}::jsonb[])
          WITH ORDINALITY AS e(message_id, type, status, at, detail, n)
        WHERE e.message_id IN (SELECT id FROM ins)
        ORDER BY e.n
      ), th AS (
        INSERT INTO ${this.s}.conversations AS c (id, contact, sender_key, account, from_number, program, owner_app, last_message_at, last_direction, created_at)
        SELECT DISTINCT ON (i.to_number, i.account, i.from_number)
               t.conv_id, i.to_number, i.account || ':' || i.from_number, i.account, i.from_number, t.program,
               (SELECT k.name FROM ${this.s}.api_keys k WHERE k.id = i.key_id), i.created_at, 'out',
               min(i.created_at) OVER (PARTITION BY i.to_number, i.account, i.from_number)
        FROM ins i JOIN unnest($${p + 6}::text[], $${p + 7}::text[], $${p + 8}::text[]) AS t(message_id, program, conv_id) ON t.message_id = i.id
        ORDER BY i.to_number, i.account, i.from_number, i.created_at DESC, i.id DESC
        ON CONFLICT (contact, sender_key) DO UPDATE SET
          program = EXCLUDED.program,
          owner_app = COALESCE(EXCLUDED.owner_app, c.owner_app),
          last_direction = CASE WHEN EXCLUDED.last_message_at >= c.last_message_at THEN 'out' ELSE c.last_direction END,
          last_message_at = GREATEST(c.last_message_at, EXCLUDED.last_message_at)
      )
      SELECT * FROM ins`;
    const r = await this.q(sql, values);
    const inserted = new Map(r.rows.map((row) => [row.id as string, toMessage(row)]));

    const missing = items.filter((it) => !inserted.has(it.message.id));
    const existing = new Map<string, MessageRecord>();
    if (missing.length > 0) {
      const found = await this.q(
        `SELECT m.* FROM ${this.s}.messages m JOIN unnest($1::text[], $2::text[]) AS k(key_id, idem) ON m.key_id = k.key_id AND m.idempotency_key = k.idem`,
        [missing.map((it) => it.message.keyId), missing.map((it) => it.message.idempotencyKey)],
      );
      for (const row of found.rows) existing.set(`${row.key_id as string}\u0000${row.idempotency_key as string}`, toMessage(row));
    }
    return items.map((it): InsertOutcome => {
      const mine = inserted.get(it.message.id);
      if (mine) return { inserted: true, message: mine };
      const other = existing.get(`${it.message.keyId}\u0000${it.message.idempotencyKey}`);
      if (!other) throw new Error(`message ${it.message.id} was neither inserted nor found by its idempotency key`);
      return { inserted: false, existing: other };
    });
  }

  async getMessage(id: string): Promise<MessageRecord | null> {
    const r = await this.q(`SELECT * FROM ${this.s}.messages WHERE id = $1`, [id]);
    return r.rows[0] ? toMessage(r.rows[0]) : null;
  }

  async findByIdempotencyKey(keyId: string, idempotencyKey: string): Promise<MessageRecord | null> {
    const r = await this.q(`SELECT * FROM ${this.s}.messages WHERE key_id = $1 AND idempotency_key = $2`, [keyId, idempotencyKey]);
    return r.rows[0] ? toMessage(r.rows[0]) : null;
  }

  async findByProviderId(provider: string, providerMessageId: string): Promise<MessageRecord | null> {
    const r = await this.q(
      `SELECT * FROM ${this.s}.messages WHERE provider = $1 AND provider_message_id = $2 ORDER BY created_at, seq LIMIT 1`,
      [provider, providerMessageId],
    );
    return r.rows[0] ? toMessage(r.rows[0]) : null;
  }

  async listMessages(q: MessageQuery): Promise<{ items: MessageRecord[]; nextCursor: MessageCursor | null }> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (sql: (n: string) => string, v: unknown) => {
      values.push(v);
      where.push(sql(`$${values.length}`));
    };
    if (q.status !== undefined) add((n) => `status = ${n}`, q.status);
    if (q.to !== undefined) add((n) => `to_number = ${n}`, q.to);
    if (q.since !== undefined) add((n) => `created_at >= ${n}`, q.since);
    if (q.until !== undefined) add((n) => `created_at < ${n}`, q.until);
    if (q.keyId !== undefined) add((n) => `key_id = ${n}`, q.keyId);
    if (q.category !== undefined) add((n) => `category = ${n}`, q.category);
    if (q.cursor) {
      values.push(q.cursor.createdAt, q.cursor.id);
      where.push(`(created_at, id) < ($${values.length - 1}, $${values.length})`);
    }
    const limit = Math.max(0, Math.floor(q.limit));
    values.push(limit + 1);
    const r = await this.q(
      `SELECT * FROM ${this.s}.messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
      values,
    );
    const items = r.rows.slice(0, limit).map(toMessage);
    const last = items.at(-1);
    return { items, nextCursor: r.rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null };
  }

  async listEvents(messageId: string): Promise<MessageEvent[]> {
    const r = await this.q(`SELECT * FROM ${this.s}.message_events WHERE message_id = $1 ORDER BY id`, [messageId]);
    return r.rows.map(toEvent);
  }

  async appendEvent(e: NewEvent): Promise<void> {
    await this.q(`INSERT INTO ${this.s}.message_events (message_id, type, status, at, detail) VALUES ($1, $2, $3, $4, $5::jsonb)`, [
      e.messageId,
      e.type,
      e.status,
      e.at,
      json(e.detail),
    ]);
  }

  async transition(req: TransitionRequest): Promise<MessageRecord | null> {
    const to = req.patch.status;
    // The state machine is enforced here too: `from` may only name states that can reach `to` (or `to` itself,
    // a field-only update), so a status never moves backwards whatever the caller passes.
    const from = to === undefined ? [...req.from] : req.from.filter((s) => s === to || canTransition(s, to));
    if (from.length === 0) return null;
    const values: unknown[] = [req.id, from, req.now];
    const sets = ['updated_at = $3'];
    for (const [key, value] of Object.entries(req.patch) as [keyof MessagePatch, unknown][]) {
      if (value === undefined) continue;
      const column = PATCH_COLUMNS[key];
      if (!column) throw new Error(`transition: field "${key}" cannot be patched`);
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    }
    const where = ['id = $1', 'status = ANY($2::text[])'];
    if (req.submitStates) {
      values.push([...req.submitStates]);
      where.push(`submit_state = ANY($${values.length}::text[])`);
    }
    if (req.leaseOwner !== undefined) {
      values.push(req.leaseOwner);
      where.push(`lease_owner = $${values.length}`);
    }
    let eventCte = '';
    if (req.event) {
      const e = req.event;
      const n = values.length;
      values.push(e.messageId, e.type, e.status, e.at, json(e.detail));
      eventCte = `, ev AS (INSERT INTO ${this.s}.message_events (message_id, type, status, at, detail)
        SELECT $${n + 1}::text, $${n + 2}::text, $${n + 3}::text, $${n + 4}::bigint, $${n + 5}::jsonb FROM u)`;
    }
    let outboxCte = '';
    if (req.outbox && req.outbox.length > 0) {
      // App events of this change (message.status), written only when the update applied.
      const rows = req.outbox;
      const n = values.length;
      values.push(
        rows.map((o) => o.id),
        rows.map((o) => o.eventId),
        rows.map((o) => o.subscriptionId),
        rows.map((o) => o.type),
        rows.map((o) => o.payload),
        rows.map((o) => o.nextAttemptAt),
        rows.map((o) => o.createdAt),
      );
      outboxCte = `, ob AS (INSERT INTO ${this.s}.event_outbox (id, event_id, subscription_id, type, payload, status, attempts, next_attempt_at, created_at)
        SELECT o.id, o.event_id, o.subscription_id, o.type, o.payload, 'pending', 0, o.next_attempt_at, o.created_at
          FROM unnest($${n + 1}::text[], $${n + 2}::text[], $${n + 3}::text[], $${n + 4}::text[], $${n + 5}::text[], $${n + 6}::bigint[], $${n + 7}::bigint[])
            WITH ORDINALITY AS o(id, event_id, subscription_id, type, payload, next_attempt_at, created_at, k)
         WHERE EXISTS (SELECT 1 FROM u) ORDER BY o.k)`;
    }
    let settleCte = '';
    if (req.settleBookingAt !== undefined) {
      // The submit was answered: move the message's open bookings to start at that time and close them (rate-limit.ts
      // `settle`), only when the update applied (we held the message, so no other attempt of it is on the wire).
      values.push(req.settleBookingAt);
      const at = `$${values.length}::bigint`;
      settleCte = `, settle AS (
        UPDATE ${this.s}.rate_usage r SET at = r.at + greatest(0, ${at} - d.first), open_until = NULL
        FROM (SELECT min(at) AS first FROM ${this.s}.rate_usage WHERE message_id = $1 AND open_until IS NOT NULL) d
        WHERE r.message_id = $1 AND r.open_until IS NOT NULL AND EXISTS (SELECT 1 FROM u))`;
    }
    const r = await this.q(
      `WITH u AS (UPDATE ${this.s}.messages SET ${sets.join(', ')} WHERE ${where.join(' AND ')} RETURNING *)${eventCte}${outboxCte}${settleCte} SELECT * FROM u`,
      values,
    );
    return r.rows[0] ? toMessage(r.rows[0]) : null;
  }

  async countByStatus(): Promise<Record<MessageStatus, number>> {
    const r = await this.q<{ status: MessageStatus; n: number }>(`SELECT status, count(*) AS n FROM ${this.s}.messages GROUP BY status`);
    const out = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as Record<MessageStatus, number>;
    for (const row of r.rows) if (row.status in out) out[row.status] = row.n;
    return out;
  }

  // ---------------------------------------------------------------------------------------------- dispatch

  async claimDue(req: ClaimRequest): Promise<ClaimResult> {
    const { now, windowMs: W } = req;
    const max = Math.max(0, Math.floor(req.max));
    if (max === 0) return { claimed: [], wakeAt: await this.nextDueAfter(now) };
    const mpsOf = (key: string) => req.rates.get(key) ?? req.defaultMps;

    // 1. Which senders have due work, best head first (a loose index scan over messages_queue_idx: one probe per
    //    sender, not one row per queued message), and when the next not-yet-due message becomes due.
    const found = await this.q<{ next_due: number | null; senders: { sender_key: string }[] }>(
      `WITH RECURSIVE s(k) AS (
         (SELECT sender_key FROM ${this.s}.messages WHERE status = 'queued' ORDER BY sender_key LIMIT 1)
         UNION ALL
         SELECT (SELECT m.sender_key FROM ${this.s}.messages m WHERE m.status = 'queued' AND m.sender_key > s.k ORDER BY m.sender_key LIMIT 1)
         FROM s WHERE s.k IS NOT NULL
       ), heads AS (
         SELECT s.k AS sender_key, h.priority, h.created_at, h.seq
         FROM s CROSS JOIN LATERAL (
           SELECT m.priority, m.created_at, m.seq FROM ${this.s}.messages m
           WHERE m.status = 'queued' AND m.sender_key = s.k AND m.next_attempt_at <= $1 AND m.expires_at > $1
           ORDER BY m.priority DESC, m.created_at, m.seq LIMIT 1
         ) h
         WHERE s.k IS NOT NULL
         ORDER BY h.priority DESC, h.created_at, h.seq
         LIMIT $2
       )
       SELECT
         (SELECT min(next_attempt_at) FROM ${this.s}.messages WHERE status = 'queued' AND next_attempt_at > $1 AND expires_at > $1) AS next_due,
         (SELECT coalesce(json_agg(json_build_object('sender_key', sender_key)), '[]'::json) FROM heads) AS senders`,
      [now, MAX_SENDERS_PER_CLAIM],
    );
    const nextDue = found.rows[0]!.next_due;
    const senderKeys = found.rows[0]!.senders.map((x) => x.sender_key);
    if (senderKeys.length === 0) return { claimed: [], wakeAt: nextDue };
    const wakes: number[] = nextDue === null ? [] : [nextDue];
    if (senderKeys.length >= MAX_SENDERS_PER_CLAIM) wakes.push(now); // more senders than one claim considers

    // 2. Lock rows for senders seen for the first time (committed on their own, before any other lock).
    const unknown = senderKeys.filter((k) => !this.knownSenders.has(k)).sort();
    if (unknown.length > 0) {
      await this.q(`INSERT INTO ${this.s}.rate_senders (sender_key) SELECT k FROM unnest($1::text[]) AS k ORDER BY k ON CONFLICT DO NOTHING`, [unknown]);
      for (const k of unknown) this.knownSenders.add(k);
    }

    const claimed = await this.tx(async (c) => {
      // 3. Lock the senders (in key order: claimers wait for each other, never deadlock). Everything below runs in
      //    statements that start after the lock (a statement's snapshot is taken when it starts), so it sees what
      //    the previous holder booked and claimed. While the locks are held: two more round trips, then COMMIT.
      const keys = [...senderKeys].sort();
      const lockedRows = await this.q<{ sender_key: string }>(
        `SELECT sender_key FROM ${this.s}.rate_senders WHERE sender_key = ANY($1::text[]) ORDER BY sender_key FOR UPDATE`,
        [keys],
        c,
      );
      const usage = new Map<string, UsageEntry[]>(lockedRows.rows.map((r) => [r.sender_key, []]));
      if (usage.size === 0) return [];
      const locked = [...usage.keys()];

      // 4. The senders' booked usage, and each sender's due queue head: as many messages as could fit its window
      //    now, plus one to know what comes next. Heads are read without row locks (step 6 locks what is claimed).
      const limits = locked.map((k) => Math.min(max, Math.max(1, Math.ceil(mpsOf(k)))) + 1);
      const read = await this.q<{ usage: [string, number, number, number | null][]; heads: [string, string, number, number, number, number][] }>(
        `SELECT
           (SELECT coalesce(json_agg(json_build_array(sender_key, at, segments, open_until)), '[]'::json)
              FROM ${this.s}.rate_usage WHERE sender_key = ANY($1::text[]) AND (at > $4 OR open_until > $4)) AS usage,
           (SELECT coalesce(json_agg(json_build_array(m.id, m.sender_key, m.priority, m.created_at, m.seq, m.segments)), '[]'::json)
              FROM unnest($1::text[], $2::int[]) AS s(k, lim)
              CROSS JOIN LATERAL (
                SELECT id, sender_key, priority, created_at, seq, segments FROM ${this.s}.messages
                WHERE status = 'queued' AND sender_key = s.k AND next_attempt_at <= $3 AND expires_at > $3
                ORDER BY priority DESC, created_at, seq
                LIMIT s.lim
              ) m) AS heads`,
        [locked, limits, now, now - W],
        c,
      );
      // Open bookings (request still on the wire) count as arriving now: rate-limit.ts effectiveAt.
      for (const [key, at, segments, openUntil] of read.rows[0]!.usage) usage.get(key)?.push({ at, segments, openUntil });
      const heads: QueueHead[] = read.rows[0]!.heads.map(([id, senderKey, priority, createdAt, seq, segments]) => ({ id, senderKey, priority, createdAt, seq, segments }));
      const truncated = new Set(locked.filter((k, i) => heads.filter((h) => h.senderKey === k).length >= limits[i]!));

      // 5. Plan: global claim order, each sender within its window, strict priority within a sender.
      const plan = planClaims({ heads, usage, truncated, now, windowMs: W, mpsOf, max });
      wakes.push(...plan.wakes);
      if (plan.claims.length === 0) return [];
      const ids = plan.claims.map((p) => p.head.id);
      const booked = plan.claims.flatMap((p) => p.entries.map((e) => ({ senderKey: p.head.senderKey, at: e.at, segments: e.segments, messageId: p.head.id })));

      // 6. One statement: lock the planned rows FOR UPDATE SKIP LOCKED (by primary key only, a plan that cannot go
      //    wrong on stale statistics), claim those still queued and due, log them, book their usage, prune old usage.
      //    A row another transaction holds (a cancel, an expiry) is skipped this round; the bookings of the others
      //    stay as planned (they assumed it went first: conservative, never over the window).
      const rows = await this.q(
        `WITH l AS MATERIALIZED (
           SELECT id, status, next_attempt_at, expires_at FROM ${this.s}.messages WHERE id = ANY($1::text[]) FOR UPDATE SKIP LOCKED
         ), c AS (
           UPDATE ${this.s}.messages m
           SET status = 'sending', submit_state = 'in_flight', attempts = m.attempts + 1,
               lease_owner = $2, lease_expires_at = $3::bigint, updated_at = $4::bigint
           FROM l
           WHERE m.id = l.id AND l.status = 'queued' AND l.next_attempt_at <= $4::bigint AND l.expires_at > $4::bigint
           RETURNING m.*
         ), ev AS (
           INSERT INTO ${this.s}.message_events (message_id, type, status, at, detail)
           SELECT c.id, 'submit_started', 'sending', $4::bigint, jsonb_build_object('owner', $2::text, 'attempt', c.attempts)
           FROM c ORDER BY array_position($1::text[], c.id::text)
         ), book AS (
           INSERT INTO ${this.s}.rate_usage (sender_key, at, segments, message_id, open_until)
           SELECT u.k, u.at, u.seg, u.mid, $3::bigint FROM unnest($5::text[], $6::bigint[], $7::float8[], $8::text[]) AS u(k, at, seg, mid)
           WHERE u.mid IN (SELECT id FROM c)
         ), prune AS (
           DELETE FROM ${this.s}.rate_usage WHERE sender_key = ANY($9::text[]) AND at <= $4::bigint - $10::bigint
             AND (open_until IS NULL OR open_until <= $4::bigint - $10::bigint)
         )
         SELECT * FROM c`,
        [
          ids,
          req.owner,
          now + req.leaseMs,
          now,
          booked.map((b) => b.senderKey),
          booked.map((b) => b.at),
          booked.map((b) => b.segments),
          booked.map((b) => b.messageId),
          locked,
          W,
        ],
        c,
      );
      if (rows.rows.length < ids.length) wakes.push(now); // skipped rows: try again soon
      const byId = new Map(rows.rows.map((r) => [r.id as string, toMessage(r)]));
      return ids.map((id) => byId.get(id)).filter((m): m is MessageRecord => m !== undefined);
    }, CLAIM_LOCK_TIMEOUT_MS);

    return { claimed, wakeAt: wakes.length > 0 ? Math.min(...wakes) : null };
  }

  /** Earliest nextAttemptAt of queued work not yet due (null when none). */
  private async nextDueAfter(now: number): Promise<number | null> {
    const r = await this.q<{ t: number | null }>(
      `SELECT min(next_attempt_at) AS t FROM ${this.s}.messages WHERE status = 'queued' AND next_attempt_at > $1 AND expires_at > $1`,
      [now],
    );
    return r.rows[0]!.t;
  }

  async expireDue(now: number, maxCount: number, outbox?: ExpiryOutbox): Promise<MessageRecord[]> {
    const max = Math.max(0, Math.floor(maxCount));
    if (max === 0) return [];
    if (outbox) {
      // The app events of each expiry are inserted in the same transaction as the change.
      return this.tx(async (c) => {
        const expired = await this.expireRows(now, max, c);
        const rows = expired.flatMap((m) =>
          outbox(m, { messageId: m.id, type: 'expired', status: 'expired', at: now, detail: { reason: 'validity', expiresAt: m.expiresAt } }),
        );
        await this.insertOutboxRows(rows, c);
        return expired;
      });
    }
    return this.expireRows(now, max, this.pool);
  }

  private async insertOutboxRows(rows: readonly NewOutboxRow[], db: Queryable): Promise<void> {
    if (rows.length === 0) return;
    await this.q(
      `INSERT INTO ${this.s}.event_outbox (id, event_id, subscription_id, type, payload, status, attempts, next_attempt_at, created_at)
       SELECT o.id, o.event_id, o.subscription_id, o.type, o.payload, 'pending', 0, o.next_attempt_at, o.created_at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
           WITH ORDINALITY AS o(id, event_id, subscription_id, type, payload, next_attempt_at, created_at, k)
        ORDER BY o.k`,
      [
        rows.map((o) => o.id),
        rows.map((o) => o.eventId),
        rows.map((o) => o.subscriptionId),
        rows.map((o) => o.type),
        rows.map((o) => o.payload),
        rows.map((o) => o.nextAttemptAt),
        rows.map((o) => o.createdAt),
      ],
      db,
    );
  }

  private async expireRows(now: number, max: number, db: Queryable): Promise<MessageRecord[]> {
    const r = await this.q(
      `WITH x AS (
         UPDATE ${this.s}.messages SET status = 'expired', completed_at = $1, updated_at = $1
         WHERE id IN (
           SELECT id FROM ${this.s}.messages WHERE status = 'queued' AND expires_at <= $1
           ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         RETURNING *
       ), ev AS (
         INSERT INTO ${this.s}.message_events (message_id, type, status, at, detail)
         SELECT x.id, 'expired', 'expired', $1::bigint, jsonb_build_object('reason', 'validity', 'expiresAt', x.expires_at) FROM x ORDER BY x.expires_at, x.id
       )
       SELECT * FROM x ORDER BY expires_at, id`,
      [now, max],
      db,
    );
    return r.rows.map(toMessage);
  }

  async claimStatusPoll(req: StatusPollClaimRequest): Promise<MessageRecord[]> {
    const max = Math.max(0, Math.floor(req.max));
    if (max === 0) return [];
    const r = await this.q(
      `UPDATE ${this.s}.messages SET lease_owner = $2, lease_expires_at = $3::bigint
       WHERE id IN (
         SELECT id FROM ${this.s}.messages
         WHERE status IN ('sending', 'sent') AND submit_state = 'accepted' AND provider_message_id IS NOT NULL
           AND updated_at <= $4 AND expires_at > $5
           AND NOT (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL AND lease_expires_at > $1)
         ORDER BY updated_at, id
         LIMIT $6
         FOR UPDATE SKIP LOCKED
       )
       RETURNING *`,
      [req.now, req.owner, req.now + req.leaseMs, req.updatedBefore, req.expiresAfter, max],
    );
    return r.rows.map(toMessage).sort((a, b) => a.updatedAt - b.updatedAt || (a.id < b.id ? -1 : 1));
  }

  async claimStale(req: StaleClaimRequest): Promise<MessageRecord[]> {
    const max = Math.max(0, Math.floor(req.max));
    if (max === 0) return [];
    const r = await this.q(
      `UPDATE ${this.s}.messages SET lease_owner = $2, lease_expires_at = $3::bigint, updated_at = $1
       WHERE id IN (
         SELECT id FROM ${this.s}.messages
         WHERE status = 'sending'
           AND NOT (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL AND lease_expires_at > $1)
           AND (submit_state = 'in_flight' OR (submit_state = 'ambiguous' AND next_attempt_at <= $1))
         ORDER BY next_attempt_at, id
         LIMIT $4
         FOR UPDATE SKIP LOCKED
       )
       RETURNING *`,
      [req.now, req.owner, req.now + req.leaseMs, max],
    );
    return r.rows.map(toMessage).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1));
  }

  async releaseLeases(owner: string, now: number): Promise<number> {
    const r = await this.q(
      `UPDATE ${this.s}.messages SET lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
       WHERE lease_owner = $1 AND submit_state <> 'in_flight'`,
      [owner, now],
    );
    return r.rowCount ?? 0;
  }

  // ---------------------------------------------------------------------------------------------- webhooks, inbound

  async recordWebhook(w: WebhookReceipt): Promise<{ id: number; duplicate: boolean }> {
    // The raw receipt is always kept; `webhook_dedupe`'s primary key decides whether the key was seen before
    // (a concurrent insert of the same key waits for the first to commit, then counts as a duplicate).
    const r = await this.q<{ id: number; duplicate: boolean }>(
      `WITH n AS (SELECT nextval('${this.s}.webhooks_id_seq'::regclass) AS id),
       d AS (
         INSERT INTO ${this.s}.webhook_dedupe (dedupe_key, webhook_id) SELECT $3::text, id FROM n
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING webhook_id
       )
       INSERT INTO ${this.s}.webhooks (id, provider, kind, dedupe_key, received_at, url, headers, raw_body, signature_valid, duplicate)
       SELECT n.id, $1::text, $2::text, $3::text, $4::bigint, $5::text, $6::jsonb, $7::text, $8::boolean, NOT EXISTS (SELECT 1 FROM d) FROM n
       RETURNING id, duplicate`,
      [w.provider, w.kind, w.dedupeKey, w.receivedAt, w.url, JSON.stringify(w.headers), w.rawBody, w.signatureValid],
    );
    const row = r.rows[0]!;
    return { id: row.id, duplicate: row.duplicate };
  }

  async insertInbound(x: InboundRecord): Promise<{ duplicate: boolean; unhandled?: InboundRecord }> {
    const r = await this.q(
      `INSERT INTO ${this.s}.inbound_messages
         (id, provider, account, provider_message_id, from_number, to_number, body, num_media, media_urls, provider_keyword, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)
       ON CONFLICT (provider, provider_message_id) DO NOTHING`,
      [x.id, x.provider, x.account, x.providerMessageId, x.from, x.to, x.body, x.numMedia, JSON.stringify(x.mediaUrls), x.providerKeyword, x.receivedAt],
    );
    if ((r.rowCount ?? 0) > 0) return { duplicate: false };
    // A duplicate: hand back the stored row when its handling never completed (a crash after the insert).
    const stored = await this.q(`SELECT * FROM ${this.s}.inbound_messages WHERE provider = $1 AND provider_message_id = $2 AND handled_at IS NULL`, [
      x.provider,
      x.providerMessageId,
    ]);
    return stored.rows[0] ? { duplicate: true, unhandled: toInbound(stored.rows[0]) } : { duplicate: true };
  }

  async listUnhandledInbound(q: { before: number; limit: number }): Promise<InboundRecord[]> {
    const r = await this.q(`SELECT * FROM ${this.s}.inbound_messages WHERE handled_at IS NULL AND received_at < $1 ORDER BY received_at, id LIMIT $2`, [
      q.before,
      Math.max(1, Math.floor(q.limit)),
    ]);
    return r.rows.map(toInbound);
  }

  async listInbound(q: InboundQuery): Promise<{ items: InboundRecord[]; nextCursor: MessageCursor | null }> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (q.from !== undefined) {
      values.push(q.from);
      where.push(`from_number = $${values.length}`);
    }
    if (q.to !== undefined) {
      values.push(q.to);
      where.push(`to_number = $${values.length}`);
    }
    if (q.cursor) {
      values.push(q.cursor.createdAt, q.cursor.id);
      where.push(`(received_at, id) < ($${values.length - 1}, $${values.length})`);
    }
    const limit = Math.max(0, Math.floor(q.limit));
    values.push(limit + 1);
    const r = await this.q(
      `SELECT * FROM ${this.s}.inbound_messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY received_at DESC, id DESC LIMIT $${values.length}`,
      values,
    );
    const items = r.rows.slice(0, limit).map(toInbound);
    const last = items.at(-1);
    return { items, nextCursor: r.rows.length > limit && last ? { createdAt: last.receivedAt, id: last.id } : null };
  }

  // ---------------------------------------------------------------------------------------------- operator statistics

  async stats(q: StatsQuery): Promise<MessageStats> {
    const nBuckets = bucketCount(q); // validates the query (RangeError), as every engine does
    const range = [q.since, q.until];
    const inRange = `created_at >= $1 AND created_at < $2`;

    const [byBucket, latency, errors, webhooks, awaiting] = await Promise.all([
      this.q<{ b: number; status: MessageStatus; n: number; submitted_segments: number }>(
        `SELECT floor((created_at - $1)::float8 / $3)::int AS b, status, count(*)::int AS n,
                coalesce(sum(segments) FILTER (WHERE submitted_at IS NOT NULL), 0)::float8 AS submitted_segments
         FROM ${this.s}.messages WHERE ${inRange} GROUP BY 1, 2`,
        [...range, q.bucketMs],
      ),
      // Nearest rank: the value at 1-based rank ceil(p·n) of the sorted values, for each latency kind
      // (the same float tolerance as stats-query.ts nearestRankOffset).
      this.q<{ kind: 'dispatch' | 'delivery'; i: number | null; v: number | null; n: number }>(
        `WITH v AS (
           SELECT 'dispatch' AS kind, submitted_at - created_at AS x FROM ${this.s}.messages
           WHERE ${inRange} AND submitted_at IS NOT NULL
           UNION ALL
           SELECT 'delivery', completed_at - submitted_at FROM ${this.s}.messages
           WHERE ${inRange} AND status = 'delivered' AND submitted_at IS NOT NULL AND completed_at IS NOT NULL
         ), r AS (
           SELECT kind, x, row_number() OVER (PARTITION BY kind ORDER BY x) AS rn, count(*) OVER (PARTITION BY kind) AS n FROM v
         ), k AS (SELECT DISTINCT kind, n FROM r)
         SELECT k.kind, k.n::int AS n, p.i::int AS i, r.x AS v
         FROM k
         LEFT JOIN unnest($3::float8[]) WITH ORDINALITY AS p(p, i) ON true
         LEFT JOIN r ON r.kind = k.kind AND r.rn = least(k.n, greatest(1, ceil(p.p * k.n - 1e-9)))`,
        [...range, [...q.percentiles]],
      ),
      this.q<{ code: string | null; n: number }>(
        `SELECT error_code AS code, count(*)::int AS n FROM ${this.s}.messages
         WHERE ${inRange} AND status IN ('failed', 'undelivered')
         GROUP BY error_code ORDER BY n DESC, error_code COLLATE "C" NULLS LAST`,
        range,
      ),
      this.q<{ received: number; rejected: number }>(
        `SELECT count(*)::int AS received, count(*) FILTER (WHERE NOT signature_valid)::int AS rejected
         FROM ${this.s}.webhooks WHERE received_at >= $1 AND received_at < $2`,
        range,
      ),
      this.q<{ n: number; oldest: number | null; sample: string[] | null }>(
        `WITH a AS (
           SELECT id, submitted_at FROM ${this.s}.messages
           WHERE submit_state = 'accepted' AND status IN ('sending', 'sent') AND submitted_at < $1
         )
         SELECT (SELECT count(*)::int FROM a) AS n, (SELECT min(submitted_at) FROM a) AS oldest,
                (SELECT array_agg(id ORDER BY submitted_at, id) FROM (SELECT id, submitted_at FROM a ORDER BY submitted_at, id LIMIT $2) s) AS sample`,
        [q.callbackDueBefore, AWAITING_SAMPLE],
      ),
    ]);

    const totals = zeroCounts();
    const buckets = Array.from({ length: nBuckets }, (_, i) => ({ start: q.since + i * q.bucketMs, counts: zeroCounts() }));
    let submittedSegments = 0;
    for (const r of byBucket.rows) {
      if (!(r.status in totals)) continue;
      totals[r.status] += r.n;
      submittedSegments += r.submitted_segments;
      const b = buckets[r.b];
      if (b) b.counts[r.status] += r.n;
    }
    const lat = (kind: 'dispatch' | 'delivery'): LatencyStats => {
      const rows = latency.rows.filter((r) => r.kind === kind);
      const count = rows[0]?.n ?? 0;
      return { count, values: q.percentiles.map((_, i) => (count === 0 ? null : (rows.find((r) => r.i === i + 1)?.v ?? null))) };
    };
    const a = awaiting.rows[0]!;
    return {
      totals,
      submittedSegments,
      buckets,
      dispatchLatency: lat('dispatch'),
      deliveryLatency: lat('delivery'),
      errors: errors.rows.map((r) => ({ code: r.code, count: r.n })),
      webhooks: { received: webhooks.rows[0]!.received, rejected: webhooks.rows[0]!.rejected },
      awaitingCallback: { count: a.n, oldestSubmittedAt: a.oldest, sample: a.sample ?? [] },
    };
  }

  async senderQueues(q: { now: number; recentMs: number }): Promise<SenderQueueStats[]> {
    const recentFrom = q.now - Math.max(0, q.recentMs);
    const r = await this.q<{ account: string; from_number: string; queued: number; queued_segments: number; oldest: number | null; recent: number }>(
      `SELECT account, from_number,
              count(*) FILTER (WHERE status = 'queued')::int AS queued,
              coalesce(sum(segments) FILTER (WHERE status = 'queued'), 0)::float8 AS queued_segments,
              min(created_at) FILTER (WHERE status = 'queued') AS oldest,
              coalesce(sum(segments) FILTER (WHERE submitted_at >= $1 AND submitted_at < $2), 0)::float8 AS recent
       FROM ${this.s}.messages
       WHERE status = 'queued' OR (submitted_at >= $1 AND submitted_at < $2)
       GROUP BY account, from_number
       ORDER BY account COLLATE "C", from_number COLLATE "C"`,
      [recentFrom, q.now],
    );
    return r.rows.map((x) => ({
      account: x.account,
      from: x.from_number,
      queued: x.queued,
      queuedSegments: x.queued_segments,
      oldestCreatedAt: x.oldest,
      recentSegments: x.recent,
    }));
  }

  // ---------------------------------------------------------------------------------------------- meta

  async getMeta(key: string): Promise<string | null> {
    const r = await this.q<{ value: string }>(`SELECT value FROM ${this.s}.meta WHERE key = $1`, [key]);
    return r.rows[0]?.value ?? null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.q(`INSERT INTO ${this.s}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [key, value]);
  }
}
