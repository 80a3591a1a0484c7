/**
 * Test helpers for the PostgreSQL store: every test gets its own schema `sb_test_<random>` in the test database
 * (`SWITCHBOARD_TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/test), dropped in cleanup.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Store } from '../store.ts';
import { quoteIdent } from './migrations.ts';
import { createPostgresStore, type PostgresStoreOptions } from './postgres-store.ts';

export const TEST_DATABASE_URL = process.env.SWITCHBOARD_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** Small pools: many test files share one server (and its max_connections). */
const TEST_POOL = { max: 4, idleTimeoutMs: 1_000 };

/** Where the test database is, without the password (for messages). */
export function describeTestDatabase(url = TEST_DATABASE_URL): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'the configured database';
  }
}

/** Can we open a connection and run a query? Never throws. */
export async function checkPostgres(url = TEST_DATABASE_URL, timeoutMs = 3_000): Promise<{ ok: true } | { ok: false; reason: string }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message || err.name : String(err) };
  } finally {
    await client.end().catch(() => {});
  }
}

export interface TestSchema {
  schema: string;
  connectionString: string;
  /** A store on this schema (not migrated); each call is a separate pool, as a separate instance would have. */
  store(over?: Partial<PostgresStoreOptions>): Store;
  /** DROP SCHEMA … CASCADE. */
  drop(): Promise<void>;
}

async function run(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh, empty schema `sb_test_<random>`. */
export async function createTestSchema(url = TEST_DATABASE_URL): Promise<TestSchema> {
  const schema = `sb_test_${randomBytes(6).toString('hex')}`;
  await run(url, `CREATE SCHEMA ${quoteIdent(schema)}`);
  return {
    schema,
    connectionString: url,
    store: (over = {}) => createPostgresStore({ connectionString: url, schema, pool: TEST_POOL, ...over }),
    drop: () => run(url, `DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`),
  };
}

/** Factory for the store contract: a store on a fresh, not yet migrated schema; cleanup drops the schema. */
export async function pgTestFactory(): Promise<{ store: Store; cleanup: () => Promise<void> }> {
  const t = await createTestSchema();
  const store = t.store();
  return {
    store,
    cleanup: async () => {
      await store.close();
      await t.drop();
    },
  };
}
