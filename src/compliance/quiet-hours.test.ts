import { describe, expect, it } from 'vitest';
import type { Category } from '../domain/message.ts';
import { COUNTRY_ZONES } from './country-zones.ts';
import { NANP_AREA_ZONES } from './nanp-zones.ts';
import type { QuietHoursConfig } from './programs.ts';
import {
  countryAllowed,
  inQuietWindow,
  nextAllowedInZone,
  nextAllowedSendTime,
  PRIMARY_ZONE,
  recipientCountry,
  recipientZones,
  wallClock,
} from './quiet-hours.ts';

const iso = (s: string) => Date.parse(s);
const NY = '+12125550123';
const LA = '+13105550123';
const PANHANDLE = '+18505550123'; // Eastern + Central
const TOLL_FREE = '+18005550100'; // US, non-geographic
const LONDON = '+442071838750';
const MOSCOW = '+79161234567';
const AU_MOBILE = '+61412345678';
const night: QuietHoursConfig = { start: '21:00', end: '08:00', appliesTo: ['promotional'] };

describe('nextAllowedSendTime', () => {
  type Row = [name: string, to: string, now: string, quiet: QuietHoursConfig, expected: string];
  const rows: Row[] = [
    ['afternoon in New York is allowed', NY, '2026-01-15T19:00:00Z', night, '2026-01-15T19:00:00Z'],
    ['22:30 EST waits for 08:00 EST', NY, '2026-01-16T03:30:00Z', night, '2026-01-16T13:00:00Z'],
    ['06:00 EST waits for 08:00 the same day', NY, '2026-01-16T11:00:00Z', night, '2026-01-16T13:00:00Z'],
    ['exactly 21:00 is quiet', NY, '2026-01-16T02:00:00Z', night, '2026-01-16T13:00:00Z'],
    ['exactly 08:00 is allowed', NY, '2026-01-16T13:00:00Z', night, '2026-01-16T13:00:00Z'],
    ['20:59:59 is allowed', NY, '2026-01-16T01:59:59Z', night, '2026-01-16T01:59:59Z'],
    ['spring forward: 08:00 EDT is 12:00Z', NY, '2026-03-08T04:00:00Z', night, '2026-03-08T12:00:00Z'],
    ['fall back: 08:00 EST is 13:00Z', NY, '2026-11-01T03:00:00Z', night, '2026-11-01T13:00:00Z'],
    ['end inside the DST gap resolves to the transition', NY, '2026-03-08T06:00:00Z', { start: '00:00', end: '02:30', appliesTo: ['promotional'] }, '2026-03-08T07:00:00Z'],
    ['end in the overlap, first pass (EDT)', NY, '2026-11-01T04:30:00Z', { start: '00:00', end: '01:30', appliesTo: ['promotional'] }, '2026-11-01T05:30:00Z'],
    ['end in the overlap, second pass (EST)', NY, '2026-11-01T06:10:00Z', { start: '00:00', end: '01:30', appliesTo: ['promotional'] }, '2026-11-01T06:30:00Z'],
    ['same instant, Los Angeles is still allowed', LA, '2026-01-16T03:30:00Z', night, '2026-01-16T03:30:00Z'],
    ['Los Angeles at 23:00 PST waits for 08:00 PST', LA, '2026-01-16T07:00:00Z', night, '2026-01-16T16:00:00Z'],
    ['straddling area code waits for Central 08:00', PANHANDLE, '2026-01-16T13:30:00Z', night, '2026-01-16T14:00:00Z'],
    ['non-geographic US number waits for Hawaii 08:00', TOLL_FREE, '2026-01-16T14:00:00Z', night, '2026-01-16T18:00:00Z'],
    ['non-wrapping lunch window in London (BST)', LONDON, '2026-07-01T11:30:00Z', { start: '12:00', end: '13:00', appliesTo: ['promotional'] }, '2026-07-01T12:00:00Z'],
    ['London spring forward: 08:00 BST is 07:00Z', LONDON, '2026-03-28T22:00:00Z', night, '2026-03-29T07:00:00Z'],
    ['Russia: held until allowed from Kaliningrad to Kamchatka', MOSCOW, '2026-01-16T12:00:00Z', night, '2026-01-17T06:00:00Z'],
    ['Russia with a 1-hour window: no common hour, Moscow decides', MOSCOW, '2026-01-16T12:00:00Z', { start: '09:00', end: '08:00', appliesTo: ['promotional'] }, '2026-01-17T05:00:00Z'],
    ['Australian mobile waits for Perth 08:00 (AWST)', AU_MOBILE, '2026-01-15T21:30:00Z', night, '2026-01-16T00:00:00Z'],
    ['window wrapping midnight, just after midnight', LONDON, '2026-01-16T00:05:00Z', night, '2026-01-16T08:00:00Z'],
  ];
  it.each(rows)('%s', (_name, to, now, quiet, expected) => {
    const at = nextAllowedSendTime({ now: iso(now), recipientE164: to, category: 'promotional', program: { quietHours: quiet } });
    expect(new Date(at).toISOString()).toBe(new Date(expected).toISOString());
  });

  it.each<[Category, boolean]>([
    ['promotional', true],
    ['transactional', false],
    ['otp', false],
  ])('only held categories wait (%s)', (category, held) => {
    const now = iso('2026-01-16T03:30:00Z');
    const at = nextAllowedSendTime({ now, recipientE164: NY, category, program: { quietHours: night } });
    expect(at > now).toBe(held);
  });

  it('without quiet hours returns now', () => {
    const now = iso('2026-01-16T03:30:00Z');
    expect(nextAllowedSendTime({ now, recipientE164: NY, category: 'promotional', program: {} })).toBe(now);
  });

  it('the returned time is itself allowed (idempotent) across a year of hourly samples', () => {
    const quiet: QuietHoursConfig = { start: '21:30', end: '08:15', appliesTo: ['promotional'] };
    for (const to of [NY, LONDON, AU_MOBILE]) {
      for (let t = iso('2026-01-01T00:00:00Z'); t < iso('2027-01-01T00:00:00Z'); t += 7 * 3_600_000 + 13 * 60_000) {
        const next = nextAllowedSendTime({ now: t, recipientE164: to, category: 'promotional', program: { quietHours: quiet } });
        expect(next).toBeGreaterThanOrEqual(t);
        expect(next - t).toBeLessThan(24 * 3_600_000);
        expect(nextAllowedSendTime({ now: next, recipientE164: to, category: 'promotional', program: { quietHours: quiet } })).toBe(next);
      }
    }
  });
});

describe('local time helpers', () => {
  it.each([
    ['2026-01-16T03:30:00Z', 'America/New_York', '2026-01-15T22:30:00Z'],
    ['2026-07-01T03:30:00Z', 'America/New_York', '2026-06-30T23:30:00Z'],
    ['2026-01-16T03:30:00Z', 'Asia/Kolkata', '2026-01-16T09:00:00Z'],
    ['2026-01-16T00:00:00Z', 'Australia/Eucla', '2026-01-16T08:45:00Z'],
  ])('wallClock(%s, %s)', (t, tz, wall) => {
    expect(new Date(wallClock(iso(t), tz)).toISOString()).toBe(new Date(wall).toISOString());
  });
  it.each([
    [22 * 60, 21 * 60, 8 * 60, true],
    [7 * 60, 21 * 60, 8 * 60, true],
    [8 * 60, 21 * 60, 8 * 60, false],
    [12 * 60, 12 * 60, 13 * 60, true],
    [13 * 60, 12 * 60, 13 * 60, false],
    [11 * 60, 12 * 60, 13 * 60, false],
  ])('inQuietWindow(%i min, %i–%i) = %s', (tod, s, e, q) => {
    expect(inQuietWindow(tod * 60_000, s * 60_000, e * 60_000)).toBe(q);
  });
  it('a zone with a half-hour offset', () => {
    const now = iso('2026-01-16T17:00:00Z'); // 22:30 IST
    expect(new Date(nextAllowedInZone(now, 'Asia/Kolkata', night)).toISOString()).toBe('2026-01-17T02:30:00.000Z');
  });
});

describe('recipientZones', () => {
  it.each([
    [NY, 'US', ['America/New_York'], 'area_code'],
    ['+14165550123', 'CA', ['America/Toronto'], 'area_code'],
    ['+13065550123', 'CA', ['America/Regina'], 'area_code'],
    [PANHANDLE, 'US', ['America/New_York', 'America/Chicago'], 'area_code'],
    [LONDON, 'GB', ['Europe/London'], 'country'],
    ['+17875550123', 'PR', ['America/Puerto_Rico'], 'country'],
  ])('%s → %s %j (%s)', (e164, country, zones, basis) => {
    expect(recipientZones(e164)).toEqual({ country, zones, basis });
  });
  it('non-geographic US and multi-zone countries use every zone', () => {
    expect(recipientZones(TOLL_FREE)).toMatchObject({ country: 'US', basis: 'country_all_zones' });
    expect(recipientZones(TOLL_FREE).zones).toContain('Pacific/Honolulu');
    expect(recipientZones(MOSCOW).zones).toContain('Asia/Kamchatka');
  });
  it('unparseable numbers fall back to UTC', () => {
    expect(recipientZones('not a number')).toEqual({ country: null, zones: ['UTC'], basis: 'unknown' });
  });
  it('every table zone is known to Intl, and every primary zone belongs to its country', () => {
    for (const zones of [...NANP_AREA_ZONES.values(), ...Object.values(COUNTRY_ZONES)]) {
      for (const z of zones) expect(() => new Intl.DateTimeFormat('en', { timeZone: z })).not.toThrow();
    }
    for (const [cc, z] of Object.entries(PRIMARY_ZONE)) expect(COUNTRY_ZONES[cc]).toContain(z);
    expect(NANP_AREA_ZONES.size).toBeGreaterThan(300);
  });
});

describe('countryAllowed', () => {
  it.each([
    [NY, {}, true],
    [NY, { allow: ['US', 'CA'] }, true],
    ['+14165550123', { allow: ['US'] }, false],
    [MOSCOW, { deny: ['RU'] }, false],
    [MOSCOW, { allow: ['RU'], deny: ['RU'] }, false],
    [LONDON, { deny: ['RU'] }, true],
    ['+999123', { allow: ['US'] }, false],
    ['+999123', { deny: ['US'] }, true],
  ])('%s with %j → %s', (e164, countries, ok) => {
    expect(countryAllowed(e164, { countries })).toBe(ok);
  });
  it('program without country rules allows all', () => {
    expect(countryAllowed(MOSCOW, {})).toBe(true);
  });
  it('recipientCountry', () => {
    expect(recipientCountry(LONDON)).toBe('GB');
    expect(recipientCountry('+999123')).toBeNull();
  });
});
