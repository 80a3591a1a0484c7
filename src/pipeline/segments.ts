/**
 * SMS segment count and encoding, computed as Twilio's reference calculator does
 * (TwilioDevEd/message-segment-calculator; notes in shared twilio-wire.md §10). Documented in docs/reference/processing.md.
 *
 * - A segment carries 140 octets. GSM-7: 160 septets alone, 153 when concatenated (6-octet UDH). UCS-2: 70 / 67
 *   UTF-16 code units.
 * - GSM-7 extended characters (form feed [ \ ] ^ { | } ~ €) take 2 septets (ESC + char).
 * - The body is split into graphemes (user-perceived characters), except that CR LF counts as two. A message is GSM-7
 *   when every grapheme is one GSM-7 character; otherwise the whole message is UCS-2.
 * - In UCS-2 every grapheme costs its UTF-16 length (an emoji surrogate pair is 2, a flag 4, a ZWJ sequence more);
 *   a GSM character inside a UCS-2 message costs 1 (16 bits), extended ones too.
 * - A grapheme (an escape pair, a surrogate pair, a whole emoji sequence) is never split across segments: segments
 *   are filled greedily, and a grapheme that does not fit opens the next segment. So real capacity at a boundary can
 *   be 152 (GSM-7) or 66 (UCS-2) and the count can exceed ceil(units / 153|67).
 * - Empty body: 1 segment, GSM-7, 0 units (the calculator always has one segment; Twilio bills a media-only MMS as 1).
 */
import type { Encoding } from '../domain/message.ts';
import { smartEncode } from './smart-encoding.ts';

export interface SegmentCount {
  segments: number;
  encoding: Encoding;
  /** The body as it would be sent: after Smart Encoding when requested, else the input unchanged. */
  body: string;
  /** GSM-7: septets (extended characters count 2). UCS-2: UTF-16 code units. */
  units: number;
  /** Capacity of each segment in units: 160 / 70 for a single segment, 153 / 67 when concatenated. */
  perSegment: number;
}

export const GSM_SINGLE = 160;
export const GSM_MULTI = 153;
export const UCS2_SINGLE = 70;
export const UCS2_MULTI = 67;

/** GSM 03.38 basic character set (1 septet each), as mapped by the calculator. */
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** GSM 03.38 extension table (2 septets each: ESC + char). */
const GSM_EXTENDED = '\f^{}\\[~]|€';

const GSM_SEPTETS: ReadonlyMap<string, number> = new Map([
  ...[...GSM_BASIC].map((c) => [c, 1] as const),
  ...[...GSM_EXTENDED].map((c) => [c, 2] as const),
]);

/** Septets for one GSM-7 character, or undefined when the character is not in GSM-7. */
export function gsmSeptets(ch: string): number | undefined {
  return GSM_SEPTETS.get(ch);
}

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** Graphemes, with CR LF split into CR and LF (each is its own GSM character, as in the calculator). */
export function graphemes(text: string): string[] {
  const out: string[] = [];
  for (const { segment } of segmenter.segment(text)) {
    if (segment === '\r\n') out.push('\r', '\n');
    else out.push(segment);
  }
  return out;
}

/** Greedy fill: number of segments of `capacity` units holding `sizes` in order, never splitting an item. */
function fill(sizes: number[], capacity: number): number {
  let segments = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > capacity && used > 0) {
      segments++;
      used = 0;
    }
    used += size;
  }
  return segments;
}

export function countSegments(body: string, opts: { smartEncode?: boolean } = {}): SegmentCount {
  const text = opts.smartEncode ? smartEncode(body) : body;
  const parts = graphemes(text);
  const isGsm = parts.every((g) => GSM_SEPTETS.has(g));
  const sizes = isGsm ? parts.map((g) => GSM_SEPTETS.get(g)!) : parts.map((g) => g.length);
  const units = sizes.reduce((a, b) => a + b, 0);
  const single = isGsm ? GSM_SINGLE : UCS2_SINGLE;
  const multi = isGsm ? GSM_MULTI : UCS2_MULTI;
  const segments = units <= single ? 1 : fill(sizes, multi);
  return { segments, encoding: isGsm ? 'GSM-7' : 'UCS-2', body: text, units, perSegment: segments === 1 ? single : multi };
}
