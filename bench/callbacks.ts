/**
 * Status-callback ingestion benchmark: signed Twilio status callbacks (form-encoded, X-Twilio-Signature computed
 * with computeTwilioSignature over publicUrl + path + query, as Twilio does) POSTed to /webhooks/twilio/status for
 * existing, submitted messages, N concurrent. Switchboard runs in a child process (dispatch and sandbox disabled);
 * the messages are accepted through the batch API, then moved to `sending` by the child (the store's own claim,
 * as the dispatcher does) so each callback is a real status move.
 *
 * Three rounds over the same messages: `sent` (sending → sent), `delivered` (sent → delivered), and the same
 * `delivered` again (duplicates: kept raw, deduplicated, no status change).
 *
 *   npm run bench:callbacks                               # SQLite temp file, 3,000 messages, concurrency 32
 *   npm run bench:callbacks -- --messages 10000 --concurrency 64 --store postgres
 *
 * Prints `name value unit` lines after a `# ` header. Fails (exit 1) unless every callback got 204 and every message
 * ends `delivered`.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../src/config/schema.ts';
import { computeTwilioSignature } from '../src/providers/twilio/signature.ts';
import { TWILIO_STATUS_PATH } from '../src/webhooks/twilio-webhooks.ts';
import { createBenchStore, machineLine, parseStoreKind, recipient, startSwitchboard, stopAll, type SwitchboardChild } from './lib/harness.ts';
import { closedLoop, mb, percentile, perSecond, printFigure, printHeader } from './lib/measure.ts';

const BATCH_SIZE = 1000;
const FROM = '+15005550006';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    messages: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
  },
});

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}; got ${v}`);
  return n;
}

interface Target {
  id: string;
  sid: string;
  to: string;
}

async function main(): Promise<void> {
  const kind = parseStoreKind(values.store);
  const n = int('messages', values.messages, 1);
  const concurrency = int('concurrency', values.concurrency, 1);

  const store = await createBenchStore(kind);
  let sb: SwitchboardChild | undefined;
  let pool: Pool | undefined;
  try {
    sb = await startSwitchboard({ databaseUrl: store.databaseUrl, logLevel: 'error', dispatch: { enabled: false }, sandbox: { enabled: false } });
    printHeader([
      'bench:callbacks — signed Twilio status callbacks ingested/s at POST /webhooks/twilio/status',
      machineLine(),
      `store: ${store.description}`,
      `switchboard: 1 process (pid ${sb.pid}) at ${sb.ready.url}; load generator: this process, undici Pool`,
      `counts: ${n} messages × 3 rounds (sent, delivered, duplicate delivered) at concurrency ${concurrency}`,
    ]);
    pool = new Pool(sb.ready.url, { connections: concurrency, pipelining: 1 });
    const p = pool;
    const auth = { authorization: `Bearer ${sb.ready.token}`, 'content-type': 'application/json' };

    // Seed: accept n messages, then claim them all (→ sending, in flight) in the child.
    const targets: Target[] = [];
    for (let start = 0; start < n; start += BATCH_SIZE) {
      const count = Math.min(BATCH_SIZE, n - start);
      const messages = Array.from({ length: count }, (_, k) => ({ to: recipient(start + k), from: FROM, body: `bench callback ${start + k}` }));
      const res = await p.request({ method: 'POST', path: '/v1/messages/batch', headers: auth, body: JSON.stringify({ messages }) });
      const body = (await res.body.json()) as { accepted: number; results: { message?: { id: string; to: string } }[] };
      if (res.statusCode !== 202 || body.accepted !== count) throw new Error(`seeding batch → ${res.statusCode}, accepted ${body.accepted} of ${count}`);
      for (const r of body.results) targets.push({ id: r.message!.id, to: r.message!.to, sid: `SM${randomBytes(16).toString('hex')}` });
    }
    const marked = await sb.call<number>('markSubmitted');
    if (marked !== n) throw new Error(`marked ${marked} messages submitted; expected ${n}`);

    // Signed requests, computed before timing (the signing cost is Twilio's, not ours).
    const publicUrl = sb.ready.publicUrl;
    const prepare = (status: 'sent' | 'delivered') =>
      targets.map((t) => {
        const path = `${TWILIO_STATUS_PATH}?m=${encodeURIComponent(t.id)}`;
        const params: Record<string, string> = {
          AccountSid: SANDBOX_ACCOUNT_SID,
          ApiVersion: '2010-04-01',
          From: FROM,
          MessageSid: t.sid,
          MessageStatus: status,
          SmsSid: t.sid,
          SmsStatus: status,
          To: t.to,
        };
        const body = new URLSearchParams(params).toString();
        const signature = computeTwilioSignature(SANDBOX_AUTH_TOKEN, `${publicUrl}${path}`, params);
        return { path, body, signature };
      });
    const round = async (name: string, reqs: ReturnType<typeof prepare>) => {
      const r = await closedLoop(reqs.length, concurrency, async (i) => {
        const q = reqs[i]!;
        const res = await p.request({
          method: 'POST',
          path: q.path,
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': q.signature, 'i-twilio-idempotency-token': `bench-${name}-${i}` },
          body: q.body,
        });
        const text = await res.body.text();
        if (res.statusCode !== 204) throw new Error(`${name} callback → ${res.statusCode} ${text.slice(0, 300)}`);
      });
      if (r.failures > 0) throw new Error(`${name}: ${r.failures} of ${r.n} callbacks failed; first: ${r.firstError}`);
      return r;
    };

    const sent = await round('sent', prepare('sent'));
    const deliveredReqs = prepare('delivered');
    const delivered = await round('delivered', deliveredReqs);
    const afterDelivered = await sb.call<Record<string, number>>('counts');
    if (afterDelivered.delivered !== n) throw new Error(`after the delivered round: ${JSON.stringify(afterDelivered)}; expected ${n} delivered`);
    const dup = await round('duplicate', deliveredReqs);
    const final = await sb.call<Record<string, number>>('counts');
    if (final.delivered !== n) throw new Error(`after the duplicate round: ${JSON.stringify(final)}; expected ${n} delivered`);
    const rss = await sb.call<number>('rss');

    const all = [...sent.latencies, ...delivered.latencies].sort((a, b) => a - b);
    printFigure('callbacks_status_moves_per_s', perSecond(2 * n, sent.elapsedMs + delivered.elapsedMs), 'callback/s');
    printFigure('callbacks_sent_per_s', perSecond(n, sent.elapsedMs), 'callback/s');
    printFigure('callbacks_delivered_per_s', perSecond(n, delivered.elapsedMs), 'callback/s');
    printFigure('callbacks_duplicate_per_s', perSecond(n, dup.elapsedMs), 'callback/s');
    printFigure('callbacks_latency_p50', percentile(all, 50), 'ms');
    printFigure('callbacks_latency_p99', percentile(all, 99), 'ms');
    printFigure('callbacks_total', 3 * n, 'callback');
    printFigure('callbacks_switchboard_rss', mb(rss), 'MB');
  } finally {
    await pool?.close();
    await stopAll([sb]);
    await store.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
