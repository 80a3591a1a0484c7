/**
 * Structured logs without personal data: no message bodies, phone numbers masked to their last 4 digits
 * (`maskNumber`), request ids kept. `createLogger(level)` gives the pino logger the composition root passes to
 * Fastify (`loggerInstance`); `redactLogObject` is the pure rule, applied to every log line by pino's
 * `formatters.log`, so a careless `log.info({ to, body })` anywhere still leaks nothing.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';
import { maskNumber } from '../compliance/retention.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Keys whose value is message content: replaced by a marker with the length. */
const BODY_KEYS = new Set(['body', 'Body', 'rawBody', 'text', 'payload', 'params', 'form']);
/** Keys whose value is a phone number (or list of them). */
const NUMBER_KEYS = new Set(['to', 'from', 'To', 'From', 'number', 'phone', 'phoneNumber', 'contact', 'recipient', 'sender', 'handset']);
/** Keys never logged: credentials. */
const SECRET_KEYS = new Set(['authorization', 'Authorization', 'authToken', 'apiKeySecret', 'token', 'password', 'cookie', 'Cookie', 'set-cookie', 'x-twilio-signature']);

/** A phone number inside free text: E.164 (optionally whatsapp:), or 10+ bare digits. */
const NUMBER_IN_TEXT = /(whatsapp:)?(\+|%2B)\d{7,15}\b|(?<![\w.-])\d{10,15}\b/gi;

/** Mask every phone number that appears inside a string (URLs, messages). Ids made of letters and digits are left alone. */
export function maskNumbersInText(text: string): string {
  return text.replace(NUMBER_IN_TEXT, (m) => maskNumber(m.replace(/%2B/i, '+')));
}

function redactValue(key: string, value: unknown, depth: number): unknown {
  if (SECRET_KEYS.has(key)) return '[redacted]';
  if (BODY_KEYS.has(key)) {
    if (typeof value === 'string') return `[${value.length} chars]`;
    return value === null || value === undefined ? value : '[omitted]';
  }
  if (NUMBER_KEYS.has(key)) {
    if (typeof value === 'string') return maskNumber(value);
    if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? maskNumber(v) : v));
  }
  if (typeof value === 'string') return maskNumbersInText(value);
  if (value && typeof value === 'object' && depth < 6) {
    if (value instanceof Error) {
      const e = pino.stdSerializers.err(value) as unknown as Record<string, unknown>;
      return redactObject({ ...e, message: maskNumbersInText(value.message) }, depth + 1);
    }
    if (Array.isArray(value)) return value.map((v) => redactValue('', v, depth + 1));
    return redactObject(value as Record<string, unknown>, depth + 1);
  }
  return value;
}

/** Top-level keys left to their pino serializers (which mask on their own): the raw Fastify request/response. */
const SERIALIZED_KEYS = new Set(['req', 'res']);

function redactObject(obj: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = depth === 0 && SERIALIZED_KEYS.has(k) && v !== null && typeof v === 'object' ? v : redactValue(k, v, depth);
  return out;
}

/**
 * The rule applied to each log line's merged object (pure; exported for tests and other loggers). pino runs it
 * before the serializers, so `req`/`res` objects pass through untouched for `serializeRequest`/`serializeResponse`.
 */
export function redactLogObject(obj: Record<string, unknown>): Record<string, unknown> {
  return redactObject(obj, 0);
}

/** Request serializer: method, masked URL, request id; never headers or body. */
export function serializeRequest(req: { method?: string; url?: string; id?: string }): Record<string, unknown> {
  return { method: req.method, url: maskNumbersInText(req.url ?? ''), id: req.id };
}

export function serializeResponse(res: { statusCode?: number }): Record<string, unknown> {
  return { statusCode: res.statusCode };
}

/** pino options: level, serializers, and the redaction formatter. */
export function loggerOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    serializers: { req: serializeRequest as never, res: serializeResponse as never, err: pino.stdSerializers.err },
    formatters: { log: (obj) => redactLogObject(obj) },
    // The message text too: `log.info('sent to +14155550100')` logs "sent to +*******0100".
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? maskNumbersInText(a) : a)) as Parameters<typeof method>);
      },
    },
  };
}

/** The process logger (JSON lines on stdout, or `destination`). Pass it to Fastify as `loggerInstance`. */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}
