/**
 * Parent-side setup shared by the benchmarks: a store to run on (temp SQLite file or a fresh PostgreSQL schema),
 * Switchboard and sandbox child processes, and the machine description for the header.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { spawnBenchChild, type BenchChild } from './child.ts';
import type { SandboxChildOptions, SandboxReady } from './sandbox-child.ts';
import type { SwitchboardReady } from './switchboard-child.ts';

export type StoreKind = 'sqlite' | 'postgres';

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchStore {
  kind: StoreKind;
  /** config.databaseUrl for the Switchboard processes. */
  databaseUrl: string;
  /** For the header (no password). */
  description: string;
  cleanup(): Promise<void>;
}

export function parseStoreKind(v: string | undefined): StoreKind {
  if (v === undefined || v === 'sqlite') return 'sqlite';
  if (v === 'postgres' || v === 'pg') return 'postgres';
  throw new Error(`--store must be sqlite or postgres; got ${v}`);
}

/** A temp SQLite file, or a fresh schema `sb_bench_<hex>` in SWITCHBOARD_DATABASE_URL (default the local `test` db). */
export async function createBenchStore(kind: StoreKind): Promise<BenchStore> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'sb-bench-'));
    const path = join(dir, 'switchboard.db');
    return {
      kind,
      databaseUrl: `sqlite:${path}`,
      description: `sqlite (temp file ${path}, WAL)`,
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const base = process.env.SWITCHBOARD_DATABASE_URL || DEFAULT_PG_URL;
  const baseUrl = new URL(base);
  if (baseUrl.searchParams.has('schema')) baseUrl.searchParams.delete('schema');
  const schema = `sb_bench_${randomBytes(5).toString('hex')}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: baseUrl.toString(), connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end().catch(() => {});
    }
  };
  await run(`CREATE SCHEMA "${schema}"`);
  const withSchema = new URL(baseUrl.toString());
  withSchema.searchParams.set('schema', schema);
  return {
    kind,
    databaseUrl: withSchema.toString(),
    description: `postgres ${baseUrl.hostname}:${baseUrl.port || '5432'}${baseUrl.pathname} schema ${schema} (fresh, dropped after)`,
    cleanup: () => run(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  };
}

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

export type SwitchboardChild = BenchChild<SwitchboardReady>;
export type SandboxChild = BenchChild<SandboxReady>;

/** A Switchboard process (buildApp on 127.0.0.1:0) with these config overrides. */
export function startSwitchboard(overrides: Record<string, unknown>): Promise<SwitchboardChild> {
  return spawnBenchChild<SwitchboardReady>(here('./switchboard-child.ts'), { BENCH_SWITCHBOARD: JSON.stringify(overrides) });
}

export function startSandbox(opts: SandboxChildOptions): Promise<SandboxChild> {
  return spawnBenchChild<SandboxReady>(here('./sandbox-child.ts'), { BENCH_SANDBOX: JSON.stringify(opts) });
}

/** Stop every child given (in parallel), ignoring ones already gone. */
export async function stopAll(children: (BenchChild<unknown> | undefined)[]): Promise<void> {
  await Promise.all(children.map((c) => c?.stop().catch(() => {})));
}

export function machineLine(): string {
  const cpu = cpus()[0]?.model?.trim() ?? 'unknown cpu';
  const load = loadavg().map((l) => l.toFixed(1)).join(' ');
  return `machine: ${availableParallelism()} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, ${process.platform}; load average at start ${load}`;
}

/** A valid, non-magic US mobile-style recipient for message i. */
export function recipient(i: number): string {
  return `+1415555${String(1000 + (i % 9000)).padStart(4, '0')}`;
}

/** Poll `probe` every `everyMs` until it returns a value, or throw after `timeoutMs` with `what` and the last state. */
export async function pollUntil<T>(what: string, probe: () => Promise<{ done: T } | { last: unknown }>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await probe();
    if ('done' in r) return r.done;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(r.last)}`);
    await new Promise((res) => setTimeout(res, everyMs));
  }
}
