/**
 * Conversations API (issue 4): threads per (contact, our sender), both directions.
 *
 *   GET  /v1/conversations                  conversations:read   ?contact=&app=&since=&limit=&cursor=  newest activity first
 *   GET  /v1/conversations/{id}             conversations:read   ?limit=&cursor=  the thread and its messages, newest first
 *   POST /v1/conversations/{id}/messages    conversations:write (+ messages:send)  { body, category?, metadata? }
 *        → the normal send path (POST /v1/messages: validation, consent, idempotency, queue) with `to` = the
 *          contact and `from` pinned to the thread's sender (sticky sender). Same answers (202/200/4xx).
 * A key without `admin` sees the threads its app owns (owner = its name).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.ts';
import { SwitchboardError } from '../errors.ts';
import type { ApiKeyRecord, ConversationRecord, Store, ThreadItem, TimeCursor } from '../store/store.ts';
import { requireScope } from './auth.ts';
import { contactParam } from './consent.ts';
import { DEFAULT_PAGE, errorResponses, MAX_PAGE } from './schemas.ts';
import type { Scope } from './scopes.ts';

export const CONVERSATIONS_READ: Scope = 'conversations:read';
export const CONVERSATIONS_WRITE: Scope = 'conversations:write';

export interface ConversationRoutesOptions {
  store: Store;
  config: Readonly<Config>;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function encodeTimeCursor(c: TimeCursor): string {
  return Buffer.from(JSON.stringify([c.at, c.id])).toString('base64url');
}

export function decodeTimeCursor(s: string): TimeCursor {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isInteger(v[0]) && typeof v[1] === 'string') return { at: v[0] as number, id: v[1] };
  } catch {
    /* below */
  }
  throw new SwitchboardError('SB_CURSOR_INVALID', { field: 'cursor' });
}

function limitOf(raw: string | undefined): number {
  const limit = raw === undefined ? DEFAULT_PAGE : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new SwitchboardError('SB_VALIDATION', { message: `\`limit\` must be an integer from 1 to ${MAX_PAGE}`, field: 'limit' });
  return limit;
}

function apiConversation(c: ConversationRecord) {
  return {
    id: c.id,
    contact: c.contact,
    account: c.account,
    from: c.from,
    program: c.program,
    ownerApp: c.ownerApp,
    lastMessageAt: iso(c.lastMessageAt),
    lastDirection: c.lastDirection,
    createdAt: iso(c.createdAt),
  };
}

function apiItem(i: ThreadItem) {
  return { direction: i.direction, id: i.id, at: iso(i.at), from: i.from, to: i.to, body: i.body, status: i.status, numMedia: i.numMedia };
}

const isAdmin = (k: ApiKeyRecord) => k.scopes.includes('admin');

const conversationSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    contact: { type: 'string' },
    account: { type: 'string' },
    from: { type: 'string' },
    program: { type: 'string' },
    ownerApp: { type: ['string', 'null'] },
    lastMessageAt: { type: 'string' },
    lastDirection: { type: 'string', enum: ['in', 'out'] },
    createdAt: { type: 'string' },
  },
} as const;

const itemSchema = {
  type: 'object',
  properties: {
    direction: { type: 'string', enum: ['in', 'out'] },
    id: { type: 'string' },
    at: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    body: { type: 'string' },
    status: { type: ['string', 'null'] },
    numMedia: { type: 'integer' },
  },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } } as const;
const pageQuery = { limit: { type: 'string', pattern: '^[0-9]{1,6}$' }, cursor: { type: 'string', minLength: 1, maxLength: 300 } } as const;

export async function conversationRoutes(app: FastifyInstance, opts: ConversationRoutesOptions): Promise<void> {
  const { store, config } = opts;
  const read = requireScope(store, CONVERSATIONS_READ);
  const write = requireScope(store, CONVERSATIONS_WRITE);
  const tags = ['conversations'];

  async function visible(request: FastifyRequest, id: string): Promise<ConversationRecord> {
    const c = await store.getConversation(id);
    const key = request.apiKey!;
    if (!c || (!isAdmin(key) && c.ownerApp !== key.name)) throw new SwitchboardError('SB_NOT_FOUND', { message: `No conversation ${id}`, field: 'id' });
    return c;
  }

  app.get<{ Querystring: { contact?: string; app?: string; since?: string; limit?: string; cursor?: string } }>(
    '/v1/conversations',
    {
      onRequest: read,
      schema: {
        summary: 'Conversations, newest activity first',
        tags,
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { contact: { type: 'string', minLength: 1, maxLength: 64 }, app: { type: 'string', minLength: 1, maxLength: 200 }, since: { type: 'string', format: 'date-time' }, ...pageQuery },
        },
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: conversationSchema }, nextCursor: { type: ['string', 'null'] } } },
          ...errorResponses(400, 401, 403, 422),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const key = request.apiKey!;
      const query: Parameters<Store['listConversations']>[0] = { limit: limitOf(q.limit) };
      if (q.contact !== undefined) query.contact = contactParam(q.contact, config);
      if (q.app !== undefined) query.app = q.app;
      if (!isAdmin(key)) query.app = key.name;
      if (q.since !== undefined) query.since = Date.parse(q.since);
      if (q.cursor !== undefined) query.cursor = decodeTimeCursor(q.cursor);
      const page = await store.listConversations(query);
      return { items: page.items.map(apiConversation), nextCursor: page.nextCursor ? encodeTimeCursor(page.nextCursor) : null };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: string; cursor?: string } }>(
    '/v1/conversations/:id',
    {
      onRequest: read,
      schema: {
        summary: 'A conversation with its messages (both directions), newest first',
        tags,
        security: [{ bearer: [] }],
        params: idParams,
        querystring: { type: 'object', additionalProperties: false, properties: pageQuery },
        response: {
          200: {
            type: 'object',
            properties: { ...conversationSchema.properties, messages: { type: 'array', items: itemSchema }, nextCursor: { type: ['string', 'null'] } },
          },
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const c = await visible(request, request.params.id);
      const cursor = request.query.cursor === undefined ? null : decodeTimeCursor(request.query.cursor);
      const page = await store.listConversationMessages(c.id, { limit: limitOf(request.query.limit), cursor });
      return { ...apiConversation(c), messages: page.items.map(apiItem), nextCursor: page.nextCursor ? encodeTimeCursor(page.nextCursor) : null };
    },
  );

  app.post<{ Params: { id: string }; Body: { body: string; category?: string; metadata?: Record<string, unknown>; priority?: number; validFor?: number } }>(
    '/v1/conversations/:id/messages',
    {
      onRequest: write,
      schema: {
        summary: 'Reply in a conversation',
        description: 'Sent through POST /v1/messages with `to` = the contact and `from` = the conversation’s sender (needs `messages:send` too). Idempotency-Key works as there.',
        tags,
        security: [{ bearer: [] }],
        params: idParams,
        body: {
          type: 'object',
          required: ['body'],
          additionalProperties: false,
          properties: {
            body: { type: 'string' },
            category: { type: 'string' },
            priority: { type: 'integer' },
            validFor: { type: 'integer' },
            metadata: { type: 'object' },
          },
        },
        response: { 200: { $ref: 'Message#' }, 202: { $ref: 'Message#' }, ...errorResponses(400, 401, 403, 404, 409, 415, 422) },
      },
    },
    async (request, reply) => {
      const c = await visible(request, request.params.id);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (request.headers.authorization) headers.authorization = request.headers.authorization;
      const idem = request.headers['idempotency-key'];
      if (typeof idem === 'string') headers['idempotency-key'] = idem;
      if (typeof request.headers['x-request-id'] === 'string') headers['x-request-id'] = request.headers['x-request-id'];
      const res = await app.inject({ method: 'POST', url: '/v1/messages', headers, payload: JSON.stringify({ ...request.body, to: c.contact, from: c.from }) });
      for (const h of ['idempotent-replayed'] as const) if (res.headers[h] !== undefined) reply.header(h, res.headers[h] as string);
      return reply.code(res.statusCode).type('application/json; charset=utf-8').send(res.body);
    },
  );
}
