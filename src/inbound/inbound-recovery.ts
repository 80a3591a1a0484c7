/**
 * The inbound recovery sweep: inbound messages stored but never marked handled (the process died between
 * `insertInbound` and the end of the inbound handler, or the handler failed) are handled again, oldest first. It
 * runs at start and then every `intervalMs`, on one instance at a time (the store's named lease `tryLease`), and
 * only for messages older than `graceMs`, so a webhook still being handled elsewhere is left to finish. Handling
 * twice is harmless (see inbound-handler.ts "Resumable"); the grace only avoids the wasted work.
 */
import type { Clock } from '../domain/clock.ts';
import type { InboundRecord, Store } from '../store/store.ts';
import { silentComplianceLog, type ComplianceLogger } from '../compliance/consent-service.ts';

export const INBOUND_RECOVERY_LEASE = 'inbound-recovery';

export interface InboundRecoveryDeps {
  store: Store;
  clock: Clock;
  /** Lease owner id (unique per process). */
  owner: string;
  /** The inbound handler (marks the message handled when it completes). */
  handle(record: InboundRecord): Promise<unknown>;
  log?: ComplianceLogger;
  /** Between sweeps; default 60 s. */
  intervalMs?: number;
  /** Only messages received at least this long ago; default 30 s. */
  graceMs?: number;
  /** Messages per store read; default 100. */
  batch?: number;
}

export interface InboundRecoveryResult {
  /** False when another instance holds the lease (nothing done here). */
  ran: boolean;
  handled: number;
  failed: number;
}

export class InboundRecovery {
  private readonly intervalMs: number;
  private readonly graceMs: number;
  private readonly batch: number;
  private readonly log: ComplianceLogger;
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<InboundRecoveryResult> | null = null;

  constructor(private readonly deps: InboundRecoveryDeps) {
    this.intervalMs = deps.intervalMs ?? 60_000;
    this.graceMs = deps.graceMs ?? 30_000;
    this.batch = deps.batch ?? 100;
    this.log = deps.log ?? silentComplianceLog;
  }

  /** One sweep (concurrent calls share it). */
  runOnce(): Promise<InboundRecoveryResult> {
    this.current ??= this.sweep().finally(() => {
      this.current = null;
    });
    return this.current;
  }

  private async sweep(): Promise<InboundRecoveryResult> {
    const { store, clock, owner } = this.deps;
    const out: InboundRecoveryResult = { ran: false, handled: 0, failed: 0 };
    const leaseFor = () => clock.now() + Math.max(this.intervalMs * 2, 60_000);
    if (!(await store.tryLease({ name: INBOUND_RECOVERY_LEASE, owner, until: leaseFor(), now: clock.now() }))) return out;
    out.ran = true;
    // Each message at most once per sweep: a failed one stays unhandled (and listed) until the next sweep.
    const attempted = new Set<string>();
    const before = clock.now() - this.graceMs;
    for (;;) {
      const rows = (await store.listUnhandledInbound({ before, limit: this.batch + out.failed })).filter((r) => !attempted.has(r.id));
      if (rows.length === 0) break;
      for (const r of rows) {
        attempted.add(r.id);
        try {
          await this.deps.handle(r);
          out.handled++;
        } catch (err) {
          out.failed++;
          this.log.error({ err, inboundId: r.id }, 'inbound recovery: handling failed');
        }
      }
      // Keep the lease while working through a backlog.
      if (!(await store.tryLease({ name: INBOUND_RECOVERY_LEASE, owner, until: leaseFor(), now: clock.now() }))) break;
    }
    if (out.handled > 0 || out.failed > 0) this.log.info({ handled: out.handled, failed: out.failed }, 'inbound recovery: unhandled inbound messages handled');
    return out;
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.runOnce().catch((err: unknown) => this.log.error({ err }, 'inbound recovery sweep failed'));
    };
    tick();
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.current?.catch(() => {});
  }
}
