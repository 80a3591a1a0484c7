/**
 * Scale-out end to end (issue 5): three Switchboard processes (`node bin/switchboard.js start`) on one PostgreSQL
 * schema, one standalone sandbox carrier (startSandboxServer, near-zero latency) as the Twilio they all share, and a
 * round-robin proxy in front of the instances that is their publicUrl (the load balancer providers' callbacks go
 * through). 10,000 messages across 5 senders are accepted through the API in batches; midway one instance is
 * SIGKILLed and, later, another gets SIGTERM (graceful shutdown with work in flight) and is replaced by a fresh
 * instance (a rolling restart). Then:
 *   - every message is terminal in the database (delivered: the carrier fails nothing here);
 *   - every message was submitted exactly once at the carrier (create requests counted per body);
 *   - no sender exceeded its MPS in any one-second window of the carrier's receive timestamps (sliding window);
 *   - the SIGTERMed instance exited 0 having released its leases.
 * Pacing is therefore checked where it matters (at the carrier), under the CPU load of five processes on two cores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/api/keys.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/config/schema.ts';
import { maxWindowSum } from '../../src/dispatch/rate-limit.ts';
import { isTerminal } from '../../src/domain/message.ts';
import { startSandboxServer, type SandboxServer } from '../../src/sandbox/server.ts';
import { checkPostgres, createTestSchema, describeTestDatabase, TEST_DATABASE_URL, type TestSchema } from '../../src/store/postgres/test-db.ts';
import type { Store } from '../../src/store/store.ts';
import { startInstance, startRoundRobinProxy, writeClusterConfig, type Instance, type RoundRobinProxy } from '../../scripts/lib/cluster.ts';
import { waitFor } from './support.ts';

const reach = await checkPostgres();
if (!reach.ok && process.env.CI) {
  describe('multi-instance end to end', () => {
    it(`PostgreSQL at ${describeTestDatabase()} is reachable`, () => {
      throw new Error(`PostgreSQL at ${describeTestDatabase()} is unreachable (${reach.reason}); CI requires it.`);
    });
  });
} else if (!reach.ok) {
  console.warn(`[multi-instance.test] skipping: PostgreSQL at ${describeTestDatabase()} is unreachable (${reach.reason}).`);
}

const TOTAL = 10_000;
/** 5 senders, 100 segments/s together: ~100 s of pacing; each sender's share is proportional to its MPS. */
const SENDERS = [
  { from: '+12025550101', mps: 10 },
  { from: '+12025550102', mps: 15 },
  { from: '+12025550103', mps: 20 },
  { from: '+12025550104', mps: 25 },
  { from: '+12025550105', mps: 30 },
];
const BATCH = 1_000;
const DEADLINE_MS = 420_000;

async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
});

/** Each sender's share is proportional to its MPS; senders interleaved, as several apps would send at once. Unique bodies. */
function plan(): { from: string; to: string; body: string }[] {
  const totalMps = SENDERS.reduce((n, s) => n + s.mps, 0);
  const counts = SENDERS.map((s) => Math.round((TOTAL * s.mps) / totalMps));
  const jobs: { from: string; to: string; body: string }[] = [];
  for (let i = 0; i < Math.max(...counts); i++) {
    SENDERS.forEach((s, k) => {
      if (i < counts[k]!) jobs.push({ from: s.from, to: `+1415555${String(1000 + (jobs.length % 9000)).padStart(4, '0')}`, body: `multi-instance ${s.from} #${i}` });
    });
  }
  return jobs;
}

describe.skipIf(!reach.ok)('multi-instance end to end (3 instances, one PostgreSQL, SIGKILL + SIGTERM midway)', () => {
  it(
    `${TOTAL} messages across ${SENDERS.length} senders: each submitted exactly once, all terminal, no sender over its MPS at the carrier`,
    async () => {
      // ---- PostgreSQL schema, API key
      const t: TestSchema = await createTestSchema();
      cleanups.push(() => t.drop());
      const admin: Store = t.store();
      cleanups.push(() => admin.close());
      await admin.migrate();
      const { token } = await createApiKey(admin, { name: 'multi-instance', scopes: ['messages:send', 'messages:read'], now: Date.now() });

      // ---- the carrier
      const carrier: SandboxServer = await startSandboxServer({
        port: 0,
        latency: { sendingMs: 0, sentMs: 1, deliveredMs: 2 },
        accounts: [{ sid: SANDBOX_ACCOUNT_SID, authToken: SANDBOX_AUTH_TOKEN, friendlyName: 'carrier' }],
        numbers: SENDERS.map((s) => ({ phoneNumber: s.from, accountSid: SANDBOX_ACCOUNT_SID, type: 'long_code' as const, mps: s.mps })),
        historyLimit: 100_000,
        webhookRetryDelayMs: 200,
      });
      cleanups.push(() => carrier.close());

      // ---- the load balancer (publicUrl of every instance)
      const proxy: RoundRobinProxy = await startRoundRobinProxy();
      cleanups.push(() => proxy.close());

      // ---- three instances
      const dir = mkdtempSync(join(tmpdir(), 'sb-multi-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const env = writeClusterConfig({
        dir,
        publicUrl: proxy.url,
        carrierUrl: carrier.url,
        senders: SENDERS.map((s) => ({ from: s.from, type: 'long_code', mps: s.mps })),
        databaseUrl: `${t.connectionString}?schema=${t.schema}&pool_max=5`,
        extra: { dispatch: { concurrency: 32, leaseMs: 10_000, submitTimeoutMs: 5_000, idlePollMs: 250, reconcileDelayMs: 2_000, rateWindowMarginMs: 50 } },
      });
      const instances: Instance[] = await Promise.all([0, 1, 2].map(() => startInstance(env)));
      for (const inst of instances) cleanups.push(() => inst.child.kill('SIGKILL'));
      proxy.setBackends(instances.map((i) => i.url));

      // ---- accept everything through the load balancer, in batches (still going on when the kills below happen on a
      //      slow machine: a batch cut off by a kill is retried by the proxy on another instance, a replay)
      const jobs = plan();
      expect(jobs).toHaveLength(TOTAL);
      const idOf = new Map<string, string>();
      const accepting = (async () => {
        for (let i = 0; i < jobs.length; i += BATCH) {
          const res = await fetch(`${proxy.url}/v1/messages/batch`, {
            method: 'POST',
            // The idempotency key makes a retried batch a replay, not a second copy.
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': `multi-instance-${i}` },
            body: JSON.stringify({ messages: jobs.slice(i, i + BATCH) }),
          });
          const out = (await res.json()) as { accepted: number; failed: number; results: { index: number; message?: { id: string } }[] };
          for (const r of out.results) if (r.message) idOf.set(jobs[i + r.index]!.body, r.message.id);
          if (res.status !== 202 || out.failed !== 0 || out.results.length !== Math.min(BATCH, jobs.length - i)) {
            throw new Error(`batch ${i / BATCH}: HTTP ${res.status} ${JSON.stringify(out).slice(0, 500)}`);
          }
        }
      })();
      let acceptError: unknown = null;
      const accepted = accepting.catch((err: unknown) => void (acceptError = err));

      const progress = async () => {
        const c = await admin.countByStatus();
        const terminal = Object.entries(c).filter(([s]) => isTerminal(s as never)).reduce((n, [, v]) => n + v, 0);
        return { counts: c, terminal, submitted: carrier.sandbox.submissions().length };
      };

      // ---- midway: SIGKILL instance 0 (its claims, leases and open bookings are left behind)
      await waitFor('a third of the messages submitted', async () => ((await progress()).submitted >= TOTAL / 3 ? true : undefined), DEADLINE_MS, 200);
      instances[0]!.child.kill('SIGKILL');
      expect((await instances[0]!.exited).signal).toBe('SIGKILL');

      // ---- later: SIGTERM instance 1 with work in flight → it finishes or hands back its claims and exits 0
      await waitFor('two thirds of the messages submitted', async () => ((await progress()).submitted >= (2 * TOTAL) / 3 ? true : undefined), DEADLINE_MS, 200);
      instances[1]!.child.kill('SIGTERM');
      const term = await instances[1]!.exited;
      expect(term, instances[1]!.output()).toEqual({ code: 0, signal: null });
      // It left nothing behind for a lease to expire on: every submit it started was recorded, the rest handed back.
      const held = await withClient((c) =>
        c.query(`SELECT count(*)::int AS n FROM "${t.schema}".messages WHERE lease_owner LIKE $1`, [`%:${instances[1]!.pid}:%`]),
      );
      expect(held.rows[0].n).toBe(0);
      // A rolling restart: a fresh instance takes the stopped one's place behind the load balancer.
      const replacement = await startInstance(env);
      cleanups.push(() => replacement.child.kill('SIGKILL'));
      proxy.setBackends([instances[2]!.url, replacement.url]);

      await accepted;
      expect(acceptError).toBeNull();
      expect(idOf.size).toBe(TOTAL);

      // ---- the survivors finish the rest
      const done = await waitFor(
        'every message terminal',
        async () => {
          const p = await progress();
          return p.terminal === TOTAL ? p : undefined;
        },
        DEADLINE_MS,
        500,
      ).catch(async (err: Error) => {
        // Say where the stragglers are: their timeline and what the carrier did with their callbacks.
        const stuck = (await admin.listMessages({ limit: 5, status: 'sending' })).items.concat((await admin.listMessages({ limit: 5, status: 'sent' })).items);
        const callbacks = carrier.sandbox.callbacks();
        const detail = await Promise.all(
          stuck.map(async (m) => ({
            id: m.id,
            status: m.status,
            submitState: m.submitState,
            sid: m.providerMessageId,
            events: (await admin.listEvents(m.id)).map((e) => `${e.type}@${e.at}`),
            callbacks: callbacks.filter((c) => c.params.MessageSid === m.providerMessageId).map((c) => ({ status: c.params.MessageStatus, state: c.state, attempts: c.attempts })),
          })),
        );
        throw new Error(`${err.message}\nproxy ${JSON.stringify(proxy.stats)}\n${JSON.stringify(detail, null, 1)}`);
      });
      expect(done.counts.delivered).toBe(TOTAL);
      // No lease left behind by the instance that shut down gracefully (the killed one's expired and were taken over).
      const leftovers = (await admin.listMessages({ limit: 10, status: 'sending' })).items;
      expect(leftovers).toEqual([]);

      // ---- exactly once at the carrier
      const subs = carrier.sandbox.submissions();
      const perBody = new Map<string, number>();
      for (const s of subs) perBody.set(s.params.Body ?? '', (perBody.get(s.params.Body ?? '') ?? 0) + 1);
      const twice = [...perBody].filter(([, n]) => n !== 1);
      // On failure, show what happened to them (the events name the owners and outcomes).
      const story = await Promise.all(
        twice.slice(0, 5).map(async ([body]) => ({
          body,
          receivedAt: subs.filter((x) => x.params.Body === body).map((x) => x.receivedAt),
          events: (await admin.listEvents(idOf.get(body) ?? '')).map((e) => ({ type: e.type, at: e.at, detail: e.detail })),
        })),
      );
      expect(twice.slice(0, 10), `messages submitted more than once: ${JSON.stringify(story, null, 1)}`).toEqual([]);
      expect(perBody.size).toBe(TOTAL);
      for (const j of jobs) expect(perBody.has(j.body)).toBe(true);

      // ---- no sender over its MPS in any one-second window of receive timestamps (sliding: every window ending at a receipt)
      for (const s of SENDERS) {
        const times = subs.filter((x) => x.params.From === s.from).map((x) => ({ at: x.receivedAt, segments: 1 }));
        expect(times.length).toBe(jobs.filter((j) => j.from === s.from).length);
        const worst = maxWindowSum(times, 1_000);
        expect(worst, `sender ${s.from} at ${s.mps} MPS: ${worst} requests in one second`).toBeLessThanOrEqual(s.mps);
      }
    },
    DEADLINE_MS + 120_000,
  );
});
