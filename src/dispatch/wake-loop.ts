/**
 * A background loop of rounds, shared by the dispatcher and the event deliverer: run a round, then sleep the delay it
 * returns (ms) unless wake() was called during the round (then run again at once). wake() also cuts a sleep short;
 * stop() ends the loop after the round under way. A round handles its own errors.
 */
export class WakeLoop {
  private running = false;
  private done: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wakeUp: (() => void) | null = null;
  /** wake() called while a round was running: run again right away. */
  private wakePending = false;

  constructor(private readonly round: () => Promise<number>) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.done = this.loop();
  }

  /** Stop looping; resolves when the round under way (if any) has finished. */
  async stop(): Promise<void> {
    this.running = false;
    this.interrupt();
    if (this.done) await this.done;
    this.done = null;
  }

  /** Run a round now instead of waiting for the sleep to end. */
  wake(): void {
    this.wakePending = true;
    this.interrupt();
  }

  private interrupt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.wakePending = false;
      const delay = await this.round();
      if (!this.running) break;
      if (this.wakePending) continue;
      await new Promise<void>((r) => {
        this.wakeUp = r;
        this.timer = setTimeout(() => this.interrupt(), delay);
      });
    }
  }
}
