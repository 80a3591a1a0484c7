import { describe, expect, it } from 'vitest';
import { APP_EVENT_TYPES, isAppEventType } from './types.ts';
import { baseDelayAfter, classifyDeliveryResponse, GIVE_UP_AFTER_MS, nextDeliveryAttempt } from './retry-policy.ts';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const T0 = Date.UTC(2026, 0, 1);

describe('baseDelayAfter', () => {
  it.each([
    [1, 30 * S],
    [2, 1 * M],
    [3, 5 * M],
    [4, 15 * M],
    [5, 1 * H],
    [6, 2 * H],
    [20, 2 * H],
  ])('after attempt %i → %i ms', (n, ms) => expect(baseDelayAfter(n)).toBe(ms));
  it.each([0, -1, 1.5])('rejects attempt %s', (n) => expect(() => baseDelayAfter(n)).toThrow(RangeError));
});

describe('nextDeliveryAttempt', () => {
  function schedule(random: number): number[] {
    const times = [T0];
    for (let attempt = 1; attempt < 100; attempt++) {
      const next = nextDeliveryAttempt(attempt, T0, times[times.length - 1]!, random);
      if (next === null) return times;
      times.push(next);
    }
    throw new Error('never gave up');
  }

  it('without jitter: 30 s, 1 m, 5 m, 15 m, 1 h, then every 2 h up to 26 h', () => {
    const times = schedule(0.5).map((t) => t - T0);
    expect(times.slice(0, 7)).toEqual([0, 30 * S, 90 * S, 390 * S, 1290 * S, 1290 * S + H, 1290 * S + 3 * H]);
    expect(times[times.length - 1]).toBe(GIVE_UP_AFTER_MS); // last retry clamped to the 26 h deadline
    expect(times.length).toBe(19);
  });

  it.each([0, 0.5, 0.999999, 1])('keeps retrying for at least 24 h whatever the jitter (random=%s)', (r) => {
    const times = schedule(r);
    expect(times[times.length - 1]! - T0).toBeGreaterThanOrEqual(24 * H);
    expect(times[times.length - 1]! - T0).toBeLessThanOrEqual(GIVE_UP_AFTER_MS);
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!);
  });

  it.each([
    [0, 24 * S],
    [0.5, 30 * S],
    [0.999999, 36 * S],
    [-3, 24 * S],
  ])('jitter bounds (random=%s → %i ms)', (r, delay) => {
    expect(nextDeliveryAttempt(1, T0, T0, r)).toBe(T0 + delay);
  });

  it('gives up once the first attempt is 26 h old', () => {
    expect(nextDeliveryAttempt(10, T0, T0 + 26 * H, 0.5)).toBeNull();
    expect(nextDeliveryAttempt(10, T0, T0 + 30 * H, 0.5)).toBeNull();
    expect(nextDeliveryAttempt(10, T0, T0 + 26 * H - 1, 0.5)).toBe(T0 + 26 * H);
  });
});

describe('classifyDeliveryResponse', () => {
  it.each([
    [200, 'delivered'],
    [204, 'delivered'],
    [299, 'delivered'],
    [301, 'retry'],
    [400, 'retry'],
    [410, 'gone'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
    [null, 'retry'],
  ] as const)('%s → %s', (status, outcome) => expect(classifyDeliveryResponse(status)).toBe(outcome));
});

describe('event types', () => {
  it('lists the documented types', () => {
    expect(APP_EVENT_TYPES).toEqual(['message.status', 'message.received', 'contact.opted_out', 'contact.opted_in', 'contact.help']);
    expect(isAppEventType('contact.help')).toBe(true);
    expect(isAppEventType('contact.deleted')).toBe(false);
    expect(isAppEventType(1)).toBe(false);
  });
});
