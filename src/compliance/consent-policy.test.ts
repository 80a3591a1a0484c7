import { describe, expect, it } from 'vitest';
import type { Category } from '../domain/message.ts';
import {
  applyConsentChange,
  decideConsent,
  emptySnapshot,
  keywordConsentState,
  providerOptOutTypeState,
  replayHistory,
  type ConsentEvent,
  type ConsentSnapshot,
  type ConsentState,
} from './consent-policy.ts';
import type { SendPolicy } from './programs.ts';

const C = '+15551230001';
const P = 'marketing';
const T0 = Date.UTC(2026, 2, 1, 12);

describe('decideConsent', () => {
  const open = { promotionalRequiresOptIn: false, transactionalPolicy: 'allow_unless_opted_out' as SendPolicy, otpPolicy: 'allow_unless_opted_out' as SendPolicy };
  const strict = { promotionalRequiresOptIn: true, transactionalPolicy: 'require_opt_in' as SendPolicy, otpPolicy: 'allow_unless_opted_out' as SendPolicy };
  type Row = [Category, ConsentState, typeof open, 'allow' | 'SB_OPTED_OUT' | 'SB_OPT_IN_REQUIRED'];
  const rows: Row[] = [
    ['promotional', 'unknown', open, 'allow'],
    ['promotional', 'opted_in', open, 'allow'],
    ['promotional', 'opted_out', open, 'SB_OPTED_OUT'],
    ['transactional', 'unknown', open, 'allow'],
    ['transactional', 'opted_out', open, 'SB_OPTED_OUT'],
    ['otp', 'unknown', open, 'allow'],
    ['otp', 'opted_out', open, 'SB_OPTED_OUT'],
    ['promotional', 'unknown', strict, 'SB_OPT_IN_REQUIRED'],
    ['promotional', 'opted_in', strict, 'allow'],
    ['promotional', 'opted_out', strict, 'SB_OPTED_OUT'],
    ['transactional', 'unknown', strict, 'SB_OPT_IN_REQUIRED'],
    ['transactional', 'opted_in', strict, 'allow'],
    ['otp', 'unknown', strict, 'allow'],
    ['otp', 'opted_out', strict, 'SB_OPTED_OUT'],
  ];
  for (const stage of ['accept', 'dispatch'] as const) {
    it.each(rows)(`${stage}: %s / %s → %s (policy %#)`, (category, consent, program, expected) => {
      const d = decideConsent({ category, consent, program, stage });
      if (expected === 'allow') expect(d).toEqual({ allow: true, reason: 'consent' });
      else {
        expect(d).toMatchObject({ allow: false, code: expected, providerCode: expected === 'SB_OPTED_OUT' ? '21610' : null });
        if (!d.allow) expect(d.message).toContain(stage === 'accept' ? 'at accept' : 'before submission');
      }
    });
  }

  describe('keyword auto-replies', () => {
    type KRow = [string, 'opt_out' | 'opt_in' | 'help', ConsentState, string | null, string | null, boolean];
    const krows: KRow[] = [
      ['opt-out confirmation of the current opt-out', 'opt_out', 'opted_out', 'ev1', 'ev1', true],
      ['opt-out confirmation of an older opt-out', 'opt_out', 'opted_out', 'ev1', 'ev3', false],
      ['opt-out confirmation without event id', 'opt_out', 'opted_out', null, null, false],
      ['opt-out confirmation after the contact opted back in', 'opt_out', 'opted_in', 'ev1', 'ev2', true],
      ['help reply to an unknown contact under require_opt_in', 'help', 'unknown', null, null, true],
      ['help reply to an opted-out contact', 'help', 'opted_out', null, 'ev1', false],
      ['opt-in confirmation', 'opt_in', 'opted_in', 'ev2', 'ev2', true],
      ['opt-in confirmation after a newer STOP', 'opt_in', 'opted_out', 'ev2', 'ev3', false],
    ];
    it.each(krows)('%s', (_n, kind, consent, confirms, current, allowed) => {
      const d = decideConsent({
        category: 'transactional',
        consent,
        program: strict,
        stage: 'dispatch',
        isKeywordReply: { kind, confirmsEventId: confirms },
        consentEventId: current,
      });
      expect(d.allow).toBe(allowed);
      if (!allowed) expect(d).toMatchObject({ code: 'SB_OPTED_OUT' });
    });
  });
});

function ev(state: ConsentState, at: number, over: Partial<ConsentEvent> = {}): ConsentEvent {
  return {
    id: `e${at}`,
    contact: C,
    program: P,
    state,
    source: 'inbound_keyword',
    at,
    evidence: { inboundMessageId: 'in1', keyword: state === 'opted_out' ? 'STOP' : 'START' },
    ...over,
  };
}

describe('applyConsentChange', () => {
  it('first STOP moves unknown → opted_out', () => {
    const r = applyConsentChange(null, ev('opted_out', T0));
    expect(r).toEqual({
      accepted: true,
      changed: true,
      next: { contact: C, program: P, state: 'opted_out', since: T0, source: 'inbound_keyword', eventId: `e${T0}` },
    });
  });

  const out: ConsentSnapshot = { contact: C, program: P, state: 'opted_out', since: T0, source: 'inbound_keyword', eventId: 'e1' };
  const apiIn: ConsentSnapshot = { ...out, state: 'opted_in', source: 'api' };
  type Row = [string, ConsentSnapshot | null, ConsentEvent, 'changed' | 'same' | 'SB_CONSENT_EVIDENCE_REQUIRED' | 'SB_VALIDATION', ConsentState];
  const rows: Row[] = [
    ['START after STOP', out, ev('opted_in', T0 + 1), 'changed', 'opted_in'],
    ['second STOP keeps evidence, no change', out, ev('opted_out', T0 + 1), 'same', 'opted_out'],
    ['older event is history only', out, ev('opted_in', T0 - 1), 'same', 'opted_out'],
    ['API opt-in over a keyword STOP without evidence', out, ev('opted_in', T0 + 1, { source: 'api', evidence: { keyId: 'k1' } }), 'SB_CONSENT_EVIDENCE_REQUIRED', 'opted_out'],
    ['API opt-in over a keyword STOP with a note', out, ev('opted_in', T0 + 1, { source: 'api', evidence: { keyId: 'k1', note: 'signed web form 2026-03-02' } }), 'changed', 'opted_in'],
    ['import opt-in over a STOP with raw row', out, ev('opted_in', T0 + 1, { source: 'import', evidence: { raw: { row: 7 } } }), 'changed', 'opted_in'],
    ['dashboard opt-out needs no evidence', apiIn, ev('opted_out', T0 + 1, { source: 'dashboard', evidence: {} }), 'changed', 'opted_out'],
    ['api reset to unknown', apiIn, ev('unknown', T0 + 1, { source: 'api', evidence: { keyId: 'k' } }), 'changed', 'unknown'],
    ['keyword cannot reset to unknown', apiIn, ev('unknown', T0 + 1), 'SB_VALIDATION', 'opted_in'],
    ['import cannot reset to unknown', apiIn, ev('unknown', T0 + 1, { source: 'import', evidence: {} }), 'SB_VALIDATION', 'opted_in'],
    ['keyword without inbound message', null, ev('opted_out', T0, { evidence: { keyword: 'STOP' } }), 'SB_VALIDATION', 'unknown'],
    ['another contact', out, ev('opted_in', T0 + 1, { contact: '+15550000000' }), 'SB_VALIDATION', 'opted_out'],
    ['bad time', null, ev('opted_in', Number.NaN), 'SB_VALIDATION', 'unknown'],
    ['provider STOP after api opt-in', apiIn, ev('opted_out', T0 + 1, { source: 'provider', evidence: { raw: { errorCode: '21610' } } }), 'changed', 'opted_out'],
    ['old import opt-in cannot beat a newer STOP even without evidence', out, ev('opted_in', T0 - 5, { source: 'import', evidence: {} }), 'same', 'opted_out'],
  ];
  it.each(rows)('%s', (_n, current, change, expected, state) => {
    const r = applyConsentChange(current, change);
    if (expected === 'changed' || expected === 'same') {
      expect(r.accepted).toBe(true);
      if (r.accepted) expect(r.changed).toBe(expected === 'changed');
    } else {
      expect(r).toMatchObject({ accepted: false, code: expected });
    }
    expect(r.next.state).toBe(state);
  });

  it('replayHistory is order-independent and matches incremental application', () => {
    const events = [
      ev('opted_out', T0 + 10, { seq: 1 }),
      ev('opted_in', T0 + 20, { seq: 2 }),
      ev('opted_in', T0 + 5, { seq: 3, source: 'import', evidence: { raw: { row: 1 } } }),
      ev('opted_out', T0 + 30, { seq: 4, source: 'provider', evidence: { raw: { OptOutType: 'STOP' } } }),
    ];
    const a = replayHistory(C, P, events);
    const b = replayHistory(C, P, [...events].reverse());
    expect(a).toEqual(b);
    expect(a).toMatchObject({ state: 'opted_out', since: T0 + 30, source: 'provider' });
    expect(replayHistory(C, P, [])).toEqual(emptySnapshot(C, P));
  });
});

describe('keyword and provider mapping', () => {
  it.each([
    ['opt_out', 'opted_out'],
    ['opt_in', 'opted_in'],
    ['help', null],
    ['none', null],
  ] as const)('keyword %s → %s', (k, s) => expect(keywordConsentState(k)).toBe(s));
  it.each([
    ['STOP', 'opted_out'],
    ['start', 'opted_in'],
    ['HELP', null],
    ['', null],
    [undefined, null],
  ] as const)('OptOutType %s → %s', (t, s) => expect(providerOptOutTypeState(t)).toBe(s));
});
