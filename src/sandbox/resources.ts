/**
 * Twilio JSON representations of sandbox state (v2010: RFC 2822 dates, string counts, relative URIs; Messaging
 * v1: ISO 8601 dates, absolute URLs) and the two paging envelopes. Pure.
 */
import { TwilioApiError, iso8601, rfc2822 } from './format.ts';
import type { SandboxAccount, SandboxKey, SandboxMedia, SandboxMessage, SandboxNumber, SandboxService } from './engine.ts';

const API = '/2010-04-01';

export function messageJson(m: SandboxMessage): Record<string, unknown> {
  const uri = `${API}/Accounts/${m.accountSid}/Messages/${m.sid}.json`;
  return {
    account_sid: m.accountSid,
    api_version: '2010-04-01',
    body: m.body,
    date_created: rfc2822(m.dateCreated),
    date_sent: m.dateSent === null ? null : rfc2822(m.dateSent),
    date_updated: rfc2822(m.dateUpdated),
    direction: m.direction,
    error_code: m.errorCode,
    error_message: m.errorMessage,
    from: m.from,
    messaging_service_sid: m.messagingServiceSid,
    num_media: String(m.media.length),
    num_segments: m.status === 'accepted' || m.status === 'scheduled' ? '0' : String(m.numSegments),
    price: m.price,
    price_unit: m.priceUnit,
    sid: m.sid,
    status: m.status,
    subresource_uris: {
      media: `${API}/Accounts/${m.accountSid}/Messages/${m.sid}/Media.json`,
      feedback: `${API}/Accounts/${m.accountSid}/Messages/${m.sid}/Feedback.json`,
    },
    to: m.to,
    uri,
  };
}

export function mediaJson(m: SandboxMessage, media: SandboxMedia): Record<string, unknown> {
  return {
    account_sid: m.accountSid,
    content_type: media.contentType,
    date_created: rfc2822(media.dateCreated),
    date_updated: rfc2822(media.dateCreated),
    parent_sid: m.sid,
    sid: media.sid,
    uri: `${API}/Accounts/${m.accountSid}/Messages/${m.sid}/Media/${media.sid}.json`,
  };
}

export function accountJson(a: SandboxAccount): Record<string, unknown> {
  const base = `${API}/Accounts/${a.sid}`;
  return {
    auth_token: a.authToken,
    date_created: rfc2822(a.dateCreated),
    date_updated: rfc2822(a.dateUpdated),
    friendly_name: a.friendlyName,
    owner_account_sid: a.ownerSid,
    sid: a.sid,
    status: a.status,
    subresource_uris: {
      messages: `${base}/Messages.json`,
      keys: `${base}/Keys.json`,
      incoming_phone_numbers: `${base}/IncomingPhoneNumbers.json`,
      balance: `${base}/Balance.json`,
    },
    type: a.type,
    uri: `${base}.json`,
  };
}

export function keyJson(k: SandboxKey, withSecret = false): Record<string, unknown> {
  return {
    sid: k.sid,
    friendly_name: k.friendlyName,
    date_created: rfc2822(k.dateCreated),
    date_updated: rfc2822(k.dateUpdated),
    ...(withSecret ? { secret: k.secret } : {}),
  };
}

export function incomingNumberJson(n: SandboxNumber): Record<string, unknown> {
  return {
    account_sid: n.accountSid,
    address_sid: null,
    address_requirements: 'none',
    api_version: '2010-04-01',
    beta: false,
    capabilities: { voice: false, sms: true, mms: n.type !== 'short_code', fax: false },
    date_created: rfc2822(n.dateCreated),
    date_updated: rfc2822(n.dateUpdated),
    friendly_name: n.friendlyName,
    identity_sid: null,
    phone_number: n.phoneNumber,
    origin: 'twilio',
    sid: n.sid,
    sms_application_sid: null,
    sms_fallback_method: 'POST',
    sms_fallback_url: null,
    sms_method: 'POST',
    sms_url: n.smsUrl,
    status_callback: null,
    status_callback_method: 'POST',
    trunk_sid: null,
    uri: `${API}/Accounts/${n.accountSid}/IncomingPhoneNumbers/${n.sid}.json`,
    voice_receive_mode: 'voice',
    voice_application_sid: null,
    voice_caller_id_lookup: false,
    voice_fallback_method: 'POST',
    voice_fallback_url: null,
    voice_method: 'POST',
    voice_url: null,
    emergency_status: 'Inactive',
    emergency_address_sid: null,
    emergency_address_status: 'unregistered',
    bundle_sid: null,
    status: 'in-use',
    type: n.type === 'toll_free' ? 'toll-free' : n.type === 'short_code' ? 'short-code' : 'local',
  };
}

export function shortCodeJson(n: SandboxNumber): Record<string, unknown> {
  return {
    account_sid: n.accountSid,
    api_version: '2010-04-01',
    date_created: rfc2822(n.dateCreated),
    date_updated: rfc2822(n.dateUpdated),
    friendly_name: n.friendlyName,
    short_code: n.phoneNumber,
    sid: n.sid,
    sms_fallback_method: 'POST',
    sms_fallback_url: null,
    sms_method: 'POST',
    sms_url: n.smsUrl,
    uri: `${API}/Accounts/${n.accountSid}/SMS/ShortCodes/${n.sid}.json`,
  };
}

export function serviceJson(s: SandboxService, v1Base: string): Record<string, unknown> {
  const url = `${v1Base}/v1/Services/${s.sid}`;
  return {
    sid: s.sid,
    account_sid: s.accountSid,
    friendly_name: s.friendlyName,
    date_created: iso8601(s.dateCreated),
    date_updated: iso8601(s.dateUpdated),
    inbound_request_url: s.inboundRequestUrl,
    inbound_method: s.inboundMethod,
    fallback_url: s.fallbackUrl,
    fallback_method: s.fallbackMethod,
    status_callback: s.statusCallback,
    sticky_sender: s.stickySender,
    mms_converter: s.mmsConverter,
    smart_encoding: s.smartEncoding,
    scan_message_content: s.scanMessageContent,
    fallback_to_long_code: s.fallbackToLongCode,
    area_code_geomatch: s.areaCodeGeomatch,
    synchronous_validation: s.synchronousValidation,
    validity_period: s.validityPeriod,
    url,
    links: {
      phone_numbers: `${url}/PhoneNumbers`,
      short_codes: `${url}/ShortCodes`,
      alpha_senders: `${url}/AlphaSenders`,
      messages: `${url}/Messages`,
      us_app_to_person: `${url}/Compliance/Usa2p`,
      us_app_to_person_usecases: `${url}/Compliance/Usa2p/Usecases`,
      channel_senders: `${url}/ChannelSenders`,
      destination_alpha_senders: `${url}/DestinationAlphaSenders`,
    },
    usecase: s.usecase,
    us_app_to_person_registered: s.usAppToPersonRegistered,
    use_inbound_webhook_on_number: s.useInboundWebhookOnNumber,
  };
}

export function serviceNumberJson(n: SandboxNumber, v1Base: string): Record<string, unknown> {
  const short = n.type === 'short_code';
  const base = {
    sid: n.sid,
    account_sid: n.accountSid,
    service_sid: n.serviceSid,
    date_created: iso8601(n.dateCreated),
    date_updated: iso8601(n.dateUpdated),
    country_code: n.phoneNumber.startsWith('+1') || short ? 'US' : 'ZZ',
    capabilities: short ? ['SMS'] : ['SMS', 'MMS'],
    url: `${v1Base}/v1/Services/${n.serviceSid}/${short ? 'ShortCodes' : 'PhoneNumbers'}/${n.sid}`,
  };
  return short ? { ...base, short_code: n.phoneNumber } : { ...base, phone_number: n.phoneNumber };
}

// ------------------------------------------------------------------ paging

export interface PageRequest {
  pageSize: number;
  page: number;
  pageToken: string | null;
}

/** PageSize (default 50, 1–1000), Page, PageToken from a query. */
export function pageRequest(q: URLSearchParams): PageRequest {
  const rawSize = q.get('PageSize');
  let pageSize = 50;
  if (rawSize !== null) {
    const n = Number(rawSize);
    if (!Number.isInteger(n) || n < 1) throw new TwilioApiError(400, 20001, `Invalid PageSize: ${rawSize}`);
    pageSize = Math.min(1000, n);
  }
  const rawPage = q.get('Page');
  let page = 0;
  if (rawPage !== null) {
    const n = Number(rawPage);
    if (!Number.isInteger(n) || n < 0) throw new TwilioApiError(400, 20001, `Invalid Page: ${rawPage}`);
    page = n;
  }
  return { pageSize, page, pageToken: q.get('PageToken') };
}

/**
 * Slice one page out of `items` (already filtered and ordered). Tokens: `PA<sid>` = the items after that one,
 * `PB<sid>` = the page before that one. `locateAfter` finds the position of a sid no longer in `items`.
 */
export function slicePage<T>(
  items: T[],
  sidOf: (t: T) => string,
  req: PageRequest,
  locateAfter?: (sid: string) => number | null,
): { pageItems: T[]; hasNext: boolean; hasPrev: boolean } {
  let start: number;
  let end: number;
  const tok = req.pageToken;
  if (tok && (tok.startsWith('PA') || tok.startsWith('PB'))) {
    const sid = tok.slice(2);
    let idx = items.findIndex((t) => sidOf(t) === sid);
    if (tok.startsWith('PA')) {
      if (idx < 0) {
        const at = locateAfter?.(sid);
        if (at === null || at === undefined) throw new TwilioApiError(400, 20001, `Invalid PageToken: ${tok}`);
        idx = at - 1;
      }
      start = idx + 1;
      end = start + req.pageSize;
    } else {
      if (idx < 0) {
        const at = locateAfter?.(sid);
        if (at === null || at === undefined) throw new TwilioApiError(400, 20001, `Invalid PageToken: ${tok}`);
        idx = at;
      }
      end = idx;
      start = Math.max(0, end - req.pageSize);
    }
  } else if (tok) {
    throw new TwilioApiError(400, 20001, `Invalid PageToken: ${tok}`);
  } else {
    start = req.page * req.pageSize;
    end = start + req.pageSize;
  }
  const pageItems = items.slice(start, end);
  return { pageItems, hasNext: end < items.length, hasPrev: start > 0 };
}

function withQuery(path: string, filters: [string, string][], extra: [string, string][]): string {
  const q = new URLSearchParams([...filters, ...extra]).toString();
  return q ? `${path}?${q}` : path;
}

/** The v2010 list envelope with relative, URL-encoded URIs. */
export function v2010Page<T>(
  key: string,
  path: string,
  filters: [string, string][],
  req: PageRequest,
  items: T[],
  sidOf: (t: T) => string,
  toJson: (t: T) => unknown,
  locateAfter?: (sid: string) => number | null,
): Record<string, unknown> {
  const { pageItems, hasNext, hasPrev } = slicePage(items, sidOf, req, locateAfter);
  const size: [string, string] = ['PageSize', String(req.pageSize)];
  const self: [string, string][] = [size, ['Page', String(req.page)]];
  if (req.pageToken) self.push(['PageToken', req.pageToken]);
  const start = req.page * req.pageSize;
  return {
    [key]: pageItems.map(toJson),
    end: pageItems.length > 0 ? start + pageItems.length - 1 : start,
    first_page_uri: withQuery(path, filters, [size, ['Page', '0']]),
    next_page_uri: hasNext ? withQuery(path, filters, [size, ['Page', String(req.page + 1)], ['PageToken', `PA${sidOf(pageItems[pageItems.length - 1]!)}`]]) : null,
    page: req.page,
    page_size: req.pageSize,
    previous_page_uri:
      hasPrev && pageItems.length > 0
        ? withQuery(path, filters, [size, ['Page', String(Math.max(0, req.page - 1))], ['PageToken', `PB${sidOf(pageItems[0]!)}`]])
        : null,
    start,
    uri: withQuery(path, filters, self),
  };
}

/** The Messaging v1 list envelope (`meta` with absolute URLs). */
export function v1Page<T>(
  key: string,
  url: string,
  req: PageRequest,
  items: T[],
  sidOf: (t: T) => string,
  toJson: (t: T) => unknown,
): Record<string, unknown> {
  const { pageItems, hasNext, hasPrev } = slicePage(items, sidOf, req);
  const size: [string, string] = ['PageSize', String(req.pageSize)];
  const self: [string, string][] = [size, ['Page', String(req.page)]];
  if (req.pageToken) self.push(['PageToken', req.pageToken]);
  return {
    [key]: pageItems.map(toJson),
    meta: {
      page: req.page,
      page_size: req.pageSize,
      first_page_url: withQuery(url, [], [size, ['Page', '0']]),
      previous_page_url:
        hasPrev && pageItems.length > 0 ? withQuery(url, [], [size, ['Page', String(Math.max(0, req.page - 1))], ['PageToken', `PB${sidOf(pageItems[0]!)}`]]) : null,
      url: withQuery(url, [], self),
      next_page_url: hasNext ? withQuery(url, [], [size, ['Page', String(req.page + 1)], ['PageToken', `PA${sidOf(pageItems[pageItems.length - 1]!)}`]]) : null,
      key,
    },
  };
}

/** `DateSent`, `DateSent<`, `DateSent>` (date `YYYY-MM-DD` or a date-time) → a half-open range on date_sent. */
export function dateSentRange(q: URLSearchParams): { sentAfter?: number; sentBefore?: number } {
  const out: { sentAfter?: number; sentBefore?: number } = {};
  const parse = (name: string, v: string): { at: number; dateOnly: boolean } => {
    const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(v);
    const at = Date.parse(dateOnly ? `${v}T00:00:00Z` : v);
    if (Number.isNaN(at)) throw new TwilioApiError(400, 20001, `Invalid ${name}: ${v}`);
    return { at, dateOnly };
  };
  const DAY = 86_400_000;
  const eq = q.get('DateSent');
  if (eq !== null) {
    // Equality is by UTC day (the SDK sends a Date as YYYY-MM-DDT00:00:00Z).
    const day = Math.floor(parse('DateSent', eq).at / DAY) * DAY;
    out.sentAfter = day;
    out.sentBefore = day + DAY;
  }
  const before = q.get('DateSent<') ?? q.get('DateSent<=');
  if (before !== null) {
    const { at, dateOnly } = parse('DateSent<', before);
    const b = at + (dateOnly ? DAY : 1000);
    out.sentBefore = out.sentBefore === undefined ? b : Math.min(out.sentBefore, b);
  }
  const after = q.get('DateSent>') ?? q.get('DateSent>=');
  if (after !== null) {
    const { at } = parse('DateSent>', after);
    out.sentAfter = out.sentAfter === undefined ? at : Math.max(out.sentAfter, at);
  }
  return out;
}
