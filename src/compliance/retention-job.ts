/**
 * The retention job (issue 4): per program with `retention.bodyDays`, redact message and inbound bodies older
 * than that (and, with `hashNumbers`, replace the contact number by its keyed hash, `hashNumber(n, pepper)`);
 * purge raw webhook payloads older than the smallest `rawWebhookDays` of any program (webhooks carry no program,
 * so the strictest setting applies to all). The consent ledger is never touched: it is the evidence.
 * Runs nightly at `compliance.retentionJob.at` (local time in `timeZone`) on one instance — a store lease
 * (`tryLease('retention')`) and the day's marker in meta make a second instance skip — and on demand with
 * `switchboard retention run [--dry-run]`. Returns and logs a RetentionReport (counts only).
 */
import type { Clock } from '../domain/clock.ts';
import type { Store } from '../store/store.ts';
import type { ComplianceConfig } from './config.ts';
import { silentComplianceLog, type ComplianceLogger, type ConsentService } from './consent-service.ts';
import { hashNumber, retentionCutoffs, type RetentionReport } from './retention.ts';
import { wallClock } from './quiet-hours.ts';

export const RETENTION_LEASE = 'retention';
export const RETENTION_LAST_RUN_META = 'retention:last_run_day';
const BATCH = 500;
const LEASE_MS = 60 * 60_000;

export interface RetentionRunDeps {
  store: Store;
  clock: Clock;
  compliance: ComplianceConfig;
  consent: Pick<ConsentService, 'sendersOf'>;
  log?: ComplianceLogger;
}

export interface RetentionPlan {
  program: string;
  bodyBefore: number | null;
  hashNumbers: boolean;
  rawWebhookBefore: number | null;
  senders: number;
}

export type RetentionRunResult = RetentionReport & { dryRun: boolean; plan: RetentionPlan[] };

/** Apply retention once (or only plan it with `dryRun`). */
export async function runRetention(deps: RetentionRunDeps, opts: { dryRun?: boolean; batch?: number } = {}): Promise<RetentionRunResult> {
  const { store, clock, compliance } = deps;
  const log = deps.log ?? silentComplianceLog;
  const startedAt = clock.now();
  const batch = Math.max(1, opts.batch ?? BATCH);
  const plan: RetentionPlan[] = compliance.programs.map((p) => {
    const c = retentionCutoffs(startedAt, p.retention);
    return { program: p.name, bodyBefore: c.bodyBefore, hashNumbers: p.retention.hashNumbers, rawWebhookBefore: c.rawWebhookBefore, senders: deps.consent.sendersOf(p.name).length };
  });
  const programs: RetentionReport['programs'] = plan.map((p) => ({ program: p.program, bodiesRedacted: 0, numbersHashed: 0, rawWebhooksPurged: 0 }));
  if (!opts.dryRun) {
    for (const [i, p] of plan.entries()) {
      if (p.bodyBefore === null) continue;
      const pepper = compliance.numberHashPepper;
      const hash = p.hashNumbers && pepper ? (n: string) => hashNumber(n, pepper) : null;
      const senders = deps.consent.sendersOf(p.program);
      for (;;) {
        const r = await store.redactMessagesBefore({ senders, before: p.bodyBefore, hash, now: clock.now(), max: batch });
        programs[i]!.bodiesRedacted += r.redacted;
        programs[i]!.numbersHashed += r.hashed;
        if (r.redacted === 0 && r.hashed === 0) break;
      }
    }
    const strictest = plan.filter((p) => p.rawWebhookBefore !== null).sort((a, b) => b.rawWebhookBefore! - a.rawWebhookBefore!)[0];
    if (strictest) {
      const i = plan.indexOf(strictest);
      for (;;) {
        const n = await store.purgeRawWebhooksBefore({ before: strictest.rawWebhookBefore!, max: batch });
        programs[i]!.rawWebhooksPurged += n;
        if (n < batch) break;
      }
    }
  }
  const report: RetentionRunResult = { startedAt, finishedAt: clock.now(), programs, dryRun: Boolean(opts.dryRun), plan };
  log.info({ dryRun: report.dryRun, programs, durationMs: report.finishedAt - startedAt }, 'retention run');
  return report;
}

/** 'YYYY-MM-DD' and minutes since midnight of `t` in `timeZone`. */
function localDay(t: number, timeZone: string): { day: string; minute: number } {
  const wall = wallClock(t, timeZone);
  return { day: new Date(wall).toISOString().slice(0, 10), minute: Math.floor((wall % 86_400_000) / 60_000) };
}

/**
 * The nightly trigger: `tick()` (every minute from `start()`) runs the job once per local day, at or after
 * `retentionJob.at`, on the one instance that takes the lease and finds the day not yet done.
 */
export class RetentionScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RetentionRunResult | null> | null = null;

  constructor(
    private readonly deps: RetentionRunDeps & { owner: string },
    private readonly everyMs = 60_000,
  ) {}

  start(): void {
    if (this.timer || !this.deps.compliance.retentionJob.enabled) return;
    this.timer = setInterval(() => void this.tick().catch((err: unknown) => (this.deps.log ?? silentComplianceLog).error({ err }, 'retention tick failed')), this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Run now if due; returns the report, or null when not due / done today / another instance holds the lease. */
  async tick(): Promise<RetentionRunResult | null> {
    if (this.running) return null;
    this.running = this.tickOnce().finally(() => (this.running = null));
    return this.running;
  }

  private async tickOnce(): Promise<RetentionRunResult | null> {
    const { store, clock, compliance, owner } = this.deps;
    const job = compliance.retentionJob;
    const now = clock.now();
    const { day, minute } = localDay(now, job.timeZone);
    const at = Number(job.at.slice(0, 2)) * 60 + Number(job.at.slice(3, 5));
    if (minute < at) return null;
    if ((await store.getMeta(RETENTION_LAST_RUN_META)) === day) return null;
    if (!(await store.tryLease({ name: RETENTION_LEASE, owner, until: now + LEASE_MS, now }))) return null;
    // Re-check under the lease: another instance may have finished the day just before we took it.
    if ((await store.getMeta(RETENTION_LAST_RUN_META)) === day) return null;
    const report = await runRetention(this.deps);
    await store.setMeta(RETENTION_LAST_RUN_META, day);
    return report;
  }
}
