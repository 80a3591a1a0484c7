/**
 * Benchmark child processes: the system under test runs in its own process so the load generator (the parent)
 * does not share its event loop. Protocol over stdio, one JSON document per line:
 *
 *   child → parent   `@@bench {"type":"ready", ...}` once, then `@@bench {"id":n,"ok":true,"result":…}` per request
 *   parent → child   `{"id":n,"cmd":"rss","args":{…}}`
 *
 * Only lines starting with `@@bench ` are protocol; anything else the child prints (logs) is passed to stderr.
 * To profile the children: BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:e2e
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export const PROTOCOL_PREFIX = '@@bench ';

export type Handlers = Record<string, (args: Record<string, unknown>) => Promise<unknown> | unknown>;

export interface BenchChild<R> {
  /** The payload of the child's `ready` line. */
  ready: R;
  pid: number;
  call<T = unknown>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  /** Ask the child to close (command `close`), wait for it to exit; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Start `node --import tsx <script>` with `env` added, wait for its ready line (at most `startTimeoutMs`).
 */
export function spawnBenchChild<R>(script: string, env: Record<string, string>, startTimeoutMs = 60_000): Promise<BenchChild<R>> {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") go to the children only, for profiling them.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited: Error | null = null;

  return new Promise<BenchChild<R>>((resolveStart, rejectStart) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectStart(new Error(`${script}: not ready within ${startTimeoutMs} ms`));
    }, startTimeoutMs);

    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!line.startsWith(PROTOCOL_PREFIX)) {
        process.stderr.write(`[${script.split('/').pop()} ${child.pid}] ${line}\n`);
        return;
      }
      const msg = JSON.parse(line.slice(PROTOCOL_PREFIX.length)) as { type?: string; id?: number; ok?: boolean; result?: unknown; error?: string };
      if (msg.type === 'ready') {
        clearTimeout(timer);
        resolveStart(handle(msg as R));
        return;
      }
      if (msg.type === 'failed') {
        clearTimeout(timer);
        rejectStart(new Error(`${script}: ${msg.error}`));
        return;
      }
      const p = msg.id === undefined ? undefined : pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id!);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${script}: ${msg.error}`));
    });

    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      exited = new Error(`${script} exited (code ${code}, signal ${signal})`);
      for (const p of pending.values()) p.reject(exited);
      pending.clear();
      rejectStart(exited);
    });
  });

  function handle(ready: R): BenchChild<R> {
    const exitPromise = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    return {
      ready,
      pid: child.pid!,
      call<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
        if (exited) return Promise.reject(exited);
        const id = nextId++;
        return new Promise<T>((resolve, reject) => {
          pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
          child.stdin!.write(`${JSON.stringify({ id, cmd, args })}\n`);
        });
      },
      async stop(graceMs = 15_000): Promise<void> {
        if (exited) return;
        const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        try {
          child.stdin!.write(`${JSON.stringify({ id: nextId++, cmd: 'close', args: {} })}\n`);
        } catch {
          child.kill('SIGTERM');
        }
        await exitPromise;
        clearTimeout(killer);
      },
    };
  }
}

/**
 * Child side: announce `ready`, then answer commands with `handlers`. `close` runs `onClose` and exits 0.
 * `rss` is always available.
 */
export function serveBenchCommands(ready: Record<string, unknown>, handlers: Handlers, onClose: () => Promise<void>): void {
  const send = (msg: unknown) => process.stdout.write(`${PROTOCOL_PREFIX}${JSON.stringify(msg)}\n`);
  const all: Handlers = { rss: () => process.memoryUsage().rss, ...handlers };
  const lines = createInterface({ input: process.stdin });
  let closing = false;
  const close = async (code: number) => {
    if (closing) return;
    closing = true;
    try {
      await onClose();
    } finally {
      process.exit(code);
    }
  };
  lines.on('line', (line) => {
    let req: { id: number; cmd: string; args?: Record<string, unknown> };
    try {
      req = JSON.parse(line) as typeof req;
    } catch {
      return;
    }
    if (req.cmd === 'close') {
      void close(0);
      return;
    }
    const h = all[req.cmd];
    if (!h) {
      send({ id: req.id, ok: false, error: `unknown command ${req.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => h(req.args ?? {}))
      .then(
        (result) => send({ id: req.id, ok: true, result }),
        (err: unknown) => send({ id: req.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  // The parent went away: do not linger.
  lines.on('close', () => void close(0));
  send({ type: 'ready', ...ready });
}

/** Child side: report a startup failure to the parent and exit 1. */
export function failBenchChild(err: unknown): never {
  process.stdout.write(`${PROTOCOL_PREFIX}${JSON.stringify({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) })}\n`);
  process.exit(1);
}
