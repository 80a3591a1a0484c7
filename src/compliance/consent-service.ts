/**
 * The consent ledger as the rest of Switchboard uses it: which program governs a sender, recording a change
 * (with its app events and the opt-out sweep, under the per-contact ConsentGate), and the accept-time decision.
 * Pure decisions live in consent-policy.ts / quiet-hours.ts; this module only adds the store and the config.
 */
import type { Clock } from '../domain/clock.ts';
import type { MessageRecord } from '../domain/message.ts';
import { SwitchboardError } from '../errors.ts';
import { AppEvents } from '../events/outbox.ts';
import { consentKey, type RecordConsentResult, type Store } from '../store/store.ts';
import { ConsentGate } from './consent-gate.ts';
import { decideConsent, emptySnapshot, type ConsentEvent, type ConsentSnapshot, type KeywordReplyMark } from './consent-policy.ts';
import { DEFAULT_PROGRAM, DEFAULT_PROGRAM_NAME, programByName, programFor, senderKey, type ProgramConfig } from './programs.ts';
import { countryAllowed } from './quiet-hours.ts';

type LogFn = (obj: Record<string, unknown>, msg?: string) => void;
export interface ComplianceLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}
const noop: LogFn = () => {};
export const silentComplianceLog: ComplianceLogger = { debug: noop, info: noop, warn: noop, error: noop };

export interface ConsentServiceDeps {
  store: Store;
  clock: Clock;
  programs: readonly ProgramConfig[];
  /** Configured accounts (sender keys → program membership for the opt-out sweep). */
  accounts: readonly { name: string; senders: readonly { from: string }[] }[];
  gate?: ConsentGate;
  events?: AppEvents;
  log?: ComplianceLogger;
}

/** A message's consent verdict at accept or dispatch. */
export type SendVerdict =
  | { allow: true; program: ProgramConfig; snapshot: ConsentSnapshot }
  | { allow: false; program: ProgramConfig; snapshot: ConsentSnapshot | null; code: 'SB_OPTED_OUT' | 'SB_OPT_IN_REQUIRED' | 'SB_COUNTRY_BLOCKED'; providerCode: string | null; message: string };

/** The keyword-reply mark carried in a message's metadata, if well formed. */
export function keywordReplyMark(m: Pick<MessageRecord, 'metadata' | 'keyId'>): KeywordReplyMark | null {
  // Only system messages (no API key) may carry the exemption: an app cannot forge it through metadata.
  if (m.keyId !== null) return null;
  const k = m.metadata?.keywordReply as { kind?: unknown; confirmsEventId?: unknown } | undefined;
  if (!k || (k.kind !== 'opt_out' && k.kind !== 'opt_in' && k.kind !== 'help')) return null;
  return { kind: k.kind, confirmsEventId: typeof k.confirmsEventId === 'string' ? k.confirmsEventId : null };
}

/** Pure: the verdict for one message given its program and the contact's snapshot in it. */
export function sendVerdict(m: Pick<MessageRecord, 'to' | 'category' | 'metadata' | 'keyId'>, program: ProgramConfig, snap: ConsentSnapshot | null, stage: 'accept' | 'dispatch'): SendVerdict {
  const snapshot = snap ?? emptySnapshot(m.to, program.name);
  if (!countryAllowed(m.to, program)) {
    return { allow: false, program, snapshot, code: 'SB_COUNTRY_BLOCKED', providerCode: null, message: `Program "${program.name}" does not allow this destination country` };
  }
  const d = decideConsent({
    category: m.category,
    consent: snapshot.state,
    program,
    stage,
    isKeywordReply: keywordReplyMark(m),
    consentEventId: snapshot.eventId,
  });
  if (d.allow) return { allow: true, program, snapshot };
  return { allow: false, program, snapshot, code: d.code, providerCode: d.providerCode, message: d.message };
}

export class ConsentService {
  readonly store: Store;
  readonly clock: Clock;
  readonly programs: readonly ProgramConfig[];
  readonly gate: ConsentGate;
  readonly events: AppEvents;
  private readonly log: ComplianceLogger;
  private readonly senderKeys: string[];

  constructor(deps: ConsentServiceDeps) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.programs = deps.programs;
    this.gate = deps.gate ?? new ConsentGate();
    this.events = deps.events ?? new AppEvents(deps.store);
    this.log = deps.log ?? silentComplianceLog;
    this.senderKeys = deps.accounts.flatMap((a) => a.senders.map((s) => senderKey(a.name, s.from)));
  }

  programOf(account: string, from: string): ProgramConfig {
    return programFor(senderKey(account, from), this.programs);
  }

  /** A program by name; the built-in `default` exists when no configured program takes its name. */
  programNamed(name: string): ProgramConfig | null {
    return programByName(name, this.programs);
  }

  /** Every program a contact may have consent in (configured ones, plus `default` when some sender falls to it). */
  allPrograms(): ProgramConfig[] {
    const list = [...this.programs];
    const usesDefault = this.senderKeys.some((k) => programFor(k, this.programs).name === DEFAULT_PROGRAM_NAME) || list.length === 0;
    if (usesDefault && !list.some((p) => p.name === DEFAULT_PROGRAM_NAME)) list.push(DEFAULT_PROGRAM as ProgramConfig);
    return list;
  }

  /** Configured sender keys governed by `program` (the opt-out sweep's scope). */
  sendersOf(program: string): string[] {
    return this.senderKeys.filter((k) => programFor(k, this.programs).name === program);
  }

  /**
   * Record one consent change: the history row, the snapshot, `contact.opted_out|opted_in` for every subscriber,
   * and (opt-out) the sweep of queued messages — one store transaction. An opt-out waits for the contact's
   * in-flight checked submits (ConsentGate) and is stamped after them.
   */
  async record(event: ConsentEvent): Promise<RecordConsentResult> {
    const run = async (): Promise<RecordConsentResult> => {
      const now = this.clock.now();
      const type = event.state === 'opted_out' ? 'contact.opted_out' : event.state === 'opted_in' ? 'contact.opted_in' : null;
      const outbox = type
        ? await this.events.rows(type, { contact: event.contact, program: event.program, state: event.state, source: event.source, at: event.at }, { all: true }, now)
        : [];
      const r = await this.store.recordConsent({ event, programSenders: this.sendersOf(event.program), outbox, now });
      if (r.result.accepted && !r.duplicate) {
        this.log.info(
          { program: event.program, state: event.state, source: event.source, changed: r.result.changed, consentEventId: r.eventId, failedQueued: r.failedMessageIds.length },
          'consent recorded',
        );
      }
      return r;
    };
    return event.state === 'opted_out' ? this.gate.exclusive(event.contact, run) : run();
  }

  /** Accept-time verdicts for messages about to be stored (one store read for the batch). */
  async checkAccept(messages: readonly MessageRecord[]): Promise<(SwitchboardError | null)[]> {
    const programs = messages.map((m) => this.programOf(m.account, m.from));
    const snaps = await this.store.getConsentMany(messages.map((m, i) => ({ contact: m.to, program: programs[i]!.name })));
    return messages.map((m, i) => {
      const program = programs[i]!;
      const v = sendVerdict(m, program, snaps.get(consentKey(m.to, program.name)) ?? null, 'accept');
      if (v.allow) return null;
      return new SwitchboardError(v.code, {
        message: v.message,
        field: 'to',
        details: { program: program.name, ...(v.providerCode ? { providerCode: v.providerCode } : {}) },
      });
    });
  }

  /** Dispatch-time verdict: read the contact's current snapshot for the message's program. */
  async checkDispatch(m: MessageRecord): Promise<SendVerdict> {
    const program = this.programOf(m.account, m.from);
    const [snap] = await this.store.getConsent(m.to, program.name);
    return sendVerdict(m, program, snap ?? null, 'dispatch');
  }
}
