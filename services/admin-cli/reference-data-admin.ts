// What the admin CLI does to reference data (clients, users, scopes, resources), as functions
// the CLI front end and the tests call. Every function validates first and changes nothing on
// bad input; each throws AdminError with a one-line reason.
import type { Db } from 'mongodb';
import { randomToken, sha256 } from '#shared/crypto.ts';
import { isDuplicateKey, ensureIndexes } from '#shared/mongo.ts';
import type { Logger } from '#shared/logger.ts';
import { hashPassword } from '#shared/password.ts';
import {
  clientsCollection, DEFAULT_ACCESS_TOKEN_TTL_SECONDS, MAX_ACCESS_TOKEN_TTL_SECONDS, MIN_ACCESS_TOKEN_TTL_SECONDS,
  DEFAULT_REFRESH_TOKEN_TTL_SECONDS, MAX_REFRESH_TOKEN_TTL_SECONDS,
  ClientGrantTypes, MAX_REFRESH_GRACE_SECONDS, type ClientDoc, type ClientGrantType, type ClientType,
} from '#shared/reference-data/clients.ts';
import { scopesCollection, SCOPE_TOKEN } from '#shared/reference-data/scopes.ts';
import { usersCollection, userIndexes, USERNAME, GROUP } from '#shared/reference-data/users.ts';
import { resourcesCollection, RESOURCE_PATTERN } from '#shared/reference-data/resources.ts';
import { AdminError } from './admin-error.ts';
import { requireScopes } from './require-scopes.ts';

// Defined in a module of its own so the CLI can load it without the database driver; callers
// (and test/helpers) keep importing it from here, with the functions that throw it.
export { AdminError };

export async function ensureReferenceIndexes(db: Db, log: Logger): Promise<void> {
  await ensureIndexes(usersCollection(db), userIndexes, log);
}

export async function createScope(db: Db, name: string, description: string): Promise<void> {
  if (!SCOPE_TOKEN.test(name)) throw new AdminError(`invalid scope name "${name}": use printable ASCII without spaces, quotes or backslashes`);
  if (description.trim() === '' || description.length > 500) throw new AdminError('a scope needs a --description of 1 to 500 characters');
  try {
    await scopesCollection(db).insertOne({ _id: name, description: description.trim(), createdAt: new Date() });
  } catch (error) {
    if (isDuplicateKey(error)) throw new AdminError(`scope "${name}" already exists`);
    throw error;
  }
}

export type NewUser = { username: string; password: string; groups: string[] };

export async function createUser(db: Db, user: NewUser): Promise<{ sub: string }> {
  if (!USERNAME.test(user.username)) throw new AdminError('invalid username: 1 to 128 letters, digits or . _ @ + -');
  if (user.password.length < 8 || user.password.length > 1024) throw new AdminError('the password must be 8 to 1024 characters long');
  for (const group of user.groups) if (!GROUP.test(group)) throw new AdminError(`invalid group "${group}"`);
  const sub = `u_${randomToken(12)}`;
  try {
    await usersCollection(db).insertOne({
      _id: sub,
      username: user.username,
      passwordHash: await hashPassword(user.password),
      groups: [...new Set(user.groups)],
      createdAt: new Date(),
    });
  } catch (error) {
    if (isDuplicateKey(error)) throw new AdminError(`user "${user.username}" already exists`);
    throw error;
  }
  return { sub };
}

export type NewResource = { pattern: string; scopes: string[]; groups: string[] };

export async function createResource(db: Db, resource: NewResource): Promise<void> {
  if (!RESOURCE_PATTERN.test(resource.pattern) || resource.pattern.indexOf('*') !== -1 && resource.pattern.indexOf('*') !== resource.pattern.length - 1) {
    throw new AdminError('invalid resource pattern: printable ASCII, exact or with one trailing *');
  }
  if (resource.scopes.length === 0) throw new AdminError('a resource rule needs at least one --scope');
  await requireScopes(db, resource.scopes);
  for (const group of resource.groups) if (!GROUP.test(group)) throw new AdminError(`invalid group "${group}"`);
  try {
    await resourcesCollection(db).insertOne({
      _id: resource.pattern,
      scopes: [...new Set(resource.scopes)],
      groups: [...new Set(resource.groups)],
      createdAt: new Date(),
    });
  } catch (error) {
    if (isDuplicateKey(error)) throw new AdminError(`resource rule "${resource.pattern}" already exists`);
    throw error;
  }
}

export type NewClient = {
  name: string;
  type: ClientType;
  redirectUris: string[];
  scopes: string[];
  refreshTokens: boolean;
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  /** `--grant-type`: authorization_code (the default) and/or client_credentials (confidential clients only). */
  grantTypes?: ClientGrantType[];
  /** `--refresh-grace-seconds` 0-60 (default 0): a rotated refresh token is accepted once more within it. */
  refreshGraceSeconds?: number;
  /** Every token request of the client must carry a DPoP proof (RFC 9449). */
  requireDpop?: boolean;
  /** RFC 9126 §6: authorization requests only through PAR. */
  requirePar?: boolean;
};

export async function createClient(db: Db, client: NewClient): Promise<{ clientId: string; clientSecret?: string }> {
  if (client.name.trim() === '' || client.name.length > 200) throw new AdminError('a client needs a --name of 1 to 200 characters');
  const grantTypes = clientGrantTypes(client);
  if (grantTypes.includes('authorization_code') && client.redirectUris.length === 0) throw new AdminError('a client needs at least one --redirect-uri');
  for (const uri of client.redirectUris) checkRedirectUri(uri);
  if (client.scopes.length === 0) throw new AdminError('a client needs at least one --scope');
  await requireScopes(db, client.scopes);
  const accessTtl = client.accessTokenTtlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS;
  const refreshTtl = client.refreshTokenTtlSeconds ?? DEFAULT_REFRESH_TOKEN_TTL_SECONDS;
  if (!Number.isInteger(accessTtl) || accessTtl < MIN_ACCESS_TOKEN_TTL_SECONDS || accessTtl > MAX_ACCESS_TOKEN_TTL_SECONDS) {
    throw new AdminError(`--access-token-ttl must be a whole number of seconds from ${MIN_ACCESS_TOKEN_TTL_SECONDS} to ${MAX_ACCESS_TOKEN_TTL_SECONDS}`);
  }
  if (!Number.isInteger(refreshTtl) || refreshTtl < 300 || refreshTtl > MAX_REFRESH_TOKEN_TTL_SECONDS) {
    throw new AdminError(`--refresh-token-ttl must be a whole number of seconds from 300 to ${MAX_REFRESH_TOKEN_TTL_SECONDS}`);
  }
  const grace = client.refreshGraceSeconds ?? 0;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_REFRESH_GRACE_SECONDS) {
    throw new AdminError(`--refresh-grace-seconds must be a whole number of seconds from 0 to ${MAX_REFRESH_GRACE_SECONDS}`);
  }

  const clientId = `c_${randomToken(16)}`;
  const clientSecret = client.type === 'confidential' ? randomToken(32) : undefined;
  const now = new Date();
  const doc: ClientDoc = {
    _id: clientId,
    name: client.name.trim(),
    type: client.type,
    ...(clientSecret ? { secretHash: sha256(clientSecret) } : {}),
    redirectUris: [...new Set(client.redirectUris)],
    scopes: [...new Set(client.scopes)],
    grantTypes: [...grantTypes, ...(client.refreshTokens ? ['refresh_token' as const] : [])],
    accessTokenTtlSeconds: accessTtl,
    refreshTokenTtlSeconds: refreshTtl,
    createdAt: now,
    updatedAt: now,
    ...(client.requireDpop ? { requireDpop: true } : {}),
    ...(client.requirePar ? { requirePar: true } : {}),
    ...(grace > 0 ? { refreshGraceSeconds: grace } : {}),
  };
  await clientsCollection(db).insertOne(doc);
  return clientSecret ? { clientId, clientSecret } : { clientId };
}

/**
 * The grant types asked for (authorization_code when none is), checked: client credentials only for
 * a confidential client (RFC 6749 §4.4), refresh tokens only where a code grant issues them.
 */
function clientGrantTypes(client: NewClient): ClientGrantType[] {
  const asked = [...new Set(client.grantTypes ?? [])];
  for (const type of asked) {
    if (!(ClientGrantTypes as readonly string[]).includes(type)) throw new AdminError(`--grant-type must be authorization_code or client_credentials, not "${type}"`);
  }
  const grantTypes = asked.length > 0 ? asked : ['authorization_code' as const];
  if (grantTypes.includes('client_credentials') && client.type !== 'confidential') {
    throw new AdminError('--grant-type client_credentials is for confidential clients only');
  }
  if (client.refreshTokens && !grantTypes.includes('authorization_code')) throw new AdminError('--refresh-tokens needs --grant-type authorization_code');
  return grantTypes;
}

/** Generates a new secret and replaces the stored hash in one update; the old secret stops working. */
export async function rotateClientSecret(db: Db, clientId: string): Promise<{ clientSecret: string }> {
  const clientSecret = randomToken(32);
  const updated = await clientsCollection(db).findOneAndUpdate(
    { _id: clientId, type: 'confidential' },
    { $set: { secretHash: sha256(clientSecret), updatedAt: new Date() } },
  );
  if (!updated) throw new AdminError(`no confidential client "${clientId}"`);
  return { clientSecret };
}

/**
 * RFC 6749 §3.1.2 and RFC 9700 §4.1: an absolute URI without a fragment; https, or http only for
 * loopback (native apps, RFC 8252 §7.3), or a private-use scheme (RFC 8252 §7.1). No userinfo.
 */
export function checkRedirectUri(uri: string): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new AdminError(`invalid redirect URI "${uri}": not an absolute URI`);
  }
  if (uri.includes('#')) throw new AdminError(`invalid redirect URI "${uri}": it must not have a fragment`);
  if (url.username || url.password) throw new AdminError(`invalid redirect URI "${uri}": it must not carry user information`);
  if (uri.length > 2000 || /[\s<>"]/.test(uri)) throw new AdminError(`invalid redirect URI "${uri}"`);
  const scheme = url.protocol.slice(0, -1);
  if (['javascript', 'data', 'file', 'vbscript', 'blob', 'about'].includes(scheme)) throw new AdminError(`invalid redirect URI "${uri}": scheme ${scheme} is not allowed`);
  if (scheme === 'http' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
    throw new AdminError(`invalid redirect URI "${uri}": http is allowed only for loopback addresses; use https`);
  }
  if (scheme !== 'https' && scheme !== 'http' && !scheme.includes('.')) {
    throw new AdminError(`invalid redirect URI "${uri}": a private-use scheme must be a reversed domain name (RFC 8252 §7.1)`);
  }
}

