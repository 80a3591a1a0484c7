/**
 * Accept batching for single sends: the `POST /v1/messages` requests that arrive in one event-loop turn are checked
 * (consent, country) and stored together, with one `checkAccept` and one `insertMessages` call for all of them —
 * one multi-row statement on PostgreSQL, one write of the group commit on SQLite. Each request still gets its own
 * outcome, and its promise settles only after the batch holding it was stored (the 2xx follows the commit).
 */
import type { MessageRecord, NewEvent } from '../domain/message.ts';
import type { SwitchboardError } from '../errors.ts';
import type { InsertOutcome, Store } from '../store/store.ts';

export interface AcceptItem {
  message: MessageRecord;
  events: NewEvent[];
}

export type AcceptOutcome = { refused: SwitchboardError } | { refused: null; outcome: InsertOutcome };

export interface AcceptChecker {
  checkAccept(messages: readonly MessageRecord[]): Promise<(SwitchboardError | null)[]>;
}

/** Items per batch at most (a full batch is flushed at once). */
const MAX_BATCH = 1_000;

export function createAcceptBatcher(store: Pick<Store, 'insertMessages'>, compliance?: AcceptChecker): (item: AcceptItem) => Promise<AcceptOutcome> {
  let pending: { item: AcceptItem; resolve: (o: AcceptOutcome) => void; reject: (err: unknown) => void }[] = [];
  let scheduled = false;

  async function run(batch: typeof pending): Promise<void> {
    const refusals = compliance ? await compliance.checkAccept(batch.map((b) => b.item.message)) : batch.map(() => null);
    const toInsert = batch.filter((_, i) => !refusals[i]);
    const outcomes = toInsert.length > 0 ? await store.insertMessages(toInsert.map((b) => b.item)) : [];
    let k = 0;
    batch.forEach((b, i) => {
      const refused = refusals[i];
      if (refused) b.resolve({ refused });
      else {
        const outcome = outcomes[k++];
        if (outcome) b.resolve({ refused: null, outcome });
        else b.reject(new Error('store.insertMessages returned no outcome'));
      }
    });
  }

  function flush(): void {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    run(batch).catch((err: unknown) => {
      for (const b of batch) b.reject(err);
    });
  }

  return (item) =>
    new Promise<AcceptOutcome>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (pending.length >= MAX_BATCH) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
