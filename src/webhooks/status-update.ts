/**
 * What a provider status callback does to a message: a pure decision over the current record, applied by the
 * webhook route with one compare-and-set (`store.transition`). Rules (docs/reference/webhooks.md):
 *
 * - The status only moves along the state machine (`canTransition`); the compare-and-set is conditioned on
 *   `predecessorsOf(to)`, so two callbacks racing (or a callback racing the dispatcher) can never move it backwards.
 * - A callback that maps to our current status refreshes `providerStatus` (e.g. `delivered` → `read`) without a move.
 * - Callbacks never move a message *to* `sending` (Twilio `queued`/`accepted`/`sending`): that state belongs to the
 *   dispatcher's claim. They only refresh `providerStatus` while the message is `sending`.
 * - Anything else (a late `sent` after `delivered`, a callback after a terminal status, an unknown Twilio status) is
 *   only recorded in the timeline: event `status` with `detail.applied = false` and a `reason`.
 * - Moving past `sending` marks the submit `accepted` and fills `providerMessageId` when the dispatcher has not
 *   recorded it yet (the callback overtook the submit response; the dispatcher's own write then keeps our status).
 */
import { canTransition, isTerminal, predecessorsOf, type MessageRecord, type MessageStatus } from '../domain/message.ts';
import type { MessagePatch } from '../store/store.ts';

export interface StatusCallback {
  providerMessageId: string;
  /** Provider's raw status (Twilio `MessageStatus`). */
  providerStatus: string;
  /** Our status for it; null when it has none (unknown or inbound-only status). */
  mapped: MessageStatus | null;
  errorCode: string | null;
  /** Text for errorMessage when the callback carries an error code (catalogue meaning). */
  errorMessage: string | null;
}

export type NotAppliedReason =
  /** The provider status has no meaning for an outbound message (unknown value, `received`, …). */
  | 'unmapped_status'
  /** Our status is final; nothing moves it any more. */
  | 'final'
  /** The callback is older than what we know (e.g. `sent` after `delivered`, `queued` after `sent`). */
  | 'out_of_order';

export type StatusDecision =
  | { action: 'advance'; to: MessageStatus; from: MessageStatus[]; patch: MessagePatch }
  | { action: 'refresh'; from: MessageStatus[]; patch: MessagePatch }
  | { action: 'record'; reason: NotAppliedReason };

export function decideStatusUpdate(m: MessageRecord, cb: StatusCallback, now: number): StatusDecision {
  const to = cb.mapped;
  if (to === null) return { action: 'record', reason: 'unmapped_status' };

  const errorPatch: MessagePatch = cb.errorCode ? { errorCode: cb.errorCode, errorMessage: cb.errorMessage ?? m.errorMessage } : {};

  if (to === m.status) {
    return { action: 'refresh', from: [m.status], patch: { providerStatus: cb.providerStatus, ...errorPatch } };
  }

  if (to === 'sending' || !canTransition(m.status, to)) {
    return { action: 'record', reason: isTerminal(m.status) ? 'final' : 'out_of_order' };
  }

  const patch: MessagePatch = { status: to, providerStatus: cb.providerStatus, ...errorPatch };
  if (isTerminal(to)) patch.completedAt = now;
  if (m.providerMessageId === null) patch.providerMessageId = cb.providerMessageId;
  if (m.submitState === 'in_flight' || m.submitState === 'ambiguous') patch.submitState = 'accepted';
  return { action: 'advance', to, from: predecessorsOf(to), patch };
}
