/**
 * Claim cost against queue depth: `claimDue` for `--claim` messages (default 100) with 1k, 100k and 1M promotional
 * messages queued over `--senders` senders (default 10), on SQLite and PostgreSQL. The queue is bulk-loaded with one
 * INSERT … SELECT (recursive CTE / generate_series); each measured round claims, then the claimed rows are put back
 * (outside the timing) so the depth stays what it says. Rates are high enough that no sender is rate-blocked, and the
 * clock moves one window per round so the windows stay small (what a steady drain looks like).
 *
 *   npm run bench:claim                                   # both engines, 1k / 100k / 1M
 *   npm run bench:claim -- --store sqlite --depths 1000,100000 --rounds 20
 *
 * Figures per engine and depth: median and p99 of one `claimDue` (ms, awaited: includes the commit), the same for a
 * dispatcher round's store calls (expireDue + claimStale + claimDue), and the longest event-loop block seen while
 * they ran (ms, monitorEventLoopDelay).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { senderKey } from '../src/dispatch/rate-limit.ts';
import { createSqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { createTestSchema, TEST_DATABASE_URL } from '../src/store/postgres/test-db.ts';
import type { Store } from '../src/store/store.ts';
import { queuedRowsSql, type BulkQueueOptions } from './lib/bulk-queue.ts';
import { machineLine } from './lib/harness.ts';
import { percentile, printFigure, printHeader } from './lib/measure.ts';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
function intFlag(name: string, fallback: number): number {
  const v = flag(name, String(fallback));
  if (!/^\d+$/.test(v)) throw new Error(`--${name} must be an integer, got "${v}"`);
  return Number(v);
}

const stores = flag('store', 'sqlite,postgres').split(',').filter(Boolean);
const depths = flag('depths', '1000,100000,1000000')
  .split(',')
  .map((d) => {
    if (!/^\d+$/.test(d)) throw new Error(`--depths must be integers, got "${d}"`);
    return Number(d);
  });
const claim = intFlag('claim', 100);
const rounds = intFlag('rounds', 30);
const senders = intFlag('senders', 10);
for (const s of stores) if (s !== 'sqlite' && s !== 'postgres') throw new Error(`--store must be sqlite or postgres, got "${s}"`);

const T0 = 1_800_000_000_000;
const W = 1_050;
const ACCOUNT = 'bench';
const from = (i: number) => `+1500555${String(i).padStart(4, '0')}`;
const bulk = (n: number): BulkQueueOptions => ({ n, account: ACCOUNT, senders: Array.from({ length: senders }, (_, i) => from(i)), now: T0, category: 'promotional' });
const rates = new Map(Array.from({ length: senders }, (_, i) => [senderKey(ACCOUNT, from(i)), 1_000_000]));

interface Engine {
  store: Store;
  requeue(): Promise<void>;
  done(): Promise<void>;
}

async function sqliteEngine(n: number): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-claim-'));
  const path = join(dir, 'claim.db');
  const store = createSqliteStore({ path });
  await store.migrate();
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.prepare(queuedRowsSql('sqlite', 'messages', bulk(n))).run();
  db.exec('ANALYZE');
  const requeue = db.prepare(`UPDATE messages SET status = 'queued', submit_state = 'none', lease_owner = NULL, lease_expires_at = NULL WHERE status = 'sending'`);
  return {
    store,
    requeue: async () => void requeue.run(),
    done: async () => {
      db.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresEngine(n: number): Promise<Engine> {
  const t = await createTestSchema(TEST_DATABASE_URL);
  const store = t.store();
  await store.migrate();
  const client = new pg.Client({ connectionString: t.connectionString });
  await client.connect();
  const s = `"${t.schema}"`;
  await client.query(queuedRowsSql('postgres', `${s}.messages`, bulk(n)));
  await client.query(`ANALYZE ${s}.messages`);
  return {
    store,
    requeue: async () =>
      void (await client.query(`UPDATE ${s}.messages SET status = 'queued', submit_state = 'none', lease_owner = NULL, lease_expires_at = NULL WHERE status = 'sending'`)),
    done: async () => {
      await client.end();
      await store.close();
      await t.drop();
    },
  };
}

async function measure(engineName: string, n: number): Promise<void> {
  const loadStart = performance.now();
  const e = engineName === 'sqlite' ? await sqliteEngine(n) : await postgresEngine(n);
  const loadMs = performance.now() - loadStart;
  const claimMs: number[] = [];
  const roundMs: number[] = [];
  let claimed = 0;
  const h = monitorEventLoopDelay({ resolution: 1 });
  try {
    for (let r = 0; r < rounds + 2; r++) {
      const now = T0 + r * (W + 2);
      const base = { now, owner: 'bench', leaseMs: 1 };
      if (r === 2) h.enable(); // two warm-up rounds (statement preparation, caches)
      const t0 = performance.now();
      const [, , res] = await Promise.all([
        e.store.expireDue(now, 500),
        e.store.claimStale({ ...base, max: claim }),
        (async () => {
          const c0 = performance.now();
          const out = await e.store.claimDue({ ...base, max: claim, windowMs: W, rates, defaultMps: 1 });
          if (r >= 2) claimMs.push(performance.now() - c0);
          return out;
        })(),
      ]);
      if (r >= 2) {
        roundMs.push(performance.now() - t0);
        claimed += res.claimed.length;
      }
      h.disable();
      await e.requeue();
      h.enable();
    }
  } finally {
    h.disable();
    await e.done();
  }
  if (claimed !== rounds * Math.min(claim, n)) throw new Error(`${engineName} ${n}: claimed ${claimed}, expected ${rounds * Math.min(claim, n)}`);
  const sortedClaim = [...claimMs].sort((a, b) => a - b);
  const sortedRound = [...roundMs].sort((a, b) => a - b);
  const p = `claim_${engineName}_${n}`;
  printFigure(`${p}_load_s`, loadMs / 1000, 's');
  printFigure(`${p}_claimed`, claimed, 'msg');
  printFigure(`${p}_p50`, percentile(sortedClaim, 50), 'ms');
  printFigure(`${p}_p99`, percentile(sortedClaim, 99), 'ms');
  printFigure(`${p}_round_p50`, percentile(sortedRound, 50), 'ms');
  printFigure(`${p}_round_p99`, percentile(sortedRound, 99), 'ms');
  printFigure(`${p}_max_loop_block`, h.max / 1e6, 'ms');
}

printHeader([
  machineLine(),
  `claim-depth: claiming ${claim} over ${senders} senders, ${rounds} rounds per depth, depths ${depths.join(', ')}, stores ${stores.join(', ')}`,
]);
for (const s of stores) for (const n of depths) await measure(s, n);
