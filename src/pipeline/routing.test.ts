import { describe, expect, it } from 'vitest';
import { type Config, type SenderConfig, type TwilioAccountConfig, defaultConfig } from '../config/schema.ts';
import type { Category } from '../domain/message.ts';
import { type Channel, pickSender, route, senderAddress } from './routing.ts';

function account(name: string, senders: SenderConfig[]): TwilioAccountConfig {
  return {
    name,
    provider: 'twilio',
    baseUrl: 'http://127.0.0.1:1/sandbox',
    accountSid: `AC${name.padEnd(32, '0').slice(0, 32)}`,
    authToken: 'token',
    apiKeySid: null,
    apiKeySecret: null,
    senders,
  };
}

/** sandbox (default): long code, toll-free, short code; billing: a long code; marketing: short code + WhatsApp; empty: none. */
function config(): Config {
  const cfg = defaultConfig();
  cfg.accounts.push(
    account('billing', [{ from: '+14155550100', type: 'long_code', mps: 1 }]),
    account('marketing', [
      { from: '+14155550200', type: 'long_code', mps: 1 },
      { from: '+14155550201', type: 'whatsapp', mps: 80 },
      { from: '77777', type: 'short_code', mps: 100 },
    ]),
    account('alpha', [{ from: 'ACME', type: 'alphanumeric', mps: 10 }]),
    account('empty', []),
  );
  cfg.routing.byKey = { 'billing-app': 'billing', 'ghost-app': 'nowhere' };
  return cfg;
}

type Key = { name: string; account: string | null };
type Expected = { ok: true; account: string; from: string } | { ok: false; code: 'SB_SENDER_UNKNOWN' | 'SB_NO_ROUTE'; field?: string };

const anon: Key = { name: 'some-app', account: null };

const cases: { name: string; key: Key; from?: string; category?: Category; channel?: Channel; cfg?: (c: Config) => void; expect: Expected }[] = [
  // account selection without from
  { name: 'unbound key → default account, first sender', key: anon, expect: { ok: true, account: 'sandbox', from: '+15005550006' } },
  { name: 'routing.byKey maps the key name', key: { name: 'billing-app', account: null }, expect: { ok: true, account: 'billing', from: '+14155550100' } },
  { name: 'key.account wins over routing.byKey', key: { name: 'billing-app', account: 'marketing' }, expect: { ok: true, account: 'marketing', from: '+14155550200' } },
  { name: 'key.account set directly', key: { name: 'x', account: 'alpha' }, expect: { ok: true, account: 'alpha', from: 'ACME' } },
  { name: 'byKey names a missing account → SB_NO_ROUTE', key: { name: 'ghost-app', account: null }, expect: { ok: false, code: 'SB_NO_ROUTE' } },
  { name: 'key.account names a missing account → SB_NO_ROUTE', key: { name: 'x', account: 'nowhere' }, expect: { ok: false, code: 'SB_NO_ROUTE' } },
  {
    name: 'default account missing → SB_NO_ROUTE',
    key: anon,
    cfg: (c) => {
      c.routing.defaultAccount = 'gone';
    },
    expect: { ok: false, code: 'SB_NO_ROUTE' },
  },
  { name: 'account without senders → SB_NO_ROUTE', key: { name: 'x', account: 'empty' }, expect: { ok: false, code: 'SB_NO_ROUTE' } },
  { name: 'byKey does not match a key name via the prototype', key: { name: 'toString', account: null }, expect: { ok: true, account: 'sandbox', from: '+15005550006' } },
  // sender by category
  { name: 'otp → first SMS sender', key: anon, category: 'otp', expect: { ok: true, account: 'sandbox', from: '+15005550006' } },
  { name: 'promotional → short code when configured', key: anon, category: 'promotional', expect: { ok: true, account: 'sandbox', from: '55501' } },
  { name: 'promotional without a short code → first sender', key: { name: 'billing-app', account: null }, category: 'promotional', expect: { ok: true, account: 'billing', from: '+14155550100' } },
  { name: 'promotional never picks WhatsApp for SMS', key: { name: 'x', account: 'marketing' }, category: 'promotional', expect: { ok: true, account: 'marketing', from: '77777' } },
  // WhatsApp
  { name: 'WhatsApp recipient → WhatsApp sender, prefixed', key: { name: 'x', account: 'marketing' }, channel: 'whatsapp', expect: { ok: true, account: 'marketing', from: 'whatsapp:+14155550201' } },
  { name: 'WhatsApp recipient, account without WhatsApp → SB_NO_ROUTE field to', key: anon, channel: 'whatsapp', expect: { ok: false, code: 'SB_NO_ROUTE', field: 'to' } },
  // explicit from
  { name: 'explicit from in the default account', key: anon, from: '+18005550100', expect: { ok: true, account: 'sandbox', from: '+18005550100' } },
  { name: 'explicit from picks the owning account for an unbound key', key: anon, from: '+14155550100', expect: { ok: true, account: 'billing', from: '+14155550100' } },
  { name: 'explicit from matches after E.164 normalisation', key: anon, from: '+1 (415) 555-0100', expect: { ok: true, account: 'billing', from: '+14155550100' } },
  { name: 'explicit short code', key: anon, from: '77777', expect: { ok: true, account: 'marketing', from: '77777' } },
  { name: 'explicit alphanumeric sender', key: anon, from: 'ACME', expect: { ok: true, account: 'alpha', from: 'ACME' } },
  { name: 'alphanumeric ids are case-sensitive', key: anon, from: 'acme', expect: { ok: false, code: 'SB_SENDER_UNKNOWN', field: 'from' } },
  { name: 'explicit from overrides the category rule', key: anon, from: '+15005550006', category: 'promotional', expect: { ok: true, account: 'sandbox', from: '+15005550006' } },
  { name: 'unknown from → SB_SENDER_UNKNOWN', key: anon, from: '+19995550000', expect: { ok: false, code: 'SB_SENDER_UNKNOWN', field: 'from' } },
  { name: 'bound key cannot use another account\u2019s sender', key: { name: 'billing-app', account: null }, from: '+15005550006', expect: { ok: false, code: 'SB_SENDER_UNKNOWN', field: 'from' } },
  { name: 'bound key uses its own sender', key: { name: 'billing-app', account: null }, from: '+14155550100', expect: { ok: true, account: 'billing', from: '+14155550100' } },
  { name: 'bound key to a missing account with from → SB_NO_ROUTE', key: { name: 'ghost-app', account: null }, from: '+14155550100', expect: { ok: false, code: 'SB_NO_ROUTE' } },
  { name: 'whatsapp: from for a WhatsApp recipient', key: anon, from: 'whatsapp:+14155550201', channel: 'whatsapp', expect: { ok: true, account: 'marketing', from: 'whatsapp:+14155550201' } },
  { name: 'bare number of a WhatsApp sender for a WhatsApp recipient', key: anon, from: '+14155550201', channel: 'whatsapp', expect: { ok: true, account: 'marketing', from: 'whatsapp:+14155550201' } },
  { name: 'WhatsApp sender for an SMS recipient → SB_SENDER_UNKNOWN', key: anon, from: 'whatsapp:+14155550201', expect: { ok: false, code: 'SB_SENDER_UNKNOWN', field: 'from' } },
  { name: 'SMS sender for a WhatsApp recipient → SB_SENDER_UNKNOWN', key: anon, from: '+14155550200', channel: 'whatsapp', expect: { ok: false, code: 'SB_SENDER_UNKNOWN', field: 'from' } },
  { name: 'whatsapp: prefix never matches an SMS sender', key: anon, from: 'whatsapp:+14155550100', channel: 'whatsapp', expect: { ok: false, code: 'SB_SENDER_UNKNOWN', field: 'from' } },
  {
    name: 'a sender in two accounts: the default account wins',
    key: anon,
    from: '+14155550100',
    cfg: (c) => {
      c.accounts[0]!.senders.push({ from: '+14155550100', type: 'long_code', mps: 1 });
    },
    expect: { ok: true, account: 'sandbox', from: '+14155550100' },
  },
  {
    name: 'same number as SMS and WhatsApp sender: channel decides',
    key: anon,
    from: '+14155550200',
    channel: 'whatsapp',
    cfg: (c) => {
      c.accounts[2]!.senders.push({ from: 'whatsapp:+14155550200', type: 'whatsapp', mps: 80 });
    },
    expect: { ok: true, account: 'marketing', from: 'whatsapp:+14155550200' },
  },
];

describe('route', () => {
  for (const c of cases) {
    it(c.name, () => {
      const cfg = config();
      c.cfg?.(cfg);
      const r = route(cfg, c.key, c.from, { category: c.category, channel: c.channel });
      if (c.expect.ok) {
        expect(r.ok, r.ok ? '' : r.reason).toBe(true);
        if (r.ok) expect({ ok: true, account: r.account.name, from: senderAddress(r.sender) }).toEqual(c.expect);
      } else {
        expect(r).toMatchObject({ ok: false, code: c.expect.code });
        if (!r.ok) {
          expect(r.field).toBe(c.expect.field);
          expect(r.reason.length).toBeGreaterThan(0);
        }
      }
    });
  }
});

describe('pickSender', () => {
  const s = (from: string, type: SenderConfig['type']): SenderConfig => ({ from, type, mps: 1 });
  const senders = [s('W', 'whatsapp'), s('T', 'toll_free'), s('S', 'short_code'), s('L', 'long_code')];
  it.each([
    ['otp', 'sms', 'T'],
    ['transactional', 'sms', 'T'],
    ['promotional', 'sms', 'S'],
    ['otp', 'whatsapp', 'W'],
    ['promotional', 'whatsapp', 'W'],
  ] as const)('%s over %s → %s', (category, channel, from) => {
    expect(pickSender(senders, category, channel)?.from).toBe(from);
  });
  it('no suitable sender → undefined', () => {
    expect(pickSender([s('W', 'whatsapp')], 'otp', 'sms')).toBeUndefined();
    expect(pickSender([s('L', 'long_code')], 'otp', 'whatsapp')).toBeUndefined();
  });
});
