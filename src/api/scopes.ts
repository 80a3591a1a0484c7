/**
 * API key scopes: the one list. Routes name the scope they need; `admin` satisfies every scope.
 * Later issues add scopes here (and only here); docs/reference/api.md lists them.
 */
export const SCOPES = [
  'messages:send',
  'messages:read',
  'consent:read',
  'consent:write',
  'conversations:read',
  'conversations:write',
  'subscriptions:manage',
  /** Log in to the operator dashboard (src/dashboard/): read everything there, record consent from the Contacts page. */
  'dashboard',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

/** Scopes of the development key created on first start. */
export const DEV_KEY_SCOPES: readonly Scope[] = ['messages:send', 'messages:read', 'admin'];

export function isScope(s: string): s is Scope {
  return (SCOPES as readonly string[]).includes(s);
}

/** Does a key holding `granted` satisfy `required`? */
export function hasScope(granted: readonly string[], required: Scope): boolean {
  return granted.includes(required) || granted.includes('admin');
}

/** Parse "a,b c" into scopes; unknown names are returned separately so callers can say which. */
export function parseScopes(text: string): { scopes: Scope[]; unknown: string[] } {
  const scopes: Scope[] = [];
  const unknown: string[] = [];
  for (const s of text.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean)) {
    if (isScope(s)) {
      if (!scopes.includes(s)) scopes.push(s);
    } else unknown.push(s);
  }
  return { scopes, unknown };
}
