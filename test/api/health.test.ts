import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFastify } from '../../src/api/http.ts';
import { registerApi } from '../../src/api/index.ts';
import { loadConfig } from '../../src/config/load.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'sb-health-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function appWith(store: Store, expectedMigrations: string[]) {
  const app = createFastify({ logLevel: 'silent' });
  const config = loadConfig({ env: {}, file: null, cwd: dir, overrides: { logLevel: 'silent' } });
  await registerApi(app, { store, config, clock: systemClock, expectedMigrations });
  await app.ready();
  return app;
}

describe('/readyz', () => {
  it('503 SB_UNAVAILABLE when a migration this build expects is not applied', async () => {
    const store = createSqliteStore({ path: join(dir, 'a.db') });
    await store.migrate();
    const app = await appWith(store, [...(await store.appliedMigrations()), '9999_from_the_future']);
    const res = await app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({ code: 'SB_UNAVAILABLE', details: { missing: ['9999_from_the_future'] } });
    await app.close();
    await store.close();
  });

  it('503 SB_UNAVAILABLE before any migration, and when the database is gone', async () => {
    const store = createSqliteStore({ path: join(dir, 'b.db') });
    const app = await appWith(store, []);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
    await store.migrate();
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    await store.close();
    const res = await app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('SB_UNAVAILABLE');
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    await app.close();
  });
});
