/**
 * `npm run cluster:demo -- 2` (scripts/cluster-demo.ts): starts, prints the load balancer URL, an API key and a curl
 * line; a message sent through the load balancer is delivered; Ctrl-C (SIGINT) stops every instance and exits 0.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/cluster.ts';
import { checkPostgres, describeTestDatabase, TEST_DATABASE_URL } from '../../src/store/postgres/test-db.ts';
import { waitFor } from './support.ts';

const reach = await checkPostgres();
if (!reach.ok && process.env.CI) {
  describe('cluster demo', () => {
    it(`PostgreSQL at ${describeTestDatabase()} is reachable`, () => {
      throw new Error(`PostgreSQL at ${describeTestDatabase()} is unreachable (${reach.reason}); CI requires it.`);
    });
  });
}

describe.skipIf(!reach.ok)('npm run cluster:demo', () => {
  it('starts N instances behind a load balancer, delivers through it, stops cleanly on Ctrl-C', async () => {
    const schema = `sb_test_demo_${randomBytes(4).toString('hex')}`;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_')));
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/cluster-demo.ts', '2', '--database-url', TEST_DATABASE_URL, '--schema', schema, '--port', '0', '--drop'], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const printed = await waitFor('the demo to print its key', async () => (/curl -s/.test(out) ? out : undefined), 90_000, 100);
      expect(printed).toMatch(/2 instance\(s\) on PostgreSQL schema/);
      expect(printed.match(/instance \d+ +http:\/\/127\.0\.0\.1:\d+/g)).toHaveLength(2);
      const lb = /load balancer \(publicUrl\)\s+(http:\/\/\S+)/.exec(printed)![1]!;
      const token = /\n\s+(sb_dev_\S+)\n/.exec(printed)![1]!;
      const auth = { authorization: `Bearer ${token}` };
      const res = await fetch(`${lb}/v1/messages`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ to: '+14155550100', body: 'hello cluster', from: '55501' }),
      });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      await waitFor(
        'delivered through the cluster',
        async () => {
          const m = (await (await fetch(`${lb}/v1/messages/${id}`, { headers: auth })).json()) as { status: string };
          return m.status === 'delivered' ? m : undefined;
        },
        60_000,
        100,
      );
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).toContain('Stopped.');
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try {
        expect((await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount).toBe(0);
      } finally {
        await c.end();
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 180_000);
});
