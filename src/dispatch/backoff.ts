/**
 * Retry delay for transient provider failures: exponential backoff with "full jitter"
 * (AWS Architecture Blog, "Exponential Backoff And Jitter"): the delay is drawn uniformly from
 * [0, min(maxMs, baseMs · 2^(attempt − 1))).
 *
 * Why full jitter: it spreads the retries of many messages that failed together (a provider outage) over the whole
 * window, so they do not come back as a synchronised burst; decorrelated jitter would need the previous delay, which
 * the dispatcher does not keep. Pure: the random source is passed in (tests use a fixed one).
 * Documented in docs/reference/dispatch.md (Retries).
 */

export interface BackoffConfig {
  /** Ceiling of the first retry's delay (ms). */
  baseMs: number;
  /** No delay is ever longer than this (ms). */
  maxMs: number;
}

/**
 * Delay (ms, integer) before the retry that follows failed attempt number `attempt` (1 = the first attempt failed).
 * `random` returns a number in [0, 1); values outside are clamped.
 */
export function nextRetryDelay(attempt: number, cfg: BackoffConfig, random: () => number): number {
  const maxMs = Math.max(0, cfg.maxMs);
  const baseMs = Math.min(Math.max(0, cfg.baseMs), maxMs);
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  // 2^(n−1) overflows to Infinity for large n; min() with maxMs caps it (baseMs 0 stays 0).
  const ceiling = baseMs === 0 ? 0 : Math.min(maxMs, baseMs * 2 ** (n - 1));
  let r = random();
  if (!(r >= 0)) r = 0; // NaN or negative
  if (r >= 1) r = 1 - Number.EPSILON;
  return Math.floor(r * ceiling);
}
