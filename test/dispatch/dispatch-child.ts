/**
 * A real dispatcher process for the crash-recovery test (test/dispatch/crash-recovery.test.ts):
 * SQLite store + Twilio adapter + Dispatcher on the system clock, until killed.
 * Env: SB_DB (sqlite file), SB_SANDBOX_URL (Twilio REST base), SB_PUBLIC_URL, SB_OWNER, SB_RATES (JSON {senderKey: mps}),
 * SB_LEASE_MS, SB_RECONCILE_MS, SB_TIMEOUT_MS.
 */
import { systemClock } from '../../src/domain/clock.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/config/schema.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { createTwilioAdapter } from '../../src/providers/twilio/adapter.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`missing env ${name}`);
  return v;
}

const store = await createSqliteStore({ path: env('SB_DB') });
await store.migrate();
const timeoutMs = Number(process.env.SB_TIMEOUT_MS ?? 5000);
const adapter = createTwilioAdapter(
  {
    name: 'sandbox',
    provider: 'twilio',
    baseUrl: env('SB_SANDBOX_URL'),
    accountSid: SANDBOX_ACCOUNT_SID,
    authToken: SANDBOX_AUTH_TOKEN,
    apiKeySid: null,
    apiKeySecret: null,
    senders: [],
  },
  { publicUrl: env('SB_PUBLIC_URL'), timeoutMs },
);
const rates = new Map<string, number>(Object.entries(JSON.parse(process.env.SB_RATES ?? '{}') as Record<string, number>));
const line = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const dispatcher = new Dispatcher({
  store,
  adapters: new Map([['sandbox', adapter]]),
  clock: systemClock,
  config: {
    enabled: true,
    concurrency: 16,
    leaseMs: Number(process.env.SB_LEASE_MS ?? 4000),
    maxAttempts: 8,
    backoff: { baseMs: 100, maxMs: 1000 },
    rateWindowMarginMs: 50,
    submitTimeoutMs: timeoutMs,
    idlePollMs: 100,
    reconcileDelayMs: Number(process.env.SB_RECONCILE_MS ?? 500),
  },
  rates,
  defaultMps: 10,
  owner: env('SB_OWNER'),
  log: {
    debug: () => {},
    info: () => {},
    warn: (obj, msg) => line({ level: 'warn', msg, ...sanitize(obj) }),
    error: (obj, msg) => line({ level: 'error', msg, ...sanitize(obj) }),
  },
});

function sanitize(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = v instanceof Error ? v.message : v;
  return out;
}

dispatcher.start();
line({ ready: true, pid: process.pid });

const shutdown = async () => {
  await dispatcher.stop();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
