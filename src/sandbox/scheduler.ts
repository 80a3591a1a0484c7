/**
 * Clock-driven due-time queue. Everything the sandbox does later (status progression, callbacks, retries,
 * scheduled sends, auto-replies) is a task due at a clock time. With the system clock a real timer fires at
 * the next due time; with an injected clock (ManualClock in tests) a short real interval checks what is due,
 * and `runDue()` runs it on demand — so advancing the manual clock is all a test needs to do.
 */
import type { Clock } from '../domain/clock.ts';

interface Task {
  at: number;
  seq: number;
  run: () => void;
}

export interface DueQueueOptions {
  /** 'timer': arm a real timer for the next due time (system clock). 'poll': check every `pollMs` (injected clocks). */
  mode: 'timer' | 'poll';
  pollMs?: number;
  onError?: (err: unknown) => void;
}

/** Whether task `a` runs before task `b`. */
function before(a: Task, b: Task): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class DueQueue {
  /** A binary min-heap on (at, seq): O(log n) to add or take, whatever the number of pending tasks. */
  private tasks: Task[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private poller: NodeJS.Timeout | null = null;
  private stopped = false;
  /**
   * The due time of the task running now (null outside tasks). A task that runs late — the clock jumped past
   * several due times at once — still acts "at" its due time, so timestamps and follow-up tasks stay exact.
   */
  current: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly opts: DueQueueOptions,
  ) {
    if (opts.mode === 'poll') {
      this.poller = setInterval(() => this.runDue(), opts.pollMs ?? 10);
      this.poller.unref();
    }
  }

  /** Run `run` at clock time `at` (or as soon as possible when already due). Same `at`: in the order added. */
  at(at: number, run: () => void): void {
    if (this.stopped) return;
    const heap = this.tasks;
    const task: Task = { at, seq: ++this.seq, run };
    // Sift up.
    let i = heap.length;
    heap.push(task);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.at < at || p.at === at) break; // seq only grows, so an equal `at` above is older
      heap[i] = p;
      i = parent;
    }
    heap[i] = task;
    if (i === 0) this.arm();
  }

  /** Run every task due now (including ones that become due while running). Returns how many ran. */
  runDue(): number {
    let n = 0;
    const now = this.clock.now();
    while (this.tasks.length > 0 && this.tasks[0]!.at <= now && !this.stopped) {
      const t = this.take();
      n++;
      this.current = t.at;
      try {
        t.run();
      } catch (err) {
        this.opts.onError?.(err);
      } finally {
        this.current = null;
      }
    }
    this.arm();
    return n;
  }

  /** Clock time of the next task, or null when idle. */
  nextAt(): number | null {
    return this.tasks.length > 0 ? this.tasks[0]!.at : null;
  }

  size(): number {
    return this.tasks.length;
  }

  stop(): void {
    this.stopped = true;
    this.tasks = [];
    if (this.timer) clearTimeout(this.timer);
    if (this.poller) clearInterval(this.poller);
    this.timer = null;
    this.poller = null;
  }

  /** Remove and return the first task (the heap's root). */
  private take(): Task {
    const heap = this.tasks;
    const top = heap[0]!;
    const last = heap.pop()!;
    const n = heap.length;
    if (n === 0) return top;
    // Sift `last` down from the root.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(heap[r]!, heap[l]!) ? r : l;
      if (!before(heap[c]!, last)) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
    return top;
  }

  private arm(): void {
    if (this.opts.mode !== 'timer' || this.stopped) return;
    const next = this.tasks.length > 0 ? this.tasks[0]!.at : Infinity;
    if (next === this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = next;
    if (next === Infinity) return;
    const delay = Math.max(0, Math.min(next - this.clock.now(), 2_147_000_000));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.runDue();
    }, delay);
    this.timer.unref();
  }
}
