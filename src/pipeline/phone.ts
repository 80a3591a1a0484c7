/**
 * Phone number normalisation to E.164 (libphonenumber-js). Documented in docs/reference/processing.md.
 *
 * Rules:
 * - E.164 input (`+` and digits, spaces/dashes/dots/parentheses allowed) is accepted for any country.
 * - National input (no `+`) is read in `defaultCountry` (ISO 3166 alpha-2, e.g. "US", "GB"); with no default country
 *   it is rejected. International dialling prefixes of the default country (e.g. 00 in GB, 011 in US) work too.
 * - Letters (vanity numbers like 1-800-FLOWERS, extensions like "ext. 12") and any other characters are rejected.
 * - A number is accepted when it is *possible*: a known country calling code and a national number of a length
 *   that country uses. It need not be *valid* (in a range libphonenumber's metadata lists as assigned):
 *   Twilio's test numbers (+15005550006 …), fictional and newly assigned ranges must go through, and the provider
 *   is the authority that rejects unassigned numbers (Twilio 21211, kept on the message).
 * - WhatsApp addresses `whatsapp:<number>` (prefix case-insensitive) are accepted: the number is normalised the
 *   same way and the result keeps the prefix, lower-cased: `whatsapp:+14155550123`, as Twilio expects in To/From.
 */
import { type CountryCode, getCountries, parsePhoneNumberFromString } from 'libphonenumber-js';

export type PhoneResult = { ok: true; e164: string; country: string | null } | { ok: false; reason: string };

const WHATSAPP = 'whatsapp:';
const ALLOWED = /^\+?[0-9 ()\-.]*$/;
const MAX_INPUT = 64;
const COUNTRIES: ReadonlySet<string> = new Set(getCountries());

export function isWhatsAppAddress(address: string): boolean {
  return address.slice(0, WHATSAPP.length).toLowerCase() === WHATSAPP;
}

export function normalizePhone(input: string, defaultCountry: string | null): PhoneResult {
  if (typeof input !== 'string') return { ok: false, reason: 'must be a string' };
  if (isWhatsAppAddress(input)) {
    const inner = normalizePhone(input.slice(WHATSAPP.length), defaultCountry);
    if (!inner.ok) return inner;
    return { ok: true, e164: WHATSAPP + inner.e164, country: inner.country };
  }
  const text = input.trim();
  if (text === '') return { ok: false, reason: 'is empty' };
  if (text.length > MAX_INPUT) return { ok: false, reason: `is longer than ${MAX_INPUT} characters` };
  if (/[a-z]/i.test(text)) return { ok: false, reason: 'contains letters (vanity numbers and extensions are not accepted)' };
  if (!ALLOWED.test(text)) return { ok: false, reason: 'may contain only digits, a leading "+", spaces, dashes, dots and parentheses' };
  const digits = text.replace(/\D/g, '');
  if (digits.length === 0) return { ok: false, reason: 'contains no digits' };

  const international = text.startsWith('+');
  let country: CountryCode | undefined;
  if (!international) {
    if (defaultCountry === null) return { ok: false, reason: 'is not in E.164 format (+ and country code) and no default country is configured' };
    const dc = defaultCountry.toUpperCase();
    if (!COUNTRIES.has(dc)) return { ok: false, reason: `default country "${defaultCountry}" is not a known ISO 3166 country code` };
    country = dc as CountryCode;
  }

  let parsed: ReturnType<typeof parsePhoneNumberFromString>;
  try {
    parsed = parsePhoneNumberFromString(text, { defaultCountry: country, extract: false });
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined) {
    return { ok: false, reason: international ? 'has an unknown country calling code or is not a phone number' : 'is not a phone number' };
  }
  if (!parsed.isPossible()) {
    const national = parsed.nationalNumber.length;
    return { ok: false, reason: `has a national number of ${national} digits, which is not a possible length for +${parsed.countryCallingCode}` };
  }
  return { ok: true, e164: parsed.number, country: parsed.country ?? null };
}
