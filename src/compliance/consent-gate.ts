/**
 * In-process ordering between the dispatch-time consent check and recording an opt-out, per contact.
 *
 * The dispatcher holds a *shared* pass for a contact from its consent read until the provider call returns; an
 * opt-out is recorded under the *exclusive* pass, which waits for those submits to finish and lets no new check
 * start meanwhile. So, within one process, every submission that passed the check has reached the provider
 * before the opt-out's `recordedAt`, and none starts after it. Across several instances the store-level guards
 * remain (the queued→failed sweep in recordConsent, the re-check before submit); the residual window there is
 * one consent read to one HTTP request. Waiting writers are served first (no starvation by a busy sender).
 */
interface Entry {
  shared: number;
  exclusive: boolean;
  waiting: (() => void)[];
  writersWaiting: number;
}

export class ConsentGate {
  private readonly entries = new Map<string, Entry>();

  private entry(contact: string): Entry {
    let e = this.entries.get(contact);
    if (!e) this.entries.set(contact, (e = { shared: 0, exclusive: false, waiting: [], writersWaiting: 0 }));
    return e;
  }

  private wakeAll(contact: string, e: Entry): void {
    const w = e.waiting.splice(0);
    for (const f of w) f();
    if (e.shared === 0 && !e.exclusive && e.writersWaiting === 0 && e.waiting.length === 0) this.entries.delete(contact);
  }

  /** Run `fn` with a shared pass (dispatch: consent read → submit). */
  async shared<T>(contact: string, fn: () => Promise<T>): Promise<T> {
    const e = this.entry(contact);
    while (e.exclusive || e.writersWaiting > 0) await new Promise<void>((r) => e.waiting.push(r));
    e.shared++;
    try {
      return await fn();
    } finally {
      e.shared--;
      this.wakeAll(contact, e);
    }
  }

  /** Run `fn` alone for this contact (recording an opt-out). */
  async exclusive<T>(contact: string, fn: () => Promise<T>): Promise<T> {
    const e = this.entry(contact);
    e.writersWaiting++;
    while (e.exclusive || e.shared > 0) await new Promise<void>((r) => e.waiting.push(r));
    e.writersWaiting--;
    e.exclusive = true;
    try {
      return await fn();
    } finally {
      e.exclusive = false;
      this.wakeAll(contact, e);
    }
  }

  /** Contacts with a pass held or awaited (tests, diagnostics). */
  get size(): number {
    return this.entries.size;
  }
}
