/**
 * The sandbox standalone: its own Fastify app with the plugin at prefix ''. Used by `switchboard sandbox
 * --port 4010`, by tests (port 0) and by benchmarks. Switchboard itself mounts `sandboxPlugin` at /sandbox.
 */
import Fastify from 'fastify';
import { createSandbox, type SandboxEngine, type SandboxOptions } from './engine.ts';
import { sandboxPlugin } from './plugin.ts';

export interface SandboxServerOptions extends SandboxOptions {
  host?: string;
  /** 0 = ephemeral. */
  port?: number;
  /** Require `Authorization: Bearer <controlToken>` on the control API. */
  controlToken?: string;
  /** Fastify logger (default off). */
  logger?: boolean;
}

export interface SandboxServer {
  /** Base URL of the Twilio API: append `/2010-04-01/Accounts/{sid}/Messages.json`. */
  url: string;
  sandbox: SandboxEngine;
  close(): Promise<void>;
}

export async function startSandboxServer(opts: SandboxServerOptions = {}): Promise<SandboxServer> {
  const { host = '127.0.0.1', port = 4010, controlToken, logger = false, ...engineOpts } = opts;
  const sandbox = createSandbox(engineOpts);
  const app = Fastify({ logger, forceCloseConnections: true, bodyLimit: 4 * 1024 * 1024 });
  await app.register(sandboxPlugin, { engine: sandbox, ...(controlToken ? { controlToken } : {}) });
  await app.listen({ host, port });
  const addr = app.server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${actualPort}`,
    sandbox,
    close: () =>
      (closing ??= (async () => {
        await sandbox.close();
        await app.close();
      })()),
  };
}

export { createSandbox, sandboxPlugin };
export type { SandboxEngine, SandboxOptions };
