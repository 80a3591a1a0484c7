/**
 * Per-sender rate limiting as a sliding window over recorded sends. Pure: time is passed in.
 *
 * Invariant kept: for every instant t, the segments of the entries with `at` in (t - windowMs, t] never
 * exceed `mps`. A message longer than `mps` segments is split into chunks of at most `mps` segments,
 * booked `windowMs` apart (now, now + W, now + 2W, …), so a 3-segment message on a 1 MPS long code
 * occupies three consecutive windows, as the carrier would pace it.
 *
 * Strict pacing at the carrier (docs/reference/dispatch.md "Pacing at the carrier"): a request may reach the carrier
 * at any moment between its claim and the provider's response. A booking is therefore made at claim time with
 * `openUntil` set (the request is on the wire), counted as arriving "now" by every plan made while it is open, and
 * moved to the response time when the submit completes (`settle`). Every booking is then at or after the time its
 * request really arrived, so a new booking that keeps the window rule against them keeps it at the carrier too.
 */

export interface UsageEntry {
  at: number;
  segments: number;
  /**
   * Set while the request is on the wire (claimed, no response recorded yet): it may still arrive at any moment up
   * to this time (the claim's lease expiry; past it the submit is abandoned and reconciled). Absent/null once settled.
   */
  openUntil?: number | null;
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
 * Where an entry counts when planning at `now`: a settled entry at its time; an open one (request on the wire) no
 * earlier than `now` — it may arrive any moment — but no later than `openUntil`.
 */
export function effectiveAt(e: UsageEntry, now: number): number {
  if (e.openUntil === undefined || e.openUntil === null) return e.at;
  return Math.max(e.at, Math.min(now, e.openUntil));
}

/** The entries as they count at `now` (open ones moved to `effectiveAt`, flag dropped). */
export function effectiveUsage(usage: readonly UsageEntry[], now: number): UsageEntry[] {
  return usage.map((e) => (e.openUntil === undefined || e.openUntil === null ? e : { at: effectiveAt(e, now), segments: e.segments }));
}

/**
 * The submit of a booking completed (accepted, failed or ambiguous) at `at`: its request arrived at the carrier by
 * then, so its entries (one message's chunks) move to start at `at` and close. Never moves them earlier.
 */
export function settle(entries: readonly UsageEntry[], at: number): UsageEntry[] {
  if (entries.length === 0) return [];
  const first = Math.min(...entries.map((e) => e.at));
  const shift = Math.max(0, at - first);
  return entries.map((e) => ({ at: e.at + shift, segments: e.segments }));
}

/**
 * Try to book `segments` at `now`. On success returns the entries to record; otherwise the earliest
 * time at which the same booking would succeed (given no other bookings meanwhile). Open entries count as arriving
 * at `now` (see `effectiveAt`); the returned entries are plain (the store marks them open when it books them).
 */
export function reserve(allUsage: readonly UsageEntry[], now: number, windowMs: number, mps: number, segments: number): Reservation {
  if (!(mps > 0)) throw new RangeError(`mps must be positive, got ${mps}`);
  const usage = effectiveUsage(allUsage, now);
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

/** Entries that can no longer affect any future booking at or after `now` (an open one counts up to `openUntil`). */
export function prune(usage: readonly UsageEntry[], now: number, windowMs: number): UsageEntry[] {
  return usage.filter((e) => Math.max(e.at, e.openUntil ?? e.at) > now - windowMs);
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
