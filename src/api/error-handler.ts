/**
 * One error shape for everything, including Fastify's own errors:
 * `{ error: { code, message, field? } }`. Bad input is always a 4xx with a stable SB_ code, never a 5xx.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SwitchboardError, type ErrorCode } from '../errors.ts';

interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  message?: string;
}

/** "/messages/0/to" + missingProperty → "messages[0].to". */
export function fieldOf(issue: ValidationIssue, context: string | undefined): string {
  const parts = (issue.instancePath ?? '').split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const extra = issue.params?.missingProperty ?? issue.params?.additionalProperty;
  if (typeof extra === 'string') parts.push(extra);
  let field = '';
  for (const p of parts) field += /^\d+$/.test(p) ? `[${p}]` : field ? `.${p}` : p;
  if (!field) return context === 'body' || context === undefined ? 'body' : context;
  return field;
}

function describe(issue: ValidationIssue, field: string): string {
  switch (issue.keyword) {
    case 'required':
      return `\`${field}\` is required`;
    case 'additionalProperties':
      return `\`${field}\` is not a known field`;
    case 'enum':
      return `\`${field}\` must be one of: ${(issue.params?.allowedValues as unknown[] | undefined)?.join(', ') ?? '?'}`;
    default:
      return `\`${field}\` ${issue.message ?? 'is invalid'}`;
  }
}

/** Map any error thrown in a request to a SwitchboardError. */
export function toSwitchboardError(err: FastifyError & { validation?: ValidationIssue[]; validationContext?: string }): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  if (Array.isArray(err.validation) && err.validation.length > 0) {
    const issue = err.validation[0]!;
    const field = fieldOf(issue, err.validationContext);
    return new SwitchboardError('SB_VALIDATION', { message: describe(issue, field), field });
  }
  const map: Record<string, ErrorCode> = {
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'SB_UNSUPPORTED_MEDIA_TYPE',
    FST_ERR_CTP_BODY_TOO_LARGE: 'SB_BODY_TOO_LARGE',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'SB_BODY_MALFORMED',
    FST_ERR_CTP_INVALID_JSON_BODY: 'SB_BODY_MALFORMED',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'SB_BODY_MALFORMED',
    FST_ERR_NOT_FOUND: 'SB_ROUTE_NOT_FOUND',
  };
  const code = err.code ? map[err.code] : undefined;
  if (code === 'SB_BODY_MALFORMED' && err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new SwitchboardError(code, { message: 'Request body is empty but Content-Type is application/json', field: 'body' });
  }
  if (code) return new SwitchboardError(code, code === 'SB_BODY_MALFORMED' ? { field: 'body' } : {});
  const status = err.statusCode ?? 500;
  if (err instanceof SyntaxError && status === 400) return new SwitchboardError('SB_BODY_MALFORMED', { field: 'body' });
  if (status === 404) return new SwitchboardError('SB_NOT_FOUND');
  if (status === 405) return new SwitchboardError('SB_METHOD_NOT_ALLOWED');
  if (status === 413) return new SwitchboardError('SB_BODY_TOO_LARGE');
  if (status === 415) return new SwitchboardError('SB_UNSUPPORTED_MEDIA_TYPE');
  if (status === 429) return new SwitchboardError('SB_RATE_LIMITED');
  if (status === 503) return new SwitchboardError('SB_UNAVAILABLE');
  if (status >= 400 && status < 500) return new SwitchboardError('SB_VALIDATION', { message: err.message });
  return new SwitchboardError('SB_INTERNAL');
}

export function sendError(reply: FastifyReply, e: SwitchboardError): FastifyReply {
  return reply.code(e.status).type('application/json; charset=utf-8').send(e.toBody());
}

/** Route pattern → regex ("/v1/messages/:id" → ^/v1/messages/[^/]+$). */
function patternRe(url: string): RegExp {
  const src = url
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${src}/?$`);
}

/**
 * Install the error and not-found handlers on `app` (inherited by child plugins that do not set their own).
 * Call before routes are added: an onRoute hook remembers them, so a known path with the wrong method is a 405.
 */
export function installErrorHandling(app: FastifyInstance): void {
  const known: { method: string; re: RegExp }[] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const re = patternRe(r.url);
    for (const method of methods) known.push({ method: String(method), re });
  });
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const e = toSwitchboardError(err);
    if (e.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: e.code, field: e.field }, 'request rejected');
    return sendError(reply, e);
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0]!;
    const allowed = [...new Set(known.filter((k) => k.re.test(path)).map((k) => k.method))];
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendError(reply, new SwitchboardError('SB_METHOD_NOT_ALLOWED', { message: `${request.method} is not allowed here; use ${allowed.join(', ')}` }));
    }
    return sendError(reply, new SwitchboardError('SB_ROUTE_NOT_FOUND', { message: `No such endpoint: ${request.method} ${path}` }));
  });
}
