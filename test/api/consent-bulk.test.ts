/**
 * Consent API over real HTTP (buildApp on 127.0.0.1:0, no sandbox): scopes, the streamed CSV/NDJSON import with
 * progress lines and per-line rejections, the streamed export, and the ledger rules (old import never overrides a
 * newer STOP; the import's opt-out fails queued messages).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createApiKey } from '../../src/api/keys.ts';
import { DEFAULT_PROGRAM, type ProgramConfig } from '../../src/compliance/programs.ts';
import { startTestApp, tempDir } from '../e2e/support.ts';

const tmp = tempDir('sb-consent-api-');
let built: App;
let url: string;
let writer: string;
let reader: string;

const marketing: ProgramConfig = { ...(DEFAULT_PROGRAM as ProgramConfig), name: 'marketing', senders: ['sandbox:*'] };

beforeAll(async () => {
  ({ built, url } = await startTestApp(tmp.dir, {
    sandbox: { enabled: false },
    dispatch: { enabled: false },
    devKeyOnFirstStart: false,
    compliance: { programs: [marketing] },
  }));
  const now = Date.now();
  writer = (await createApiKey(built.store, { name: 'crm', scopes: ['consent:read', 'consent:write', 'messages:send'], now })).token;
  reader = (await createApiKey(built.store, { name: 'bi', scopes: ['consent:read'], now })).token;
}, 60_000);

afterAll(async () => {
  await built?.close();
  tmp.cleanup();
});

function post(path: string, body: string, type: string, token = writer): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body });
}

const ndjson = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('consent import/export', () => {
  it('requires consent:write to record or import', async () => {
    const r = await post('/v1/contacts/%2B14155550101/consent', JSON.stringify({ program: 'marketing', state: 'opted_in' }), 'application/json', reader);
    expect(r.status).toBe(403);
    expect(((await r.json()) as any).error.code).toBe('SB_AUTH_SCOPE');
  });

  it('imports a large CSV as a stream: progress every 10,000 rows, bad rows by line, a summary', async () => {
    const n = 10_050;
    let csv = 'contact,program,state,at,note\r\n';
    for (let i = 0; i < n; i++) {
      const contact = `+141555${String(i).padStart(5, '0')}`;
      csv += `${contact},marketing,${i % 2 ? 'opted_in' : 'opted_out'},2026-01-01T00:00:00Z,"row ${i}, from ""crm"""\r\n`;
    }
    csv += 'not-a-number,marketing,opted_in,,\r\n';
    csv += '+14155550000,nope,opted_in,,\r\n';
    csv += '+14155550001,marketing,maybe,,\r\n';
    csv += '+14155550002,marketing,opted_in,yesterday,\r\n';
    const r = await post('/v1/consent/import', csv, 'text/csv');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = ndjson(await r.text());
    expect(lines).toContainEqual({ processed: 10_000, accepted: 10_000, rejected: 0 });
    const errors = lines.filter((l) => 'error' in l);
    expect(errors.map((e) => e.line)).toEqual([n + 2, n + 3, n + 4, n + 5]);
    expect(String(errors[1]!.error)).toMatch(/program/);
    expect(lines.at(-1)).toEqual({ done: true, processed: n + 4, accepted: n, rejected: 4, changed: n });

    const h = (await (await fetch(`${url}/v1/contacts/%2B14155500003/consent/history`, { headers: { authorization: `Bearer ${reader}` } })).json()) as any;
    expect(h.items).toEqual([
      expect.objectContaining({ program: 'marketing', state: 'opted_in', source: 'import', at: '2026-01-01T00:00:00.000Z', evidence: expect.objectContaining({ note: 'row 3, from "crm"', raw: { line: 5, at: '2026-01-01T00:00:00Z' } }) }),
    ]);
  }, 120_000);

  it('an old import never overrides a newer STOP; an imported opt-out fails queued messages', async () => {
    const contact = '+14155559001';
    await post(`/v1/contacts/${encodeURIComponent(contact)}/consent`, JSON.stringify({ program: 'marketing', state: 'opted_out', note: 'phone call' }), 'application/json');
    const r = await post('/v1/consent/import', `${JSON.stringify({ contact, program: 'marketing', state: 'opted_in', at: Date.UTC(2025, 0, 1) })}\n`, 'application/x-ndjson');
    expect(ndjson(await r.text()).at(-1)).toMatchObject({ done: true, accepted: 1, changed: 0 });
    const c = (await (await fetch(`${url}/v1/contacts/${encodeURIComponent(contact)}/consent`, { headers: { authorization: `Bearer ${reader}` } })).json()) as any;
    expect(c.programs).toEqual([expect.objectContaining({ program: 'marketing', state: 'opted_out' })]);

    const other = '+14155559002';
    const sent = await post('/v1/messages', JSON.stringify({ to: other, body: 'queued before the import' }), 'application/json');
    expect(sent.status).toBe(202);
    const id = ((await sent.json()) as any).id as string;
    const imp = await post('/v1/consent/import', `contact,program,state\n${other},marketing,opted_out\n`, 'text/csv');
    expect(ndjson(await imp.text()).at(-1)).toMatchObject({ accepted: 1, changed: 1 });
    expect(await built.store.getMessage(id)).toMatchObject({ status: 'failed', errorCode: 'SB_OPTED_OUT' });
  });

  it('refuses an unreadable stream before applying anything', async () => {
    const r = await post('/v1/consent/import', 'phone,status\n+14155550101,in\n', 'text/csv');
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error.code).toBe('SB_IMPORT_MALFORMED');
    const j = await post('/v1/consent/import', '{}', 'application/json');
    expect(j.status).toBe(415);
  });

  it('exports current states as a stream, CSV or NDJSON, filtered', async () => {
    const csv = await fetch(`${url}/v1/consent/export?program=marketing&state=opted_out`, { headers: { authorization: `Bearer ${reader}`, accept: 'text/csv' } });
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = (await csv.text()).trim().split('\r\n');
    expect(rows[0]).toBe('contact,program,state,since,source,event_id');
    expect(rows.length - 1).toBe(5_025 + 2);
    expect(rows.slice(1).every((r) => r.split(',')[2] === 'opted_out')).toBe(true);
    const nd = await fetch(`${url}/v1/consent/export?state=opted_in`, { headers: { authorization: `Bearer ${reader}` } });
    const items = ndjson(await nd.text());
    expect(items.length).toBe(5_025);
    expect(items[0]).toMatchObject({ program: 'marketing', state: 'opted_in', source: 'import' });
  });
});
