import { describe, expect, it } from 'vitest';
import type { UsageEntry } from '../../dispatch/rate-limit.ts';
import { claimOrder, planClaims, type PlanInput, type QueueHead } from './claim-plan.ts';

const W = 1_000;
const NOW = 10_000;

let nextSeq = 1;
function head(id: string, senderKey: string, priority: number, createdAt: number, segments = 1, seq = nextSeq++): QueueHead {
  return { id, senderKey, priority, createdAt, seq, segments };
}

function plan(over: Partial<PlanInput> & { heads: QueueHead[] }, rates: Record<string, number> = {}) {
  return planClaims({
    usage: new Map(),
    truncated: new Set(),
    now: NOW,
    windowMs: W,
    mpsOf: (k) => rates[k] ?? 10,
    max: 100,
    ...over,
  });
}

describe('claimOrder', () => {
  it.each([
    ['higher priority first', head('b', 's', 9, 5), head('a', 's', 1, 1), -1],
    ['same priority: older first', head('b', 's', 5, 1), head('a', 's', 5, 2), -1],
    ['same priority and age: first inserted first, whatever the ids', head('z', 's', 5, 1, 1, 10), head('a', 's', 5, 1, 1, 11), -1],
    ['equal', head('a', 's', 5, 1, 1, 7), head('a', 't', 5, 1, 1, 7), 0],
  ])('%s', (_label, a, b, sign) => {
    expect(Math.sign(claimOrder(a, b))).toBe(sign);
    expect(Math.sign(claimOrder(b, a))).toBe(-sign || 0);
  });
});

describe('planClaims', () => {
  const cases: {
    label: string;
    heads: QueueHead[];
    usage?: Record<string, UsageEntry[]>;
    rates?: Record<string, number>;
    truncated?: string[];
    max?: number;
    claims: string[];
    wakes: number[];
  }[] = [
    { label: 'nothing to plan', heads: [], claims: [], wakes: [] },
    {
      label: 'global order across senders',
      heads: [head('p', 'A', 1, 1), head('t', 'B', 5, 2), head('o', 'C', 9, 3), head('x', 'A', 7, 4)],
      claims: ['o', 'x', 't', 'p'],
      wakes: [],
    },
    {
      label: 'max cuts in global order and says more is claimable now',
      heads: [head('p', 'A', 1, 1), head('t', 'B', 5, 2), head('o', 'C', 9, 3)],
      max: 2,
      claims: ['o', 't'],
      wakes: [NOW],
    },
    {
      label: 'window full: sender closed, wake when it opens',
      heads: [head('a1', 'A', 5, 1), head('a2', 'A', 5, 2), head('b1', 'B', 5, 3)],
      usage: { A: [{ at: NOW - 400, segments: 2 }] },
      rates: { A: 2 },
      claims: ['b1'],
      wakes: [NOW - 400 + W],
    },
    {
      label: 'strict priority: a head that does not fit blocks smaller work behind it',
      heads: [head('big', 'A', 9, 1, 3), head('small', 'A', 1, 2, 1)],
      usage: { A: [{ at: NOW - 100, segments: 1 }] },
      rates: { A: 3 },
      claims: [],
      wakes: [NOW - 100 + W],
    },
    {
      label: 'a long message books consecutive windows and blocks the next one',
      heads: [head('long', 'A', 5, 1, 3), head('next', 'A', 5, 2, 1)],
      rates: { A: 1 },
      claims: ['long'],
      wakes: [NOW + 3 * W],
    },
    {
      label: 'truncated sender fully taken: wake when its window reopens',
      heads: [head('a1', 'A', 5, 1), head('a2', 'A', 5, 2)],
      rates: { A: 2 },
      truncated: ['A'],
      claims: ['a1', 'a2'],
      wakes: [NOW + W],
    },
    {
      label: 'untruncated sender fully taken: nothing more to wait for',
      heads: [head('a1', 'A', 5, 1), head('a2', 'A', 5, 2)],
      rates: { A: 2 },
      claims: ['a1', 'a2'],
      wakes: [],
    },
  ];

  it.each(cases)('$label', ({ heads, usage, rates, truncated, max, claims, wakes }) => {
    const u = new Map(Object.entries(usage ?? {}));
    const before = JSON.stringify([...u]);
    const out = plan({ heads, usage: u, truncated: new Set(truncated ?? []), max: max ?? 100 }, rates);
    expect(out.claims.map((c) => c.head.id)).toEqual(claims);
    expect(out.wakes).toEqual(wakes);
    expect(JSON.stringify([...u])).toBe(before); // input usage untouched
  });

  it('books entries exactly as rate-limit reserve would (chunks one window apart)', () => {
    const out = plan({ heads: [head('m', 'A', 5, 1, 5)] }, { A: 2 });
    expect(out.claims[0]!.entries).toEqual([
      { at: NOW, segments: 2 },
      { at: NOW + W, segments: 2 },
      { at: NOW + 2 * W, segments: 1 },
    ]);
  });
});
