/**
 * Crash recovery with a real process: a child dispatcher (test/dispatch/dispatch-child.ts) is SIGKILLed while
 * submits are on the wire (the sandbox answers slowly for part of the run), then a second child on the same
 * SQLite file finishes the job. Nothing may be lost and nothing sent twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { senderKey } from '../../src/dispatch/rate-limit.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { insertRecords, makeRecord, startTestSandbox, tempDir, waitFor, type SandboxHandle } from './support.ts';

const CHILD = fileURLToPath(new URL('./dispatch-child.ts', import.meta.url));
const SENDERS = ['+15005550006', '+18005550100', '55501', '+18005550101'];
const TOTAL = 200;

const children: ChildProcess[] = [];
let sb: SandboxHandle | undefined;
let store: Store | undefined;
let cleanup: (() => void) | undefined;

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await store?.close();
  await sb?.close();
  cleanup?.();
});

function startChild(env: Record<string, string>, owner: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, ...env, SB_OWNER: owner },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

describe('crash recovery (real child process, SIGKILL mid-dispatch)', () => {
  it('after kill -9 and restart on the same database: nothing lost, nothing sent twice', { timeout: 120_000 }, async () => {
    sb = await startTestSandbox();
    const t = tempDir('sb-crash-');
    cleanup = t.cleanup;
    const dbPath = join(t.dir, 'crash.db');
    const db: Store = await createSqliteStore({ path: dbPath });
    store = db;
    await db.migrate();

    const now = Date.now();
    const records = Array.from({ length: TOTAL }, (_, i) =>
      makeRecord({
        now: now + i,
        from: SENDERS[i % SENDERS.length]!,
        to: `+1415555${String(2000 + i).padStart(4, '0')}`,
        body: `crash-test message #${i} ${Math.random().toString(36).slice(2, 10)}`,
        category: i % 7 === 0 ? 'otp' : i % 3 === 0 ? 'promotional' : 'transactional',
      }),
    );
    await insertRecords(db, records);
    const rates = Object.fromEntries(SENDERS.map((s) => [senderKey('sandbox', s), 15]));
    const env = {
      SB_DB: dbPath,
      SB_SANDBOX_URL: sb.url,
      SB_PUBLIC_URL: 'http://127.0.0.1:9',
      SB_RATES: JSON.stringify(rates),
      SB_LEASE_MS: '4000',
      SB_RECONCILE_MS: '500',
      SB_TIMEOUT_MS: '10000',
    };

    const accepted = async () => {
      const counts = await db.countByStatus();
      return TOTAL - counts.queued - (await countSubmitState('in_flight')) - (await countSubmitState('ambiguous'));
    };
    const countSubmitState = async (state: string) => {
      const { items } = await db.listMessages({ status: 'sending', limit: 1000 });
      return items.filter((m) => m.submitState === state).length;
    };

    // 1. First dispatcher runs until a good part is submitted, then the sandbox turns slow so requests pile up
    //    on the wire, and the child is killed with some in flight.
    const first = startChild(env, 'child-1');
    await waitFor(() => first.output().includes('"ready":true'), 'first child ready', 30_000);
    await waitFor(async () => (await accepted()) >= 50, 'first child submitted 50 messages', 60_000);
    sb.fault({ kind: 'slow', delayMs: 3_000 });
    const before = sb.submissions().length;
    await waitFor(() => sb!.submissions().length >= before + 5, 'submits on the wire during the slow phase', 30_000);
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');

    const atKill = await accepted();
    const inFlightAtKill = await countSubmitState('in_flight');
    expect(atKill).toBeLessThan(TOTAL);
    expect(inFlightAtKill).toBeGreaterThan(0);
    sb.clearFaults();

    // 2. A new dispatcher on the same database finishes everything.
    const second = startChild(env, 'child-2');
    await waitFor(
      async () => {
        const { items } = await db.listMessages({ limit: 1000 });
        return items.length === TOTAL && items.every((m) => m.submitState === 'accepted' && m.providerMessageId !== null);
      },
      `every message submitted (second child output: ${second.output().slice(-2000)})`,
      90_000,
      100,
    );
    second.child.kill('SIGTERM');
    await once(second.child, 'exit');

    // Nothing lost, nothing sent twice.
    const { items } = await db.listMessages({ limit: 1000 });
    expect(items).toHaveLength(TOTAL);
    const sids = new Set(items.map((m) => m.providerMessageId));
    expect(sids.size).toBe(TOTAL);
    const perBody = new Map<string, number>();
    for (const s of sb.submissions()) perBody.set(s.body, (perBody.get(s.body) ?? 0) + 1);
    const dupes = records.filter((r) => (perBody.get(r.body) ?? 0) !== 1).map((r) => `${r.body}: ${perBody.get(r.body) ?? 0}`);
    expect(dupes).toEqual([]);
    // The in-flight ones were reconciled, not blindly re-sent.
    const reconciled = (await Promise.all(items.map((m) => db.listEvents(m.id)))).filter((evs) => evs.some((e) => e.type === 'reconciled'));
    expect(reconciled.length).toBeGreaterThanOrEqual(inFlightAtKill);
  });
});
