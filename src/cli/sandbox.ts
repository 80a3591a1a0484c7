/** `switchboard sandbox` (the carrier alone) and `switchboard sandbox reply` (a handset texts a sandbox number). */
import type { ParseArgsConfig } from 'node:util';
import { createControlClient, SandboxControlError, type ReplyResponse } from '../sandbox/control-client.ts';
import { startSandboxServer } from '../sandbox/server.ts';
import { UsageError } from './io.ts';
import type { CommandContext } from './commands.ts';

export const SANDBOX_HELP = `Usage: switchboard sandbox [--port 4010] [--host 127.0.0.1] [--seed N] [--control-token T]

Runs the Twilio-compatible sandbox carrier alone (Switchboard also mounts it at /sandbox by default).
Point a Twilio client at it: base URL http://HOST:PORT, account ${'AC00000000000000000000000000000001'}.
Subcommand: switchboard sandbox reply --help`;

export const SANDBOX_OPTIONS: ParseArgsConfig['options'] = {
  port: { type: 'string' },
  host: { type: 'string' },
  seed: { type: 'string' },
  'control-token': { type: 'string' },
};

export const SANDBOX_REPLY_HELP = `Usage: switchboard sandbox reply --from HANDSET --to SANDBOX_NUMBER --body TEXT [--url URL] [--control-token T]

A virtual handset texts a sandbox number: the sandbox delivers it, signed, to that number's inbound webhook
(Switchboard's /webhooks/twilio/inbound for the built-in numbers) and prints what happened.
  --url   The sandbox base URL (default: the running Switchboard's {publicUrl}/sandbox; use
          http://127.0.0.1:4010 for \`switchboard sandbox\`)`;

export const SANDBOX_REPLY_OPTIONS: ParseArgsConfig['options'] = {
  from: { type: 'string' },
  to: { type: 'string' },
  body: { type: 'string' },
  url: { type: 'string' },
  'control-token': { type: 'string' },
};

function opt(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

export async function runSandbox(ctx: CommandContext): Promise<number> {
  const portText = opt(ctx, 'port') ?? '4010';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UsageError(`--port must be a port number; got "${portText}".`);
  const seedText = opt(ctx, 'seed');
  if (seedText !== undefined && !/^\d+$/.test(seedText)) throw new UsageError(`--seed must be a whole number; got "${seedText}".`);
  const token = opt(ctx, 'control-token');
  const server = await startSandboxServer({
    host: opt(ctx, 'host') ?? '127.0.0.1',
    port: Number(portText),
    ...(seedText !== undefined ? { seed: Number(seedText) } : {}),
    ...(token ? { controlToken: token } : {}),
  });
  ctx.io.out(`Sandbox carrier listening on ${server.url} (Twilio API at ${server.url}/2010-04-01, control API at ${server.url}/_sandbox)`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return 0;
}

export async function runSandboxReply(ctx: CommandContext): Promise<number> {
  const from = opt(ctx, 'from');
  const to = opt(ctx, 'to');
  const body = opt(ctx, 'body');
  if (!from) throw new UsageError('--from is required (the handset number, e.g. +14155550100).');
  if (!to) throw new UsageError('--to is required (a sandbox number, e.g. +15005550006).');
  if (body === undefined) throw new UsageError('--body is required.');
  const base = (opt(ctx, 'url') ?? `${ctx.config().publicUrl}/sandbox`).replace(/\/+$/, '');
  const token = opt(ctx, 'control-token');
  const client = createControlClient({ baseUrl: base, ...(token ? { token } : {}), timeoutMs: 15_000 });
  let r: ReplyResponse;
  try {
    r = await client.reply({ from, to, body });
  } catch (err) {
    if (err instanceof SandboxControlError) {
      ctx.io.err(`Sandbox refused the reply: HTTP ${err.status} ${err.code}: ${err.message}`);
      return 1;
    }
    const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    ctx.io.err(`Cannot reach the sandbox at ${base}: ${cause}. Is Switchboard (or \`switchboard sandbox\`) running? (--url)`);
    return 1;
  }
  ctx.io.out(`Inbound ${r.message.sid} from ${from} to ${to}`);
  if (r.webhook) ctx.io.out(`Webhook ${r.webhook.url} → ${r.webhook.status ?? r.webhook.error ?? 'no answer'}`);
  else ctx.io.out('No webhook configured for this number.');
  if (r.keyword) ctx.io.out(`Keyword: ${r.keyword.toUpperCase()}`);
  for (const reply of r.replies) ctx.io.out(`Reply to handset: ${reply.body}`);
  const ok = !r.webhook || (r.webhook.status !== null && r.webhook.status >= 200 && r.webhook.status < 300);
  return ok ? 0 : 1;
}
