/**
 * What happens to an inbound message after webhook ingestion stored it (the `onInbound` hook of
 * src/webhooks/twilio-webhooks.ts); docs/dev/compliance-integration.md §5 "Webhook ingestion":
 *
 * - the receiving sender's program decides the keywords (`classifyKeyword`);
 * - opt-out / opt-in keyword (or Twilio `OptOutType` without a keyword match, source `provider`) → the ledger
 *   (`ConsentService.record`: history row, snapshot, opt-out sweep of queued messages, `contact.*` events);
 * - help → `contact.help` (no consent change);
 * - keyword auto-replies (unless the program leaves them to the provider, or the provider reports with
 *   `OptOutType` that it handled the keyword and replied itself) are real messages through the normal
 *   accept path (`prepareMessage` → accept-time consent check → store → dispatcher), category transactional,
 *   from the number written to, `metadata.keywordReply = { kind, confirmsEventId }`, keyId null;
 * - any other message → `message.received` to the owning app (resolveThreadOwner), plus the out-of-hours
 *   auto-reply if configured (no exemption).
 * Logs never carry bodies or full numbers.
 *
 * Resumable ("a crash at any point resumes"): the handling of one inbound message may run again, after a crash
 * left it unfinished (webhook retry of a stored but unhandled message, or the recovery sweep), and then writes
 * nothing twice: the ledger row is keyed by the inbound message id (`recordConsent` answers `duplicate`), the
 * auto-reply has an id derived from it (`replyIdFor`), threading is an upsert, and the last step,
 * `markInboundHandled`, writes `message.received` / `contact.help` in the same transaction that marks the message
 * handled, only if it was not handled yet.
 */
import type { Config } from '../config/schema.ts';
import type { ConversationsConfig } from '../compliance/config.ts';
import { keywordConsentState, providerOptOutTypeState } from '../compliance/consent-policy.ts';
import { silentComplianceLog, type ComplianceLogger, type ConsentService } from '../compliance/consent-service.ts';
import { DEFAULT_PROGRAM, senderKey, type ProgramConfig } from '../compliance/programs.ts';
import { maskNumber } from '../compliance/retention.ts';
import type { KeywordReplyMark } from '../compliance/consent-policy.ts';
import { prepareMessage } from '../pipeline/accept.ts';
import type { InboundRecord, NewOutboxRow, Store } from '../store/store.ts';
import { classifyKeyword, type KeywordKind } from './keywords.ts';
import { resolveThreadOwner, threadKey } from './threading.ts';

export interface InboundHandlerDeps {
  consent: ConsentService;
  /** The running configuration (accounts, routing, validity) for the auto-replies' accept path. */
  config: Readonly<Config>;
  conversations?: ConversationsConfig;
  /** Wakes the dispatcher after an auto-reply was stored. */
  onAccepted?: (count: number) => void;
  /** The app that last wrote to `contact` from `senderKey` (thread owner); default: the conversation's owner. */
  lastOutboundApp?: (contact: string, senderKey: string) => Promise<string | null>;
  log?: ComplianceLogger;
}

export interface InboundOutcome {
  keyword: KeywordKind | 'none';
  program: string;
  /** Ledger event written (opt-out / opt-in), if any. */
  consentEventId: string | null;
  /** Queued messages failed by an opt-out. */
  failedQueued: number;
  /** The auto-reply stored, if any. */
  replyMessageId: string | null;
  /** `message.received` owner (non-keyword messages). */
  owner: string | null;
  /** The thread (contact, our number) it was filed in; null for a number that is not a configured sender. */
  conversationId: string | null;
  /** False when another run had already completed this message's handling (its app events were not written again). */
  completed: boolean;
}

/** The id of the auto-reply to an inbound message: derived from it, so a re-run of the handling finds it. */
export function replyIdFor(inboundId: string): string {
  return `msg_${inboundId.replace(/^in_/, '')}`;
}

export function createInboundHandler(deps: InboundHandlerDeps): (record: InboundRecord) => Promise<InboundOutcome> {
  const { consent, config } = deps;
  const store = consent.store;
  const log = deps.log ?? silentComplianceLog;
  const conv = deps.conversations ?? { routingRules: [], fallbackApp: null, unknownSenderApp: null, outOfHours: null };
  // The thread's owner: outbound messages are filed in their thread in the transaction that stores them.
  const lastOutboundApp = deps.lastOutboundApp ?? ((contact: string, key: string) => store.getThreadOwner(contact, key));
  const configured = new Set(config.accounts.flatMap((a) => a.senders.map((s) => senderKey(a.name, s.from))));

  /** Store a system reply through the accept path; null when refused (logged). */
  async function reply(record: InboundRecord, body: string, mark: KeywordReplyMark | null, purpose: string): Promise<string | null> {
    const id = replyIdFor(record.id);
    // Stored by an earlier, interrupted run of this handling: never a second reply.
    if (await store.getMessage(id)) return id;
    const now = consent.clock.now();
    const input: Record<string, unknown> = { to: record.from, from: record.to, body, category: 'transactional' };
    input.metadata = mark ? { keywordReply: mark, inReplyTo: record.id } : { autoReply: purpose, inReplyTo: record.id };
    const r = prepareMessage(input, { config, key: { id: 'system', name: 'switchboard', account: record.account }, now, idempotencyKey: null, id });
    if (!r.ok) {
      log.warn({ inboundId: record.id, code: r.error.code, purpose }, 'auto-reply not accepted');
      return null;
    }
    const message = { ...r.message, keyId: null, requestHash: null };
    const [refusal] = await consent.checkAccept([message]);
    if (refusal) {
      log.info({ inboundId: record.id, code: refusal.code, purpose }, 'auto-reply refused by consent');
      return null;
    }
    // Filed in the thread with the message (keyId null: the owner stays).
    const [out] = await store.insertMessages([{ message, events: r.events, thread: { program: consent.programOf(message.account, message.from).name } }]);
    if (!out || !out.inserted) return null;
    deps.onAccepted?.(1);
    return out.message.id;
  }

  return async function onInbound(record: InboundRecord): Promise<InboundOutcome> {
    const key = senderKey(record.account, record.to);
    const known = configured.has(key);
    const program: ProgramConfig = known ? consent.programOf(record.account, record.to) : (DEFAULT_PROGRAM as ProgramConfig);
    const k = classifyKeyword(record.body, program.keywords);
    const providerState = providerOptOutTypeState(record.providerKeyword);
    const outcome: InboundOutcome = { keyword: k.kind, program: program.name, consentEventId: null, failedQueued: 0, replyMessageId: null, owner: null, conversationId: null, completed: false };
    /** App events written with the "handled" mark (exactly once per inbound message). */
    const events: NewOutboxRow[] = [];
    const finish = async (): Promise<InboundOutcome> => {
      outcome.completed = await store.markInboundHandled({ id: record.id, outbox: events, now: consent.clock.now() });
      if (!outcome.completed) log.info({ inboundId: record.id }, 'inbound message already handled; its app events were not written again');
      return outcome;
    };
    const state = keywordConsentState(k.kind) ?? (k.kind === 'none' ? providerState : null);

    if (state) {
      const r = await consent.record({
        contact: record.from,
        program: program.name,
        state,
        source: k.kind !== 'none' ? 'inbound_keyword' : 'provider',
        at: record.receivedAt,
        evidence: {
          inboundMessageId: record.id,
          ...(k.keyword ? { keyword: k.keyword } : {}),
          ...(record.providerKeyword ? { raw: { providerOptOutType: record.providerKeyword } } : {}),
        },
      });
      outcome.consentEventId = r.eventId;
      outcome.failedQueued = r.failedMessageIds.length;
      log.info(
        { inboundId: record.id, contact: maskNumber(record.from), program: program.name, keyword: k.keyword, state, failedQueued: r.failedMessageIds.length, ...(r.duplicate ? { resumed: true } : {}) },
        'consent keyword',
      );
    }
    if (k.kind === 'help') {
      events.push(...(await consent.events.rows('contact.help', { contact: record.from, program: program.name, inboundMessageId: record.id, at: record.receivedAt }, { all: true }, consent.clock.now())));
    }
    if (k.kind !== 'none' || state) {
      // Keyword messages are threaded too (they are part of the conversation), but not sent as message.received.
      if (known) {
        const conv = await store.touchConversation({ contact: record.from, account: record.account, from: record.to, program: program.name, direction: 'in', ownerApp: null, at: record.receivedAt });
        outcome.conversationId = conv.id;
      }
    }
    if (k.kind !== 'none') {
      const text = k.kind === 'opt_out' ? program.replies.optOut : k.kind === 'opt_in' ? program.replies.optIn : program.replies.help;
      // `OptOutType` on the webhook: the provider handled the keyword itself (blocked or unblocked the number and
      // replied, Twilio Advanced Opt-Out); a reply of ours would be a second one (after STOP, refused with 21610).
      if (known && (program.autoReplies ?? 'switchboard') === 'switchboard' && text && record.providerKeyword === null) {
        outcome.replyMessageId = await reply(record, text, { kind: k.kind, confirmsEventId: outcome.consentEventId }, k.kind);
      }
      return finish();
    }
    if (state) return finish(); // a provider-only keyword: recorded, not an app message

    // An ordinary message: to the owning app.
    const last = known ? await lastOutboundApp(record.from, key) : null;
    const owner = resolveThreadOwner({
      lastOutboundAppByThread: new Map(last ? [[threadKey(record.from, key), last]] : []),
      routingRules: conv.routingRules,
      inbound: { contact: record.from, senderKey: known ? key : null, program: known ? program.name : null, body: record.body, receivedAt: record.receivedAt },
      fallbackApp: conv.fallbackApp,
      unknownSenderApp: conv.unknownSenderApp,
      outOfHours: conv.outOfHours,
    });
    outcome.owner = owner.app;
    if (known) {
      const conv = await store.touchConversation({ contact: record.from, account: record.account, from: record.to, program: program.name, direction: 'in', ownerApp: owner.app, at: record.receivedAt });
      outcome.conversationId = conv.id;
    }
    if (owner.app) {
      const rows = await consent.events.rows(
        'message.received',
        {
          messageId: record.id,
          conversationId: outcome.conversationId,
          from: record.from,
          to: record.to,
          account: record.account,
          program: known ? program.name : null,
          body: record.body,
          numMedia: record.numMedia,
          mediaUrls: record.mediaUrls,
          receivedAt: record.receivedAt,
          ownerApp: owner.app,
          ownerReason: owner.reason,
        },
        { app: owner.app },
        consent.clock.now(),
      );
      events.push(...rows);
    } else {
      log.info({ inboundId: record.id, contact: maskNumber(record.from), reason: owner.reason }, 'inbound message has no owning app');
    }
    if (owner.autoReply) outcome.replyMessageId = await reply(record, owner.autoReply, null, 'out_of_hours');
    return finish();
  };
}
