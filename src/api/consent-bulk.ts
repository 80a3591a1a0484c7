/**
 * Bulk consent: streamed import (CSV or NDJSON) and streamed export (CSV or NDJSON). docs/guides/compliance.md.
 *
 *   POST /v1/consent/import   consent:write   Content-Type text/csv | application/x-ndjson, read as a stream
 *        → 200 application/x-ndjson, streamed: `{"line":N,"error":"…"}` per rejected row, a progress line
 *          `{"processed":…,"accepted":…,"rejected":…}` every 10,000 rows, and a final `{"done":true,…}`.
 *          A malformed stream (no usable CSV header) is 400 SB_IMPORT_MALFORMED before anything is applied.
 *   GET  /v1/consent/export   consent:read    ?program=&state=   Accept: text/csv → CSV, otherwise NDJSON; streamed.
 *
 * Rows: contact, program, state (opted_in | opted_out), at (ISO 8601 or epoch ms: when consent was given; default
 * now), note. Each row is one ledger change with source `import` and the row as evidence (line, file's time, note);
 * the latest `at` wins, so an old import never overrides a newer STOP. An opt-out row fails the contact's queued
 * messages in the program, as any opt-out does.
 */
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { FastifyInstance } from 'fastify';
import type { ConsentService } from '../compliance/consent-service.ts';
import type { ConsentState } from '../compliance/consent-policy.ts';
import type { Config } from '../config/schema.ts';
import { SwitchboardError } from '../errors.ts';
import { normalizePhone } from '../pipeline/phone.ts';
import type { Store } from '../store/store.ts';
import { requireScope } from './auth.ts';
import { CONSENT_READ, CONSENT_WRITE, csvLine } from './consent.ts';
import { errorResponses } from './schemas.ts';

export const PROGRESS_EVERY = 10_000;

export interface ConsentBulkOptions {
  store: Store;
  config: Readonly<Config>;
  consent: ConsentService;
}

/** One CSV record of a single physical line (RFC 4180 quoting; a quoted field may not span lines). */
export function parseCsvLine(line: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) return null;
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i++];
      }
      out.push(v);
      if (i === line.length) return out;
      if (line[i] !== ',') return null;
      i++;
    } else {
      const j = line.indexOf(',', i);
      if (j < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, j));
      i = j + 1;
    }
  }
}

const IMPORT_STATES: readonly ConsentState[] = ['opted_in', 'opted_out'];

export async function consentBulkRoutes(app: FastifyInstance, opts: ConsentBulkOptions): Promise<void> {
  const { store, config, consent } = opts;
  // Scoped to this plugin: the import body is read as a stream, line by line, never buffered whole.
  app.addContentTypeParser(['text/csv', 'application/x-ndjson'], (_req, payload, done) => done(null, payload));

  app.post(
    '/v1/consent/import',
    {
      onRequest: requireScope(store, CONSENT_WRITE),
      schema: {
        summary: 'Import consent (CSV or NDJSON), streamed',
        description:
          'Columns/fields: contact, program, state (opted_in|opted_out), at (ISO 8601 or epoch ms), note. Answers a streamed NDJSON report: rejected rows with their line, progress every 10,000 rows, a final summary.',
        tags: ['consent'],
        security: [{ bearer: [] }],
        response: { ...errorResponses(400, 401, 403, 415) },
      },
    },
    async (request, reply) => {
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'text/csv' && type !== 'application/x-ndjson') {
        throw new SwitchboardError('SB_UNSUPPORTED_MEDIA_TYPE', { message: 'Send the import as text/csv or application/x-ndjson' });
      }
      const stream = request.body as NodeJS.ReadableStream;
      const lines = createInterface({ input: stream as Readable, crlfDelay: Infinity })[Symbol.asyncIterator]();
      const csv = type === 'text/csv';
      let lineNo = 0;
      let columns: string[] = [];
      if (csv) {
        const first = await lines.next();
        lineNo = 1;
        const header = first.done ? null : parseCsvLine(first.value.replace(/^\uFEFF/, '').trim());
        columns = (header ?? []).map((h) => h.trim().toLowerCase());
        const missing = ['contact', 'program', 'state'].filter((c) => !columns.includes(c));
        if (!header || missing.length > 0) {
          throw new SwitchboardError('SB_IMPORT_MALFORMED', { message: `The CSV header must name the columns contact, program, state (and optionally at, note); missing: ${missing.join(', ') || 'header'}`, field: 'body' });
        }
      }
      const key = request.apiKey!;
      const started = consent.clock.now();
      const counts = { processed: 0, accepted: 0, rejected: 0, changed: 0 };

      async function* report(): AsyncGenerator<string> {
        for (;;) {
          const next = await lines.next();
          if (next.done) break;
          lineNo++;
          const raw = next.value.trim();
          if (raw === '') continue;
          counts.processed++;
          const error = await applyRow(raw, lineNo);
          if (error) {
            counts.rejected++;
            yield `${JSON.stringify({ line: lineNo, error })}\n`;
          }
          if (counts.processed % PROGRESS_EVERY === 0) yield `${JSON.stringify({ processed: counts.processed, accepted: counts.accepted, rejected: counts.rejected })}\n`;
        }
        request.log.info({ ...counts }, 'consent import finished');
        yield `${JSON.stringify({ done: true, ...counts })}\n`;
      }

      async function applyRow(raw: string, line: number): Promise<string | null> {
        let row: Record<string, unknown>;
        if (csv) {
          const cells = parseCsvLine(raw);
          if (!cells) return 'unbalanced quotes';
          row = Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? '']));
        } else {
          try {
            const v = JSON.parse(raw) as unknown;
            if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
            row = v as Record<string, unknown>;
          } catch {
            return 'not valid JSON';
          }
        }
        const contactRaw = typeof row.contact === 'string' ? row.contact : '';
        const phone = normalizePhone(contactRaw, config.defaultCountry);
        if (!phone.ok) return `contact: not a valid phone number (${phone.reason})`;
        const program = typeof row.program === 'string' ? row.program.trim() : '';
        if (!consent.programNamed(program)) return `program: "${program}" is not a configured program`;
        const state = typeof row.state === 'string' ? row.state.trim() : '';
        if (!(IMPORT_STATES as readonly string[]).includes(state)) return 'state: must be opted_in or opted_out';
        let at = started;
        const atRaw = row.at;
        if (atRaw !== undefined && atRaw !== null && atRaw !== '') {
          at = typeof atRaw === 'number' ? atRaw : /^\d{10,16}$/.test(String(atRaw).trim()) ? Number(String(atRaw).trim()) : Date.parse(String(atRaw));
          if (!Number.isFinite(at) || at <= 0) return 'at: must be an ISO 8601 time or epoch milliseconds';
          if (at > started + 5 * 60_000) return 'at: is in the future';
        }
        const note = typeof row.note === 'string' && row.note.trim() !== '' ? row.note : undefined;
        const r = await consent.record({
          contact: phone.e164,
          program,
          state: state as ConsentState,
          source: 'import',
          at,
          evidence: { keyId: key.id, appName: key.name, ...(note ? { note } : {}), raw: { line, ...(atRaw !== undefined && atRaw !== '' ? { at: atRaw } : {}) } },
        });
        if (!r.result.accepted) return `${r.result.code}: ${r.result.reason}`;
        counts.accepted++;
        if (r.result.changed) counts.changed++;
        return null;
      }

      return reply.code(200).type('application/x-ndjson; charset=utf-8').send(Readable.from(report()));
    },
  );

  app.get<{ Querystring: { program?: string; state?: ConsentState; format?: 'csv' | 'ndjson' } }>(
    '/v1/consent/export',
    {
      onRequest: requireScope(store, CONSENT_READ),
      schema: {
        summary: 'Export current consent states, streamed',
        description: '`Accept: text/csv` (or `format=csv`) → CSV `contact,program,state,since,source,event_id`; otherwise NDJSON.',
        tags: ['consent'],
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            program: { type: 'string', minLength: 1, maxLength: 63 },
            state: { type: 'string', enum: ['opted_in', 'opted_out', 'unknown'] },
            format: { type: 'string', enum: ['csv', 'ndjson'] },
          },
        },
        response: { ...errorResponses(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      if (q.program !== undefined && !consent.programNamed(q.program)) throw new SwitchboardError('SB_PROGRAM_UNKNOWN', { message: `No program named "${q.program}"`, field: 'program' });
      const csv = q.format === 'csv' || (q.format === undefined && /\btext\/csv\b/.test(request.headers.accept ?? ''));
      const filter: { program?: string; state?: ConsentState } = {};
      if (q.program !== undefined) filter.program = q.program;
      if (q.state !== undefined) filter.state = q.state;
      async function* rows(): AsyncGenerator<string> {
        if (csv) yield csvLine(['contact', 'program', 'state', 'since', 'source', 'event_id']);
        for await (const s of store.exportConsent(filter)) {
          const since = s.since > 0 ? new Date(s.since).toISOString() : '';
          yield csv
            ? csvLine([s.contact, s.program, s.state, since, s.source, s.eventId])
            : `${JSON.stringify({ contact: s.contact, program: s.program, state: s.state, since: since || null, source: s.source, eventId: s.eventId })}\n`;
        }
      }
      return reply
        .code(200)
        .type(csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
        .send(Readable.from(rows()));
    },
  );
}
