import { describe, expect, it } from 'vitest';
import { countSegments, graphemes, gsmSeptets } from './segments.ts';
import { SMART_ENCODING_MAP, smartEncode } from './smart-encoding.ts';

/** n digits "2345678901…" as in the reference calculator's test bodies. */
const digits = (n: number): string => Array.from({ length: n }, (_, i) => String((i + 2) % 10)).join('');
const rep = (s: string, n: number): string => s.repeat(n);

const EMOJI = '\u{1F61C}'; // 😜 (surrogate pair: 2 UTF-16 units)
const FLAG_IT = '\u{1F1EE}\u{1F1F9}'; // 🇮🇹 one grapheme, 4 units
const RAINBOW_FLAG = '\u{1F3F3}\uFE0F\u200D\u{1F308}'; // 🏳️‍🌈 ZWJ sequence, one grapheme, 6 units
const E_THREE_ACCENTS = 'e\u0301\u0301\u0301'; // one grapheme, 4 units
const A_ACUTE = '\u00C1'; // Á: not in GSM-7

type Expect = { segments: number; encoding: 'GSM-7' | 'UCS-2'; units: number; perSegment: number };

const cases: { name: string; body: string; expect: Expect }[] = [
  // empty
  { name: 'empty body: one segment, GSM-7', body: '', expect: { segments: 1, encoding: 'GSM-7', units: 0, perSegment: 160 } },
  // GSM-7 basic
  { name: 'GSM-7 short', body: 'Hello, world!', expect: { segments: 1, encoding: 'GSM-7', units: 13, perSegment: 160 } },
  { name: 'GSM-7 160 fits one segment', body: digits(160), expect: { segments: 1, encoding: 'GSM-7', units: 160, perSegment: 160 } },
  { name: 'GSM-7 161 needs two', body: digits(161), expect: { segments: 2, encoding: 'GSM-7', units: 161, perSegment: 153 } },
  { name: 'GSM-7 306 = 2 × 153', body: digits(306), expect: { segments: 2, encoding: 'GSM-7', units: 306, perSegment: 153 } },
  { name: 'GSM-7 307 needs three', body: digits(307), expect: { segments: 3, encoding: 'GSM-7', units: 307, perSegment: 153 } },
  {
    name: 'GSM-7 basic accented/Greek letters stay 1 septet',
    body: 'Ça coûte 5£ à Ødegård ΔΦΓΛΩΠΨΣΘΞ ¡¿§¤¥',
    expect: { segments: 1, encoding: 'UCS-2', units: 38, perSegment: 70 }, // "û" is not GSM-7
  },
  { name: 'GSM-7 basic set only', body: 'Ødegård ΔΦΓΛΩΠΨΣΘΞ ¡¿§¤¥£@$_', expect: { segments: 1, encoding: 'GSM-7', units: 28, perSegment: 160 } },
  // GSM-7 extended
  { name: 'extended char counts 2 septets', body: '{}', expect: { segments: 1, encoding: 'GSM-7', units: 4, perSegment: 160 } },
  { name: 'all ten extended chars', body: '\f^{}\\[~]|€', expect: { segments: 1, encoding: 'GSM-7', units: 20, perSegment: 160 } },
  { name: 'extended + 158 = 160 septets: one segment', body: `{${digits(158)}`, expect: { segments: 1, encoding: 'GSM-7', units: 160, perSegment: 160 } },
  { name: 'extended + 159 = 161 septets: two segments', body: `{${digits(159)}`, expect: { segments: 2, encoding: 'GSM-7', units: 161, perSegment: 153 } },
  { name: '€ as the 160th septet does not fit (needs 2)', body: `${digits(159)}€`, expect: { segments: 2, encoding: 'GSM-7', units: 161, perSegment: 153 } },
  {
    name: 'extended char not split at the 153 boundary (306 septets → 3, not 2)',
    body: `${rep('a', 152)}€${rep('a', 152)}`,
    expect: { segments: 3, encoding: 'GSM-7', units: 306, perSegment: 153 },
  },
  {
    name: 'extended char ending exactly at 153 stays in segment 1',
    body: `${rep('a', 151)}€${rep('a', 153)}`,
    expect: { segments: 2, encoding: 'GSM-7', units: 306, perSegment: 153 },
  },
  { name: 'CR LF counts as two characters', body: '\rabcde\r\n123', expect: { segments: 1, encoding: 'GSM-7', units: 11, perSegment: 160 } },
  // UCS-2
  { name: 'one non-GSM char makes the whole message UCS-2', body: `${digits(10)}${A_ACUTE}`, expect: { segments: 1, encoding: 'UCS-2', units: 11, perSegment: 70 } },
  { name: 'UCS-2 70 chars: one segment', body: rep(A_ACUTE, 70), expect: { segments: 1, encoding: 'UCS-2', units: 70, perSegment: 70 } },
  { name: 'UCS-2 71 chars: two segments', body: rep(A_ACUTE, 71), expect: { segments: 2, encoding: 'UCS-2', units: 71, perSegment: 67 } },
  { name: 'UCS-2 134 = 2 × 67', body: rep(A_ACUTE, 134), expect: { segments: 2, encoding: 'UCS-2', units: 134, perSegment: 67 } },
  { name: 'UCS-2 135 needs three', body: rep(A_ACUTE, 135), expect: { segments: 3, encoding: 'UCS-2', units: 135, perSegment: 67 } },
  { name: 'backtick is not GSM-7', body: 'a`b', expect: { segments: 1, encoding: 'UCS-2', units: 3, perSegment: 70 } },
  // emoji (reference calculator vectors)
  { name: 'emoji + 68 = 70 units: one segment', body: EMOJI + digits(68), expect: { segments: 1, encoding: 'UCS-2', units: 70, perSegment: 70 } },
  { name: 'emoji + 69 = 71 units: two segments', body: EMOJI + digits(69), expect: { segments: 2, encoding: 'UCS-2', units: 71, perSegment: 67 } },
  { name: 'emoji + 133 = 135 units: three segments', body: EMOJI + digits(133), expect: { segments: 3, encoding: 'UCS-2', units: 135, perSegment: 67 } },
  { name: 'flag (4 units) + 66: one segment', body: FLAG_IT + digits(66), expect: { segments: 1, encoding: 'UCS-2', units: 70, perSegment: 70 } },
  { name: 'flag (4 units) + 67: two segments', body: FLAG_IT + digits(67), expect: { segments: 2, encoding: 'UCS-2', units: 71, perSegment: 67 } },
  { name: 'ZWJ sequence (6 units) + 64: one segment', body: RAINBOW_FLAG + digits(64), expect: { segments: 1, encoding: 'UCS-2', units: 70, perSegment: 70 } },
  { name: 'ZWJ sequence (6 units) + 65: two segments', body: RAINBOW_FLAG + digits(65), expect: { segments: 2, encoding: 'UCS-2', units: 71, perSegment: 67 } },
  { name: 'combining marks stay one grapheme (4 units) + 66', body: E_THREE_ACCENTS + rep('a', 66), expect: { segments: 1, encoding: 'UCS-2', units: 70, perSegment: 70 } },
  { name: 'combining marks stay one grapheme (4 units) + 67', body: E_THREE_ACCENTS + rep('a', 67), expect: { segments: 2, encoding: 'UCS-2', units: 71, perSegment: 67 } },
  {
    name: 'emoji not split at the 67 boundary (134 units → 3, not 2)',
    body: `${rep(A_ACUTE, 66)}${EMOJI}${rep(A_ACUTE, 66)}`,
    expect: { segments: 3, encoding: 'UCS-2', units: 134, perSegment: 67 },
  },
  {
    name: 'emoji ending exactly at 67 stays in segment 1',
    body: `${rep(A_ACUTE, 65)}${EMOJI}${rep(A_ACUTE, 67)}`,
    expect: { segments: 2, encoding: 'UCS-2', units: 134, perSegment: 67 },
  },
  {
    name: 'flag not split across the boundary',
    body: `${rep(A_ACUTE, 65)}${FLAG_IT}${rep(A_ACUTE, 65)}`,
    expect: { segments: 3, encoding: 'UCS-2', units: 134, perSegment: 67 },
  },
  { name: 'GSM extended char inside UCS-2 costs 1 unit: 😀 + 68 "]"', body: `\u{1F600}${rep(']', 68)}`, expect: { segments: 1, encoding: 'UCS-2', units: 70, perSegment: 70 } },
  { name: 'GSM extended char inside UCS-2: 😀 + 69 "]"', body: `\u{1F600}${rep(']', 69)}`, expect: { segments: 2, encoding: 'UCS-2', units: 71, perSegment: 67 } },
  // the 1,600 character limit
  { name: '1,600 GSM-7 chars: 11 segments', body: rep('a', 1600), expect: { segments: 11, encoding: 'GSM-7', units: 1600, perSegment: 153 } },
  { name: '1,600 UCS-2 chars: 24 segments', body: rep(A_ACUTE, 1600), expect: { segments: 24, encoding: 'UCS-2', units: 1600, perSegment: 67 } },
  { name: '800 emoji (1,600 units): 25 segments, 33 emoji (66 units) per segment', body: rep(EMOJI, 800), expect: { segments: 25, encoding: 'UCS-2', units: 1600, perSegment: 67 } },
];

describe('countSegments', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = countSegments(c.body);
      expect({ segments: r.segments, encoding: r.encoding, units: r.units, perSegment: r.perSegment }).toEqual(c.expect);
      expect(r.body).toBe(c.body);
    });
  }
});

describe('countSegments with smart encoding', () => {
  const smart: { name: string; body: string; off: Expect; on: Expect & { body: string } }[] = [
    {
      name: 'curly quotes, em dash, ellipsis',
      body: '\u201CHi\u201D \u2014 it\u2019s here\u2026',
      off: { segments: 1, encoding: 'UCS-2', units: 17, perSegment: 70 },
      on: { segments: 1, encoding: 'GSM-7', units: 19, perSegment: 160, body: '"Hi" - it\'s here...' },
    },
    {
      name: 'NBSP → two spaces, TAB → seven, zero-width removed',
      body: 'a\u00A0b\tc\u200Bd',
      off: { segments: 1, encoding: 'UCS-2', units: 7, perSegment: 70 },
      on: { segments: 1, encoding: 'GSM-7', units: 13, perSegment: 160, body: 'a  b       cd' },
    },
    {
      name: 'full-width and small capitals',
      body: '\uFF21\uFF22\uFF23\uFF11\uFF12 \u1D00\u0299\u1D04',
      off: { segments: 1, encoding: 'UCS-2', units: 9, perSegment: 70 },
      on: { segments: 1, encoding: 'GSM-7', units: 9, perSegment: 160, body: 'ABC12 ABC' },
    },
    {
      name: 'smart-encoded to an extended char costs 2 septets',
      body: '\uFF5B\uFF5D',
      off: { segments: 1, encoding: 'UCS-2', units: 2, perSegment: 70 },
      on: { segments: 1, encoding: 'GSM-7', units: 4, perSegment: 160, body: '{}' },
    },
    {
      name: 'emoji has no replacement: stays UCS-2',
      body: `\u201Cok\u201D ${EMOJI}`,
      off: { segments: 1, encoding: 'UCS-2', units: 7, perSegment: 70 },
      on: { segments: 1, encoding: 'UCS-2', units: 7, perSegment: 70, body: `"ok" ${EMOJI}` },
    },
    {
      name: 'a 100-char curly-quoted message: 2 UCS-2 segments → 1 GSM-7 segment',
      body: `\u2018${rep('x', 98)}\u2019`,
      off: { segments: 2, encoding: 'UCS-2', units: 100, perSegment: 67 },
      on: { segments: 1, encoding: 'GSM-7', units: 100, perSegment: 160, body: `'${rep('x', 98)}'` },
    },
    {
      name: 'ellipsis expansion can add a segment',
      body: `${rep('a', 159)}\u2026`,
      off: { segments: 3, encoding: 'UCS-2', units: 160, perSegment: 67 },
      on: { segments: 2, encoding: 'GSM-7', units: 162, perSegment: 153, body: `${rep('a', 159)}...` },
    },
  ];
  for (const c of smart) {
    it(c.name, () => {
      const off = countSegments(c.body, { smartEncode: false });
      expect({ segments: off.segments, encoding: off.encoding, units: off.units, perSegment: off.perSegment }).toEqual(c.off);
      expect(off.body).toBe(c.body);
      const on = countSegments(c.body, { smartEncode: true });
      expect({ segments: on.segments, encoding: on.encoding, units: on.units, perSegment: on.perSegment, body: on.body }).toEqual(c.on);
    });
  }
});

describe('smart encoding table', () => {
  it('has the 270 entries of the reference calculator', () => {
    expect(SMART_ENCODING_MAP.size).toBe(270);
  });
  it('every replacement is pure GSM-7 and every replaced character is not GSM-7', () => {
    for (const [from, to] of SMART_ENCODING_MAP) {
      for (const ch of to) expect(gsmSeptets(ch), `replacement of U+${from.codePointAt(0)!.toString(16)}`).toBeDefined();
      expect(gsmSeptets(from), `U+${from.codePointAt(0)!.toString(16)} is GSM-7`).toBeUndefined();
    }
  });
  it('replaces all entries at once, in order', () => {
    const keys = [...SMART_ENCODING_MAP.keys()].join('');
    expect(smartEncode(keys)).toBe([...SMART_ENCODING_MAP.values()].join(''));
  });
  it('keeps the calculator quirks: ‹ → > and › → <', () => {
    expect(smartEncode('\u2039x\u203A')).toBe('>x<');
  });
});

describe('graphemes', () => {
  it('keeps surrogate pairs, flags and ZWJ sequences whole, splits CR LF', () => {
    expect(graphemes(`a${EMOJI}${FLAG_IT}${RAINBOW_FLAG}\r\nb`)).toEqual(['a', EMOJI, FLAG_IT, RAINBOW_FLAG, '\r', '\n', 'b']);
  });
});
