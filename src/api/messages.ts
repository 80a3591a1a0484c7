/**
 * /v1/messages routes: send (single, batch), read, list, cancel.
 * Per-message validation (E.164, length, senders, routing) is the pipeline's (`prepareMessage`); this file does
 * the HTTP shape, auth, batching and idempotency.
 *
 * Idempotency: the key is scoped to the API key. First use stores it with the request hash; a replay with the
 * same request returns the original (200, `Idempotent-Replayed: true`), a different request is 409. Concurrent
 * requests with the same key are resolved by the store's unique (keyId, idempotencyKey): one inserts, the other
 * gets the existing record. In a batch, the header derives one key per item: `${key}:${index}`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../domain/clock.ts';
import type { Category, MessageRecord, MessageStatus, NewEvent } from '../domain/message.ts';
import { SwitchboardError } from '../errors.ts';
import { prepareMessage, type PrepareResult } from '../pipeline/accept.ts';
import type { ApiKeyRecord, MessageQuery, Store } from '../store/store.ts';
import { createAcceptBatcher } from './accept-batcher.ts';
import { requireScope } from './auth.ts';
import {
  DEFAULT_PAGE,
  MAX_BATCH,
  MAX_PAGE,
  errorResponses,
  idParamsSchema,
  idempotencyHeaders,
  listQuerySchema,
  errorSchema,
} from './schemas.ts';
import { decodeCursor, encodeCursor, toApiEvent, toApiMessage } from './serialize.ts';

export interface MessageRoutesOptions {
  store: Store;
  config: Readonly<Config>;
  clock: Clock;
  /** Called after new messages were stored (wakes the dispatcher). */
  onAccepted?: (messages: readonly MessageRecord[]) => void;
  /** Accept-time consent and country check (issue 4, src/compliance/consent-service.ts): a refusal per message, or null. */
  compliance?: AcceptCheck;
}

export interface AcceptCheck {
  checkAccept(messages: readonly MessageRecord[]): Promise<(SwitchboardError | null)[]>;
}

const IDEMPOTENCY_KEY_RE = /^[\x20-\x7e]{1,255}$/;

export function parseIdempotencyKey(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || !IDEMPOTENCY_KEY_RE.test(v) || v.trim() === '') {
    throw new SwitchboardError('SB_IDEMPOTENCY_KEY_INVALID', { field: 'Idempotency-Key' });
  }
  return v;
}

/** Non-admin keys see only the messages they created. */
function canSee(key: ApiKeyRecord, m: MessageRecord): boolean {
  return key.scopes.includes('admin') || m.keyId === key.id;
}

type Prepared = PrepareResult;

/** Replay or conflict for an existing record with the same idempotency key. */
function replayOf(existing: MessageRecord, requestHash: string | null): { ok: true; message: MessageRecord } | { ok: false; error: SwitchboardError } {
  if (existing.requestHash !== null && existing.requestHash === requestHash) return { ok: true, message: existing };
  return {
    ok: false,
    error: new SwitchboardError('SB_IDEMPOTENCY_CONFLICT', { field: 'Idempotency-Key', details: { messageId: existing.id } }),
  };
}

export async function messageRoutes(app: FastifyInstance, opts: MessageRoutesOptions): Promise<void> {
  const { store, config, clock } = opts;
  const onAccepted = opts.onAccepted ?? (() => {});
  const send = requireScope(store, 'messages:send');
  const read = requireScope(store, 'messages:read');
  const accept = createAcceptBatcher(store, opts.compliance);

  async function prepare(input: unknown, key: ApiKeyRecord, now: number, idempotencyKey: string | null): Promise<Prepared> {
    try {
      return prepareMessage(input, { config, key: { id: key.id, name: key.name, account: key.account }, now, idempotencyKey });
    } catch (err) {
      if (err instanceof SwitchboardError) return { ok: false, error: err };
      throw err;
    }
  }

  // ---------------------------------------------------------------- POST /v1/messages
  app.post(
    '/v1/messages',
    {
      onRequest: send,
      schema: {
        summary: 'Send a message',
        description: 'Validates, stores durably and queues one message. 202 = stored. With `Idempotency-Key`, a replay returns the original (200).',
        tags: ['messages'],
        security: [{ bearer: [] }],
        headers: idempotencyHeaders,
        body: { $ref: 'SendMessage#' },
        response: {
          200: { $ref: 'Message#', description: 'Idempotent replay: the original message.' },
          202: { $ref: 'Message#', description: 'Accepted and stored.' },
          ...errorResponses(400, 401, 403, 409, 413, 415, 422),
        },
      },
    },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const key = request.apiKey!;
      const idem = parseIdempotencyKey(request.headers['idempotency-key']);
      const now = clock.now();
      const r = await prepare(request.body, key, now, idem);
      if (!r.ok) throw r.error;
      if (idem !== null) {
        const existing = await store.findByIdempotencyKey(key.id, idem);
        if (existing) return replay(reply, replayOf(existing, r.message.requestHash));
      }
      const accepted = await accept({ message: r.message, events: r.events });
      if (accepted.refused) throw accepted.refused;
      const out = accepted.outcome;
      if (!out.inserted) return replay(reply, replayOf(out.existing, r.message.requestHash));
      onAccepted([out.message]);
      request.log.info({ messageId: out.message.id, segments: out.message.segments }, 'message accepted');
      return reply.code(202).send(toApiMessage(out.message));
    },
  );

  function replay(reply: FastifyReply, r: ReturnType<typeof replayOf>): FastifyReply {
    if (!r.ok) throw r.error;
    return reply.code(200).header('idempotent-replayed', 'true').send(toApiMessage(r.message));
  }

  // ---------------------------------------------------------------- POST /v1/messages/batch
  app.post(
    '/v1/messages/batch',
    {
      onRequest: send,
      // Items are validated one by one (prepareMessage), so one bad item does not sink the rest: the schema
      // below documents the body, and a failed check of it is ignored (`attachValidation`).
      attachValidation: true,
      bodyLimit: 32 * 1024 * 1024,
      schema: {
        summary: 'Send up to 1,000 messages',
        description:
          'Each item is validated and stored on its own; `results[i]` says what happened to `messages[i]`. 202 when every item was accepted (or replayed), 207 when some failed. With `Idempotency-Key: K`, item i uses the key `K:i`.',
        tags: ['messages'],
        security: [{ bearer: [] }],
        headers: idempotencyHeaders,
        body: {
          type: 'object',
          required: ['messages'],
          properties: { messages: { type: 'array', minItems: 1, maxItems: MAX_BATCH, items: { $ref: 'SendMessage#' } } },
        },
        response: {
          202: { $ref: 'BatchResult#' },
          207: { $ref: 'BatchResult#' },
          ...errorResponses(400, 401, 403, 413, 415, 422),
        },
      },
    },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const key = request.apiKey!;
      const idem = parseIdempotencyKey(request.headers['idempotency-key']);
      const body = request.body as { messages?: unknown } | null;
      const list = body && typeof body === 'object' && !Array.isArray(body) ? body.messages : undefined;
      if (!Array.isArray(list)) throw new SwitchboardError('SB_VALIDATION', { message: '`messages` must be an array of messages', field: 'messages' });
      if (list.length === 0) throw new SwitchboardError('SB_VALIDATION', { message: '`messages` must not be empty', field: 'messages' });
      if (list.length > MAX_BATCH) throw new SwitchboardError('SB_BATCH_TOO_LARGE', { field: 'messages', details: { max: MAX_BATCH, got: list.length } });
      const extra = Object.keys(body as object).find((k) => k !== 'messages');
      if (extra) throw new SwitchboardError('SB_VALIDATION', { message: `\`${extra}\` is not a known field`, field: extra });

      const now = clock.now();
      type Result = { index: number; ok: boolean; message?: MessageRecord; error?: SwitchboardError; replayed?: boolean };
      const results: Result[] = [];
      const toInsert: { index: number; message: MessageRecord; events: NewEvent[] }[] = [];
      for (let index = 0; index < list.length; index++) {
        const item = list[index];
        const itemKey = idem === null ? null : `${idem}:${index}`;
        const r = await prepare(item, key, now, itemKey);
        if (!r.ok) {
          results[index] = { index, ok: false, error: r.error };
          continue;
        }
        if (itemKey !== null) {
          const existing = await store.findByIdempotencyKey(key.id, itemKey);
          if (existing) {
            const rp = replayOf(existing, r.message.requestHash);
            results[index] = rp.ok ? { index, ok: true, message: rp.message, replayed: true } : { index, ok: false, error: rp.error };
            continue;
          }
        }
        toInsert.push({ index, message: r.message, events: r.events });
      }
      if (opts.compliance && toInsert.length > 0) {
        const refusals = await opts.compliance.checkAccept(toInsert.map((t) => t.message));
        for (let i = toInsert.length - 1; i >= 0; i--) {
          const refusal = refusals[i];
          if (!refusal) continue;
          const { index } = toInsert[i]!;
          results[index] = { index, ok: false, error: new SwitchboardError(refusal.code, { message: refusal.message, field: `messages[${index}].to`, details: refusal.details }) };
          toInsert.splice(i, 1);
        }
      }
      const stored: MessageRecord[] = [];
      if (toInsert.length > 0) {
        const outs = await store.insertMessages(toInsert.map(({ message, events }) => ({ message, events })));
        outs.forEach((out, i) => {
          const { index, message } = toInsert[i]!;
          if (out.inserted) {
            stored.push(out.message);
            results[index] = { index, ok: true, message: out.message };
          } else {
            const rp = replayOf(out.existing, message.requestHash);
            results[index] = rp.ok ? { index, ok: true, message: rp.message, replayed: true } : { index, ok: false, error: rp.error };
          }
        });
      }
      const inserted = stored.length;
      if (inserted > 0) onAccepted(stored);
      const failed = results.filter((r) => !r.ok).length;
      request.log.info({ items: list.length, accepted: inserted, failed }, 'batch accepted');
      return reply.code(failed === 0 ? 202 : 207).send({
        accepted: inserted,
        failed,
        results: results.map((r) => ({
          index: r.index,
          ok: r.ok,
          ...(r.message ? { message: toApiMessage(r.message) } : {}),
          ...(r.replayed ? { replayed: true } : {}),
          ...(r.error ? r.error.toBody() : {}),
        })),
      });
    },
  );

  // ---------------------------------------------------------------- GET /v1/messages/:id
  app.get(
    '/v1/messages/:id',
    {
      onRequest: read,
      schema: {
        summary: 'A message with its timeline',
        tags: ['messages'],
        security: [{ bearer: [] }],
        params: idParamsSchema,
        response: { 200: { $ref: 'MessageWithEvents#' }, ...errorResponses(401, 403, 404) },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>) => {
      const m = await store.getMessage(request.params.id);
      if (!m || !canSee(request.apiKey!, m)) throw new SwitchboardError('SB_NOT_FOUND', { message: `No message ${request.params.id}`, field: 'id' });
      const events = await store.listEvents(m.id);
      return { ...toApiMessage(m), events: events.map(toApiEvent) };
    },
  );

  // ---------------------------------------------------------------- GET /v1/messages
  app.get(
    '/v1/messages',
    {
      onRequest: read,
      schema: {
        summary: 'List messages, newest first',
        description: 'Cursor paging: pass `nextCursor` back as `cursor` until it is null.',
        tags: ['messages'],
        security: [{ bearer: [] }],
        querystring: listQuerySchema,
        response: {
          200: {
            type: 'object',
            required: ['items', 'nextCursor'],
            properties: { items: { type: 'array', items: { $ref: 'Message#' } }, nextCursor: { type: ['string', 'null'] } },
          },
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request: FastifyRequest<{ Querystring: { status?: MessageStatus; to?: string; category?: Category; since?: string; until?: string; limit?: string; cursor?: string } }>) => {
      const q = request.query;
      const limit = q.limit === undefined ? DEFAULT_PAGE : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
        throw new SwitchboardError('SB_VALIDATION', { message: `\`limit\` must be an integer from 1 to ${MAX_PAGE}`, field: 'limit' });
      }
      const query: MessageQuery = { limit };
      if (q.status) query.status = q.status;
      if (q.category) query.category = q.category;
      // A '+' in a query string decodes to a space: "?to=+1415…" arrives as " 1415…".
      if (q.to !== undefined) query.to = q.to.replace(/^ (?=\d)/, '+').trim();
      if (q.since !== undefined) query.since = parseTime(q.since, 'since');
      if (q.until !== undefined) query.until = parseTime(q.until, 'until');
      if (q.cursor !== undefined) query.cursor = decodeCursor(q.cursor);
      const key = request.apiKey!;
      if (!key.scopes.includes('admin')) query.keyId = key.id;
      const page = await store.listMessages(query);
      return { items: page.items.map(toApiMessage), nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null };
    },
  );

  // ---------------------------------------------------------------- POST /v1/messages/:id/cancel
  app.post(
    '/v1/messages/:id/cancel',
    {
      onRequest: send,
      schema: {
        summary: 'Cancel a message not yet submitted',
        description: 'Only a `queued` message can be canceled; otherwise 409 SB_NOT_CANCELABLE.',
        tags: ['messages'],
        security: [{ bearer: [] }],
        params: idParamsSchema,
        response: { 200: { $ref: 'Message#' }, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>) => {
      const id = request.params.id;
      const current = await store.getMessage(id);
      if (!current || !canSee(request.apiKey!, current)) throw new SwitchboardError('SB_NOT_FOUND', { message: `No message ${id}`, field: 'id' });
      const now = clock.now();
      const rec = await store.transition({
        id,
        from: ['queued'],
        patch: { status: 'canceled', completedAt: now, leaseOwner: null, leaseExpiresAt: null },
        now,
        event: { messageId: id, type: 'canceled', status: 'canceled', at: now, detail: { by: request.apiKey!.name } },
      });
      if (!rec) {
        const latest = (await store.getMessage(id)) ?? current;
        throw new SwitchboardError('SB_NOT_CANCELABLE', {
          message: `Message is ${latest.status}; only a queued message can be canceled`,
          details: { status: latest.status },
        });
      }
      request.log.info({ messageId: id }, 'message canceled');
      return toApiMessage(rec);
    },
  );
}

function parseTime(v: string, field: string): number {
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new SwitchboardError('SB_VALIDATION', { message: `\`${field}\` must be an ISO 8601 date-time`, field });
  return t;
}

export const batchResultSchema = {
  $id: 'BatchResult',
  type: 'object',
  required: ['accepted', 'failed', 'results'],
  properties: {
    accepted: { type: 'integer', description: 'Items stored now.' },
    failed: { type: 'integer' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['index', 'ok'],
        properties: {
          index: { type: 'integer' },
          ok: { type: 'boolean' },
          replayed: { type: 'boolean', description: 'Idempotent replay of an earlier item.' },
          message: { $ref: 'Message#' },
          error: errorSchema.properties.error,
        },
      },
    },
  },
} as const;
