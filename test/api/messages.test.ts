import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/errors.ts';
import { apiHarness, errorOf, type Harness } from './support.ts';

let h: Harness;
beforeAll(async () => {
  h = await apiHarness();
});
afterAll(async () => {
  await h.close();
});

const TO = '+14155550100';
const send = (payload: unknown, extra: { token?: string | null; headers?: Record<string, string> } = {}) =>
  h.req({ method: 'POST', url: '/v1/messages', payload: payload as object, token: extra.token, headers: extra.headers });

describe('auth', () => {
  it('401 SB_AUTH_MISSING without Authorization', async () => {
    const res = await send({ to: TO, body: 'hi' }, { token: null });
    expect(res.statusCode).toBe(401);
    expect(errorOf(res).code).toBe('SB_AUTH_MISSING');
  });

  it('401 SB_AUTH_INVALID for an unknown, malformed or non-bearer key', async () => {
    const unknown = `sb_live_${'A'.repeat(43)}`;
    for (const authorization of [`Bearer ${unknown}`, 'Bearer nonsense', 'Basic dXNlcjpwYXNz', 'Bearer']) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/messages', payload: { to: TO, body: 'hi' }, headers: { authorization } });
      expect(res.statusCode, authorization).toBe(401);
      expect(errorOf(res).code, authorization).toBe('SB_AUTH_INVALID');
    }
  });

  it('401 before the body is even looked at', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/messages', payload: '{not json', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(401);
  });

  it('403 SB_AUTH_SCOPE naming the missing scope', async () => {
    const res = await send({ to: TO, body: 'hi' }, { token: h.tokens.reader });
    expect(res.statusCode).toBe(403);
    const e = errorOf(res);
    expect(e.code).toBe('SB_AUTH_SCOPE');
    expect(e.message).toContain('messages:send');
    const sendOnly = await h.key('send-only', ['messages:send']);
    const read = await h.req({ method: 'GET', url: '/v1/messages', token: sendOnly });
    expect(read.statusCode).toBe(403);
    expect(errorOf(read).message).toContain('messages:read');
  });

  it('a revoked key stops working at once', async () => {
    const token = await h.key('short-lived', ['messages:read']);
    expect((await h.req({ method: 'GET', url: '/v1/messages', token })).statusCode).toBe(200);
    expect(await h.store.revokeApiKey('short-lived', h.clock.now())).toBe(true);
    const res = await h.req({ method: 'GET', url: '/v1/messages', token });
    expect(res.statusCode).toBe(401);
    expect(errorOf(res).code).toBe('SB_AUTH_INVALID');
  });

  it('admin grants every scope', async () => {
    const res = await send({ to: TO, body: 'from admin' }, { token: h.tokens.admin });
    expect(res.statusCode).toBe(202);
  });
});

describe('POST /v1/messages', () => {
  it('202 with the stored message, ISO timestamps, request id echoed', async () => {
    const before = h.accepted.length;
    const res = await send({ to: '+1 (415) 555-0100', body: 'Hello', category: 'otp', metadata: { order: 42 } }, { headers: { 'x-request-id': 'client-abc-1' } });
    expect(res.statusCode).toBe(202);
    expect(res.headers['x-request-id']).toBe('client-abc-1');
    const m = res.json();
    expect(m).toMatchObject({ status: 'queued', to: TO, body: 'Hello', category: 'otp', priority: 9, segments: 1, encoding: 'GSM-7', metadata: { order: 42 }, account: 'sandbox' });
    expect(m.id).toMatch(/^msg_/);
    expect(m.createdAt).toBe(new Date(h.clock.now()).toISOString());
    expect(m.expiresAt).toBe(new Date(h.clock.now() + 300_000).toISOString());
    expect(m).not.toHaveProperty('leaseOwner');
    expect(m).not.toHaveProperty('requestHash');
    expect(h.accepted.length).toBe(before + 1);
    expect((await h.store.getMessage(m.id))?.status).toBe('queued');
  });

  it('generates a request id when none (or a bad one) is given', async () => {
    const res = await send({ to: TO, body: 'x' }, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(res.headers['x-request-id']).toMatch(/^req_[0-9a-z]{26}$/);
  });

  it.each([
    [{ body: 'x' }, 400, 'SB_VALIDATION', 'to'],
    [{ to: TO }, 400, 'SB_VALIDATION', 'body'],
    [{ to: 14155550100, body: 'x' }, 400, 'SB_VALIDATION', 'to'],
    [{ to: TO, body: 'x', colour: 'red' }, 400, 'SB_VALIDATION', 'colour'],
    [{ to: TO, body: 'x', category: 'marketing' }, 400, 'SB_VALIDATION', 'category'],
    [{ to: TO, body: 'x', priority: 12 }, 400, 'SB_VALIDATION', 'priority'],
    [{ to: TO, body: 'x', metadata: [1] }, 400, 'SB_VALIDATION', 'metadata'],
    [{ to: TO, body: null }, 400, 'SB_VALIDATION', 'body'],
    [{ to: 'not a number', body: 'x' }, 422, 'SB_PHONE_INVALID', 'to'],
    [{ to: TO, body: '   ' }, 422, 'SB_BODY_EMPTY', 'body'],
    [{ to: TO, body: 'x'.repeat(1601) }, 422, 'SB_BODY_TOO_LONG', 'body'],
    [{ to: TO, body: 'x', validFor: 0 }, 422, 'SB_VALID_FOR_RANGE', 'validFor'],
    [{ to: TO, body: 'x', from: '+19999999999' }, 422, 'SB_SENDER_UNKNOWN', 'from'],
  ])('%j → %i %s (field %s)', async (payload, status, code, field) => {
    const res = await send(payload);
    expect(res.statusCode).toBe(status);
    const e = errorOf(res);
    expect(e.code).toBe(code);
    expect(e.field).toBe(field);
    expect(ERRORS[code as keyof typeof ERRORS].status).toBe(status);
  });

  it('400 SB_BODY_MALFORMED for broken or empty JSON', async () => {
    for (const payload of ['{"to": "+14155550100", "body": ', '', 'null x']) {
      const res = await h.req({ method: 'POST', url: '/v1/messages', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(errorOf(res).code).toBe('SB_BODY_MALFORMED');
    }
  });

  it('400 for a JSON body that is not an object', async () => {
    for (const payload of ['[]', '"text"', '42', 'null']) {
      const res = await h.req({ method: 'POST', url: '/v1/messages', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, payload).toBe(400);
      expect(errorOf(res).code).toBe('SB_VALIDATION');
    }
  });

  it('415 SB_UNSUPPORTED_MEDIA_TYPE for a non-JSON content type', async () => {
    const res = await h.req({ method: 'POST', url: '/v1/messages', payload: 'to=%2B14155550100&body=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.statusCode).toBe(415);
    expect(errorOf(res).code).toBe('SB_UNSUPPORTED_MEDIA_TYPE');
  });

  it('413 SB_BODY_TOO_LARGE above 1 MiB', async () => {
    const res = await send({ to: TO, body: 'x', metadata: { pad: 'y'.repeat(1024 * 1024) } });
    expect(res.statusCode).toBe(413);
    expect(errorOf(res).code).toBe('SB_BODY_TOO_LARGE');
  });

  it('never answers bad input with a 5xx', async () => {
    const payloads: unknown[] = [
      {},
      { to: {}, body: [] },
      { to: TO, body: 'x', metadata: { a: { b: { c: null } } }, validFor: 1.5 },
      { to: TO, body: '\u0000' },
      { to: TO, body: '\ud800' },
      { to: '+'.repeat(64), body: 'x' },
      { to: TO, body: 'x', from: '' },
      { to: TO, body: 'x', validFor: -1 },
      { to: TO, body: 'x', priority: '1' },
      { to: TO, body: 'x', metadata: { big: 'z'.repeat(20_000) } },
      { __proto__: { to: TO }, body: 'x' },
      { constructor: 1, to: TO, body: 'x' },
    ];
    for (const p of payloads) {
      const res = await send(p);
      expect(res.statusCode, JSON.stringify(p)).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, JSON.stringify(p)).toBeLessThan(500);
      expect(errorOf(res).code).toMatch(/^SB_/);
    }
  });
});

describe('idempotency', () => {
  it('same key + same request → 200 with the original; different request → 409', async () => {
    const headers = { 'idempotency-key': 'order-1001' };
    const first = await send({ to: TO, body: 'Your code is 1234', category: 'otp' }, { headers });
    expect(first.statusCode).toBe(202);
    h.clock.advance(5_000);
    const woken = h.accepted.length;
    // Same JSON, keys in another order: still the same request.
    const again = await send({ category: 'otp', body: 'Your code is 1234', to: TO }, { headers });
    expect(again.statusCode).toBe(200);
    expect(h.accepted.length, 'a replay stores nothing new').toBe(woken);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = await send({ to: TO, body: 'Your code is 9999', category: 'otp' }, { headers });
    expect(other.statusCode).toBe(409);
    expect(errorOf(other)).toMatchObject({ code: 'SB_IDEMPOTENCY_CONFLICT', field: 'Idempotency-Key', details: { messageId: first.json().id } });
  });

  it('keys are per API key', async () => {
    const headers = { 'idempotency-key': 'shared-key' };
    const a = await send({ to: TO, body: 'a' }, { headers });
    const b = await send({ to: TO, body: 'a' }, { headers, token: h.tokens.admin });
    expect(a.statusCode).toBe(202);
    expect(b.statusCode).toBe(202);
    expect(a.json().id).not.toBe(b.json().id);
  });

  it('concurrent requests with one key create one message', async () => {
    const headers = { 'idempotency-key': 'concurrent-1' };
    const results = await Promise.all(Array.from({ length: 12 }, () => send({ to: TO, body: 'once' }, { headers })));
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(11);
    expect(new Set(results.map((r) => r.json().id)).size).toBe(1);
    const key = (await h.store.listApiKeys()).find((k) => k.name === 'sender')!;
    expect((await h.store.findByIdempotencyKey(key.id, 'concurrent-1'))?.id).toBe(results[0]!.json().id);
  });

  it('400 SB_IDEMPOTENCY_KEY_INVALID for an empty, too long or non-printable key', async () => {
    for (const k of ['x'.repeat(256), ' ', 'tab\there']) {
      const res = await send({ to: TO, body: 'x' }, { headers: { 'idempotency-key': k } });
      expect(res.statusCode, JSON.stringify(k)).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'SB_IDEMPOTENCY_KEY_INVALID', field: 'Idempotency-Key' });
    }
  });
});

describe('POST /v1/messages/batch', () => {
  const batch = (messages: unknown, headers?: Record<string, string>) => h.req({ method: 'POST', url: '/v1/messages/batch', payload: { messages } as object, headers });

  it('stores the good items and reports the bad ones (207)', async () => {
    const res = await batch([{ to: TO, body: 'one' }, { to: 'nope', body: 'two' }, 'not an object', { to: TO, body: 'four', extra: 1 }, { to: '+14155550101', body: 'five', category: 'promotional' }]);
    expect(res.statusCode).toBe(207);
    const out = res.json();
    expect(out.accepted).toBe(2);
    expect(out.failed).toBe(3);
    expect(out.results.map((r: { index: number; ok: boolean }) => [r.index, r.ok])).toEqual([
      [0, true],
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ]);
    expect(out.results[1].error).toMatchObject({ code: 'SB_PHONE_INVALID', field: 'to' });
    expect(out.results[2].error.code).toBe('SB_VALIDATION');
    expect(out.results[3].error).toMatchObject({ code: 'SB_VALIDATION', field: 'extra' });
    for (const i of [0, 4]) expect((await h.store.getMessage(out.results[i].message.id))?.status).toBe('queued');
  });

  it('202 when every item is accepted; 1,000 items fit', async () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ to: TO, body: `bulk ${i} ${'é'.repeat(i % 3)}` }));
    const res = await batch(messages);
    expect(res.statusCode).toBe(202);
    expect(res.json().accepted).toBe(1000);
    expect(new Set(res.json().results.map((r: { message: { id: string } }) => r.message.id)).size).toBe(1000);
  });

  it('422 SB_BATCH_TOO_LARGE above 1,000; 400 for a missing, empty or non-array list', async () => {
    const big = await batch(Array.from({ length: 1001 }, () => ({ to: TO, body: 'x' })));
    expect(big.statusCode).toBe(422);
    expect(errorOf(big)).toMatchObject({ code: 'SB_BATCH_TOO_LARGE', field: 'messages' });
    for (const payload of [{}, { messages: [] }, { messages: 'x' }, { messages: [{ to: TO, body: 'x' }], more: 1 }]) {
      const res = await h.req({ method: 'POST', url: '/v1/messages/batch', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(errorOf(res).code).toBe('SB_VALIDATION');
    }
  });

  it('Idempotency-Key K gives item i the key K:i; a replayed batch returns the same messages', async () => {
    const headers = { 'idempotency-key': 'batch-77' };
    const items = [{ to: TO, body: 'b0' }, { to: 'bad', body: 'b1' }, { to: TO, body: 'b2' }];
    const first = await batch(items, headers);
    expect(first.statusCode).toBe(207);
    const again = await batch(items, headers);
    expect(again.statusCode).toBe(207);
    expect(again.json().accepted).toBe(0);
    expect(again.json().results[0]).toMatchObject({ ok: true, replayed: true, message: { id: first.json().results[0].message.id } });
    expect(again.json().results[2].message.id).toBe(first.json().results[2].message.id);
    const key = (await h.store.listApiKeys()).find((k) => k.name === 'sender')!;
    expect((await h.store.findByIdempotencyKey(key.id, 'batch-77:2'))?.id).toBe(first.json().results[2].message.id);
    // Item 0 changed: that item conflicts, the others replay.
    const changed = await batch([{ to: TO, body: 'different' }, items[1], items[2]], headers);
    expect(changed.json().results[0].error.code).toBe('SB_IDEMPOTENCY_CONFLICT');
    expect(changed.json().results[2].ok).toBe(true);
  });
});

describe('GET /v1/messages/:id', () => {
  it('returns the message with its timeline', async () => {
    const created = (await send({ to: TO, body: 'timeline' })).json();
    const res = await h.req({ method: 'GET', url: `/v1/messages/${created.id}` });
    expect(res.statusCode).toBe(200);
    const m = res.json();
    expect(m.id).toBe(created.id);
    expect(m.events.map((e: { type: string }) => e.type)).toEqual(['accepted']);
    expect(m.events[0]).toMatchObject({ status: 'queued', at: created.createdAt });
  });

  it('404 SB_NOT_FOUND for an unknown id; 404 SB_ROUTE_NOT_FOUND for an unknown route; 405 for a wrong method', async () => {
    const res = await h.req({ method: 'GET', url: '/v1/messages/msg_doesnotexist' });
    expect(res.statusCode).toBe(404);
    expect(errorOf(res)).toMatchObject({ code: 'SB_NOT_FOUND', field: 'id' });
    const route = await h.req({ method: 'GET', url: '/v1/nothing-here' });
    expect(route.statusCode).toBe(404);
    expect(errorOf(route).code).toBe('SB_ROUTE_NOT_FOUND');
    const method = await h.req({ method: 'DELETE', url: '/v1/messages' });
    expect(method.statusCode).toBe(405);
    expect(errorOf(method).code).toBe('SB_METHOD_NOT_ALLOWED');
    expect(method.headers.allow).toBe('POST, GET, HEAD');
    const param = await h.req({ method: 'PUT', url: '/v1/messages/msg_x/cancel' });
    expect(param.statusCode).toBe(405);
    expect(param.headers.allow).toBe('POST');
  });

  it("a key without admin does not see other keys' messages", async () => {
    const mine = (await send({ to: TO, body: 'private' }, { token: h.tokens.admin })).json();
    const res = await h.req({ method: 'GET', url: `/v1/messages/${mine.id}`, token: h.tokens.reader });
    expect(res.statusCode).toBe(404);
    expect((await h.req({ method: 'GET', url: `/v1/messages/${mine.id}`, token: h.tokens.admin })).statusCode).toBe(200);
  });
});

describe('GET /v1/messages', () => {
  it('pages newest first with an opaque cursor', async () => {
    const token = await h.key('pager', ['messages:send', 'messages:read']);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      h.clock.advance(1_000);
      ids.push((await send({ to: '+14155550123', body: `page ${i}` }, { token })).json().id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await h.req({ method: 'GET', url: `/v1/messages?limit=3${cursor ? `&cursor=${cursor}` : ''}`, token });
      expect(res.statusCode).toBe(200);
      const page = res.json();
      seen.push(...page.items.map((m: { id: string }) => m.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual([...ids].reverse());
    expect(pages).toBe(3);
  });

  it('filters by status, to, since and until', async () => {
    const token = await h.key('filters', ['messages:send', 'messages:read']);
    h.clock.advance(60_000);
    const t0 = h.clock.now();
    const a = (await send({ to: '+14155550177', body: 'a' }, { token })).json();
    h.clock.advance(60_000);
    const b = (await send({ to: '+14155550178', body: 'b' }, { token })).json();
    await h.req({ method: 'POST', url: `/v1/messages/${b.id}/cancel`, token });
    const list = async (qs: string) => {
      const res = await h.req({ method: 'GET', url: `/v1/messages?${qs}`, token });
      expect(res.statusCode, qs).toBe(200);
      return res.json().items.map((m: { id: string }) => m.id);
    };
    expect(await list('status=canceled')).toEqual([b.id]);
    expect(await list('status=queued')).toEqual([a.id]);
    expect(await list('to=%2B14155550177')).toEqual([a.id]);
    expect(await list('to=+14155550177')).toEqual([a.id]);
    expect(await list(`since=${new Date(t0 + 1).toISOString()}`)).toEqual([b.id]);
    expect(await list(`until=${new Date(t0 + 1).toISOString()}&since=${new Date(t0).toISOString()}`)).toEqual([a.id]);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=abc', 'limit'],
    ['status=bogus', 'status'],
    ['since=yesterday', 'since'],
    ['colour=red', 'colour'],
  ])('400 SB_VALIDATION for %s', async (qs, field) => {
    const res = await h.req({ method: 'GET', url: `/v1/messages?${qs}` });
    expect(res.statusCode).toBe(400);
    expect(errorOf(res)).toMatchObject({ code: 'SB_VALIDATION', field });
  });

  it('400 SB_CURSOR_INVALID for a forged cursor', async () => {
    for (const cursor of ['garbage', Buffer.from('1.2.3').toString('base64url'), '%%%']) {
      const res = await h.req({ method: 'GET', url: `/v1/messages?cursor=${cursor}` });
      expect(res.statusCode, cursor).toBe(400);
      expect(errorOf(res).code, cursor).toMatch(/^SB_(CURSOR_INVALID|VALIDATION)$/);
      expect(errorOf(res).field).toBe('cursor');
    }
  });
});

describe('POST /v1/messages/:id/cancel', () => {
  it('cancels a queued message once; then 409 SB_NOT_CANCELABLE', async () => {
    const m = (await send({ to: TO, body: 'cancel me' })).json();
    const res = await h.req({ method: 'POST', url: `/v1/messages/${m.id}/cancel` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: m.id, status: 'canceled' });
    expect((await h.store.listEvents(m.id)).map((e) => e.type)).toEqual(['accepted', 'canceled']);
    const again = await h.req({ method: 'POST', url: `/v1/messages/${m.id}/cancel` });
    expect(again.statusCode).toBe(409);
    expect(errorOf(again)).toMatchObject({ code: 'SB_NOT_CANCELABLE', details: { status: 'canceled' } });
  });

  it('refuses a message already handed to the dispatcher', async () => {
    const m = (await send({ to: TO, body: 'in flight' })).json();
    const now = h.clock.now();
    const moved = await h.store.transition({ id: m.id, from: ['queued'], patch: { status: 'sending', submitState: 'in_flight' }, now });
    expect(moved?.status).toBe('sending');
    const res = await h.req({ method: 'POST', url: `/v1/messages/${m.id}/cancel` });
    expect(res.statusCode).toBe(409);
    expect(errorOf(res).code).toBe('SB_NOT_CANCELABLE');
  });

  it('404 for an unknown id, 403 for a read-only key', async () => {
    expect((await h.req({ method: 'POST', url: '/v1/messages/msg_nope/cancel' })).statusCode).toBe(404);
    const m = (await send({ to: TO, body: 'x' })).json();
    const res = await h.req({ method: 'POST', url: `/v1/messages/${m.id}/cancel`, token: h.tokens.reader });
    expect(res.statusCode).toBe(403);
  });
});

describe('health and OpenAPI', () => {
  it('/healthz and /readyz need no key', async () => {
    expect((await h.req({ method: 'GET', url: '/healthz', token: null })).json()).toEqual({ status: 'ok' });
    const ready = await h.req({ method: 'GET', url: '/readyz', token: null });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', store: 'sqlite' });
    expect(ready.json().migrations).toBeGreaterThan(0);
  });

  it('/openapi.json lists every route with its methods, generated from the schemas', async () => {
    const res = await h.req({ method: 'GET', url: '/openapi.json', token: null });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.0.3');
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const registered = h.routes.filter((r) => !r.hide && r.method !== 'HEAD').map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    expect(registered).toEqual(expect.arrayContaining(['POST /v1/messages', 'POST /v1/messages/batch', 'GET /v1/messages', 'GET /v1/messages/{id}', 'POST /v1/messages/{id}/cancel', 'GET /healthz', 'GET /readyz']));
    expect([...documented].sort()).toEqual([...new Set(registered)].sort());
    for (const name of ['Message', 'SendMessage', 'Error', 'BatchResult', 'MessageWithEvents']) expect(doc.components.schemas, name).toHaveProperty(name);
    expect(doc.paths['/v1/messages'].post.responses).toHaveProperty('202');
    expect(doc.paths['/v1/messages'].post.responses).toHaveProperty('409');
  });
});
