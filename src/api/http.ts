/** The Fastify instance with Switchboard's settings: logging (masked), request ids, body limit, strict JSON validation. */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { maskNumber } from '../compliance/retention.ts';
import type { Config } from '../config/schema.ts';
import { ulid } from '../domain/ids.ts';

export interface HttpOptions {
  logLevel: Config['logLevel'];
  /** A pino logger to use instead of making one. */
  log?: FastifyBaseLogger;
  /** Serve on this (already listening) server instead of creating one at listen(). */
  server?: Server;
}

/** Default body limit; the batch route allows more. */
export const BODY_LIMIT = 1024 * 1024;

/** Mask phone numbers in a URL for logs ("?to=+14155550100" → "?to=+*******0100"). */
export function maskUrl(url: string): string {
  // Whole path segments or query values that are phone numbers (optionally +, %2B or whatsapp:); ids are left alone.
  return url.replace(/(^|[/=])((?:whatsapp(?::|%3A))?(?:%2B|\+|%20| )?\d{6,15})(?=$|[/?&#])/gi, (_m, lead: string, num: string) => {
    const plain = num.replace(/%3A/i, ':').replace(/%2B|%20| /i, '+');
    return lead + maskNumber(plain);
  });
}

const REQUEST_ID_RE = /^[\w.:-]{1,128}$/;

export function createFastify(opts: HttpOptions): FastifyInstance {
  const server = opts.server;
  // Never bodies; numbers in URLs masked to their last 4 digits (also on a logger passed in).
  const serializers = { req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: maskUrl(req.url), id: req.id }) };
  return Fastify({
    ...(opts.log ? { loggerInstance: opts.log.child({}, { serializers }) } : { logger: { level: opts.logLevel, serializers } }),
    ...(server ? { serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => (server.on('request', handler), server) } : {}),
    bodyLimit: BODY_LIMIT,
    requestIdHeader: false,
    // The caller's x-request-id when it is sane, else ours; echoed on every response (api/index.ts).
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : `req_${ulid().toLowerCase()}`;
    },
    // No coercion: the body must carry the right JSON types (the pipeline checks them too); query values are strings.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
    forceCloseConnections: true,
  });
}
