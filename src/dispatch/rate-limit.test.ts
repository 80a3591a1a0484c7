import { describe, expect, it } from 'vitest';
import { type UsageEntry, effectiveAt, maxWindowSum, prune, reserve, settle } from './rate-limit.ts';

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
    // Open bookings (request on the wire) count as arriving now, up to openUntil.
    {
      name: 'an open booking counts as arriving now: a window later it still blocks',
      usage: [{ at: 0, segments: 1, openUntil: 30_000 }],
      now: 2000,
      mps: 1,
      segments: 1,
      expect: { ok: false, retryAt: 3000 },
    },
    {
      name: 'a settled booking at the same claim time no longer blocks',
      usage: [{ at: 0, segments: 1, openUntil: null }],
      now: 2000,
      mps: 1,
      segments: 1,
      expect: { ok: true, entries: [{ at: 2000, segments: 1 }] },
    },
    {
      name: 'an open booking past openUntil is pinned there (abandoned submit) and ages out',
      usage: [{ at: 0, segments: 1, openUntil: 500 }],
      now: 2000,
      mps: 1,
      segments: 1,
      expect: { ok: true, entries: [{ at: 2000, segments: 1 }] },
    },
    {
      name: 'pinned at openUntil inside the window: wait until it leaves',
      usage: [{ at: 0, segments: 1, openUntil: 1500 }],
      now: 2000,
      mps: 1,
      segments: 1,
      expect: { ok: false, retryAt: 2500 },
    },
    {
      name: 'open bookings share the window with new ones at mps 3',
      usage: [{ at: 100, segments: 1, openUntil: 9000 }, { at: 200, segments: 1, openUntil: 9000 }],
      now: 1500,
      mps: 3,
      segments: 1,
      expect: { ok: true, entries: [{ at: 1500, segments: 1 }] },
    },
    {
      name: 'open bookings fill the window at mps 2',
      usage: [{ at: 100, segments: 1, openUntil: 9000 }, { at: 200, segments: 1, openUntil: 9000 }],
      now: 1500,
      mps: 2,
      segments: 1,
      expect: { ok: false, retryAt: 2500 },
    },
    {
      name: 'a future chunk of an open long message keeps its own time',
      usage: [{ at: 0, segments: 1, openUntil: 9000 }, { at: 1000, segments: 1, openUntil: 9000 }, { at: 2000, segments: 1, openUntil: 9000 }],
      now: 500,
      mps: 1,
      segments: 1,
      expect: { ok: false, retryAt: 3000 },
    },
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

describe('effectiveAt and settle', () => {
  const cases: { name: string; e: UsageEntry; now: number; expect: number }[] = [
    { name: 'settled: its own time', e: { at: 100, segments: 1 }, now: 5000, expect: 100 },
    { name: 'open: now', e: { at: 100, segments: 1, openUntil: 9000 }, now: 5000, expect: 5000 },
    { name: 'open, lease over: openUntil', e: { at: 100, segments: 1, openUntil: 900 }, now: 5000, expect: 900 },
    { name: 'open future chunk: its own time', e: { at: 7000, segments: 1, openUntil: 9000 }, now: 5000, expect: 7000 },
  ];
  for (const c of cases) it(`effectiveAt: ${c.name}`, () => expect(effectiveAt(c.e, c.now)).toBe(c.expect));

  it('settle moves a message\'s chunks to start at the response time and closes them', () => {
    expect(settle([{ at: 0, segments: 2, openUntil: 9000 }, { at: 1000, segments: 1, openUntil: 9000 }], 300)).toEqual([
      { at: 300, segments: 2 },
      { at: 1300, segments: 1 },
    ]);
  });
  it('settle never moves a booking earlier', () => {
    expect(settle([{ at: 500, segments: 1, openUntil: 9000 }], 200)).toEqual([{ at: 500, segments: 1 }]);
    expect(settle([], 200)).toEqual([]);
  });
});

/**
 * A greedy sender driven by retryAt whose requests are delayed on the wire: each arrives at the carrier some time
 * after its claim and is answered later still. Deterministic pseudo-random delays (LCG).
 */
function simulate(mps: number, strict: boolean, n = 300): UsageEntry[] {
  let seed = 12345 + mps;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let usage: (UsageEntry & { id?: number })[] = [];
  const pending: { id: number; settleAt: number }[] = [];
  const arrivals: UsageEntry[] = [];
  let now = 0;
  let sent = 0;
  const settleDue = () => {
    for (const p of pending.filter((x) => x.settleAt <= now)) {
      pending.splice(pending.indexOf(p), 1);
      if (!strict) continue;
      const mine = usage.filter((e) => e.id === p.id);
      const moved = settle(mine, p.settleAt).map((e) => ({ ...e, id: p.id }));
      usage = [...usage.filter((e) => e.id !== p.id), ...moved];
    }
  };
  for (let guard = 0; sent < n && guard < 100_000; guard++) {
    settleDue();
    const segments = 1 + Math.floor(rnd() * mps);
    const r = reserve(usage, now, W, mps, segments);
    if (!r.ok) {
      // Wake at the store's answer, or earlier when a response comes back (a finished submit wakes the loop).
      const nextSettle = Math.min(...pending.map((p) => p.settleAt));
      now = Math.min(r.retryAt, nextSettle > now ? nextSettle : r.retryAt);
      continue;
    }
    const id = sent++;
    const wire = Math.floor(rnd() * 400); // arrives this long after the claim (CPU load, network)
    const answer = wire + Math.floor(rnd() * 50);
    usage.push(...r.entries.map((e) => ({ ...e, id, ...(strict ? { openUntil: now + 30_000 } : {}) })));
    pending.push({ id, settleAt: now + answer });
    arrivals.push({ at: now + wire, segments });
    usage = prune(usage, now, W) as typeof usage;
  }
  expect(sent).toBe(n);
  return arrivals;
}

describe('strict pacing at the carrier (requests delayed on the wire)', () => {
  for (const mps of [1, 3, 10]) {
    it(`open bookings + settle: no window of arrival times exceeds mps=${mps}`, () => {
      expect(maxWindowSum(simulate(mps, true), W)).toBeLessThanOrEqual(mps);
    });
  }
  it('booking at claim time only (the old rule) does exceed it under the same delays', () => {
    expect(Math.max(...[1, 3, 10].map((mps) => maxWindowSum(simulate(mps, false), W) - mps))).toBeGreaterThan(0);
  });
});

describe('prune', () => {
  it('keeps an open booking until its openUntil has left the window', () => {
    expect(prune([{ at: 0, segments: 1, openUntil: 1500 }, { at: 0, segments: 1, openUntil: 800 }], 2000, W)).toEqual([{ at: 0, segments: 1, openUntil: 1500 }]);
  });
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
