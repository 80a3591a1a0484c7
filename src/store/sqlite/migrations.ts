/**
 * SQLite schema, as an ordered list of versioned migrations. Append new migrations at the end (never edit or
 * reorder an applied one); each runs once and is recorded in `schema_migrations`. Pending migrations are applied
 * together in one transaction: a failure leaves the schema as it was.
 * Tables and the reason for each index: docs/reference/storage.md.
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  /** Unique and ordered: `NNNN_what`. */
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    name: '0001_core',
    sql: `
      CREATE TABLE api_keys (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        hash        TEXT NOT NULL UNIQUE,      -- sha256 hex of the token; the token is never stored
        prefix      TEXT NOT NULL,
        scopes      TEXT NOT NULL,             -- JSON array
        account     TEXT,
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
      ) STRICT;
      CREATE INDEX api_keys_name ON api_keys (name);

      CREATE TABLE messages (
        seq                 INTEGER PRIMARY KEY,   -- insertion order: FIFO among equal priority and createdAt
        id                  TEXT NOT NULL UNIQUE,
        key_id              TEXT,
        account             TEXT NOT NULL,
        provider            TEXT NOT NULL,
        to_number           TEXT NOT NULL,
        from_number         TEXT NOT NULL,
        body                TEXT NOT NULL,
        segments            INTEGER NOT NULL,
        encoding            TEXT NOT NULL,
        category            TEXT NOT NULL,
        priority            INTEGER NOT NULL,
        status              TEXT NOT NULL,
        submit_state        TEXT NOT NULL,
        metadata            TEXT,              -- JSON object
        idempotency_key     TEXT,
        request_hash        TEXT,
        provider_message_id TEXT,
        provider_status     TEXT,
        error_code          TEXT,
        error_message       TEXT,
        attempts            INTEGER NOT NULL,
        next_attempt_at     INTEGER NOT NULL,
        expires_at          INTEGER NOT NULL,
        lease_owner         TEXT,
        lease_expires_at    INTEGER,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL,
        submitted_at        INTEGER,
        completed_at        INTEGER
      ) STRICT;
      -- dispatch: due queued work (claimDue), next due time (wakeAt), expiry (expireDue), stale submits (claimStale)
      CREATE INDEX messages_claim ON messages (status, next_attempt_at, priority);
      -- dispatch: a sender's queue head in dispatch order (the rowid \`seq\` ends every index: priority, created_at, seq)
      CREATE INDEX messages_sender_queue ON messages (status, account, from_number, priority DESC, created_at);
      CREATE INDEX messages_expiry ON messages (status, expires_at);
      CREATE INDEX messages_lease_owner ON messages (lease_owner) WHERE lease_owner IS NOT NULL;
      -- webhooks: callback → message
      CREATE INDEX messages_provider_id ON messages (provider, provider_message_id) WHERE provider_message_id IS NOT NULL;
      -- idempotency (the store checks first, this backs it up)
      CREATE UNIQUE INDEX messages_idempotency ON messages (key_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
      -- history: newest first, cursor paging, filters
      CREATE INDEX messages_created ON messages (created_at DESC, id DESC);
      CREATE INDEX messages_to ON messages (to_number, created_at DESC, id DESC);
      CREATE INDEX messages_key ON messages (key_id, created_at DESC, id DESC);

      CREATE TABLE message_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id  TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        type        TEXT NOT NULL,
        status      TEXT,
        at          INTEGER NOT NULL,
        detail      TEXT                       -- JSON object
      ) STRICT;
      CREATE INDEX message_events_message ON message_events (message_id, id);

      -- Rate-window bookings per sender key (account:from), see dispatch/rate-limit.ts. Pruned by claimDue.
      CREATE TABLE sender_usage (
        sender_key  TEXT NOT NULL,
        at          INTEGER NOT NULL,
        segments    INTEGER NOT NULL,
        message_id  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX sender_usage_key ON sender_usage (sender_key, at);
      CREATE INDEX sender_usage_at ON sender_usage (at);

      -- Every webhook as received (duplicates too); at most one non-duplicate row per dedupe key.
      CREATE TABLE webhooks (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        provider        TEXT NOT NULL,
        kind            TEXT NOT NULL,
        dedupe_key      TEXT NOT NULL,
        duplicate       INTEGER NOT NULL,
        received_at     INTEGER NOT NULL,
        url             TEXT NOT NULL,
        headers         TEXT NOT NULL,         -- JSON object
        raw_body        TEXT NOT NULL,
        signature_valid INTEGER NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX webhooks_dedupe ON webhooks (dedupe_key) WHERE duplicate = 0;
      CREATE INDEX webhooks_received ON webhooks (received_at);

      CREATE TABLE inbound_messages (
        id                  TEXT PRIMARY KEY,
        provider            TEXT NOT NULL,
        account             TEXT NOT NULL,
        provider_message_id TEXT NOT NULL,
        from_number         TEXT NOT NULL,
        to_number           TEXT NOT NULL,
        body                TEXT NOT NULL,
        num_media           INTEGER NOT NULL,
        media_urls          TEXT NOT NULL,     -- JSON array
        provider_keyword    TEXT,
        received_at         INTEGER NOT NULL,
        UNIQUE (provider, provider_message_id)
      ) STRICT;
      CREATE INDEX inbound_received ON inbound_messages (received_at DESC, id DESC);
      CREATE INDEX inbound_from ON inbound_messages (from_number, received_at DESC, id DESC);
      CREATE INDEX inbound_to ON inbound_messages (to_number, received_at DESC, id DESC);

      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    // Issue 4: consent ledger, app-event subscriptions, the event outbox and its delivery log
    // (docs/dev/compliance-integration.md §3).
    name: '0002_compliance',
    sql: `
      -- current consent per (contact, program); derived from consent_events, written in the same transaction
      CREATE TABLE consent_state (
        contact     TEXT NOT NULL,
        program     TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('opted_in', 'opted_out', 'unknown')),
        since       INTEGER NOT NULL,
        source      TEXT,
        event_id    TEXT,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (contact, program)
      ) STRICT;
      CREATE INDEX consent_state_program ON consent_state (program, state, contact);
      -- append-only history: never updated or deleted by the application (retention keeps it: it is the evidence)
      CREATE TABLE consent_events (
        seq         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        contact     TEXT NOT NULL,
        program     TEXT NOT NULL,
        state       TEXT NOT NULL,
        source      TEXT NOT NULL,
        at          INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        evidence    TEXT NOT NULL          -- JSON ConsentEvidence
      ) STRICT;
      CREATE INDEX consent_events_contact ON consent_events (contact, program, seq);
      -- the opt-out sweep: queued messages to one contact
      CREATE INDEX messages_to_status ON messages (to_number, status);

      CREATE TABLE subscriptions (
        id              TEXT PRIMARY KEY,
        key_id          TEXT NOT NULL,
        app             TEXT NOT NULL,
        url             TEXT NOT NULL,
        events          TEXT NOT NULL,     -- JSON array of event types
        secrets         TEXT NOT NULL,     -- JSON array, newest first
        status          TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
        disabled_reason TEXT,
        created_at      INTEGER NOT NULL,
        deleted_at      INTEGER
      ) STRICT;
      CREATE INDEX subscriptions_key ON subscriptions (key_id, created_at);

      -- one row per event per subscription: the outbox
      CREATE TABLE event_outbox (
        seq              INTEGER PRIMARY KEY,
        id               TEXT NOT NULL UNIQUE,
        event_id         TEXT NOT NULL,
        subscription_id  TEXT NOT NULL,
        type             TEXT NOT NULL,
        payload          TEXT NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('pending', 'delivering', 'delivered', 'failed')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        first_attempt_at INTEGER,
        next_attempt_at  INTEGER NOT NULL,
        lease_owner      TEXT,
        lease_expires_at INTEGER,
        created_at       INTEGER NOT NULL,
        completed_at     INTEGER
      ) STRICT;
      CREATE INDEX event_outbox_due ON event_outbox (status, next_attempt_at);
      CREATE INDEX event_outbox_sub ON event_outbox (subscription_id, status);

      -- the delivery log: one row per HTTP attempt
      CREATE TABLE deliveries (
        seq             INTEGER PRIMARY KEY,
        outbox_id       TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        attempt         INTEGER NOT NULL,
        started_at      INTEGER NOT NULL,
        duration_ms     INTEGER,
        http_status     INTEGER,
        error           TEXT,
        outcome         TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'gone', 'gave_up'))
      ) STRICT;
      CREATE INDEX deliveries_sub ON deliveries (subscription_id, seq DESC);
    `,
  },
  {
    // Issue 4: conversations (one thread per contact and sender); thread reads come from messages + inbound_messages.
    name: '0003_conversations',
    sql: `
      CREATE TABLE conversations (
        id              TEXT PRIMARY KEY,
        contact         TEXT NOT NULL,
        sender_key      TEXT NOT NULL,
        account         TEXT NOT NULL,
        from_number     TEXT NOT NULL,
        program         TEXT NOT NULL,
        owner_app       TEXT,
        last_message_at INTEGER NOT NULL,
        last_direction  TEXT NOT NULL CHECK (last_direction IN ('in', 'out')),
        created_at      INTEGER NOT NULL,
        UNIQUE (contact, sender_key)
      ) STRICT;
      CREATE INDEX conversations_recent ON conversations (last_message_at DESC, id DESC);
      CREATE INDEX conversations_contact ON conversations (contact, last_message_at DESC);
      CREATE INDEX conversations_owner ON conversations (owner_app, last_message_at DESC);
      -- a thread's inbound side: from the contact to our number
      CREATE INDEX inbound_thread ON inbound_messages (from_number, to_number, received_at DESC, id DESC);
      -- retention: finished messages by age; named leases (the nightly job runs on one instance)
      CREATE INDEX messages_completed ON messages (created_at) WHERE completed_at IS NOT NULL;
      CREATE TABLE leases (
        name        TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        expires_at  INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    // Issue 5: strict pacing at the carrier (bookings stay open while their request is on the wire, then move to the
    // response time). docs/reference/dispatch.md "Pacing at the carrier".
    name: '0004_dispatch_pacing',
    sql: `
      ALTER TABLE sender_usage ADD COLUMN open_until INTEGER;   -- claim's lease expiry while the request is on the wire
      CREATE INDEX sender_usage_open ON sender_usage (message_id) WHERE open_until IS NOT NULL;
    `,
  },
  {
    // Issue 4: resumable inbound handling. An inbound message is marked handled in the transaction that writes its
    // last app event; rows left unhandled by a crash are handled again (webhook retry or the recovery sweep). Rows
    // stored before this migration count as handled. Ledger rows are found by the inbound message they record.
    name: '0005_inbound_handling',
    sql: `
      ALTER TABLE inbound_messages ADD COLUMN handled_at INTEGER;
      UPDATE inbound_messages SET handled_at = received_at;
      CREATE INDEX inbound_unhandled ON inbound_messages (received_at, id) WHERE handled_at IS NULL;
      CREATE INDEX consent_events_inbound ON consent_events (json_extract(evidence, '$.inboundMessageId'))
        WHERE source IN ('inbound_keyword', 'provider');
    `,
  },
  {
    // Core v2: the opt-out sweep (queued messages to a contact) reads a partial index that only queued rows enter,
    // instead of a (to_number, status) index rewritten on every status change of every message.
    name: '0006_queued_to_index',
    sql: `
      DROP INDEX messages_to_status;
      CREATE INDEX messages_queued_to ON messages (to_number, seq) WHERE status = 'queued';
    `,
  },
  {
    // Core v2: claims independent of queue depth. The sender queues are a partial index only queued rows enter (seeks
    // per sender, no skip-scan over every queued row), expiry likewise; the rate windows live in the dispatcher's
    // store (one dispatcher per file) and only a compact per-sender summary is persisted, once per claim, so a
    // restarted process keeps strict pacing (docs/reference/dispatch.md "Rate windows"). Bookings left by the
    // previous version become that summary.
    name: '0007_claim_queues',
    sql: `
      DROP INDEX messages_sender_queue;
      CREATE INDEX messages_queue ON messages (account, from_number, priority DESC, created_at) WHERE status = 'queued';
      DROP INDEX messages_expiry;
      CREATE INDEX messages_queued_expiry ON messages (expires_at) WHERE status = 'queued';
      CREATE TABLE sender_pacing (
        sender_key  TEXT PRIMARY KEY,
        last_at     INTEGER NOT NULL,   -- latest booking time (a claim's chunk, or a settled response time)
        open_until  INTEGER             -- latest lease expiry of a booking that may still be on the wire; NULL: none
      ) STRICT;
      INSERT INTO sender_pacing (sender_key, last_at, open_until)
        SELECT sender_key, MAX(at), MAX(open_until) FROM sender_usage GROUP BY sender_key;
      DROP TABLE sender_usage;
    `,
  },
];

const BOOKKEEPING = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    seq        INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    applied_at INTEGER NOT NULL            -- wall clock, informational only
  ) STRICT;
`;

/** Names of applied migrations, in order. */
export function appliedMigrations(db: Database): string[] {
  db.exec(BOOKKEEPING);
  return (db.prepare('SELECT name FROM schema_migrations ORDER BY seq').all() as { name: string }[]).map((r) => r.name);
}

/**
 * Apply pending migrations (those after the applied prefix of `list`); returns the names applied now.
 * Runs under one write lock (BEGIN IMMEDIATE), so two processes starting at once apply each migration once.
 * Refuses a database whose applied history is not a prefix of `list` (written by a newer or different version).
 */
export function migrate(db: Database, list: readonly Migration[] = MIGRATIONS): string[] {
  db.exec(BOOKKEEPING);
  const run = db.transaction(() => {
    const applied = appliedMigrations(db);
    if (applied.length > list.length && applied.slice(0, list.length).every((n, i) => n === list[i]!.name)) {
      throw new Error(
        `Database schema is newer than this version of Switchboard (applied "${applied.at(-1)}", this version knows up to "${list.at(-1)?.name ?? '(none)'}"). Upgrade Switchboard.`,
      );
    }
    for (let i = 0; i < applied.length; i++) {
      if (list[i]?.name !== applied[i]) {
        throw new Error(
          `Database schema history does not match this version: applied migration #${i + 1} is "${applied[i]}", expected "${list[i]?.name ?? '(none)'}". Use the Switchboard version that created this database.`,
        );
      }
    }
    const pending = list.slice(applied.length);
    const insert = db.prepare('INSERT INTO schema_migrations (seq, name, applied_at) VALUES (?, ?, ?)');
    for (const [i, m] of pending.entries()) {
      db.exec(m.sql);
      insert.run(applied.length + i + 1, m.name, Date.now());
    }
    return pending.map((m) => m.name);
  });
  return run.immediate();
}
