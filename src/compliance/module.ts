/**
 * Issue 4 assembled: the consent service, the dispatch guard, the inbound handler, the event deliverer and the
 * HTTP routes, built from the store, the clock and the config. The composition root (src/app.ts) creates it
 * once, passes `guard` to the Dispatcher, `onInbound` (also as `resumeInbound`), `onStatus` and `statusOutbox` to
 * the webhook routes, `consent` to the message routes (accept-time check), registers `routes`, and starts/stops it
 * with the app (start also runs the inbound recovery sweep, src/inbound/inbound-recovery.ts).
 */
import type { FastifyInstance } from 'fastify';
import { consentRoutes } from '../api/consent.ts';
import { consentBulkRoutes } from '../api/consent-bulk.ts';
import { conversationRoutes } from '../api/conversations.ts';
import { subscriptionRoutes } from '../api/subscriptions.ts';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../domain/clock.ts';
import type { MessageRecord, NewEvent } from '../domain/message.ts';
import { EventDeliverer, type DelivererDeps } from '../events/deliverer.ts';
import { deliveryId, envelope } from '../events/outbox.ts';
import { createInboundHandler, type InboundOutcome } from '../inbound/inbound-handler.ts';
import { InboundRecovery, type InboundRecoveryResult } from '../inbound/inbound-recovery.ts';
import type { ExpiryOutbox, InboundRecord, NewOutboxRow, Store } from '../store/store.ts';
import {
  defaultComplianceConfig,
  defaultConversationsConfig,
  defaultEventsConfig,
  type ComplianceConfig,
  type ConversationsConfig,
  type EventsConfig,
} from './config.ts';
import { ConsentService, silentComplianceLog, type ComplianceLogger } from './consent-service.ts';
import { ComplianceDispatchGuard } from './dispatch-guard.ts';
import { withOutboundThreading } from './outbound-threading.ts';
import { maskNumber } from './retention.ts';
import { RetentionScheduler, runRetention, type RetentionRunResult } from './retention-job.ts';

/** The config sections of issue 4, optional on `Config` until merged into src/config/schema.ts. */
export type ConfigWithCompliance = Config & { compliance?: ComplianceConfig; events?: EventsConfig; conversations?: ConversationsConfig };

export interface ComplianceModuleDeps {
  store: Store;
  clock: Clock;
  config: Readonly<ConfigWithCompliance>;
  /** Lease owner id for the deliverer (unique per process). */
  owner: string;
  /** Wakes the dispatcher (auto-replies stored). */
  onAccepted?: (count: number) => void;
  log?: ComplianceLogger & { child?(bindings: Record<string, unknown>): ComplianceLogger };
  random?: () => number;
  /** Each event-delivery attempt's outcome (the deliverer's `onAttempt`): metrics. */
  onDeliveryAttempt?: DelivererDeps['onAttempt'];
}

export interface ComplianceModule {
  consent: ConsentService;
  guard: ComplianceDispatchGuard;
  deliverer: EventDeliverer;
  retention: RetentionScheduler;
  /** Apply retention now (`switchboard retention run`). */
  runRetention(opts?: { dryRun?: boolean }): Promise<RetentionRunResult>;
  compliance: ComplianceConfig;
  events: EventsConfig;
  conversations: ConversationsConfig;
  /** The webhook routes' `onInbound` hook (also their `resumeInbound`: the handling is resumable). */
  onInbound(record: InboundRecord): Promise<InboundOutcome>;
  /** The webhook routes' `statusOutbox` hook: `message.status` rows written in the status change's transaction. */
  statusOutbox(next: MessageRecord, event: NewEvent): Promise<readonly NewOutboxRow[]>;
  /** Handle inbound messages a crash left unhandled (runs at start and periodically; one instance at a time). */
  recoverInbound(): Promise<InboundRecoveryResult>;
  /** The store the send API writes through: every message it inserts is filed in its conversation in the same
   *  transaction (owner = the sending app; src/compliance/outbound-threading.ts). */
  sendStore: Store;
  /**
   * The dispatcher's `statusOutbox`: a builder of the `message.status` rows for a status change the dispatcher decides
   * (expired, failed before/at submission, gave up, a final status found by reconcile or the status poll), written in
   * the change's transaction (also inside expireDue). Reads the active message.status subscriptions once per call.
   */
  dispatchStatusOutbox(now: number): Promise<ExpiryOutbox>;
  /** The dispatcher's `onFinal` hook: its `message.status` rows were written with the change (dispatchStatusOutbox): wake delivery. */
  onFinal(message: MessageRecord): void;
  /** The webhook routes' `onStatus` hook: `message.status` to the sending app's subscriptions (unless `statusOutbox` wrote it). */
  onStatus(message: MessageRecord, event: NewEvent): void;
  /** Register /v1/contacts/…/consent and /v1/subscriptions…, /v1/deliveries/… (after registerApi). */
  routes(app: FastifyInstance): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function createComplianceModule(deps: ComplianceModuleDeps): ComplianceModule {
  const { store, clock, config } = deps;
  const log = deps.log ?? silentComplianceLog;
  const compliance = config.compliance ?? defaultComplianceConfig();
  const events = config.events ?? defaultEventsConfig();
  const conversations = config.conversations ?? defaultConversationsConfig();
  const consent = new ConsentService({ store, clock, programs: compliance.programs, accounts: config.accounts, log });
  const guard = new ComplianceDispatchGuard(consent);
  const deliverer = new EventDeliverer({ store, clock, config: events, owner: deps.owner, log, random: deps.random, onAttempt: deps.onDeliveryAttempt });
  const handle = createInboundHandler({ consent, config, conversations, onAccepted: deps.onAccepted, log });
  const retention = new RetentionScheduler({ store, clock, compliance, consent, log, owner: deps.owner });
  const recovery = new InboundRecovery({
    store,
    clock,
    owner: deps.owner,
    handle: async (r) => {
      const out = await handle(r);
      if (running) deliverer.wake();
      return out;
    },
    log,
  });
  /** Status events whose `message.status` rows were written with the status change (statusOutbox). */
  const durableStatus = new WeakSet<NewEvent>();
  let running = false;

  function statusData(m: MessageRecord, at: number): Record<string, unknown> {
    return { id: m.id, status: m.status, to: m.to, from: m.from, providerStatus: m.providerStatus, errorCode: m.errorCode, metadata: m.metadata, at };
  }

  function emitStatus(m: MessageRecord, at: number): void {
    if (m.keyId === null) return;
    const now = clock.now();
    const data = statusData(m, at);
    consent.events.emit('message.status', data, { keyId: m.keyId }, now).then(
      (rows) => {
        if (rows.length > 0 && running) deliverer.wake();
      },
      (err: unknown) => log.error({ err, messageId: m.id, to: maskNumber(m.to) }, 'could not enqueue message.status'),
    );
  }

  return {
    consent,
    guard,
    deliverer,
    retention,
    runRetention: (opts) => runRetention({ store, clock, compliance, consent, log }, opts),
    compliance,
    events,
    conversations,
    async statusOutbox(next, event) {
      durableStatus.add(event);
      if (next.keyId === null) return [];
      return consent.events.rows('message.status', statusData(next, event.at), { keyId: next.keyId }, clock.now());
    },
    recoverInbound: () => recovery.runOnce(),
    async onInbound(record) {
      const out = await handle(record);
      if (running) deliverer.wake();
      return out;
    },
    sendStore: withOutboundThreading(store, (m) => ({ program: consent.programOf(m.account, m.from).name })),
    async dispatchStatusOutbox(now) {
      const subs = await store.listSubscriptions({ type: 'message.status', activeOnly: true });
      return (next, event) => {
        const mine = next.keyId === null ? [] : subs.filter((sub) => sub.keyId === next.keyId);
        if (mine.length === 0) return [];
        const env = envelope('message.status', statusData(next, event.at), now);
        const payload = JSON.stringify(env);
        return mine.map((sub) => ({ id: deliveryId(now), eventId: env.id, subscriptionId: sub.id, type: 'message.status' as const, payload, nextAttemptAt: now, createdAt: now }));
      };
    },
    onFinal() {
      if (running) deliverer.wake();
    },
    onStatus(m, e) {
      if (!e.detail || e.detail.applied !== true) return;
      if (durableStatus.has(e)) {
        if (running) deliverer.wake();
        return;
      }
      emitStatus(m, e.at);
    },
    async routes(app) {
      await app.register(consentRoutes, { store, config, consent });
      await app.register(consentBulkRoutes, { store, config, consent });
      await app.register(conversationRoutes, { store, config });
      await app.register(subscriptionRoutes, { store, clock, events, onEnqueued: () => running && deliverer.wake() });
    },
    start() {
      if (running) return;
      running = true;
      deliverer.start();
      retention.start();
      recovery.start();
    },
    async stop() {
      running = false;
      await recovery.stop();
      await retention.stop();
      await deliverer.stop();
    },
  };
}
