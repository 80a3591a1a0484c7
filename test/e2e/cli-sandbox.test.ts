/** `switchboard sandbox --port 0` runs the carrier alone; a Twilio-style create works against it; SIGTERM exits 0. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/config/schema.ts';
import { waitFor } from './support.ts';

const BIN = fileURLToPath(new URL('../../bin/switchboard.js', import.meta.url));
const child = spawn(process.execPath, [BIN, 'sandbox', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

afterAll(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('switchboard sandbox', () => {
  it('serves the Twilio Messages API standalone', async () => {
    const url = await waitFor('the sandbox to listen', async () => {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out}`);
      return /Sandbox carrier listening on (http:\/\/\S+)/.exec(out)?.[1];
    }, 60_000);
    const res = await fetch(`${url}/2010-04-01/Accounts/${SANDBOX_ACCOUNT_SID}/Messages.json`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${SANDBOX_ACCOUNT_SID}:${SANDBOX_AUTH_TOKEN}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ To: '+14155550100', From: '+15005550006', Body: 'standalone' }).toString(),
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { sid: string }).sid).toMatch(/^SM[0-9a-f]{32}$/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
