/** The CLI commands: each has its help text, its flags (node:util parseArgs) and a run function returning an exit code. */
import type { ParseArgsConfig } from 'node:util';
import { buildApp, createAdapters, createProviderAgent, curlLine, openStore } from '../app.ts';
import { createApiKey } from '../api/keys.ts';
import { ConsentService } from '../compliance/consent-service.ts';
import { runRetention } from '../compliance/retention-job.ts';
import { parseScopes, SCOPES } from '../api/scopes.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/store.ts';
import { UsageError, type CliIo } from './io.ts';
import { runDoctor } from './doctor.ts';
import {
  runSandbox,
  runSandboxFault,
  runSandboxInbox,
  runSandboxPhones,
  runSandboxReply,
  SANDBOX_FAULT_HELP,
  SANDBOX_FAULT_OPTIONS,
  SANDBOX_HELP,
  SANDBOX_INBOX_HELP,
  SANDBOX_INBOX_OPTIONS,
  SANDBOX_OPTIONS,
  SANDBOX_PHONES_HELP,
  SANDBOX_PHONES_OPTIONS,
  SANDBOX_REPLY_HELP,
  SANDBOX_REPLY_OPTIONS,
} from './sandbox.ts';

export interface CommandContext {
  io: CliIo;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** Load and validate the configuration (flags passed as overrides). */
  config(overrides?: Record<string, unknown>): Readonly<Config>;
}

export interface Command {
  help: string;
  options?: ParseArgsConfig['options'];
  /** A command group ("keys"): prints its help, never runs. */
  group?: boolean;
  run(ctx: CommandContext): Promise<number>;
}

function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

function required(ctx: CommandContext, name: string): string {
  const v = str(ctx, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required.`);
  return v;
}

function portValue(text: string, flag: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${flag} must be a port number from 0 to 65535; got "${text}".`);
  return Number(text);
}

async function withStore<T>(config: Readonly<Config>, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config);
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

const notRunnable = async (): Promise<number> => 2;

export const COMMANDS: Record<string, Command> = {
  start: {
    help: `Usage: switchboard start [--port N] [--host H] [--config FILE]

Runs the API, webhook ingestion, the dispatcher and (unless disabled) the sandbox carrier at /sandbox.
Defaults: 127.0.0.1:3000, SQLite at ./data/switchboard.db. On the first start with no API keys, prints a
development key once. Stops gracefully on SIGINT/SIGTERM.

Options:
  --port N     Listen port (SWITCHBOARD_PORT; 0 = any free port)
  --host H     Listen address (SWITCHBOARD_HOST)
  --config F   Config file (SWITCHBOARD_CONFIG)`,
    options: { port: { type: 'string' }, host: { type: 'string' } },
    async run(ctx) {
      const server: Record<string, unknown> = {};
      const port = str(ctx, 'port');
      const host = str(ctx, 'host');
      if (port !== undefined) server.port = portValue(port, '--port');
      if (host !== undefined) server.host = host;
      const config = ctx.config(Object.keys(server).length ? { server } : {});
      const built = await buildApp(config);
      let url: string;
      try {
        url = await built.start();
      } catch (err) {
        await built.close();
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          ctx.io.err(`Port ${config.server.port} on ${config.server.host} is in use. Stop the other process or choose another port (--port, SWITCHBOARD_PORT).`);
          return 1;
        }
        throw err;
      }
      const parts = [`store ${built.store.capabilities.name}`, built.sandbox ? `sandbox at ${url}/sandbox` : 'sandbox off', `dispatcher ${config.dispatch.enabled ? 'on' : 'off'}`];
      const lines = [`Switchboard listening on ${url} (${parts.join(', ')})`];
      if (built.devKey) {
        lines.push(
          '',
          '  A development API key was created (it is shown only this once; store it now):',
          '',
          `    ${built.devKey.token}`,
          '',
          '  Send a message:',
          '',
          `    ${curlLine(url, built.devKey.token)}`,
          '',
        );
      }
      // One write, so whoever reads the output sees the key together with the URL.
      ctx.io.out(lines.join('\n'));
      return 0;
    },
  },

  send: {
    help: `Usage: switchboard send --to NUMBER --body TEXT [--from SENDER] [--category otp|transactional|promotional]
                       [--idempotency-key K] [--url URL] [--key KEY]

Sends one message through a running server (POST /v1/messages) and prints the response.
  --url   Server base URL (default SWITCHBOARD_URL, else the configured publicUrl)
  --key   API key (default SWITCHBOARD_API_KEY)`,
    options: {
      to: { type: 'string' },
      body: { type: 'string' },
      from: { type: 'string' },
      category: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
      'idempotency-key': { type: 'string' },
    },
    async run(ctx) {
      const to = required(ctx, 'to');
      const body = str(ctx, 'body');
      if (body === undefined) throw new UsageError('--body is required.');
      const key = str(ctx, 'key') ?? ctx.io.env.SWITCHBOARD_API_KEY;
      if (!key) throw new UsageError('An API key is required: --key or SWITCHBOARD_API_KEY.');
      const base = (str(ctx, 'url') ?? ctx.io.env.SWITCHBOARD_URL ?? ctx.config().publicUrl).replace(/\/+$/, '');
      const payload: Record<string, string> = { to, body };
      for (const f of ['from', 'category'] as const) {
        const v = str(ctx, f);
        if (v !== undefined) payload[f] = v;
      }
      const headers: Record<string, string> = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const idem = str(ctx, 'idempotency-key');
      if (idem !== undefined) headers['idempotency-key'] = idem;
      let res: Response;
      try {
        res = await fetch(`${base}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(payload) });
      } catch (err) {
        ctx.io.err(`Cannot reach Switchboard at ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}. Is \`switchboard start\` running? (--url)`);
        return 1;
      }
      const text = await res.text();
      let pretty = text;
      try {
        pretty = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        /* not JSON: print as is */
      }
      if (res.ok) {
        ctx.io.out(pretty);
        return 0;
      }
      ctx.io.err(`HTTP ${res.status}\n${pretty}`);
      return 1;
    },
  },

  keys: {
    group: true,
    help: `Usage: switchboard keys <create|list|revoke> [options]

  keys create --name NAME --scopes S1,S2 [--account ACCOUNT] [--dev] [--json]
  keys list [--json]
  keys revoke <id|name>

Scopes: ${SCOPES.join(', ')} (admin grants every scope).`,
    run: notRunnable,
  },

  'keys create': {
    help: `Usage: switchboard keys create --name NAME --scopes S1,S2 [--account ACCOUNT] [--dev] [--json]

Creates an API key and prints it once (only its sha256 hash is stored).
  --name      A unique name, e.g. the calling app ("billing")
  --scopes    Comma-separated: ${SCOPES.join(', ')}
  --account   Provider account this key sends through (default: config routing)
  --dev       Make an sb_dev_ key instead of sb_live_
  --json      Print one JSON object on stdout instead: {id, name, prefix, scopes, account, token, createdAt}
              (createdAt in ms since the epoch, as \`keys list --json\`)`,
    options: { name: { type: 'string' }, scopes: { type: 'string' }, account: { type: 'string' }, dev: { type: 'boolean' }, json: { type: 'boolean' } },
    async run(ctx) {
      const name = required(ctx, 'name');
      if (!/^[A-Za-z0-9][\w.-]{0,63}$/.test(name)) throw new UsageError('--name must be 1–64 letters, digits, ".", "_" or "-".');
      const { scopes, unknown } = parseScopes(required(ctx, 'scopes'));
      if (unknown.length) throw new UsageError(`Unknown scope(s): ${unknown.join(', ')}. Use: ${SCOPES.join(', ')}.`);
      if (scopes.length === 0) throw new UsageError('--scopes must name at least one scope.');
      const config = ctx.config();
      const account = str(ctx, 'account') ?? null;
      if (account !== null && !config.accounts.some((a) => a.name === account)) {
        throw new UsageError(`--account "${account}" is not a configured account (${config.accounts.map((a) => a.name).join(', ')}).`);
      }
      return withStore(config, async (store) => {
        if ((await store.listApiKeys()).some((k) => k.name === name && k.revokedAt === null)) {
          ctx.io.err(`An active key named "${name}" exists; revoke it first or pick another name.`);
          return 1;
        }
        const { token, record } = await createApiKey(store, { name, scopes, account, kind: ctx.values.dev ? 'dev' : 'live', now: Date.now() });
        if (ctx.values.json) {
          const { id, prefix, createdAt } = record;
          ctx.io.out(JSON.stringify({ id, name: record.name, prefix, scopes: record.scopes, account: record.account, token, createdAt }, null, 2));
          return 0;
        }
        ctx.io.out(`Created key ${record.id} "${record.name}" scopes=${record.scopes.join(',')}${record.account ? ` account=${record.account}` : ''}`);
        ctx.io.out(`\n  ${token}\n\nStore it now: it is not shown again.`);
        return 0;
      });
    },
  },

  'keys list': {
    help: `Usage: switchboard keys list [--json]

Lists API keys (never the secret: only its first characters).`,
    options: { json: { type: 'boolean' } },
    async run(ctx) {
      return withStore(ctx.config(), async (store) => {
        const keys = await store.listApiKeys();
        if (ctx.values.json) {
          ctx.io.out(JSON.stringify(keys.map(({ hash: _hash, ...k }) => k), null, 2));
          return 0;
        }
        if (keys.length === 0) {
          ctx.io.out('No API keys. Create one with: switchboard keys create --name NAME --scopes messages:send,messages:read');
          return 0;
        }
        const rows = keys.map((k) => [
          k.id,
          k.name,
          `${k.prefix}…`,
          k.scopes.join(','),
          k.account ?? '-',
          new Date(k.createdAt).toISOString(),
          k.revokedAt === null ? 'active' : `revoked ${new Date(k.revokedAt).toISOString()}`,
        ]);
        const head = ['ID', 'NAME', 'PREFIX', 'SCOPES', 'ACCOUNT', 'CREATED', 'STATE'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const r of [head, ...rows]) ctx.io.out(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
        return 0;
      });
    },
  },

  'keys revoke': {
    help: `Usage: switchboard keys revoke <id|name>

Revokes a key at once: requests with it get 401 SB_AUTH_INVALID.`,
    async run(ctx) {
      const target = ctx.positionals[0];
      if (!target || ctx.positionals.length > 1) throw new UsageError('Name exactly one key: its id (key_…) or name.');
      return withStore(ctx.config(), async (store) => {
        const ok = await store.revokeApiKey(target, Date.now());
        if (!ok) {
          ctx.io.err(`No active key with id or name "${target}" (see \`switchboard keys list\`).`);
          return 1;
        }
        ctx.io.out(`Revoked ${target}.`);
        return 0;
      });
    },
  },

  sandbox: { help: SANDBOX_HELP, options: SANDBOX_OPTIONS, run: runSandbox },
  'sandbox reply': { help: SANDBOX_REPLY_HELP, options: SANDBOX_REPLY_OPTIONS, run: runSandboxReply },
  'sandbox phones': { help: SANDBOX_PHONES_HELP, options: SANDBOX_PHONES_OPTIONS, run: runSandboxPhones },
  'sandbox inbox': { help: SANDBOX_INBOX_HELP, options: SANDBOX_INBOX_OPTIONS, run: runSandboxInbox },
  'sandbox fault': { help: SANDBOX_FAULT_HELP, options: SANDBOX_FAULT_OPTIONS, run: runSandboxFault },

  migrate: {
    help: `Usage: switchboard migrate [--config FILE]

Applies pending database migrations (also done automatically by \`start\`).`,
    async run(ctx) {
      const config = ctx.config();
      const store = await openStore(config);
      try {
        const applied = await store.migrate();
        const all = await store.appliedMigrations();
        ctx.io.out(
          applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : `Database is up to date (${all.length} migration(s), ${store.capabilities.name}).`,
        );
        return 0;
      } finally {
        await store.close();
      }
    },
  },

  retention: { group: true, help: 'Usage: switchboard retention run [--dry-run] [--config FILE]', run: notRunnable },
  'retention run': {
    help: `Usage: switchboard retention run [--dry-run] [--config FILE]

Applies the programs' retention now (docs/guides/compliance.md): redacts message bodies older than
retention.bodyDays (hashing numbers when hashNumbers), purges raw webhook payloads older than rawWebhookDays.
The consent ledger is never touched. --dry-run prints the cut-offs without changing anything.`,
    options: { 'dry-run': { type: 'boolean' } },
    async run(ctx) {
      const config = ctx.config();
      return withStore(config, async (store) => {
        const consent = new ConsentService({ store, clock: { now: () => Date.now() }, programs: config.compliance.programs, accounts: config.accounts });
        const r = await runRetention({ store, clock: { now: () => Date.now() }, compliance: config.compliance, consent }, { dryRun: ctx.values['dry-run'] === true });
        if (r.plan.length === 0) ctx.io.out('No programs configured: nothing to redact (compliance.programs is empty).');
        for (const [i, p] of r.plan.entries()) {
          const c = r.programs[i]!;
          const body = p.bodyBefore === null ? 'bodies kept' : `bodies before ${new Date(p.bodyBefore).toISOString()}${p.hashNumbers ? ' (numbers hashed)' : ''}`;
          const raw = p.rawWebhookBefore === null ? 'raw webhooks kept' : `raw webhooks before ${new Date(p.rawWebhookBefore).toISOString()}`;
          ctx.io.out(
            r.dryRun
              ? `${p.program}: would redact ${body}; ${raw} (${p.senders} sender(s))`
              : `${p.program}: ${c.bodiesRedacted} bodies redacted, ${c.numbersHashed} numbers hashed, ${c.rawWebhooksPurged} raw webhooks purged`,
          );
        }
        return 0;
      });
    },
  },

  doctor: {
    help: `Usage: switchboard doctor [--config FILE]

Checks, in order: the configuration, the database (reachable, migrations, engine), every provider account
(credentials and reachability, via the adapter), and the public URL. Exit 1 if any check fails.`,
    async run(ctx) {
      return runDoctor(ctx.io, () => ctx.config(), { openStore, createAdapters, createProviderAgent });
    },
  },
};
