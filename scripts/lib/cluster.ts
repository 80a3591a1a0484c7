/**
 * Pieces for running several Switchboard instances on one machine, shared by `npm run cluster:demo` and the
 * multi-instance end-to-end test (test/e2e/multi-instance.test.ts):
 *
 *   - `startRoundRobinProxy`: a tiny HTTP load balancer. Each request (body buffered) goes to the next backend in
 *     turn; a backend that refuses or drops the connection is skipped (marked down for a moment) and the request is
 *     tried on the next one. Providers' callbacks reach the instances through it (publicUrl = the proxy), as they
 *     would through a load balancer in production.
 *   - `startInstance`: one `node bin/switchboard.js start` child process; resolves with its URL once it listens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest, Agent, createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/config/schema.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

// ------------------------------------------------------------------------------------------------ proxy

export interface RoundRobinProxy {
  url: string;
  /** Replace the backend list (base URLs such as http://127.0.0.1:3001). */
  setBackends(urls: readonly string[]): void;
  readonly stats: { forwarded: number; skipped: number; failed: number };
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** End-to-end headers only; `content-length` set to `length` when given (a buffered request body). */
function forwardHeaders(h: IncomingHttpHeaders, length?: number): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  if (length !== undefined) out['content-length'] = String(length);
  return out;
}

export async function startRoundRobinProxy(opts: { backends?: readonly string[]; host?: string; port?: number; downMs?: number } = {}): Promise<RoundRobinProxy> {
  let backends = [...(opts.backends ?? [])];
  const downUntil = new Map<string, number>();
  const downMs = opts.downMs ?? 1_000;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const stats = { forwarded: 0, skipped: 0, failed: 0 };
  let next = 0;

  const tryOne = (backend: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<boolean> =>
    new Promise((resolve) => {
      const target = new URL(req.url ?? '/', backend);
      const out = httpRequest(
        target,
        { method: req.method, headers: forwardHeaders(req.headers, body.length), agent, timeout: 30_000 },
        (up) => {
          res.writeHead(up.statusCode ?? 502, forwardHeaders(up.headers));
          up.pipe(res);
          up.on('error', () => res.destroy());
          up.on('end', () => resolve(true));
        },
      );
      out.on('timeout', () => out.destroy(new Error('backend timeout')));
      // No response yet: the backend refused or died; the caller tries the next one (webhooks are idempotent).
      out.on('error', () => {
        if (res.headersSent) {
          res.destroy();
          resolve(true);
        } else resolve(false);
      });
      out.end(body);
    });

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const list = backends;
      const start = next++;
      // Live backends first (in turn), those that just failed last; two passes, so a reset keep-alive socket or an
      // instance dying mid-request does not lose the request while another instance is up.
      const order = list.map((_, k) => list[(start + k) % list.length]!);
      const now = Date.now();
      const ranked = [...order.filter((b) => (downUntil.get(b) ?? 0) <= now), ...order.filter((b) => (downUntil.get(b) ?? 0) > now)];
      for (const backend of [...ranked, ...ranked]) {
        if (res.destroyed) return;
        if (await tryOne(backend, req, body, res)) {
          stats.forwarded++;
          downUntil.delete(backend);
          return;
        }
        stats.skipped++;
        downUntil.set(backend, Date.now() + downMs);
      }
      stats.failed++;
      res.writeHead(502, { 'content-type': 'text/plain' }).end('no backend available');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    setBackends: (urls) => {
      backends = [...urls];
    },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

// ------------------------------------------------------------------------------------------------ instances

export interface Instance {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Last lines of stdout/stderr (diagnostics). */
  output(): string;
}

/**
 * Start `node bin/switchboard.js start` with `env` (SWITCHBOARD_* variables of this process are not inherited);
 * resolves once it prints its URL. Port 0 unless SWITCHBOARD_PORT is given.
 */
export function startInstance(env: Record<string, string>, opts: { timeoutMs?: number; onLine?: (line: string) => void } = {}): Promise<Instance> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_')));
  const child = spawn(process.execPath, ['bin/switchboard.js', 'start'], {
    cwd: REPO_ROOT,
    env: { ...base, SWITCHBOARD_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const l of chunk.toString('utf8').split('\n')) {
      if (!l) continue;
      lines.push(l);
      if (lines.length > 200) lines.shift();
      opts.onLine?.(l);
    }
  };
  child.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise<Instance>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`instance did not start within ${opts.timeoutMs ?? 60_000} ms:\n${lines.join('\n')}`));
    }, opts.timeoutMs ?? 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      const m = /Switchboard listening on (http:\/\/\S+)/.exec(lines.join('\n'));
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, pid: child.pid!, child, exited, output: () => lines.join('\n') });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`instance exited before listening (code ${code}, signal ${signal}):\n${lines.join('\n')}`));
    });
  });
}

/**
 * Writes the config every cluster instance shares — one Twilio account pointed at `carrierUrl` (the sandbox's
 * account credentials), `publicUrl` = the load balancer — into `dir`, and returns the env that starts an instance
 * on it (`startInstance(env)`). `extra` is merged at the top level (e.g. `dispatch` tuning).
 */
export function writeClusterConfig(opts: {
  dir: string;
  publicUrl: string;
  carrierUrl: string;
  senders: readonly { from: string; type: string; mps: number }[];
  databaseUrl: string;
  extra?: Record<string, unknown>;
}): Record<string, string> {
  const configFile = join(opts.dir, 'switchboard.config.json');
  const config = {
    publicUrl: opts.publicUrl,
    devKeyOnFirstStart: false,
    accounts: [
      {
        name: 'carrier',
        provider: 'twilio',
        baseUrl: opts.carrierUrl,
        accountSid: SANDBOX_ACCOUNT_SID,
        authToken: SANDBOX_AUTH_TOKEN,
        apiKeySid: null,
        apiKeySecret: null,
        senders: opts.senders,
      },
    ],
    routing: { defaultAccount: 'carrier', byKey: {} },
    ...opts.extra,
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  return { SWITCHBOARD_CONFIG: configFile, SWITCHBOARD_DATABASE_URL: opts.databaseUrl, SWITCHBOARD_SANDBOX: 'false', SWITCHBOARD_LOG_LEVEL: 'warn' };
}
