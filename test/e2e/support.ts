/** Helpers for tests over real sockets: temp dirs, polling with a deadline, captured CLI output. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type App, type AppDeps } from '../../src/app.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { loadConfig } from '../../src/config/load.ts';

export function tempDir(prefix = 'sb-e2e-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Poll `probe` until it returns a non-undefined value, or fail after `timeoutMs` with the last seen state. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last state: ${JSON.stringify(last)}`);
    last = v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function captureIo(env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), env, cwd };
}

/**
 * Config of an app under test: port 0 (127.0.0.1), silent logs, a SQLite file in `dir`. `overrides` are laid over
 * those by top-level key (pass `databaseUrl` for another store), then over the defaults as loadConfig does.
 */
export function testConfig(dir: string, overrides: Record<string, unknown> = {}): ReturnType<typeof loadConfig> {
  return loadConfig({
    env: {},
    cwd: dir,
    file: null,
    overrides: { server: { port: 0 }, databaseUrl: `sqlite:${dir}/switchboard.db`, logLevel: 'silent', ...overrides },
  });
}

/** buildApp over testConfig(dir, overrides), started (closed again if start fails); `url` is its base URL. */
export async function startTestApp(dir: string, overrides: Record<string, unknown> = {}, deps: AppDeps = {}): Promise<{ built: App; url: string }> {
  const built = await buildApp(testConfig(dir, overrides), { handleSignals: false, ...deps });
  try {
    return { built, url: await built.start() };
  } catch (err) {
    await built.close();
    throw err;
  }
}
