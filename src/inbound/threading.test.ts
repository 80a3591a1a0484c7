import { describe, expect, it } from 'vitest';
import { isOutOfHours, resolveThreadOwner, threadKey, type InboundForRouting, type OutOfHoursConfig, type RoutingRule } from './threading.ts';

const CONTACT = '+15551230001';
const SUPPORT = 'acct:+15550000001';
const MKT = 'acct:+15550000002';
const OTHER = 'other:+15550000009';
// Wednesday 2026-01-14 15:00 UTC = 10:00 in New York
const WED_10_NY = Date.UTC(2026, 0, 14, 15);

const rules: RoutingRule[] = [
  { keywordPrefix: 'jobs', app: 'hr' },
  { keywordPrefix: 'PROMO', sender: MKT, app: 'promo-bot' },
  { sender: SUPPORT, app: 'helpdesk' },
  { program: 'marketing', app: 'crm' },
  { sender: 'other:*', app: 'other-app' },
];

function inbound(over: Partial<InboundForRouting> = {}): InboundForRouting {
  return { contact: CONTACT, senderKey: SUPPORT, program: 'default', body: 'hello', receivedAt: WED_10_NY, ...over };
}

describe('resolveThreadOwner', () => {
  const last = new Map([[threadKey(CONTACT, SUPPORT), 'billing']]);
  type Row = [string, InboundForRouting, ReadonlyMap<string, string> | Record<string, string>, string | null, string];
  const rows: Row[] = [
    ['last writer owns the thread', inbound(), last, 'billing', 'last_outbound'],
    ['keyword prefix beats last writer', inbound({ body: 'jobs is the position open?' }), last, 'hr', 'keyword_prefix'],
    ['prefix is case/space-insensitive', inbound({ body: '  JOBS\n apply' }), last, 'hr', 'keyword_prefix'],
    ['prefix must be a whole word', inbound({ body: 'jobsearch' }), last, 'billing', 'last_outbound'],
    ['prefix with sender condition: wrong sender', inbound({ body: 'promo code?' }), last, 'billing', 'last_outbound'],
    ['prefix with sender condition: right sender', inbound({ body: 'promo code?', senderKey: MKT, program: 'marketing' }), last, 'promo-bot', 'keyword_prefix'],
    ['sender rule without thread history', inbound(), new Map(), 'helpdesk', 'sender_rule'],
    ['program rule', inbound({ senderKey: MKT, program: 'marketing' }), {}, 'crm', 'program_rule'],
    ['account wildcard sender rule', inbound({ senderKey: OTHER }), {}, 'other-app', 'sender_rule'],
    ['plain record as last-writer map', inbound({ senderKey: MKT, program: 'marketing' }), { [threadKey(CONTACT, MKT)]: 'newsletter' }, 'newsletter', 'last_outbound'],
    ['thread history is per sender', inbound({ senderKey: MKT, program: 'marketing' }), last, 'crm', 'program_rule'],
    ['thread history is per contact', inbound({ contact: '+15559999999' }), last, 'helpdesk', 'sender_rule'],
    ['nothing matches → fallback', inbound({ senderKey: 'x:+1', program: 'default' }), {}, 'inbox', 'fallback'],
    ['unknown sender → unknown-sender fallback', inbound({ senderKey: null, program: null, body: 'jobs' }), last, 'triage', 'unknown_sender'],
    ['empty body never matches a prefix', inbound({ body: '' }), new Map(), 'helpdesk', 'sender_rule'],
  ];
  it.each(rows)('%s', (_n, msg, lastMap, app, reason) => {
    const r = resolveThreadOwner({ lastOutboundAppByThread: lastMap, routingRules: rules, inbound: msg, fallbackApp: 'inbox', unknownSenderApp: 'triage' });
    expect(r).toMatchObject({ app, reason, autoReply: null });
    expect(r.threadKey).toBe(msg.senderKey === null ? null : `${msg.contact}|${msg.senderKey}`);
  });

  it('unknown sender without its own fallback uses the general fallback', () => {
    const r = resolveThreadOwner({ lastOutboundAppByThread: {}, routingRules: [], inbound: inbound({ senderKey: null }), fallbackApp: 'inbox' });
    expect(r).toMatchObject({ app: 'inbox', reason: 'unknown_sender' });
  });
  it('no fallback configured → null (stored, delivered to nobody)', () => {
    const r = resolveThreadOwner({ lastOutboundAppByThread: {}, routingRules: [], inbound: inbound(), fallbackApp: null });
    expect(r).toMatchObject({ app: null, reason: 'fallback' });
  });

  describe('out of hours', () => {
    const ooh: OutOfHoursConfig = { start: '09:00', end: '17:00', timeZone: 'America/New_York', app: 'night-desk', autoReply: 'We are closed; we reply from 9am ET.' };
    it('inside business hours: normal owner, no auto-reply', () => {
      const r = resolveThreadOwner({ lastOutboundAppByThread: last, routingRules: rules, inbound: inbound(), fallbackApp: 'inbox', outOfHours: ooh });
      expect(r).toMatchObject({ app: 'billing', reason: 'last_outbound', autoReply: null });
    });
    it('outside: the out-of-hours app and auto-reply', () => {
      const r = resolveThreadOwner({ lastOutboundAppByThread: last, routingRules: rules, inbound: inbound({ receivedAt: WED_10_NY + 8 * 3_600_000 }), fallbackApp: 'inbox', outOfHours: ooh });
      expect(r).toMatchObject({ app: 'night-desk', reason: 'out_of_hours', autoReply: ooh.autoReply });
    });
    it('outside, no out-of-hours app: owner kept, auto-reply sent', () => {
      const r = resolveThreadOwner({ lastOutboundAppByThread: last, routingRules: rules, inbound: inbound({ receivedAt: WED_10_NY + 8 * 3_600_000 }), fallbackApp: 'inbox', outOfHours: { ...ooh, app: null } });
      expect(r).toMatchObject({ app: 'billing', reason: 'last_outbound', autoReply: ooh.autoReply });
    });
    it('no auto-reply to an unknown sender (no sender to reply from)', () => {
      const r = resolveThreadOwner({ lastOutboundAppByThread: {}, routingRules: [], inbound: inbound({ senderKey: null, receivedAt: WED_10_NY + 8 * 3_600_000 }), fallbackApp: 'inbox', outOfHours: ooh });
      expect(r.autoReply).toBeNull();
    });
  });
});

describe('isOutOfHours', () => {
  const office = { start: '09:00', end: '17:00', timeZone: 'America/New_York' };
  const night = { start: '22:00', end: '06:00', timeZone: 'Europe/Paris', days: [1, 2, 3, 4, 5] };
  it.each([
    ['Wed 10:00 NY', office, '2026-01-14T15:00:00Z', false],
    ['Wed 08:59 NY', office, '2026-01-14T13:59:00Z', true],
    ['Wed 17:00 NY', office, '2026-01-14T22:00:00Z', true],
    ['Sat 10:00 NY', office, '2026-01-17T15:00:00Z', true],
    ['Mon 09:00 NY in summer (EDT)', office, '2026-07-13T13:00:00Z', false],
    ['night shift Mon 23:00 Paris', night, '2026-01-12T22:00:00Z', false],
    ['night shift Tue 05:00 Paris (started Mon)', night, '2026-01-13T04:00:00Z', false],
    ['night shift Sat 05:00 Paris (started Fri)', night, '2026-01-17T04:00:00Z', false],
    ['night shift Mon 05:00 Paris (Sunday not a shift day)', night, '2026-01-12T04:00:00Z', true],
    ['night shift Wed 12:00 Paris', night, '2026-01-14T11:00:00Z', true],
  ] as const)('%s', (_n, cfg, at, out) => {
    expect(isOutOfHours(Date.parse(at), cfg)).toBe(out);
  });
});
