import { describe, expect, it } from 'vitest';
import { isWhatsAppAddress, normalizePhone } from './phone.ts';

describe('normalizePhone: accepted', () => {
  const cases: { input: string; country: string | null; e164: string; detected: string | null }[] = [
    { input: '+14155550123', country: null, e164: '+14155550123', detected: 'US' },
    { input: '+1 (415) 555-0123', country: null, e164: '+14155550123', detected: 'US' },
    { input: '  +1.415.555.0123  ', country: 'GB', e164: '+14155550123', detected: 'US' },
    { input: '(415) 555-0123', country: 'US', e164: '+14155550123', detected: 'US' },
    { input: '415 555 0123', country: 'us', e164: '+14155550123', detected: 'US' },
    { input: '1 415 555 0123', country: 'US', e164: '+14155550123', detected: 'US' },
    { input: '011 44 20 7183 8750', country: 'US', e164: '+442071838750', detected: 'GB' },
    { input: '020 7183 8750', country: 'GB', e164: '+442071838750', detected: 'GB' },
    { input: '0044 20 7183 8750', country: 'GB', e164: '+442071838750', detected: 'GB' },
    { input: '+44 20 7183 8750', country: 'US', e164: '+442071838750', detected: 'GB' },
    { input: '06 12 34 56 78', country: 'FR', e164: '+33612345678', detected: 'FR' },
    { input: '+8613800138000', country: null, e164: '+8613800138000', detected: 'CN' },
    { input: '+1 800 356 9377', country: null, e164: '+18003569377', detected: 'US' },
    // Twilio magic test numbers (twilio-wire.md §5) must pass: the provider decides what they do.
    { input: '+15005550006', country: null, e164: '+15005550006', detected: 'US' },
    { input: '+15005550001', country: null, e164: '+15005550001', detected: 'US' },
    { input: '+15005550009', country: null, e164: '+15005550009', detected: 'US' },
    { input: '500-555-0004', country: 'US', e164: '+15005550004', detected: 'US' },
    // possible but not valid (area code 555 is not assigned): accepted, no country can be told
    { input: '+1 555 555 5555', country: null, e164: '+15555555555', detected: null },
    // WhatsApp addresses keep their (lower-cased) prefix
    { input: 'whatsapp:+14155550123', country: null, e164: 'whatsapp:+14155550123', detected: 'US' },
    { input: 'WhatsApp:(415) 555-0123', country: 'US', e164: 'whatsapp:+14155550123', detected: 'US' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.input)} in ${c.country ?? 'no default'} → ${c.e164}`, () => {
      expect(normalizePhone(c.input, c.country)).toEqual({ ok: true, e164: c.e164, country: c.detected });
    });
  }
});

describe('normalizePhone: rejected', () => {
  const cases: { name: string; input: string; country: string | null; reason: RegExp }[] = [
    { name: 'empty', input: '', country: 'US', reason: /empty/ },
    { name: 'blank', input: '   ', country: 'US', reason: /empty/ },
    { name: 'plus only', input: '+', country: 'US', reason: /no digits/ },
    { name: 'punctuation only', input: '()-', country: 'US', reason: /no digits/ },
    { name: 'vanity letters', input: '1-800-FLOWERS', country: 'US', reason: /letters/ },
    { name: 'extension', input: '+1 415 555 0123 ext. 12', country: 'US', reason: /letters/ },
    { name: 'words', input: 'call me', country: 'US', reason: /letters/ },
    { name: 'hash', input: '+1 415 555 0123#', country: 'US', reason: /only digits/ },
    { name: 'two plus signs', input: '+1+4155550123', country: null, reason: /only digits/ },
    { name: 'emoji', input: '+1415555\u{1F600}0123', country: null, reason: /only digits/ },
    { name: 'national without a default country', input: '(415) 555-0123', country: null, reason: /E\.164.*no default country/ },
    { name: 'unknown default country', input: '4155550123', country: 'XX', reason: /not a known ISO 3166/ },
    { name: 'too short (E.164)', input: '+1415555012', country: null, reason: /9 digits.*\+1/ },
    { name: 'too long (E.164)', input: '+141555501234', country: null, reason: /11 digits.*\+1/ },
    { name: 'too short (national)', input: '12', country: 'US', reason: /2 digits/ },
    { name: 'local 7-digit number', input: '555-0006', country: 'US', reason: /7 digits/ },
    { name: 'national number in the wrong country', input: '020 7183 8750', country: 'US', reason: /not a possible length/ },
    { name: 'unknown country calling code', input: '+999123456', country: null, reason: /unknown country calling code/ },
    { name: 'country code 0', input: '+0123456789', country: null, reason: /unknown country calling code/ },
    { name: 'absurdly long', input: `+1${'2'.repeat(80)}`, country: null, reason: /longer than 64/ },
    { name: 'whatsapp prefix with nothing after it', input: 'whatsapp:', country: 'US', reason: /empty/ },
    { name: 'whatsapp prefix with junk', input: 'whatsapp:abc', country: 'US', reason: /letters/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = normalizePhone(c.input, c.country);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(c.reason);
    });
  }
});

describe('isWhatsAppAddress', () => {
  it.each([
    ['whatsapp:+14155550123', true],
    ['WHATSAPP:+14155550123', true],
    ['+14155550123', false],
    ['whatsap:+1', false],
  ])('%s → %s', (input, expected) => {
    expect(isWhatsAppAddress(input)).toBe(expected);
  });
});
