/**
 * Consent API (issue 4): read a contact's consent in every program, record a change with evidence, and the
 * full history (the ledger export for one contact) as JSON or CSV. docs/guides/compliance.md "API".
 *
 *   GET  /v1/contacts/{e164}/consent            consent:read   ?program=
 *   POST /v1/contacts/{e164}/consent            consent:write  { program, state, at?, note?, evidence? }
 *   GET  /v1/contacts/{e164}/consent/history    consent:read   ?program=&format=json|csv
 *
 * `{e164}` may be URL-encoded (%2B…); it is normalised like `to` (SB_PHONE_INVALID).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ConsentEvent, ConsentState } from '../compliance/consent-policy.ts';
import type { ConsentService } from '../compliance/consent-service.ts';
import { emptySnapshot } from '../compliance/consent-policy.ts';
import type { Config } from '../config/schema.ts';
import { SwitchboardError } from '../errors.ts';
import { normalizePhone } from '../pipeline/phone.ts';
import type { ConsentHistoryEntry, Store } from '../store/store.ts';
import { requireScope } from './auth.ts';
import { errorResponses } from './schemas.ts';
import type { Scope } from './scopes.ts';

export interface ConsentRoutesOptions {
  store: Store;
  config: Readonly<Config>;
  consent: ConsentService;
}

/** Scopes of the consent routes (`admin` grants all). */
export const CONSENT_READ: Scope = 'consent:read';
export const CONSENT_WRITE: Scope = 'consent:write';

const STATES: readonly ConsentState[] = ['opted_in', 'opted_out', 'unknown'];

export function contactParam(raw: string, config: Pick<Config, 'defaultCountry'>): string {
  const decoded = raw.replace(/^ (?=\d)/, '+');
  const n = normalizePhone(decoded, config.defaultCountry);
  if (!n.ok) throw new SwitchboardError('SB_PHONE_INVALID', { message: `The contact is not a valid phone number: it ${n.reason}`, field: 'e164' });
  return n.e164;
}

const iso = (ms: number) => new Date(ms).toISOString();

function historyItem(h: ConsentHistoryEntry) {
  return { id: h.id, seq: h.seq, program: h.program, state: h.state, source: h.source, at: iso(h.at), recordedAt: iso(h.recordedAt), evidence: h.evidence };
}

/** RFC 4180 field. */
export function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

const snapshotSchema = {
  type: 'object',
  required: ['program', 'state', 'since', 'source'],
  properties: {
    program: { type: 'string' },
    state: { type: 'string', enum: [...STATES] },
    since: { type: ['string', 'null'], description: 'When the deciding change happened (null: never recorded).' },
    source: { type: ['string', 'null'] },
    eventId: { type: ['string', 'null'] },
  },
} as const;

const contactParams = { type: 'object', required: ['e164'], properties: { e164: { type: 'string', minLength: 1, maxLength: 64 } } } as const;

export async function consentRoutes(app: FastifyInstance, opts: ConsentRoutesOptions): Promise<void> {
  const { store, config, consent } = opts;
  const read = requireScope(store, CONSENT_READ);
  const write = requireScope(store, CONSENT_WRITE);

  function programOrThrow(name: string | undefined): string | undefined {
    if (name === undefined) return undefined;
    if (!consent.programNamed(name)) {
      throw new SwitchboardError('SB_PROGRAM_UNKNOWN', { message: `No program named "${name}"`, field: 'program', details: { programs: consent.allPrograms().map((p) => p.name) } });
    }
    return name;
  }

  app.get(
    '/v1/contacts/:e164/consent',
    {
      onRequest: read,
      schema: {
        summary: "A contact's consent in every program",
        description: 'Every configured program is listed; `unknown` when nothing was ever recorded.',
        tags: ['consent'],
        security: [{ bearer: [] }],
        params: contactParams,
        querystring: { type: 'object', additionalProperties: false, properties: { program: { type: 'string', minLength: 1, maxLength: 63 } } },
        response: {
          200: { type: 'object', required: ['contact', 'programs'], properties: { contact: { type: 'string' }, programs: { type: 'array', items: snapshotSchema } } },
          ...errorResponses(400, 401, 403, 422),
        },
      },
    },
    async (request: FastifyRequest<{ Params: { e164: string }; Querystring: { program?: string } }>) => {
      const contact = contactParam(request.params.e164, config);
      const only = programOrThrow(request.query.program);
      const rows = new Map((await store.getConsent(contact, only)).map((s) => [s.program, s]));
      const names = only ? [only] : [...new Set([...consent.allPrograms().map((p) => p.name), ...rows.keys()])];
      return {
        contact,
        programs: names.map((program) => {
          const s = rows.get(program) ?? emptySnapshot(contact, program);
          return { program, state: s.state, since: s.since > 0 ? iso(s.since) : null, source: s.source, eventId: s.eventId };
        }),
      };
    },
  );

  app.post(
    '/v1/contacts/:e164/consent',
    {
      onRequest: write,
      schema: {
        summary: "Record a contact's opt-in or opt-out, with evidence",
        description:
          "Appends to the history. Reversing the contact's own STOP needs `note` or `evidence` (SB_CONSENT_EVIDENCE_REQUIRED). `at` (ISO 8601) is when consent was given; default now. An opt-out fails the contact's queued messages in the program.",
        tags: ['consent'],
        security: [{ bearer: [] }],
        params: contactParams,
        body: {
          type: 'object',
          required: ['program', 'state'],
          additionalProperties: false,
          properties: {
            program: { type: 'string', minLength: 1, maxLength: 63 },
            state: { type: 'string', enum: [...STATES] },
            at: { type: 'string', format: 'date-time' },
            note: { type: 'string', maxLength: 2000 },
            evidence: { type: 'object', description: 'Raw evidence kept in the ledger (form id, IP, document reference…).' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['contact', 'program', 'state', 'changed', 'eventId'],
            properties: {
              contact: { type: 'string' },
              program: { type: 'string' },
              state: { type: 'string' },
              changed: { type: 'boolean' },
              eventId: { type: 'string' },
              failedQueued: { type: 'integer', description: 'Queued messages failed by this opt-out.' },
            },
          },
          ...errorResponses(400, 401, 403, 415, 422),
        },
      },
    },
    async (request: FastifyRequest<{ Params: { e164: string }; Body: { program: string; state: ConsentState; at?: string; note?: string; evidence?: Record<string, unknown> } }>) => {
      const contact = contactParam(request.params.e164, config);
      const b = request.body;
      const program = programOrThrow(b.program)!;
      const now = consent.clock.now();
      const at = b.at === undefined ? now : Date.parse(b.at);
      if (!Number.isFinite(at)) throw new SwitchboardError('SB_VALIDATION', { message: '`at` must be an ISO 8601 date-time', field: 'at' });
      if (at > now + 5 * 60_000) throw new SwitchboardError('SB_VALIDATION', { message: '`at` is in the future', field: 'at' });
      const key = request.apiKey!;
      const event: ConsentEvent = {
        contact,
        program,
        state: b.state,
        source: 'api',
        at,
        evidence: {
          keyId: key.id,
          appName: key.name,
          ...(b.note !== undefined && b.note.trim() !== '' ? { note: b.note } : {}),
          ...(b.evidence && Object.keys(b.evidence).length > 0 ? { raw: b.evidence } : {}),
        },
      };
      const r = await consent.record(event);
      if (!r.result.accepted) {
        throw new SwitchboardError(r.result.code, { message: r.result.reason, field: r.result.code === 'SB_CONSENT_EVIDENCE_REQUIRED' ? 'note' : 'state' });
      }
      request.log.info({ program, state: b.state, changed: r.result.changed }, 'consent recorded via API');
      return { contact, program, state: r.result.next.state, changed: r.result.changed, eventId: r.eventId!, failedQueued: r.failedMessageIds.length };
    },
  );

  app.get(
    '/v1/contacts/:e164/consent/history',
    {
      onRequest: read,
      schema: {
        summary: 'Every consent change of a contact, with its evidence',
        description: 'Write order (`seq`). `format=csv` (or `Accept: text/csv`) answers CSV with the evidence as a JSON column.',
        tags: ['consent'],
        security: [{ bearer: [] }],
        params: contactParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { program: { type: 'string', minLength: 1, maxLength: 63 }, format: { type: 'string', enum: ['json', 'csv'] } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              contact: { type: 'string' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' },
                    seq: { type: 'integer' },
                    program: { type: 'string' },
                    state: { type: 'string' },
                    source: { type: 'string' },
                    at: { type: 'string' },
                    recordedAt: { type: 'string' },
                    evidence: { type: 'object', additionalProperties: true },
                  },
                },
              },
            },
          },
          ...errorResponses(400, 401, 403, 422),
        },
      },
    },
    async (request: FastifyRequest<{ Params: { e164: string }; Querystring: { program?: string; format?: 'json' | 'csv' } }>, reply) => {
      const contact = contactParam(request.params.e164, config);
      const program = programOrThrow(request.query.program);
      const items = await store.listConsentHistory(contact, program);
      const csv = request.query.format === 'csv' || (request.query.format === undefined && /\btext\/csv\b/.test(request.headers.accept ?? ''));
      if (!csv) return { contact, items: items.map(historyItem) };
      let out = csvLine(['seq', 'id', 'contact', 'program', 'state', 'source', 'at', 'recorded_at', 'evidence']);
      for (const h of items) out += csvLine([h.seq, h.id, h.contact, h.program, h.state, h.source, iso(h.at), iso(h.recordedAt), h.evidence]);
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="consent-history.csv"`).send(out);
    },
  );
}
