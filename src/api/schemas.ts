/**
 * JSON schemas of the v1 API. Fastify validates requests and serialises responses with them, and
 * @fastify/swagger builds /openapi.json from the same objects, so the document cannot drift.
 */
import { CATEGORIES, MESSAGE_STATUSES } from '../domain/message.ts';
import { ERRORS } from '../errors.ts';

export const MAX_BATCH = 1000;
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 50;

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every error Switchboard returns has this shape; codes are listed in docs/reference/errors.md.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERRORS) },
        message: { type: 'string' },
        field: { type: 'string', description: 'The request field at fault, when there is one.' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

/** The body of POST /v1/messages (and each item of a batch). Content rules (E.164, length, senders) live in the pipeline. */
export const sendMessageSchema = {
  $id: 'SendMessage',
  type: 'object',
  required: ['to', 'body'],
  additionalProperties: false,
  properties: {
    to: { type: 'string', minLength: 1, maxLength: 64, description: 'E.164 (+14155550123), or national format with a configured default country.' },
    body: { type: 'string', description: 'Up to 1,600 characters.' },
    from: { type: 'string', minLength: 1, maxLength: 64, description: 'A configured sender; omitted = chosen by routing.' },
    category: { type: 'string', enum: [...CATEGORIES], description: 'otp | transactional | promotional (default transactional).' },
    priority: { type: 'integer', minimum: 0, maximum: 9, description: 'Overrides the category default (otp 9, transactional 5, promotional 1).' },
    validFor: { type: 'integer', description: 'Seconds before the message expires instead of being sent (1–36000).' },
    metadata: { type: 'object', additionalProperties: true, description: 'Your own data, returned as given.' },
  },
} as const;

export const messageSchema = {
  $id: 'Message',
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: [...MESSAGE_STATUSES] },
    to: { type: 'string' },
    from: { type: 'string' },
    body: { type: 'string' },
    segments: { type: 'integer' },
    encoding: { type: 'string', enum: ['GSM-7', 'UCS-2'] },
    category: { type: 'string', enum: [...CATEGORIES] },
    priority: { type: 'integer' },
    account: { type: 'string' },
    provider: { type: 'string' },
    metadata: { type: ['object', 'null'], additionalProperties: true },
    providerMessageId: { type: ['string', 'null'] },
    providerStatus: { type: ['string', 'null'] },
    errorCode: { type: ['string', 'null'] },
    errorMessage: { type: ['string', 'null'] },
    attempts: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    submittedAt: { type: ['string', 'null'], format: 'date-time' },
    completedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

export const eventSchema = {
  $id: 'MessageEvent',
  type: 'object',
  required: ['type', 'at'],
  properties: {
    type: { type: 'string' },
    status: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    detail: { type: 'object', additionalProperties: true },
  },
} as const;

export const messageWithEventsSchema = {
  $id: 'MessageWithEvents',
  type: 'object',
  properties: {
    ...messageSchema.properties,
    events: { type: 'array', items: { $ref: 'MessageEvent#' } },
  },
} as const;

export const sharedSchemas = [errorSchema, sendMessageSchema, messageSchema, eventSchema, messageWithEventsSchema] as const;

export const errorRef = { $ref: 'Error#' } as const;

export function errorResponses(...statuses: number[]): Record<number, typeof errorRef> {
  const out: Record<number, typeof errorRef> = {};
  for (const s of statuses) out[s] = errorRef;
  return out;
}

export const idempotencyHeaders = {
  type: 'object',
  properties: {
    'idempotency-key': { type: 'string', description: 'Same key + same request → 200 with the original; different request → 409.' },
  },
} as const;

export const listQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: [...MESSAGE_STATUSES] },
    to: { type: 'string', minLength: 1, maxLength: 64 },
    category: { type: 'string', enum: [...CATEGORIES] },
    since: { type: 'string', format: 'date-time', description: 'createdAt >= since (ISO 8601).' },
    until: { type: 'string', format: 'date-time', description: 'createdAt < until (ISO 8601).' },
    limit: { type: 'string', pattern: '^[0-9]{1,6}$', description: `Page size, 1–${MAX_PAGE} (default ${DEFAULT_PAGE}).` },
    cursor: { type: 'string', minLength: 1, maxLength: 200, description: '`nextCursor` from the previous page.' },
  },
} as const;

export const idParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;
