/**
 * Status poll (docs/reference/dispatch.md "Status poll"): a message whose status callbacks never arrive is looked up
 * at the provider once its status has not changed for `dispatch.statusPollAfterMs`, and the answer is applied as a
 * callback would be (event `status`, detail.source 'poll'), until it is final or its validity plus a margin passed.
 * Real sandbox over HTTP (callbacks dropped with the sandbox's `callback` fault), real webhook routes receiving the
 * callbacks that do come, real SQLite store; time is a ManualClock shared by all.
 */
import { createServer } from 'node:http';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, type TwilioAccountConfig } from '../../src/config/schema.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import type { MessageRecord } from '../../src/domain/message.ts';
import { Dispatcher, STATUS_POLL_MARGIN_MS } from '../../src/dispatch/dispatcher.ts';
import { createTwilioAdapter } from '../../src/providers/twilio/adapter.ts';
import { startSandboxServer, type SandboxServer } from '../../src/sandbox/server.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { twilioWebhookRoutes } from '../../src/webhooks/twilio-webhooks.ts';
import { dispatchConfig, insertRecords, makeRecord, tempDir } from './support.ts';

const POLL_AFTER = 600_000;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

let clock: ManualClock;
let sb: SandboxServer;
let hooks: FastifyInstance;
let store: Store;
let cleanup: () => void;
let account: TwilioAccountConfig;
let finals: MessageRecord[];
let lookups: number;
let publicUrl: string;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 4, 5, 10, 0, 0));
  sb = await startSandboxServer({ host: '127.0.0.1', port: 0, clock, seed: 7 });
  const t = tempDir('sb-status-poll-');
  cleanup = t.cleanup;
  store = createSqliteStore({ path: join(t.dir, 'test.db') });
  await store.migrate();
  account = { name: 'sandbox', provider: 'twilio', baseUrl: sb.url, accountSid: SANDBOX_ACCOUNT_SID, authToken: SANDBOX_AUTH_TOKEN, apiKeySid: null, apiKeySecret: null, senders: [] };
  // Our webhook endpoint: the callbacks that are not dropped land here and move the status. The socket is bound
  // first (port 0), so the signed URL is known when the routes are registered.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  publicUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  hooks = Fastify({
    logger: false,
    serverFactory: (handler) => {
      server.on('request', handler);
      return server;
    },
  });
  await hooks.register(twilioWebhookRoutes, { store, clock, accounts: [account], publicUrl, log: silent });
  await hooks.ready();
  finals = [];
  lookups = 0;
});

afterEach(async () => {
  await hooks?.close();
  if (hooks?.server.listening) await new Promise((resolve) => hooks.server.close(resolve));
  await store?.close();
  await sb?.close();
  cleanup?.();
});

function dispatcher(statusPollAfterMs = POLL_AFTER, owner = 'poller'): Dispatcher {
  const adapter = createTwilioAdapter(account, { publicUrl, timeoutMs: 2_000 });
  const counting = { ...adapter, lookup: (q: Parameters<typeof adapter.lookup>[0]) => ((lookups += 1), adapter.lookup(q)) };
  return new Dispatcher({
    store,
    adapters: new Map([['sandbox', counting]]),
    clock,
    config: dispatchConfig({ statusPollAfterMs }),
    rates: new Map(),
    defaultMps: 100,
    owner,
    hooks: { onFinal: (m) => void finals.push(m) },
  });
}

async function enqueue(to: string, validFor = 3600): Promise<MessageRecord> {
  const [m] = await insertRecords(store, [makeRecord({ now: clock.now(), to, validFor })]);
  return m!;
}

async function get(id: string): Promise<MessageRecord> {
  return (await store.getMessage(id))!;
}

/** Let the sandbox carry its messages `ms` further (sent, delivered) and wait for the callbacks it sends. */
async function carrier(ms: number): Promise<void> {
  for (let step = 0; step < ms; step += 5_000) {
    clock.advance(Math.min(5_000, ms - step));
    await sb.sandbox.runDue();
  }
}

async function pollEvents(id: string) {
  return (await store.listEvents(id)).filter((e) => e.type === 'status' && e.detail?.source === 'poll');
}

describe('status poll', () => {
  it('callbacks dropped: the status is polled after statusPollAfterMs and applied once; a message whose callbacks came is not polled', async () => {
    const d = dispatcher();
    const heard = await enqueue('+14155550101');
    await d.runOnce();
    await carrier(30_000);
    expect((await get(heard.id)).status).toBe('delivered'); // its callbacks came

    sb.sandbox.faults.add({ kind: 'callback', action: 'drop' }); // every callback from now on is lost
    const lost = await enqueue('+14155550102');
    await d.runOnce();
    await carrier(30_000);
    expect(sb.sandbox.callbacks().filter((c) => c.state === 'dropped').length).toBeGreaterThan(0);
    const stuck = await get(lost.id);
    expect(stuck).toMatchObject({ status: 'sending', submitState: 'accepted' });

    // Not polled before its status has been quiet for statusPollAfterMs (poll steps are at most one per second).
    clock.set(stuck.updatedAt + POLL_AFTER - 1_000);
    expect((await d.runOnce()).polled).toBe(0);
    expect(lookups).toBe(0);

    clock.set(stuck.updatedAt + POLL_AFTER);
    const r = await d.runOnce();
    expect(r.polled).toBe(1);
    expect(lookups).toBe(1);
    const after = await get(lost.id);
    expect(after).toMatchObject({ status: 'delivered', providerStatus: 'delivered', completedAt: clock.now(), leaseOwner: null, leaseExpiresAt: null });
    expect((await pollEvents(lost.id)).map((e) => [e.status, e.detail?.applied, e.detail?.from])).toEqual([['delivered', true, 'sending']]);
    expect(finals.map((m) => [m.id, m.status])).toEqual([[lost.id, 'delivered']]);

    // Final: never polled again.
    clock.advance(10 * POLL_AFTER);
    await d.runOnce();
    clock.advance(1_000);
    await d.runOnce();
    expect(lookups).toBe(1);
    expect(finals).toHaveLength(1);
    expect(await pollEvents(heard.id)).toEqual([]);
  });

  it('no delivery report ever: polled every statusPollAfterMs while nothing changes, until validity + margin has passed', async () => {
    const d = dispatcher();
    // Sandbox magic number: `sent`, then no delivery receipt ever (and here even the `sent` callback is lost).
    sb.sandbox.faults.add({ kind: 'callback', action: 'drop' });
    const m = await enqueue('+15005550014', 600);
    await d.runOnce();
    await carrier(30_000);
    expect((await get(m.id)).status).toBe('sending');

    // First poll: the provider says `sent` → applied (as the lost callback would have been).
    clock.set((await get(m.id)).updatedAt + POLL_AFTER);
    expect((await d.runOnce()).polled).toBe(1);
    expect(await get(m.id)).toMatchObject({ status: 'sent', providerStatus: 'sent' });

    // Then every statusPollAfterMs: unchanged, kept on the timeline, until expiresAt + margin.
    const stopAt = m.expiresAt + STATUS_POLL_MARGIN_MS;
    let rounds = 0;
    while (clock.now() < stopAt + 2 * POLL_AFTER) {
      clock.advance(POLL_AFTER);
      await d.runOnce();
      rounds++;
    }
    const polls = await pollEvents(m.id);
    expect(polls[0]).toMatchObject({ status: 'sent', detail: { applied: true, from: 'sending' } });
    const unchanged = polls.slice(1);
    expect(unchanged.length).toBeGreaterThan(0);
    expect(unchanged.length).toBeLessThan(rounds);
    for (const e of unchanged) expect(e.detail).toMatchObject({ applied: false, reason: 'unchanged', current: 'sent' });
    expect(Math.max(...polls.map((e) => e.at))).toBeLessThan(stopAt);
    expect(lookups).toBe(polls.length);
    const last = await get(m.id);
    expect(last).toMatchObject({ status: 'sent', leaseOwner: null });
    expect(finals).toEqual([]);

    // Past the bound it is left alone.
    const before = lookups;
    clock.advance(5 * POLL_AFTER);
    expect((await d.runOnce()).polled).toBe(0);
    expect(lookups).toBe(before);
  });

  it('statusPollAfterMs 0 disables the poll; two instances never poll the same message at once', async () => {
    sb.sandbox.faults.add({ kind: 'callback', action: 'drop' });
    const off = dispatcher(0, 'off');
    const m = await enqueue('+14155550103');
    await off.runOnce();
    await carrier(30_000);
    clock.advance(2 * POLL_AFTER);
    expect((await off.runOnce()).polled).toBe(0);
    expect(lookups).toBe(0);

    const [a, b] = [dispatcher(POLL_AFTER, 'a'), dispatcher(POLL_AFTER, 'b')];
    const [ra, rb] = await Promise.all([a.runOnce(), b.runOnce()]);
    expect(ra.polled + rb.polled).toBe(1);
    expect(lookups).toBe(1);
    expect((await get(m.id)).status).toBe('delivered');
    expect(await pollEvents(m.id)).toHaveLength(1);
  });
});
