/**
 * `switchboard doctor`: config → database → provider accounts → public URL. Prints one line per check
 * (ok / warn / FAIL) with how to fix; exit 1 when anything failed (warnings do not fail).
 */
import type { Agent, Dispatcher as UndiciDispatcher } from 'undici';
import type { Config } from '../config/schema.ts';
import type { ProviderAdapter } from '../providers/provider.ts';
import type { Store } from '../store/store.ts';
import type { CliIo } from './io.ts';

export interface DoctorDeps {
  openStore(config: Readonly<Config>): Promise<Store>;
  createAdapters(config: Readonly<Config>, agent: UndiciDispatcher): Map<string, ProviderAdapter>;
  createProviderAgent(config: Readonly<Config>): Agent;
}

type Level = 'ok' | 'warn' | 'FAIL';

function isLocalHost(host: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+)$/i.test(host);
}

export async function runDoctor(io: CliIo, loadConfig: () => Readonly<Config>, deps: DoctorDeps): Promise<number> {
  let failed = 0;
  const line = (level: Level, what: string, detail: string) => {
    if (level === 'FAIL') failed++;
    io.out(`${level.padEnd(4)}  ${what}: ${detail}`);
  };

  // 1. config
  let config: Readonly<Config>;
  try {
    config = loadConfig();
    line('ok', 'config', `valid (${config.accounts.length} account(s), sandbox ${config.sandbox.enabled ? 'mounted at /sandbox' : 'off'})`);
  } catch (err) {
    line('FAIL', 'config', (err as Error).message);
    return 1;
  }

  // 2. database
  let store: Store | null = null;
  try {
    store = await deps.openStore(config);
    await store.ping();
    const applied = await store.appliedMigrations();
    line('ok', 'database', `${store.capabilities.name} reachable (${config.databaseUrl.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@')})`);
    const caps = store.capabilities;
    line(
      'ok',
      'store',
      `engine ${caps.name}; ${caps.multiInstance ? 'multi-instance: several Switchboard instances may share it' : 'single instance: run one Switchboard process on it'}`,
    );
    if (applied.length === 0) line('warn', 'migrations', 'none applied yet; `switchboard migrate` (or `start`) applies them');
    else line('ok', 'migrations', `${applied.length} applied (latest ${applied[applied.length - 1]})`);
  } catch (err) {
    line('FAIL', 'database', `${(err as Error).message}. Check databaseUrl (SWITCHBOARD_DATABASE_URL) and that the database is running.`);
  } finally {
    await store?.close().catch(() => {});
  }

  // 3. provider accounts
  const agent = deps.createProviderAgent(config);
  try {
    const adapters = deps.createAdapters(config, agent);
    for (const account of config.accounts) {
      const adapter = adapters.get(account.name)!;
      const r = await adapter.check();
      const inProcessSandbox = config.sandbox.enabled && account.baseUrl.startsWith(config.publicUrl);
      if (r.ok) line('ok', `account ${account.name}`, r.detail);
      else if (inProcessSandbox) line('warn', `account ${account.name}`, `${r.detail} (the in-process sandbox answers only while \`switchboard start\` runs)`);
      else line('FAIL', `account ${account.name}`, `${r.detail}. Check baseUrl, accountSid and credentials.`);
    }
  } finally {
    await agent.close();
  }

  // 4. public URL
  const pub = new URL(config.publicUrl);
  const realProviders = config.accounts.filter((a) => !(config.sandbox.enabled && a.baseUrl.startsWith(config.publicUrl)));
  if (realProviders.length > 0 && isLocalHost(pub.hostname)) {
    line('warn', 'publicUrl', `${config.publicUrl} is not reachable from the internet; ${realProviders.map((a) => a.name).join(', ')} cannot deliver webhooks. Set SWITCHBOARD_PUBLIC_URL to your public https URL.`);
  } else if (realProviders.length > 0 && pub.protocol !== 'https:') {
    line('warn', 'publicUrl', `${config.publicUrl} is plain http; use https in production.`);
  } else {
    line('ok', 'publicUrl', `${config.publicUrl} (signatures are verified against this URL)`);
  }
  try {
    const res = await fetch(`${config.publicUrl}/healthz`, { signal: AbortSignal.timeout(3_000) });
    if (res.ok) line('ok', 'publicUrl reachable', `${config.publicUrl}/healthz answered ${res.status}`);
    else line('warn', 'publicUrl reachable', `${config.publicUrl}/healthz answered ${res.status}; is it this Switchboard?`);
  } catch (err) {
    line('warn', 'publicUrl reachable', `${config.publicUrl}/healthz: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message} (is \`switchboard start\` running?)`);
  }

  io.out(failed ? `\n${failed} check(s) failed.` : '\nAll checks passed.');
  return failed ? 1 : 0;
}
