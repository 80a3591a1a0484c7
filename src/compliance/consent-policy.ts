/**
 * Consent: the send decision (enforced twice — at accept and immediately before submission), the ledger's
 * state math, and the append-only history event model. Pure; the store keeps `ConsentSnapshot` per
 * (contact, program) and appends every `ConsentEvent` (docs/dev/compliance-integration.md).
 */
import type { Category } from '../domain/message.ts';
import type { KeywordKind } from '../inbound/keywords.ts';
import type { ProgramConfig, SendPolicy } from './programs.ts';

export type ConsentState = 'opted_in' | 'opted_out' | 'unknown';
export const CONSENT_STATES: readonly ConsentState[] = ['opted_in', 'opted_out', 'unknown'];

export type ConsentSource = 'inbound_keyword' | 'api' | 'import' | 'dashboard' | 'provider';
export const CONSENT_SOURCES: readonly ConsentSource[] = ['inbound_keyword', 'api', 'import', 'dashboard', 'provider'];

export interface ConsentEvidence {
  /** The inbound message (our id) that carried the keyword. */
  inboundMessageId?: string;
  /** The normalised keyword, e.g. "STOP". */
  keyword?: string;
  /** API key id of the caller (source api/import). */
  keyId?: string;
  /** Name of the calling app or the dashboard operator. */
  appName?: string;
  /** Free text from the operator ("consent form signed 2026-03-01"). */
  note?: string;
  /** Raw evidence: import row, provider OptOutType, provider error code… Never a message body beyond the keyword. */
  raw?: Record<string, unknown>;
}

/** One row of the append-only history. `id` and `seq` are assigned by the store. */
export interface ConsentEvent {
  id?: string;
  /** Store-assigned, strictly increasing insertion order; breaks ties between equal `at`. */
  seq?: number;
  /** E.164. */
  contact: string;
  /** Program name. */
  program: string;
  state: ConsentState;
  source: ConsentSource;
  /** When the consent change happened (epoch ms) — for imports, the time in the file, not the import time. */
  at: number;
  evidence: ConsentEvidence;
}

/** Current state per (contact, program), derived from the history. */
export interface ConsentSnapshot {
  contact: string;
  program: string;
  state: ConsentState;
  /** `at` of the event that set the state. */
  since: number;
  source: ConsentSource | null;
  /** Id of the event that set the state (a keyword reply confirms exactly this event). */
  eventId: string | null;
}

export function emptySnapshot(contact: string, program: string): ConsentSnapshot {
  return { contact, program, state: 'unknown', since: 0, source: null, eventId: null };
}

export type ConsentChangeResult =
  | { accepted: true; changed: boolean; next: ConsentSnapshot }
  | { accepted: false; code: 'SB_CONSENT_EVIDENCE_REQUIRED' | 'SB_VALIDATION'; reason: string; next: ConsentSnapshot };

/**
 * Apply one change to the current snapshot.
 * - Latest `at` wins; an event older than the snapshot is still appended to the history (accepted) but does
 *   not change the state (`changed: false`) — imports of old consent never override a newer STOP.
 * - Re-stating the same state is accepted (the evidence is kept) with `changed: false`: no new app event.
 * - A consumer's own opt-out (keyword or provider) can be reversed by an operator or app (api, import,
 *   dashboard) only with evidence (`note` or `raw`): re-subscribing someone who texted STOP must be justified.
 * - Keywords never set `unknown`; `unknown` (forget) is only for api/dashboard.
 */
export function applyConsentChange(current: ConsentSnapshot | null, change: ConsentEvent): ConsentChangeResult {
  const cur = current ?? emptySnapshot(change.contact, change.program);
  if (cur.contact !== change.contact || cur.program !== change.program) {
    return { accepted: false, code: 'SB_VALIDATION', reason: 'event is for another contact or program', next: cur };
  }
  if (!CONSENT_STATES.includes(change.state) || !CONSENT_SOURCES.includes(change.source)) {
    return { accepted: false, code: 'SB_VALIDATION', reason: `invalid state or source`, next: cur };
  }
  if (!Number.isFinite(change.at) || change.at <= 0) {
    return { accepted: false, code: 'SB_VALIDATION', reason: '`at` must be a positive epoch-ms time', next: cur };
  }
  if (change.state === 'unknown' && (change.source === 'inbound_keyword' || change.source === 'provider' || change.source === 'import')) {
    return { accepted: false, code: 'SB_VALIDATION', reason: `source ${change.source} cannot reset consent to unknown`, next: cur };
  }
  if (change.source === 'inbound_keyword' && !change.evidence.inboundMessageId) {
    return { accepted: false, code: 'SB_VALIDATION', reason: 'a keyword change must reference its inbound message', next: cur };
  }
  const consumerOptOut = cur.state === 'opted_out' && (cur.source === 'inbound_keyword' || cur.source === 'provider');
  const operatorSource = change.source === 'api' || change.source === 'import' || change.source === 'dashboard';
  const hasEvidence = (change.evidence.note?.trim() ?? '') !== '' || (change.evidence.raw !== undefined && Object.keys(change.evidence.raw).length > 0);
  if (consumerOptOut && operatorSource && change.state !== 'opted_out' && change.at >= cur.since && !hasEvidence) {
    return {
      accepted: false,
      code: 'SB_CONSENT_EVIDENCE_REQUIRED',
      reason: `the contact opted out by ${cur.source === 'provider' ? 'the provider' : 'keyword'}; overriding it needs evidence (note or raw)`,
      next: cur,
    };
  }
  if (change.at < cur.since) return { accepted: true, changed: false, next: cur };
  const next: ConsentSnapshot = {
    contact: cur.contact,
    program: cur.program,
    state: change.state,
    since: change.at,
    source: change.source,
    eventId: change.id ?? null,
  };
  return { accepted: true, changed: change.state !== cur.state, next };
}

/** Fold a full history (any order) into the snapshot; used by the contract tests and by rebuilds. */
export function replayHistory(contact: string, program: string, events: readonly ConsentEvent[]): ConsentSnapshot {
  const ordered = [...events].sort((a, b) => a.at - b.at || (a.seq ?? 0) - (b.seq ?? 0));
  let snap = emptySnapshot(contact, program);
  for (const e of ordered) {
    const r = applyConsentChange(snap, e);
    if (r.accepted) snap = r.next;
  }
  return snap;
}

/** Consent change implied by an inbound keyword (HELP changes nothing). */
export function keywordConsentState(kind: KeywordKind | 'none'): ConsentState | null {
  return kind === 'opt_out' ? 'opted_out' : kind === 'opt_in' ? 'opted_in' : null;
}

/** Twilio's Advanced Opt-Out `OptOutType` (STOP | START | HELP) as a consent change, when present on an inbound webhook. */
export function providerOptOutTypeState(optOutType: string | undefined | null): ConsentState | null {
  const t = (optOutType ?? '').trim().toUpperCase();
  return t === 'STOP' ? 'opted_out' : t === 'START' ? 'opted_in' : null;
}

// ---------------------------------------------------------------------------------------------------------
// The send decision

export interface KeywordReplyMark {
  /** Which keyword this auto-reply answers. */
  kind: KeywordKind;
  /** The consent event (id) this reply confirms (opt-out/opt-in replies). */
  confirmsEventId: string | null;
}

export interface ConsentDecisionInput {
  category: Category;
  consent: ConsentState;
  program: Pick<ProgramConfig, 'promotionalRequiresOptIn' | 'transactionalPolicy' | 'otpPolicy'>;
  stage: 'accept' | 'dispatch';
  /** Set on keyword auto-replies (message metadata `keywordReply`); absent for every other message. */
  isKeywordReply?: KeywordReplyMark | null;
  /** `eventId` of the current consent snapshot (to check an opt-out confirmation is for *this* opt-out). */
  consentEventId?: string | null;
}

export type ConsentDecision =
  | { allow: true; reason: 'consent' | 'keyword_reply' }
  | { allow: false; code: 'SB_OPTED_OUT' | 'SB_OPT_IN_REQUIRED'; providerCode: '21610' | null; message: string };

function policyFor(category: Category, program: ConsentDecisionInput['program']): SendPolicy {
  if (category === 'promotional') return program.promotionalRequiresOptIn ? 'require_opt_in' : 'allow_unless_opted_out';
  return category === 'otp' ? program.otpPolicy : program.transactionalPolicy;
}

export function decideConsent(input: ConsentDecisionInput): ConsentDecision {
  const { category, consent, program, stage, isKeywordReply } = input;
  const when = stage === 'accept' ? 'at accept' : 'before submission';
  if (isKeywordReply) {
    // The confirmation of an opt-out is the one message allowed to an opted-out contact, and only while that
    // very opt-out is the current state (a STOP → START → STOP sequence does not unlock the first reply).
    if (isKeywordReply.kind === 'opt_out' && consent === 'opted_out') {
      if (isKeywordReply.confirmsEventId !== null && isKeywordReply.confirmsEventId === (input.consentEventId ?? null)) {
        return { allow: true, reason: 'keyword_reply' };
      }
    } else if (consent !== 'opted_out') {
      // HELP and START replies are owed to anyone not opted out, whatever the program's opt-in policy.
      return { allow: true, reason: 'keyword_reply' };
    }
    // Opted out (Twilio sends no HELP reply to an opted-out number either): fall through and block.
  }
  if (consent === 'opted_out') {
    return {
      allow: false,
      code: 'SB_OPTED_OUT',
      providerCode: '21610',
      message: `The recipient opted out of this program; refused ${when} (like Twilio error 21610).`,
    };
  }
  if (policyFor(category, program) === 'require_opt_in' && consent !== 'opted_in') {
    return {
      allow: false,
      code: 'SB_OPT_IN_REQUIRED',
      providerCode: null,
      message: `This program requires an explicit opt-in for ${category} messages and the recipient has none; refused ${when}.`,
    };
  }
  return { allow: true, reason: 'consent' };
}
