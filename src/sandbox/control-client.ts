/**
 * Typed client for the sandbox control API (`{base}/_sandbox/…`), used by the CLI
 * (`switchboard sandbox reply --from … --to … --body …`) against a running Switchboard (`base` =
 * `{publicUrl}/sandbox`) or a standalone sandbox (`base` = `http://127.0.0.1:4010`).
 */
import { request } from 'undici';
import type { FaultKind, FaultSpec, ActiveFault } from './faults.ts';
import type { CallbackRecord, PhoneEntry, SandboxNumber, SandboxSenderType, Submission } from './engine.ts';

export interface ControlClientOptions {
  /** Base URL the sandbox is mounted at, e.g. http://127.0.0.1:3000/sandbox. */
  baseUrl: string;
  /** When the sandbox was started with a control token. */
  token?: string;
  timeoutMs?: number;
}

export class SandboxControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Twilio message JSON as the sandbox returns it (v2010 shape). */
export type TwilioMessageJson = Record<string, unknown> & { sid: string; status: string; from: string | null; to: string; body: string };

export interface ReplyResponse {
  message: TwilioMessageJson;
  webhook: { url: string; status: number | null; error?: string } | null;
  keyword: 'stop' | 'start' | 'help' | null;
  replies: TwilioMessageJson[];
}

export interface SandboxInfo {
  name: string;
  accounts: { sid: string; authToken: string; friendlyName: string; test: boolean }[];
  numbers: { phoneNumber: string; sid: string; accountSid: string; type: SandboxSenderType; smsUrl: string | null; serviceSid: string | null; keywordFiltering: boolean }[];
  nextDueAt: number | null;
}

export interface SandboxControlClient {
  info(): Promise<SandboxInfo>;
  /** A virtual handset (`from`) texts a sandbox number (`to`). */
  reply(input: { from: string; to: string; body: string; mediaUrl?: string | string[] }): Promise<ReplyResponse>;
  phones(): Promise<{ number: string; messages: number; last: number }[]>;
  inbox(number: string): Promise<PhoneEntry[]>;
  addFault(spec: FaultSpec): Promise<string>;
  faults(): Promise<ActiveFault[]>;
  clearFaults(kind?: FaultKind): Promise<void>;
  removeFault(id: string): Promise<void>;
  submissions(): Promise<Submission[]>;
  callbacks(): Promise<CallbackRecord[]>;
  numbers(): Promise<SandboxNumber[]>;
  setNumber(spec: { phoneNumber: string; accountSid?: string; type?: SandboxSenderType; smsUrl?: string | null; mps?: number; keywordFiltering?: boolean }): Promise<SandboxNumber>;
  /** Twilio's default opt-out filtering on one number (PN/SC SID or phone number), as Twilio support sets it. */
  setKeywordFiltering(number: string, enabled: boolean): Promise<SandboxNumber>;
}

export function createControlClient(opts: ControlClientOptions): SandboxControlClient {
  const base = `${opts.baseUrl.replace(/\/+$/, '')}/_sandbox`;
  async function call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await request(base + path, {
      method,
      headers: {
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: opts.timeoutMs ?? 30_000,
      bodyTimeout: opts.timeoutMs ?? 30_000,
    });
    const text = await res.body.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.statusCode >= 400) {
      const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
      throw new SandboxControlError(res.statusCode, e?.code ?? 'SANDBOX_HTTP_ERROR', e?.message ?? `HTTP ${res.statusCode} from ${base + path}`);
    }
    return json as T;
  }
  const enc = encodeURIComponent;
  return {
    info: () => call<SandboxInfo>('GET', ''),
    reply: (input) => call<ReplyResponse>('POST', '/reply', input),
    phones: async () => (await call<{ phones: { number: string; messages: number; last: number }[] }>('GET', '/phones')).phones,
    inbox: async (number) => (await call<{ messages: PhoneEntry[] }>('GET', `/phones/${enc(number)}/messages`)).messages,
    addFault: async (spec) => (await call<{ id: string }>('POST', '/faults', spec)).id,
    faults: async () => (await call<{ faults: ActiveFault[] }>('GET', '/faults')).faults,
    clearFaults: async (kind) => void (await call('DELETE', kind ? `/faults?kind=${enc(kind)}` : '/faults')),
    removeFault: async (id) => void (await call('DELETE', `/faults/${enc(id)}`)),
    submissions: async () => (await call<{ submissions: Submission[] }>('GET', '/submissions')).submissions,
    callbacks: async () => (await call<{ callbacks: CallbackRecord[] }>('GET', '/callbacks')).callbacks,
    numbers: async () => (await call<{ numbers: SandboxNumber[] }>('GET', '/numbers')).numbers,
    setNumber: (spec) => call<SandboxNumber>('POST', '/numbers', spec),
    setKeywordFiltering: (number, enabled) => call<SandboxNumber>('POST', `/numbers/${enc(number)}/keyword-filtering`, { enabled }),
  };
}
