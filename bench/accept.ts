/**
 * Accept benchmark: messages/s accepted (durably stored, 202) through the real HTTP API on a real socket.
 * Switchboard runs in a child process (buildApp on 127.0.0.1:0, dispatch and sandbox disabled, so only the accept
 * path is measured); this process is the load generator (undici Pool, keep-alive).
 *
 *   npm run bench:accept                                  # SQLite temp file, 5,000 single POSTs ×32, 10 batches of 1,000
 *   npm run bench:accept -- --store postgres              # fresh schema in SWITCHBOARD_DATABASE_URL (default local `test`)
 *   npm run bench:accept -- --single 20000 --concurrency 64 --batches 50 --batch-concurrency 4
 *
 * Prints `name value unit` lines after a `# ` header. Fails (exit 1) if any request is not accepted or the store
 * does not hold exactly the accepted count.
 */
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { createBenchStore, machineLine, parseStoreKind, recipient, startSwitchboard, stopAll, type SwitchboardChild } from './lib/harness.ts';
import { closedLoop, mb, percentile, perSecond, printFigure, printHeader } from './lib/measure.ts';

const BATCH_SIZE = 1000;

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    single: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '32' },
    batches: { type: 'string', default: '10' },
    'batch-concurrency': { type: 'string', default: '2' },
    warmup: { type: 'string', default: '300' },
  },
});

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}; got ${v}`);
  return n;
}

async function main(): Promise<void> {
  const kind = parseStoreKind(values.store);
  const single = int('single', values.single, 1);
  const concurrency = int('concurrency', values.concurrency, 1);
  const batches = int('batches', values.batches, 0);
  const batchConcurrency = int('batch-concurrency', values['batch-concurrency'], 1);
  const warmup = int('warmup', values.warmup, 0);

  const store = await createBenchStore(kind);
  let sb: SwitchboardChild | undefined;
  let pool: Pool | undefined;
  try {
    sb = await startSwitchboard({ databaseUrl: store.databaseUrl, logLevel: 'error', dispatch: { enabled: false }, sandbox: { enabled: false } });
    printHeader([
      'bench:accept — accepted messages/s through POST /v1/messages and /v1/messages/batch (dispatch off)',
      machineLine(),
      `store: ${store.description}`,
      `switchboard: 1 process (pid ${sb.pid}) at ${sb.ready.url}; load generator: this process, undici Pool`,
      `counts: warmup ${warmup}, single ${single} at concurrency ${concurrency}; batch ${batches} × ${BATCH_SIZE} at concurrency ${batchConcurrency}`,
    ]);
    pool = new Pool(sb.ready.url, { connections: Math.max(concurrency, batchConcurrency), pipelining: 1 });
    const headers = { authorization: `Bearer ${sb.ready.token}`, 'content-type': 'application/json' };
    const p = pool;

    const postOne = async (i: number) => {
      const res = await p.request({
        method: 'POST',
        path: '/v1/messages',
        headers,
        body: JSON.stringify({ to: recipient(i), body: `bench accept ${i}`, category: i % 10 === 0 ? 'otp' : 'transactional' }),
      });
      const text = await res.body.text();
      if (res.statusCode !== 202) throw new Error(`POST /v1/messages → ${res.statusCode} ${text.slice(0, 300)}`);
    };
    const postBatch = async (b: number) => {
      const messages = Array.from({ length: BATCH_SIZE }, (_, k) => ({ to: recipient(b * BATCH_SIZE + k), body: `bench batch ${b}/${k}` }));
      const res = await p.request({ method: 'POST', path: '/v1/messages/batch', headers, body: JSON.stringify({ messages }) });
      const text = await res.body.text();
      if (res.statusCode !== 202) throw new Error(`POST /v1/messages/batch → ${res.statusCode} ${text.slice(0, 300)}`);
      const accepted = (JSON.parse(text) as { accepted: number }).accepted;
      if (accepted !== BATCH_SIZE) throw new Error(`batch accepted ${accepted} of ${BATCH_SIZE}`);
    };

    const check = (what: string, r: { failures: number; firstError: string | null; n: number }) => {
      if (r.failures > 0) throw new Error(`${what}: ${r.failures} of ${r.n} failed; first: ${r.firstError}`);
    };

    if (warmup > 0) check('warmup', await closedLoop(warmup, concurrency, postOne));
    const s = await closedLoop(single, concurrency, (i) => postOne(warmup + i));
    check('single', s);
    const b = batches > 0 ? await closedLoop(batches, batchConcurrency, postBatch) : null;
    if (b) check('batch', b);

    const counts = await sb.call<Record<string, number>>('counts');
    const expected = warmup + single + batches * BATCH_SIZE;
    if (counts.queued !== expected) throw new Error(`store holds ${counts.queued} queued messages; expected ${expected}`);
    const rss = await sb.call<number>('rss');

    printFigure('accept_single_msgs_per_s', perSecond(single, s.elapsedMs), 'msg/s');
    printFigure('accept_single_latency_p50', percentile(s.latencies, 50), 'ms');
    printFigure('accept_single_latency_p99', percentile(s.latencies, 99), 'ms');
    if (b) {
      printFigure('accept_batch_msgs_per_s', perSecond(batches * BATCH_SIZE, b.elapsedMs), 'msg/s');
      printFigure('accept_batch_latency_p50', percentile(b.latencies, 50), 'ms');
      printFigure('accept_batch_latency_p99', percentile(b.latencies, 99), 'ms');
    }
    printFigure('accept_messages_stored', counts.queued, 'msg');
    printFigure('accept_switchboard_rss', mb(rss), 'MB');
  } finally {
    await pool?.close();
    await stopAll([sb]);
    await store.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
