/**
 * Adapter benchmark: the same N sends through the sandbox with our undici adapter and with the official
 * `twilio` SDK (RequestClient subclass that rewrites the origin), same concurrency.
 * The sandbox (and a 204 receiver for its status callbacks) runs in a child process so both clients get
 * the benchmark process to themselves.
 *
 *   npm run bench:adapter            # N=2000, concurrency 32
 *   BENCH_N=5000 BENCH_CONCURRENCY=64 npm run bench:adapter
 *
 * Prints `name value unit` lines.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import twilio from 'twilio';
import type RequestClientNs from 'twilio/lib/base/RequestClient.js';

type RequestOptions<T> = RequestClientNs.RequestOptions<T>;
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../src/config/schema.ts';
import { createTwilioAdapter } from '../src/providers/twilio/adapter.ts';
import { machineLine } from './lib/harness.ts';
import { printHeader } from './lib/measure.ts';

const N = Number(process.env.BENCH_N ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const WARMUP = Math.min(200, Math.ceil(N / 10));

if (process.argv.includes('--serve')) {
  await serve();
} else {
  await main();
}

/** Child: sandbox + callback sink. Prints one JSON line with the URLs. */
async function serve(): Promise<void> {
  const { startSandboxServer } = await import('../src/sandbox/server.ts');
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = 204;
      res.end();
    });
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const addr = sink.address();
  const sinkUrl = typeof addr === 'object' && addr ? `http://127.0.0.1:${addr.port}` : '';
  const sb = await startSandboxServer({ host: '127.0.0.1', port: 0, latency: { sendingMs: 0, sentMs: 1, deliveredMs: 2 } });
  process.stdout.write(`${JSON.stringify({ url: sb.url, sinkUrl })}\n`);
  process.on('SIGTERM', () => {
    void sb.close().then(() => process.exit(0));
  });
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(name: string, n: number, send: (i: number) => Promise<string>): Promise<{ perS: number; p50: number; p99: number }> {
  const lat: number[] = [];
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const s = performance.now();
        try {
          const sid = await send(i);
          if (!sid.startsWith('SM')) failures++;
        } catch (err) {
          failures++;
          if (failures < 3) console.error(`${name} send failed:`, err);
        }
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  if (failures > 0) throw new Error(`${name}: ${failures} sends failed`);
  lat.sort((a, b) => a - b);
  return { perS: n / elapsed, p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`sandbox child exited ${code}`)));
  });
  const { url, sinkUrl } = JSON.parse(first) as { url: string; sinkUrl: string };
  printHeader([
    'bench:adapter — Twilio Messages create through our undici adapter vs the official twilio SDK, against the sandbox',
    machineLine(),
    `sandbox: 1 process (pid ${child.pid}) at ${url}, latencies 0/1/2 ms; clients: this process`,
    `counts: ${N} sends per client per round, 2 rounds each (alternating), warmup ${WARMUP}, concurrency ${CONCURRENCY}`,
  ]);

  try {
    const to = (i: number) => `+1415555${String(1000 + (i % 9000)).padStart(4, '0')}`;
    const from = '+15005550006';

    // --- undici adapter
    const adapter = createTwilioAdapter(
      { name: 'bench', provider: 'twilio', baseUrl: url, accountSid: SANDBOX_ACCOUNT_SID, authToken: SANDBOX_AUTH_TOKEN, apiKeySid: null, apiKeySecret: null, senders: [] },
      { publicUrl: sinkUrl, timeoutMs: 10_000 },
    );
    const viaAdapter = async (i: number) => (await adapter.send({ id: `msg_bench_u${i}`, to: to(i), from, body: `bench undici ${i}`, validitySeconds: 600 })).providerMessageId;

    // --- official SDK, pointed at the sandbox by rewriting the origin (twilio-wire.md §4.2 option 1)
    const origin = new URL(url);
    class SandboxRequestClient extends twilio.RequestClient {
      override request<TData>(opts: RequestOptions<TData>) {
        const u = new URL(opts.uri);
        u.protocol = origin.protocol;
        u.host = origin.host;
        u.pathname = origin.pathname.replace(/\/+$/, '') + u.pathname;
        return super.request<TData>({ ...opts, uri: u.toString() });
      }
    }
    const client = twilio(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, { httpClient: new SandboxRequestClient({ keepAlive: true, timeout: 10_000 }) });
    const viaSdk = async (i: number) =>
      (await client.messages.create({ to: to(i), from, body: `bench sdk ${i}`, statusCallback: `${sinkUrl}/webhooks/twilio/status?m=msg_bench_s${i}`, validityPeriod: 600 })).sid;

    // Warm both (connections, JIT), then measure; alternate order to be fair to both.
    await run('undici-warmup', WARMUP, viaAdapter);
    await run('sdk-warmup', WARMUP, viaSdk);
    const u1 = await run('undici', N, viaAdapter);
    const s1 = await run('sdk', N, viaSdk);
    const s2 = await run('sdk', N, viaSdk);
    const u2 = await run('undici', N, viaAdapter);
    const u = { perS: (u1.perS + u2.perS) / 2, p50: (u1.p50 + u2.p50) / 2, p99: Math.max(u1.p99, u2.p99) };
    const s = { perS: (s1.perS + s2.perS) / 2, p50: (s1.p50 + s2.p50) / 2, p99: Math.max(s1.p99, s2.p99) };
    const rss = process.memoryUsage().rss / 1024 / 1024;

    console.log(`adapter_undici_sends_per_s ${u.perS.toFixed(0)} msg/s`);
    console.log(`adapter_twilio_sdk_sends_per_s ${s.perS.toFixed(0)} msg/s`);
    console.log(`adapter_undici_latency_p50 ${u.p50.toFixed(2)} ms`);
    console.log(`adapter_undici_latency_p99 ${u.p99.toFixed(2)} ms`);
    console.log(`adapter_twilio_sdk_latency_p50 ${s.p50.toFixed(2)} ms`);
    console.log(`adapter_twilio_sdk_latency_p99 ${s.p99.toFixed(2)} ms`);
    console.log(`adapter_bench_messages ${N * 2} msg`);
    console.log(`adapter_bench_concurrency ${CONCURRENCY} requests`);
    console.log(`adapter_bench_client_rss ${rss.toFixed(0)} MB`);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}
