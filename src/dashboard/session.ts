/**
 * Dashboard sessions: a signed cookie (HMAC-SHA256), no server-side session table.
 *   sb_session = base64url(JSON { k: keyId, s: sessionId, e: expiresAt }) "." base64url(hmac)
 * The CSRF token of a session is HMAC(secret, "csrf:" + sessionId): every POST form carries it and the server
 * recomputes it. Login forms (no session yet) use a double-submit cookie (`sb_login`) instead.
 * The key is re-checked on every request, so revoking the API key ends its sessions.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'sb_session';
export const LOGIN_COOKIE = 'sb_login';
export const SESSION_TTL_MS = 12 * 3_600_000;

export interface Session {
  keyId: string;
  id: string;
  expiresAt: number;
}

function mac(secret: string, data: string): string {
  return createHmac('sha256', secret).update(data, 'utf8').digest('base64url');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function newSessionId(): string {
  return randomBytes(18).toString('base64url');
}

export function signSession(secret: string, s: Session): string {
  const payload = Buffer.from(JSON.stringify({ k: s.keyId, s: s.id, e: s.expiresAt }), 'utf8').toString('base64url');
  return `${payload}.${mac(secret, payload)}`;
}

/** The session in a cookie value, or null if forged, malformed or expired at `now`. */
export function verifySession(secret: string, value: string | undefined, now: number): Session | null {
  if (!value) return null;
  const dot = value.indexOf('.');
  if (dot <= 0) return null;
  const payload = value.slice(0, dot);
  if (!safeEqual(mac(secret, payload), value.slice(dot + 1))) return null;
  try {
    const o = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { k?: unknown; s?: unknown; e?: unknown };
    if (typeof o.k !== 'string' || typeof o.s !== 'string' || typeof o.e !== 'number') return null;
    if (o.e <= now) return null;
    return { keyId: o.k, id: o.s, expiresAt: o.e };
  } catch {
    return null;
  }
}

export function csrfToken(secret: string, sessionId: string): string {
  return mac(secret, `csrf:${sessionId}`);
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (!(k in out)) {
      try {
        out[k] = decodeURIComponent(v);
      } catch {
        out[k] = v;
      }
    }
  }
  return out;
}

export interface CookieOptions {
  path: string;
  secure: boolean;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
}

export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  return `${name}=${encodeURIComponent(value)}; Path=${o.path}; Max-Age=${Math.max(0, Math.floor(o.maxAge))}; HttpOnly; SameSite=Strict${o.secure ? '; Secure' : ''}`;
}
