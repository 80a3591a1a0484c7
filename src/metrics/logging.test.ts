import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, maskNumbersInText, redactLogObject, serializeRequest } from './logging.ts';

describe('maskNumbersInText', () => {
  it.each([
    ['/v1/messages?to=+14155550100', '/v1/messages?to=+*******0100'],
    ['/v1/messages?to=%2B14155550100&status=sent', '/v1/messages?to=+*******0100&status=sent'],
    ['from whatsapp:+442071838750 ok', 'from whatsapp:+********8750 ok'],
    ['national 4155550100 here', 'national ******0100 here'],
    ['msg_01JD6Z8K4155550100XYZ stays', 'msg_01JD6Z8K4155550100XYZ stays'],
    ['SM0123456789abcdef0123456789abcdef', 'SM0123456789abcdef0123456789abcdef'],
    ['short 55501 and 2026-01-01', 'short 55501 and 2026-01-01'],
  ])('%s', (input, expected) => {
    expect(maskNumbersInText(input)).toBe(expected);
  });
});

describe('redactLogObject', () => {
  it('drops bodies and secrets, masks numbers by key and inside text, keeps ids and counts', () => {
    const out = redactLogObject({
      reqId: 'req_01abc',
      messageId: 'msg_01JD6Z8K',
      to: '+14155550100',
      from: '+15005550006',
      body: 'Your code is 123456',
      authorization: 'Bearer sb_live_x',
      segments: 2,
      nested: { To: '+447700900123', Body: 'hi', note: 'reply from +14155550199' },
      list: [{ phone: '+14155550111' }],
    });
    expect(out).toEqual({
      reqId: 'req_01abc',
      messageId: 'msg_01JD6Z8K',
      to: '+*******0100',
      from: '+*******0006',
      body: '[19 chars]',
      authorization: '[redacted]',
      segments: 2,
      nested: { To: '+********0123', Body: '[2 chars]', note: 'reply from +*******0199' },
      list: [{ phone: '+*******0111' }],
    });
  });

  it('masks numbers in error messages', () => {
    const out = redactLogObject({ err: new Error("The 'To' number +14155550100 is not valid") }) as { err: { message: string; type: string } };
    expect(out.err.message).toBe("The 'To' number +*******0100 is not valid");
    expect(out.err.type).toBe('Error');
  });
});

describe('createLogger', () => {
  it('writes JSON lines without bodies or full numbers, request serializer keeps the id', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger('info', sink);
    log.info({ to: '+14155550100', body: 'secret text', req: serializeRequest({ method: 'GET', url: '/v1/messages?to=+14155550100', id: 'req_1' }) }, 'sent to +14155550100');
    log.debug({ to: '+14155550100' }, 'below the level');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(rec.msg).toBe('sent to +*******0100');
    expect(rec.to).toBe('+*******0100');
    expect(rec.body).toBe('[11 chars]');
    expect(rec.req).toEqual({ method: 'GET', url: '/v1/messages?to=+*******0100', id: 'req_1' });
    expect(lines[0]).not.toContain('4155550100');
    expect(lines[0]).not.toContain('secret text');
  });
});

describe('as the Fastify logger', () => {
  it('request logs keep the request id and a masked URL; handler logs are redacted', async () => {
    const { default: Fastify } = await import('fastify');
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const app = Fastify({ loggerInstance: createLogger('info', sink), genReqId: () => 'req_test1' });
    app.get('/v1/messages', async (req) => {
      req.log.info({ to: '+14155550100', body: 'secret text' }, 'looked up');
      return { ok: true };
    });
    const res = await app.inject({ method: 'GET', url: '/v1/messages?to=%2B14155550100' });
    expect(res.statusCode).toBe(200);
    await app.close();
    const recs = lines.map((l) => JSON.parse(l) as Record<string, any>);
    const incoming = recs.find((r) => r.msg === 'incoming request')!;
    expect(incoming.req).toEqual({ method: 'GET', url: '/v1/messages?to=+*******0100', id: 'req_test1' });
    expect(incoming.reqId).toBe('req_test1');
    const handler = recs.find((r) => r.msg === 'looked up')!;
    expect(handler).toMatchObject({ reqId: 'req_test1', to: '+*******0100', body: '[11 chars]' });
    expect(recs.find((r) => r.msg === 'request completed')!.res).toEqual({ statusCode: 200 });
    expect(lines.join('')).not.toContain('4155550100');
  });
});
