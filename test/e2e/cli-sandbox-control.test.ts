/**
 * `switchboard sandbox phones | inbox | fault` drive a running sandbox's control API from the shell:
 * a fault added from the CLI changes what a Twilio-style create gets, and the handsets' messages are readable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/config/schema.ts';
import { startSandboxServer } from '../../src/sandbox/server.ts';
import { captureIo, waitFor } from './support.ts';

let sb: Awaited<ReturnType<typeof startSandboxServer>>;

beforeAll(async () => {
  sb = await startSandboxServer({ host: '127.0.0.1', port: 0, latency: { sendingMs: 0, sentMs: 1, deliveredMs: 2 } });
});

afterAll(async () => {
  await sb?.close();
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(['sandbox', ...args, '--url', sb.url], io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

function create(to: string, body: string): Promise<Response> {
  return fetch(`${sb.url}/2010-04-01/Accounts/${SANDBOX_ACCOUNT_SID}/Messages.json`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${SANDBOX_ACCOUNT_SID}:${SANDBOX_AUTH_TOKEN}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ To: to, From: '+15005550006', Body: body }).toString(),
  });
}

describe('switchboard sandbox fault', () => {
  it('add → the next create gets the fault; list shows it until it is used up; clear removes the rest', async () => {
    const added = await cli('fault', 'add', '--kind', 'status', '--status', '429', '--code', '20429', '--retry-after', '2', '--count', '1');
    expect(added.err).toBe('');
    expect(added.code).toBe(0);
    expect(added.out).toMatch(/^Fault \S+ added: \{"kind":"status","status":429,"code":20429,"retryAfterS":2,"count":1\}/);
    expect((await cli('fault', 'list')).out).toMatch(/"kind":"status".*remaining 1/);

    const refused = await create('+14155550120', 'first');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(((await refused.json()) as { code: number }).code).toBe(20429);
    expect((await create('+14155550120', 'second')).status).toBe(201);
    expect((await cli('fault', 'list')).out).toBe('No active faults.');

    expect((await cli('fault', 'add', '--kind', 'timeout')).code).toBe(0);
    expect((await cli('fault', 'add', '--kind', 'callback', '--action', 'drop')).code).toBe(0);
    expect((await cli('fault', 'clear', '--kind', 'timeout')).out).toBe('Cleared timeout faults.');
    const left = (await cli('fault', 'list')).out;
    expect(left).toContain('"kind":"callback"');
    expect(left).not.toContain('"kind":"timeout"');
    expect((await cli('fault', 'clear')).code).toBe(0);
    expect((await cli('fault', 'list')).out).toBe('No active faults.');
  });

  it.each([
    [['fault', 'add'], /--kind must be one of/],
    [['fault', 'add', '--kind', 'status', '--status', '429'], /--code is required/],
    [['fault', 'add', '--kind', 'status', '--status', '200', '--code', '1'], /--status is required .* 400 to 599/],
    [['fault', 'add', '--kind', 'slow'], /--delay-ms is required/],
    [['fault', 'add', '--kind', 'callback', '--action', 'explode'], /--action must be one of drop, duplicate, delay, reorder/],
    [['fault', 'add', '--kind', 'sender_down'], /--from is required/],
    [['fault', 'add', '--kind', 'slow', '--delay-ms', 'soon'], /--delay-ms must be a whole number/],
    [['fault', 'explode'], /Unknown fault action "explode"/],
    [['fault', 'remove'], /remove needs the fault id/],
    [['inbox'], /--number is required/],
  ])('usage error: %j', async (args, message) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('a refusal from the sandbox exits 1 with its code', async () => {
    const r = await cli('fault', 'remove', 'no-such-fault');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Sandbox refused: HTTP 404/);
  });
});

describe('switchboard sandbox phones / inbox', () => {
  it('shows what a handset received and what it sent', async () => {
    expect((await create('+14155550130', 'hello handset')).status).toBe(201);
    await waitFor('the message to reach the handset', async () => ((await cli('inbox', '--number', '+14155550130')).out.includes('hello handset') ? true : undefined));
    expect((await main(['sandbox', 'reply', '--from', '+14155550130', '--to', '+15005550006', '--body', 'hi back', '--url', sb.url], captureIo()))).toBe(0);

    const inbox = await cli('inbox', '--number', '+14155550130');
    expect(inbox.code).toBe(0);
    const lines = inbox.out.split('\n');
    expect(lines.some((l) => / < \+15005550006 hello handset$/.test(l))).toBe(true);
    expect(lines.some((l) => / > \+15005550006 hi back$/.test(l))).toBe(true);

    const phones = await cli('phones');
    expect(phones.code).toBe(0);
    expect(phones.out).toMatch(/^\+14155550130\t2 message\(s\)\tlast \d{4}-/m);
    expect((await cli('inbox', '--number', '+14155550199')).out).toBe('No messages for +14155550199.');
  });

  it('an unreachable sandbox is reported, not thrown', async () => {
    const io = captureIo();
    const code = await main(['sandbox', 'phones', '--url', 'http://127.0.0.1:9'], io);
    expect(code).toBe(1);
    expect(io.stderr.join('\n')).toMatch(/Cannot reach the sandbox at http:\/\/127\.0\.0\.1:9/);
  });
});
