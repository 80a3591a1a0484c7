/**
 * End-to-end benchmark: messages/s from the first accept to the last `delivered`, through the whole path —
 * POST /v1/messages/batch → store → dispatcher (per-sender pacing) → Twilio adapter over HTTP → sandbox carrier →
 * signed status callbacks (sent, delivered) → webhook ingestion → `delivered`.
 *
 * Processes (all on 127.0.0.1): this one is the load generator; the sandbox runs as its own process
 * (startSandboxServer) and Switchboard as one or more processes (buildApp, sandbox not mounted), because:
 *   - Switchboard's CPU, event loop and RSS are its own (a mounted sandbox would run its scheduler, webhook sender
 *     and in-memory record of every message inside the measured process);
 *   - with `--instances 2`, all instances share one carrier, as they would share Twilio;
 *   - the carrier's per-sender queue is taken out (`mps` 100,000 for every sender type), so delivery times are
 *     Switchboard's alone.
 *
 * Two runs on the same processes:
 *   1. throughput: `--messages` over `--senders` short codes at `--mps` each (high, so pacing is not the limit),
 *      sandbox latencies 0/1/2 ms;
 *   2. pacing: `--paced-senders` senders at `--paced-mps` for `--paced-seconds` worth of messages; the sandbox's
 *      receive timestamps give the sustained rate (≈ senders × mps) and the most submissions of one sender in any
 *      1-second window (must not exceed its MPS; exit 1 if it does).
 *
 *   npm run bench:e2e                                          # SQLite, 1 instance, 2,000 messages
 *   npm run bench:e2e -- --store postgres --instances 2        # two Switchboard processes on one PostgreSQL schema
 *   npm run bench:e2e -- --messages 20000 --timeout 300
 */
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../src/config/schema.ts';
import {
  createBenchStore,
  machineLine,
  parseStoreKind,
  pollUntil,
  recipient,
  startSandbox,
  startSwitchboard,
  stopAll,
  type SandboxChild,
  type SwitchboardChild,
} from './lib/harness.ts';
import type { SubmissionRow } from './lib/sandbox-child.ts';
import type { MessageSummary } from './lib/switchboard-child.ts';
import { maxInWindow, mb, perSecond, printFigure, printHeader, sustainedRate } from './lib/measure.ts';

const BATCH_SIZE = 1000;
const TERMINAL = ['delivered', 'undelivered', 'failed', 'canceled', 'expired'] as const;

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    instances: { type: 'string', default: '1' },
    messages: { type: 'string', default: '2000' },
    senders: { type: 'string', default: '4' },
    mps: { type: 'string', default: '1000' },
    'paced-senders': { type: 'string', default: '3' },
    'paced-mps': { type: 'string', default: '10' },
    'paced-seconds': { type: 'string', default: '4' },
    'dispatch-concurrency': { type: 'string' },
    timeout: { type: 'string', default: '120' },
  },
});

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}; got ${v}`);
  return n;
}

interface Job {
  to: string;
  from: string;
  body: string;
}

async function main(): Promise<void> {
  const kind = parseStoreKind(values.store);
  const instances = int('instances', values.instances, 1);
  const n = int('messages', values.messages, 1);
  const senderCount = int('senders', values.senders, 1);
  const mps = int('mps', values.mps, 1);
  const pacedSenders = int('paced-senders', values['paced-senders'], 0);
  const pacedMps = int('paced-mps', values['paced-mps'], 1);
  const pacedSeconds = int('paced-seconds', values['paced-seconds'], 1);
  const timeoutMs = int('timeout', values.timeout, 1) * 1000;
  const dispatchConcurrency = values['dispatch-concurrency'] === undefined ? undefined : int('dispatch-concurrency', values['dispatch-concurrency'], 1);

  const fast = Array.from({ length: senderCount }, (_, i) => String(50100 + i));
  const paced = Array.from({ length: pacedSenders }, (_, i) => String(50200 + i));

  if (instances > 1 && kind === 'sqlite') {
    throw new Error(`--instances ${instances} needs a store that several processes may share (--store postgres); sqlite is single-instance`);
  }

  const store = await createBenchStore(kind);
  let sandbox: SandboxChild | undefined;
  const sbs: SwitchboardChild[] = [];
  const pools: Pool[] = [];
  try {
    sandbox = await startSandbox({ latency: { sendingMs: 0, sentMs: 1, deliveredMs: 2 }, mps: 100_000 });
    const overrides = {
      databaseUrl: store.databaseUrl,
      logLevel: 'error',
      sandbox: { enabled: false },
      accounts: [
        {
          name: 'bench',
          provider: 'twilio',
          baseUrl: sandbox.ready.url,
          accountSid: SANDBOX_ACCOUNT_SID,
          authToken: SANDBOX_AUTH_TOKEN,
          apiKeySid: null,
          apiKeySecret: null,
          senders: [...fast.map((from) => ({ from, type: 'short_code', mps })), ...paced.map((from) => ({ from, type: 'short_code', mps: pacedMps }))],
        },
      ],
      routing: { defaultAccount: 'bench', byKey: {} },
      dispatch: { enabled: true, ...(dispatchConcurrency ? { concurrency: dispatchConcurrency } : {}) },
    };
    // One at a time: the first applies the migrations.
    for (let i = 0; i < instances; i++) {
      const sb = await startSwitchboard(overrides);
      if (i === 0 && instances > 1 && !sb.ready.multiInstance) {
        sbs.push(sb);
        throw new Error(`--instances ${instances} needs a store that several processes may share (--store postgres); ${sb.ready.store} is single-instance`);
      }
      sbs.push(sb);
      pools.push(new Pool(sb.ready.url, { connections: 4, pipelining: 1 }));
    }
    printHeader([
      'bench:e2e — delivered messages/s, first accept → last delivered, through the sandbox carrier over HTTP',
      machineLine(),
      `store: ${store.description}`,
      `switchboard: ${instances} process(es) (pids ${sbs.map((s) => s.pid).join(', ')}), dispatch concurrency ${dispatchConcurrency ?? 'default (32)'}; sandbox: 1 process (pid ${sandbox.pid}), latencies 0/1/2 ms, carrier MPS not limiting`,
      `throughput run: ${n} messages over ${senderCount} senders at ${mps} MPS each, batches of ${BATCH_SIZE} spread over the instances`,
      pacedSenders > 0
        ? `pacing run: ${pacedSenders} senders at ${pacedMps} MPS, ${pacedSenders * pacedMps * pacedSeconds} messages (${pacedSeconds} s worth)`
        : 'pacing run: off',
    ]);

    /** Accept `jobs` in batches (round-robin over the instances), wait until all are terminal; returns the summary. */
    const runJobs = async (what: string, jobs: Job[], alreadyTerminal: number) => {
      const batches: Job[][] = [];
      for (let i = 0; i < jobs.length; i += BATCH_SIZE) batches.push(jobs.slice(i, i + BATCH_SIZE));
      const t0 = performance.now();
      let nextBatch = 0;
      await Promise.all(
        sbs.map(async (sb, k) => {
          for (;;) {
            const b = nextBatch++;
            if (b >= batches.length) return;
            const res = await pools[k]!.request({
              method: 'POST',
              path: '/v1/messages/batch',
              headers: { authorization: `Bearer ${sb.ready.token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ messages: batches[b] }),
            });
            const text = await res.body.text();
            if (res.statusCode !== 202) throw new Error(`${what}: batch → ${res.statusCode} ${text.slice(0, 300)}`);
          }
        }),
      );
      const acceptMs = performance.now() - t0;
      const target = alreadyTerminal + jobs.length;
      await pollUntil(
        `${what}: ${target} messages in a terminal status`,
        async () => {
          const c = await sbs[0]!.call<Record<string, number>>('counts');
          const done = TERMINAL.reduce((s, k) => s + (c[k] ?? 0), 0);
          return done >= target ? { done } : { last: c };
        },
        timeoutMs,
        100,
      );
      return { acceptMs };
    };

    // ---- 1. throughput
    const jobs: Job[] = Array.from({ length: n }, (_, i) => ({ to: recipient(i), from: fast[i % fast.length]!, body: `bench e2e ${i}` }));
    const t = await runJobs('throughput', jobs, 0);
    const s1 = await sbs[0]!.call<MessageSummary>('summary');
    if ((s1.byStatus.delivered ?? 0) !== n) throw new Error(`throughput: expected ${n} delivered, got ${JSON.stringify(s1.byStatus)}`);
    const subs1 = await sandbox.call<SubmissionRow[]>('submissions');
    const fastSubs = subs1.filter((r) => fast.includes(r.from));
    const span = s1.lastDeliveredAt! - s1.firstCreatedAt!;
    const rss1 = await Promise.all(sbs.map((sb) => sb.call<number>('rss')));

    printFigure('e2e_delivered_msgs_per_s', perSecond(n, span), 'msg/s');
    printFigure('e2e_first_accept_to_last_delivered', span / 1000, 's');
    printFigure('e2e_accept_msgs_per_s', perSecond(n, t.acceptMs), 'msg/s');
    printFigure('e2e_messages_delivered', s1.byStatus.delivered ?? 0, 'msg');
    printFigure('e2e_sandbox_submissions', fastSubs.length, 'request');
    rss1.forEach((r, i) => printFigure(instances === 1 ? 'e2e_switchboard_rss' : `e2e_switchboard_${i + 1}_rss`, mb(r), 'MB'));
    printFigure('e2e_sandbox_rss', mb(await sandbox.call<number>('rss')), 'MB');
    if (fastSubs.length !== n) throw new Error(`throughput: the sandbox received ${fastSubs.length} submissions for ${n} messages`);

    // ---- 2. pacing
    if (pacedSenders > 0) {
      const m = pacedSenders * pacedMps * pacedSeconds;
      const pacedJobs: Job[] = Array.from({ length: m }, (_, i) => ({ to: recipient(n + i), from: paced[i % paced.length]!, body: `bench paced ${i}` }));
      await runJobs('pacing', pacedJobs, n);
      const subs = (await sandbox.call<SubmissionRow[]>('submissions')).filter((r) => paced.includes(r.from));
      const perSender = paced.map((from) => maxInWindow(subs.filter((r) => r.from === from).map((r) => r.receivedAt), 1000));
      const worst = Math.max(...perSender);
      printFigure('e2e_paced_configured_msgs_per_s', pacedSenders * pacedMps, 'msg/s');
      printFigure('e2e_paced_sustained_msgs_per_s', sustainedRate(subs.map((r) => r.receivedAt), 1000), 'msg/s');
      printFigure('e2e_paced_max_per_sender_in_any_1s', worst, 'msg');
      printFigure('e2e_paced_sandbox_submissions', subs.length, 'request');
      if (subs.length !== m) throw new Error(`pacing: the sandbox received ${subs.length} submissions for ${m} messages`);
      if (worst > pacedMps) throw new Error(`pacing: a sender made ${worst} submissions within one second; its MPS is ${pacedMps}`);
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await stopAll([...sbs, sandbox]);
    await store.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
