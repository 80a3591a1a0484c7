import { describe, expect, it } from 'vitest';
import { closedLoop, formatFigure, formatValue, maxInWindow, parseFigures, percentile, perSecond, sustainedRate } from './measure.ts';

describe('formatValue', () => {
  it.each([
    [12345.678, '12346'],
    [443, '443'],
    [54.54, '54.5'],
    [3.14159, '3.14'],
    [0.012345, '0.0123'],
    [0, '0'],
    [10, '10'],
  ])('%d → %s', (v, text) => {
    expect(formatValue(v)).toBe(text);
  });
});

describe('formatFigure / parseFigures', () => {
  it('round-trips name value unit lines and skips headers', () => {
    const text = ['# bench:x — setup', formatFigure({ name: 'accept_single_msgs_per_s', value: 1234.4, unit: 'msg/s' }), 'noise line', formatFigure({ name: 'p99', value: 1.5, unit: 'ms' })].join('\n');
    expect(parseFigures(text)).toEqual([
      { name: 'accept_single_msgs_per_s', value: 1234, unit: 'msg/s' },
      { name: 'p99', value: 1.5, unit: 'ms' },
    ]);
  });

  it.each([
    ['Bad-Name', 'ms'],
    ['ok', 'two words'],
  ])('rejects name %s / unit %s', (name, unit) => {
    expect(() => formatFigure({ name, value: 1, unit })).toThrow();
  });
});

describe('percentile (nearest rank)', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  it.each([
    [50, 50],
    [99, 99],
    [100, 100],
    [1, 1],
    [0, 1],
  ])('p%d of 1..100 is %d', (p, v) => {
    expect(percentile(xs, p)).toBe(v);
  });
  it('is 0 for no samples', () => {
    expect(percentile([], 50)).toBe(0);
  });
});

describe('maxInWindow', () => {
  it.each<[string, number[], number, number]>([
    ['empty', [], 1000, 0],
    ['one', [5], 1000, 1],
    ['10 per second, evenly', Array.from({ length: 40 }, (_, i) => i * 100), 1000, 10],
    ['an event exactly one window later starts a new window', [0, 1000], 1000, 1],
    ['just inside the window', [0, 999], 1000, 2],
    ['a burst in the middle', [0, 500, 2000, 2001, 2002, 2999, 4000], 1000, 4],
    ['unsorted input', [2002, 0, 2001, 2000], 1000, 3],
  ])('%s', (_name, times, w, expected) => {
    expect(maxInWindow(times, w)).toBe(expected);
  });
});

describe('sustainedRate', () => {
  it('discounts the first window burst of a sliding-window limiter', () => {
    // 10 at t = 0, 1, 2, 3 s (10 per second in bursts): 30 after the first window over 3 s.
    const times = [0, 1000, 2000, 3000].flatMap((t) => Array.from({ length: 10 }, (_, k) => t + k));
    expect(sustainedRate(times, 1000)).toBeCloseTo(30_000 / 3009, 6);
  });
  it('is 0 without a span', () => {
    expect(sustainedRate([], 1000)).toBe(0);
    expect(sustainedRate([7, 7], 1000)).toBe(0);
  });
});

describe('closedLoop', () => {
  it('runs every index exactly once with at most `concurrency` in flight, and counts failures', async () => {
    const seen: number[] = [];
    let inFlight = 0;
    let peak = 0;
    const r = await closedLoop(50, 4, async (i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((res) => setImmediate(res));
      seen.push(i);
      inFlight--;
      if (i % 10 === 3) throw new Error(`op ${i} failed`);
    });
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(peak).toBe(4);
    expect(r.failures).toBe(5);
    expect(r.firstError).toMatch(/^op \d+ failed$/);
    expect(r.latencies).toHaveLength(50);
    expect([...r.latencies].sort((a, b) => a - b)).toEqual(r.latencies);
  });
});

describe('perSecond', () => {
  it.each([
    [100, 1000, 100],
    [5, 250, 20],
    [5, 0, 0],
  ])('%d in %d ms → %d/s', (count, ms, rate) => {
    expect(perSecond(count, ms)).toBe(rate);
  });
});
