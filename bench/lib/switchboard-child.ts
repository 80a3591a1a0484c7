/**
 * One Switchboard process for the benchmarks: `buildApp` with the config overrides in env BENCH_SWITCHBOARD
 * (JSON, merged by loadConfig over the defaults; no config file, no SWITCHBOARD_* variables), on 127.0.0.1:0.
 * Creates an API key (messages:send + messages:read) and announces `{ url, token, store, multiInstance }`.
 *
 * Commands (see child.ts): rss, counts, summary, markSubmitted, close.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type App } from '../../src/app.ts';
import { createApiKey } from '../../src/api/keys.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { MessageCursor } from '../../src/store/store.ts';
import { failBenchChild, serveBenchCommands } from './child.ts';

export interface SwitchboardReady {
  url: string;
  /** config.publicUrl with the bound port: what providers sign webhook URLs with. */
  publicUrl: string;
  token: string;
  store: string;
  multiInstance: boolean;
  pid: number;
}

/** What `summary` answers: every message paged through once. */
export interface MessageSummary {
  total: number;
  byStatus: Record<string, number>;
  /** Earliest createdAt (first accept), epoch ms. */
  firstCreatedAt: number | null;
  /** Latest completedAt of a delivered message, epoch ms. */
  lastDeliveredAt: number | null;
  /** Earliest / latest submittedAt. */
  firstSubmittedAt: number | null;
  lastSubmittedAt: number | null;
}

async function main(): Promise<void> {
  const overrides = JSON.parse(process.env.BENCH_SWITCHBOARD ?? '{}') as Record<string, unknown>;
  const cwd = mkdtempSync(join(tmpdir(), 'sb-bench-cwd-'));
  let built: App;
  try {
    const config = loadConfig({ env: {}, file: null, cwd, overrides: { server: { host: '127.0.0.1', port: 0 }, devKeyOnFirstStart: false, ...overrides } });
    built = await buildApp(config, { handleSignals: false });
  } catch (err) {
    failBenchChild(err);
  }
  const url = await built.start();
  const { token } = await createApiKey(built.store, { name: `bench-${process.pid}`, scopes: ['messages:send', 'messages:read'], now: Date.now() });
  const store = built.store;

  serveBenchCommands(
    { url, publicUrl: built.config.publicUrl, token, store: store.capabilities.name, multiInstance: store.capabilities.multiInstance, pid: process.pid } satisfies SwitchboardReady,
    {
      counts: () => store.countByStatus(),
      summary: async (): Promise<MessageSummary> => {
        const s: MessageSummary = { total: 0, byStatus: {}, firstCreatedAt: null, lastDeliveredAt: null, firstSubmittedAt: null, lastSubmittedAt: null };
        let cursor: MessageCursor | null = null;
        for (;;) {
          const page = await store.listMessages({ limit: 1000, cursor });
          for (const m of page.items) {
            s.total++;
            s.byStatus[m.status] = (s.byStatus[m.status] ?? 0) + 1;
            s.firstCreatedAt = Math.min(s.firstCreatedAt ?? m.createdAt, m.createdAt);
            if (m.status === 'delivered' && m.completedAt !== null) s.lastDeliveredAt = Math.max(s.lastDeliveredAt ?? m.completedAt, m.completedAt);
            if (m.submittedAt !== null) {
              s.firstSubmittedAt = Math.min(s.firstSubmittedAt ?? m.submittedAt, m.submittedAt);
              s.lastSubmittedAt = Math.max(s.lastSubmittedAt ?? m.submittedAt, m.submittedAt);
            }
          }
          if (!page.nextCursor) return s;
          cursor = page.nextCursor;
        }
      },
      /**
       * Move every queued message to `sending` (in flight, as the dispatcher's claim does) without calling a provider,
       * so status callbacks can be ingested for existing, submitted messages. Only with dispatch disabled.
       */
      markSubmitted: async (): Promise<number> => {
        if (built.config.dispatch.enabled) throw new Error('markSubmitted needs dispatch disabled');
        let n = 0;
        for (;;) {
          const { claimed } = await store.claimDue({
            now: Date.now(),
            owner: `bench-${process.pid}`,
            leaseMs: 3_600_000,
            max: 1000,
            windowMs: 1000,
            rates: new Map(),
            defaultMps: 1_000_000_000,
          });
          if (claimed.length === 0) return n;
          n += claimed.length;
        }
      },
    },
    async () => {
      await built.close();
      rmSync(cwd, { recursive: true, force: true });
    },
  );
}

await main();
