/** Shared helpers for the dispatch tests: message records, temp databases, waiting on state. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PRIORITY, type Category, type MessageRecord, type NewEvent } from '../../src/domain/message.ts';
import { newId } from '../../src/domain/ids.ts';
import type { DispatchConfig } from '../../src/config/schema.ts';
import { createTestSchema } from '../../src/store/postgres/test-db.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';

export function tempDir(prefix = 'sb-dispatch-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RecordInput {
  now: number;
  to?: string;
  from?: string;
  body?: string;
  account?: string;
  category?: Category;
  priority?: number;
  segments?: number;
  /** Seconds; default 3600. */
  validFor?: number;
}

let seq = 0;

/** A queued message as the accept pipeline would store it. */
export function makeRecord(i: RecordInput): MessageRecord {
  const category = i.category ?? 'transactional';
  seq++;
  return {
    id: newId('msg', i.now),
    keyId: null,
    account: i.account ?? 'sandbox',
    provider: 'twilio',
    to: i.to ?? '+14155550100',
    from: i.from ?? '+15005550006',
    body: i.body ?? `test message ${seq} ${Math.random().toString(36).slice(2, 8)}`,
    segments: i.segments ?? 1,
    encoding: 'GSM-7',
    category,
    priority: i.priority ?? DEFAULT_PRIORITY[category],
    status: 'queued',
    submitState: 'none',
    metadata: null,
    idempotencyKey: null,
    requestHash: null,
    providerMessageId: null,
    providerStatus: null,
    errorCode: null,
    errorMessage: null,
    attempts: 0,
    nextAttemptAt: i.now,
    expiresAt: i.now + (i.validFor ?? 3600) * 1000,
    leaseOwner: null,
    leaseExpiresAt: null,
    createdAt: i.now,
    updatedAt: i.now,
    submittedAt: null,
    completedAt: null,
  };
}

export async function insertRecords(store: Store, records: MessageRecord[]): Promise<MessageRecord[]> {
  const items = records.map((message) => ({
    message,
    events: [
      { messageId: message.id, type: 'accepted', status: 'queued', at: message.createdAt, detail: null },
      { messageId: message.id, type: 'queued', status: 'queued', at: message.createdAt, detail: null },
    ] satisfies NewEvent[],
  }));
  const out = await store.insertMessages(items);
  for (const o of out) if (!o.inserted) throw new Error('unexpected duplicate insert');
  return records;
}

export function dispatchConfig(over: Partial<DispatchConfig> = {}): DispatchConfig {
  return {
    enabled: true,
    concurrency: 8,
    leaseMs: 30_000,
    maxAttempts: 5,
    backoff: { baseMs: 1_000, maxMs: 60_000 },
    rateWindowMarginMs: 50,
    submitTimeoutMs: 2_000,
    idlePollMs: 200,
    reconcileDelayMs: 2_000,
    ...over,
  };
}

/** Poll `cond` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 20_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A logger that keeps what it was given (tests assert on warnings/errors). */
export function memoryLog(): { log: { debug: Fn; info: Fn; warn: Fn; error: Fn }; lines: { level: string; obj: Record<string, unknown>; msg?: string }[] } {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  const at = (level: string): Fn => (obj, msg) => void lines.push({ level, obj, msg });
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}
type Fn = (obj: Record<string, unknown>, msg?: string) => void;

// ---------------------------------------------------------------- sandbox (the real one, over HTTP)
// The only place that knows the sandbox's test-facing API; tests use this handle.
import type { Clock } from '../../src/domain/clock.ts';
import { startSandboxServer } from '../../src/sandbox/server.ts';

export type FaultSpec =
  | { kind: 'status'; status: number; code: number; retryAfterS?: number; count?: number }
  | { kind: 'slow'; delayMs: number; count?: number };

export interface SandboxHandle {
  url: string;
  /** Create requests received so far (every one, whether answered or not). */
  submissions(): { body: string; to: string; receivedAt: number }[];
  /** How many create requests carried this body. */
  submissionsFor(body: string): number;
  fault(spec: FaultSpec): void;
  clearFaults(): void;
  close(): Promise<void>;
}

export async function startTestSandbox(opts: { clock?: Clock } = {}): Promise<SandboxHandle> {
  const sb = await startSandboxServer({ host: '127.0.0.1', port: 0, clock: opts.clock, seed: 1 });
  const subs = () =>
    sb.sandbox.submissions().map((s: { params: Record<string, string>; receivedAt: number }) => ({ body: s.params.Body ?? '', to: s.params.To ?? '', receivedAt: s.receivedAt }));
  return {
    url: sb.url,
    submissions: subs,
    submissionsFor: (body) => subs().filter((s: { body: string }) => s.body === body).length,
    fault: (spec) => void sb.sandbox.faults.add(spec),
    clearFaults: () => void sb.sandbox.faults.clear(),
    close: () => sb.close(),
  };
}

/** A database to crash and restart on. */
export interface Engine {
  /** A store on the engine's database (a new instance each call: a restart), not migrated. */
  open(): Store;
  cleanup(): Promise<void>;
}

/** Both engines as `describe.each` rows: a SQLite file in a temp dir named `prefix…`, a fresh PostgreSQL schema. */
export function storeEngines(prefix: string): [string, () => Promise<Engine>][] {
  return [
    [
      'sqlite',
      async () => {
        const tmp = tempDir(prefix);
        const path = `${tmp.dir}/sb.db`;
        return { open: () => createSqliteStore({ path }), cleanup: async () => tmp.cleanup() };
      },
    ],
    [
      'postgres',
      async () => {
        const schema = await createTestSchema();
        return { open: () => schema.store(), cleanup: () => schema.drop() };
      },
    ],
  ];
}

export type Crash = { method: keyof Store; when: 'before' | 'after' } | null;

/** The store as a process sees it until it dies: `crash.method` throws once (before or after doing its work). */
export function crashing(store: Store, crash: Crash): Store {
  let armed = crash !== null;
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (armed && crash && prop === crash.method) {
        return async (...args: unknown[]) => {
          armed = false;
          if (crash.when === 'after') await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          throw new Error(`simulated crash ${crash.when} ${String(prop)}`);
        };
      }
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  });
}
