/**
 * Twilio's test-credential magic numbers (twilio-wire.md §5), the sandbox-only numbers with asynchronous
 * outcomes, opt-out keywords (§6) and the error texts the sandbox returns. Pure tables and functions.
 */

export interface SyncError {
  status: number;
  code: number;
  message: string;
}

const err = (code: number, message: string, status = 400): SyncError => ({ status, code, message });

/** Magic `From` values (test credentials; also honoured on sandbox accounts). */
export function magicFromError(from: string): SyncError | null {
  switch (from) {
    case '+15005550001':
      return err(21212, `The 'From' number ${from} is not a valid phone number, shortcode, or alphanumeric sender ID.`);
    case '+15005550007':
      return notOwned(from);
    case '+15005550008':
      return queueFull(from);
    default:
      return null;
  }
}

/** Magic `To` values. */
export function magicToError(to: string, from: string | null): SyncError | null {
  switch (to) {
    case '+15005550001':
      return invalidTo(to);
    case '+15005550002':
      return err(21612, `The 'To' phone number: ${to}, is not currently reachable using the 'From' phone number: ${from ?? ''} via SMS.`);
    case '+15005550003':
      return err(21408, `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${to}.`);
    case '+15005550004':
      return optedOut(to);
    case '+15005550009':
      return err(21614, `'To' number ${to} is not a valid mobile number`);
    default:
      return null;
  }
}

/** The From numbers that pass validation under test credentials. */
export const TEST_CREDENTIALS_VALID_FROM = '+15005550006';

export const invalidTo = (to: string) => err(21211, `The 'To' number ${to} is not a valid phone number.`);
export const notOwned = (from: string) => err(21606, `The From phone number ${from} is not a valid, SMS-capable inbound phone number or short code for your account.`);
export const queueFull = (from: string) => err(21611, `This 'From' number ${from} has exceeded the maximum number of queued messages`);
export const optedOut = (to: string) => err(21610, `Attempt to send to unsubscribed recipient ${to}`);

/**
 * Sandbox-only recipients with asynchronous outcomes (no Twilio equivalent: Twilio's test credentials send no
 * callbacks at all). Used with a normal sandbox account.
 */
export const SANDBOX_NUMBERS = {
  /** Goes sent → undelivered, ErrorCode 30003. */
  undelivered: '+15005550010',
  /** Goes failed, ErrorCode 30005, without reaching `sent`. */
  failed: '+15005550011',
  /** Delivered, then the handset replies "Auto-reply: <your text>". */
  autoReply: '+15005550012',
  /** Delivered, then the handset replies STOP (opting out of the sender / its service). */
  autoStop: '+15005550013',
  /** Sent, never delivered (no DLR arrives). */
  noDlr: '+15005550014',
} as const;

/** Async error texts as Twilio's error dictionary names them. */
export const ASYNC_ERROR_MESSAGES: Record<number, string> = {
  30001: 'Queue overflow',
  30002: 'Account suspended',
  30003: 'Unreachable destination handset',
  30004: 'Message blocked',
  30005: 'Unknown destination handset',
  30006: 'Landline or unreachable carrier',
  30007: 'Message filtered',
  30008: 'Unknown error',
  30036: 'Validity Period Expired',
};

export type Keyword = 'stop' | 'start' | 'help';

const STOP = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'END', 'QUIT', 'REVOKE', 'OPTOUT', 'CANCEL']);
const START = new Set(['START', 'YES', 'UNSTOP']);
const HELP = new Set(['HELP', 'INFO']);

/** Twilio's default keyword handling: single-word messages only, case-insensitive, surrounding whitespace ignored. */
export function classifyKeyword(body: string): Keyword | null {
  const w = body.trim().toUpperCase();
  if (STOP.has(w)) return 'stop';
  if (START.has(w)) return 'start';
  if (HELP.has(w)) return 'help';
  return null;
}

export const KEYWORD_REPLIES: Record<Keyword, string> = {
  stop: 'You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe.',
  start: 'You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
  help: 'Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
};

export const TOLL_FREE_STOP_REPLY =
  'NETWORK MSG: You replied with the word "stop" which blocks all texts sent from this number. Text back "unstop" to receive messages again.';

/** E.164 phone number (or a channel address such as whatsapp:+1…). */
export function isAddress(v: string): boolean {
  return /^(whatsapp:|rcs:|messenger:)?\+[1-9]\d{6,14}$/.test(v);
}

/** A short code (5–6 digits) or E.164 number usable as a sender. */
export function isSender(v: string): boolean {
  return isAddress(v) || /^\d{5,6}$/.test(v) || /^[A-Za-z0-9 ]{1,11}$/.test(v) && /[A-Za-z]/.test(v);
}

/** Sender type guessed from the number (used when a sender is auto-provisioned). */
export function guessSenderType(v: string): 'long_code' | 'toll_free' | 'short_code' | 'alphanumeric' | 'whatsapp' {
  if (v.startsWith('whatsapp:')) return 'whatsapp';
  if (/^\d{5,6}$/.test(v)) return 'short_code';
  if (/^\+1(800|833|844|855|866|877|888)\d{7}$/.test(v)) return 'toll_free';
  if (!v.startsWith('+')) return 'alphanumeric';
  return 'long_code';
}
