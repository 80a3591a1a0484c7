/**
 * `GET /metrics` (Prometheus text format) and the HTTP hook that counts rejected provider webhooks.
 * Registered with `skip-override` (like fastify-plugin), so its hook sees routes registered after it in the app,
 * including the webhook plugin's own encapsulated context: register it before the webhook routes.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { SwitchboardMetrics } from './metrics.ts';

export interface MetricsPluginOptions {
  metrics: SwitchboardMetrics;
  /** Path served (default `/metrics`). */
  path?: string;
  /** URL prefix of provider webhooks, `/webhooks/<provider>/<kind>` (default `/webhooks/`). */
  webhookPrefix?: string;
}

/** Switchboard error code of an error response body (`{ error: { code } }`), else `HTTP_<status>`. */
export function rejectionCode(payload: unknown, statusCode: number): string {
  if (typeof payload === 'string' && payload.startsWith('{')) {
    try {
      const code = (JSON.parse(payload) as { error?: { code?: unknown } }).error?.code;
      if (typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code)) return code;
    } catch {
      /* not JSON: fall through */
    }
  }
  return `HTTP_${statusCode}`;
}

async function plugin(app: FastifyInstance, opts: MetricsPluginOptions): Promise<void> {
  const { metrics } = opts;
  const prefix = opts.webhookPrefix ?? '/webhooks/';
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 400 && request.url.startsWith(prefix)) {
      const [provider = 'unknown', kind = 'unknown'] = request.url.slice(prefix.length).split(/[/?#]/);
      metrics.webhookRejected(provider, kind, rejectionCode(payload, reply.statusCode));
    }
    return payload;
  });
  app.get(opts.path ?? '/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const text = await metrics.text();
    return reply.type(metrics.registry.contentType).send(text);
  });
}

// Same effect as wrapping with fastify-plugin: the hook applies to the parent context.
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'switchboard-metrics';

export const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = plugin;
