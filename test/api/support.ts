/** A real API over a temp SQLite file, driven with Fastify inject(): no sockets. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createFastify } from '../../src/api/http.ts';
import { registerApi } from '../../src/api/index.ts';
import { createApiKey } from '../../src/api/keys.ts';
import type { Scope } from '../../src/api/scopes.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';

export interface Harness {
  app: FastifyInstance;
  store: Store;
  config: Readonly<Config>;
  clock: ManualClock;
  /** Routes as registered (method + url), collected with an onRoute hook. */
  routes: { method: string; url: string; hide: boolean }[];
  accepted: number[];
  /** Create a key and return its token. */
  key(name: string, scopes: Scope[]): Promise<string>;
  /** Tokens: sender (send+read), reader (read only), admin. */
  tokens: { sender: string; reader: string; admin: string };
  req(opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function apiHarness(): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-api-'));
  const store = createSqliteStore({ path: join(dir, 'switchboard.db') });
  await store.migrate();
  const config = loadConfig({ env: {}, cwd: dir, file: null, overrides: { logLevel: 'silent', devKeyOnFirstStart: false } });
  const clock = new ManualClock(Date.UTC(2026, 4, 1, 12, 0, 0));
  const app = createFastify({ logLevel: 'silent' });
  const routes: Harness['routes'] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const method of methods) routes.push({ method, url: r.url, hide: Boolean((r.schema as { hide?: boolean } | undefined)?.hide) });
  });
  const accepted: number[] = [];
  await registerApi(app, { store, config, clock, expectedMigrations: await store.appliedMigrations(), onAccepted: (ms) => accepted.push(ms.length) });
  await app.ready();
  const key = async (name: string, scopes: Scope[]) => (await createApiKey(store, { name, scopes, now: clock.now() })).token;
  const tokens = {
    sender: await key('sender', ['messages:send', 'messages:read']),
    reader: await key('reader', ['messages:read']),
    admin: await key('admin', ['admin']),
  };
  return {
    app,
    store,
    config,
    clock,
    routes,
    accepted,
    key,
    tokens,
    req({ token, headers, ...opts }) {
      const h: Record<string, string> = { ...(headers as Record<string, string> | undefined) };
      const t = token === undefined ? tokens.sender : token;
      if (t !== null) h.authorization = `Bearer ${t}`;
      return app.inject({ ...opts, headers: h });
    },
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function errorOf(res: LightMyRequestResponse): { code: string; message: string; field?: string; details?: Record<string, unknown> } {
  const body = res.json() as { error?: { code: string; message: string; field?: string } };
  if (!body.error) throw new Error(`expected an error body, got ${res.statusCode} ${res.body}`);
  return body.error;
}
