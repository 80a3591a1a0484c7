/**
 * Conversations (pure rules). A thread is one (contact, sender) pair: every outbound message from a sender to
 * a contact and every inbound message from that contact to that sender. Who owns an inbound message (which
 * app gets `message.received`):
 *   1. a routing rule with a `keywordPrefix` that matches the first word (explicit intent: "JOBS …" → hr-app);
 *   2. the app that last wrote to the contact from that sender (`lastOutboundAppByThread`);
 *   3. the first routing rule (config order) whose `sender` / `program` match;
 *   4. the fallback app (or the unknown-sender fallback when the number it was sent to is not configured).
 * Outside configured business hours an `outOfHours.app` (if set) takes the message, and `outOfHours.autoReply`
 * (if set) is returned for the caller to send through the normal pipeline.
 */
import { wallClock } from '../compliance/quiet-hours.ts';
import { normalizeKeyword } from './keywords.ts';

export interface RoutingRule {
  /** First word of the body (case/whitespace-insensitive), e.g. "JOBS". */
  keywordPrefix?: string;
  /** Sender key "account:from" (or "account:*"). */
  sender?: string;
  /** Program name. */
  program?: string;
  /** App (API key name) that owns matching threads. */
  app: string;
}

export interface InboundForRouting {
  /** Contact E.164 (the inbound `From`). */
  contact: string;
  /** Our sender key "account:from" for the inbound `To`; null when the number is not configured. */
  senderKey: string | null;
  /** Program governing the sender (null for an unknown sender). */
  program: string | null;
  body: string;
  receivedAt: number;
}

export interface OutOfHoursConfig {
  /** Business hours, local 'HH:MM' in `timeZone`; outside them the rule applies. */
  start: string;
  end: string;
  timeZone: string;
  /** ISO weekdays that are business days (1 = Monday … 7 = Sunday); default Monday–Friday. */
  days?: number[];
  app?: string | null;
  autoReply?: string | null;
}

export interface ThreadOwnerInput {
  /** threadKey → app that last sent on the thread. */
  lastOutboundAppByThread: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  routingRules: readonly RoutingRule[];
  inbound: InboundForRouting;
  fallbackApp: string | null;
  unknownSenderApp?: string | null;
  outOfHours?: OutOfHoursConfig | null;
}

export type OwnerReason = 'keyword_prefix' | 'last_outbound' | 'sender_rule' | 'program_rule' | 'fallback' | 'unknown_sender' | 'out_of_hours';

export interface ThreadOwner {
  app: string | null;
  reason: OwnerReason;
  threadKey: string | null;
  /** Text to send back (through the normal send path, sticky to the same sender), or null. */
  autoReply: string | null;
}

export function threadKey(contact: string, senderKey: string): string {
  return `${contact}|${senderKey}`;
}

function lookupLast(map: ThreadOwnerInput['lastOutboundAppByThread'], key: string): string | undefined {
  return map instanceof Map ? map.get(key) : (map as Readonly<Record<string, string>>)[key];
}

function senderMatches(ruleSender: string, senderKey: string | null): boolean {
  if (senderKey === null) return false;
  if (ruleSender === senderKey || ruleSender === '*') return true;
  return ruleSender.endsWith(':*') && senderKey.startsWith(ruleSender.slice(0, -1));
}

function firstWord(body: string): string {
  const n = normalizeKeyword(body);
  const sp = n.indexOf(' ');
  return sp < 0 ? n : n.slice(0, sp);
}

function ruleMatches(rule: RoutingRule, inbound: InboundForRouting, word: string): boolean {
  if (rule.keywordPrefix !== undefined && normalizeKeyword(rule.keywordPrefix) !== word) return false;
  if (rule.sender !== undefined && !senderMatches(rule.sender, inbound.senderKey)) return false;
  if (rule.program !== undefined && rule.program !== inbound.program) return false;
  return true;
}

const HHMM = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));

/** True when `at` is outside the business hours of `cfg`. */
export function isOutOfHours(at: number, cfg: Pick<OutOfHoursConfig, 'start' | 'end' | 'timeZone' | 'days'>): boolean {
  const wall = wallClock(at, cfg.timeZone);
  const isoDay = ((new Date(wall).getUTCDay() + 6) % 7) + 1;
  const days = cfg.days ?? [1, 2, 3, 4, 5];
  const minute = Math.floor((wall % 86_400_000) / 60_000);
  const s = HHMM(cfg.start);
  const e = HHMM(cfg.end);
  // Business hours may wrap midnight (a night shift); the day is the day the shift started.
  if (s < e) return !(days.includes(isoDay) && minute >= s && minute < e);
  const prevDay = isoDay === 1 ? 7 : isoDay - 1;
  const inLate = days.includes(isoDay) && minute >= s;
  const inEarly = days.includes(prevDay) && minute < e;
  return !(inLate || inEarly);
}

export function resolveThreadOwner(input: ThreadOwnerInput): ThreadOwner {
  const { inbound, routingRules } = input;
  const key = inbound.senderKey === null ? null : threadKey(inbound.contact, inbound.senderKey);
  const word = firstWord(inbound.body);

  const base = ((): Omit<ThreadOwner, 'autoReply' | 'threadKey'> => {
    if (inbound.senderKey === null) {
      return { app: input.unknownSenderApp ?? input.fallbackApp, reason: 'unknown_sender' };
    }
    for (const rule of routingRules) {
      if (rule.keywordPrefix !== undefined && word !== '' && ruleMatches(rule, inbound, word)) return { app: rule.app, reason: 'keyword_prefix' };
    }
    const last = key === null ? undefined : lookupLast(input.lastOutboundAppByThread, key);
    if (last !== undefined) return { app: last, reason: 'last_outbound' };
    for (const rule of routingRules) {
      if (rule.keywordPrefix !== undefined || (rule.sender === undefined && rule.program === undefined)) continue;
      if (ruleMatches(rule, inbound, word)) return { app: rule.app, reason: rule.sender !== undefined ? 'sender_rule' : 'program_rule' };
    }
    return { app: input.fallbackApp, reason: 'fallback' };
  })();

  const ooh = input.outOfHours;
  if (ooh && isOutOfHours(inbound.receivedAt, ooh)) {
    return {
      app: ooh.app ?? base.app,
      reason: ooh.app ? 'out_of_hours' : base.reason,
      threadKey: key,
      autoReply: inbound.senderKey !== null ? (ooh.autoReply ?? null) : null,
    };
  }
  return { ...base, threadKey: key, autoReply: null };
}
