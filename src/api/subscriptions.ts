/**
 * Event subscriptions API (issue 4): apps subscribe a URL to event types; deliveries are signed, retried ≥ 24 h,
 * logged, and replayable. docs/guides/compliance.md "Events to apps".
 *
 *   POST   /v1/subscriptions                    { url, events[] } → 201 { id, url, events, secret } (secret shown once)
 *   GET    /v1/subscriptions                    the key's subscriptions (admin: all), no secrets
 *   DELETE /v1/subscriptions/{id}               204; pending deliveries are dropped (failed)
 *   GET    /v1/subscriptions/{id}/deliveries    delivery log, newest first, cursor paged
 *   POST   /v1/deliveries/{id}/replay           202 the delivery, pending again (a new 26 h retry window)
 * Scope `subscriptions:manage`. A key sees and replays only its own subscriptions; `admin` sees all.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../domain/clock.ts';
import { ulid } from '../domain/ids.ts';
import { SwitchboardError } from '../errors.ts';
import type { EventsConfig } from '../compliance/config.ts';
import { urlPolicy } from '../events/deliverer.ts';
import { APP_EVENT_TYPES, type AppEventType } from '../events/types.ts';
import { checkWebhookUrl } from '../events/url-policy.ts';
import type { ApiKeyRecord, DeliveryRow, OutboxRow, Store, SubscriptionRecord } from '../store/store.ts';
import { requireScope } from './auth.ts';
import { DEFAULT_PAGE, errorResponses, MAX_PAGE } from './schemas.ts';
import type { Scope } from './scopes.ts';

export const SUBSCRIPTIONS_MANAGE: Scope = 'subscriptions:manage';

export interface SubscriptionRoutesOptions {
  store: Store;
  clock: Clock;
  events: EventsConfig;
  /** Called after a replay (wakes the deliverer). */
  onEnqueued?: () => void;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function apiSubscription(s: SubscriptionRecord) {
  return { id: s.id, url: s.url, events: s.events, app: s.app, status: s.status, disabledReason: s.disabledReason, createdAt: iso(s.createdAt) };
}

function apiDelivery(d: DeliveryRow) {
  return {
    deliveryId: d.outboxId,
    eventId: d.eventId,
    type: d.type,
    attempt: d.attempt,
    startedAt: iso(d.startedAt),
    durationMs: d.durationMs,
    httpStatus: d.httpStatus,
    error: d.error,
    outcome: d.outcome,
  };
}

function apiOutbox(o: OutboxRow) {
  return {
    deliveryId: o.id,
    eventId: o.eventId,
    subscriptionId: o.subscriptionId,
    type: o.type,
    status: o.status,
    attempts: o.attempts,
    nextAttemptAt: iso(o.nextAttemptAt),
    createdAt: iso(o.createdAt),
  };
}

const canManage = (key: ApiKeyRecord, s: SubscriptionRecord) => key.scopes.includes('admin') || s.keyId === key.id;

const subscriptionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string' } },
    app: { type: 'string' },
    status: { type: 'string' },
    disabledReason: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    secret: { type: 'string', description: 'Signing secret; only in the 201 answer.' },
  },
} as const;

export async function subscriptionRoutes(app: FastifyInstance, opts: SubscriptionRoutesOptions): Promise<void> {
  const { store, clock } = opts;
  const manage = requireScope(store, SUBSCRIPTIONS_MANAGE);
  const policy = urlPolicy(opts.events);
  const tags = ['events'];

  async function own(request: FastifyRequest, id: string): Promise<SubscriptionRecord> {
    const s = await store.getSubscription(id);
    if (!s || s.deletedAt !== null || !canManage(request.apiKey!, s)) throw new SwitchboardError('SB_NOT_FOUND', { message: `No subscription ${id}`, field: 'id' });
    return s;
  }

  app.post<{ Body: { url: string; events: AppEventType[] } }>(
    '/v1/subscriptions',
    {
      onRequest: manage,
      schema: {
        summary: 'Subscribe a URL to events',
        description: `Events: ${APP_EVENT_TYPES.join(', ')}. The URL must be http(s) and public unless the config allows loopback/private addresses (422 SB_WEBHOOK_URL_REJECTED). The signing secret is returned once.`,
        tags,
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          required: ['url', 'events'],
          additionalProperties: false,
          properties: {
            url: { type: 'string', minLength: 1, maxLength: 2048 },
            events: { type: 'array', minItems: 1, maxItems: APP_EVENT_TYPES.length, uniqueItems: true, items: { type: 'string', enum: [...APP_EVENT_TYPES] } },
          },
        },
        response: { 201: subscriptionSchema, ...errorResponses(400, 401, 403, 415, 422) },
      },
    },
    async (request, reply) => {
      const check = checkWebhookUrl(request.body.url, policy);
      if (!check.ok) throw new SwitchboardError('SB_WEBHOOK_URL_REJECTED', { message: `The subscription URL is not allowed: ${check.reason}`, field: 'url' });
      const now = clock.now();
      const key = request.apiKey!;
      const secret = `whsec_${randomBytes(24).toString('base64url')}`;
      const s: SubscriptionRecord = {
        id: `sub_${ulid(now).toLowerCase()}`,
        keyId: key.id,
        app: key.name,
        url: check.url.toString(),
        events: request.body.events,
        secrets: [secret],
        status: 'active',
        disabledReason: null,
        createdAt: now,
        deletedAt: null,
      };
      await store.createSubscription(s);
      request.log.info({ subscriptionId: s.id, events: s.events }, 'subscription created');
      return reply.code(201).send({ ...apiSubscription(s), secret });
    },
  );

  app.get(
    '/v1/subscriptions',
    {
      onRequest: manage,
      schema: {
        summary: "The key's subscriptions (admin: all)",
        tags,
        security: [{ bearer: [] }],
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: subscriptionSchema } } }, ...errorResponses(401, 403) },
      },
    },
    async (request: FastifyRequest) => {
      const key = request.apiKey!;
      const list = await store.listSubscriptions(key.scopes.includes('admin') ? {} : { keyId: key.id });
      return { items: list.map(apiSubscription) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/subscriptions/:id',
    {
      onRequest: manage,
      schema: {
        summary: 'Delete a subscription',
        tags,
        security: [{ bearer: [] }],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const s = await own(request, request.params.id);
      await store.deleteSubscription(s.id, clock.now());
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/subscriptions/:id/deliveries',
    {
      onRequest: manage,
      schema: {
        summary: 'Delivery log of a subscription, newest first',
        tags,
        security: [{ bearer: [] }],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'string', pattern: '^[0-9]{1,6}$' }, cursor: { type: 'string', pattern: '^[0-9]{1,18}$' } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    deliveryId: { type: 'string' },
                    eventId: { type: 'string' },
                    type: { type: 'string' },
                    attempt: { type: 'integer' },
                    startedAt: { type: 'string' },
                    durationMs: { type: ['integer', 'null'] },
                    httpStatus: { type: ['integer', 'null'] },
                    error: { type: ['string', 'null'] },
                    outcome: { type: 'string' },
                  },
                },
              },
              nextCursor: { type: ['string', 'null'] },
            },
          },
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string }; Querystring: { limit?: string; cursor?: string } }>) => {
      const s = await own(request, request.params.id);
      const limit = request.query.limit === undefined ? DEFAULT_PAGE : Number(request.query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new SwitchboardError('SB_VALIDATION', { message: `\`limit\` must be an integer from 1 to ${MAX_PAGE}`, field: 'limit' });
      const cursor = request.query.cursor === undefined ? null : { seq: Number(request.query.cursor) };
      const page = await store.listDeliveries(s.id, { limit, cursor });
      return { items: page.items.map(apiDelivery), nextCursor: page.nextCursor ? String(page.nextCursor.seq) : null };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/deliveries/:id/replay',
    {
      onRequest: manage,
      schema: {
        summary: 'Deliver an event again',
        description: 'A delivered or failed delivery becomes pending now, with the same event id and body (apps dedupe on `Switchboard-Event-Id`). 409 SB_NOT_CANCELABLE-style conflicts are reported as 404 while it is in progress.',
        tags,
        security: [{ bearer: [] }],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
        response: {
          202: {
            type: 'object',
            properties: {
              deliveryId: { type: 'string' },
              eventId: { type: 'string' },
              subscriptionId: { type: 'string' },
              type: { type: 'string' },
              status: { type: 'string' },
              attempts: { type: 'integer' },
              nextAttemptAt: { type: 'string' },
              createdAt: { type: 'string' },
            },
          },
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const row = await store.getOutboxRow(request.params.id);
      if (!row) throw new SwitchboardError('SB_NOT_FOUND', { message: `No delivery ${request.params.id}`, field: 'id' });
      await own(request, row.subscriptionId);
      const replayed = await store.replayDelivery(row.id, clock.now());
      if (!replayed) throw new SwitchboardError('SB_NOT_FOUND', { message: `Delivery ${row.id} is ${row.status}; only a delivered or failed delivery can be replayed`, field: 'id' });
      opts.onEnqueued?.();
      return reply.code(202).send(apiOutbox(replayed));
    },
  );
}
