/**
 * The SQLite store: the shared contract suite on a temp file per test, plus what only an embedded file store has to
 * prove: the schema history, durability across close/reopen, and surviving SIGKILL of the writing process.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { contractMessage, describeStoreContract } from '../contract/store-contract.ts';
import type { ClaimRequest, Store } from '../store.ts';
import { senderKey } from '../../dispatch/rate-limit.ts';
import { MIGRATIONS, migrate } from './migrations.ts';
import { createSqliteStore } from './sqlite-store.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describeStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-contract-'));
  return { store: createSqliteStore({ path: join(dir, 'contract.db') }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('sqlite store: file, pragmas, migrations', () => {
  it('creates the parent directory and opens in WAL with foreign keys and busy timeout', async () => {
    const path = join(tempDir(), 'nested', 'deeper', 'sb.db');
    const store = createSqliteStore({ path, busyTimeoutMs: 1234 });
    await store.migrate();
    await store.close();
    expect(existsSync(path)).toBe(true);
    expect(store.capabilities).toEqual({ name: 'sqlite', multiInstance: false });
    const db = new BetterSqlite3(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('migrate() creates every table', async () => {
    const path = join(tempDir(), 'sb.db');
    const store = createSqliteStore({ path, busyTimeoutMs: 1234 });
    await store.migrate();
    const db = new BetterSqlite3(path);
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
    expect(tables).toEqual(expect.arrayContaining(['api_keys', 'messages', 'message_events', 'sender_pacing', 'webhooks', 'inbound_messages', 'meta', 'schema_migrations']));
    db.close();
    await store.close();
  });

  it('events reference messages (foreign keys are on)', async () => {
    const store = createSqliteStore({ path: join(tempDir(), 'fk.db') });
    await store.migrate();
    await expect(store.appendEvent({ messageId: 'msg_missing', type: 'status', status: null, at: 1, detail: null })).rejects.toThrow(/FOREIGN KEY/);
    await store.close();
  });

  it('appends new migrations and refuses a history it does not know', () => {
    const db = new BetterSqlite3(':memory:');
    expect(migrate(db)).toEqual(MIGRATIONS.map((m) => m.name));
    const extra = [...MIGRATIONS, { name: '9999_extra', sql: 'CREATE TABLE extra (x INTEGER) STRICT;' }];
    expect(migrate(db, extra)).toEqual(['9999_extra']);
    expect(migrate(db, extra)).toEqual([]);
    // A database migrated by a newer version is refused by an older one (it could not know the new columns' rules).
    expect(() => migrate(db, MIGRATIONS)).toThrow(/newer than this version/);
    const renamed = [{ name: '0001_other', sql: '' }];
    expect(() => migrate(db, renamed)).toThrow(/does not match/);
    db.close();
  });

  it('a failing migration leaves nothing applied', () => {
    const db = new BetterSqlite3(':memory:');
    const bad = [...MIGRATIONS, { name: '0002_broken', sql: 'CREATE TABLE ok_table (x INTEGER); THIS IS NOT SQL;' }];
    expect(() => migrate(db, bad)).toThrow();
    expect(db.prepare(`SELECT COUNT(*) AS n FROM sqlite_master WHERE name IN ('messages', 'ok_table')`).get()).toEqual({ n: 0 });
    expect(migrate(db)).toEqual(MIGRATIONS.map((m) => m.name));
    db.close();
  });

  it('a store method before migrate() fails clearly instead of silently', async () => {
    const store = createSqliteStore({ path: join(tempDir(), 'raw.db') });
    await expect(store.getMessage('x')).rejects.toThrow(/no such table/);
    await store.close();
    await expect(store.getMessage('x')).rejects.toThrow(/closed/);
    await store.close(); // idempotent
  });
});

describe('sqlite store: durability', () => {
  it('everything written is there after close and reopen of the file', async () => {
    const path = join(tempDir(), 'durable.db');
    const a: Store = createSqliteStore({ path });
    await a.migrate();
    const msgs = Array.from({ length: 50 }, (_, i) => contractMessage({ now: 1_000_000 + i, keyId: 'k', idempotencyKey: `i${i}` }));
    await a.insertMessages(msgs.map((message) => ({ message, events: [{ messageId: message.id, type: 'accepted', status: 'queued', at: message.createdAt, detail: null }] })));
    await a.setMeta('devKeyCreated', '1');
    await a.recordWebhook({ provider: 'twilio', kind: 'status', dedupeKey: 'd1', receivedAt: 1, url: 'u', headers: {}, rawBody: 'b', signatureValid: true });
    await a.close();

    const b = createSqliteStore({ path });
    expect(await b.migrate()).toEqual([]);
    expect(await b.getMessage(msgs[17]!.id)).toEqual(msgs[17]);
    expect((await b.countByStatus()).queued).toBe(50);
    expect(await b.listEvents(msgs[3]!.id)).toHaveLength(1);
    expect(await b.getMeta('devKeyCreated')).toBe('1');
    expect((await b.recordWebhook({ provider: 'twilio', kind: 'status', dedupeKey: 'd1', receivedAt: 2, url: 'u', headers: {}, rawBody: 'b', signatureValid: true })).duplicate).toBe(true);
    await b.close();
  });

  it('acknowledged inserts survive SIGKILL of the writing process', { timeout: 60_000 }, async () => {
    const path = join(tempDir(), 'killed.db');
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./kill-child.ts', import.meta.url)), path], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: string[] = [];
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let buf = '';
    const enough = new Promise<void>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${stderr}`)));
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const msg = JSON.parse(line) as { acked?: string[] };
          if (msg.acked) acked.push(...msg.acked);
          // Kill while the child keeps writing: after several acknowledged batches.
          if (acked.length >= 2_000) resolve();
        }
      });
    });
    await enough;
    child.removeAllListeners('exit');
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');

    const store = createSqliteStore({ path });
    expect(await store.migrate()).toEqual([]);
    const missing: string[] = [];
    for (const id of acked) if (!(await store.getMessage(id))) missing.push(id);
    expect(missing).toEqual([]);
    const counts = await store.countByStatus();
    expect(counts.queued).toBeGreaterThanOrEqual(acked.length);
    await store.close();
  });
});

describe('sqlite store: rate windows across a restart (kept in the process, summarised on disk)', () => {
  const T0 = 1_700_000_000_000;
  const W = 1_050;
  const S = '+1RESTART';
  const rates = new Map([[senderKey('acct', S), 1]]);
  const req = (now: number, owner = 'd1', over: Partial<ClaimRequest> = {}): ClaimRequest => ({
    now,
    owner,
    leaseMs: 5_000,
    max: 10,
    windowMs: W,
    rates,
    defaultMps: 1,
    ...over,
  });
  async function seeded(path: string): Promise<Store> {
    const store = createSqliteStore({ path });
    await store.migrate();
    const msgs = Array.from({ length: 3 }, (_, i) => contractMessage({ now: T0 - 10 + i, account: 'acct', from: S }));
    await store.insertMessages(msgs.map((message) => ({ message, events: [] })));
    return store;
  }

  it('after a crash (no close), a booking that may still be on the wire counts until its lease expiry', async () => {
    const path = join(tempDir(), 'crash.db');
    const first = await seeded(path);
    expect((await first.claimDue(req(T0))).claimed).toHaveLength(1);
    // A second process opens the file while the first one's request is unanswered (the first one is never closed:
    // its in-memory windows are as good as lost).
    const second = createSqliteStore({ path });
    expect(await second.migrate()).toEqual([]);
    const during = await second.claimDue(req(T0 + W + 10, 'd2'));
    expect(during.claimed).toEqual([]);
    expect(during.wakeAt).toBe(T0 + W + 10 + W); // it may arrive any moment: re-planned a window on
    expect((await second.claimDue(req(T0 + 5_000 + W - 1, 'd2'))).claimed).toEqual([]);
    expect((await second.claimDue(req(T0 + 5_000 + W, 'd2'))).claimed).toHaveLength(1);
    await second.close();
    await first.close();
  });

  it('after a clean close, the settled bookings hold for one window, then the next process sends at once', async () => {
    const path = join(tempDir(), 'close.db');
    const first = await seeded(path);
    const [m] = (await first.claimDue(req(T0))).claimed;
    const answeredAt = T0 + 300;
    expect(
      await first.transition({
        id: m!.id,
        from: ['sending'],
        submitStates: ['in_flight'],
        leaseOwner: 'd1',
        patch: { submitState: 'accepted', providerMessageId: 'SM1', submittedAt: answeredAt, leaseOwner: null, leaseExpiresAt: null },
        now: answeredAt,
        settleBookingAt: answeredAt,
      }),
    ).not.toBeNull();
    await first.close();
    const second = createSqliteStore({ path });
    await second.migrate();
    const early = await second.claimDue(req(answeredAt + W - 1, 'd2'));
    expect(early.claimed).toEqual([]);
    expect(early.wakeAt).toBe(answeredAt + W);
    expect((await second.claimDue(req(answeredAt + W, 'd2'))).claimed).toHaveLength(1);
    await second.close();
  });

  it('a fresh file, or a sender idle for a window, has no restart delay', async () => {
    const path = join(tempDir(), 'fresh.db');
    const first = await seeded(path);
    expect((await first.claimDue(req(T0))).claimed).toHaveLength(1);
    await first.close();
    const second = createSqliteStore({ path });
    await second.migrate();
    // The booking's lease (5 s) and one window have passed: nothing is left to wait for.
    expect((await second.claimDue(req(T0 + 5_000 + W, 'd2'))).claimed).toHaveLength(1);
    await second.close();
  });
});
