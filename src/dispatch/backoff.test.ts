import { describe, expect, it } from 'vitest';
import { nextRetryDelay } from './backoff.ts';

const cfg = { baseMs: 1_000, maxMs: 300_000 };
const fixed = (r: number) => () => r;

describe('nextRetryDelay (full jitter)', () => {
  it.each([
    // attempt, random, expected: floor(random · min(maxMs, baseMs · 2^(attempt−1)))
    [1, 0, 0],
    [1, 0.5, 500],
    [1, 0.999, 999],
    [2, 0.5, 1_000],
    [3, 0.5, 2_000],
    [4, 0.25, 2_000],
    [5, 0.5, 8_000],
    [9, 0.5, 128_000],
    [9, 0.999, 255_744],
    [10, 0.5, 150_000], // 512 s ceiling capped at 300 s
    [10, 0.999, 299_700],
    [50, 0.5, 150_000],
    [2_000, 0.5, 150_000], // 2^1999 overflows to Infinity: still capped
  ])('attempt %i, random %f → %i ms', (attempt, r, expected) => {
    expect(nextRetryDelay(attempt, cfg, fixed(r))).toBe(expected);
  });

  it('never exceeds maxMs, never negative, always an integer', () => {
    for (let attempt = 1; attempt <= 40; attempt++) {
      for (const r of [0, 0.1, 0.5, 0.9, 0.999999]) {
        const d = nextRetryDelay(attempt, cfg, fixed(r));
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(cfg.maxMs);
      }
    }
  });

  it('the ceiling doubles per attempt until the cap', () => {
    const top = (attempt: number) => nextRetryDelay(attempt, { baseMs: 100, maxMs: 1_000 }, fixed(1 - Number.EPSILON));
    expect([1, 2, 3, 4, 5, 6].map(top)).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it.each([
    ['attempt 0 counts as 1', 0, fixed(0.5), cfg, 500],
    ['negative attempt counts as 1', -3, fixed(0.5), cfg, 500],
    ['NaN attempt counts as 1', Number.NaN, fixed(0.5), cfg, 500],
    ['fractional attempt is floored', 2.9, fixed(0.5), cfg, 1_000],
    ['random ≥ 1 is clamped below the ceiling', 1, fixed(1), cfg, 999],
    ['random < 0 is clamped to 0', 1, fixed(-1), cfg, 0],
    ['NaN random is clamped to 0', 1, fixed(Number.NaN), cfg, 0],
    ['baseMs above maxMs is capped', 1, fixed(0.5), { baseMs: 10_000, maxMs: 4_000 }, 2_000],
    ['baseMs 0 → always 0', 30, fixed(0.5), { baseMs: 0, maxMs: 4_000 }, 0],
  ])('%s', (_name, attempt, random, c, expected) => {
    expect(nextRetryDelay(attempt, c, random)).toBe(expected);
  });

  it('spreads a burst of retries over the window (uses the random source, not a constant)', () => {
    const seq = [0.1, 0.4, 0.7];
    let i = 0;
    const delays = seq.map(() => nextRetryDelay(3, cfg, () => seq[i++]!));
    expect(delays).toEqual([400, 1_600, 2_800]);
  });
});
