/**
 * Small runs of each benchmark as the npm scripts run them (own process, real sockets on 127.0.0.1), checking what
 * they must print and the counts they verify — never the timings.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseFigures, type Figure } from './lib/measure.ts';

async function runBench(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; figures: Map<string, Figure> }> {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr, figures: new Map(parseFigures(stdout).map((f) => [f.name, f])) };
}

function value(r: { figures: Map<string, Figure>; stdout: string; stderr: string }, name: string): number {
  const f = r.figures.get(name);
  if (!f) throw new Error(`no figure ${name} in:\n${r.stdout}\n${r.stderr}`);
  return f.value;
}

describe('bench/accept.ts', () => {
  it('accepts every single and batch POST, stores exactly that many, prints the figures', async () => {
    const r = await runBench('accept.ts', ['--single', '60', '--concurrency', '8', '--batches', '2', '--warmup', '10']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# machine: \d+ cores/m);
    expect(r.stdout).toMatch(/^# store: sqlite/m);
    expect(value(r, 'accept_messages_stored')).toBe(10 + 60 + 2 * 1000);
    for (const name of ['accept_single_msgs_per_s', 'accept_batch_msgs_per_s', 'accept_single_latency_p99', 'accept_switchboard_rss']) {
      expect(value(r, name), name).toBeGreaterThan(0);
    }
    expect(r.figures.get('accept_single_msgs_per_s')?.unit).toBe('msg/s');
  });
});

describe('bench/callbacks.ts', () => {
  it('ingests three signed rounds and ends with every message delivered', async () => {
    const r = await runBench('callbacks.ts', ['--messages', '40', '--concurrency', '4']);
    expect(r.code, r.stderr).toBe(0);
    expect(value(r, 'callbacks_total')).toBe(120);
    for (const name of ['callbacks_sent_per_s', 'callbacks_delivered_per_s', 'callbacks_duplicate_per_s', 'callbacks_switchboard_rss']) {
      expect(value(r, name), name).toBeGreaterThan(0);
    }
  });
});

describe('bench/e2e.ts', () => {
  it('delivers every message through the sandbox exactly once and keeps each paced sender within its MPS', async () => {
    const r = await runBench('e2e.ts', ['--messages', '150', '--senders', '2', '--paced-senders', '2', '--paced-mps', '5', '--paced-seconds', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(value(r, 'e2e_messages_delivered')).toBe(150);
    expect(value(r, 'e2e_sandbox_submissions')).toBe(150);
    expect(value(r, 'e2e_paced_sandbox_submissions')).toBe(20);
    expect(value(r, 'e2e_paced_configured_msgs_per_s')).toBe(10);
    expect(value(r, 'e2e_paced_max_per_sender_in_any_1s')).toBeLessThanOrEqual(5);
    expect(value(r, 'e2e_delivered_msgs_per_s')).toBeGreaterThan(0);
  });

  it('runs two instances on one PostgreSQL schema', async () => {
    const r = await runBench('e2e.ts', ['--store', 'postgres', '--instances', '2', '--messages', '150', '--paced-senders', '2', '--paced-mps', '5', '--paced-seconds', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# store: postgres .* schema sb_bench_[0-9a-f]+/m);
    expect(value(r, 'e2e_messages_delivered')).toBe(150);
    expect(value(r, 'e2e_sandbox_submissions')).toBe(150);
    expect(value(r, 'e2e_switchboard_1_rss')).toBeGreaterThan(0);
    expect(value(r, 'e2e_switchboard_2_rss')).toBeGreaterThan(0);
    expect(value(r, 'e2e_paced_sandbox_submissions')).toBe(20);
    expect(value(r, 'e2e_paced_max_per_sender_in_any_1s')).toBeLessThanOrEqual(5);
  });

  it('refuses two instances on SQLite', async () => {
    const r = await runBench('e2e.ts', ['--instances', '2', '--messages', '10', '--paced-senders', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--instances 2 needs a store that several processes may share/);
  });

  it('rejects a bad flag value', async () => {
    const r = await runBench('e2e.ts', ['--messages', 'lots']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--messages must be an integer/);
  });
});

describe('bench/claim-depth.ts', () => {
  it('claims at each depth on both engines, the queue kept at its depth, and prints the figures', async () => {
    const r = await runBench('claim-depth.ts', ['--depths', '50,300', '--rounds', '3', '--claim', '20', '--senders', '3']);
    expect(r.code, r.stderr).toBe(0);
    for (const engine of ['sqlite', 'postgres']) {
      expect(value(r, `claim_${engine}_50_claimed`)).toBe(3 * 20);
      expect(value(r, `claim_${engine}_300_claimed`)).toBe(3 * 20);
      for (const f of ['p50', 'p99', 'round_p99', 'max_loop_block']) expect(value(r, `claim_${engine}_300_${f}`), f).toBeGreaterThan(0);
    }
  });

  it('rejects a bad depth', async () => {
    const r = await runBench('claim-depth.ts', ['--depths', '1k']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--depths must be integers/);
  });
});

describe('bench/drain.ts', () => {
  it('drains a bulk-loaded backlog through the sandbox and samples /healthz meanwhile', async () => {
    const r = await runBench('drain.ts', ['--depth', '400', '--base', '100', '--senders', '2', '--seconds', '30']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# store: sqlite; 2 senders/m);
    for (const name of ['drain_400_delivered_per_s', 'drain_100_delivered_per_s', 'drain_400_healthz_p99', 'drain_deep_vs_shallow']) {
      expect(value(r, name), name).toBeGreaterThan(0);
    }
  });
});
