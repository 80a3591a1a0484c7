/**
 * Faults on demand: a registry the HTTP layer and the callback sender consult. Each fault applies to the next
 * `count` matching events (default: until cleared) and, with `forMs`, only until that much clock time passed.
 */
import type { Clock } from '../domain/clock.ts';

export type FaultSpec =
  /** Answer create requests with this HTTP status + Twilio error JSON (5xx/429: no message is created). */
  | { kind: 'status'; status: number; code: number; message?: string; retryAfterS?: number; count?: number; forMs?: number }
  /** Create the message immediately but hold the HTTP response for `delayMs` of real time. */
  | { kind: 'slow'; delayMs: number; count?: number; forMs?: number }
  /** Never answer the create request (the socket stays open until the client gives up); `create` (default true) says whether the message is created anyway. */
  | { kind: 'timeout'; create?: boolean; count?: number; forMs?: number }
  /** Status callbacks: drop them, send them twice, delay them by `delayMs`, or send a message's `sent` after its final status. */
  | { kind: 'callback'; action: 'drop' | 'duplicate' | 'delay' | 'reorder'; delayMs?: number; count?: number; forMs?: number }
  /** A sender that accepts messages but fails them when they leave the queue (default `failed` 30008). */
  | { kind: 'sender_down'; from: string; errorCode?: number; status?: 'failed' | 'undelivered'; count?: number; forMs?: number };

export type FaultKind = FaultSpec['kind'];

export interface ActiveFault {
  id: string;
  spec: FaultSpec;
  /** Matching events left; null = until cleared. */
  remaining: number | null;
  /** Clock time after which the fault no longer applies; null = no limit. */
  until: number | null;
  addedAt: number;
}

const KINDS: readonly FaultKind[] = ['status', 'slow', 'timeout', 'callback', 'sender_down'];
const CALLBACK_ACTIONS = ['drop', 'duplicate', 'delay', 'reorder'] as const;

/** Validate an untrusted spec (control API); returns an error text or null. */
export function faultSpecProblem(spec: unknown): string | null {
  if (!spec || typeof spec !== 'object') return 'fault spec must be an object';
  const s = spec as Record<string, unknown>;
  if (!KINDS.includes(s.kind as FaultKind)) return `kind must be one of ${KINDS.join(', ')}`;
  const posInt = (k: string, required: boolean, min = 0): string | null => {
    const v = s[k];
    if (v === undefined) return required ? `${k} is required` : null;
    return typeof v === 'number' && Number.isInteger(v) && v >= min ? null : `${k} must be an integer >= ${min}`;
  };
  const common = posInt('count', false, 1) ?? posInt('forMs', false, 1);
  if (common) return common;
  switch (s.kind) {
    case 'status':
      return posInt('status', true, 100) ?? posInt('code', true, 1) ?? posInt('retryAfterS', false, 0) ?? ((s.status as number) > 599 ? 'status must be 100-599' : null);
    case 'slow':
      return posInt('delayMs', true, 0);
    case 'timeout':
      return s.create === undefined || typeof s.create === 'boolean' ? null : 'create must be a boolean';
    case 'callback':
      if (!CALLBACK_ACTIONS.includes(s.action as (typeof CALLBACK_ACTIONS)[number])) return `action must be one of ${CALLBACK_ACTIONS.join(', ')}`;
      return posInt('delayMs', s.action === 'delay', 0);
    case 'sender_down':
      if (typeof s.from !== 'string' || !s.from) return 'from is required';
      if (s.status !== undefined && s.status !== 'failed' && s.status !== 'undelivered') return 'status must be failed or undelivered';
      return posInt('errorCode', false, 1);
  }
  return null;
}

export class FaultRegistry {
  private faults: ActiveFault[] = [];
  private seq = 0;

  constructor(private readonly clock: Clock) {}

  /** Register a fault; returns its id. Throws on an invalid spec. */
  add(spec: FaultSpec): string {
    const problem = faultSpecProblem(spec);
    if (problem) throw new Error(`invalid fault: ${problem}`);
    const now = this.clock.now();
    const id = `fault_${++this.seq}`;
    this.faults.push({ id, spec: { ...spec }, remaining: spec.count ?? null, until: spec.forMs ? now + spec.forMs : null, addedAt: now });
    return id;
  }

  /** Remove every fault, or those of one kind. */
  clear(kind?: FaultKind): void {
    this.faults = kind ? this.faults.filter((f) => f.spec.kind !== kind) : [];
  }

  remove(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length < before;
  }

  list(): ActiveFault[] {
    this.expire();
    return this.faults.map((f) => ({ ...f, spec: { ...f.spec } }));
  }

  /** The first live fault of these kinds that matches, consuming one use. */
  take<K extends FaultKind>(kinds: readonly K[], match: (spec: Extract<FaultSpec, { kind: K }>) => boolean = () => true): Extract<FaultSpec, { kind: K }> | null {
    this.expire();
    for (const f of this.faults) {
      if (!kinds.includes(f.spec.kind as K)) continue;
      const spec = f.spec as Extract<FaultSpec, { kind: K }>;
      if (!match(spec)) continue;
      if (f.remaining !== null) {
        f.remaining--;
        if (f.remaining <= 0) this.faults = this.faults.filter((x) => x !== f);
      }
      return spec;
    }
    return null;
  }

  private expire(): void {
    const now = this.clock.now();
    this.faults = this.faults.filter((f) => f.until === null || now < f.until);
  }
}
