/**
 * Load, merge and validate the configuration. Every problem is reported at once, each with how to fix it.
 * Precedence: overrides (CLI flags) > env SWITCHBOARD_* > file > defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import YAML from 'yaml';
import { CATEGORIES } from '../domain/message.ts';
import { type Config, type SenderConfig, type SenderType, defaultConfig } from './schema.ts';
import { validateComplianceConfig } from '../compliance/config.ts';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Json = Record<string, unknown>;
const SENDER_TYPES: SenderType[] = ['long_code', 'toll_free', 'short_code', 'alphanumeric', 'whatsapp'];
const DEFAULT_MPS: Record<SenderType, number> = { long_code: 1, toll_free: 3, short_code: 100, alphanumeric: 10, whatsapp: 80 };
const FILE_NAMES = ['switchboard.config.json', 'switchboard.config.yaml', 'switchboard.config.yml'];

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge where arrays and scalars from `over` replace those in `base`. */
export function deepMerge<T>(base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as T;
  const out: Json = { ...(base as Json) };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObject(out[k]) && isObject(v) ? deepMerge(out[k], v) : v;
  }
  return out as T;
}

export function readConfigFile(path: string): Json {
  const text = readFileSync(path, 'utf8');
  let parsed: unknown;
  try {
    parsed = path.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError([`${path}: cannot parse (${(err as Error).message}). Fix the syntax.`]);
  }
  if (!isObject(parsed)) throw new ConfigError([`${path}: the top level must be an object.`]);
  return parsed;
}

function parseBool(name: string, v: string, problems: string[]): boolean | undefined {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  problems.push(`${name}=${v}: expected true or false.`);
  return undefined;
}

function parseIntEnv(name: string, v: string, problems: string[]): number | undefined {
  if (!/^\d+$/.test(v)) {
    problems.push(`${name}=${v}: expected a whole number.`);
    return undefined;
  }
  return Number(v);
}

/** "from:type:mps,from:type" → senders. */
export function parseSenders(name: string, v: string, problems: string[]): SenderConfig[] {
  const out: SenderConfig[] = [];
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [from, type = 'long_code', mps] = part.split(':');
    if (!SENDER_TYPES.includes(type as SenderType)) {
      problems.push(`${name}: sender "${part}" has type "${type}"; use one of ${SENDER_TYPES.join(', ')}.`);
      continue;
    }
    out.push({ from: from!, type: type as SenderType, mps: mps ? Number(mps) : DEFAULT_MPS[type as SenderType] });
  }
  return out;
}

/** Translate SWITCHBOARD_* variables into a partial config. */
export function envOverrides(env: NodeJS.ProcessEnv, problems: string[]): Json {
  const o: Json = {};
  const server: Json = {};
  if (env.SWITCHBOARD_HOST) server.host = env.SWITCHBOARD_HOST;
  if (env.SWITCHBOARD_PORT) server.port = parseIntEnv('SWITCHBOARD_PORT', env.SWITCHBOARD_PORT, problems);
  if (Object.keys(server).length) o.server = server;
  if (env.SWITCHBOARD_PUBLIC_URL) o.publicUrl = env.SWITCHBOARD_PUBLIC_URL;
  if (env.SWITCHBOARD_DATABASE_URL) o.databaseUrl = env.SWITCHBOARD_DATABASE_URL;
  if (env.SWITCHBOARD_DEFAULT_COUNTRY !== undefined) o.defaultCountry = env.SWITCHBOARD_DEFAULT_COUNTRY || null;
  if (env.SWITCHBOARD_LOG_LEVEL) o.logLevel = env.SWITCHBOARD_LOG_LEVEL;
  if (env.SWITCHBOARD_SANDBOX) o.sandbox = { enabled: parseBool('SWITCHBOARD_SANDBOX', env.SWITCHBOARD_SANDBOX, problems) };
  if (env.SWITCHBOARD_DISPATCH) o.dispatch = { enabled: parseBool('SWITCHBOARD_DISPATCH', env.SWITCHBOARD_DISPATCH, problems) };
  if (env.SWITCHBOARD_COMPLIANCE_NUMBER_HASH_PEPPER) o.compliance = { numberHashPepper: env.SWITCHBOARD_COMPLIANCE_NUMBER_HASH_PEPPER };
  if (env.SWITCHBOARD_DEV_KEY) o.devKeyOnFirstStart = parseBool('SWITCHBOARD_DEV_KEY', env.SWITCHBOARD_DEV_KEY, problems);
  if (env.SWITCHBOARD_TWILIO_ACCOUNT_SID) {
    // One production Twilio account from the environment replaces the configured accounts.
    o.accounts = [
      {
        name: env.SWITCHBOARD_TWILIO_ACCOUNT_NAME || 'twilio',
        provider: 'twilio',
        baseUrl: env.SWITCHBOARD_TWILIO_BASE_URL || 'https://api.twilio.com',
        accountSid: env.SWITCHBOARD_TWILIO_ACCOUNT_SID,
        authToken: env.SWITCHBOARD_TWILIO_AUTH_TOKEN ?? '',
        apiKeySid: env.SWITCHBOARD_TWILIO_API_KEY_SID || null,
        apiKeySecret: env.SWITCHBOARD_TWILIO_API_KEY_SECRET || null,
        senders: parseSenders('SWITCHBOARD_TWILIO_SENDERS', env.SWITCHBOARD_TWILIO_SENDERS ?? '', problems),
      },
    ];
    o.routing = { defaultAccount: env.SWITCHBOARD_TWILIO_ACCOUNT_NAME || 'twilio' };
  }
  return o;
}

export function validateConfig(c: Config): string[] {
  const p: string[] = [];
  const num = (path: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) p.push(`${path} must be a number from ${min} to ${max}; got ${JSON.stringify(v)}.`);
  };
  const str = (path: string, v: unknown) => {
    if (typeof v !== 'string' || v.length === 0) p.push(`${path} must be a non-empty string; got ${JSON.stringify(v)}.`);
  };
  str('server.host', c.server?.host);
  num('server.port', c.server?.port, 0, 65535);
  try {
    const u = new URL(c.publicUrl);
    if (!/^https?:$/.test(u.protocol)) p.push(`publicUrl must be http(s); got ${c.publicUrl}.`);
  } catch {
    p.push(`publicUrl must be an absolute URL like https://sms.example.com (SWITCHBOARD_PUBLIC_URL); got ${JSON.stringify(c.publicUrl)}.`);
  }
  if (typeof c.databaseUrl !== 'string' || !/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(c.databaseUrl)) {
    p.push(`databaseUrl must be "sqlite:<path>" or "postgres://user@host:port/db" (SWITCHBOARD_DATABASE_URL); got ${JSON.stringify(c.databaseUrl)}.`);
  }
  if (c.defaultCountry !== null && !/^[A-Z]{2}$/.test(String(c.defaultCountry))) {
    p.push(`defaultCountry must be an ISO 3166 alpha-2 code like "US", or null; got ${JSON.stringify(c.defaultCountry)}.`);
  }
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(c.logLevel)) {
    p.push(`logLevel must be one of fatal, error, warn, info, debug, trace, silent; got ${JSON.stringify(c.logLevel)}.`);
  }
  for (const cat of CATEGORIES) num(`validity.${cat}`, c.validity?.[cat], 1, 36_000);
  if (!Array.isArray(c.accounts) || c.accounts.length === 0) {
    p.push('accounts must list at least one provider account (or set SWITCHBOARD_TWILIO_ACCOUNT_SID).');
  } else {
    const names = new Set<string>();
    c.accounts.forEach((a, i) => {
      const at = `accounts[${i}]${a?.name ? ` (${a.name})` : ''}`;
      str(`${at}.name`, a.name);
      if (names.has(a.name)) p.push(`${at}.name is used twice; account names must be unique.`);
      names.add(a.name);
      if (a.provider !== 'twilio') p.push(`${at}.provider must be "twilio"; got ${JSON.stringify(a.provider)}.`);
      try {
        new URL(a.baseUrl);
      } catch {
        p.push(`${at}.baseUrl must be an absolute URL (https://api.twilio.com in production); got ${JSON.stringify(a.baseUrl)}.`);
      }
      if (!/^AC[0-9a-fA-F]{32}$/.test(String(a.accountSid))) p.push(`${at}.accountSid must look like AC followed by 32 hex digits (Twilio console).`);
      str(`${at}.authToken (needed to verify webhook signatures; SWITCHBOARD_TWILIO_AUTH_TOKEN)`, a.authToken);
      if ((a.apiKeySid === null) !== (a.apiKeySecret === null)) p.push(`${at}: set both apiKeySid and apiKeySecret, or neither.`);
      if (a.apiKeySid !== null && !/^SK[0-9a-fA-F]{32}$/.test(String(a.apiKeySid))) p.push(`${at}.apiKeySid must look like SK followed by 32 hex digits.`);
      if (!Array.isArray(a.senders) || a.senders.length === 0) {
        p.push(`${at}.senders must list at least one sender, e.g. [{"from": "+14155550100", "type": "long_code", "mps": 1}] (SWITCHBOARD_TWILIO_SENDERS="+14155550100:long_code:1").`);
      } else {
        a.senders.forEach((s, j) => {
          str(`${at}.senders[${j}].from`, s.from);
          if (!SENDER_TYPES.includes(s.type)) p.push(`${at}.senders[${j}].type must be one of ${SENDER_TYPES.join(', ')}.`);
          num(`${at}.senders[${j}].mps`, s.mps, 0.001, 10_000);
        });
      }
    });
    const accountNames = new Set(c.accounts.map((a) => a.name));
    if (!accountNames.has(c.routing?.defaultAccount)) {
      p.push(`routing.defaultAccount "${c.routing?.defaultAccount}" is not one of the accounts (${[...accountNames].join(', ')}).`);
    }
    for (const [key, acct] of Object.entries(c.routing?.byKey ?? {})) {
      if (!accountNames.has(acct)) p.push(`routing.byKey.${key} names unknown account "${acct}".`);
    }
  }
  const d = c.dispatch;
  num('dispatch.concurrency', d.concurrency, 1, 10_000);
  num('dispatch.leaseMs', d.leaseMs, 1_000);
  num('dispatch.maxAttempts', d.maxAttempts, 1, 100);
  num('dispatch.backoff.baseMs', d.backoff.baseMs, 1);
  num('dispatch.backoff.maxMs', d.backoff.maxMs, d.backoff.baseMs);
  num('dispatch.rateWindowMarginMs', d.rateWindowMarginMs, 0, 10_000);
  num('dispatch.submitTimeoutMs', d.submitTimeoutMs, 100, 120_000);
  num('dispatch.idlePollMs', d.idlePollMs, 10, 60_000);
  num('dispatch.reconcileDelayMs', d.reconcileDelayMs, 0, 3_600_000);
  num('dispatch.statusPollAfterMs', d.statusPollAfterMs, 0, 86_400_000);
  if (d.submitTimeoutMs >= d.leaseMs) p.push('dispatch.submitTimeoutMs must be below dispatch.leaseMs, or another dispatcher may take over a request still in flight.');
  if (Array.isArray(c.accounts)) p.push(...validateComplianceConfig(c.compliance, c.events, c.conversations, c.accounts));
  return p;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Explicit config file; otherwise SWITCHBOARD_CONFIG or the first of FILE_NAMES in cwd. */
  file?: string | null;
  cwd?: string;
  /** Highest precedence (CLI flags, tests). */
  overrides?: Json;
}

export function loadConfig(opts: LoadOptions = {}): Readonly<Config> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const problems: string[] = [];
  let file: Json = {};
  const filePath = opts.file ?? env.SWITCHBOARD_CONFIG ?? FILE_NAMES.map((f) => resolve(cwd, f)).find((f) => existsSync(f)) ?? null;
  if (filePath) {
    if (!existsSync(filePath)) throw new ConfigError([`config file ${filePath} does not exist (SWITCHBOARD_CONFIG).`]);
    file = readConfigFile(filePath);
  }
  const fromEnv = envOverrides(env, problems);
  const base = defaultConfig();
  let c = deepMerge(deepMerge(deepMerge(base, file), fromEnv), opts.overrides ?? {});
  // Derived defaults: when only the port changed, keep publicUrl and the built-in sandbox account pointing at us.
  const layered = deepMerge(deepMerge(file, fromEnv), opts.overrides ?? {}) as Json;
  const origin = `http://${c.server.host === '0.0.0.0' ? '127.0.0.1' : c.server.host}:${c.server.port}`;
  if (layered.publicUrl === undefined) c = { ...c, publicUrl: origin };
  if (layered.accounts === undefined) {
    c = {
      ...c,
      accounts: c.accounts.map((a) => (a.name === 'sandbox' ? { ...a, baseUrl: `${origin}/sandbox`, accountSid: c.sandbox.accountSid, authToken: c.sandbox.authToken } : a)),
    };
  }
  for (const a of c.accounts) {
    // Fill per-sender defaults from the sender type.
    a.senders = (a.senders ?? []).map((s) => ({ ...s, type: s.type ?? 'long_code', mps: s.mps ?? DEFAULT_MPS[s.type ?? 'long_code'] }));
    a.apiKeySid = a.apiKeySid ?? null;
    a.apiKeySecret = a.apiKeySecret ?? null;
  }
  c.publicUrl = c.publicUrl.replace(/\/+$/, '');
  problems.push(...validateConfig(c));
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(c);
}
