/**
 * Test support for the sandbox conformance suite (imports devDependencies: only tests load this file):
 * the official `twilio` SDK pointed at a sandbox through a RequestClient subclass (twilio-wire.md §4.2),
 * response validation against Twilio's OpenAPI schemas with ajv, and a webhook receiver.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import { request } from 'undici';
import twilio from 'twilio';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';

/** Verbatim copies of twilio/twilio-oai (MIT), see fixtures/twilio-oai/README.md. */
const REF_DIR = fileURLToPath(new URL('./fixtures/twilio-oai', import.meta.url));

/** RequestClient that sends every *.twilio.com request to the sandbox instead (origin rewrite, path kept). */
export class SandboxRequestClient extends twilio.RequestClient {
  constructor(private readonly base: string) {
    super();
  }
  override request<TData>(opts: Parameters<InstanceType<typeof twilio.RequestClient>['request']>[0] & { data?: TData }) {
    const u = new URL(opts.uri);
    const uri = /(^|\.)twilio\.com$/.test(u.hostname) ? `${this.base.replace(/\/+$/, '')}${u.pathname}${u.search}` : opts.uri;
    return super.request<TData>({ ...opts, uri });
  }
}

/** Problems found in responses seen by validating clients (see `sdkClient`), with the request that got them. */
export const responseProblems: string[] = [];
/** How many responses the validating clients checked. */
export const responseStats = { validated: 0, errors: 0 };

/**
 * RequestClient that also validates every response: 2xx JSON against the OpenAPI schema of the matching
 * operation, errors against Twilio's `{code, message, more_info, status}` envelope.
 */
export class ValidatingRequestClient extends SandboxRequestClient {
  override async request<TData>(opts: Parameters<InstanceType<typeof twilio.RequestClient>['request']>[0] & { data?: TData }) {
    const res = await super.request<TData>(opts);
    const u = new URL(opts.uri);
    const method = String(opts.method).toLowerCase();
    const where = `${method.toUpperCase()} ${u.pathname} → ${res.statusCode}`;
    let body: unknown = res.body;
    if (typeof body === 'string' && body) {
      try {
        body = JSON.parse(body);
      } catch {
        responseProblems.push(`${where}: body is not JSON`);
        return res;
      }
    }
    if (res.statusCode >= 400) {
      responseStats.errors++;
      const e = body as Record<string, unknown> | null;
      const ok =
        !!e && typeof e.code === 'number' && typeof e.message === 'string' && e.more_info === `https://www.twilio.com/docs/errors/${e.code}` && e.status === res.statusCode;
      if (!ok) responseProblems.push(`${where}: not a Twilio error envelope: ${JSON.stringify(body)}`);
      return res;
    }
    if (res.statusCode === 204) return res;
    const spec: Spec = u.pathname.startsWith('/v1/') ? 'messaging' : 'api';
    const template = matchPath(spec, u.pathname);
    if (!template) {
      responseProblems.push(`${where}: no OpenAPI path matches`);
      return res;
    }
    responseStats.validated++;
    for (const p of validateResponse(spec, template, method as 'get' | 'post', res.statusCode, body)) responseProblems.push(`${where}: ${p}`);
    return res;
  }
}

function matchPath(spec: Spec, pathname: string): string | null {
  for (const t of Object.keys(doc(spec).paths as Record<string, unknown>)) {
    const re = new RegExp(`^${t.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (re.test(pathname)) return t;
  }
  return null;
}

/** An official SDK client talking to the sandbox at `base`, validating every response it gets. */
export function sdkClient(base: string, user: string, pass: string, accountSid?: string): twilio.Twilio {
  return twilio(user, pass, { httpClient: new ValidatingRequestClient(base), ...(accountSid ? { accountSid } : {}) });
}

// ------------------------------------------------------------------ schemas

type Spec = 'api' | 'messaging';
const FILES: Record<Spec, string> = { api: 'twilio_api_v2010.json', messaging: 'twilio_messaging_v1.json' };
const docs: Partial<Record<Spec, Record<string, unknown>>> = {};
let ajv: Ajv | null = null;
const compiled = new Map<string, ValidateFunction>();

function doc(spec: Spec): Record<string, unknown> {
  return (docs[spec] ??= JSON.parse(readFileSync(`${REF_DIR}/${FILES[spec]}`, 'utf8')) as Record<string, unknown>);
}

function getAjv(): Ajv {
  if (ajv) return ajv;
  const a = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;
  addFormats(a);
  // Twilio's own responses carry relative `uri`s under `format: uri`; accept URI references, as Twilio does.
  a.addFormat('uri', /^(?:[a-z][a-z0-9+.-]*:\/\/[^\s]+|\/[^\s]*)$/i);
  a.addFormat('date-time-rfc-2822', /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
  a.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  a.addFormat('phone-number', /^(whatsapp:)?(\+[1-9]\d{6,14}|\d{5,6}|[A-Za-z0-9 ]{1,11})$/);
  a.addFormat('currency', /^[A-Z]{3}$/);
  a.addFormat('http-method', /^(GET|POST|PUT|DELETE|HEAD|PATCH)$/);
  for (const f of ['uri-map', 'endpoint', 'ice-server', 'iso-country-code', 'phone-number-capabilities', 'twiml', 'int32', 'int64']) a.addFormat(f, () => true);
  for (const spec of ['api', 'messaging'] as const) a.addSchema(doc(spec), spec);
  return (ajv = a);
}

function pointer(parts: string[]): string {
  return parts.map((p) => encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');
}

/** The JSON schema of a response (`path` as in the spec, e.g. `/2010-04-01/Accounts/{AccountSid}/Messages.json`). */
export function responseSchema(spec: Spec, path: string, method: 'get' | 'post', status: number): Record<string, unknown> {
  const paths = doc(spec).paths as Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> }>>;
  const op = paths[path]?.[method];
  const schema = op?.responses[String(status)]?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`no ${status} JSON schema for ${method.toUpperCase()} ${path} in ${spec}`);
  return schema;
}

function resolve(spec: Spec, s: Record<string, unknown>): Record<string, unknown> {
  const ref = s.$ref;
  if (typeof ref !== 'string') return s;
  const name = ref.replace('#/components/schemas/', '');
  return ((doc(spec).components as { schemas: Record<string, Record<string, unknown>> }).schemas[name]) ?? s;
}

/**
 * Validate a response body against the spec's schema for that operation, and check that every property we
 * return exists in the schema (the schemas allow extra properties; Twilio's responses don't have any).
 * Returns a list of problems (empty = valid).
 */
export function validateResponse(spec: Spec, path: string, method: 'get' | 'post', status: number, body: unknown): string[] {
  const key = `${spec} ${method} ${path} ${status}`;
  let v = compiled.get(key);
  if (!v) {
    v = getAjv().compile({ $ref: `${spec}#/${pointer(['paths', path, method, 'responses', String(status), 'content', 'application/json', 'schema'])}` });
    compiled.set(key, v);
  }
  const problems: string[] = [];
  if (!v(body)) problems.push(...(v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`));
  const check = (schema: Record<string, unknown>, value: unknown, at: string, depth: number) => {
    const s = resolve(spec, schema);
    const props = s.properties as Record<string, Record<string, unknown>> | undefined;
    if (!props || !value || typeof value !== 'object' || Array.isArray(value)) return;
    for (const [k, val] of Object.entries(value)) {
      if (!(k in props)) {
        problems.push(`${at}/${k} is not in the schema`);
        continue;
      }
      const p = resolve(spec, props[k]!);
      if (depth < 2 && p.type === 'array' && Array.isArray(val) && p.items) for (const [i, item] of val.entries()) check(p.items as Record<string, unknown>, item, `${at}/${k}/${i}`, depth + 1);
      else if (depth < 2 && p.properties) check(p, val, `${at}/${k}`, depth + 1);
    }
  };
  check(responseSchema(spec, path, method, status), body, '', 0);
  return problems;
}

/** Raw HTTP GET/POST/DELETE to the sandbox with Basic auth, returning status, headers and parsed JSON. */
export async function raw(
  url: string,
  opts: { method?: 'GET' | 'POST' | 'DELETE'; user?: string; pass?: string; form?: Record<string, string | string[]> } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: unknown; text: string }> {
  const body = opts.form ? formBody(opts.form) : undefined;
  const res = await request(url, {
    method: opts.method ?? (body ? 'POST' : 'GET'),
    headers: {
      ...(opts.user ? { authorization: `Basic ${Buffer.from(`${opts.user}:${opts.pass ?? ''}`).toString('base64')}` } : {}),
      ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    body,
  });
  const text = await res.body.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.statusCode, headers: res.headers, json, text };
}

function formBody(form: Record<string, string | string[]>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
  return p.toString();
}

// ------------------------------------------------------------------ webhook receiver

export interface ReceivedHook {
  path: string;
  url: string;
  headers: IncomingHttpHeaders;
  params: Record<string, string>;
  at: number;
}

export interface Receiver {
  url: string;
  hooks: ReceivedHook[];
  /** What to answer on a path (default 204). */
  respond(path: string, answer: { status?: number; type?: string; body?: string }): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const hooks: ReceivedHook[] = [];
  const answers = new Map<string, { status?: number; type?: string; body?: string }>();
  const server: Server = createServer((req, res) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      const params: Record<string, string> = {};
      for (const [k, v] of new URLSearchParams(data)) params[k] = v;
      hooks.push({ path, url: `${base}${req.url ?? '/'}`, headers: req.headers, params, at: Date.now() });
      const a = answers.get(path);
      res.statusCode = a?.status ?? (a?.body ? 200 : 204);
      if (a?.type) res.setHeader('content-type', a.type);
      res.end(a?.body ?? '');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url: base,
    hooks,
    respond: (path, answer) => void answers.set(path, answer),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Poll `cond` until truthy or the deadline passes. */
export async function until<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
