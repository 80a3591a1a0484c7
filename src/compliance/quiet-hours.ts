/**
 * Quiet hours and destination-country rules, in the recipient's local time. Pure; DST-correct through
 * Intl.DateTimeFormat (no extra dependencies).
 *
 * The recipient's zone(s): libphonenumber-js gives the country. US/CA numbers use the NANP area code table
 * (nanp-zones.ts). Any other multi-zone country (AU, BR, RU, MX, ID, …), and US/CA numbers with a
 * non-geographic code, use *all* the country's zones (IANA zone.tab) and a send is held until the local time
 * is outside the quiet window in every one of them — the most conservative choice. If that intersection is
 * empty (a very short allowed window in a very wide country), the country's principal zone decides.
 */
import { getCountries, getCountryCallingCode, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { Category } from '../domain/message.ts';
import { COUNTRY_ZONES } from './country-zones.ts';
import { NANP_AREA_ZONES } from './nanp-zones.ts';
import type { ProgramConfig, QuietHoursConfig } from './programs.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Principal zone of multi-zone countries (fallback when the all-zones intersection is empty). */
export const PRIMARY_ZONE: Readonly<Record<string, string>> = {
  US: 'America/New_York',
  CA: 'America/Toronto',
  AU: 'Australia/Sydney',
  BR: 'America/Sao_Paulo',
  RU: 'Europe/Moscow',
  MX: 'America/Mexico_City',
  ID: 'Asia/Jakarta',
  KZ: 'Asia/Almaty',
  AR: 'America/Argentina/Buenos_Aires',
  CL: 'America/Santiago',
  ES: 'Europe/Madrid',
  PT: 'Europe/Lisbon',
  EC: 'America/Guayaquil',
  NZ: 'Pacific/Auckland',
  CD: 'Africa/Kinshasa',
  MN: 'Asia/Ulaanbaatar',
  UA: 'Europe/Kyiv',
  DE: 'Europe/Berlin',
  KI: 'Pacific/Tarawa',
  FM: 'Pacific/Pohnpei',
  PF: 'Pacific/Tahiti',
  UZ: 'Asia/Tashkent',
  MY: 'Asia/Kuala_Lumpur',
  CN: 'Asia/Shanghai',
  GL: 'America/Nuuk',
  PG: 'Pacific/Port_Moresby',
};

export interface RecipientZones {
  country: string | null;
  zones: readonly string[];
  /** How the zones were chosen. */
  basis: 'area_code' | 'country' | 'country_all_zones' | 'unknown';
}

let callingCodeCountries: Map<string, CountryCode[]> | null = null;
function countriesForCallingCode(cc: string): CountryCode[] {
  if (!callingCodeCountries) {
    callingCodeCountries = new Map();
    for (const c of getCountries()) {
      const code = getCountryCallingCode(c);
      const list = callingCodeCountries.get(code) ?? [];
      list.push(c);
      callingCodeCountries.set(code, list);
    }
  }
  return callingCodeCountries.get(cc) ?? [];
}

/** ISO country of an E.164 number; for unassigned ranges the sole country of the calling code, else null. */
export function recipientCountry(e164: string): string | null {
  const p = parsePhoneNumberFromString(e164);
  if (!p) return null;
  if (p.country) return p.country;
  const possible = p.getPossibleCountries();
  if (possible.length === 1) return possible[0]!;
  const byCode = countriesForCallingCode(p.countryCallingCode);
  return byCode.length === 1 ? byCode[0]! : null;
}

export function recipientZones(e164: string): RecipientZones {
  const p = parsePhoneNumberFromString(e164);
  const country = recipientCountry(e164);
  if (!p || !country) return { country, zones: ['UTC'], basis: 'unknown' };
  if ((country === 'US' || country === 'CA') && p.countryCallingCode === '1') {
    const zones = NANP_AREA_ZONES.get(p.nationalNumber.slice(0, 3));
    if (zones) return { country, zones, basis: 'area_code' };
  }
  const zones = COUNTRY_ZONES[country];
  if (!zones || zones.length === 0) return { country, zones: ['UTC'], basis: 'unknown' };
  return { country, zones, basis: zones.length === 1 ? 'country' : 'country_all_zones' };
}

// --- local time arithmetic ---------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The wall-clock time at instant `t` in `tz`, encoded as if it were UTC epoch ms. */
export function wallClock(t: number, tz: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(t))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const ms = ((t % 1000) + 1000) % 1000;
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour! % 24, parts.minute!, parts.second!) + ms;
}

/** UTC offset (ms) of `tz` at instant `t`. */
function offsetAt(t: number, tz: string): number {
  return wallClock(t, tz) - t;
}

/**
 * The first instant ≥ `notBefore` whose local wall time in `tz` is ≥ `targetWall`. Handles DST gaps
 * (a wall time that does not exist resolves to the transition instant) and overlaps (first occurrence
 * not before `notBefore`).
 */
function firstInstantAtWall(targetWall: number, tz: string, notBefore: number): number {
  const offsets = new Set([offsetAt(targetWall - 12 * HOUR, tz), offsetAt(targetWall + 12 * HOUR, tz), offsetAt(targetWall, tz)]);
  const exact = [...offsets]
    .map((o) => targetWall - o)
    .filter((x) => wallClock(x, tz) === targetWall && x >= notBefore)
    .sort((a, b) => a - b);
  if (exact.length > 0) return exact[0]!;
  // In a gap: search between an instant whose wall time is before the target and one at/after it.
  const cands = [...offsets].map((o) => targetWall - o).sort((a, b) => a - b);
  let lo = cands[0]!;
  let hi = cands[cands.length - 1]!;
  if (wallClock(lo, tz) >= targetWall) lo -= 2 * HOUR;
  if (wallClock(hi, tz) < targetWall) hi += 2 * HOUR;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallClock(mid, tz) >= targetWall) hi = mid;
    else lo = mid;
  }
  return Math.max(hi, notBefore);
}

function parseHhmm(s: string): number {
  const [h, m] = s.split(':').map(Number);
  return (h! * 60 + m!) * MINUTE;
}

/** True when wall-clock minute-of-day `tod` (ms since local midnight) falls in the quiet window. */
export function inQuietWindow(tod: number, start: number, end: number): boolean {
  return start < end ? tod >= start && tod < end : tod >= start || tod < end;
}

/** Next instant ≥ now at which sending is allowed in one zone. */
export function nextAllowedInZone(now: number, tz: string, quiet: Pick<QuietHoursConfig, 'start' | 'end'>): number {
  const start = parseHhmm(quiet.start);
  const end = parseHhmm(quiet.end);
  if (start === end) return now;
  const wall = wallClock(now, tz);
  const tod = ((wall % DAY) + DAY) % DAY;
  if (!inQuietWindow(tod, start, end)) return now;
  const midnight = wall - tod;
  const target = start < end || tod < end ? midnight + end : midnight + DAY + end;
  return firstInstantAtWall(target, tz, now);
}

/** Next instant ≥ now allowed in every zone; falls back to `fallbackZone` if no common instant within 3 days. */
export function nextAllowedInAllZones(now: number, zones: readonly string[], quiet: Pick<QuietHoursConfig, 'start' | 'end'>, fallbackZone: string): number {
  let t = now;
  for (let i = 0; i < 100 && t - now <= 3 * DAY; i++) {
    let next = t;
    for (const z of zones) next = Math.max(next, nextAllowedInZone(t, z, quiet));
    if (next === t) return t;
    t = next;
  }
  return nextAllowedInZone(now, fallbackZone, quiet);
}

export interface NextAllowedInput {
  now: number;
  recipientE164: string;
  category: Category;
  program: Pick<ProgramConfig, 'quietHours'>;
}

/**
 * When a message may be submitted: `now` when allowed, otherwise the end of the recipient's quiet window
 * (the message is deferred, never dropped). Only the program's `quietHours.appliesTo` categories are held.
 */
export function nextAllowedSendTime(input: NextAllowedInput): number {
  const q = input.program.quietHours;
  if (!q || !q.appliesTo.includes(input.category)) return input.now;
  const { country, zones } = recipientZones(input.recipientE164);
  const fallback = (country && PRIMARY_ZONE[country]) || zones[0]!;
  return zones.length === 1 ? nextAllowedInZone(input.now, zones[0]!, q) : nextAllowedInAllZones(input.now, zones, q, fallback);
}

/** Destination-country rule: `deny` always wins; `allow`, when set, is exhaustive; an unknown country passes only without `allow`. */
export function countryAllowed(e164: string, program: Pick<ProgramConfig, 'countries'>): boolean {
  const rules = program.countries;
  if (!rules) return true;
  const country = recipientCountry(e164);
  if (country && rules.deny?.includes(country)) return false;
  if (rules.allow) return country !== null && rules.allow.includes(country);
  return true;
}
