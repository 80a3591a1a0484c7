/**
 * Typed configuration of issue 4 (compliance, conversations, events to apps), kept as its own section until it is
 * merged into src/config/schema.ts (`Config.compliance`, `Config.events`). Validation returns fix-it messages in
 * the style of validatePrograms. Documented in docs/guides/compliance.md.
 */
import type { OutOfHoursConfig, RoutingRule } from '../inbound/threading.ts';
import { validatePrograms, senderKey, type ProgramConfig } from './programs.ts';

export interface RetentionJobConfig {
  /** Run the nightly retention job in this process (one instance runs it, through a store lease). */
  enabled: boolean;
  /** Local time 'HH:MM' at which it runs. */
  at: string;
  timeZone: string;
}

export interface ComplianceConfig {
  /** Consent programs; [] → the built-in DEFAULT_PROGRAM (Twilio's defaults) everywhere. */
  programs: ProgramConfig[];
  /** Key for number hashing at redaction (env SWITCHBOARD_COMPLIANCE_NUMBER_HASH_PEPPER); required when a program hashes numbers. */
  numberHashPepper: string | null;
  retentionJob: RetentionJobConfig;
}

export interface EventsConfig {
  /** Allow subscription URLs on loopback (127.0.0.0/8, ::1, localhost): apps on the same host. Default false. */
  allowLoopbackUrls: boolean;
  /** Allow private/link-local/CGNAT addresses. Default false. */
  allowPrivateUrls: boolean;
  /** Only https subscription URLs. Default false. */
  requireHttps: boolean;
  /** Deliveries in flight at once. */
  concurrency: number;
  /** A claimed delivery not completed within this is retried by another deliverer (ms). */
  leaseMs: number;
  /** Longest sleep of the deliverer between rounds when idle (ms). */
  idlePollMs: number;
}

export interface ConversationsConfig {
  /** Owner rules for inbound messages (keyword prefix, sender, program → app); see inbound/threading.ts. */
  routingRules: RoutingRule[];
  /** App that gets inbound messages no rule or previous conversation assigns. */
  fallbackApp: string | null;
  /** App for inbound messages to a number that is not a configured sender. */
  unknownSenderApp: string | null;
  outOfHours: OutOfHoursConfig | null;
}

export function defaultConversationsConfig(): ConversationsConfig {
  return { routingRules: [], fallbackApp: null, unknownSenderApp: null, outOfHours: null };
}

export function defaultComplianceConfig(): ComplianceConfig {
  return { programs: [], numberHashPepper: null, retentionJob: { enabled: true, at: '03:00', timeZone: 'UTC' } };
}

export function defaultEventsConfig(): EventsConfig {
  return { allowLoopbackUrls: false, allowPrivateUrls: false, requireHttps: false, concurrency: 8, leaseMs: 30_000, idlePollMs: 1_000 };
}

const HHMM_RE = /^([01]\d|2[0-3]):[0-5]\d$/;

function zoneOk(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Every configured sender key (`account:from`). */
export function allSenderKeys(accounts: readonly { name: string; senders: readonly { from: string }[] }[]): string[] {
  return accounts.flatMap((a) => a.senders.map((s) => senderKey(a.name, s.from)));
}

/** Problems with the compliance and events sections, prefixed `compliance.` / `events.`; empty when valid. */
export function validateComplianceConfig(
  c: ComplianceConfig,
  e: EventsConfig,
  v: ConversationsConfig,
  accounts: readonly { name: string; senders: readonly { from: string }[] }[],
): string[] {
  const errs = validatePrograms(c.programs, allSenderKeys(accounts)).map((m) => `compliance.${m}`);
  const programNames = new Set(['default', ...(Array.isArray(c.programs) ? c.programs.map((p) => p?.name) : [])]);
  if (!Array.isArray(v.routingRules)) errs.push('conversations.routingRules: must be a list. Fix: [] or [{ "keywordPrefix": "JOBS", "app": "hr" }].');
  else {
    v.routingRules.forEach((r, i) => {
      if (!r || typeof r.app !== 'string' || r.app === '') errs.push(`conversations.routingRules[${i}].app: must name an app (an API key name).`);
      if (r?.program !== undefined && !programNames.has(r.program)) errs.push(`conversations.routingRules[${i}].program: "${r.program}" is not a program. Fix: use one of ${[...programNames].join(', ')}.`);
    });
  }
  if (v.outOfHours) {
    const o = v.outOfHours;
    for (const k of ['start', 'end'] as const) if (typeof o[k] !== 'string' || !HHMM_RE.test(o[k])) errs.push(`conversations.outOfHours.${k}: ${JSON.stringify(o[k])} is not a time. Fix: "HH:MM".`);
    if (typeof o.timeZone !== 'string' || !zoneOk(o.timeZone)) errs.push(`conversations.outOfHours.timeZone: ${JSON.stringify(o.timeZone)} is not an IANA time zone.`);
  }
  const hashing = Array.isArray(c.programs) && c.programs.some((p) => p?.retention?.hashNumbers === true);
  if (hashing && (typeof c.numberHashPepper !== 'string' || c.numberHashPepper.length < 16)) {
    errs.push('compliance.numberHashPepper: a program hashes numbers, so a pepper of at least 16 characters is needed. Fix: set SWITCHBOARD_COMPLIANCE_NUMBER_HASH_PEPPER to a long random secret (and keep it: changing it breaks matching of hashed numbers).');
  }
  const j = c.retentionJob;
  if (!j || typeof j.enabled !== 'boolean') errs.push('compliance.retentionJob.enabled: must be true or false.');
  if (!j || typeof j.at !== 'string' || !HHMM_RE.test(j.at)) errs.push(`compliance.retentionJob.at: ${JSON.stringify(j?.at)} is not a time. Fix: 24-hour "HH:MM", e.g. "03:00".`);
  if (!j || typeof j.timeZone !== 'string' || !zoneOk(j.timeZone)) errs.push(`compliance.retentionJob.timeZone: ${JSON.stringify(j?.timeZone)} is not an IANA time zone. Fix: e.g. "UTC" or "Europe/Paris".`);
  for (const k of ['allowLoopbackUrls', 'allowPrivateUrls', 'requireHttps'] as const) {
    if (typeof e[k] !== 'boolean') errs.push(`events.${k}: must be true or false.`);
  }
  for (const k of ['concurrency', 'leaseMs', 'idlePollMs'] as const) {
    if (!Number.isInteger(e[k]) || e[k] < 1) errs.push(`events.${k}: ${JSON.stringify(e[k])} must be a positive integer.`);
  }
  return errs;
}
