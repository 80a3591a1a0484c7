/**
 * Twilio Smart Encoding: replace look-alike Unicode characters with GSM-7 equivalents so a message that would
 * otherwise go out as UCS-2 (70/67 per segment) can go out as GSM-7 (160/153).
 *
 * The table reproduces the replacement table of Twilio's reference segment calculator
 * (TwilioDevEd/message-segment-calculator, `SmartEncodingMap`), grouped here by replacement. Replacement is per
 * code point, applied once (replacements are never replaced again). Quirks kept on purpose, because the calculator
 * (and so Twilio's billing estimate) has them: U+2039 ‹ → ">" and U+203A › → "<"; NBSP and most wide spaces → two
 * spaces; TAB → seven spaces; some control and zero-width characters are removed.
 */

/** [replacement, code points replaced by it]. */
const GROUPS: ReadonlyArray<readonly [string, readonly number[]]> = [
  // double quotes: « » “ ” ʺ ˮ ‟ „ ❝ ❞ 〝 〞 ＂
  ['"', [0x00ab, 0x00bb, 0x201c, 0x201d, 0x02ba, 0x02ee, 0x201f, 0x201e, 0x275d, 0x275e, 0x301d, 0x301e, 0xff02]],
  // single quotes, primes, apostrophes, accents: ‘ ’ ʻ ˈ ʼ ʽ ʹ ‛ ＇ ´ ˊ ` ˋ ❛ ❜ ̓ ̔ ︐ ︑
  ["'", [0x2018, 0x2019, 0x02bb, 0x02c8, 0x02bc, 0x02bd, 0x02b9, 0x201b, 0xff07, 0x00b4, 0x02ca, 0x0060, 0x02cb, 0x275b, 0x275c, 0x0313, 0x0314, 0xfe10, 0xfe11]],
  ['/', [0x00f7, 0x29f8, 0x0337, 0x0338, 0x2044, 0x2215, 0xff0f]],
  ['1/4', [0x00bc]],
  ['1/2', [0x00bd]],
  ['3/4', [0x00be]],
  ['\\', [0x29f9, 0x29f5, 0x20e5, 0xfe68, 0xff3c]],
  ['_', [0x0332, 0xff3f, 0x2017]],
  ['|', [0x20d2, 0x20d3, 0x2223, 0xff5c, 0x23b8, 0x23b9, 0x23d0, 0x239c, 0x239f]],
  // dashes and bullets: ⎼ ⎽ ― ﹣ － ‐ ⁃ — – •
  ['-', [0x23bc, 0x23bd, 0x2015, 0xfe63, 0xff0d, 0x2010, 0x2043, 0x2014, 0x2013, 0x2022]],
  ['@', [0xfe6b, 0xff20]],
  ['$', [0xfe69, 0xff04]],
  ['!', [0x01c3, 0xfe15, 0xfe57, 0xff01]],
  ['!!', [0x203c]],
  ['#', [0xfe5f, 0xff03]],
  ['%', [0xfe6a, 0xff05]],
  ['&', [0xfe60, 0xff06]],
  [',', [0x201a, 0x0326, 0xfe50, 0xfe51, 0xff0c, 0xff64, 0x3001]],
  ['(', [0x2768, 0x276a, 0xfe59, 0xff08, 0x27ee, 0x2985]],
  [')', [0x2769, 0x276b, 0xfe5a, 0xff09, 0x27ef, 0x2986]],
  [
    '*',
    [
      0x204e, 0x2217, 0x229b, 0x2722, 0x2723, 0x2724, 0x2725, 0x2731, 0x2732, 0x2733, 0x273a, 0x273b, 0x273c, 0x273d,
      0x2743, 0x2749, 0x274a, 0x274b, 0x29c6, 0xfe61, 0xff0a,
    ],
  ],
  ['+', [0x02d6, 0xfe62, 0xff0b]],
  ['.', [0x3002, 0xfe52, 0xff0e, 0xff61]],
  ['...', [0x2026]],
  [':', [0x02d0, 0x02f8, 0x2982, 0xa789, 0xfe13, 0xff1a]],
  [';', [0x204f, 0xfe14, 0xfe54, 0xff1b]],
  ['<', [0xfe64, 0xff1c, 0x203a]],
  ['=', [0x0347, 0xa78a, 0xfe66, 0xff1d]],
  ['>', [0xfe65, 0xff1e, 0x2039]],
  ['?', [0xfe16, 0xfe56, 0xff1f]],
  ['^', [0x02c6, 0x0302, 0xff3e, 0x1dcd]],
  ['{', [0x2774, 0xfe5b, 0xff5b]],
  ['}', [0x2775, 0xfe5c, 0xff5d]],
  ['[', [0xff3b]],
  [']', [0xff3d]],
  ['~', [0x02dc, 0x02f7, 0x0303, 0x0330, 0x0334, 0x223c, 0xff5e]],
  // wide spaces and a few C1 controls that render as a space → two spaces (as in the calculator)
  ['  ', [0x00a0, 0x2000, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x202f, 0x205f, 0x3000, 0x008d, 0x009f, 0x0080, 0x0090, 0x009b]],
  [' ', [0x2001, 0x2028, 0x2029]],
  ['       ', [0x0009]], // TAB → 7 spaces
  // invisible: removed
  ['', [0x0010, 0x0000, 0x0003, 0x0004, 0x0017, 0x0019, 0x0011, 0x0012, 0x0013, 0x0014, 0x2060, 0x200b, 0xfeff]],
];

/** Small capitals (ᴀ ʙ ᴄ …) → capital letters. There is no small capital Q or X in the table. */
const SMALL_CAPITALS: Readonly<Record<string, number>> = {
  A: 0x1d00, B: 0x0299, C: 0x1d04, D: 0x1d05, E: 0x1d07, F: 0xa730, G: 0x0262, H: 0x029c, I: 0x026a, J: 0x1d0a,
  K: 0x1d0b, L: 0x029f, M: 0x1d0d, N: 0x0274, O: 0x1d0f, P: 0x1d18, R: 0x0280, S: 0xa731, T: 0x1d1b, U: 0x1d1c,
  V: 0x1d20, W: 0x1d21, Y: 0x028f, Z: 0x1d22,
};

function buildMap(): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  const add = (cp: number, to: string): void => {
    const key = String.fromCodePoint(cp);
    if (map.has(key)) throw new Error(`smart-encoding: duplicate entry U+${cp.toString(16)}`);
    map.set(key, to);
  };
  for (const [to, cps] of GROUPS) for (const cp of cps) add(cp, to);
  for (const [to, cp] of Object.entries(SMALL_CAPITALS)) add(cp, to);
  // full-width digits ０-９ and capital letters Ａ-Ｚ
  for (let i = 0; i < 10; i++) add(0xff10 + i, String(i));
  for (let i = 0; i < 26; i++) add(0xff21 + i, String.fromCharCode(0x41 + i));
  return map;
}

/** Every replacement, keyed by the (single code point) character replaced. */
export const SMART_ENCODING_MAP: ReadonlyMap<string, string> = buildMap();

/** Apply Twilio Smart Encoding to a body. Characters not in the table are kept as they are. */
export function smartEncode(body: string): string {
  let out = '';
  for (const ch of body) {
    const to = SMART_ENCODING_MAP.get(ch);
    out += to === undefined ? ch : to;
  }
  return out;
}
