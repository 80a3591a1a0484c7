/**
 * The one typed configuration. Defaults run with nothing set: SQLite at ./data/switchboard.db and the
 * built-in sandbox carrier mounted at /sandbox in the same process.
 * Precedence: env SWITCHBOARD_* > config file (switchboard.config.json|yaml) > defaults.
 * Documented in docs/reference/configuration.md.
 */
import type { Category } from '../domain/message.ts';
import {
  defaultComplianceConfig,
  defaultConversationsConfig,
  defaultEventsConfig,
  type ComplianceConfig,
  type ConversationsConfig,
  type EventsConfig,
} from '../compliance/config.ts';

export type { ComplianceConfig, ConversationsConfig, EventsConfig };

export type SenderType = 'long_code' | 'toll_free' | 'short_code' | 'alphanumeric' | 'whatsapp';

export interface SenderConfig {
  /** E.164 number, short code or alphanumeric id. */
  from: string;
  type: SenderType;
  /** Segments per second this sender may send (never exceeded in any one-second window). */
  mps: number;
}

export interface TwilioAccountConfig {
  /** Name used in routing and shown in message records, e.g. "sandbox", "billing-us". */
  name: string;
  provider: 'twilio';
  /** REST base URL: the sandbox in development, https://api.twilio.com in production. */
  baseUrl: string;
  accountSid: string;
  /** Used to verify X-Twilio-Signature on webhooks (and for REST auth when no API key is set). */
  authToken: string;
  /** Optional API key (SK…) and secret for REST auth, as Twilio recommends. */
  apiKeySid: string | null;
  apiKeySecret: string | null;
  senders: SenderConfig[];
}

export type AccountConfig = TwilioAccountConfig;

export interface SandboxConfig {
  /** Mount the sandbox carrier in the Switchboard process at /sandbox. */
  enabled: boolean;
  accountSid: string;
  authToken: string;
  /** Milliseconds from submit to each status callback. */
  latency: { sendingMs: number; sentMs: number; deliveredMs: number };
  /** Seed for deterministic outcomes. */
  seed: number;
}

export interface DispatchConfig {
  /** Run the dispatcher in this process. */
  enabled: boolean;
  /** Provider requests in flight at once (all senders). */
  concurrency: number;
  /** A claimed message not finished within this is taken over by another dispatcher (ms). */
  leaseMs: number;
  /** Total submit attempts before a transiently failing message fails. */
  maxAttempts: number;
  backoff: { baseMs: number; maxMs: number };
  /** Added to the 1,000 ms rate window to absorb network jitter (ms). */
  rateWindowMarginMs: number;
  /** Provider request timeout (ms); a timeout after the request left is ambiguous, not retried blindly. */
  submitTimeoutMs: number;
  /** Longest sleep between claim rounds when idle (ms). */
  idlePollMs: number;
  /** Wait before looking up an ambiguous submit at the provider (ms). */
  reconcileDelayMs: number;
  /**
   * Look a message up at the provider when it is `sending`/`sent` with the provider and its status has not changed
   * for this long (ms): its status callbacks may never come. 0 disables the poll. Optional in literals; default 10 min.
   */
  statusPollAfterMs?: number;
}

export interface Config {
  server: { host: string; port: number };
  /** Public base URL providers use to reach our webhooks; signatures are verified against it. */
  publicUrl: string;
  /** `sqlite:<path>` or `postgres://…`. */
  databaseUrl: string;
  /** ISO 3166 alpha-2 country for national-format numbers (e.g. "US"); null to require E.164. */
  defaultCountry: string | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Default validity per category, seconds. */
  validity: Record<Category, number>;
  accounts: AccountConfig[];
  /** Which account a key sends through: key name → account name; otherwise `defaultAccount`. */
  routing: { defaultAccount: string; byKey: Record<string, string> };
  dispatch: DispatchConfig;
  sandbox: SandboxConfig;
  /** Create and print a development API key on first start with an empty database. */
  devKeyOnFirstStart: boolean;
  /** Consent programs, number-hash pepper, retention job (docs/guides/compliance.md). */
  compliance: ComplianceConfig;
  /** Events to apps: subscription URL policy, deliverer concurrency/lease. */
  events: EventsConfig;
  /** Inbound ownership: routing rules, fallback apps, out-of-hours. */
  conversations: ConversationsConfig;
}

export const SANDBOX_ACCOUNT_SID = 'AC00000000000000000000000000000001';
export const SANDBOX_AUTH_TOKEN = 'sandbox0auth0token000000000000000';

export function defaultConfig(): Config {
  const port = 3000;
  return {
    server: { host: '127.0.0.1', port },
    publicUrl: `http://127.0.0.1:${port}`,
    databaseUrl: 'sqlite:./data/switchboard.db',
    defaultCountry: 'US',
    logLevel: 'info',
    validity: { otp: 300, transactional: 36_000, promotional: 36_000 },
    accounts: [
      {
        name: 'sandbox',
        provider: 'twilio',
        baseUrl: `http://127.0.0.1:${port}/sandbox`,
        accountSid: SANDBOX_ACCOUNT_SID,
        authToken: SANDBOX_AUTH_TOKEN,
        apiKeySid: null,
        apiKeySecret: null,
        senders: [
          { from: '+15005550006', type: 'long_code', mps: 1 },
          { from: '+18005550100', type: 'toll_free', mps: 3 },
          { from: '55501', type: 'short_code', mps: 100 },
        ],
      },
    ],
    routing: { defaultAccount: 'sandbox', byKey: {} },
    dispatch: {
      enabled: true,
      concurrency: 32,
      leaseMs: 30_000,
      maxAttempts: 8,
      backoff: { baseMs: 1_000, maxMs: 300_000 },
      rateWindowMarginMs: 50,
      submitTimeoutMs: 10_000,
      idlePollMs: 1_000,
      reconcileDelayMs: 2_000,
      statusPollAfterMs: 600_000,
    },
    sandbox: {
      enabled: true,
      accountSid: SANDBOX_ACCOUNT_SID,
      authToken: SANDBOX_AUTH_TOKEN,
      latency: { sendingMs: 50, sentMs: 200, deliveredMs: 800 },
      seed: 1,
    },
    devKeyOnFirstStart: true,
    compliance: defaultComplianceConfig(),
    events: defaultEventsConfig(),
    conversations: defaultConversationsConfig(),
  };
}
