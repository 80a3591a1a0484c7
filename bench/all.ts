/**
 * Every benchmark in sequence, each in its own process (so one's memory and JIT state do not colour the next):
 * accept, callbacks, e2e, adapter. Output is each benchmark's own (`# ` header lines and `name value unit` lines).
 *
 *   npm run bench                                    # SQLite
 *   npm run bench -- --store postgres --instances 2  # accept/callbacks/e2e on PostgreSQL; e2e with 2 instances
 *   npm run bench -- --only accept,e2e
 *
 * Exit code: 1 if any benchmark failed (the rest still run).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ALL = ['accept', 'callbacks', 'e2e', 'adapter'] as const;
type Name = (typeof ALL)[number];

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    instances: { type: 'string' },
    only: { type: 'string' },
  },
});

const only = values.only ? values.only.split(',').map((s) => s.trim()) : [...ALL];
for (const o of only) if (!(ALL as readonly string[]).includes(o)) throw new Error(`--only: unknown benchmark ${o}; use ${ALL.join(', ')}`);

function argsFor(name: Name): string[] {
  const a: string[] = [];
  if (values.store && name !== 'adapter') a.push('--store', values.store);
  if (values.instances && name === 'e2e') a.push('--instances', values.instances);
  return a;
}

let failed = 0;
for (const name of ALL.filter((n) => only.includes(n))) {
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  const args = argsFor(name);
  console.log(`# ---- bench:${name}${args.length ? ` ${args.join(' ')}` : ''}`);
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: 'inherit' });
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  if (code !== 0) {
    failed++;
    console.log(`# bench:${name} FAILED (exit ${code ?? signal})`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
