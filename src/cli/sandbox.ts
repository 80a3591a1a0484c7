/** `switchboard sandbox` (the carrier alone) and `switchboard sandbox reply` (a handset texts a sandbox number). */
import type { ParseArgsConfig } from 'node:util';
import { createControlClient, SandboxControlError, type ReplyResponse, type SandboxControlClient } from '../sandbox/control-client.ts';
import type { FaultKind, FaultSpec } from '../sandbox/faults.ts';
import { DEFAULT_SANDBOX_LATENCY, DEFAULT_SANDBOX_MPS, SANDBOX_SENDER_TYPES, type SandboxLatency, type SandboxSenderType } from '../sandbox/engine.ts';
import { startSandboxServer } from '../sandbox/server.ts';
import { UsageError } from './io.ts';
import type { CommandContext } from './commands.ts';

export const SANDBOX_HELP = `Usage: switchboard sandbox [--port 4010] [--host 127.0.0.1] [--seed N] [--control-token T]
                          [--latency SENDING,SENT,DELIVERED] [--mps TYPE=N[,TYPE=N…]] [--config FILE]

Runs the Twilio-compatible sandbox carrier alone (Switchboard also mounts it at /sandbox by default).
Point a Twilio client at it: base URL http://HOST:PORT, account ${'AC00000000000000000000000000000001'}.
  --latency   Clock ms from leaving the sender queue to sending, sent and delivered (SWITCHBOARD_SANDBOX_LATENCY;
              default ${DEFAULT_SANDBOX_LATENCY.sendingMs},${DEFAULT_SANDBOX_LATENCY.sentMs},${DEFAULT_SANDBOX_LATENCY.deliveredMs}, else sandbox.latency of --config FILE). 0,0,0: sent then delivered at once
  --mps       Carrier segments per second per sender type (SWITCHBOARD_SANDBOX_MPS), e.g. short_code=100000,long_code=10
              Types: ${SANDBOX_SENDER_TYPES.join(', ')} (default ${SANDBOX_SENDER_TYPES.map((t) => `${t}=${DEFAULT_SANDBOX_MPS[t]}`).join(',')})
Flags win over the environment. A number's own mps (control API) wins over its type's.
Subcommands: switchboard sandbox reply | phones | inbox | fault (each with --help)`;

export const SANDBOX_OPTIONS: ParseArgsConfig['options'] = {
  port: { type: 'string' },
  host: { type: 'string' },
  seed: { type: 'string' },
  'control-token': { type: 'string' },
  latency: { type: 'string' },
  mps: { type: 'string' },
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

/** `SENDING,SENT,DELIVERED` in ms (three whole numbers, each ≥ 0), from `source` (a flag or env var name). */
export function parseLatency(text: string, source: string): SandboxLatency {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== 3 || !parts.every((p) => /^\d{1,9}$/.test(p))) {
    throw new UsageError(`${source} must be three whole numbers of milliseconds, SENDING,SENT,DELIVERED (e.g. 0,0,0 or 5,20,40); got "${text}".`);
  }
  const [sendingMs, sentMs, deliveredMs] = parts.map(Number) as [number, number, number];
  return { sendingMs, sentMs, deliveredMs };
}

/** `TYPE=N[,TYPE=N…]`: carrier segments per second per sender type (N > 0), from `source`. */
export function parseMps(text: string, source: string): Partial<Record<SandboxSenderType, number>> {
  const out: Partial<Record<SandboxSenderType, number>> = {};
  const items = text.split(',').map((p) => p.trim());
  for (const item of items) {
    const m = /^([a-z_]+)=(\d{1,9}(?:\.\d+)?)$/.exec(item);
    if (!m) throw new UsageError(`${source} must be TYPE=N[,TYPE=N…] (e.g. short_code=100000,long_code=10); got "${text}".`);
    const type = m[1] as SandboxSenderType;
    if (!SANDBOX_SENDER_TYPES.includes(type)) throw new UsageError(`${source}: unknown sender type "${m[1]}"; use ${SANDBOX_SENDER_TYPES.join(', ')}.`);
    const n = Number(m[2]);
    if (!(n > 0)) throw new UsageError(`${source}: ${type} must be more than 0 messages per second; got "${m[2]}".`);
    if (out[type] !== undefined) throw new UsageError(`${source}: ${type} is given twice.`);
    out[type] = n;
  }
  return out;
}

/**
 * The carrier's latencies and per-type MPS for \`switchboard sandbox\` (pure; exported for tests). Precedence:
 * flags > SWITCHBOARD_SANDBOX_LATENCY / SWITCHBOARD_SANDBOX_MPS > \`sandbox.latency\` of an explicit --config file >
 * the engine's defaults. MPS merge per type: a flag's type wins over the same type from the environment.
 */
export function sandboxTuningFromFlags(ctx: CommandContext): { latency?: SandboxLatency; mps?: Partial<Record<SandboxSenderType, number>> } {
  const latencyFlag = opt(ctx, 'latency');
  const latencyEnv = ctx.io.env.SWITCHBOARD_SANDBOX_LATENCY;
  let latency: SandboxLatency | undefined;
  if (latencyFlag !== undefined) latency = parseLatency(latencyFlag, '--latency');
  else if (latencyEnv !== undefined && latencyEnv !== '') latency = parseLatency(latencyEnv, 'SWITCHBOARD_SANDBOX_LATENCY');
  else if (opt(ctx, 'config') !== undefined) latency = { ...ctx.config().sandbox.latency };
  const mpsFlag = opt(ctx, 'mps');
  const mpsEnv = ctx.io.env.SWITCHBOARD_SANDBOX_MPS;
  const mps = {
    ...(mpsEnv !== undefined && mpsEnv !== '' ? parseMps(mpsEnv, 'SWITCHBOARD_SANDBOX_MPS') : {}),
    ...(mpsFlag !== undefined ? parseMps(mpsFlag, '--mps') : {}),
  };
  return { ...(latency ? { latency } : {}), ...(Object.keys(mps).length ? { mps } : {}) };
}

export async function runSandbox(ctx: CommandContext): Promise<number> {
  const portText = opt(ctx, 'port') ?? '4010';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UsageError(`--port must be a port number; got "${portText}".`);
  const seedText = opt(ctx, 'seed');
  if (seedText !== undefined && !/^\d+$/.test(seedText)) throw new UsageError(`--seed must be a whole number; got "${seedText}".`);
  const token = opt(ctx, 'control-token');
  const tuning = sandboxTuningFromFlags(ctx);
  const server = await startSandboxServer({
    host: opt(ctx, 'host') ?? '127.0.0.1',
    port: Number(portText),
    ...(seedText !== undefined ? { seed: Number(seedText) } : {}),
    ...(token ? { controlToken: token } : {}),
    ...tuning,
  });
  const L = server.sandbox.latency;
  const mps = SANDBOX_SENDER_TYPES.map((t) => `${t}=${server.sandbox.mps[t]}`).join(',');
  ctx.io.out(
    `Sandbox carrier listening on ${server.url} (Twilio API at ${server.url}/2010-04-01, control API at ${server.url}/_sandbox)\n` +
      `  latency ${L.sendingMs},${L.sentMs},${L.deliveredMs} ms (sending,sent,delivered); mps ${mps}`,
  );
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

// ---------------------------------------------------------------- phones, inbox, faults (the control API from the shell)

const CONTROL_OPTIONS: ParseArgsConfig['options'] = {
  url: { type: 'string' },
  'control-token': { type: 'string' },
};

const URL_HELP = `  --url   The sandbox base URL (default: the running Switchboard's {publicUrl}/sandbox; use
          http://127.0.0.1:4010 for \`switchboard sandbox\`)`;

export const SANDBOX_PHONES_HELP = `Usage: switchboard sandbox phones [--url URL] [--control-token T]

Lists the virtual handsets the sandbox knows (every number that received or sent a message), with message counts.
${URL_HELP}`;
export const SANDBOX_PHONES_OPTIONS = CONTROL_OPTIONS;

export const SANDBOX_INBOX_HELP = `Usage: switchboard sandbox inbox --number HANDSET [--url URL] [--control-token T]

Prints a virtual handset's messages, oldest first: what it received (<) and what it sent (>).
${URL_HELP}`;
export const SANDBOX_INBOX_OPTIONS: ParseArgsConfig['options'] = { ...CONTROL_OPTIONS, number: { type: 'string' } };

export const SANDBOX_FAULT_HELP = `Usage: switchboard sandbox fault add --kind KIND [options] | list | clear [--kind KIND] | remove ID

Injects carrier faults into a running sandbox, so retries, dedupe and reconciliation can be exercised for real.
Kinds and their options:
  status       --status HTTP --code TWILIO_CODE [--retry-after S]   create requests answered with an error (no message)
  slow         --delay-ms MS                                         create answered late (the message exists)
  timeout                                                            create never answered (the message exists)
  callback     --action drop|duplicate|delay|reorder [--delay-ms MS] status callbacks tampered with
  sender_down  --from SENDER [--code CODE]                           a sender's messages fail asynchronously
Every kind takes --count N (next N matching events; default until cleared) and --for-ms MS (a time limit).
${URL_HELP}`;
export const SANDBOX_FAULT_OPTIONS: ParseArgsConfig['options'] = {
  ...CONTROL_OPTIONS,
  kind: { type: 'string' },
  status: { type: 'string' },
  code: { type: 'string' },
  'retry-after': { type: 'string' },
  'delay-ms': { type: 'string' },
  action: { type: 'string' },
  from: { type: 'string' },
  count: { type: 'string' },
  'for-ms': { type: 'string' },
};

const FAULT_KINDS: readonly FaultKind[] = ['status', 'slow', 'timeout', 'callback', 'sender_down'];
const CALLBACK_ACTIONS = ['drop', 'duplicate', 'delay', 'reorder'] as const;

function controlClient(ctx: CommandContext): { client: SandboxControlClient; base: string } {
  const base = (opt(ctx, 'url') ?? `${ctx.config().publicUrl}/sandbox`).replace(/\/+$/, '');
  const token = opt(ctx, 'control-token');
  return { client: createControlClient({ baseUrl: base, ...(token ? { token } : {}), timeoutMs: 15_000 }), base };
}

/** Runs a control call and turns its failures into a message and exit code 1. */
async function withControl(ctx: CommandContext, fn: (client: SandboxControlClient) => Promise<void>): Promise<number> {
  const { client, base } = controlClient(ctx);
  try {
    await fn(client);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof SandboxControlError) {
      ctx.io.err(`Sandbox refused: HTTP ${err.status} ${err.code}: ${err.message}`);
      return 1;
    }
    const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    ctx.io.err(`Cannot reach the sandbox at ${base}: ${cause}. Is Switchboard (or \`switchboard sandbox\`) running? (--url)`);
    return 1;
  }
}

function wholeNumber(ctx: CommandContext, name: string): number | undefined {
  const v = opt(ctx, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number; got "${v}".`);
  return Number(v);
}

/** The fault spec described by the flags (pure; exported for tests). */
export function faultSpecFromFlags(ctx: CommandContext): FaultSpec {
  const kind = opt(ctx, 'kind');
  if (!kind || !FAULT_KINDS.includes(kind as FaultKind)) throw new UsageError(`--kind must be one of ${FAULT_KINDS.join(', ')}; got ${JSON.stringify(kind ?? null)}.`);
  const count = wholeNumber(ctx, 'count');
  const forMs = wholeNumber(ctx, 'for-ms');
  const limits = { ...(count !== undefined ? { count } : {}), ...(forMs !== undefined ? { forMs } : {}) };
  switch (kind as FaultKind) {
    case 'status': {
      const status = wholeNumber(ctx, 'status');
      const code = wholeNumber(ctx, 'code');
      if (status === undefined || status < 400 || status > 599) throw new UsageError('--status is required for kind status: an HTTP status from 400 to 599 (e.g. 429, 500).');
      if (code === undefined) throw new UsageError('--code is required for kind status: the Twilio error code to answer with (e.g. 20429, 20500).');
      const retryAfterS = wholeNumber(ctx, 'retry-after');
      return { kind: 'status', status, code, ...(retryAfterS !== undefined ? { retryAfterS } : {}), ...limits };
    }
    case 'slow': {
      const delayMs = wholeNumber(ctx, 'delay-ms');
      if (delayMs === undefined) throw new UsageError('--delay-ms is required for kind slow.');
      return { kind: 'slow', delayMs, ...limits };
    }
    case 'timeout':
      return { kind: 'timeout', ...limits };
    case 'callback': {
      const action = opt(ctx, 'action');
      if (!CALLBACK_ACTIONS.includes(action as (typeof CALLBACK_ACTIONS)[number])) throw new UsageError(`--action must be one of ${CALLBACK_ACTIONS.join(', ')} for kind callback.`);
      const delayMs = wholeNumber(ctx, 'delay-ms');
      return { kind: 'callback', action: action as (typeof CALLBACK_ACTIONS)[number], ...(delayMs !== undefined ? { delayMs } : {}), ...limits };
    }
    case 'sender_down': {
      const from = opt(ctx, 'from');
      if (!from) throw new UsageError('--from is required for kind sender_down (the sender to take down).');
      const errorCode = wholeNumber(ctx, 'code');
      return { kind: 'sender_down', from, ...(errorCode !== undefined ? { errorCode } : {}), ...limits };
    }
  }
}

export async function runSandboxPhones(ctx: CommandContext): Promise<number> {
  return withControl(ctx, async (client) => {
    const phones = await client.phones();
    if (phones.length === 0) ctx.io.out('No handset has sent or received a message yet.');
    for (const p of phones) ctx.io.out(`${p.number}\t${p.messages} message(s)\tlast ${new Date(p.last).toISOString()}`);
  });
}

export async function runSandboxInbox(ctx: CommandContext): Promise<number> {
  const number = opt(ctx, 'number');
  if (!number) throw new UsageError('--number is required (the handset, e.g. +14155550100).');
  return withControl(ctx, async (client) => {
    const messages = await client.inbox(number);
    if (messages.length === 0) ctx.io.out(`No messages for ${number}.`);
    for (const m of messages) {
      const arrow = m.direction === 'received' ? `< ${m.from}` : `> ${m.to}`;
      ctx.io.out(`${new Date(m.at).toISOString()} ${arrow} ${m.body}${m.mediaUrls.length ? ` [${m.mediaUrls.length} media]` : ''}`);
    }
  });
}

export async function runSandboxFault(ctx: CommandContext): Promise<number> {
  const [action, id] = ctx.positionals;
  switch (action) {
    case 'add': {
      const spec = faultSpecFromFlags(ctx);
      return withControl(ctx, async (client) => ctx.io.out(`Fault ${await client.addFault(spec)} added: ${JSON.stringify(spec)}`));
    }
    case 'list':
      return withControl(ctx, async (client) => {
        const faults = await client.faults();
        if (faults.length === 0) ctx.io.out('No active faults.');
        for (const f of faults) ctx.io.out(`${f.id}\t${JSON.stringify(f.spec)}\tremaining ${f.remaining ?? 'until cleared'}`);
      });
    case 'clear': {
      const kind = opt(ctx, 'kind');
      if (kind !== undefined && !FAULT_KINDS.includes(kind as FaultKind)) throw new UsageError(`--kind must be one of ${FAULT_KINDS.join(', ')}.`);
      return withControl(ctx, async (client) => {
        await client.clearFaults(kind as FaultKind | undefined);
        ctx.io.out(kind ? `Cleared ${kind} faults.` : 'Cleared all faults.');
      });
    }
    case 'remove':
      if (!id) throw new UsageError('remove needs the fault id (see `switchboard sandbox fault list`).');
      return withControl(ctx, async (client) => {
        await client.removeFault(id);
        ctx.io.out(`Removed fault ${id}.`);
      });
    default:
      throw new UsageError(`Unknown fault action ${JSON.stringify(action ?? '')}: use add, list, clear or remove.`);
  }
}
