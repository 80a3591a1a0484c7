import { describe, expect, it } from 'vitest';
import { WakeLoop } from './wake-loop.ts';

/** Poll `cond` until true or fail after the deadline (state, not timing, is asserted). */
async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Sleeps far longer than any test runs: only wake() or stop() can end them. */
const LONG = 600_000;

describe('WakeLoop', () => {
  it('runs a round on start, then sleeps until wake() runs the next', async () => {
    let rounds = 0;
    const loop = new WakeLoop(async () => {
      rounds++;
      return LONG;
    });
    loop.start();
    loop.start(); // a second start is a no-op
    await until('first round', () => rounds === 1);
    expect(loop.isRunning).toBe(true);
    loop.wake();
    await until('woken round', () => rounds === 2);
    await loop.stop();
    expect(rounds).toBe(2);
    expect(loop.isRunning).toBe(false);
  });

  it('a wake() during a round runs the next round at once instead of sleeping', async () => {
    let rounds = 0;
    let release: (() => void) | null = null;
    const loop = new WakeLoop(async () => {
      rounds++;
      if (rounds === 1) await new Promise<void>((r) => (release = r));
      return LONG;
    });
    loop.start();
    await until('first round under way', () => release !== null);
    loop.wake();
    release!();
    await until('second round', () => rounds === 2);
    await loop.stop();
    expect(rounds).toBe(2);
  });

  it('sleeps the delay a round returns, then runs again by itself', async () => {
    let rounds = 0;
    const loop = new WakeLoop(async () => (++rounds < 3 ? 0 : LONG));
    loop.start();
    await until('three rounds', () => rounds === 3);
    await loop.stop();
    expect(rounds).toBe(3);
  });

  it('stop() waits for the round under way and ends a sleep; no round runs after it', async () => {
    let rounds = 0;
    let finished = 0;
    let release: (() => void) | null = null;
    const loop = new WakeLoop(async () => {
      rounds++;
      await new Promise<void>((r) => (release = r));
      finished++;
      return 0;
    });
    loop.start();
    await until('round under way', () => release !== null);
    const stopped = loop.stop();
    release!();
    await stopped;
    expect(finished).toBe(1);
    loop.wake();
    expect(rounds).toBe(1);
  });
});
