import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { computeTwilioSignature } from '../providers/twilio/signature.ts';
import { WebhookSender, parseWebhookReply, parseWebhookUrl } from './webhooks.ts';
import { startReceiver, until } from './conformance-support.ts';

describe('parseWebhookUrl (connection overrides)', () => {
  it.each([
    ['https://h/p', 'https://h/p', { ct: 5_000, rt: 15_000, tt: 15_000, rc: 1, rp: ['ct', 'rt'] }],
    ['https://h/p?a=1#rc=3&ct=1000', 'https://h/p?a=1', { ct: 1_000, rc: 3 }],
    ['https://h/p#rc=9&ct=5&rt=99999&tt=50', 'https://h/p', { rc: 5, ct: 100, rt: 15_000, tt: 100 }],
    ['https://h/p#rp=4xx,5xx&rc=abc', 'https://h/p', { rp: ['4xx', '5xx'], rc: 1 }],
  ])('%s', (raw, url, overrides) => {
    const r = parseWebhookUrl(raw);
    expect(r.url).toBe(url);
    expect(r.overrides).toMatchObject(overrides);
  });
});

describe('retry policy', () => {
  it.each([
    [{ ok: false, status: null }, ['ct'], true],
    [{ ok: false, status: 500 }, ['ct', 'rt'], false],
    [{ ok: false, status: 500 }, ['5xx'], true],
    [{ ok: false, status: 404 }, ['5xx'], false],
    [{ ok: false, status: 404 }, ['4xx'], true],
    [{ ok: false, status: 404 }, ['all'], true],
    [{ ok: true, status: 200 }, ['all'], false],
  ])('%j with rp=%j → %s', (r, rp, expected) => {
    expect(WebhookSender.retryable({ body: '', contentType: '', ...r }, rp)).toBe(expected);
  });
});

describe('parseWebhookReply (TwiML)', () => {
  it.each([
    ['', 'text/xml', []],
    ['<Response/>', 'text/xml', []],
    ['<?xml version="1.0" encoding="UTF-8"?><Response><Message>Hi &lt;3 &amp; bye</Message></Response>', 'text/xml', [{ body: 'Hi <3 & bye', mediaUrls: [] }]],
    [
      '<Response><Message to="+14155550001" from="+15005550006"><Body>A</Body><Media>https://x/y.png</Media></Message><Message>B</Message></Response>',
      'application/xml',
      [
        { body: 'A', mediaUrls: ['https://x/y.png'], to: '+14155550001', from: '+15005550006' },
        { body: 'B', mediaUrls: [] },
      ],
    ],
    ['<Response><Message><![CDATA[x < y]]></Message></Response>', 'text/xml', [{ body: 'x < y', mediaUrls: [] }]],
    ['plain reply', 'text/plain; charset=utf-8', [{ body: 'plain reply', mediaUrls: [] }]],
    ['{"not":"twiml"}', 'application/json', []],
  ])('%s', (body, type, expected) => {
    expect(parseWebhookReply(body, type)).toEqual(expected);
  });
});

describe('signing', () => {
  // twilio-wire.md §3.4 vectors: the function the sandbox signs with.
  const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
  it.each([
    ['https://mycompany.com/myapp.php?foo=1&bar=2', params, 'RSOYDt4T1cUTdK1PDd93/VVr8B8='],
    ['https://mycompany.com:443/myapp.php?foo=1&bar=2', params, 'kvajT1Ptam85bY51eRf/AJRuM3w='],
    ['http://mycompany.com:80/myapp.php?foo=1&bar=2', params, '0ZXoZLH/DfblKGATFgpif+LLRf4='],
    ['https://example.com/myapp.php?foo=1&bar=2', { ...params, Caller: '+14158675310', From: '+14158675310' }, 'L/OH5YylLD5NRKLltdqwSvS0BnU='],
  ])('%s', (url, p, sig) => {
    expect(computeTwilioSignature('12345', url, p)).toBe(sig);
  });

  it('a delivered webhook carries a signature twilio.validateRequest accepts over the URL without its fragment', async () => {
    const rx = await startReceiver();
    try {
      const s = new WebhookSender();
      const url = `${rx.url}/hook?x=1&y=%27q%27#rc=0`;
      const r = await s.attempt({ url, params: { Body: 'héllo & ☃', To: '+1' }, authToken: 'tok' }, 'token-1');
      expect(r).toMatchObject({ ok: true, status: 204 });
      const h = rx.hooks[0]!;
      expect(h.headers['i-twilio-idempotency-token']).toBe('token-1');
      expect(h.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(h.params).toEqual({ Body: 'héllo & ☃', To: '+1' });
      expect(twilio.validateRequest('tok', h.headers['x-twilio-signature'] as string, `${rx.url}/hook?x=1&y=%27q%27`, h.params)).toBe(true);
      const refused = await s.attempt({ url: 'http://127.0.0.1:1/x#ct=200', params: {}, authToken: 'tok' }, 't');
      expect(refused).toMatchObject({ ok: false, status: null });
      await s.close();
    } finally {
      await rx.close();
    }
  });
});

describe('timeouts', () => {
  /** A server that accepts requests and never answers them. */
  async function silent(): Promise<{ url: string; seen: () => number; close: () => Promise<void> }> {
    let n = 0;
    const server = createServer(() => void n++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      seen: () => n,
      close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
    };
  }

  it('tt ends an attempt the server never answers; rt ends one whose headers do not come', async () => {
    const srv = await silent();
    const s = new WebhookSender();
    try {
      const started = Date.now();
      const total = await s.attempt({ url: `${srv.url}/a#tt=200`, params: { A: '1' }, authToken: 'tok' }, 't1');
      expect(total).toEqual({ ok: false, status: null, body: '', contentType: '', error: 'total time 200 ms exceeded' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      const read = await s.attempt({ url: `${srv.url}/b#rt=150`, params: { A: '1' }, authToken: 'tok' }, 't2');
      expect(read).toMatchObject({ ok: false, status: null });
      expect(read.error).toMatch(/headers timeout/i);
      expect(srv.seen()).toBe(2);
    } finally {
      await s.close(0);
      await srv.close();
    }
  });

  it('tt also ends an attempt still waiting for a free connection (64 per origin, all busy)', async () => {
    const srv = await silent();
    const s = new WebhookSender();
    try {
      const busy = Array.from({ length: 64 }, (_, i) => s.attempt({ url: `${srv.url}/busy${i}#tt=15000`, params: {}, authToken: 'tok' }, `b${i}`));
      await until(() => srv.seen() === 64, 'every connection busy');
      const queued = await s.attempt({ url: `${srv.url}/queued#tt=300`, params: {}, authToken: 'tok' }, 'q');
      expect(queued).toMatchObject({ ok: false, status: null, error: 'total time 300 ms exceeded' });
      expect(srv.seen()).toBe(64); // it never reached the server
      await s.close(0);
      expect((await Promise.all(busy)).every((r) => !r.ok && r.status === null)).toBe(true);
    } finally {
      await srv.close();
    }
  });
});

