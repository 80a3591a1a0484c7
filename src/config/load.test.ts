import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseSenders } from './load.ts';
import { defaultConfig } from './schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'sb-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('runs with nothing set: SQLite, sandbox mounted, port 3000, publicUrl following the listen address', () => {
    const c = loadConfig({ env: {}, cwd: dir, file: null });
    expect(c.databaseUrl).toBe('sqlite:./data/switchboard.db');
    expect(c.server).toEqual({ host: '127.0.0.1', port: 3000 });
    expect(c.publicUrl).toBe('http://127.0.0.1:3000');
    expect(c.sandbox.enabled).toBe(true);
    expect(c.accounts.map((a) => [a.name, a.baseUrl])).toEqual([['sandbox', 'http://127.0.0.1:3000/sandbox']]);
    expect(Object.isFrozen(c) && Object.isFrozen(c.server)).toBe(true);
  });

  it('precedence: overrides > env > file > defaults', () => {
    const file = join(dir, 'switchboard.config.yaml');
    writeFileSync(file, 'server:\n  port: 4000\nlogLevel: debug\ndefaultCountry: GB\n');
    const c = loadConfig({ env: { SWITCHBOARD_LOG_LEVEL: 'warn', SWITCHBOARD_PORT: '5000' }, cwd: dir, overrides: { server: { port: 6000 } } });
    expect(c.server.port).toBe(6000);
    expect(c.logLevel).toBe('warn');
    expect(c.defaultCountry).toBe('GB');
    expect(c.publicUrl).toBe('http://127.0.0.1:6000');
    rmSync(file);
  });

  it('an explicit publicUrl is kept (trailing slash removed)', () => {
    const c = loadConfig({ env: { SWITCHBOARD_PUBLIC_URL: 'https://sms.example.com/' }, cwd: dir, file: null });
    expect(c.publicUrl).toBe('https://sms.example.com');
  });

  it('SWITCHBOARD_TWILIO_* builds one production account and routes to it', () => {
    const c = loadConfig({
      env: {
        SWITCHBOARD_TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
        SWITCHBOARD_TWILIO_AUTH_TOKEN: 'token',
        SWITCHBOARD_TWILIO_SENDERS: '+14155550100:long_code:1,55501:short_code',
        SWITCHBOARD_SANDBOX: 'false',
      },
      cwd: dir,
      file: null,
    });
    expect(c.accounts).toHaveLength(1);
    expect(c.accounts[0]).toMatchObject({ name: 'twilio', baseUrl: 'https://api.twilio.com', apiKeySid: null });
    expect(c.accounts[0]!.senders).toEqual([
      { from: '+14155550100', type: 'long_code', mps: 1 },
      { from: '55501', type: 'short_code', mps: 100 },
    ]);
    expect(c.routing.defaultAccount).toBe('twilio');
    expect(c.sandbox.enabled).toBe(false);
  });

  it('reports every problem at once, each saying how to fix it', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: { SWITCHBOARD_PORT: 'http', SWITCHBOARD_DATABASE_URL: 'mysql://db', SWITCHBOARD_SANDBOX: 'maybe', SWITCHBOARD_DEFAULT_COUNTRY: 'usa' },
        cwd: dir,
        file: null,
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'SWITCHBOARD_PORT=http: expected a whole number.',
        'SWITCHBOARD_SANDBOX=maybe: expected true or false.',
        expect.stringContaining('databaseUrl must be "sqlite:<path>" or "postgres://user@host:port/db" (SWITCHBOARD_DATABASE_URL)'),
        expect.stringContaining('defaultCountry must be an ISO 3166 alpha-2 code'),
      ]),
    );
  });

  it('rejects unknown routing targets and a bad account SID', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: {}, cwd: dir, file: null, overrides: { routing: { defaultAccount: 'nope', byKey: { billing: 'ghost' } }, accounts: [{ ...defaultConfig().accounts[0]!, accountSid: 'AC123' }] } }),
    );
    expect(problems.join('\n')).toContain('routing.defaultAccount "nope" is not one of the accounts (sandbox)');
    expect(problems.join('\n')).toContain('routing.byKey.billing names unknown account "ghost"');
    expect(problems.join('\n')).toContain('accountSid must look like AC followed by 32 hex digits');
  });

  it('a missing or unparsable config file is an error naming it', () => {
    expect(problemsOf(() => loadConfig({ env: {}, cwd: dir, file: join(dir, 'nope.json') }))[0]).toContain('does not exist');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "server": ');
    expect(problemsOf(() => loadConfig({ env: {}, cwd: dir, file: bad }))[0]).toContain('cannot parse');
  });

  it('parseSenders reports an unknown sender type', () => {
    const problems: string[] = [];
    expect(parseSenders('X', '+1415:pager', problems)).toEqual([]);
    expect(problems[0]).toContain('has type "pager"');
  });
});

describe('docs/reference/configuration.md', () => {
  it('documents every configuration key', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/reference/configuration.md', import.meta.url)), 'utf8');
    const keys: string[] = [];
    const walk = (v: unknown, path: string) => {
      if (Array.isArray(v)) {
        keys.push(`${path}[]`);
        if (v.length && typeof v[0] === 'object') walk(v[0], `${path}[]`);
      } else if (v && typeof v === 'object' && Object.keys(v).length > 0 && path !== 'routing.byKey') {
        for (const [k, child] of Object.entries(v)) walk(child, path ? `${path}.${k}` : k);
      } else if (path) keys.push(path);
    };
    walk(defaultConfig(), '');
    const missing = keys.filter((k) => !doc.includes(`| \`${k}\` |`));
    expect(missing).toEqual([]);
  });
});
