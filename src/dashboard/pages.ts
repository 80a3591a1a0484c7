/**
 * Page renderers: plain functions from data to HTML (no I/O). The plugin (plugin.ts) loads the data.
 */
import { MESSAGE_STATUSES, CATEGORIES, type MessageEvent, type MessageRecord, type MessageStatus } from '../domain/message.ts';
import type { ConsentSnapshot } from '../compliance/consent-policy.ts';
import type { ApiKeyRecord, ConsentHistoryEntry, InboundRecord, MessageStats, SenderQueueStats } from '../store/store.ts';
import type { Alert } from './alerts.ts';
import { hbars, stackedBars } from './charts.ts';
import { duration, html, type Html, query, raw, time } from './html.ts';

export interface Layout {
  base: string;
  title: string;
  active: 'overview' | 'messages' | 'contacts' | 'alerts' | 'phones' | 'login';
  csrf: string | null;
  who: string | null;
  sandbox: boolean;
  /** The consent ledger is wired (Contacts page). */
  contacts?: boolean;
  alertCount?: number;
}

export function page(l: Layout, body: Html): string {
  const nav = (id: Layout['active'], href: string, text: string) => html`<a href="${l.base}${href}" class="${l.active === id ? 'active' : ''}">${text}</a>`;
  const header =
    l.csrf === null
      ? html`<header><span class="brand">Switchboard</span></header>`
      : html`<header>
  <span class="brand">Switchboard</span>
  ${nav('overview', '/overview', 'Overview')} ${nav('messages', '/messages', 'Messages')}
  ${l.contacts ? nav('contacts', '/contacts', 'Contacts') : ''}
  ${nav('alerts', '/alerts', l.alertCount ? `Alerts (${l.alertCount})` : 'Alerts')}
  ${l.sandbox ? nav('phones', '/phones', 'Sandbox phones') : ''}
  <form method="post" action="${l.base}/logout"><input type="hidden" name="_csrf" value="${l.csrf}"><span class="who">${l.who ?? ''}</span> <button class="link" type="submit">Log out</button></form>
</header>`;
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${l.title} · Switchboard</title><link rel="stylesheet" href="${l.base}/assets/app.css"></head>
<body>${header}<main>${body}</main><script src="${l.base}/assets/app.js"></script></body></html>`}`;
}

/** A number linked to its Contacts page (consent and history) when the ledger is wired. */
export function contactLink(l: Layout, number: string): Html {
  return l.contacts ? html`<a class="contact-link" href="${l.base}/contacts${query({ contact: number })}">${number}</a>` : html`${number}`;
}

export function statusBadge(s: MessageStatus | string | null): Html {
  return s ? html`<span class="status ${s}" data-status="${s}">${s}</span>` : html`<span class="muted">—</span>`;
}

// ------------------------------------------------------------------ login

export function loginPage(base: string, opts: { csrf: string; next: string; error?: string }): string {
  return page(
    { base, title: 'Log in', active: 'login', csrf: null, who: null, sandbox: false },
    html`<div class="card login"><h1>Log in</h1>
${opts.error ? html`<div class="error-box" role="alert">${opts.error}</div>` : ''}
<form method="post" action="${base}/login">
  <input type="hidden" name="_csrf" value="${opts.csrf}"><input type="hidden" name="next" value="${opts.next}">
  <label>API key (scope <code>dashboard</code> or <code>admin</code>)<input name="key" type="password" autocomplete="off" required autofocus></label>
  <p><button type="submit">Log in</button></p>
</form>
<p class="muted">Any API key with the <code>admin</code> scope (or <code>dashboard</code>) works, e.g. the development key printed on first start.</p></div>`,
  );
}

export function errorPage(l: Layout, status: number, message: string): string {
  return page({ ...l, title: `Error ${status}` }, html`<h1>Error ${status}</h1><div class="error-box" role="alert">${message}</div><p><a href="${l.base}/overview">Back to the overview</a></p>`);
}

// ------------------------------------------------------------------ overview

export interface SenderRow {
  account: string;
  from: string;
  mps: number;
  queue: SenderQueueStats | null;
  /** Segments per second over the rate window. */
  rate: number;
}

export interface OverviewData {
  range: string;
  ranges: readonly string[];
  stats: MessageStats;
  percentiles: readonly number[];
  pricePerSegment: number;
  currency: string;
  senders: readonly SenderRow[];
  rateWindowS: number;
}

export function overviewPage(l: Layout, d: OverviewData): string {
  const s = d.stats;
  const t = s.totals;
  const finished = t.delivered + t.undelivered + t.failed;
  const rate = finished > 0 ? t.delivered / finished : null;
  const series = [
    { name: 'delivered', cls: 's-delivered', values: s.buckets.map((b) => b.counts.delivered) },
    { name: 'sent', cls: 's-sent', values: s.buckets.map((b) => b.counts.sent + b.counts.sending) },
    { name: 'failed', cls: 's-failed', values: s.buckets.map((b) => b.counts.failed + b.counts.undelivered + b.counts.expired) },
    { name: 'queued', cls: 's-queued', values: s.buckets.map((b) => b.counts.queued + b.counts.canceled) },
  ];
  const pctLabel = (p: number) => `p${Math.round(p * 100)}`;
  const latencyRow = (name: string, lat: MessageStats['dispatchLatency']) =>
    html`<tr><td>${name}</td>${lat.values.map((v) => html`<td class="num">${duration(v)}</td>`)}<td class="num">${lat.count}</td></tr>`;
  const errorRows = s.errors.map((e) => ({ label: e.code ?? '(no code)', value: e.count, cls: 'bar-bad' }));
  const cost = s.submittedSegments * d.pricePerSegment;
  return page(
    l,
    html`<h1>Overview</h1>
<form class="filters" method="get" action="${l.base}/overview">
  <label>Range<select name="range">${d.ranges.map((r) => html`<option value="${r}" ${r === d.range ? raw('selected') : ''}>last ${r}</option>`)}</select></label>
  <button type="submit">Show</button> <label><span><input type="checkbox" id="autorefresh"> auto-refresh</span></label>
</form>
<div class="kpis">
  <div class="kpi" data-kpi="accepted"><b>${Object.values(t).reduce((a, b) => a + b, 0)}</b><span>accepted</span></div>
  <div class="kpi" data-kpi="delivered"><b>${t.delivered}</b><span>delivered</span></div>
  <div class="kpi" data-kpi="failed"><b>${t.failed + t.undelivered + t.expired}</b><span>failed / undelivered / expired</span></div>
  <div class="kpi" data-kpi="in-flight"><b>${t.queued + t.sending + t.sent}</b><span>queued / in flight</span></div>
  <div class="kpi" data-kpi="delivery-rate"><b>${rate === null ? '—' : `${(rate * 100).toFixed(1)}%`}</b><span>delivery rate (of finished)</span></div>
  <div class="kpi" data-kpi="cost"><b>${d.currency} ${cost.toFixed(2)}</b><span>cost estimate: ${s.submittedSegments} segments × ${d.pricePerSegment}</span></div>
</div>
<div class="card"><h2>Messages over time (by current status)</h2>
${stackedBars({ id: 'chart-volume', label: 'Messages over time', starts: s.buckets.map((b) => b.start), series })}</div>
<div class="card"><h2>Latency</h2>
<table id="latency"><thead><tr><th></th>${d.percentiles.map((p) => html`<th class="num">${pctLabel(p)}</th>`)}<th class="num">messages</th></tr></thead>
<tbody>${latencyRow('accept → submit', s.dispatchLatency)}${latencyRow('submit → delivered', s.deliveryLatency)}</tbody></table></div>
<div class="card"><h2>Errors by code</h2>${hbars({ id: 'chart-errors', label: 'Failed and undelivered messages by error code', rows: errorRows })}
${s.errors.length ? html`<p class="muted">Codes are explained on each message page, with a link to the provider's documentation.</p>` : ''}</div>
<div class="card"><h2>Senders</h2>
<table id="senders"><thead><tr><th>account</th><th>sender</th><th class="num">queued</th><th class="num">queued segments</th><th>oldest queued</th><th class="num">rate (seg/s, last ${d.rateWindowS} s)</th><th class="num">MPS</th></tr></thead>
<tbody>${d.senders.map(
      (r) => html`<tr data-sender="${r.from}"><td>${r.account}</td><td class="mono">${r.from}</td><td class="num">${r.queue?.queued ?? 0}</td><td class="num">${r.queue?.queuedSegments ?? 0}</td>
<td>${time(r.queue?.oldestCreatedAt ?? null)}</td><td class="num">${r.rate.toFixed(2)}</td><td class="num">${r.mps}</td></tr>`,
    )}</tbody></table>
${hbars({
  id: 'chart-queues',
  label: 'Queued segments per sender',
  rows: d.senders.map((r) => ({ label: r.from, value: r.queue?.queuedSegments ?? 0, cls: (r.queue?.queuedSegments ?? 0) > r.mps * 60 ? 'bar-over' : 'bar' })),
})}</div>
<div class="card"><h2>Webhooks</h2><p>${s.webhooks.received} received, <span id="webhooks-rejected">${s.webhooks.rejected}</span> rejected in this range.</p></div>`,
  );
}

// ------------------------------------------------------------------ messages

export interface MessageFilters {
  q: string;
  to: string;
  status: string;
  key: string;
  category: string;
  since: string;
  until: string;
  providerId: string;
}

export function messagesPage(
  l: Layout,
  d: { filters: MessageFilters; keys: readonly ApiKeyRecord[]; items: readonly MessageRecord[]; next: string | null; error?: string; note?: string },
): string {
  const f = d.filters;
  const keyName = new Map(d.keys.map((k) => [k.id, k.name]));
  const opt = (value: string, label: string, cur: string) => html`<option value="${value}" ${value === cur ? raw('selected') : ''}>${label}</option>`;
  const nextLink = d.next ? html`<a id="next-page" href="${l.base}/messages${query({ ...f, cursor: d.next })}">Older →</a>` : '';
  return page(
    l,
    html`<h1>Messages</h1>
<form class="filters" method="get" action="${l.base}/messages">
  <label>Number (to)<input name="to" value="${f.to}" placeholder="+14155550100"></label>
  <label>Status<select name="status">${opt('', 'any', f.status)}${MESSAGE_STATUSES.map((s) => opt(s, s, f.status))}</select></label>
  <label>App (API key)<select name="key">${opt('', 'any', f.key)}${d.keys.map((k) => opt(k.id, k.name, f.key))}</select></label>
  <label>Category<select name="category">${opt('', 'any', f.category)}${CATEGORIES.map((c) => opt(c, c, f.category))}</select></label>
  <label>From (UTC)<input type="datetime-local" name="since" value="${f.since}"></label>
  <label>Until (UTC)<input type="datetime-local" name="until" value="${f.until}"></label>
  <label>Provider id<input name="providerId" value="${f.providerId}" placeholder="SM…"></label>
  <button type="submit">Search</button> <a href="${l.base}/messages">Reset</a>
</form>
${d.error ? html`<div class="error-box" role="alert">${d.error}</div>` : ''}${d.note ? html`<p class="muted">${d.note}</p>` : ''}
<table id="messages"><thead><tr><th>created</th><th>to</th><th>from</th><th>status</th><th>category</th><th>app</th><th class="num">seg</th><th>error</th><th>id</th></tr></thead><tbody>
${d.items.length === 0 ? html`<tr><td colspan="9" class="muted">No messages match.</td></tr>` : ''}
${d.items.map(
  (m) => html`<tr data-id="${m.id}"><td>${time(m.createdAt)}</td><td class="mono">${contactLink(l, m.to)}</td><td class="mono">${m.from}</td><td>${statusBadge(m.status)}</td><td>${m.category}</td>
<td>${m.keyId ? (keyName.get(m.keyId) ?? m.keyId) : html`<span class="muted">system</span>`}</td><td class="num">${m.segments}</td><td>${m.errorCode ?? ''}</td>
<td><a class="mono" href="${l.base}/messages/${encodeURIComponent(m.id)}">${m.id}</a></td></tr>`,
)}</tbody></table>
<div class="pager">${nextLink}</div>`,
  );
}

export interface ErrorInfo {
  meaning: string | null;
  url: string | null;
}

export function messagePage(l: Layout, d: { m: MessageRecord; events: readonly MessageEvent[]; keyName: string | null; errorInfo: (code: string) => ErrorInfo }): string {
  const m = d.m;
  const errCell = (code: string | null | undefined, message?: string | null) => {
    if (!code) return message ? html`${message}` : '';
    const info = d.errorInfo(code);
    return html`<span class="error-code" data-code="${code}"><b>${code}</b>${info.meaning ? html` — ${info.meaning}` : message ? html` — ${message}` : ''}${
      info.url ? html` <a href="${info.url}" target="_blank" rel="noopener noreferrer">docs</a>` : ''
    }</span>`;
  };
  const detailCell = (e: MessageEvent) => {
    const det = e.detail ?? {};
    const parts: (Html | string)[] = [];
    const code = (det.code ?? det.errorCode) as string | null | undefined;
    if (code) parts.push(errCell(code, (det.message as string | undefined) ?? null));
    const rest = Object.entries(det).filter(([k]) => !['code', 'errorCode', 'message'].includes(k));
    if (rest.length) parts.push(html`<code>${rest.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}</code>`);
    return html`${parts.map((p) => html`${p} `)}`;
  };
  const row = (k: string, v: unknown) => html`<tr><th>${k}</th><td>${v}</td></tr>`;
  return page(
    l,
    html`<h1>Message <span class="mono">${m.id}</span></h1>
<div class="card"><table id="message-facts">
${row('status', html`<span id="message-status">${statusBadge(m.status)}</span>${m.providerStatus ? html` <span class="muted">(provider: ${m.providerStatus})</span>` : ''}`)}
${row('to', html`<span class="mono">${contactLink(l, m.to)}</span>`)}${row('from', html`<span class="mono">${m.from}</span>`)}
${row('account / provider', `${m.account} / ${m.provider}`)}${row('app (API key)', d.keyName ?? m.keyId ?? 'system')}
${row('category / priority', `${m.category} / ${m.priority}`)}${row('segments / encoding', `${m.segments} / ${m.encoding}`)}
${row('provider id', html`<span class="mono">${m.providerMessageId ?? '—'}</span>`)}${row('attempts', m.attempts)}
${row('error', errCell(m.errorCode, m.errorMessage) || html`<span class="muted">—</span>`)}
${row('created', time(m.createdAt))}${row('submitted', time(m.submittedAt))}${row('completed', time(m.completedAt))}${row('expires', time(m.expiresAt))}
${row('accept → submit', m.submittedAt === null ? '—' : duration(m.submittedAt - m.createdAt))}
${row('submit → final', m.submittedAt === null || m.completedAt === null ? '—' : duration(m.completedAt - m.submittedAt))}
${row('body', html`<div class="pre">${m.body}</div>`)}
${m.idempotencyKey ? row('idempotency key', html`<code>${m.idempotencyKey}</code>`) : ''}
</table></div>
<h2>Timeline</h2>
<table id="timeline"><thead><tr><th>time</th><th>event</th><th>status</th><th>detail</th></tr></thead><tbody>
${d.events.map(
  (e) => html`<tr data-event="${e.type}"><td>${time(e.at)}</td><td>${e.type}${e.type === 'status' && e.detail?.applied === false ? html` <span class="muted">(not applied: ${String(e.detail?.reason ?? '')})</span>` : ''}</td>
<td>${statusBadge(e.status)}</td><td>${detailCell(e)}</td></tr>`,
)}</tbody></table>
<p><a href="${l.base}/messages${query({ to: m.to })}">Other messages to ${m.to}</a></p>`,
  );
}

// ------------------------------------------------------------------ contacts

export interface ContactStateView {
  program: string;
  state: ConsentSnapshot['state'];
  since: number | null;
  source: string | null;
}

export interface ContactView {
  contact: string;
  states: readonly ContactStateView[];
  history: readonly ConsentHistoryEntry[];
  /** Inbound messages named by the history's evidence (keyword replies), by id. */
  inbound: ReadonlyMap<string, Pick<InboundRecord, 'body' | 'to' | 'receivedAt'>>;
}

export interface ContactsData {
  /** What was typed in the search box. */
  search: string;
  programs: readonly string[];
  /** Opt-out list filter. */
  program: string;
  contact: ContactView | null;
  optOuts: readonly ConsentSnapshot[];
  next: string | null;
  notice?: string;
  error?: string;
}

function consentBadge(state: string): Html {
  return html`<span class="consent ${state}" data-consent="${state}">${state.replace('_', ' ')}</span>`;
}

function evidenceCell(h: ConsentHistoryEntry, inbound: ContactView['inbound']): Html {
  const e = h.evidence ?? {};
  const parts: Html[] = [];
  if (e.inboundMessageId) {
    const m = inbound.get(e.inboundMessageId);
    parts.push(
      html`<div data-evidence="inbound">inbound <code>${e.inboundMessageId}</code>${m ? html`: <q class="pre">${m.body}</q> <span class="muted">to ${m.to}, received ${time(m.receivedAt)}</span>` : html` <span class="muted">(not kept)</span>`}</div>`,
    );
  }
  if (e.keyword) parts.push(html`<div data-evidence="keyword">keyword <b>${e.keyword}</b></div>`);
  if (e.appName || e.keyId) parts.push(html`<div data-evidence="who">by <b>${e.appName ?? ''}</b>${e.keyId ? html` <span class="muted">(key <code>${e.keyId}</code>)</span>` : ''}</div>`);
  if (e.note) parts.push(html`<div data-evidence="note">note: <span class="pre">${e.note}</span></div>`);
  if (e.raw && Object.keys(e.raw).length > 0) parts.push(html`<div data-evidence="raw"><code>${JSON.stringify(e.raw)}</code></div>`);
  return parts.length ? html`${parts}` : html`<span class="muted">—</span>`;
}

export function contactsPage(l: Layout, d: ContactsData): string {
  const c = d.contact;
  const opt = (value: string, label: string, cur: string) => html`<option value="${value}" ${value === cur ? raw('selected') : ''}>${label}</option>`;
  const contactSection = c
    ? html`<div class="card" id="contact" data-contact="${c.contact}"><h2 class="mono">${c.contact}</h2>
<table id="consent-states"><thead><tr><th>program</th><th>state</th><th>since</th><th>source</th></tr></thead><tbody>
${c.states.map((s) => html`<tr data-program="${s.program}"><td>${s.program}</td><td>${consentBadge(s.state)}</td><td>${time(s.since)}</td><td>${s.source ?? html`<span class="muted">never recorded</span>`}</td></tr>`)}
</tbody></table>
<p><a href="${l.base}/messages${query({ to: c.contact })}">Messages to ${c.contact}</a>${l.sandbox ? html` · <a href="${l.base}/phones${query({ number: c.contact })}">Sandbox handset</a>` : ''}</p>
<h2>History</h2>
<table id="consent-history"><thead><tr><th class="num">#</th><th>when</th><th>program</th><th>state</th><th>source</th><th>evidence</th></tr></thead><tbody>
${c.history.length === 0 ? html`<tr><td colspan="6" class="muted">No consent change recorded for this number.</td></tr>` : ''}
${[...c.history].reverse().map(
  (h) => html`<tr data-seq="${h.seq}" data-source="${h.source}" data-state="${h.state}"><td class="num">${h.seq}</td><td>${time(h.at)}${Math.abs(h.recordedAt - h.at) >= 1_000 ? html`<br><small class="muted">recorded ${time(h.recordedAt)}</small>` : ''}</td>
<td>${h.program}</td><td>${consentBadge(h.state)}</td><td>${h.source}</td><td>${evidenceCell(h, c.inbound)}</td></tr>`,
)}</tbody></table>
<h2>Record a change</h2>
<form method="post" action="${l.base}/contacts/consent" id="consent-form" class="filters">
  <input type="hidden" name="_csrf" value="${l.csrf}"><input type="hidden" name="contact" value="${c.contact}">
  <label>Program<select name="program">${d.programs.map((p) => opt(p, p, d.program || d.programs[0] || ''))}</select></label>
  <label>State<select name="state">${opt('opted_out', 'opt out', '')}${opt('opted_in', 'opt in', '')}</select></label>
  <label class="grow">Note (evidence: why, who asked, document…)<input name="note" maxlength="2000" placeholder="Customer called support on 2026-03-01"></label>
  <button type="submit">Record</button>
</form>
<p class="muted">Recorded with source <code>dashboard</code> and your key's name. Re-subscribing someone who texted STOP needs a note. An opt-out also fails their queued messages in the program.</p>
</div>`
    : '';
  const nextLink = d.next ? html`<a id="next-page" href="${l.base}/contacts${query({ program: d.program, cursor: d.next })}">More →</a>` : '';
  return page(
    l,
    html`<h1>Contacts</h1>
<form class="filters" method="get" action="${l.base}/contacts">
  <label>Number<input name="contact" value="${d.search}" placeholder="+14155550100"></label>
  <button type="submit">Look up</button>
</form>
${d.notice ? html`<div class="notice" role="status">${d.notice}</div>` : ''}${d.error ? html`<div class="error-box" role="alert">${d.error}</div>` : ''}
${contactSection}
<div class="card" id="opt-outs"><h2>Opted out</h2>
<form class="filters" method="get" action="${l.base}/contacts">
  <label>Program<select name="program">${opt('', 'all programs', d.program)}${d.programs.map((p) => opt(p, p, d.program))}</select></label>
  <button type="submit">Filter</button>
  <a id="export-csv" href="${l.base}/contacts/export.csv${query({ program: d.program, state: 'opted_out' })}">Export CSV</a>
</form>
<table id="opt-out-list"><thead><tr><th>number</th><th>program</th><th>since</th><th>source</th></tr></thead><tbody>
${d.optOuts.length === 0 ? html`<tr><td colspan="4" class="muted">Nobody opted out${d.program ? ` of ${d.program}` : ''}.</td></tr>` : ''}
${d.optOuts.map(
  (s) => html`<tr data-contact="${s.contact}" data-program="${s.program}"><td class="mono"><a href="${l.base}/contacts${query({ contact: s.contact })}">${s.contact}</a></td><td>${s.program}</td><td>${time(s.since > 0 ? s.since : null)}</td><td>${s.source ?? ''}</td></tr>`,
)}</tbody></table>
<div class="pager">${nextLink}</div></div>`,
  );
}

// ------------------------------------------------------------------ alerts

export function alertsPage(l: Layout, d: { alerts: readonly Alert[]; callbackMissingMinutes: number }): string {
  return page(
    l,
    html`<h1>Alerts</h1>
${d.alerts.length === 0 ? html`<div class="notice" id="no-alerts">No alerts. Rules: callbacks missing ${d.callbackMissingMinutes}+ min after submit, rising failure rate, rejected webhooks, sender backlog, event deliveries to apps failing.</div>` : ''}
${d.alerts.map(
  (a) => html`<div class="card alert ${a.severity}" data-alert="${a.kind}"><b>${a.title}</b><p>${a.detail}</p>
${a.subscriptionId ? html`<p class="muted">Delivery log: <code>GET /v1/subscriptions/${a.subscriptionId}/deliveries</code></p>` : ''}
${a.messageIds?.length ? html`<p>${a.messageIds.map((id) => html`<a class="mono" href="${l.base}/messages/${encodeURIComponent(id)}">${id}</a> `)}</p>` : ''}</div>`,
)}
`,
  );
}

// ------------------------------------------------------------------ sandbox phones

export interface PhoneEntryView {
  sid: string;
  direction: 'received' | 'sent';
  from: string;
  to: string;
  body: string;
  at: number;
}

export function phonesPage(
  l: Layout,
  d: { phones: readonly { number: string; messages: number; last: number }[]; selected: string | null; inbox: readonly PhoneEntryView[]; senders: readonly string[]; notice?: string; error?: string },
): string {
  return page(
    l,
    html`<h1>Sandbox phones</h1>
<p class="muted">Virtual handsets of the built-in sandbox carrier: what your messages look like on the phone, and replies that come back through the real webhook path.</p>
${d.notice ? html`<div class="notice" role="status">${d.notice}</div>` : ''}${d.error ? html`<div class="error-box" role="alert">${d.error}</div>` : ''}
<div class="phones"><div class="card"><ul id="phone-list">
${d.phones.length === 0 ? html`<li class="muted">No handset has received a message yet.</li>` : ''}
${d.phones.map((p) => html`<li><a class="${p.number === d.selected ? 'active' : ''} mono" href="${l.base}/phones${query({ number: p.number })}">${p.number} <span class="muted">(${p.messages})</span></a></li>`)}
</ul></div>
<div class="card">
${d.selected ? html`<h2 class="mono">${d.selected}</h2>
<div id="inbox">${d.inbox.length === 0 ? html`<p class="muted">Empty.</p>` : ''}${d.inbox.map(
      (e) => html`<div class="bubble ${e.direction}" data-direction="${e.direction}"><small>${e.direction === 'received' ? `from ${e.from}` : `to ${e.to}`} · ${time(e.at)}</small>${e.body}</div>`,
    )}</div>` : html`<p class="muted">Pick a handset, or text a sandbox number from a new one below.</p>`}
<form method="post" action="${l.base}/phones/reply" id="reply-form">
  <input type="hidden" name="_csrf" value="${l.csrf}">
  <label>From handset<input name="from" value="${d.selected ?? ''}" placeholder="+14155550100" required></label>
  <label>To sandbox number<select name="to">${d.senders.map((s) => html`<option value="${s}">${s}</option>`)}</select></label>
  <label>Message<textarea name="body" rows="2" required></textarea></label>
  <p><button type="submit">Send from handset</button></p>
</form></div></div>`,
  );
}
