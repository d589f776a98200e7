import type { Db } from 'mongodb';

export type ScopeDoc = { _id: string; description: string; createdAt: Date };

export const scopesCollection = (db: Db) => db.collection<ScopeDoc>('scopes');

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

/**
 * The scope parameter (RFC 6749 §3.3): space-delimited scope tokens, duplicates collapsed, order
 * kept. undefined when absent; 'invalid' when empty or when a token is malformed.
 */
export function parseScopeParameter(scope: string | undefined): string[] | 'invalid' | undefined {
  if (scope === undefined) return undefined;
  const tokens = scope.split(' ');
  if (tokens.some((t) => !SCOPE_TOKEN.test(t))) return 'invalid';
  return [...new Set(tokens)];
}
