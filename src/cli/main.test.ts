import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './main.ts';
import { sandboxTuningFromFlags } from './sandbox.ts';
import { loadConfig } from '../config/load.ts';
import type { CliIo } from './io.ts';
import { checkPostgres, createTestSchema, describeTestDatabase } from '../store/postgres/test-db.ts';

const dir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A port nothing listens on: bind an ephemeral one, then release it. */
let closedPort = 0;
beforeAll(async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closedPort = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
});

function io(env: NodeJS.ProcessEnv = {}): CliIo & { stdout: string; stderr: string } {
  const o = {
    stdout: '',
    stderr: '',
    env: { SWITCHBOARD_DATABASE_URL: `sqlite:${join(dir, 'cli.db')}`, ...env },
    cwd: dir,
    out: (t: string) => void (o.stdout += `${t}\n`),
    err: (t: string) => void (o.stderr += `${t}\n`),
  };
  return o;
}

async function run(argv: string[], env?: NodeJS.ProcessEnv) {
  const c = io(env);
  const code = await main(argv, c);
  return { code, out: c.stdout, err: c.stderr };
}

describe('switchboard CLI', () => {
  it('unknown command or no command → usage, exit 2', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('Unknown command "frobnicate"');
    expect(r.err).toContain('Usage: switchboard <command>');
    expect((await run([])).code).toBe(2);
    expect((await run(['keys', 'explode'])).code).toBe(2);
  });

  it.each([['start'], ['send'], ['keys', 'create'], ['keys', 'list'], ['keys', 'revoke'], ['sandbox'], ['sandbox', 'reply'], ['migrate'], ['doctor']])(
    '%s %s --help prints its usage, exit 0',
    async (...cmd) => {
      const words = cmd.filter((w): w is string => typeof w === 'string');
      const r = await run([...words, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: switchboard ${words.join(' ')}`);
    },
  );

  it('an unknown flag is a usage error (exit 2)', async () => {
    const r = await run(['migrate', '--frobs']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("Unknown option '--frobs'");
  });

  it('migrate applies migrations once', async () => {
    const first = await run(['migrate']);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/Applied \d+ migration/);
    const again = await run(['migrate']);
    expect(again.out).toMatch(/up to date/);
  });

  it('keys create | list | revoke work on the store', async () => {
    const created = await run(['keys', 'create', '--name', 'billing', '--scopes', 'messages:send,messages:read']);
    expect(created.code, created.err).toBe(0);
    const token = /(sb_live_[A-Za-z0-9_-]{43})/.exec(created.out)?.[1];
    expect(token).toBeDefined();

    const dup = await run(['keys', 'create', '--name', 'billing', '--scopes', 'admin']);
    expect(dup.code).toBe(1);

    const list = await run(['keys', 'list']);
    expect(list.code).toBe(0);
    expect(list.out).toContain('billing');
    expect(list.out).toContain(`${token!.slice(0, 14)}…`);
    expect(list.out).not.toContain(token!);
    const json = JSON.parse((await run(['keys', 'list', '--json'])).out) as { name: string; scopes: string[]; hash?: string }[];
    expect(json.find((k) => k.name === 'billing')).toMatchObject({ scopes: ['messages:send', 'messages:read'] });
    expect(json[0]).not.toHaveProperty('hash');

    expect((await run(['keys', 'revoke', 'billing'])).code).toBe(0);
    expect((await run(['keys', 'list'])).out).toMatch(/billing.*revoked/);
    const again = await run(['keys', 'revoke', 'billing']);
    expect(again.code).toBe(1);
    expect(again.err).toContain('No active key');
  });

  it('keys create --json prints one JSON object with the token; the key then works', async () => {
    const before = Date.now();
    const r = await run(['keys', 'create', '--name', 'bench-json', '--scopes', 'messages:send,subscriptions:manage', '--json']);
    expect(r.code, r.err).toBe(0);
    const k = JSON.parse(r.out) as Record<string, unknown>;
    expect(Object.keys(k).sort()).toEqual(['account', 'createdAt', 'id', 'name', 'prefix', 'scopes', 'token']);
    expect(k).toMatchObject({ name: 'bench-json', scopes: ['messages:send', 'subscriptions:manage'], account: null });
    expect(k.id).toMatch(/^key_/);
    expect(k.token).toMatch(/^sb_live_[A-Za-z0-9_-]{43}$/);
    expect((k.token as string).startsWith(k.prefix as string)).toBe(true);
    expect(k.createdAt as number).toBeGreaterThanOrEqual(before);
    expect(k.createdAt as number).toBeLessThanOrEqual(Date.now());
    expect(r.out).not.toContain('Store it now');
    const listed = JSON.parse((await run(['keys', 'list', '--json'])).out) as { id: string; prefix: string; createdAt: number }[];
    expect(listed.find((x) => x.id === k.id)).toMatchObject({ prefix: k.prefix, createdAt: k.createdAt });
    const dev = JSON.parse((await run(['keys', 'create', '--name', 'bench-json-dev', '--scopes', 'admin', '--dev', '--json'])).out) as { token: string };
    expect(dev.token).toMatch(/^sb_dev_/);
    const dup = await run(['keys', 'create', '--name', 'bench-json', '--scopes', 'admin', '--json']);
    expect(dup.code).toBe(1);
    expect(dup.out).toBe('');
  });

  it('keys create rejects unknown scopes, missing flags and unknown accounts (exit 2)', async () => {
    const bad = await run(['keys', 'create', '--name', 'x', '--scopes', 'messages:send,root']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('Unknown scope(s): root');
    expect((await run(['keys', 'create', '--scopes', 'admin'])).code).toBe(2);
    const acct = await run(['keys', 'create', '--name', 'y', '--scopes', 'admin', '--account', 'nope']);
    expect(acct.code).toBe(2);
    expect(acct.err).toContain('not a configured account');
  });

  it('an invalid configuration is reported with how to fix it (exit 1)', async () => {
    const r = await run(['migrate'], { SWITCHBOARD_PORT: 'eighty', SWITCHBOARD_DATABASE_URL: 'mysql://x' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('SWITCHBOARD_PORT=eighty: expected a whole number.');
    expect(r.err).toContain('databaseUrl must be "sqlite:<path>" or "postgres://');
  });

  it('send without a key is a usage error; with an unreachable server it fails (exit 1)', async () => {
    expect((await run(['send', '--to', '+14155550100', '--body', 'x'])).code).toBe(2);
    const r = await run(['send', '--to', '+14155550100', '--body', 'x', '--key', 'sb_live_x', '--url', `http://127.0.0.1:${closedPort}`]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`Cannot reach Switchboard at http://127.0.0.1:${closedPort}`);
  });

  it('doctor: config and database ok; the in-process sandbox is only a warning when not running', async () => {
    const r = await run(['doctor'], { SWITCHBOARD_PORT: String(closedPort) });
    expect(r.out).toMatch(/^ok\s+config: valid/m);
    expect(r.out).toMatch(/^ok\s+database: sqlite reachable/m);
    expect(r.out).toMatch(/^warn\s+account sandbox: .*ECONNREFUSED/m);
    expect(r.code, r.out).toBe(0);
  });

  it('doctor reports the store in use: engine, capabilities, migrations', async () => {
    await run(['migrate']);
    const r = await run(['doctor'], { SWITCHBOARD_PORT: String(closedPort) });
    expect(r.out).toMatch(/^ok\s+store: engine sqlite; single instance/m);
    expect(r.out).toMatch(/^ok\s+migrations: \d+ applied \(latest 00\d\d_\w+\)/m);
  });

  describe('on PostgreSQL', async () => {
    const reach = await checkPostgres();
    if (!reach.ok && process.env.CI) {
      it(`PostgreSQL at ${describeTestDatabase()} is reachable`, () => {
        throw new Error(`PostgreSQL at ${describeTestDatabase()} is unreachable (${reach.reason}); CI requires it.`);
      });
    }
    it.skipIf(!reach.ok)('migrate then doctor on a postgres:// URL with schema and pool settings', async () => {
      const t = await createTestSchema();
      try {
        const env = { SWITCHBOARD_DATABASE_URL: `${t.connectionString}?schema=${t.schema}&pool_max=2`, SWITCHBOARD_PORT: String(closedPort) };
        const first = await run(['migrate'], env);
        expect(first.code, first.err).toBe(0);
        expect(first.out).toMatch(/Applied \d+ migration/);
        expect((await run(['migrate'], env)).out).toMatch(/up to date/);
        const d = await run(['doctor'], env);
        expect(d.out).toMatch(/^ok\s+database: postgres reachable/m);
        expect(d.out).toMatch(/^ok\s+store: engine postgres; multi-instance/m);
        expect(d.out).toMatch(/^ok\s+migrations: \d+ applied \(latest 00\d\d_\w+\)/m);
        expect(d.code, d.out).toBe(0);
      } finally {
        await t.drop();
      }
    });
  });

  it('doctor: an unreachable database fails (exit 1)', async () => {
    const r = await run(['doctor'], { SWITCHBOARD_DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort}/test`, SWITCHBOARD_PORT: String(closedPort) });
    expect(r.out).toMatch(/^FAIL\s+database: /m);
    expect(r.code).toBe(1);
  });

  it('start on a port in use fails clearly (exit 1) and keeps the first-start dev key for the next start', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    try {
      const env = { SWITCHBOARD_DATABASE_URL: `sqlite:${join(dir, 'busy.db')}`, SWITCHBOARD_LOG_LEVEL: 'silent' };
      const r = await run(['start', '--port', String(port)], env);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`Port ${port} on 127.0.0.1 is in use`);
      expect(r.out).not.toContain('sb_dev_');
      expect((await run(['keys', 'list'], env)).out).toContain('No API keys');
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });

  describe('sandbox --latency / --mps (and SWITCHBOARD_SANDBOX_LATENCY / _MPS)', () => {
    const ctx = (values: Record<string, string>, env: NodeJS.ProcessEnv = {}, config?: () => never) =>
      ({ io: io(env), values, positionals: [], config: config ?? (() => { throw new Error('config not expected'); }) }) as unknown as Parameters<typeof sandboxTuningFromFlags>[0];

    it('parses three latencies and per-type MPS; nothing given → engine defaults', () => {
      expect(sandboxTuningFromFlags(ctx({ latency: '0,0,0' }))).toEqual({ latency: { sendingMs: 0, sentMs: 0, deliveredMs: 0 } });
      expect(sandboxTuningFromFlags(ctx({ latency: '5,20,40', mps: 'short_code=100000,long_code=10' }))).toEqual({
        latency: { sendingMs: 5, sentMs: 20, deliveredMs: 40 },
        mps: { short_code: 100000, long_code: 10 },
      });
      expect(sandboxTuningFromFlags(ctx({ mps: 'toll_free=2.5' }))).toEqual({ mps: { toll_free: 2.5 } });
      expect(sandboxTuningFromFlags(ctx({}))).toEqual({});
    });

    it('reads the environment; flags win (latency whole, MPS per type)', () => {
      const env = { SWITCHBOARD_SANDBOX_LATENCY: '1,2,3', SWITCHBOARD_SANDBOX_MPS: 'short_code=500,whatsapp=7' };
      expect(sandboxTuningFromFlags(ctx({}, env))).toEqual({ latency: { sendingMs: 1, sentMs: 2, deliveredMs: 3 }, mps: { short_code: 500, whatsapp: 7 } });
      expect(sandboxTuningFromFlags(ctx({ latency: '0,10,20', mps: 'short_code=9' }, env))).toEqual({
        latency: { sendingMs: 0, sentMs: 10, deliveredMs: 20 },
        mps: { short_code: 9, whatsapp: 7 },
      });
    });

    it('takes sandbox.latency from an explicit --config file when neither flag nor env sets it', () => {
      const file = join(dir, 'sandbox-latency.config.json');
      writeFileSync(file, JSON.stringify({ sandbox: { latency: { sendingMs: 3, sentMs: 4, deliveredMs: 5 } } }));
      const c = io();
      const r = sandboxTuningFromFlags({ io: c, values: { config: file }, positionals: [], config: () => loadConfig({ env: c.env, cwd: dir, file }) });
      expect(r).toEqual({ latency: { sendingMs: 3, sentMs: 4, deliveredMs: 5 } });
      const flagged = sandboxTuningFromFlags({ io: c, values: { config: file, latency: '0,0,0' }, positionals: [], config: () => loadConfig({ env: c.env, cwd: dir, file }) });
      expect(flagged.latency).toEqual({ sendingMs: 0, sentMs: 0, deliveredMs: 0 });
    });

    it.each([
      [['--latency', '1,2'], 'three whole numbers of milliseconds'],
      [['--latency', '1,2,3,4'], 'three whole numbers of milliseconds'],
      [['--latency=-1,2,3'], 'three whole numbers of milliseconds'],
      [['--latency', '1.5,2,3'], 'three whole numbers of milliseconds'],
      [['--latency', 'fast'], 'three whole numbers of milliseconds'],
      [['--mps', 'short_code'], 'TYPE=N'],
      [['--mps=short_code=-3'], 'TYPE=N'],
      [['--mps', 'short_code=0'], 'must be more than 0'],
      [['--mps', 'pager=5'], 'unknown sender type "pager"; use long_code, toll_free, short_code, alphanumeric, whatsapp'],
      [['--mps', 'long_code=1,long_code=2'], 'long_code is given twice'],
    ])('sandbox %j is a usage error (exit 2) before anything starts', async (flags, message) => {
      const r = await run(['sandbox', '--port', '0', ...flags]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(message);
      expect(r.err).toContain('Usage: switchboard sandbox');
      expect(r.out).toBe('');
    });

    it('a bad SWITCHBOARD_SANDBOX_LATENCY / _MPS names the variable (exit 2)', async () => {
      const lat = await run(['sandbox', '--port', '0'], { SWITCHBOARD_SANDBOX_LATENCY: '10,20' });
      expect(lat.code).toBe(2);
      expect(lat.err).toContain('SWITCHBOARD_SANDBOX_LATENCY must be three whole numbers');
      const mps = await run(['sandbox', '--port', '0'], { SWITCHBOARD_SANDBOX_MPS: 'short_code=lots' });
      expect(mps.code).toBe(2);
      expect(mps.err).toContain('SWITCHBOARD_SANDBOX_MPS must be TYPE=N');
    });

    it('the help lists the flags, the variables and the sender types', async () => {
      const r = await run(['sandbox', '--help']);
      for (const s of ['--latency SENDING,SENT,DELIVERED', '--mps TYPE=N', 'SWITCHBOARD_SANDBOX_LATENCY', 'SWITCHBOARD_SANDBOX_MPS', 'short_code=100', 'whatsapp']) expect(r.out).toContain(s);
    });
  });
});
