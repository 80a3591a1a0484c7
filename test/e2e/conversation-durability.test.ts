/**
 * Issue 4 "nothing lost" for conversations: an outbound message is filed in its thread (owner = the sending app)
 * in the transaction that stores it, so neither a shutdown right after the 2xx nor a crash (SIGKILL) right after
 * it loses the thread update. Both engines: a SQLite file and a PostgreSQL schema of its own.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/app.ts';
import { TEST_DATABASE_URL } from '../../src/store/postgres/test-db.ts';
import { startTestApp, tempDir } from './support.ts';

const CHILD = fileURLToPath(new URL('./thread-crash-child.ts', import.meta.url));
const tmp = tempDir('sb-threads-');
const schemas: string[] = [];
let n = 0;

afterAll(async () => {
  tmp.cleanup();
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
});

const engines: [string, () => string][] = [
  ['sqlite', () => `sqlite:${tmp.dir}/threads-${++n}.db`],
  [
    'postgres',
    () => {
      const s = `sb_threads_${process.pid}_${Date.now().toString(36)}_${++n}`;
      schemas.push(s);
      return `${TEST_DATABASE_URL}?schema=${s}`;
    },
  ],
];

/** 50 distinct contacts per test (+14155550100 … 149, then 150 … 199: the fictional 555-01XX range). */
const contacts = (tag: 0 | 1) => Array.from({ length: 50 }, (_, i) => `+141555501${String(tag * 50 + i).padStart(2, '0')}`);

/** Every contact has a thread from the default sender owned by the `dev` app (the key that sent). */
async function expectThreads(databaseUrl: string, to: string[]): Promise<void> {
  const store = await openStore({ databaseUrl });
  try {
    const all = await store.listConversations({ limit: 1_000, app: 'dev' });
    expect(all.items.map((c) => c.contact).sort()).toEqual([...to].sort());
    for (const c of all.items) expect(c).toMatchObject({ ownerApp: 'dev', lastDirection: 'out', senderKey: 'sandbox:+15005550006' });
  } finally {
    await store.close();
  }
}

describe.each(engines)('outbound threading is durable with the message (%s)', (_engine, dbUrl) => {
  it('close() right after the 2xx: every thread is filed and owned by the sending app', async () => {
    const databaseUrl = dbUrl();
    const { built, url } = await startTestApp(tmp.dir, { databaseUrl });
    const to = contacts(0);
    const res = await fetch(`${url}/v1/messages/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${built.devKey!.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: to.map((t) => ({ to: t, body: 'shutting down' })) }),
    });
    expect(res.status).toBe(202);
    await built.close();
    await expectThreads(databaseUrl, to);
  }, 60_000);

  it('a crash (SIGKILL) right after the 2xx: every thread is filed and owned by the sending app', async () => {
    const databaseUrl = dbUrl();
    const to = contacts(1);
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, SB_DATABASE_URL: databaseUrl, SB_CONTACTS: to.join(','), SB_CWD: tmp.dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
    expect(JSON.parse(out.trim())).toEqual({ status: 202 });
    await expectThreads(databaseUrl, to);
  }, 60_000);
});
