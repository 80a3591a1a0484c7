/**
 * The sandbox's HTTP face, as a Fastify plugin mountable at any prefix (Switchboard mounts it at `/sandbox`;
 * `startSandboxServer` at ''):
 *   {prefix}/2010-04-01/…   Twilio REST API (Accounts, Keys, Messages, Media, IncomingPhoneNumbers)
 *   {prefix}/v1/Services…   Messaging Services (v1 subset)
 *   {prefix}/_sandbox/…     control API (virtual phones, faults, submissions, callbacks, numbers)
 * Routes are matched by this file's own table (Twilio's `{Sid}.json` paths don't fit a router's params).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TwilioApiError, twilioErrorBody } from './format.ts';
import { faultSpecProblem, type FaultKind, type FaultSpec } from './faults.ts';
import { notFound, one, type Form, type Principal, type SandboxEngine, type SandboxSenderType } from './engine.ts';
import {
  accountJson,
  dateSentRange,
  incomingNumberJson,
  keyJson,
  mediaJson,
  messageJson,
  pageRequest,
  serviceJson,
  serviceNumberJson,
  shortCodeJson,
  v1Page,
  v2010Page,
} from './resources.ts';

export interface SandboxPluginOptions {
  engine: SandboxEngine;
  /** When set, the control API (`/_sandbox/…`) requires `Authorization: Bearer <controlToken>`. */
  controlToken?: string;
}

interface Ctx {
  req: FastifyRequest;
  reply: FastifyReply;
  form: Form;
  query: URLSearchParams;
  /** Path inside the plugin (prefix removed, no query). */
  path: string;
  /** Absolute base for v1 URLs: scheme://host + prefix. */
  origin: string;
  principal: Principal | null;
}

type Handler = (ctx: Ctx, m: RegExpExecArray) => Promise<unknown> | unknown;

interface Route {
  re: RegExp;
  methods: Partial<Record<'GET' | 'POST' | 'DELETE', Handler>>;
  /** Allowed with Twilio test credentials. */
  testOk?: 'POST';
}

/** Sent as-is: status + body (undefined body = no content). */
class Answer {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const AC = '(AC[0-9a-fA-F]{32})';
const SID = '([A-Za-z]{2}[0-9a-fA-F]{32})';

/** The request's form; only string (or repeated string) values count, whatever parser produced the body. */
function formOf(body: unknown): Form {
  const form: Form = {};
  if (!body || typeof body !== 'object' || Array.isArray(body)) return form;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (typeof v === 'string') form[k] = v;
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) form[k] = v as string[];
  }
  return form;
}

function parseForm(text: string): Form {
  const form: Form = {};
  for (const [k, v] of new URLSearchParams(text)) {
    const cur = form[k];
    if (cur === undefined) form[k] = v;
    else if (Array.isArray(cur)) cur.push(v);
    else form[k] = [cur, v];
  }
  return form;
}

function basicAuth(header: string | undefined): { user: string; pass: string } | null {
  if (!header || !/^Basic\s+/i.test(header)) return null;
  const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return null;
  return { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

export async function sandboxPlugin(app: FastifyInstance, opts: SandboxPluginOptions): Promise<void> {
  const engine = opts.engine;
  if (!engine) throw new Error('sandboxPlugin needs { engine }');
  const prefix = app.prefix ?? '';

  if (app.hasContentTypeParser('application/x-www-form-urlencoded')) app.removeContentTypeParser('application/x-www-form-urlencoded');
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 2 * 1024 * 1024 }, (_req, body, done) => {
    done(null, parseForm(body as string));
  });

  // Held requests (slow/timeout faults) must not keep the host app from closing.
  app.addHook('preClose', (done) => {
    void engine.close().then(() => done(), done);
  });

  // ---------------------------------------------------------------- v2010 handlers
  const account = (ctx: Ctx, sid: string) => {
    const a = engine.accounts.get(sid);
    if (!a || !ctx.principal || !engine.mayAccess(ctx.principal, sid)) throw notFound(ctx.path);
    return a;
  };

  const createMessage: Handler = async (ctx, m) => {
    const accountSid = m[1]!;
    const sub = engine.recordSubmission(accountSid, ctx.form);
    const fault = engine.faults.take(['status', 'slow', 'timeout']);
    if (fault?.kind === 'status') {
      sub.response = { status: fault.status, code: fault.code, fault: 'status' };
      const headers: Record<string, string> = {};
      if (fault.retryAfterS !== undefined) headers['retry-after'] = String(fault.retryAfterS);
      throw Object.assign(new TwilioApiError(fault.status, fault.code, fault.message ?? defaultFaultMessage(fault.status)), { headers });
    }
    const principal = authorize(ctx, accountSid, 'create');
    const create = () => {
      try {
        const msg = engine.createMessage(accountSid, ctx.form, principal);
        sub.response = { status: 201, sid: msg.sid };
        return msg;
      } catch (err) {
        if (err instanceof TwilioApiError) sub.response = { status: err.status, code: err.code };
        throw err;
      }
    };
    if (fault?.kind === 'timeout') {
      sub.response = { status: 0, fault: 'timeout' };
      if (fault.create !== false) {
        try {
          const msg = engine.createMessage(accountSid, ctx.form, principal);
          sub.response.sid = msg.sid;
        } catch {
          // the client never learns either way
        }
      }
      ctx.reply.hijack();
      engine.holdSocket(ctx.req.raw.socket);
      return HIJACKED;
    }
    const msg = create();
    if (fault?.kind === 'slow') {
      sub.response = { ...sub.response!, fault: 'slow' };
      const raw = ctx.reply.raw;
      engine.trackResponse(new Promise((resolve) => {
        raw.once('finish', resolve);
        raw.once('close', resolve);
      }));
      await engine.delay(fault.delayMs);
    }
    return new Answer(201, messageJson(msg));
  };

  const listMessages: Handler = (ctx, m) => {
    const accountSid = m[1]!;
    account(ctx, accountSid);
    const q = ctx.query;
    const filters: [string, string][] = [];
    for (const k of ['To', 'From', 'DateSent', 'DateSent<', 'DateSent>']) {
      const v = q.get(k);
      if (v !== null) filters.push([k, v]);
    }
    const items = engine.listMessages(accountSid, { to: q.get('To') ?? undefined, from: q.get('From') ?? undefined, ...dateSentRange(q) });
    const locate = (sid: string) => {
      const key = engine.messageKey(sid);
      if (!key) return null;
      const i = items.findIndex((x) => x.dateCreated < key.dateCreated || (x.dateCreated === key.dateCreated && x.seq < key.seq));
      return i < 0 ? items.length : i;
    };
    return v2010Page('messages', `/2010-04-01/Accounts/${accountSid}/Messages.json`, filters, pageRequest(q), items, (x) => x.sid, messageJson, locate);
  };

  const routes: Route[] = [
    {
      re: /^\/2010-04-01\/Accounts\.json$/,
      methods: {
        GET: (ctx) => {
          const p = ctx.principal!;
          const name = ctx.query.get('FriendlyName');
          const status = ctx.query.get('Status');
          const items = [...engine.accounts.values()]
            .filter((a) => engine.mayAccess(p, a.sid))
            .filter((a) => (name === null || a.friendlyName === name) && (status === null || a.status === status))
            .sort((a, b) => a.dateCreated - b.dateCreated || (a.sid < b.sid ? -1 : 1));
          const filters: [string, string][] = [];
          if (name !== null) filters.push(['FriendlyName', name]);
          if (status !== null) filters.push(['Status', status]);
          return v2010Page('accounts', '/2010-04-01/Accounts.json', filters, pageRequest(ctx.query), items, (a) => a.sid, accountJson);
        },
        POST: (ctx) => {
          const p = ctx.principal!;
          if (p.account.ownerSid !== p.account.sid) throw new TwilioApiError(403, 20003, 'Subaccounts cannot create subaccounts');
          return new Answer(201, accountJson(engine.createSubaccount(p.account.sid, one(ctx.form, 'FriendlyName'))));
        },
      },
    },
    {
      re: new RegExp(`^/2010-04-01/Accounts/${AC}\\.json$`),
      methods: {
        GET: (ctx, m) => accountJson(account(ctx, m[1]!)),
        POST: (ctx, m) => {
          account(ctx, m[1]!);
          return accountJson(engine.updateAccount(m[1]!, ctx.form));
        },
      },
    },
    {
      re: new RegExp(`^/2010-04-01/Accounts/${AC}/Messages\\.json$`),
      methods: { GET: listMessages, POST: createMessage },
      testOk: 'POST',
    },
    {
      re: new RegExp(`^/2010-04-01/Accounts/${AC}/Messages/${SID}\\.json$`),
      methods: {
        GET: (ctx, m) => {
          account(ctx, m[1]!);
          return messageJson(engine.getMessage(m[1]!, m[2]!));
        },
        POST: (ctx, m) => {
          account(ctx, m[1]!);
          return messageJson(engine.updateMessage(m[1]!, m[2]!, ctx.form));
        },
        DELETE: (ctx, m) => {
          account(ctx, m[1]!);
          engine.deleteMessage(m[1]!, m[2]!);
          return new Answer(204);
        },
      },
    },
    {
      re: new RegExp(`^/2010-04-01/Accounts/${AC}/Messages/${SID}/Media\\.json$`),
      methods: {
        GET: (ctx, m) => {
          account(ctx, m[1]!);
          const msg = engine.getMessage(m[1]!, m[2]!);
          return v2010Page('media_list', ctx.path, [], pageRequest(ctx.query), msg.media, (x) => x.sid, (x) => mediaJson(msg, x));
        },
      },
    },
    {
      re: new RegExp(`^/2010-04-01/Accounts/${AC}/Messages/${SID}/Media/${SID}\\.json$`),
      methods: {
        GET: (ctx, m) => {
          account(ctx, m[1]!);
          const msg = engine.getMessage(m[1]!, m[2]!);
          const media = msg.media.find((x) => x.sid === m[3]);
          if (!media) throw notFound(ctx.path);
          return mediaJson(msg, media);
        },
        DELETE: (ctx, m) => {
          account(ctx, m[1]!);
          const msg = engine.getMessage(m[1]!, m[2]!);
          const i = msg.media.findIndex((x) => x.sid === m[3]);
          if (i < 0) throw notFound(ctx.path);
          msg.media.splice(i, 1);
          return new Answer(204);
        },
      },
    },
    {
      re: new RegExp(`^/2010-04-01/Accounts/${AC}/Keys\\.json$`),
      methods: {
        GET: (ctx, m) => {
          account(ctx, m[1]!);
          const items = [...engine.keys.values()].filter((k) => k.accountSid === m[1]).sort((a, b) => a.dateCreated - b.dateCreated);
          return v2010Page('keys', ctx.path, [], pageRequest(ctx.query), items, (k) => k.sid, (k) => keyJson(k));
        },
        POST: (ctx, m) => {
          account(ctx, m[1]!);
          return new Answer(201, keyJson(engine.createKey(m[1]!, one(ctx.form, 'FriendlyName')), true));
        },
      },
    },
    {
      re: new RegExp(`^/2010-04-01/Accounts/${AC}/Keys/${SID}\\.json$`),
      methods: {
        GET: (ctx, m) => {
          account(ctx, m[1]!);
          return keyJson(engine.getKey(m[1]!, m[2]!));
        },
        POST: (ctx, m) => {
          account(ctx, m[1]!);
          const k = engine.getKey(m[1]!, m[2]!);
          const name = one(ctx.form, 'FriendlyName');
          if (name !== undefined) {
            if (name.length > 64) throw new TwilioApiError(400, 20001, 'FriendlyName must be at most 64 characters');
            k.friendlyName = name;
            k.dateUpdated = engine.clock.now();
          }
          return keyJson(k);
        },
        DELETE: (ctx, m) => {
          account(ctx, m[1]!);
          engine.getKey(m[1]!, m[2]!);
          engine.keys.delete(m[2]!);
          return new Answer(204);
        },
      },
    },
    // Phone numbers (PN…) and short codes (SC…) are separate resources in Twilio.
    ...([
      ['IncomingPhoneNumbers', 'incoming_phone_numbers', 'PN', 'PhoneNumber', incomingNumberJson],
      ['SMS/ShortCodes', 'short_codes', 'SC', 'ShortCode', shortCodeJson],
    ] as const).flatMap(([sub, key, kind, filter, toJson]): Route[] => {
      const owned = (ctx: Ctx, acct: string, sid: string) => {
        account(ctx, acct);
        const n = engine.numberBySid(sid);
        if (!n || n.accountSid !== acct || !n.sid.startsWith(kind)) throw notFound(ctx.path);
        return n;
      };
      return [
        {
          re: new RegExp(`^/2010-04-01/Accounts/${AC}/${sub}\\.json$`),
          methods: {
            GET: (ctx, m) => {
              account(ctx, m[1]!);
              const want = ctx.query.get(filter);
              const items = engine.numbers(m[1]!).filter((n) => n.sid.startsWith(kind) && (want === null || n.phoneNumber === want));
              return v2010Page(key, ctx.path, want === null ? [] : [[filter, want]], pageRequest(ctx.query), items, (n) => n.sid, toJson);
            },
          },
        },
        {
          re: new RegExp(`^/2010-04-01/Accounts/${AC}/${sub}/${SID}\\.json$`),
          methods: {
            GET: (ctx, m) => toJson(owned(ctx, m[1]!, m[2]!)),
            POST: (ctx, m) => {
              const n = owned(ctx, m[1]!, m[2]!);
              const smsUrl = one(ctx.form, 'SmsUrl');
              const name = one(ctx.form, 'FriendlyName');
              if (smsUrl !== undefined) n.smsUrl = smsUrl || null;
              if (name !== undefined) n.friendlyName = name;
              n.dateUpdated = engine.clock.now();
              return toJson(n);
            },
          },
        },
      ];
    }),
    // ---------------------------------------------------------------- Messaging v1
    {
      re: /^\/v1\/Services$/,
      methods: {
        GET: (ctx) => {
          const acct = ctx.principal!.account.sid;
          const items = [...engine.services.values()].filter((s) => s.accountSid === acct).sort((a, b) => a.dateCreated - b.dateCreated);
          return v1Page('services', `${ctx.origin}/v1/Services`, pageRequest(ctx.query), items, (s) => s.sid, (s) => serviceJson(s, ctx.origin));
        },
        POST: (ctx) => new Answer(201, serviceJson(engine.createService(ctx.principal!.account.sid, ctx.form), ctx.origin)),
      },
    },
    {
      re: new RegExp(`^/v1/Services/${SID}$`),
      methods: {
        GET: (ctx, m) => serviceJson(engine.getService(ctx.principal!.account.sid, m[1]!), ctx.origin),
        POST: (ctx, m) => serviceJson(engine.updateService(ctx.principal!.account.sid, m[1]!, ctx.form), ctx.origin),
        DELETE: (ctx, m) => {
          engine.deleteService(ctx.principal!.account.sid, m[1]!);
          return new Answer(204);
        },
      },
    },
    ...(['PhoneNumbers', 'ShortCodes'] as const).flatMap((sub): Route[] => {
      const kind = sub === 'PhoneNumbers' ? 'PN' : 'SC';
      const key = sub === 'PhoneNumbers' ? 'phone_numbers' : 'short_codes';
      const param = sub === 'PhoneNumbers' ? 'PhoneNumberSid' : 'ShortCodeSid';
      const inPool = (ctx: Ctx, serviceSid: string) =>
        engine.poolOf(engine.getService(ctx.principal!.account.sid, serviceSid)).filter((n) => n.sid.startsWith(kind));
      return [
        {
          re: new RegExp(`^/v1/Services/${SID}/${sub}$`),
          methods: {
            GET: (ctx, m) =>
              v1Page(key, `${ctx.origin}/v1/Services/${m[1]}/${sub}`, pageRequest(ctx.query), inPool(ctx, m[1]!), (n) => n.sid, (n) => serviceNumberJson(n, ctx.origin)),
            POST: (ctx, m) => {
              const sid = one(ctx.form, param);
              if (!sid) throw new TwilioApiError(400, 20001, `Missing required parameter ${param} in the post body`);
              return new Answer(201, serviceNumberJson(engine.addToService(ctx.principal!.account.sid, m[1]!, sid, kind), ctx.origin));
            },
          },
        },
        {
          re: new RegExp(`^/v1/Services/${SID}/${sub}/${SID}$`),
          methods: {
            GET: (ctx, m) => {
              const n = inPool(ctx, m[1]!).find((x) => x.sid === m[2]);
              if (!n) throw notFound(ctx.path);
              return serviceNumberJson(n, ctx.origin);
            },
            DELETE: (ctx, m) => {
              engine.removeFromService(ctx.principal!.account.sid, m[1]!, m[2]!);
              return new Answer(204);
            },
          },
        },
      ];
    }),
  ];

  /** Authenticate for a v2010/v1 request; `accountSid` (v2010) must be the caller's or a subaccount's. */
  function authorize(ctx: Ctx, accountSid: string | null, op: 'create' | 'other'): Principal {
    const cred = basicAuth(ctx.req.headers.authorization);
    const principal = cred ? engine.authenticate(cred.user, cred.pass) : null;
    if (!principal) throw new TwilioApiError(401, 20003, 'Authenticate');
    if (principal.account.test && op !== 'create') throw new TwilioApiError(403, 20008, 'Resource not accessible with Test Account Credentials');
    if (accountSid !== null && !engine.mayAccess(principal, accountSid)) throw new TwilioApiError(401, 20003, 'Authenticate');
    if (principal.account.status === 'suspended' && principal.account.sid === accountSid) throw new TwilioApiError(403, 20403, 'Account is suspended');
    ctx.principal = principal;
    return principal;
  }

  function send(reply: FastifyReply, a: Answer): FastifyReply {
    reply.code(a.status);
    for (const [k, v] of Object.entries(a.headers)) reply.header(k, v);
    if (a.body === undefined) return reply.send();
    return reply.type('application/json; charset=utf-8').send(JSON.stringify(a.body));
  }

  function sendError(reply: FastifyReply, err: unknown): FastifyReply {
    if (err instanceof TwilioApiError) {
      const headers = (err as TwilioApiError & { headers?: Record<string, string> }).headers ?? {};
      if (err.status === 401) headers['www-authenticate'] = 'Basic realm="Twilio API"';
      return send(reply, new Answer(err.status, err.toJSON(), headers));
    }
    app.log.error({ err }, 'sandbox request failed');
    return send(reply, new Answer(500, twilioErrorBody(500, 20500, 'Internal Server Error')));
  }

  async function twilioApi(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    engine.catchUp();
    const url = req.raw.url ?? req.url;
    const qIdx = url.indexOf('?');
    const fullPath = qIdx >= 0 ? url.slice(0, qIdx) : url;
    const path = prefix && fullPath.startsWith(prefix) ? fullPath.slice(prefix.length) : fullPath;
    const host = req.headers.host ?? 'localhost';
    const ctx: Ctx = {
      req,
      reply,
      form: formOf(req.body),
      query: new URLSearchParams(qIdx >= 0 ? url.slice(qIdx + 1) : ''),
      path,
      origin: `${req.protocol}://${host}${prefix}`,
      principal: null,
    };
    try {
      for (const r of routes) {
        const m = r.re.exec(path);
        if (!m) continue;
        const handler = r.methods[req.method as 'GET' | 'POST' | 'DELETE'];
        if (!handler) throw new TwilioApiError(405, 20004, 'Method not allowed');
        const isCreate = r.testOk === req.method && handler === createMessage;
        // Create authenticates itself (faults answer before auth, like a failing edge would).
        if (!isCreate) authorize(ctx, path.startsWith('/2010-04-01/Accounts/') ? (m[1] ?? null) : null, 'other');
        const out = await handler(ctx, m);
        if (out === HIJACKED) return reply;
        return send(reply, out instanceof Answer ? out : new Answer(200, out));
      }
      throw notFound(path);
    } catch (err) {
      return sendError(reply, err);
    }
  }

  app.route({ method: ['GET', 'POST', 'DELETE', 'PUT', 'PATCH'], url: '/2010-04-01/*', handler: twilioApi });
  app.route({ method: ['GET', 'POST', 'DELETE', 'PUT', 'PATCH'], url: '/v1/*', handler: twilioApi });

  // ---------------------------------------------------------------- control API
  const control = (handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> | unknown) => async (req: FastifyRequest, reply: FastifyReply) => {
    if (opts.controlToken && req.headers.authorization !== `Bearer ${opts.controlToken}`) {
      return reply.code(401).send({ error: { code: 'SANDBOX_UNAUTHORIZED', message: 'Send Authorization: Bearer <controlToken>' } });
    }
    try {
      engine.catchUp();
      const out = await handler(req, reply);
      if (reply.sent) return reply;
      return reply.send(out ?? { ok: true });
    } catch (err) {
      if (err instanceof ControlError) return reply.code(err.status).send({ error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } });
      if (err instanceof TwilioApiError) {
        return reply.code(err.status).send({ error: { code: err.status === 404 ? 'SANDBOX_NOT_FOUND' : 'SANDBOX_INVALID', message: err.message, twilioCode: err.code } });
      }
      throw err;
    }
  };
  const body = (req: FastifyRequest): Record<string, unknown> => {
    const b = req.body;
    if (b && typeof b === 'object' && !Array.isArray(b)) return b as Record<string, unknown>;
    return {};
  };
  const str = (b: Record<string, unknown>, k: string, required = true): string | undefined => {
    const v = b[k];
    if (v === undefined || v === null || v === '') {
      if (required) throw new ControlError(400, 'SANDBOX_INVALID', `${k} is required`, k);
      return undefined;
    }
    if (typeof v !== 'string') throw new ControlError(400, 'SANDBOX_INVALID', `${k} must be a string`, k);
    return v;
  };
  const mediaOf = (b: Record<string, unknown>): string[] | undefined => {
    const v = b.mediaUrl;
    if (v === undefined || v === null) return undefined;
    const arr = Array.isArray(v) ? v : [v];
    if (!arr.every((x) => typeof x === 'string')) throw new ControlError(400, 'SANDBOX_INVALID', 'mediaUrl must be a string or a list of strings', 'mediaUrl');
    return arr as string[];
  };
  const doReply = async (from: string, b: Record<string, unknown>) => {
    const to = str(b, 'to')!;
    const text = typeof b.body === 'string' ? b.body : '';
    const mediaUrl = mediaOf(b);
    if (!text && !mediaUrl?.length) throw new ControlError(400, 'SANDBOX_INVALID', 'body or mediaUrl is required', 'body');
    const r = await engine.reply({ from, to, body: text, ...(mediaUrl ? { mediaUrl } : {}) });
    return {
      message: messageJson(r.message),
      webhook: r.webhook,
      keyword: r.keyword,
      replies: r.replies.map(messageJson),
    };
  };

  app.get('/_sandbox', control(() => ({
    name: 'switchboard-sandbox',
    accounts: [...engine.accounts.values()].filter((a) => a.ownerSid === a.sid).map((a) => ({ sid: a.sid, authToken: a.authToken, friendlyName: a.friendlyName, test: a.test })),
    numbers: engine.numbers().map((n) => ({ phoneNumber: n.phoneNumber, sid: n.sid, accountSid: n.accountSid, type: n.type, smsUrl: n.smsUrl, serviceSid: n.serviceSid, keywordFiltering: n.keywordFiltering })),
    latency: engine.latency,
    mps: engine.mps,
    nextDueAt: engine.nextDueAt(),
  })));
  app.get('/_sandbox/phones', control(() => ({ phones: engine.phones.list() })));
  app.get('/_sandbox/phones/:number/messages', control((req) => ({ messages: engine.phones.inbox((req.params as { number: string }).number) })));
  app.post('/_sandbox/phones/:number/messages', control((req) => doReply((req.params as { number: string }).number, body(req))));
  app.post('/_sandbox/reply', control((req) => {
    const b = body(req);
    return doReply(str(b, 'from')!, b);
  }));
  app.get('/_sandbox/faults', control(() => ({ faults: engine.faults.list() })));
  app.post('/_sandbox/faults', control((req, reply) => {
    const spec = body(req);
    const problem = faultSpecProblem(spec);
    if (problem) throw new ControlError(400, 'SANDBOX_INVALID', problem);
    const id = engine.faults.add(spec as unknown as FaultSpec);
    return reply.code(201).send({ id });
  }));
  app.delete('/_sandbox/faults', control((req) => {
    const kind = (req.query as { kind?: string }).kind;
    engine.faults.clear(kind as FaultKind | undefined);
    return { ok: true };
  }));
  app.delete('/_sandbox/faults/:id', control((req) => {
    if (!engine.faults.remove((req.params as { id: string }).id)) throw new ControlError(404, 'SANDBOX_NOT_FOUND', 'no such fault');
    return { ok: true };
  }));
  app.get('/_sandbox/submissions', control(() => ({ submissions: engine.submissions() })));
  app.get('/_sandbox/callbacks', control(() => ({ callbacks: engine.callbacks() })));
  app.get('/_sandbox/numbers', control(() => ({ numbers: engine.numbers().map((n) => ({ ...n })) })));
  app.post('/_sandbox/numbers', control((req) => {
    const b = body(req);
    const phoneNumber = str(b, 'phoneNumber')!;
    const smsUrl = b.smsUrl === null ? null : str(b, 'smsUrl', false);
    const type = str(b, 'type', false);
    if (type && !['long_code', 'toll_free', 'short_code', 'alphanumeric', 'whatsapp'].includes(type)) throw new ControlError(400, 'SANDBOX_INVALID', 'unknown type', 'type');
    const accountSid = str(b, 'accountSid', false);
    if (accountSid && !engine.accounts.has(accountSid)) throw new ControlError(404, 'SANDBOX_NOT_FOUND', `unknown account ${accountSid}`, 'accountSid');
    const mps = b.mps;
    if (mps !== undefined && (typeof mps !== 'number' || !(mps > 0))) throw new ControlError(400, 'SANDBOX_INVALID', 'mps must be a positive number', 'mps');
    const keywordFiltering = b.keywordFiltering;
    if (keywordFiltering !== undefined && typeof keywordFiltering !== 'boolean') throw new ControlError(400, 'SANDBOX_INVALID', 'keywordFiltering must be a boolean', 'keywordFiltering');
    const n = engine.setNumber({
      phoneNumber,
      ...(accountSid ? { accountSid } : {}),
      ...(type ? { type: type as SandboxSenderType } : {}),
      ...(smsUrl !== undefined ? { smsUrl } : {}),
      ...(typeof mps === 'number' ? { mps } : {}),
      ...(typeof keywordFiltering === 'boolean' ? { keywordFiltering } : {}),
    });
    return { ...n };
  }));
  // Twilio support's "disable default opt-out filtering" for one number (PN/SC SID or phone number).
  app.post('/_sandbox/numbers/:number/keyword-filtering', control((req) => {
    const enabled = body(req).enabled;
    if (typeof enabled !== 'boolean') throw new ControlError(400, 'SANDBOX_INVALID', 'enabled must be a boolean', 'enabled');
    const id = (req.params as { number: string }).number;
    if (!engine.numberBySid(id) && !engine.numbersByValue.has(id)) throw new ControlError(404, 'SANDBOX_NOT_FOUND', `unknown number ${id}`);
    return { ...engine.setKeywordFiltering(id, enabled) };
  }));
  app.post('/_sandbox/services/:sid/advanced-opt-out', control((req) => {
    const enabled = body(req).enabled;
    if (typeof enabled !== 'boolean') throw new ControlError(400, 'SANDBOX_INVALID', 'enabled must be a boolean', 'enabled');
    engine.setAdvancedOptOut((req.params as { sid: string }).sid, enabled);
    return { ok: true };
  }));
  app.post('/_sandbox/run-due', control(async () => ({ ran: await engine.runDue() })));
}

const HIJACKED = Symbol('hijacked');

class ControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function defaultFaultMessage(status: number): string {
  if (status === 429) return 'Too Many Requests';
  if (status === 503) return 'Service Unavailable';
  if (status >= 500) return 'Internal Server Error';
  return 'Sandbox fault';
}
