/**
 * Versioned migrations of the PostgreSQL store. Append only: a migration, once released, is never edited;
 * a change is a new entry. Every statement is written against the placeholder schema `"__SCHEMA__"`, replaced
 * with the store's (quoted) schema name when applied, so one database can hold several isolated stores
 * (one per test run, or one per tenant).
 *
 * Types: times are BIGINT epoch milliseconds (as in SQLite), ids TEXT, metadata/detail/headers JSONB.
 */

export interface PostgresMigration {
  /** Sortable, unique: `NNNN_description`. */
  readonly name: string;
  /** SQL with `__SCHEMA__` where the schema goes (already quoted). Runs inside one transaction. */
  readonly sql: string;
}

export const SCHEMA_PLACEHOLDER = '__SCHEMA__';

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    name: '0001_initial',
    sql: `
CREATE TABLE __SCHEMA__.api_keys (
  id          TEXT COLLATE "C" PRIMARY KEY,
  name        TEXT NOT NULL,
  hash        TEXT NOT NULL UNIQUE,
  prefix      TEXT NOT NULL,
  scopes      JSONB NOT NULL,
  account     TEXT,
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT
);
CREATE INDEX api_keys_name_idx ON __SCHEMA__.api_keys (name);

CREATE TABLE __SCHEMA__.messages (
  -- COLLATE "C": ids order by code point (as in JS and SQLite), whatever the database's collation
  id                  TEXT COLLATE "C" PRIMARY KEY,
  -- insertion order: FIFO among equal priority and createdAt (ids made in the same millisecond sort randomly)
  seq                 BIGINT GENERATED ALWAYS AS IDENTITY,
  key_id              TEXT,
  account             TEXT NOT NULL,
  provider            TEXT NOT NULL,
  to_number           TEXT NOT NULL,
  from_number         TEXT NOT NULL,
  sender_key          TEXT GENERATED ALWAYS AS (account || ':' || from_number) STORED,
  body                TEXT NOT NULL,
  segments            INTEGER NOT NULL,
  encoding            TEXT NOT NULL,
  category            TEXT NOT NULL,
  priority            INTEGER NOT NULL,
  status              TEXT NOT NULL,
  submit_state        TEXT NOT NULL,
  metadata            JSONB,
  idempotency_key     TEXT,
  request_hash        TEXT,
  provider_message_id TEXT,
  provider_status     TEXT,
  error_code          TEXT,
  error_message       TEXT,
  attempts            INTEGER NOT NULL,
  next_attempt_at     BIGINT NOT NULL,
  expires_at          BIGINT NOT NULL,
  lease_owner         TEXT,
  lease_expires_at    BIGINT,
  created_at          BIGINT NOT NULL,
  updated_at          BIGINT NOT NULL,
  submitted_at        BIGINT,
  completed_at        BIGINT,
  CONSTRAINT messages_idempotency_uq UNIQUE (key_id, idempotency_key)
);
-- listing, newest first, and its filters
CREATE INDEX messages_created_idx ON __SCHEMA__.messages (created_at DESC, id DESC);
CREATE INDEX messages_to_idx ON __SCHEMA__.messages (to_number, created_at DESC, id DESC);
CREATE INDEX messages_status_idx ON __SCHEMA__.messages (status, created_at DESC, id DESC);
CREATE INDEX messages_key_idx ON __SCHEMA__.messages (key_id, created_at DESC, id DESC);
CREATE INDEX messages_provider_id_idx ON __SCHEMA__.messages (provider, provider_message_id)
  WHERE provider_message_id IS NOT NULL;
-- dispatch: the queue per sender in claim order, due times, expiry, in-flight work
CREATE INDEX messages_queue_idx ON __SCHEMA__.messages (sender_key, priority DESC, created_at, seq)
  WHERE status = 'queued';
CREATE INDEX messages_queue_due_idx ON __SCHEMA__.messages (next_attempt_at) WHERE status = 'queued';
CREATE INDEX messages_queue_expiry_idx ON __SCHEMA__.messages (expires_at) WHERE status = 'queued';
CREATE INDEX messages_sending_idx ON __SCHEMA__.messages (created_at, id) WHERE status = 'sending';
CREATE INDEX messages_lease_owner_idx ON __SCHEMA__.messages (lease_owner) WHERE lease_owner IS NOT NULL;
-- operator statistics: recent submissions per sender, submits still waiting for a final status
CREATE INDEX messages_submitted_idx ON __SCHEMA__.messages (submitted_at) WHERE submitted_at IS NOT NULL;
CREATE INDEX messages_awaiting_idx ON __SCHEMA__.messages (submitted_at, id)
  WHERE submit_state = 'accepted' AND status IN ('sending', 'sent');

CREATE TABLE __SCHEMA__.message_events (
  id          BIGSERIAL PRIMARY KEY,
  message_id  TEXT COLLATE "C" NOT NULL,
  type        TEXT NOT NULL,
  status      TEXT,
  at          BIGINT NOT NULL,
  detail      JSONB
);
CREATE INDEX message_events_message_idx ON __SCHEMA__.message_events (message_id, id);

-- One row per sender: claimDue locks it (FOR UPDATE SKIP LOCKED) while it books that sender's usage, which makes
-- the sliding-window check global across every instance sharing this database.
CREATE TABLE __SCHEMA__.rate_senders (
  sender_key  TEXT PRIMARY KEY
);
-- Booked usage (dispatch/rate-limit.ts entries); rows older than one window are pruned by the claim that books.
CREATE TABLE __SCHEMA__.rate_usage (
  sender_key  TEXT NOT NULL,
  at          BIGINT NOT NULL,
  -- DOUBLE PRECISION: a sender rate below 1 MPS books fractional chunks (see rate-limit.ts chunksAt)
  segments    DOUBLE PRECISION NOT NULL,
  message_id  TEXT COLLATE "C"
);
CREATE INDEX rate_usage_sender_idx ON __SCHEMA__.rate_usage (sender_key, at);

-- Every webhook is kept raw, duplicates included; webhook_dedupe decides "seen before" with its primary key.
CREATE TABLE __SCHEMA__.webhooks (
  id               BIGSERIAL PRIMARY KEY,
  provider         TEXT NOT NULL,
  kind             TEXT NOT NULL,
  dedupe_key       TEXT NOT NULL,
  received_at      BIGINT NOT NULL,
  url              TEXT NOT NULL,
  headers          JSONB NOT NULL,
  raw_body         TEXT NOT NULL,
  signature_valid  BOOLEAN NOT NULL,
  duplicate        BOOLEAN NOT NULL
);
CREATE INDEX webhooks_dedupe_idx ON __SCHEMA__.webhooks (dedupe_key);
CREATE INDEX webhooks_received_idx ON __SCHEMA__.webhooks (received_at);
CREATE TABLE __SCHEMA__.webhook_dedupe (
  dedupe_key  TEXT PRIMARY KEY,
  webhook_id  BIGINT NOT NULL
);

CREATE TABLE __SCHEMA__.inbound_messages (
  id                   TEXT COLLATE "C" PRIMARY KEY,
  provider             TEXT NOT NULL,
  account              TEXT NOT NULL,
  provider_message_id  TEXT NOT NULL,
  from_number          TEXT NOT NULL,
  to_number            TEXT NOT NULL,
  body                 TEXT NOT NULL,
  num_media            INTEGER NOT NULL,
  media_urls           JSONB NOT NULL,
  provider_keyword     TEXT,
  received_at          BIGINT NOT NULL,
  CONSTRAINT inbound_provider_id_uq UNIQUE (provider, provider_message_id)
);
CREATE INDEX inbound_received_idx ON __SCHEMA__.inbound_messages (received_at DESC, id DESC);
CREATE INDEX inbound_from_idx ON __SCHEMA__.inbound_messages (from_number, received_at DESC, id DESC);
CREATE INDEX inbound_to_idx ON __SCHEMA__.inbound_messages (to_number, received_at DESC, id DESC);

CREATE TABLE __SCHEMA__.meta (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
`,
  },
  {
    name: '0002_compliance',
    sql: `
-- current consent per (contact, program); derived from consent_events, written in the same transaction
CREATE TABLE __SCHEMA__.consent_state (
  contact     TEXT COLLATE "C" NOT NULL,
  program     TEXT COLLATE "C" NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('opted_in', 'opted_out', 'unknown')),
  since       BIGINT NOT NULL,
  source      TEXT,
  event_id    TEXT,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (contact, program)
);
CREATE INDEX consent_state_program_idx ON __SCHEMA__.consent_state (program, state, contact);
-- append-only history: never updated or deleted by the application (retention keeps it: it is the evidence)
CREATE TABLE __SCHEMA__.consent_events (
  seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id           TEXT NOT NULL UNIQUE,
  contact      TEXT NOT NULL,
  program      TEXT NOT NULL,
  state        TEXT NOT NULL,
  source       TEXT NOT NULL,
  at           BIGINT NOT NULL,
  recorded_at  BIGINT NOT NULL,
  evidence     JSONB NOT NULL
);
CREATE INDEX consent_events_contact_idx ON __SCHEMA__.consent_events (contact, program, seq);
-- the opt-out sweep: queued messages to one contact
CREATE INDEX messages_queued_to_idx ON __SCHEMA__.messages (to_number) WHERE status = 'queued';

CREATE TABLE __SCHEMA__.subscriptions (
  id               TEXT COLLATE "C" PRIMARY KEY,
  key_id           TEXT NOT NULL,
  app              TEXT NOT NULL,
  url              TEXT NOT NULL,
  events           JSONB NOT NULL,   -- array of event types
  secrets          JSONB NOT NULL,   -- array, newest first
  status           TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
  disabled_reason  TEXT,
  created_at       BIGINT NOT NULL,
  deleted_at       BIGINT
);
CREATE INDEX subscriptions_key_idx ON __SCHEMA__.subscriptions (key_id, created_at);

-- one row per event per subscription: the outbox (payload TEXT: the exact bytes that are signed and POSTed)
CREATE TABLE __SCHEMA__.event_outbox (
  seq               BIGINT GENERATED ALWAYS AS IDENTITY,
  id                TEXT PRIMARY KEY,
  event_id          TEXT NOT NULL,
  subscription_id   TEXT NOT NULL,
  type              TEXT NOT NULL,
  payload           TEXT NOT NULL,
  status            TEXT NOT NULL CHECK (status IN ('pending', 'delivering', 'delivered', 'failed')),
  attempts          INTEGER NOT NULL DEFAULT 0,
  first_attempt_at  BIGINT,
  next_attempt_at   BIGINT NOT NULL,
  lease_owner       TEXT,
  lease_expires_at  BIGINT,
  created_at        BIGINT NOT NULL,
  completed_at      BIGINT
);
CREATE INDEX event_outbox_pending_idx ON __SCHEMA__.event_outbox (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX event_outbox_delivering_idx ON __SCHEMA__.event_outbox (lease_expires_at) WHERE status = 'delivering';
CREATE INDEX event_outbox_sub_idx ON __SCHEMA__.event_outbox (subscription_id, status);

-- the delivery log: one row per HTTP attempt
CREATE TABLE __SCHEMA__.deliveries (
  seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  outbox_id        TEXT NOT NULL,
  subscription_id  TEXT NOT NULL,
  attempt          INTEGER NOT NULL,
  started_at       BIGINT NOT NULL,
  duration_ms      INTEGER,
  http_status      INTEGER,
  error            TEXT,
  outcome          TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'gone', 'gave_up'))
);
CREATE INDEX deliveries_sub_idx ON __SCHEMA__.deliveries (subscription_id, seq DESC);
`,
  },
  {
    // Issue 4: conversations (one thread per contact and sender); thread reads come from messages + inbound_messages.
    name: '0003_conversations',
    sql: `
CREATE TABLE __SCHEMA__.conversations (
  id               TEXT COLLATE "C" PRIMARY KEY,
  contact          TEXT NOT NULL,
  sender_key       TEXT NOT NULL,
  account          TEXT NOT NULL,
  from_number      TEXT NOT NULL,
  program          TEXT NOT NULL,
  owner_app        TEXT,
  last_message_at  BIGINT NOT NULL,
  last_direction   TEXT NOT NULL CHECK (last_direction IN ('in', 'out')),
  created_at       BIGINT NOT NULL,
  CONSTRAINT conversations_thread_uq UNIQUE (contact, sender_key)
);
CREATE INDEX conversations_recent_idx ON __SCHEMA__.conversations (last_message_at DESC, id DESC);
CREATE INDEX conversations_contact_idx ON __SCHEMA__.conversations (contact, last_message_at DESC);
CREATE INDEX conversations_owner_idx ON __SCHEMA__.conversations (owner_app, last_message_at DESC);
CREATE INDEX inbound_thread_idx ON __SCHEMA__.inbound_messages (from_number, to_number, received_at DESC, id DESC);
-- retention: finished messages by age; named leases (the nightly job runs on one instance)
CREATE INDEX messages_completed_idx ON __SCHEMA__.messages (created_at) WHERE completed_at IS NOT NULL;
CREATE TABLE __SCHEMA__.leases (
  name        TEXT PRIMARY KEY,
  owner       TEXT NOT NULL,
  expires_at  BIGINT NOT NULL
);
`,
  },
  {
    // Issue 5: strict pacing at the carrier (rate bookings stay open while their request is on the wire, then move to
    // the response time). docs/reference/dispatch.md "Pacing at the carrier".
    name: '0004_dispatch_pacing',
    sql: `
-- set while the booking's request is on the wire (claimed, no response recorded): the claim's lease expiry
ALTER TABLE __SCHEMA__.rate_usage ADD COLUMN open_until BIGINT;
CREATE INDEX rate_usage_open_idx ON __SCHEMA__.rate_usage (message_id) WHERE open_until IS NOT NULL;
`,
  },
  {
    // Issue 4: resumable inbound handling. An inbound message is marked handled in the transaction that writes its
    // last app event; rows left unhandled by a crash are handled again (webhook retry or the recovery sweep). Rows
    // stored before this migration count as handled. Ledger rows are found by the inbound message they record.
    name: '0005_inbound_handling',
    sql: `
ALTER TABLE __SCHEMA__.inbound_messages ADD COLUMN handled_at BIGINT;
UPDATE __SCHEMA__.inbound_messages SET handled_at = received_at;
CREATE INDEX inbound_unhandled_idx ON __SCHEMA__.inbound_messages (received_at, id) WHERE handled_at IS NULL;
CREATE INDEX consent_events_inbound_idx ON __SCHEMA__.consent_events ((evidence->>'inboundMessageId'))
  WHERE source IN ('inbound_keyword', 'provider');
`,
  },
];

/** Double-quote an identifier for SQL (`my"schema` → `"my""schema"`). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The migration's SQL for one schema. */
export function migrationSql(m: PostgresMigration, schema: string): string {
  return m.sql.split(SCHEMA_PLACEHOLDER).join(quoteIdent(schema));
}
