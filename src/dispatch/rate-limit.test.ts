import { describe, expect, it } from 'vitest';
import { type UsageEntry, maxWindowSum, prune, reserve } from './rate-limit.ts';

const W = 1000;

describe('reserve (sliding window)', () => {
  const cases: { name: string; usage: UsageEntry[]; now: number; mps: number; segments: number; expect: ReturnType<typeof reserve> }[] = [
    { name: 'empty window, 1 segment', usage: [], now: 0, mps: 1, segments: 1, expect: { ok: true, entries: [{ at: 0, segments: 1 }] } },
    { name: 'full window waits until the entry leaves', usage: [{ at: 0, segments: 1 }], now: 500, mps: 1, segments: 1, expect: { ok: false, retryAt: 1000 } },
    { name: 'entry just left the window', usage: [{ at: 0, segments: 1 }], now: 1000, mps: 1, segments: 1, expect: { ok: true, entries: [{ at: 1000, segments: 1 }] } },
    { name: 'room for a second segment at mps 3', usage: [{ at: 0, segments: 2 }], now: 10, mps: 3, segments: 1, expect: { ok: true, entries: [{ at: 10, segments: 1 }] } },
    { name: 'two segments do not fit in one remaining slot', usage: [{ at: 0, segments: 2 }], now: 10, mps: 3, segments: 2, expect: { ok: false, retryAt: 1000 } },
    {
      name: '3-segment message at mps 1 books three windows',
      usage: [],
      now: 0,
      mps: 1,
      segments: 3,
      expect: { ok: true, entries: [{ at: 0, segments: 1 }, { at: 1000, segments: 1 }, { at: 2000, segments: 1 }] },
    },
    {
      name: 'future booking of a long message blocks a later short one',
      usage: [{ at: 0, segments: 1 }, { at: 1000, segments: 1 }],
      now: 1000,
      mps: 1,
      segments: 1,
      expect: { ok: false, retryAt: 2000 },
    },
    {
      name: 'oldest entry leaving frees capacity first',
      usage: [{ at: 0, segments: 1 }, { at: 400, segments: 1 }],
      now: 500,
      mps: 2,
      segments: 1,
      expect: { ok: false, retryAt: 1000 },
    },
    { name: 'zero segments still counts as one', usage: [], now: 5, mps: 1, segments: 0, expect: { ok: true, entries: [{ at: 5, segments: 1 }] } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(reserve(c.usage, c.now, W, c.mps, c.segments)).toEqual(c.expect);
    });
  }

  it('rejects a non-positive rate', () => {
    expect(() => reserve([], 0, W, 0, 1)).toThrow(RangeError);
  });

  it('a greedy sender driven by retryAt never exceeds mps in any window', () => {
    for (const mps of [1, 3, 10]) {
      let usage: UsageEntry[] = [];
      const log: UsageEntry[] = [];
      let now = 0;
      // Mixed message lengths, each sent as soon as allowed.
      for (let i = 0; i < 200; i++) {
        const segments = 1 + ((i * 7) % 4);
        let r = reserve(usage, now, W, mps, segments);
        if (!r.ok) {
          now = r.retryAt;
          r = reserve(usage, now, W, mps, segments);
        }
        expect(r.ok).toBe(true);
        if (r.ok) {
          usage = prune([...usage, ...r.entries], now, W);
          log.push(...r.entries);
        }
        now += (i * 37) % 300;
      }
      expect(maxWindowSum(log, W)).toBeLessThanOrEqual(mps);
    }
  });
});

describe('prune', () => {
  it('drops entries that left the window and keeps future ones', () => {
    expect(prune([{ at: 0, segments: 1 }, { at: 600, segments: 1 }, { at: 2000, segments: 1 }], 1000, W)).toEqual([
      { at: 600, segments: 1 },
      { at: 2000, segments: 1 },
    ]);
  });
});

describe('maxWindowSum', () => {
  it('finds the busiest window', () => {
    expect(maxWindowSum([{ at: 0, segments: 1 }, { at: 999, segments: 1 }, { at: 1000, segments: 1 }], W)).toBe(2);
  });
});
