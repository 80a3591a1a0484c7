/**
 * Programs: named consent scopes. A contact's consent is kept per (contact, program); a program covers one
 * sender, a set of senders, every sender of a provider account (Twilio Messaging Service / brand), or all.
 *
 * Sender keys are `account:from` (e.g. "billing-us:+15005550006"); `account:*` covers every sender of the
 * account; `*` covers everything. The most specific match wins: exact key > `account:*` > `*`; when no
 * configured program matches, the built-in DEFAULT_PROGRAM (Twilio's defaults) applies.
 * Config validation with fix-it messages: validatePrograms (to be wired into src/config/load.ts).
 */
import { isSupportedCountry } from 'libphonenumber-js';
import { CATEGORIES, type Category } from '../domain/message.ts';
import { DEFAULT_KEYWORDS, normalizeKeyword, type KeywordConfig } from '../inbound/keywords.ts';

export type SendPolicy = 'allow_unless_opted_out' | 'require_opt_in';

export interface QuietHoursConfig {
  /** Local time (recipient's zone) at which the quiet window starts, 'HH:MM' 24 h. */
  start: string;
  /** Local time at which sending may resume, 'HH:MM'. May be earlier than start (window wraps midnight). */
  end: string;
  /** Categories held during the window (normally ['promotional']; OTP is never allowed here). */
  appliesTo: Category[];
}

export interface RetentionConfig {
  /** Redact message bodies this many days after creation; null keeps bodies. */
  bodyDays: number | null;
  /** When redacting, also replace the contact number on the message with its keyed hash. */
  hashNumbers: boolean;
  /** Purge raw provider webhook payloads after this many days; null keeps them. */
  rawWebhookDays: number | null;
}

export interface ProgramReplies {
  /** Auto-reply to an opt-out keyword; null sends none (e.g. the provider already replies). */
  optOut: string | null;
  optIn: string | null;
  help: string | null;
}

export interface ProgramConfig {
  /** Stable id used in the ledger, API and events: [a-z0-9][a-z0-9_-]{0,62}. */
  name: string;
  senders: string[];
  keywords: KeywordConfig;
  replies: ProgramReplies;
  /** Who sends keyword auto-replies: Switchboard (through the pipeline), or nobody because the provider does. */
  autoReplies?: 'switchboard' | 'provider';
  /** Promotional messages need an explicit opt-in (GDPR-style) instead of "not opted out". */
  promotionalRequiresOptIn: boolean;
  transactionalPolicy: SendPolicy;
  otpPolicy: SendPolicy;
  quietHours?: QuietHoursConfig;
  /** ISO 3166 alpha-2 destination countries. `allow` (if set) is exhaustive; `deny` always wins. */
  countries?: { allow?: string[]; deny?: string[] };
  retention: RetentionConfig;
}

/** Twilio's default reply texts (twilio-wire §6; wording widely quoted, not confirmed on a readable Twilio page). */
export const TWILIO_DEFAULT_REPLIES: Readonly<ProgramReplies> = Object.freeze({
  optOut:
    'You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe.',
  optIn:
    'You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
  help: 'Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
});

export const DEFAULT_PROGRAM_NAME = 'default';

/**
 * Twilio's behaviour with nothing configured: default keywords and replies, sends allowed unless opted out
 * (no explicit opt-in needed), no quiet hours, no country rules, nothing redacted.
 */
export const DEFAULT_PROGRAM: Readonly<ProgramConfig> = Object.freeze({
  name: DEFAULT_PROGRAM_NAME,
  senders: ['*'],
  keywords: { ...DEFAULT_KEYWORDS, optOut: [...DEFAULT_KEYWORDS.optOut], optIn: [...DEFAULT_KEYWORDS.optIn], help: [...DEFAULT_KEYWORDS.help] },
  replies: { ...TWILIO_DEFAULT_REPLIES },
  autoReplies: 'switchboard',
  promotionalRequiresOptIn: false,
  transactionalPolicy: 'allow_unless_opted_out',
  otpPolicy: 'allow_unless_opted_out',
  retention: { bodyDays: null, hashNumbers: false, rawWebhookDays: null },
}) as ProgramConfig;

export function senderKey(account: string, from: string): string {
  return `${account}:${from}`;
}

/** The program governing a sender key ("account:from"). Most specific wins; DEFAULT_PROGRAM otherwise. */
export function programFor(key: string, programs: readonly ProgramConfig[]): ProgramConfig {
  const colon = key.indexOf(':');
  const accountWildcard = colon >= 0 ? `${key.slice(0, colon)}:*` : null;
  let best: ProgramConfig | null = null;
  let bestRank = 0;
  for (const p of programs) {
    for (const s of p.senders) {
      const rank = s === key ? 3 : s === accountWildcard ? 2 : s === '*' ? 1 : 0;
      if (rank > bestRank) {
        best = p;
        bestRank = rank;
      }
    }
  }
  return best ?? (DEFAULT_PROGRAM as ProgramConfig);
}

/** Program by name (ledger rows and API paths carry the name). */
export function programByName(name: string, programs: readonly ProgramConfig[]): ProgramConfig | null {
  if (name === DEFAULT_PROGRAM_NAME && !programs.some((p) => p.name === name)) return DEFAULT_PROGRAM as ProgramConfig;
  return programs.find((p) => p.name === name) ?? null;
}

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const HHMM_RE = /^([01]\d|2[0-3]):[0-5]\d$/;
const COUNTRY_RE = /^[A-Z]{2}$/;
const SENDER_RE = /^(\*|[^:\s]+:(\*|\S+))$/;
const MAX_REPLY = 1600;

/**
 * Validate programs; returns one message per problem ("programs[1].senders[0]: … Fix: …"), empty when valid.
 * `knownSenders` (account:from keys from the config), when given, catches typos in sender keys.
 */
export function validatePrograms(programs: unknown, knownSenders?: readonly string[]): string[] {
  const errs: string[] = [];
  if (!Array.isArray(programs)) return ['programs: must be an array. Fix: use `"programs": []` or a list of program objects.'];
  const names = new Map<string, number>();
  const claimed = new Map<string, string>();
  const knownAccounts = knownSenders ? new Set(knownSenders.map((s) => s.slice(0, s.indexOf(':')))) : null;

  programs.forEach((raw, i) => {
    const at = `programs[${i}]`;
    if (raw === null || typeof raw !== 'object') {
      errs.push(`${at}: must be an object. Fix: see docs/guides/compliance.md for a complete example.`);
      return;
    }
    const p = raw as Partial<ProgramConfig>;
    // name
    if (typeof p.name !== 'string' || !NAME_RE.test(p.name)) {
      errs.push(`${at}.name: ${JSON.stringify(p.name)} is not a valid program name. Fix: use lower-case letters, digits, '-' or '_' (e.g. "marketing-us").`);
    } else if (names.has(p.name)) {
      errs.push(`${at}.name: "${p.name}" is already used by programs[${names.get(p.name)}]. Fix: give each program a unique name.`);
    } else names.set(p.name, i);
    // senders
    if (!Array.isArray(p.senders) || p.senders.length === 0) {
      errs.push(`${at}.senders: must list at least one sender key. Fix: use "account:+15551234567", "account:*" or "*".`);
    } else {
      p.senders.forEach((s, j) => {
        const sat = `${at}.senders[${j}]`;
        if (typeof s !== 'string' || !SENDER_RE.test(s)) {
          errs.push(`${sat}: ${JSON.stringify(s)} is not a sender key. Fix: use "account:from" (e.g. "sandbox:+15005550006"), "account:*" or "*".`);
          return;
        }
        if (knownSenders && s !== '*') {
          const account = s.slice(0, s.indexOf(':'));
          if (s.endsWith(':*') ? !knownAccounts!.has(account) : !knownSenders.includes(s)) {
            errs.push(`${sat}: "${s}" matches no configured sender. Fix: use one of ${knownSenders.slice(0, 5).join(', ')}${knownSenders.length > 5 ? ', …' : ''}.`);
          }
        }
        const owner = claimed.get(s);
        if (owner !== undefined && owner !== p.name) {
          errs.push(`${sat}: "${s}" is already in program "${owner}". Fix: a sender belongs to exactly one program; remove it from one of them.`);
        } else claimed.set(s, String(p.name));
      });
    }
    // keywords
    const kw = p.keywords;
    if (!kw || typeof kw !== 'object') {
      errs.push(`${at}.keywords: missing. Fix: set { "optOut": [...], "optIn": [...], "help": [...] } (the defaults are STOP…, START…, HELP…).`);
    } else {
      const seen = new Map<string, string>();
      for (const list of ['optOut', 'optIn', 'help'] as const) {
        const words = kw[list];
        if (!Array.isArray(words) || (list === 'optOut' && words.length === 0)) {
          errs.push(`${at}.keywords.${list}: must be a list${list === 'optOut' ? ' with at least one word (carriers require an opt-out keyword)' : ''}. Fix: e.g. ${JSON.stringify(DEFAULT_KEYWORDS[list])}.`);
          continue;
        }
        words.forEach((w, k) => {
          const n = typeof w === 'string' ? normalizeKeyword(w) : '';
          if (n === '') {
            errs.push(`${at}.keywords.${list}[${k}]: must be a non-empty word. Fix: remove it or write the keyword.`);
            return;
          }
          const prev = seen.get(n);
          if (prev && prev !== list) {
            errs.push(`${at}.keywords.${list}[${k}]: "${n}" is also in keywords.${prev}. Fix: a keyword can have only one meaning; remove one.`);
          }
          seen.set(n, list);
        });
      }
      if (kw.optOut && Array.isArray(kw.optOut) && !kw.optOut.some((w) => typeof w === 'string' && normalizeKeyword(w) === 'STOP')) {
        errs.push(`${at}.keywords.optOut: does not contain STOP. Fix: keep STOP (US carriers and Twilio always honour it) and add your local words.`);
      }
      if (kw.punctuation !== undefined && !['exact', 'ignore_opt_out', 'ignore'].includes(kw.punctuation)) {
        errs.push(`${at}.keywords.punctuation: ${JSON.stringify(kw.punctuation)} is not valid. Fix: use "exact" (Twilio), "ignore_opt_out" or "ignore".`);
      }
    }
    // replies
    if (!p.replies || typeof p.replies !== 'object') {
      errs.push(`${at}.replies: missing. Fix: set { "optOut": "…", "optIn": "…", "help": "…" } (null for no reply).`);
    } else {
      for (const k of ['optOut', 'optIn', 'help'] as const) {
        const r = p.replies[k];
        if (r === null) continue;
        if (typeof r !== 'string' || r.trim() === '') {
          errs.push(`${at}.replies.${k}: must be a non-empty text or null. Fix: write the reply, or null to send none.`);
        } else if (r.length > MAX_REPLY) {
          errs.push(`${at}.replies.${k}: ${r.length} characters exceeds ${MAX_REPLY}. Fix: shorten the reply.`);
        }
      }
    }
    if (p.autoReplies !== undefined && p.autoReplies !== 'switchboard' && p.autoReplies !== 'provider') {
      errs.push(`${at}.autoReplies: ${JSON.stringify(p.autoReplies)} is not valid. Fix: use "switchboard" or "provider".`);
    }
    // policies
    if (typeof p.promotionalRequiresOptIn !== 'boolean') {
      errs.push(`${at}.promotionalRequiresOptIn: must be true or false. Fix: true for GDPR-style explicit consent to marketing.`);
    }
    for (const k of ['transactionalPolicy', 'otpPolicy'] as const) {
      if (p[k] !== 'allow_unless_opted_out' && p[k] !== 'require_opt_in') {
        errs.push(`${at}.${k}: ${JSON.stringify(p[k])} is not valid. Fix: use "allow_unless_opted_out" or "require_opt_in".`);
      }
    }
    // quiet hours
    if (p.quietHours !== undefined) {
      const q = p.quietHours;
      if (!q || typeof q !== 'object') {
        errs.push(`${at}.quietHours: must be an object. Fix: { "start": "21:00", "end": "08:00", "appliesTo": ["promotional"] }.`);
      } else {
        for (const k of ['start', 'end'] as const) {
          if (typeof q[k] !== 'string' || !HHMM_RE.test(q[k])) {
            errs.push(`${at}.quietHours.${k}: ${JSON.stringify(q[k])} is not a time. Fix: use 24-hour "HH:MM", e.g. "21:00".`);
          }
        }
        if (q.start === q.end && typeof q.start === 'string') {
          errs.push(`${at}.quietHours: start and end are both ${q.start}, an empty window. Fix: remove quietHours, or set a real window such as 21:00–08:00.`);
        }
        if (!Array.isArray(q.appliesTo) || q.appliesTo.length === 0) {
          errs.push(`${at}.quietHours.appliesTo: must list categories. Fix: ["promotional"].`);
        } else {
          q.appliesTo.forEach((c, k) => {
            if (!(CATEGORIES as readonly string[]).includes(c)) {
              errs.push(`${at}.quietHours.appliesTo[${k}]: ${JSON.stringify(c)} is not a category. Fix: use ${CATEGORIES.filter((x) => x !== 'otp').join(' or ')}.`);
            } else if (c === 'otp') {
              errs.push(`${at}.quietHours.appliesTo[${k}]: OTP codes expire in minutes and cannot wait for morning. Fix: remove "otp".`);
            }
          });
        }
      }
    }
    // countries
    if (p.countries !== undefined) {
      const c = p.countries;
      if (!c || typeof c !== 'object') {
        errs.push(`${at}.countries: must be an object. Fix: { "allow": ["US", "CA"] } or { "deny": ["RU"] }.`);
      } else {
        for (const k of ['allow', 'deny'] as const) {
          const list = c[k];
          if (list === undefined) continue;
          if (!Array.isArray(list)) {
            errs.push(`${at}.countries.${k}: must be a list of ISO country codes. Fix: e.g. ["US", "CA"].`);
            continue;
          }
          if (k === 'allow' && list.length === 0) {
            errs.push(`${at}.countries.allow: an empty list blocks every destination. Fix: list the allowed countries or remove "allow".`);
          }
          list.forEach((cc, j) => {
            if (typeof cc !== 'string' || !COUNTRY_RE.test(cc) || !isSupportedCountry(cc)) {
              errs.push(`${at}.countries.${k}[${j}]: ${JSON.stringify(cc)} is not an ISO 3166 alpha-2 code with phone numbers. Fix: use upper-case two letters, e.g. "GB" (not "UK").`);
            }
          });
        }
        const both = (c.allow ?? []).filter((x) => (c.deny ?? []).includes(x));
        if (both.length > 0) {
          errs.push(`${at}.countries: ${both.join(', ')} in both allow and deny (deny wins). Fix: remove from one list.`);
        }
      }
    }
    // retention
    const r = p.retention;
    if (!r || typeof r !== 'object') {
      errs.push(`${at}.retention: missing. Fix: { "bodyDays": null, "hashNumbers": false, "rawWebhookDays": null } keeps everything.`);
    } else {
      for (const k of ['bodyDays', 'rawWebhookDays'] as const) {
        const v = r[k];
        if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 36_500)) {
          errs.push(`${at}.retention.${k}: ${JSON.stringify(v)} is not valid. Fix: a whole number of days (0–36500), or null to keep forever.`);
        }
      }
      if (typeof r.hashNumbers !== 'boolean') {
        errs.push(`${at}.retention.hashNumbers: must be true or false. Fix: true replaces numbers by a keyed hash when bodies are redacted.`);
      } else if (r.hashNumbers && r.bodyDays === null) {
        errs.push(`${at}.retention.hashNumbers: numbers are hashed when bodies are redacted, but bodyDays is null. Fix: set bodyDays, or hashNumbers false.`);
      }
    }
  });
  return errs;
}
