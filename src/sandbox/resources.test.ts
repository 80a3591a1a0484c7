import { describe, expect, it } from 'vitest';
import { ManualClock } from '../domain/clock.ts';
import { TwilioApiError, seededRandom } from './format.ts';
import { dateSentRange, pageRequest, slicePage, v2010Page } from './resources.ts';
import { DueQueue } from './scheduler.ts';

const items = ['a', 'b', 'c', 'd', 'e'];
const id = (x: string) => x;

describe('pageRequest', () => {
  it.each([
    ['', { pageSize: 50, page: 0, pageToken: null }],
    ['PageSize=2&Page=3&PageToken=PAx', { pageSize: 2, page: 3, pageToken: 'PAx' }],
    ['PageSize=5000', { pageSize: 1000, page: 0, pageToken: null }],
  ])('%s', (q, expected) => expect(pageRequest(new URLSearchParams(q))).toEqual(expected));
  it.each(['PageSize=0', 'PageSize=abc', 'Page=-1'])('%s → 400', (q) => {
    expect(() => pageRequest(new URLSearchParams(q))).toThrow(TwilioApiError);
  });
});

describe('slicePage', () => {
  it.each([
    [{ pageSize: 2, page: 0, pageToken: null }, ['a', 'b'], true, false],
    [{ pageSize: 2, page: 1, pageToken: 'PAb' }, ['c', 'd'], true, true],
    [{ pageSize: 2, page: 2, pageToken: 'PAd' }, ['e'], false, true],
    [{ pageSize: 2, page: 0, pageToken: 'PBc' }, ['a', 'b'], true, false],
    [{ pageSize: 2, page: 2, pageToken: null }, ['e'], false, true],
    [{ pageSize: 10, page: 0, pageToken: null }, items, false, false],
  ])('%j', (req, page, hasNext, hasPrev) => {
    expect(slicePage(items, id, req)).toEqual({ pageItems: page, hasNext, hasPrev });
  });
  it('a token naming a vanished item is located by the caller, else rejected', () => {
    expect(slicePage(items, id, { pageSize: 2, page: 1, pageToken: 'PAzz' }, () => 3).pageItems).toEqual(['d', 'e']);
    expect(() => slicePage(items, id, { pageSize: 2, page: 1, pageToken: 'PAzz' })).toThrow(TwilioApiError);
    expect(() => slicePage(items, id, { pageSize: 2, page: 1, pageToken: 'garbage' })).toThrow(TwilioApiError);
  });
  it('envelope: start/end inclusive, relative encoded URIs', () => {
    const env = v2010Page('things', '/x.json', [['To', '+1 2']], { pageSize: 2, page: 1, pageToken: 'PAb' }, items, id, (x) => x);
    expect(env).toEqual({
      things: ['c', 'd'],
      start: 2,
      end: 3,
      page: 1,
      page_size: 2,
      uri: '/x.json?To=%2B1+2&PageSize=2&Page=1&PageToken=PAb',
      first_page_uri: '/x.json?To=%2B1+2&PageSize=2&Page=0',
      next_page_uri: '/x.json?To=%2B1+2&PageSize=2&Page=2&PageToken=PAd',
      previous_page_uri: '/x.json?To=%2B1+2&PageSize=2&Page=0&PageToken=PBc',
    });
  });
});

describe('dateSentRange', () => {
  const D = (s: string) => Date.parse(s);
  it.each([
    ['DateSent=2026-01-02', { sentAfter: D('2026-01-02T00:00:00Z'), sentBefore: D('2026-01-03T00:00:00Z') }],
    ['DateSent=2026-01-02T00:00:00Z', { sentAfter: D('2026-01-02T00:00:00Z'), sentBefore: D('2026-01-03T00:00:00Z') }],
    ['DateSent%3C=2026-01-02', { sentBefore: D('2026-01-03T00:00:00Z') }],
    ['DateSent%3C=2026-01-02T10:00:00Z', { sentBefore: D('2026-01-02T10:00:01Z') }],
    ['DateSent%3E=2026-01-02', { sentAfter: D('2026-01-02T00:00:00Z') }],
  ])('%s', (q, expected) => expect(dateSentRange(new URLSearchParams(q))).toEqual(expected));
  it('bad dates → 400', () => expect(() => dateSentRange(new URLSearchParams('DateSent=yesterday'))).toThrow(TwilioApiError));
});

describe('DueQueue', () => {
  it('runs tasks in (due time, insertion) order, only when due, with `current` = the due time', () => {
    const clock = new ManualClock(1_000);
    const q = new DueQueue(clock, { mode: 'poll', pollMs: 60_000 });
    const ran: string[] = [];
    q.at(3_000, () => ran.push(`c@${q.current}`));
    q.at(2_000, () => {
      ran.push(`a@${q.current}`);
      q.at(2_500, () => ran.push(`b@${q.current}`)); // scheduled while running, due within this run
    });
    q.at(2_000, () => ran.push(`a2@${q.current}`));
    expect(q.runDue()).toBe(0);
    clock.set(2_999);
    expect(q.runDue()).toBe(3);
    expect(ran).toEqual(['a@2000', 'a2@2000', 'b@2500']);
    expect(q.nextAt()).toBe(3_000);
    expect(q.current).toBeNull();
    q.stop();
    clock.set(10_000);
    expect(q.runDue()).toBe(0);
  });

  it('keeps (due time, insertion) order over many tasks added out of order, some with equal times', () => {
    const clock = new ManualClock(0);
    const q = new DueQueue(clock, { mode: 'poll', pollMs: 60_000 });
    const random = seededRandom(7);
    const added: { at: number; i: number }[] = [];
    const ran: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      const at = Math.floor(random() * 300); // many ties
      added.push({ at, i });
      q.at(at, () => ran.push(i));
    }
    expect(q.size()).toBe(2_000);
    clock.set(149);
    q.runDue();
    clock.set(300);
    q.runDue();
    const expected = added.sort((a, b) => a.at - b.at || a.i - b.i).map((x) => x.i);
    expect(ran).toEqual(expected);
    expect(q.size()).toBe(0);
    expect(q.nextAt()).toBeNull();
    q.stop();
  });
});
