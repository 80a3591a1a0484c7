/**
 * The composition root: the only module that imports a concrete store, provider adapter or the sandbox.
 * Everything else receives its collaborators through constructors/options (no DI container).
 *
 *   config ─▶ store (sqlite: | postgres://) ─▶ migrate ─▶ Fastify (api, webhooks, sandbox) ─▶ dispatcher
 *
 * Port 0 (tests, `SWITCHBOARD_PORT=0`): the socket is bound first, so publicUrl and the sandbox account's base URL
 * can carry the real port before adapters and webhook routes are built.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher as UndiciDispatcher } from 'undici';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { createFastify } from './api/http.ts';
import { registerApi } from './api/index.ts';
import { createApiKey } from './api/keys.ts';
import { DEV_KEY_SCOPES } from './api/scopes.ts';
import type { Config } from './config/schema.ts';
import { systemClock, type Clock } from './domain/clock.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { senderKey } from './dispatch/rate-limit.ts';
import type { ProviderAdapter } from './providers/provider.ts';
import { createTwilioAdapter } from './providers/twilio/adapter.ts';
import { createLogger } from './metrics/logging.ts';
import { dashboardPlugin } from './dashboard/plugin.ts';
import { createMetrics, type SwitchboardMetrics } from './metrics/metrics.ts';
import { metricsPlugin } from './metrics/plugin.ts';
import { createSandbox, type SandboxEngine } from './sandbox/engine.ts';
import { sandboxPlugin } from './sandbox/plugin.ts';
import { createPostgresStore, postgresOptionsFromUrl } from './store/postgres/postgres-store.ts';
import { createSqliteStore } from './store/sqlite/sqlite-store.ts';
import type { Store } from './store/store.ts';
import { TWILIO_INBOUND_PATH, twilioWebhookRoutes } from './webhooks/twilio-webhooks.ts';
import { createComplianceModule, type ComplianceModule } from './compliance/module.ts';

export interface AppDeps {
  clock?: Clock;
  /** A store to use instead of opening `config.databaseUrl` (the caller keeps ownership: close() leaves it open). */
  store?: Store;
  /** A pino logger (Fastify's); otherwise `createLogger(config.logLevel)` (bodies and numbers redacted). */
  log?: FastifyBaseLogger;
  /** Install SIGINT/SIGTERM handlers in start() (default true). */
  handleSignals?: boolean;
}

export interface App {
  app: FastifyInstance;
  store: Store;
  dispatcher: Dispatcher;
  sandbox?: SandboxEngine;
  /** Prometheus metrics, served at GET /metrics. */
  metrics: SwitchboardMetrics;
  /** Consent ledger, keyword handling, events to apps (issue 4). */
  compliance: ComplianceModule;
  /** The configuration actually in effect (publicUrl and sandbox base URL carry the bound port). */
  config: Readonly<Config>;
  /** The development key created by start() on the very first start (print it once), or null. Created only once
   *  the server listens, so a failed start (port in use) does not swallow it. */
  devKey: { token: string; name: string } | null;
  start(): Promise<string>;
  close(): Promise<void>;
}

export const DEV_KEY_META = 'dev_key_created_at';
const SANDBOX_PREFIX = '/sandbox';

/** Open (not migrate) the store named by `config.databaseUrl`. */
export async function openStore(config: Pick<Config, 'databaseUrl'>): Promise<Store> {
  const url = config.databaseUrl;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return createSqliteStore({ path });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    // schema, pool_max, pool_idle_timeout_ms, pool_connection_timeout_ms come from the URL (docs/guides/deployment.md).
    return createPostgresStore(postgresOptionsFromUrl(url));
  }
  throw new Error(`databaseUrl must be sqlite:<path> or postgres://…; got ${url}`);
}

/** Build one provider adapter per configured account. */
export function createAdapters(config: Readonly<Config>, agent: UndiciDispatcher): Map<string, ProviderAdapter> {
  const out = new Map<string, ProviderAdapter>();
  for (const account of config.accounts) {
    out.set(account.name, createTwilioAdapter(account, { publicUrl: config.publicUrl, timeoutMs: config.dispatch.submitTimeoutMs, agent }));
  }
  return out;
}

/** The keep-alive HTTP agent shared by the provider adapters (closed with the app). */
export function createProviderAgent(config: Readonly<Config>): Agent {
  return new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 60_000,
    connections: 128,
    connect: { timeout: Math.max(1, Math.min(config.dispatch.submitTimeoutMs, 10_000)) },
  });
}

/** Segments per second by `senderKey(account, from)`, from the config. */
export function senderRates(config: Readonly<Config>): Map<string, number> {
  const rates = new Map<string, number>();
  for (const a of config.accounts) for (const s of a.senders) rates.set(senderKey(a.name, s.from), s.mps);
  return rates;
}

/** Replace origin `http://host:0` by the bound origin wherever the config derived it. */
function withBoundPort(config: Readonly<Config>, port: number): Config {
  const c = structuredClone(config) as Config;
  const fix = (u: string): string => {
    try {
      const url = new URL(u);
      if (url.port === '0') {
        url.port = String(port);
        return url.toString().replace(/\/+$/, '');
      }
    } catch {
      /* validated elsewhere */
    }
    return u;
  };
  c.server.port = port;
  c.publicUrl = fix(c.publicUrl);
  c.accounts = c.accounts.map((a) => ({ ...a, baseUrl: fix(a.baseUrl) }));
  return c;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Create the first-start development key once (empty key table, `devKeyOnFirstStart`). */
export async function ensureDevKey(store: Store, config: Readonly<Config>, now: number): Promise<{ token: string; name: string } | null> {
  if (!config.devKeyOnFirstStart) return null;
  if ((await store.countApiKeys()) > 0) return null;
  if ((await store.getMeta(DEV_KEY_META)) !== null) return null;
  const { token, record } = await createApiKey(store, { name: 'dev', scopes: DEV_KEY_SCOPES, kind: 'dev', now });
  await store.setMeta(DEV_KEY_META, String(now));
  return { token, name: record.name };
}

/** The ready-to-paste curl line printed with the development key. */
export function curlLine(baseUrl: string, token: string): string {
  const target = baseUrl.replace(/^http:\/\//, '');
  return `curl -s ${target}/v1/messages -H "Authorization: Bearer ${token}" -H 'content-type: application/json' -d '{"to":"+14155550100","body":"Hello"}'`;
}

/**
 * Who answers STOP/START/HELP on the in-process sandbox carrier, per program (docs/guides/compliance.md "When the
 * provider handles keywords too"). The carrier handles keywords itself on every number but a short code outside a
 * Messaging Service, as Twilio does by default (twilio-wire.md §6): it blocks or unblocks the handset and replies.
 *
 * - `autoReplies: "switchboard"` (default): the program's long codes get the carrier's keyword filtering turned off
 *   (what Twilio support does on request), so Switchboard's configured replies are the only ones, sent through the
 *   pipeline, and its ledger is the block.
 * - `autoReplies: "provider"`, and every toll-free number (the toll-free network's STOP layer cannot be turned off):
 *   the numbers go into one sandbox Messaging Service per program (opt-outs are service-wide there, like the
 *   program's) with Advanced Opt-Out on, so the inbound webhook carries `OptOutType`; Switchboard records the change
 *   once and sends no second confirmation (which the carrier would refuse with 21610 after a STOP).
 *
 * Short codes outside a service are left alone: the carrier leaves keywords to Switchboard. Numbers already in a
 * service are left alone too.
 */
export function configureSandboxKeywords(
  sandbox: SandboxEngine,
  accountSid: string,
  programOf: (from: string) => { name: string; autoReplies?: 'switchboard' | 'provider' },
): void {
  const byProgram = new Map<string, string[]>();
  for (const n of sandbox.numbers(accountSid)) {
    if (n.type === 'short_code' || n.serviceSid !== null) continue;
    const program = programOf(n.phoneNumber);
    if ((program.autoReplies ?? 'switchboard') === 'switchboard' && n.type !== 'toll_free') {
      sandbox.setKeywordFiltering(n.sid, false);
      continue;
    }
    byProgram.set(program.name, [...(byProgram.get(program.name) ?? []), n.sid]);
  }
  for (const [program, sids] of byProgram) {
    const service = sandbox.createService(accountSid, { FriendlyName: `Switchboard program ${program}` });
    sandbox.setAdvancedOptOut(service.sid, true);
    for (const sid of sids) sandbox.addToService(accountSid, service.sid, sid, 'PN');
  }
}

export async function buildApp(inputConfig: Readonly<Config>, deps: AppDeps = {}): Promise<App> {
  const clock = deps.clock ?? systemClock;
  const ownsStore = !deps.store;
  const store = deps.store ?? (await openStore(inputConfig));
  let prebound: Server | null = null;
  try {
    await store.migrate();
    const expectedMigrations = await store.appliedMigrations();

    let config: Readonly<Config> = inputConfig;
    if (inputConfig.server.port === 0) {
      prebound = createServer();
      const port = await listen(prebound, 0, inputConfig.server.host);
      config = withBoundPort(inputConfig, port);
    }
    const server = prebound;

    const app = createFastify({ logLevel: config.logLevel, log: deps.log ?? createLogger(config.logLevel), server: prebound ?? undefined });
    const metrics = createMetrics({
      store,
      clock,
      senders: config.accounts.flatMap((a) => a.senders.map((s) => ({ account: a.name, from: s.from }))),
    });

    const agent = createProviderAgent(config);
    const adapters = createAdapters(config, agent);
    const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    // Issue 4: consent ledger, keyword handling, dispatch-time re-check, events to apps (src/compliance/module.ts).
    const compliance = createComplianceModule({
      store,
      clock,
      config,
      owner,
      onAccepted: () => {
        if (dispatching) dispatcher.wake();
      },
      log: app.log.child({ component: 'compliance' }),
      onDeliveryAttempt: (row, r) => metrics.eventDelivery(row, r),
    });
    const dispatcher = new Dispatcher({
      store,
      adapters,
      clock,
      config: config.dispatch,
      rates: senderRates(config),
      defaultMps: 1,
      owner,
      guard: compliance.guard,
      // message.status rows for the ends the dispatcher decides, written in the change's transaction.
      statusOutbox: (now) => compliance.dispatchStatusOutbox(now),
      log: app.log.child({ component: 'dispatch' }),
      hooks: {
        onSubmitted: (m) => metrics.submitted(m),
        onFinal: (m) => {
          metrics.completed(m);
          compliance.onFinal(m);
        },
      },
    });
    let dispatching = false;

    await registerApi(app, {
      // Sends are filed in their conversation in the message's own transaction (durable with it).
      store: compliance.sendStore,
      config,
      clock,
      expectedMigrations,
      onAccepted: (messages) => {
        metrics.accepted(messages);
        if (dispatching) dispatcher.wake();
      },
      compliance: compliance.consent,
    });
    // Before the webhook routes: its onSend hook counts rejected webhooks.
    await app.register(metricsPlugin, { metrics });
    await app.register(twilioWebhookRoutes, {
      store,
      clock,
      accounts: config.accounts,
      publicUrl: config.publicUrl,
      log: app.log.child({ component: 'webhooks' }),
      onStatus: (m, event) => {
        metrics.statusCallback(m, event);
        compliance.onStatus(m, event);
      },
      onInbound: async (r) => {
        metrics.inbound(r);
        await compliance.onInbound(r);
      },
      // Issue 4 "nothing lost": a stored but unhandled inbound message is handled again on redelivery (not counted
      // again), and message.status rows are written in the status change's transaction.
      resumeInbound: async (r) => {
        await compliance.onInbound(r);
      },
      statusOutbox: (m, event) => compliance.statusOutbox(m, event),
    });
    await compliance.routes(app);

    let sandbox: SandboxEngine | undefined;
    if (config.sandbox.enabled) {
      const account = config.accounts.find((a) => a.accountSid === config.sandbox.accountSid);
      sandbox = createSandbox({
        clock,
        seed: config.sandbox.seed,
        latency: config.sandbox.latency,
        accounts: [{ sid: config.sandbox.accountSid, authToken: config.sandbox.authToken, friendlyName: 'Switchboard sandbox' }],
        // The sandbox account's senders answer inbound messages to our inbound webhook, as a Twilio number would.
        numbers: (account?.senders ?? []).map((s) => ({
          phoneNumber: s.from,
          accountSid: config.sandbox.accountSid,
          type: s.type,
          // The carrier drains each sender at the rate we pace it at.
          mps: s.mps,
          smsUrl: `${config.publicUrl}${TWILIO_INBOUND_PATH}`,
        })),
        log: app.log.child({ component: 'sandbox' }),
      });
      configureSandboxKeywords(sandbox, config.sandbox.accountSid, (from) => compliance.consent.programOf(account?.name ?? '', from));
      await app.register(sandboxPlugin, { prefix: SANDBOX_PREFIX, engine: sandbox });
    }
    // The operator dashboard (docs/reference/dashboard.md); the Sandbox phones page when the sandbox is mounted.
    await app.register(dashboardPlugin, { prefix: '/dashboard', store, config, clock, sandbox, metrics, consent: compliance.consent });

    let url: string | null = null;
    let closing: Promise<void> | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      app.log.info({ signal }, 'shutting down');
      void close().then(
        () => process.exit(0),
        (err) => {
          app.log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };

    async function start(): Promise<string> {
      if (url) return url;
      if (server) {
        await app.ready();
        url = `http://${config.server.host}:${(server.address() as AddressInfo).port}`;
        app.log.info({ url }, 'listening');
      } else {
        url = await app.listen({ host: config.server.host, port: config.server.port });
      }
      result.devKey = await ensureDevKey(store, config, clock.now());
      if (config.dispatch.enabled) {
        dispatcher.start();
        dispatching = true;
      }
      compliance.start();
      if (deps.handleSignals !== false) {
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
      }
      return url;
    }

    function close(): Promise<void> {
      closing ??= (async () => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        // Stop claiming first: in-flight submits are recorded and this owner's leases released.
        if (dispatching) await dispatcher.stop();
        dispatching = false;
        await compliance.stop();
        await sandbox?.close();
        await app.close();
        if (server) await closeServer(server);
        await agent.close();
        if (ownsStore) await store.close();
      })();
      return closing;
    }

    const result: App = { app, store, dispatcher, sandbox, metrics, compliance, config, devKey: null, start, close };
    return result;
  } catch (err) {
    if (prebound) await closeServer(prebound);
    if (ownsStore) await store.close().catch(() => {});
    throw err;
  }
}
