/**
 * The same composition on PostgreSQL (databaseUrl `postgres://…?schema=`): accepted → delivered through the sandbox,
 * idempotent replay, /readyz. Each run uses its own schema, dropped afterwards.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { waitFor } from './support.ts';

const PG = process.env.SWITCHBOARD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sb_app_${process.pid}_${Date.now().toString(36)}`;
let built: App;
let url: string;
let token: string;

beforeAll(async () => {
  const config = loadConfig({
    env: {},
    file: null,
    overrides: {
      server: { port: 0 },
      databaseUrl: `${PG}?schema=${schema}`,
      logLevel: 'silent',
      sandbox: { latency: { sendingMs: 5, sentMs: 10, deliveredMs: 20 } },
    },
  });
  built = await buildApp(config, { handleSignals: false });
  url = await built.start();
  token = built.devKey!.token;
});

afterAll(async () => {
  await built?.close();
  const client = new pg.Client({ connectionString: PG });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

describe('Switchboard on PostgreSQL', () => {
  it('delivers, replays idempotently and is ready', async () => {
    expect(built.store.capabilities.name).toBe('postgres');
    const post = () =>
      fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'pg-1' },
        body: JSON.stringify({ to: '+14155550100', body: 'on postgres' }),
      });
    const [a, b] = await Promise.all([post(), post()]);
    expect([a.status, b.status].sort()).toEqual([200, 202]);
    const id = ((await a.json()) as { id: string }).id;
    expect(((await b.json()) as { id: string }).id).toBe(id);
    await waitFor('delivered on postgres', async () => {
      const r = await fetch(`${url}/v1/messages/${id}`, { headers: { authorization: `Bearer ${token}` } });
      const m = (await r.json()) as { status: string };
      return m.status === 'delivered' ? m : undefined;
    });
    const ready = await fetch(`${url}/readyz`);
    expect(await ready.json()).toMatchObject({ status: 'ready', store: 'postgres' });
  });
});
