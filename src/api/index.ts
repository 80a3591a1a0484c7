/**
 * The HTTP edge, assembled: shared schemas, OpenAPI generation, one error shape, request ids, health and /v1 routes.
 * `registerApi` must run before any other routes are added so /openapi.json sees them all.
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../domain/clock.ts';
import type { MessageRecord } from '../domain/message.ts';
import type { Store } from '../store/store.ts';
import { installErrorHandling } from './error-handler.ts';
import { healthRoutes } from './health.ts';
import { batchResultSchema, messageRoutes, type AcceptCheck } from './messages.ts';
import { sharedSchemas } from './schemas.ts';
import { SCOPES } from './scopes.ts';

export interface ApiOptions {
  store: Store;
  config: Readonly<Config>;
  clock: Clock;
  expectedMigrations: readonly string[];
  /** New messages were stored (not replays): wake the dispatcher, count them. */
  onAccepted?: (messages: readonly MessageRecord[]) => void;
  /** Accept-time consent/country check (issue 4). */
  compliance?: AcceptCheck;
  version?: string;
}

export async function registerApi(app: FastifyInstance, opts: ApiOptions): Promise<void> {
  for (const s of sharedSchemas) app.addSchema(s);
  app.addSchema(batchResultSchema);
  app.decorateRequest('apiKey', null);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Switchboard API',
        version: opts.version ?? '1',
        description: `Internal messaging API. Auth: \`Authorization: Bearer <key>\`. Scopes: ${SCOPES.join(', ')} (admin grants all).`,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    // The sandbox carrier (mounted at /sandbox in development) speaks Twilio's API, not ours: not documented here.
    transform: ({ schema, url }) => ({ schema: url.startsWith('/sandbox') ? { ...(schema ?? {}), hide: true } : schema, url }) as never,
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });

  installErrorHandling(app);

  // Echo the request id (ours or the caller's x-request-id) on every response.
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(healthRoutes, { store: opts.store, expectedMigrations: opts.expectedMigrations });
  await app.register(messageRoutes, { store: opts.store, config: opts.config, clock: opts.clock, onAccepted: opts.onAccepted, compliance: opts.compliance });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
