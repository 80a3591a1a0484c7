/**
 * `npm run cluster:demo -- 3`: try scale-out on one machine. Starts N Switchboard instances (`node bin/switchboard.js
 * start`) on one PostgreSQL schema, one sandbox carrier process-internal server (the "Twilio" they share) and a
 * round-robin load balancer in front of the instances (their publicUrl: the sandbox's callbacks go through it).
 * Prints the URLs, an API key and a curl line; Ctrl-C stops everything gracefully (SIGTERM to each instance).
 *
 *   npm run cluster:demo -- 3
 *   npm run cluster:demo -- 2 --database-url postgres://postgres@127.0.0.1:5432/test --schema sb_demo --port 3000 --drop
 *
 * Deployment guide: docs/guides/deployment.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { curlLine } from '../src/app.ts';
import { createApiKey } from '../src/api/keys.ts';
import { DEV_KEY_SCOPES } from '../src/api/scopes.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../src/config/schema.ts';
import { startSandboxServer } from '../src/sandbox/server.ts';
import { quoteIdent } from '../src/store/postgres/migrations.ts';
import { createPostgresStore } from '../src/store/postgres/postgres-store.ts';
import { startInstance, startRoundRobinProxy, writeClusterConfig, type Instance } from './lib/cluster.ts';

const USAGE = `Usage: npm run cluster:demo -- [N] [--database-url URL] [--schema NAME] [--port P] [--pool-max K] [--drop]

  N                 instances (default 3)
  --database-url    PostgreSQL (default $SWITCHBOARD_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test)
  --schema          schema for this demo's tables (default sb_demo; kept between runs unless --drop)
  --port            load balancer port (default 3000; 0 = any free port)
  --pool-max        connections per instance (default 5)
  --drop            drop the schema when stopping`;

const SENDERS = [
  { from: '+12025550101', type: 'long_code', mps: 10 },
  { from: '55501', type: 'short_code', mps: 100 },
] as const;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'database-url': { type: 'string' },
      schema: { type: 'string', default: 'sb_demo' },
      port: { type: 'string', default: '3000' },
      'pool-max': { type: 'string', default: '5' },
      drop: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const n = Number(positionals[0] ?? '3');
  const port = Number(values.port);
  const poolMax = Number(values['pool-max']);
  if (!Number.isInteger(n) || n < 1 || n > 16 || !Number.isInteger(port) || port < 0 || !Number.isInteger(poolMax) || poolMax < 1) {
    console.error(USAGE);
    return 2;
  }
  const dbUrl = values['database-url'] ?? process.env.SWITCHBOARD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = values.schema!;
  const databaseUrl = `${dbUrl}${dbUrl.includes('?') ? '&' : '?'}schema=${schema}&pool_max=${poolMax}`;

  // Migrate once and create the API key the demo prints (instances also migrate at start: a no-op then).
  const store = createPostgresStore({ connectionString: dbUrl, schema, pool: { max: 2 } });
  try {
    await store.migrate();
  } catch (err) {
    console.error(`Cannot prepare PostgreSQL at ${dbUrl.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@')}: ${(err as Error).message}`);
    await store.close();
    return 1;
  }
  const { token } = await createApiKey(store, { name: `cluster-demo-${Date.now()}`, scopes: DEV_KEY_SCOPES, kind: 'dev', now: Date.now() });
  await store.close();

  const stops: (() => Promise<unknown>)[] = [];
  const carrier = await startSandboxServer({
    port: 0,
    accounts: [{ sid: SANDBOX_ACCOUNT_SID, authToken: SANDBOX_AUTH_TOKEN, friendlyName: 'cluster demo carrier' }],
    numbers: SENDERS.map((s) => ({ phoneNumber: s.from, accountSid: SANDBOX_ACCOUNT_SID, type: s.type, mps: s.mps })),
  });
  stops.push(() => carrier.close());
  const proxy = await startRoundRobinProxy({ port });
  stops.push(() => proxy.close());

  const dir = mkdtempSync(join(tmpdir(), 'sb-cluster-demo-'));
  stops.push(async () => rmSync(dir, { recursive: true, force: true }));
  const env = writeClusterConfig({ dir, publicUrl: proxy.url, carrierUrl: carrier.url, senders: SENDERS, databaseUrl });

  let instances: Instance[] = [];
  const stopAll = async () => {
    // Graceful: each instance finishes or hands back its claimed work, then the carrier and the balancer go.
    for (const i of instances) i.child.kill('SIGTERM');
    await Promise.all(instances.map((i) => i.exited));
    for (const stop of stops.reverse()) await stop().catch(() => {});
    if (values.drop) {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      await c.end();
    }
  };
  try {
    instances = await Promise.all(Array.from({ length: n }, () => startInstance(env, { onLine: (l) => /"level":(40|50|60)/.test(l) && console.error(l) })));
  } catch (err) {
    console.error((err as Error).message);
    await stopAll();
    return 1;
  }
  proxy.setBackends(instances.map((i) => i.url));

  console.log(
    [
      `Switchboard cluster: ${n} instance(s) on PostgreSQL schema "${schema}", one sandbox carrier, one load balancer.`,
      '',
      `  load balancer (publicUrl)  ${proxy.url}`,
      ...instances.map((i, k) => `  instance ${k + 1}                 ${i.url}  (pid ${i.pid})`),
      `  sandbox carrier            ${carrier.url}`,
      `  dashboard                  ${proxy.url}/dashboard`,
      '',
      '  API key (shown once):',
      `    ${token}`,
      '',
      '  Send a message through the load balancer:',
      `    ${curlLine(proxy.url, token)}`,
      '',
      'Ctrl-C stops every instance gracefully.',
    ].join('\n'),
  );

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  console.log('\nStopping…');
  await stopAll();
  console.log('Stopped.');
  return 0;
}

process.exitCode = await main();
