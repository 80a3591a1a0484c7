/**
 * `switchboard sandbox --port 0` runs the carrier alone; a Twilio-style create works against it; SIGTERM exits 0.
 * With `--latency … --mps …` (and SWITCHBOARD_SANDBOX_MPS) it runs with those latencies and per-type MPS, says so on
 * start and on GET /_sandbox; at 0,0,0 a message's callbacks still arrive sent, then delivered.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

const env = { ...process.env, SWITCHBOARD_SANDBOX_MPS: 'long_code=7,short_code=1', SWITCHBOARD_SANDBOX_LATENCY: '9,9,9' };
const tuned = spawn(process.execPath, [BIN, 'sandbox', '--port', '0', '--latency', '0,0,0', '--mps', 'short_code=5000'], { stdio: ['ignore', 'pipe', 'pipe'], env });
let tunedOut = '';
tuned.stdout!.on('data', (d: Buffer) => (tunedOut += d.toString()));
tuned.stderr!.on('data', (d: Buffer) => (tunedOut += d.toString()));
const tunedExited = new Promise<number | null>((resolve) => tuned.once('exit', (code) => resolve(code)));

const statuses: string[] = [];
const receiver = createServer((req, res) => {
  let b = '';
  req.on('data', (d: Buffer) => (b += d.toString()));
  req.on('end', () => {
    statuses.push(new URLSearchParams(b).get('MessageStatus') ?? '?');
    res.end();
  });
});

afterAll(async () => {
  if (tuned.exitCode === null && tuned.signalCode === null) tuned.kill('SIGKILL');
  receiver.closeAllConnections();
  await new Promise<void>((r) => receiver.close(() => r()));
});

describe('switchboard sandbox --latency / --mps', () => {
  it('runs with the given latencies and MPS (flags over env); 0,0,0 still calls back sent, then delivered', async () => {
    const url = await waitFor('the sandbox to listen', async () => {
      if (tuned.exitCode !== null) throw new Error(`exited ${tuned.exitCode}: ${tunedOut}`);
      return /Sandbox carrier listening on (http:\/\/\S+)/.exec(tunedOut)?.[1];
    }, 60_000);
    await waitFor('the tuning line', async () => (/latency 0,0,0 ms/.test(tunedOut) ? true : undefined));
    expect(tunedOut).toContain('mps long_code=7,toll_free=3,short_code=5000,alphanumeric=10,whatsapp=80');
    const info = (await (await fetch(`${url}/_sandbox`)).json()) as { latency: unknown; mps: Record<string, number> };
    expect(info.latency).toEqual({ sendingMs: 0, sentMs: 0, deliveredMs: 0 });
    expect(info.mps).toEqual({ long_code: 7, toll_free: 3, short_code: 5000, alphanumeric: 10, whatsapp: 80 });

    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const callback = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/status`;
    const res = await fetch(`${url}/2010-04-01/Accounts/${SANDBOX_ACCOUNT_SID}/Messages.json`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${SANDBOX_ACCOUNT_SID}:${SANDBOX_AUTH_TOKEN}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ To: '+14155550100', From: '55501', Body: 'zero latency', StatusCallback: callback }).toString(),
    });
    expect(res.status).toBe(201);
    await waitFor('two callbacks', async () => (statuses.length >= 2 ? true : undefined));
    expect(statuses).toEqual(['sent', 'delivered']);
    tuned.kill('SIGTERM');
    expect(await tunedExited).toBe(0);
  });
});
