/**
 * API keys: `sb_live_…` / `sb_dev_…` + 32 random bytes (base64url). Only the sha256 of the token is stored,
 * with its first characters as a display prefix. Used by the API (auth), the CLI (`keys create`) and first start.
 */
import { createHash, randomBytes } from 'node:crypto';
import { newId } from '../domain/ids.ts';
import type { ApiKeyRecord, Store } from '../store/store.ts';
import type { Scope } from './scopes.ts';

export type KeyKind = 'live' | 'dev';

/** Characters of the token kept for display (`sb_live_` + 6). */
const PREFIX_CHARS = 14;
const TOKEN_RE = /^sb_(live|dev)_[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Cheap shape check before touching the store. */
export function looksLikeToken(token: string): boolean {
  return TOKEN_RE.test(token);
}

export function generateToken(kind: KeyKind): string {
  return `sb_${kind}_${randomBytes(32).toString('base64url')}`;
}

export interface CreateKeyInput {
  name: string;
  scopes: readonly Scope[];
  account?: string | null;
  kind?: KeyKind;
  now: number;
}

/** Create and store a key; the returned token is shown once and never stored. */
export async function createApiKey(store: Store, input: CreateKeyInput): Promise<{ token: string; record: ApiKeyRecord }> {
  const token = generateToken(input.kind ?? 'live');
  const record: ApiKeyRecord = {
    id: newId('key', input.now),
    name: input.name,
    hash: hashToken(token),
    prefix: token.slice(0, PREFIX_CHARS),
    scopes: [...input.scopes],
    account: input.account ?? null,
    createdAt: input.now,
    revokedAt: null,
  };
  await store.createApiKey(record);
  return { token, record };
}

/** Look up an active key by its token; null when unknown or revoked. */
export async function findActiveKey(store: Store, token: string): Promise<ApiKeyRecord | null> {
  if (!looksLikeToken(token)) return null;
  const rec = await store.findApiKeyByHash(hashToken(token));
  if (!rec || rec.revokedAt !== null) return null;
  return rec;
}
