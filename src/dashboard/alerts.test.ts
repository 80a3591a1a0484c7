import { describe, expect, it } from 'vitest';
import { MESSAGE_STATUSES, type MessageStatus } from '../domain/message.ts';
import type { AlertInput } from './alerts.ts';
import { DEFAULT_ALERT_THRESHOLDS, deliveryAlerts, evaluateAlerts } from './alerts.ts';

const counts = (o: Partial<Record<MessageStatus, number>> = {}) => ({ ...Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])), ...o }) as Record<MessageStatus, number>;

/** 23 baseline hours with the same counts, then the current hour. */
function input(baseline: Partial<Record<MessageStatus, number>>, current: Partial<Record<MessageStatus, number>>, over: Partial<AlertInput> = {}): AlertInput {
  const buckets = [...Array.from({ length: 23 }, (_, i) => ({ start: i, counts: counts(baseline) })), { start: 23, counts: counts(current) }];
  return {
    day: { buckets, awaitingCallback: { count: 0, oldestSubmittedAt: null, sample: [] } },
    hour: { webhooks: { received: 0, rejected: 0 } },
    queues: [],
    mps: new Map([['sandbox:+1A', 2]]),
    defaultMps: 1,
    ...over,
  };
}

const kinds = (i: AlertInput) => evaluateAlerts(i).map((a) => `${a.kind}:${a.severity}`);

describe('evaluateAlerts', () => {
  it.each([
    ['quiet', input({ delivered: 10 }, { delivered: 10 }), []],
    ['failure rate doubled above 5%', input({ delivered: 95, failed: 5 }, { delivered: 15, failed: 3, undelivered: 2 }), ['failure_rate_rising:warning']],
    ['half failing is critical', input({ delivered: 100 }, { delivered: 10, failed: 10 }), ['failure_rate_rising:critical']],
    ['too few finished messages to judge', input({ delivered: 100 }, { failed: 19 }), []],
    ['high but not rising', input({ delivered: 80, failed: 20 }, { delivered: 30, failed: 10 }), []],
    ['rising but under 5%', input({ delivered: 1000, failed: 1 }, { delivered: 980, failed: 20 }), []],
  ])('%s', (_name, i, expected) => {
    expect(kinds(i!)).toEqual(expected);
  });

  it('missing callbacks lists the sample ids', () => {
    const i = input({}, {});
    i.day.awaitingCallback = { count: 3, oldestSubmittedAt: 1, sample: ['msg_a', 'msg_b'] };
    const [a] = evaluateAlerts(i);
    expect(a).toMatchObject({ kind: 'callbacks_missing', messageIds: ['msg_a', 'msg_b'] });
    expect(a!.title).toContain(`3 messages without a final status ${DEFAULT_ALERT_THRESHOLDS.callbackMissingMinutes}+ minutes`);
  });

  it('rejected webhooks in the last hour', () => {
    expect(kinds(input({}, {}, { hour: { webhooks: { received: 5, rejected: 1 } } }))).toEqual(['webhook_rejected:critical']);
  });

  it.each([
    [120, []], // exactly 60 s at 2 MPS
    [121, ['sender_backlog:warning']],
    [1_201, ['sender_backlog:critical']],
  ])('backlog of %i segments on a 2 MPS sender', (queuedSegments, expected) => {
    const q = { account: 'sandbox', from: '+1A', queued: 1, queuedSegments, oldestCreatedAt: 0, recentSegments: 0 };
    expect(kinds(input({}, {}, { queues: [q] }))).toEqual(expected);
  });

  it('unknown senders use the default MPS', () => {
    const q = { account: 'other', from: '+1Z', queued: 61, queuedSegments: 61, oldestCreatedAt: 0, recentSegments: 0 };
    expect(kinds(input({}, {}, { queues: [q] }))).toEqual(['sender_backlog:warning']);
  });
});

describe('deliveryAlerts (event deliveries to apps)', () => {
  const NOW = 10 * 3_600_000;
  const sub = (status: 'active' | 'disabled' = 'active') => ({ id: 'sub_1', app: 'crm', url: 'https://crm.example/hook', status, disabledReason: status === 'disabled' ? 'endpoint answered 410 Gone' : null });
  const at = (minAgo: number, outcome: 'delivered' | 'retry' | 'gone' | 'gave_up', httpStatus: number | null = outcome === 'delivered' ? 200 : 500) => ({
    startedAt: NOW - minAgo * 60_000,
    outcome,
    httpStatus,
    error: httpStatus === null ? 'ECONNREFUSED: connect' : null,
    type: 'message.status' as const,
  });
  it.each<[string, ReturnType<typeof sub>, ReturnType<typeof at>[], string[], RegExp | null]>([
    ['no attempts', sub(), [], [], null],
    ['all delivered', sub(), [at(1, 'delivered'), at(5, 'delivered')], [], null],
    ['failing now (retrying)', sub(), [at(1, 'retry'), at(2, 'retry'), at(3, 'delivered')], ['warning'], /2 of 3 event deliveries failed.*Last failure: HTTP 500/],
    ['no answer', sub(), [at(1, 'retry', null)], ['warning'], /Last failure: ECONNREFUSED/],
    ['recovered after retries: quiet', sub(), [at(1, 'delivered'), at(2, 'retry')], [], null],
    ['recovered but one gave up in the window', sub(), [at(1, 'delivered'), at(2, 'gave_up')], ['critical'], /1 given up/],
    ['failures older than the window', sub(), [at(61, 'retry'), at(90, 'gave_up')], [], null],
    ['disabled subscription', sub('disabled'), [], ['critical'], /is disabled[^]*410 Gone/],
  ])('%s', (_label, s, recent, severities, text) => {
    const alerts = deliveryAlerts(NOW, [{ subscription: s, recent }]);
    expect(alerts.map((a) => a.severity)).toEqual(severities);
    for (const a of alerts) {
      expect(a.kind).toBe('event_deliveries_failing');
      expect(a.subscriptionId).toBe('sub_1');
      expect(`${a.title} ${a.detail}`).toMatch(text!);
    }
  });

  it('evaluateAlerts includes them when the input carries the delivery log', () => {
    const i = input({ delivered: 10 }, { delivered: 10 }, { deliveries: { now: NOW, subscriptions: [{ subscription: sub(), recent: [at(1, 'retry')] }] } });
    expect(kinds(i)).toEqual(['event_deliveries_failing:warning']);
  });
});
