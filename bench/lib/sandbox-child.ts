/**
 * The Twilio-compatible sandbox as its own process for the benchmarks (startSandboxServer on 127.0.0.1:0).
 * Options from env BENCH_SANDBOX (JSON): `{ latency, mps }` — `mps` applies to every sender type, so the carrier's
 * own per-sender queue is not what limits the rate (Switchboard's pacing is what is measured).
 *
 * Commands (see child.ts): rss, submissions → `{ from, receivedAt, status }[]`, callbacks → count.
 */
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/config/schema.ts';
import { startSandboxServer } from '../../src/sandbox/server.ts';
import { failBenchChild, serveBenchCommands } from './child.ts';

export interface SandboxChildOptions {
  latency: { sendingMs: number; sentMs: number; deliveredMs: number };
  /** Carrier-side segments per second for every sender type. */
  mps: number;
}

export interface SandboxReady {
  url: string;
  pid: number;
}

export interface SubmissionRow {
  from: string;
  receivedAt: number;
  /** HTTP status the sandbox answered (201 accepted). */
  status: number | null;
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.env.BENCH_SANDBOX ?? '{}') as Partial<SandboxChildOptions>;
  const mps = opts.mps ?? 100_000;
  let server: Awaited<ReturnType<typeof startSandboxServer>>;
  try {
    server = await startSandboxServer({
      host: '127.0.0.1',
      port: 0,
      latency: opts.latency ?? { sendingMs: 0, sentMs: 1, deliveredMs: 2 },
      mps: { long_code: mps, toll_free: mps, short_code: mps, alphanumeric: mps, whatsapp: mps },
      accounts: [{ sid: SANDBOX_ACCOUNT_SID, authToken: SANDBOX_AUTH_TOKEN, friendlyName: 'bench' }],
    });
  } catch (err) {
    failBenchChild(err);
  }
  const sb = server.sandbox;
  serveBenchCommands(
    { url: server.url, pid: process.pid } satisfies SandboxReady,
    {
      submissions: (): SubmissionRow[] => sb.submissions().map((s) => ({ from: s.params.From ?? '', receivedAt: s.receivedAt, status: s.response?.status ?? null })),
      callbacks: () => sb.callbacks().length,
    },
    () => server.close(),
  );
}

await main();
