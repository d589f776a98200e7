// Resource servers (RFC 8707): the URIs a client may name as `resource`, each with the scopes it
// accepts. An access token asked for them carries them as its `aud` and only the granted scopes
// they accept. Written by the admin CLI (`oauth-admin resource-servers`), read by the services.
import type { Db } from 'mongodb';
import { OAuthError } from '#shared/oauth-error.ts';

export type ResourceServerDoc = { _id: string; scopes: string[]; createdAt: Date };

export const resourceServersCollection = (db: Db) => db.collection<ResourceServerDoc>('resource_servers');

/** Longest resource indicator accepted anywhere (parameters, CLI, NATS). */
export const MAX_RESOURCE_LENGTH = 2048;
/** At most this many `resource` parameters in one request. */
export const MAX_RESOURCES = 16;

/**
 * RFC 8707 §2: an absolute URI without a fragment. Printable ASCII only (no spaces), so it can
 * be compared as a string and shown without escaping surprises.
 */
export function isResourceIndicator(uri: string): boolean {
  if (uri.length === 0 || uri.length > MAX_RESOURCE_LENGTH || !/^[\x21-\x7E]+$/.test(uri) || uri.includes('#')) return false;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)) return false;
  return URL.canParse(uri);
}

export const invalidTarget = (detail: string) =>
  new OAuthError('invalid_target', 'A requested resource is unknown, malformed or not within the authorization.', detail);

/**
 * The `resource` parameters as sent (one string, several, or none), checked: each well-formed,
 * duplicates collapsed, order kept, at most MAX_RESOURCES. undefined when none was sent.
 */
function sentResourceUris(sent: string | string[] | undefined): string[] | undefined {
  if (sent === undefined) return undefined;
  const uris = [...new Set(Array.isArray(sent) ? sent : [sent])];
  if (uris.length === 0) return undefined;
  if (uris.length > MAX_RESOURCES) throw invalidTarget('too many resources');
  if (!uris.every(isResourceIndicator)) throw invalidTarget('malformed resource');
  return uris;
}

/**
 * The `resource` parameters as sent, checked (sentResourceUris) and each looked up: the registered
 * servers, or invalid_target if one is not registered; undefined when none was sent. Lookups may wait
 * for a load an announcement started (ReferenceCache.findResourceServer).
 */
export async function resolveResources(
  sent: string | string[] | undefined, findResourceServer: (uri: string) => Promise<ResourceServerDoc | undefined> | undefined,
): Promise<ResourceServerDoc[] | undefined> {
  const uris = sentResourceUris(sent);
  if (!uris) return undefined;
  const servers = await Promise.all(uris.map((uri) => findResourceServer(uri)));
  if (servers.some((server) => server === undefined)) throw invalidTarget('unregistered resource');
  return servers as ResourceServerDoc[];
}

/** The scopes of `scopes` that at least one of `servers` accepts, in their order. */
export function scopesAccepted(scopes: readonly string[], servers: readonly ResourceServerDoc[]): string[] {
  return scopes.filter((scope) => servers.some((server) => server.scopes.includes(scope)));
}
