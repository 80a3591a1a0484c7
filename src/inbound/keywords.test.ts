import { describe, expect, it } from 'vitest';
import { classifyKeyword, DEFAULT_KEYWORDS, normalizeKeyword, type KeywordConfig } from './keywords.ts';

type Row = [body: string, kind: string, keyword: string | null];

describe('classifyKeyword with Twilio defaults (exact single words)', () => {
  const rows: Row[] = [
    // every default keyword, any case
    ...DEFAULT_KEYWORDS.optOut.map((k): Row => [k.toLowerCase(), 'opt_out', k]),
    ...DEFAULT_KEYWORDS.optIn.map((k): Row => [k, 'opt_in', k]),
    ...DEFAULT_KEYWORDS.help.map((k): Row => [k[0] + k.slice(1).toLowerCase(), 'help', k]),
    // whitespace is not part of the word
    [' Stop ', 'opt_out', 'STOP'],
    ['STOP\n', 'opt_out', 'STOP'],
    ['\tstop\r\n', 'opt_out', 'STOP'],
    ['\u00A0STOP\u3000', 'opt_out', 'STOP'], // NBSP and ideographic space
    ['sToP', 'opt_out', 'STOP'],
    ['unstop', 'opt_in', 'UNSTOP'],
    ['Yes', 'opt_in', 'YES'],
    // Unicode compatibility forms normalise (NFKC): full-width letters, invisible joiners
    ['ＳＴＯＰ', 'opt_out', 'STOP'],
    ['ｓｔａｒｔ', 'opt_in', 'START'],
    ['STOP\u200B', 'opt_out', 'STOP'],
    ['\uFEFFhelp', 'help', 'HELP'],
    // near-misses: not a single keyword word
    ['STOP PLEASE', 'none', null],
    ['PLEASE CANCEL', 'none', null],
    ['please stop', 'none', null],
    ['yes please', 'none', null],
    ['S T O P', 'none', null],
    ['STOPP', 'none', null],
    ['STO', 'none', null],
    ['stop.', 'none', null],
    ['Stop!', 'none', null],
    ['"STOP"', 'none', null],
    ['STOP 🛑', 'none', null],
    ['🛑', 'none', null],
    ['👍', 'none', null],
    ['', 'none', null],
    ['   ', 'none', null],
    ['\n', 'none', null],
    ['STOP ALL', 'none', null], // Telnyx accepts this; Twilio's list has STOPALL only
    ['OPT OUT', 'none', null],
    ['ARRET', 'none', null], // not a default
    ['help me', 'none', null],
    ['Ｓ Ｔ Ｏ Ｐ', 'none', null],
  ];
  it.each(rows)('%j → %s', (body, kind, keyword) => {
    expect(classifyKeyword(body, DEFAULT_KEYWORDS)).toEqual({ kind, keyword });
  });

  it('defaults to the Twilio set when no program is given', () => {
    expect(classifyKeyword('quit')).toEqual({ kind: 'opt_out', keyword: 'QUIT' });
  });

  it('does not throw on a non-string body', () => {
    expect(classifyKeyword(undefined as unknown as string)).toEqual({ kind: 'none', keyword: null });
  });
});

describe('classifyKeyword with per-program keywords', () => {
  const fr: KeywordConfig = {
    optOut: ['STOP', 'ARRET', 'ARRÊT', 'ALTO', 'PARAR', 'stop all'],
    optIn: ['START', 'ARRETARRET', 'SÍ'],
    help: ['AIDE', 'AYUDA'],
  };
  const rows: Row[] = [
    ['arret', 'opt_out', 'ARRET'],
    ['Arrêt', 'opt_out', 'ARRÊT'],
    ['ARRE\u0302T', 'opt_out', 'ARRÊT'], // decomposed ê composes under NFKC
    ['alto', 'opt_out', 'ALTO'],
    ['Parar', 'opt_out', 'PARAR'],
    ['stop   all', 'opt_out', 'STOP ALL'], // configured two-word keyword, whitespace collapsed
    ['sí', 'opt_in', 'SÍ'],
    ['si', 'none', null], // accents are significant
    ['ayuda', 'help', 'AYUDA'],
    ['aide', 'help', 'AIDE'],
    ['HELP', 'none', null], // not in this program's list
    ['UNSUBSCRIBE', 'none', null],
  ];
  it.each(rows)('%j → %s', (body, kind, keyword) => {
    expect(classifyKeyword(body, fr)).toEqual({ kind, keyword });
  });
});

describe('punctuation modes', () => {
  const rows: [body: string, mode: KeywordConfig['punctuation'], kind: string, keyword: string | null][] = [
    ['stop.', 'exact', 'none', null],
    ['stop.', 'ignore', 'opt_out', 'STOP'],
    ['stop.', 'ignore_opt_out', 'opt_out', 'STOP'],
    ['Stop!', 'ignore', 'opt_out', 'STOP'],
    ['"STOP"', 'ignore', 'opt_out', 'STOP'],
    ['STOP!!! ', 'ignore', 'opt_out', 'STOP'],
    ['STOP 🛑', 'ignore', 'opt_out', 'STOP'],
    ['start.', 'ignore', 'opt_in', 'START'],
    ['start.', 'ignore_opt_out', 'none', null], // lenient only in the safe direction
    ['help?', 'ignore_opt_out', 'none', null],
    ['help?', 'ignore', 'help', 'HELP'],
    ['st.op', 'ignore', 'none', null], // inner punctuation is never removed
    ['STOP. PLEASE', 'ignore', 'none', null],
    ['...', 'ignore', 'none', null],
    ['🛑', 'ignore', 'none', null],
  ];
  it.each(rows)('%j in %s mode → %s', (body, mode, kind, keyword) => {
    expect(classifyKeyword(body, { ...DEFAULT_KEYWORDS, punctuation: mode })).toEqual({ kind, keyword });
  });
});

describe('normalizeKeyword', () => {
  it.each([
    [' a  b ', 'A B'],
    ['ＡＢＣ', 'ABC'],
    ['x\u200Dy', 'XY'],
    ['straße', 'STRASSE'],
  ])('%j → %j', (input, out) => {
    expect(normalizeKeyword(input)).toBe(out);
  });
});
