/**
 * The `switchboard` command. `bin/switchboard.js` calls `main(process.argv.slice(2))`.
 * Exit codes: 0 ok, 1 the operation failed, 2 usage error (unknown command or flag, missing argument).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { processIo, UsageError, type CliIo } from './io.ts';
import { COMMANDS, type Command } from './commands.ts';

export const USAGE = `switchboard — self-hosted messaging layer with a Twilio-compatible sandbox

Usage: switchboard <command> [options]

Commands:
  start                         Run the server (API, webhooks, dispatcher, sandbox when enabled)
  send --to N --body TEXT       Send a message through a running server
  keys create --name N --scopes S   Create an API key (printed once; --json for scripts)
  keys list                     List API keys
  keys revoke <id|name>         Revoke an API key
  sandbox [--port 4010]         Run the sandbox carrier alone (--latency S,S,D, --mps TYPE=N)
  sandbox reply --from --to --body   Inject an inbound message from a handset
  sandbox phones | inbox --number N  Read the virtual handsets and their messages
  sandbox fault add|list|clear|remove  Inject carrier faults (429/5xx, slow, timeouts, callbacks, sender down)
  migrate                       Apply database migrations
  retention run [--dry-run]     Apply the programs' retention now (redaction, raw webhook purge)
  doctor                        Check config, database, provider accounts and public URL

Every command takes --config <file> and --help.
Configuration precedence: flags > SWITCHBOARD_* env > switchboard.config.{json,yaml} > defaults
(docs/reference/configuration.md).`;

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [first, second] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io[first === undefined ? 'err' : 'out'](USAGE);
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v') {
    io.out('switchboard 0.1.0');
    return 0;
  }
  // Two-word commands first ("keys create", "sandbox reply"), then one-word ones.
  let command: Command | undefined;
  let rest: string[];
  if (second !== undefined && COMMANDS[`${first} ${second}`]) {
    command = COMMANDS[`${first} ${second}`];
    rest = argv.slice(2);
  } else {
    command = COMMANDS[first];
    rest = argv.slice(1);
  }
  if (!command || command.group) {
    if (command?.group) {
      io.err(command.help);
      return rest.includes('--help') || rest.includes('-h') ? 0 : 2;
    }
    io.err(`Unknown command "${argv.join(' ')}".\n\n${USAGE}`);
    return 2;
  }

  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' }, config: { type: 'string' }, ...command.options };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${command.help}`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(command.help);
    return 0;
  }
  const ctx = {
    io,
    values: parsed.values,
    positionals: parsed.positionals,
    config(overrides: Record<string, unknown> = {}): Readonly<Config> {
      return loadConfig({ env: io.env, cwd: io.cwd, file: (parsed.values.config as string | undefined) ?? null, overrides });
    },
  };
  try {
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\n${command.help}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.err(err.message);
      return 1;
    }
    io.err(`switchboard: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
