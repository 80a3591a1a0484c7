/**
 * Validation of app webhook URLs (SSRF guard). Two checks:
 * 1. `checkWebhookUrl` when a subscription is created: scheme, credentials, and — without any DNS lookup —
 *    literal IP hosts and well-known internal host names (localhost, *.localhost, *.internal, *.local).
 * 2. `checkResolvedAddress` at delivery time, on every address the host name resolved to (the delivery
 *    client must connect to the address it checked, so DNS rebinding cannot slip a private address in).
 * Loopback/link-local/private/unspecified/etc. are refused unless the config explicitly allows them
 * (`allowLoopback` for local development, `allowPrivate` for apps on the same private network).
 */
import { isIP } from 'node:net';

export interface UrlPolicyOptions {
  allowLoopback: boolean;
  allowPrivate: boolean;
  /** Allow plain http:// (default true; set false to require https in production). */
  allowHttp?: boolean;
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };
export type AddressCheck = { ok: true } | { ok: false; reason: string };

type AddressClass = 'public' | 'loopback' | 'private' | 'link_local' | 'unspecified' | 'reserved';

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}
function inV4(ip: number, base: string, bits: number): boolean {
  const size = 2 ** (32 - bits);
  const b = v4ToInt(base);
  return ip >= b && ip < b + size;
}

function classifyV4(ip: string): AddressClass {
  const n = v4ToInt(ip);
  if (inV4(n, '0.0.0.0', 8)) return 'unspecified';
  if (inV4(n, '127.0.0.0', 8)) return 'loopback';
  if (inV4(n, '10.0.0.0', 8) || inV4(n, '172.16.0.0', 12) || inV4(n, '192.168.0.0', 16)) return 'private';
  if (inV4(n, '100.64.0.0', 10)) return 'private'; // carrier-grade NAT (RFC 6598)
  if (inV4(n, '169.254.0.0', 16)) return 'link_local'; // includes cloud metadata 169.254.169.254
  if (inV4(n, '192.0.0.0', 24) || inV4(n, '192.0.2.0', 24) || inV4(n, '198.18.0.0', 15) || inV4(n, '198.51.100.0', 24) || inV4(n, '203.0.113.0', 24)) return 'reserved';
  if (inV4(n, '224.0.0.0', 4) || inV4(n, '240.0.0.0', 4)) return 'reserved'; // multicast, reserved, broadcast
  return 'public';
}

/** Expand an IPv6 literal into 8 16-bit groups (handles ::, embedded IPv4). */
function v6Groups(ip: string): number[] {
  let s = ip.toLowerCase();
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const v4 = s.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const n = v4ToInt(v4[1]!);
    s = s.slice(0, -v4[1]!.length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const fill = tail !== undefined ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}

function classifyV6(ip: string): AddressClass {
  const g = v6Groups(ip);
  if (g.every((x) => x === 0)) return 'unspecified';
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d) and NAT64 well-known prefix (64:ff9b::/96): judge the embedded IPv4.
  const embedded = `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return classifyV4(embedded);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return classifyV4(embedded);
  if ((g[0]! & 0xfe00) === 0xfc00) return 'private'; // unique local fc00::/7
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link_local'; // fe80::/10
  if ((g[0]! & 0xffc0) === 0xfec0) return 'private'; // deprecated site-local
  if ((g[0]! & 0xff00) === 0xff00) return 'reserved'; // multicast
  if (g[0] === 0x2001 && g[1] === 0x0db8) return 'reserved'; // documentation
  if (g.slice(0, 6).every((x) => x === 0)) return 'reserved'; // deprecated IPv4-compatible ::a.b.c.d
  return 'public';
}

function classify(ip: string): AddressClass | null {
  const v = isIP(ip);
  if (v === 4) return classifyV4(ip);
  if (v === 6) return classifyV6(ip);
  return null;
}

function judge(cls: AddressClass, ip: string, opts: UrlPolicyOptions): AddressCheck {
  switch (cls) {
    case 'public':
      return { ok: true };
    case 'loopback':
      return opts.allowLoopback ? { ok: true } : { ok: false, reason: `${ip} is a loopback address (set events.allowLoopbackUrls for local development)` };
    case 'private':
      return opts.allowPrivate ? { ok: true } : { ok: false, reason: `${ip} is a private address (set events.allowPrivateUrls to deliver inside your network)` };
    case 'link_local':
      return { ok: false, reason: `${ip} is link-local (cloud metadata range); never allowed` };
    case 'unspecified':
      return { ok: false, reason: `${ip} is the unspecified address; never allowed` };
    case 'reserved':
      return { ok: false, reason: `${ip} is a reserved/multicast/documentation address; never allowed` };
  }
}

/** Check one resolved address at delivery time (after DNS, before connecting). */
export function checkResolvedAddress(ip: string, opts: UrlPolicyOptions): AddressCheck {
  const cls = classify(ip);
  if (cls === null) return { ok: false, reason: `${JSON.stringify(ip)} is not an IP address` };
  return judge(cls, ip, opts);
}

const INTERNAL_SUFFIXES = ['.localhost', '.local', '.internal', '.localdomain', '.home.arpa'];

/** Check a subscription URL without resolving it. */
export function checkWebhookUrl(raw: string, opts: UrlPolicyOptions): UrlCheck {
  if (typeof raw !== 'string' || raw.length === 0) return { ok: false, reason: 'URL is required' };
  if (raw.length > 2048) return { ok: false, reason: 'URL is longer than 2048 characters' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: `scheme ${url.protocol} not allowed; use https:// (or http://)` };
  if (url.protocol === 'http:' && opts.allowHttp === false) return { ok: false, reason: 'http:// not allowed; use https://' };
  if (url.username || url.password) return { ok: false, reason: 'credentials in the URL are not allowed; the signature authenticates deliveries' };
  if (url.hash) return { ok: false, reason: 'URL fragments are not allowed' };
  // WHATWG URL already normalises hosts: decimal/hex/octal IPv4 forms become dotted quads; IPv6 is bracketed.
  let host = url.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') return { ok: false, reason: 'URL has no host' };
  const cls = classify(host);
  if (cls !== null) {
    const r = judge(cls, host, opts);
    return r.ok ? { ok: true, url } : r;
  }
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || INTERNAL_SUFFIXES.some((s) => name.endsWith(s))) {
    const isLoop = name === 'localhost' || name.endsWith('.localhost');
    if (isLoop ? opts.allowLoopback : opts.allowPrivate) return { ok: true, url };
    return { ok: false, reason: `${name} is an internal host name (${isLoop ? 'loopback' : 'private network'}); not allowed by config` };
  }
  if (!name.includes('.')) {
    if (opts.allowPrivate) return { ok: true, url };
    return { ok: false, reason: `${name} is a single-label (intranet) host name; use a fully qualified name` };
  }
  return { ok: true, url };
}
