/** Liveness and readiness: /healthz answers while the process runs; /readyz checks the store and migrations. */
import type { FastifyInstance } from 'fastify';
import { SwitchboardError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import { errorResponses } from './schemas.ts';

export interface HealthRoutesOptions {
  store: Store;
  /** Migrations this build applied or found at startup; readiness requires all of them. */
  expectedMigrations: readonly string[];
}

export async function healthRoutes(app: FastifyInstance, opts: HealthRoutesOptions): Promise<void> {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness',
        tags: ['health'],
        response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } } },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: database reachable, migrations applied',
        tags: ['health'],
        response: {
          200: {
            type: 'object',
            properties: { status: { type: 'string', enum: ['ready'] }, store: { type: 'string' }, migrations: { type: 'integer' } },
          },
          ...errorResponses(503),
        },
      },
    },
    async (request) => {
      const { store } = opts;
      let applied: string[];
      try {
        await store.ping();
        applied = await store.appliedMigrations();
      } catch (err) {
        request.log.warn({ err }, 'readiness: store unreachable');
        throw new SwitchboardError('SB_UNAVAILABLE', { message: 'Database unreachable' });
      }
      const missing = opts.expectedMigrations.filter((m) => !applied.includes(m));
      if (applied.length === 0 || missing.length > 0) {
        throw new SwitchboardError('SB_UNAVAILABLE', { message: 'Database migrations not applied; run `switchboard migrate`', details: { missing } });
      }
      return { status: 'ready', store: store.capabilities.name, migrations: applied.length };
    },
  );
}
