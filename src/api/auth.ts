/**
 * Bearer-key authentication as an `onRequest` hook, so a request without a valid key is answered 401
 * before its body is even parsed. Each route names the scope it needs (see scopes.ts).
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiKeyRecord, Store } from '../store/store.ts';
import { SwitchboardError } from '../errors.ts';
import { findActiveKey } from './keys.ts';
import { hasScope, type Scope } from './scopes.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated API key (set by the auth hook). */
    apiKey: ApiKeyRecord | null;
  }
}

export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : '';
}

/** Authenticate and require `scope`; the key is left on `request.apiKey`. */
export function requireScope(store: Store, scope: Scope): onRequestHookHandler {
  return async function auth(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const token = bearerToken(request.headers.authorization);
    if (token === null) throw new SwitchboardError('SB_AUTH_MISSING');
    const key = token ? await findActiveKey(store, token) : null;
    if (!key) throw new SwitchboardError('SB_AUTH_INVALID');
    if (!hasScope(key.scopes, scope)) {
      throw new SwitchboardError('SB_AUTH_SCOPE', { message: `The API key lacks the required scope \`${scope}\``, details: { requiredScope: scope } });
    }
    request.apiKey = key;
  };
}
