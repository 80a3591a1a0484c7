/**
 * Durability through the real command: `node bin/switchboard.js start` in a child process (temp dir, port 0,
 * dispatcher off so the message stays queued), POST a message, SIGKILL the process right after the 202,
 * start again on the same database: the message is there. Then a graceful SIGTERM exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from './support.ts';

const BIN = fileURLToPath(new URL('../../bin/switchboard.js', import.meta.url));
const tmp = tempDir('sb-durable-');
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  tmp.cleanup();
});

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_')) env[k] = v;
  return { ...env, SWITCHBOARD_PORT: '0', SWITCHBOARD_DISPATCH: 'false', SWITCHBOARD_LOG_LEVEL: 'warn' };
}

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startServer(expectKey: boolean): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'start'], { cwd: tmp.dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await waitFor('the server to listen', async () => {
    if (child.exitCode !== null) throw new Error(`switchboard start exited ${child.exitCode}:\n${out}`);
    if (expectKey && !/curl -s .*"body":"Hello"\}'/.test(out)) return undefined;
    return /Switchboard listening on (http:\/\/\S+)/.exec(out)?.[1];
  }, 60_000);
  return { child, url, output: () => out, exited };
}

describe('a 202 survives kill -9', () => {
  it('stores before answering; restarts find the message; SIGTERM shuts down cleanly', async () => {
    const first = await startServer(true);
    const token = /^\s+(sb_dev_[A-Za-z0-9_-]{43})\s*$/m.exec(first.output())?.[1];
    expect(token, `dev key printed on first start:\n${first.output()}`).toBeDefined();
    expect(first.output()).toContain(`curl -s ${first.url.replace('http://', '')}/v1/messages -H "Authorization: Bearer ${token}"`);

    const res = await fetch(`${first.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: '+14155550100', body: 'must survive' }),
    });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { id: string }).id;
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = await startServer(false);
    expect(second.output(), 'the dev key is printed only once').not.toMatch(/sb_dev_/);
    const got = await fetch(`${second.url}/v1/messages/${id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(got.status).toBe(200);
    const m = (await got.json()) as { status: string; body: string; events: { type: string }[] };
    expect(m).toMatchObject({ status: 'queued', body: 'must survive' });
    expect(m.events.map((e) => e.type)).toEqual(['accepted']);

    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });
});
