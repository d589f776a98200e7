import type { Db } from 'mongodb';

/** A resource rule: which scopes and groups admit a caller to the resources `pattern` covers. */
export type ResourceDoc = { _id: string; scopes: string[]; groups: string[]; createdAt: Date };

export const resourcesCollection = (db: Db) => db.collection<ResourceDoc>('resources');

/** Exact match, or a prefix match when the pattern ends with `*`. */
export function patternCovers(pattern: string, resource: string): boolean {
  return pattern.endsWith('*') ? resource.startsWith(pattern.slice(0, -1)) : pattern === resource;
}

/** The most specific rule covering `resource` (exact beats prefix, longer prefix beats shorter). */
export function ruleFor<R extends { _id: string }>(rules: Iterable<R>, resource: string): R | undefined {
  let best: R | undefined;
  for (const rule of rules) {
    if (!patternCovers(rule._id, resource)) continue;
    if (!best || specificity(rule._id) > specificity(best._id)) best = rule;
  }
  return best;
}

const specificity = (pattern: string) => (pattern.endsWith('*') ? pattern.length - 1 : Number.MAX_SAFE_INTEGER);

export const RESOURCE_PATTERN = /^[\x21-\x7E]{1,1024}$/;
