/**
 * Event delivery retry schedule: keeps retrying for at least 24 hours (apps may be down for a day).
 * Delays after attempt n (1-based): 30 s, 1 m, 5 m, 15 m, 1 h, then every 2 h, until the first attempt is
 * 26 h old; then the delivery is given up (`failed`; it can still be replayed manually).
 * Jitter: each delay is scaled by a factor in [0.8, 1.2) so a recovering app is not hit by a thundering herd.
 * Only 2xx counts as delivered; 410 Gone disables the subscription (see shouldRetryStatus).
 */

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export const RETRY_DELAYS_MS: readonly number[] = [30 * SECOND, 1 * MINUTE, 5 * MINUTE, 15 * MINUTE, 1 * HOUR];
export const STEADY_DELAY_MS = 2 * HOUR;
export const GIVE_UP_AFTER_MS = 26 * HOUR;
export const JITTER = 0.2;

/** Per-attempt HTTP timeout for a delivery (connect + response), ms. */
export const DELIVERY_TIMEOUT_MS = 10_000;

/** Base delay (no jitter) after attempt `attempt` (1 = the first attempt has just failed). */
export function baseDelayAfter(attempt: number): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError('attempt must be an integer ≥ 1');
  return RETRY_DELAYS_MS[attempt - 1] ?? STEADY_DELAY_MS;
}

/**
 * When to try again after attempt `attempt` failed, or null to give up.
 * @param firstAttemptAt epoch ms of the first attempt
 * @param now epoch ms (when the failed attempt finished)
 * @param random a number in [0, 1) (Math.random in production; fixed in tests)
 */
export function nextDeliveryAttempt(attempt: number, firstAttemptAt: number, now: number, random: number): number | null {
  const r = Math.min(Math.max(random, 0), 0.999999);
  const delay = Math.round(baseDelayAfter(attempt) * (1 - JITTER + 2 * JITTER * r));
  const deadline = firstAttemptAt + GIVE_UP_AFTER_MS;
  if (now >= deadline) return null;
  const at = now + delay;
  // The last retry is clamped to the deadline rather than dropped, so the 26 h window is fully used.
  return Math.min(at, deadline);
}

export type DeliveryOutcome = 'delivered' | 'retry' | 'gone';

/** What an HTTP response (or null for a network error/timeout) means for the delivery. */
export function classifyDeliveryResponse(status: number | null): DeliveryOutcome {
  if (status === null) return 'retry';
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 410) return 'gone';
  return 'retry';
}
