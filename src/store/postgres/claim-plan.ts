/**
 * Which of the senders' due queue heads one claim takes. Pure: the PostgreSQL store reads the heads and the
 * booked usage under the senders' locks, plans with this, then locks and claims the chosen rows.
 *
 * Rules (docs/reference/dispatch.md): global claim order is priority (high first), then oldest, then first
 * inserted; each sender stays within its sliding window (dispatch/rate-limit.ts `reserve`); within a sender, strict
 * priority — once its head does not fit, nothing behind it is taken; at most `max` in total.
 */
import { reserve, type UsageEntry } from '../../dispatch/rate-limit.ts';

export interface QueueHead {
  id: string;
  senderKey: string;
  priority: number;
  createdAt: number;
  /** Insertion sequence: FIFO among equal priority and createdAt. */
  seq: number;
  segments: number;
}

export interface PlanInput {
  /** Due queued messages of the locked senders, any order; per sender, a prefix of its queue in claim order. */
  heads: readonly QueueHead[];
  /** Booked usage per locked sender (entries that can still matter: at > now - windowMs). Not modified. */
  usage: ReadonlyMap<string, readonly UsageEntry[]>;
  /** Senders whose fetched heads are only a prefix of their due queue (more may be behind). */
  truncated: ReadonlySet<string>;
  now: number;
  windowMs: number;
  mpsOf: (senderKey: string) => number;
  max: number;
}

export interface PlannedClaim {
  head: QueueHead;
  /** Usage entries to book for it. */
  entries: UsageEntry[];
}

export interface ClaimPlan {
  claims: PlannedClaim[];
  /** Times at which more of these senders' work may become claimable (a window opening, or `now`). */
  wakes: number[];
}

/** Claim order: priority (high first), then oldest, then first inserted. */
export function claimOrder(a: QueueHead, b: QueueHead): number {
  return b.priority - a.priority || a.createdAt - b.createdAt || a.seq - b.seq;
}

export function planClaims(input: PlanInput): ClaimPlan {
  const { now, windowMs, mpsOf, max } = input;
  const usage = new Map<string, UsageEntry[]>();
  const usageOf = (key: string): UsageEntry[] => {
    let u = usage.get(key);
    if (!u) usage.set(key, (u = [...(input.usage.get(key) ?? [])]));
    return u;
  };
  const heads = [...input.heads].sort(claimOrder);
  const claims: PlannedClaim[] = [];
  const wakes: number[] = [];
  const closed = new Set<string>();
  const taken = new Map<string, number>();
  let leftover = false;
  for (const h of heads) {
    if (closed.has(h.senderKey)) continue;
    if (claims.length >= max) {
      leftover = true; // due work that only `max` held back
      break;
    }
    const entries = usageOf(h.senderKey);
    const r = reserve(entries, now, windowMs, mpsOf(h.senderKey), h.segments);
    if (!r.ok) {
      closed.add(h.senderKey);
      wakes.push(r.retryAt);
      continue;
    }
    entries.push(...r.entries);
    claims.push({ head: h, entries: r.entries });
    taken.set(h.senderKey, (taken.get(h.senderKey) ?? 0) + 1);
  }
  if (leftover) wakes.push(now);
  // A sender whose every fetched head was taken may have more behind: when could the next one go?
  for (const key of input.truncated) {
    if (closed.has(key) || leftover) continue;
    const fetched = input.heads.filter((h) => h.senderKey === key).length;
    if ((taken.get(key) ?? 0) < fetched) continue;
    const r = reserve(usageOf(key), now, windowMs, mpsOf(key), 1);
    wakes.push(r.ok ? now : r.retryAt);
  }
  return { claims, wakes };
}
