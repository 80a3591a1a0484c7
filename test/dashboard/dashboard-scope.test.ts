/**
 * The `dashboard` scope end to end: `switchboard keys create --scopes dashboard` (the CLI, on a real SQLite file)
 * → that key logs in to the dashboard of an app on the same database and opens the Contacts page; it grants no /v1
 * route. A key without it cannot log in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasScope, parseScopes, SCOPES } from '../../src/api/scopes.ts';
import { buildApp, type App } from '../../src/app.ts';
import { main } from '../../src/cli/main.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { loadConfig } from '../../src/config/load.ts';
import { tempDir } from '../e2e/support.ts';

const tmp = tempDir('sb-dash-scope-');
const dbUrl = () => `sqlite:${tmp.dir}/switchboard.db`;
let built: App;
let url: string;

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = { out: '', err: '' };
  const io: CliIo = { env: { SWITCHBOARD_DATABASE_URL: dbUrl() }, cwd: tmp.dir, out: (t) => void (o.out += `${t}\n`), err: (t) => void (o.err += `${t}\n`) };
  const code = await main(argv, io);
  return { code, ...o };
}

async function createKey(name: string, scopes: string): Promise<string> {
  const r = await cli(['keys', 'create', '--name', name, '--scopes', scopes]);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  expect(r.out).toContain(`scopes=${scopes}`);
  return /^\s+(sb_\S+)$/m.exec(r.out)![1]!;
}

/** The login form's CSRF cookie and token, then POST the key; returns the response. */
async function login(token: string): Promise<Response> {
  const form = await fetch(`${url}/dashboard/login`);
  const cookie = form.headers.get('set-cookie')!.split(';')[0]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  return fetch(`${url}/dashboard/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, key: token, next: '/dashboard/contacts' }).toString(),
  });
}

beforeAll(async () => {
  expect((await cli(['migrate'])).code).toBe(0);
  const config = loadConfig({ env: {}, cwd: tmp.dir, file: null, overrides: { server: { port: 0 }, databaseUrl: dbUrl(), logLevel: 'silent', devKeyOnFirstStart: false } });
  built = await buildApp(config, { handleSignals: false });
  url = await built.start();
});

afterAll(async () => {
  await built?.close();
  tmp.cleanup();
});

describe('dashboard scope', () => {
  it('is a known scope that only admin also satisfies', () => {
    expect(SCOPES).toContain('dashboard');
    expect(parseScopes('dashboard, messages:read')).toEqual({ scopes: ['dashboard', 'messages:read'], unknown: [] });
    expect(hasScope(['dashboard'], 'dashboard')).toBe(true);
    expect(hasScope(['admin'], 'dashboard')).toBe(true);
    expect(hasScope(['dashboard'], 'messages:read')).toBe(false);
  });

  it('`switchboard keys create --scopes dashboard` makes a key that logs in to the dashboard and nothing else', async () => {
    const token = await createKey('ops-desk', 'dashboard');
    const res = await login(token);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/dashboard/contacts');
    const session = res.headers.getSetCookie().find((c) => c.startsWith('sb_session='))!.split(';')[0]!;
    const page = await fetch(`${url}/dashboard/contacts`, { headers: { cookie: session }, redirect: 'manual' });
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toContain('<h1>Contacts</h1>');
    expect(body).toContain('<span class="who">ops-desk</span>');
    // The scope grants no API route.
    const api = await fetch(`${url}/v1/messages`, { headers: { authorization: `Bearer ${token}` } });
    expect(api.status).toBe(403);
  });

  it('a key without the dashboard scope cannot log in', async () => {
    const token = await createKey('billing', 'messages:send');
    const res = await login(token);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('lacks the dashboard scope');
  });
});
