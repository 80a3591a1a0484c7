/**
 * Twilio message status (`message_enum_status`, twilio-wire.md §1.5) → our provider-neutral status.
 * A table, not a switch: every Twilio value appears once, and the test reads the enum from Twilio's OpenAPI spec
 * so a status Twilio adds later fails the build until it is mapped here.
 *
 * Decisions:
 * - `accepted`, `scheduled`, `queued`, `sending` → `sending`: Twilio holds the message but it has not left Twilio;
 *   for us it is "with the provider". Webhook ingestion never moves a status *to* `sending` from a callback; these
 *   only refresh `providerStatus`.
 * - `sent` → `sent` (the nearest upstream carrier accepted it).
 * - `delivered`, `read` → `delivered`: `read` (WhatsApp/RCS receipt) implies delivery; the raw `read` is kept as
 *   `providerStatus`.
 * - `partially_delivered` (deprecated) → `sent`: some parts reached the carrier, delivery is not confirmed; staying
 *   non-terminal lets a later `delivered`/`undelivered` still apply.
 * - `undelivered` → `undelivered`, `failed` → `failed`, `canceled` → `canceled`.
 * - `receiving`, `received` → null: inbound statuses, never the status of an outbound message.
 */
import type { MessageStatus } from '../../domain/message.ts';

export const TWILIO_STATUS_MAP: Readonly<Record<string, MessageStatus | null>> = Object.freeze({
  accepted: 'sending',
  scheduled: 'sending',
  queued: 'sending',
  sending: 'sending',
  sent: 'sent',
  partially_delivered: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'canceled',
  receiving: null,
  received: null,
});

/** Our status for a Twilio status; null for inbound statuses and for values Twilio has not documented. */
export function mapTwilioStatus(s: string): MessageStatus | null {
  return Object.hasOwn(TWILIO_STATUS_MAP, s) ? TWILIO_STATUS_MAP[s]! : null;
}
