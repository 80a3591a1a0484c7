/**
 * Draining a deep backlog: `--depth` promotional messages (default 1M) queued over `--senders` senders (default 10),
 * bulk-loaded before Switchboard starts, then dispatched through the sandbox carrier over HTTP at a high per-sender
 * MPS. The same is run with `--base` queued (default 1k). Reported: delivered messages/s over the measured
 * window (`--seconds` from the first delivery, or until the queue is empty) for both depths and their ratio,
 * and /healthz latency (p99, max) sampled every 20 ms meanwhile — what the event loop's longest blocks look like
 * from outside.
 *
 *   npm run bench:drain                                   # 1M vs 1k, SQLite
 *   npm run bench:drain -- --depth 100000 --seconds 10 --store postgres
 */
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { Pool } from 'undici';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../src/config/schema.ts';
import { createSqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { createPostgresStore } from '../src/store/postgres/postgres-store.ts';
import { createBenchStore, machineLine, parseStoreKind, startSandbox, startSwitchboard, stopAll, type BenchStore, type SandboxChild, type SwitchboardChild } from './lib/harness.ts';
import { percentile, printFigure, printHeader } from './lib/measure.ts';
import { queuedRowsSql } from './lib/bulk-queue.ts';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    depth: { type: 'string', default: '1000000' },
    base: { type: 'string', default: '1000' },
    senders: { type: 'string', default: '10' },
    mps: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '20' },
  },
});

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}; got ${v}`);
  return n;
}

const kind = parseStoreKind(values.store);
const depth = int('depth', values.depth, 1);
const base = int('base', values.base, 1);
const senderCount = int('senders', values.senders, 1);
const mps = int('mps', values.mps, 1);
const seconds = int('seconds', values.seconds, 1);
const ACCOUNT = 'bench';
const senders = Array.from({ length: senderCount }, (_, i) => String(50100 + i));

/** Migrate the bench store and queue `n` messages in it with one INSERT … SELECT. */
async function load(store: BenchStore, n: number, now: number): Promise<void> {
  const opts = { n, account: ACCOUNT, senders, now, category: 'promotional' as const };
  if (store.kind === 'sqlite') {
    const path = store.databaseUrl.slice('sqlite:'.length);
    const s = createSqliteStore({ path });
    await s.migrate();
    await s.close();
    const db = new BetterSqlite3(path);
    db.prepare(queuedRowsSql('sqlite', 'messages', opts)).run();
    db.exec('ANALYZE');
    db.close();
    return;
  }
  const url = new URL(store.databaseUrl);
  const schema = url.searchParams.get('schema')!;
  url.searchParams.delete('schema');
  const s = createPostgresStore({ connectionString: url.toString(), schema });
  await s.migrate();
  await s.close();
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(queuedRowsSql('postgres', `"${schema}".messages`, opts));
    await client.query(`ANALYZE "${schema}".messages`);
  } finally {
    await client.end();
  }
}

async function deliveredCounter(store: BenchStore): Promise<{ count: () => Promise<number>; close: () => Promise<void> }> {
  if (store.kind === 'sqlite') {
    const db = new BetterSqlite3(store.databaseUrl.slice('sqlite:'.length), { readonly: true });
    const st = db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE status = 'delivered'`);
    return { count: async () => (st.get() as { n: number }).n, close: async () => void db.close() };
  }
  const url = new URL(store.databaseUrl);
  const schema = url.searchParams.get('schema')!;
  url.searchParams.delete('schema');
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return {
    count: async () => Number((await client.query(`SELECT count(*) AS n FROM "${schema}".messages WHERE status = 'delivered'`)).rows[0].n),
    close: () => client.end(),
  };
}

interface DrainResult {
  deliveredPerS: number;
  healthP99: number;
  healthMax: number;
  measuredS: number;
}

async function drain(n: number): Promise<DrainResult> {
  const store = await createBenchStore(kind);
  let sandbox: SandboxChild | undefined;
  let sb: SwitchboardChild | undefined;
  let pool: Pool | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    await load(store, n, Date.now());
    sandbox = await startSandbox({ latency: { sendingMs: 0, sentMs: 1, deliveredMs: 2 }, mps: 1_000_000 });
    sb = await startSwitchboard({
      databaseUrl: store.databaseUrl,
      logLevel: 'error',
      sandbox: { enabled: false },
      accounts: [
        {
          name: ACCOUNT,
          provider: 'twilio',
          baseUrl: sandbox.ready.url,
          accountSid: SANDBOX_ACCOUNT_SID,
          authToken: SANDBOX_AUTH_TOKEN,
          apiKeySid: null,
          apiKeySecret: null,
          senders: senders.map((from) => ({ from, type: 'short_code', mps })),
        },
      ],
      routing: { defaultAccount: ACCOUNT, byKey: {} },
      dispatch: { enabled: true },
    });
    pool = new Pool(sb.ready.url, { connections: 1, pipelining: 1 });
    const health: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const t0 = performance.now();
        const res = await pool!.request({ method: 'GET', path: '/healthz' });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`/healthz → ${res.statusCode}`);
        health.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    // Counted from this process (an index range of the delivered rows), not by the Switchboard process: a full
    // count by status there would scan 1M rows and block the event loop being measured.
    const counter = await deliveredCounter(store);
    closers.push(counter.close);
    const delivered = counter.count;
    // From the first delivery (the first rounds, connections) for `seconds`, or until the queue is empty.
    const tStart = performance.now();
    let first: { t: number; d: number } | null = null;
    let last = { t: tStart, d: 0 };
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      last = { t: performance.now(), d: await delivered() };
      if (last.t - tStart > 600_000) throw new Error(`no progress: ${last.d} of ${n} delivered after 600 s`);
      if (!first) {
        if (last.d > 0) first = last;
        if (last.d < n) continue;
      }
      if (last.d >= n || last.t - first!.t >= seconds * 1000) break;
    }
    const span = last.t - first!.t;
    // A backlog that drained between two samples: count it from the start instead.
    const rate = span > 0 ? ((last.d - first!.d) * 1000) / span : (last.d * 1000) / (last.t - tStart);
    sampling = false;
    await sampler;
    const sorted = [...health].sort((a, b) => a - b);
    return { deliveredPerS: rate, healthP99: percentile(sorted, 99), healthMax: sorted.at(-1) ?? 0, measuredS: (span > 0 ? span : last.t - tStart) / 1000 };
  } finally {
    await pool?.close();
    for (const c of closers) await c();
    await stopAll([sb, sandbox]);
    await store.cleanup();
  }
}

async function main(): Promise<void> {
  printHeader([
    'bench:drain — delivered messages/s while draining a deep promotional backlog, vs a shallow one, and /healthz latency meanwhile',
    machineLine(),
    `store: ${kind}; ${senderCount} senders at ${mps} MPS each; depths ${depth} and ${base}; window ${seconds} s from the first delivery (or until drained)`,
  ]);
  const deep = await drain(depth);
  const shallow = await drain(base);
  for (const [name, r] of [
    [`drain_${depth}`, deep],
    [`drain_${base}`, shallow],
  ] as const) {
    printFigure(`${name}_delivered_per_s`, r.deliveredPerS, 'msg/s');
    printFigure(`${name}_measured_s`, r.measuredS, 's');
    printFigure(`${name}_healthz_p99`, r.healthP99, 'ms');
    printFigure(`${name}_healthz_max`, r.healthMax, 'ms');
  }
  printFigure('drain_deep_vs_shallow', shallow.deliveredPerS > 0 ? deep.deliveredPerS / shallow.deliveredPerS : 0, 'ratio');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
