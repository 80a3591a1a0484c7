/**
 * The dispatch-time compliance check (docs/dev/compliance-integration.md §5 "Dispatch"): after the claim and
 * immediately before the provider call, under the contact's shared ConsentGate pass:
 *   1. the program of the message's sender; its consent snapshot read now; country rule; `decideConsent` →
 *      refused: blocked (sending → failed, errorCode SB_OPTED_OUT / SB_OPT_IN_REQUIRED / SB_COUNTRY_BLOCKED);
 *   2. quiet hours (`nextAllowedSendTime`) → deferred (sending → queued until then; not an attempt);
 *   3. `consent_checked` appended, then the submit runs while the pass is held.
 * A provider 21610 on a send is recorded in the ledger as a `provider` opt-out (unless the contact is opted out already).
 */
import type { Clock } from '../domain/clock.ts';
import type { MessageRecord } from '../domain/message.ts';
import type { DispatchGuard, GuardOutcome } from '../dispatch/dispatcher.ts';
import type { Store } from '../store/store.ts';
import type { ConsentService } from './consent-service.ts';
import { nextAllowedSendTime } from './quiet-hours.ts';

export class ComplianceDispatchGuard implements DispatchGuard {
  private readonly store: Store;
  private readonly clock: Clock;

  constructor(private readonly consent: ConsentService) {
    this.store = consent.store;
    this.clock = consent.clock;
  }

  around<T>(m: MessageRecord, submit: () => Promise<T>): Promise<GuardOutcome<T>> {
    return this.consent.gate.shared(m.to, async (): Promise<GuardOutcome<T>> => {
      const v = await this.consent.checkDispatch(m);
      if (!v.allow) {
        return {
          kind: 'blocked',
          code: v.code,
          message: v.message,
          detail: { providerCode: v.providerCode, stage: 'dispatch', program: v.program.name, consentEventId: v.snapshot?.eventId ?? null },
        };
      }
      const now = this.clock.now();
      const until = nextAllowedSendTime({ now, recipientE164: m.to, category: m.category, program: v.program });
      if (until > now) return { kind: 'deferred', until, detail: { reason: 'quiet_hours', program: v.program.name } };
      await this.store.appendEvent({
        messageId: m.id,
        type: 'consent_checked',
        status: 'sending',
        at: now,
        detail: { program: v.program.name, state: v.snapshot.state, ...(v.snapshot.eventId ? { consentEventId: v.snapshot.eventId } : {}) },
      });
      return { kind: 'proceed', value: await submit() };
    });
  }

  async onProviderOptOut(m: MessageRecord, code: string): Promise<void> {
    const program = this.consent.programOf(m.account, m.from);
    // The ledger already says opted out (e.g. the STOP the provider also handled, and this message was in flight):
    // the refusal confirms it and is no new change — one ledger row per opt-out, not one per refused send.
    const [snap] = await this.store.getConsent(m.to, program.name);
    if (snap?.state === 'opted_out') return;
    await this.consent.record({
      contact: m.to,
      program: program.name,
      state: 'opted_out',
      source: 'provider',
      at: this.clock.now(),
      evidence: { raw: { errorCode: code, messageId: m.id } },
    });
  }
}
