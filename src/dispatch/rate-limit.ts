/**
 * Per-sender rate limiting as a sliding window over recorded sends. Pure: time is passed in.
 *
 * Invariant kept: for every instant t, the segments of the entries with `at` in (t - windowMs, t] never
 * exceed `mps`. A message longer than `mps` segments is split into chunks of at most `mps` segments,
 * booked `windowMs` apart (now, now + W, now + 2W, …), so a 3-segment message on a 1 MPS long code
 * occupies three consecutive windows, as the carrier would pace it.
 */

export interface UsageEntry {
  at: number;
  segments: number;
}

export type Reservation = { ok: true; entries: UsageEntry[] } | { ok: false; retryAt: number };

/** Sum of segments in the window (t - windowMs, t]. */
function windowSum(usage: readonly UsageEntry[], t: number, windowMs: number): number {
  let sum = 0;
  for (const e of usage) if (e.at > t - windowMs && e.at <= t) sum += e.segments;
  return sum;
}

/** The largest window sum over every window that contains instant `at`. */
function peakAround(usage: readonly UsageEntry[], at: number, windowMs: number): number {
  // Windows containing `at` end at some t in [at, at + windowMs). The sum only rises at entry times,
  // so checking t = at and every entry time in (at, at + windowMs) finds the maximum.
  let peak = windowSum(usage, at, windowMs);
  for (const e of usage) {
    if (e.at > at && e.at < at + windowMs) peak = Math.max(peak, windowSum(usage, e.at, windowMs));
  }
  return peak;
}

function chunksAt(now: number, segments: number, windowMs: number, mps: number): UsageEntry[] {
  const out: UsageEntry[] = [];
  let left = Math.max(1, segments);
  for (let i = 0; left > 0; i++) {
    const n = Math.min(mps, left);
    out.push({ at: now + i * windowMs, segments: n });
    left -= n;
  }
  return out;
}

function fits(usage: readonly UsageEntry[], chunks: readonly UsageEntry[], windowMs: number, mps: number): boolean {
  for (const c of chunks) {
    if (peakAround(usage, c.at, windowMs) + c.segments > mps) return false;
  }
  return true;
}

/**
 * Try to book `segments` at `now`. On success returns the entries to record; otherwise the earliest
 * time at which the same booking would succeed (given no other bookings meanwhile).
 */
export function reserve(usage: readonly UsageEntry[], now: number, windowMs: number, mps: number, segments: number): Reservation {
  if (!(mps > 0)) throw new RangeError(`mps must be positive, got ${mps}`);
  const chunks = chunksAt(now, segments, windowMs, mps);
  if (fits(usage, chunks, windowMs, mps)) return { ok: true, entries: chunks };
  // Capacity only frees up when an entry leaves the window: candidates are entry.at + windowMs.
  const candidates = [...new Set(usage.map((e) => e.at + windowMs))].filter((t) => t > now).sort((a, b) => a - b);
  for (const t of candidates) {
    if (fits(usage, chunksAt(t, segments, windowMs, mps), windowMs, mps)) return { ok: false, retryAt: t };
  }
  // Unreachable when entries obey the invariant; fall back to after the last entry's window.
  const last = usage.reduce((m, e) => Math.max(m, e.at), now);
  return { ok: false, retryAt: last + windowMs };
}

/** Entries that can no longer affect any future booking at or after `now`. */
export function prune(usage: readonly UsageEntry[], now: number, windowMs: number): UsageEntry[] {
  return usage.filter((e) => e.at > now - windowMs);
}

/** Check a log of sends against the invariant; returns the worst window sum (for tests and benchmarks). */
export function maxWindowSum(usage: readonly UsageEntry[], windowMs: number): number {
  let peak = 0;
  for (const e of usage) peak = Math.max(peak, windowSum(usage, e.at, windowMs));
  return peak;
}

export function senderKey(account: string, from: string): string {
  return `${account}:${from}`;
}
