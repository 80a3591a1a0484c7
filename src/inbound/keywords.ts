/**
 * Keyword classification of inbound messages (STOP / START / HELP and their per-program equivalents).
 *
 * Twilio's rule (support article 223134027 "Twilio support for opt-out keywords (SMS STOP filtering)"):
 * only single-word messages trigger a keyword — "STOP" opts out, "STOP PLEASE" or "PLEASE CANCEL" do not —
 * and matching is case-insensitive. Twilio documents nothing about punctuation, so its exact-word rule is the
 * default here: "stop." and "Stop!" are NOT keywords unless the program opts into `punctuation: 'ignore'`
 * (or `'ignore_opt_out'`, which relaxes only opt-out words: treating more messages as opt-outs is the safe
 * direction, treating more as opt-ins is not). See docs/guides/compliance.md, "Keywords".
 *
 * Normalisation applied to both the body and the configured keywords, before comparing the whole body:
 * - Unicode NFKC (full-width "ＳＴＯＰ" → "STOP", ligatures, compatibility forms);
 * - invisible format characters removed (zero-width space/joiners, word joiner, BOM, variation selectors);
 * - trimmed, internal whitespace runs collapsed to one space (so a configured two-word keyword such as
 *   "STOP ALL" matches "stop   all"), then upper-cased (locale-independent).
 * The match is on the whole normalised body: a keyword is never found inside a longer message.
 */

export type KeywordKind = 'opt_out' | 'opt_in' | 'help';

export interface KeywordConfig {
  optOut: string[];
  optIn: string[];
  help: string[];
  /**
   * How trailing/leading punctuation is treated. Default 'exact' (Twilio parity: "stop." is not a keyword).
   * 'ignore_opt_out': strip punctuation, but only accept the result if it is an opt-out word.
   * 'ignore': strip punctuation for every kind.
   */
  punctuation?: 'exact' | 'ignore_opt_out' | 'ignore';
}

export interface KeywordMatch {
  kind: KeywordKind | 'none';
  /** The configured keyword that matched, normalised (e.g. "STOP", "ARRET"); null when none. */
  keyword: string | null;
}

/** Twilio's default English keywords (twilio-wire §6; advanced-opt-out tutorial lists REVOKE and OPTOUT). */
export const DEFAULT_KEYWORDS: Readonly<Required<KeywordConfig>> = Object.freeze({
  optOut: ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT'],
  optIn: ['START', 'YES', 'UNSTOP'],
  help: ['HELP', 'INFO'],
  punctuation: 'exact',
});

/** Invisible format characters a handset or keyboard may add around a word. */
const INVISIBLE = /[\u200B-\u200D\u2060\uFEFF\uFE00-\uFE0F\u00AD]/gu;
/** Leading/trailing punctuation and symbols stripped in the lenient modes (letters and digits are kept). */
const EDGE_PUNCT = /^[\p{P}\p{S}\s]+|[\p{P}\p{S}\s]+$/gu;

/** The normal form used for comparison; exported so config validation and tests use the same rule. */
export function normalizeKeyword(text: string): string {
  return text.normalize('NFKC').replace(INVISIBLE, '').trim().replace(/\s+/gu, ' ').toUpperCase();
}

function lookup(normalized: string, program: KeywordConfig): KeywordMatch | null {
  if (normalized === '') return null;
  const lists: [KeywordKind, string[]][] = [
    ['opt_out', program.optOut],
    ['opt_in', program.optIn],
    ['help', program.help],
  ];
  for (const [kind, words] of lists) {
    for (const word of words) {
      if (normalizeKeyword(word) === normalized) return { kind, keyword: normalized };
    }
  }
  return null;
}

const NONE: KeywordMatch = Object.freeze({ kind: 'none', keyword: null }) as KeywordMatch;

export function classifyKeyword(body: string, program: KeywordConfig = DEFAULT_KEYWORDS): KeywordMatch {
  if (typeof body !== 'string') return NONE;
  const normalized = normalizeKeyword(body);
  const exact = lookup(normalized, program);
  if (exact) return exact;
  const mode = program.punctuation ?? 'exact';
  if (mode === 'exact') return NONE;
  const stripped = normalizeKeyword(normalized.replace(EDGE_PUNCT, ''));
  if (stripped === normalized) return NONE;
  const loose = lookup(stripped, program);
  if (!loose) return NONE;
  if (mode === 'ignore_opt_out' && loose.kind !== 'opt_out') return NONE;
  return loose;
}
