/**
 * Pure helpers for the benchmarks: output lines, percentiles, windowed rates. No I/O except `printFigure`/`printHeader`.
 */

export interface Figure {
  name: string;
  value: number;
  unit: string;
}

/** Fixed decimals by magnitude: 12345 → "12345", 12.345 → "12.3", 0.01234 → "0.0123". */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100 || Number.isInteger(v)) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/** One `name value unit` line (names are snake_case, units have no spaces). */
export function formatFigure(f: Figure): string {
  if (!/^[a-z0-9_]+$/.test(f.name)) throw new Error(`figure name must be snake_case: ${f.name}`);
  if (!/^\S+$/.test(f.unit)) throw new Error(`figure unit must have no spaces: ${f.unit}`);
  return `${f.name} ${formatValue(f.value)} ${f.unit}`;
}

export function printFigure(name: string, value: number, unit: string): void {
  console.log(formatFigure({ name, value, unit }));
}

/** Setup lines, prefixed `# ` so a reader of figures can skip them. */
export function printHeader(lines: string[]): void {
  for (const l of lines) console.log(`# ${l}`);
}

/** Parse `name value unit` lines (header and other lines ignored). */
export function parseFigures(text: string): Figure[] {
  const out: Figure[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9_]+) (-?[0-9.e+-]+|NaN|Infinity) (\S+)$/.exec(line.trim());
    if (m) out.push({ name: m[1]!, value: Number(m[2]), unit: m[3]! });
  }
  return out;
}

/** Nearest-rank percentile of an ascending array (p in 0..100); 0 for an empty array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** The most events in any half-open window [t, t + windowMs) of the given times (any order). */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi]! - t[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/**
 * Sustained rate under a sliding-window limiter, which lets a whole window's worth through at once at the start:
 * (n − burst) / (last − first), where `burst` is the count inside [first, first + windowMs).
 * E.g. 40 events at 10 per second: 10 at t=0, 1, 2, 3 s → 30 / 3 s = 10/s (a plain n / span would say 13.3/s).
 * Events per second; 0 when there is no span.
 */
export function sustainedRate(times: readonly number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  if (t.length < 2) return 0;
  const first = t[0]!;
  const span = t[t.length - 1]! - first;
  if (span <= 0) return 0;
  const burst = t.filter((x) => x < first + windowMs).length;
  return ((t.length - burst) * 1000) / span;
}

export interface LoopResult {
  n: number;
  elapsedMs: number;
  /** Per-operation latencies in ms, ascending. */
  latencies: number[];
  failures: number;
  firstError: string | null;
}

/**
 * Closed loop: `concurrency` workers take indexes 0..n-1 in turn and await `op(i)`; an op fails by throwing.
 */
export async function closedLoop(n: number, concurrency: number, op: (i: number) => Promise<void>): Promise<LoopResult> {
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  let firstError: string | null = null;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const s = performance.now();
        try {
          await op(i);
        } catch (err) {
          failures++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
        latencies.push(performance.now() - s);
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return { n, elapsedMs, latencies, failures, firstError };
}

/** ops per second of a loop. */
export function perSecond(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (count * 1000) / elapsedMs : 0;
}

export function mb(bytes: number): number {
  return bytes / 1024 / 1024;
}
