// Read side of the admin CLI: list and show clients, users, scopes and resource rules. Views never
// carry a secret hash or a password hash: the queries project them away, so they never leave the database.
import type { Db } from 'mongodb';
import { clientsCollection, clientGetsRefreshTokens, clientRefreshGraceSeconds, type ClientDoc, type ClientType } from '#shared/reference-data/clients.ts';
import { scopesCollection } from '#shared/reference-data/scopes.ts';
import { usersCollection } from '#shared/reference-data/users.ts';
import { resourcesCollection } from '#shared/reference-data/resources.ts';
import { resourceServersCollection } from '#shared/reference-data/resource-servers.ts';
import { AdminError } from './admin-error.ts';

export type ClientView = {
  clientId: string;
  name: string;
  type: ClientType;
  redirectUris: string[];
  scopes: string[];
  refreshTokens: boolean;
  grantTypes: ClientDoc['grantTypes'];
  refreshGraceSeconds: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  createdAt: Date;
  updatedAt: Date;
  disabled: boolean;
  requireDpop: boolean;
  requirePar: boolean;
};
export type UserView = { sub: string; username: string; groups: string[]; createdAt: Date; disabled: boolean };
export type ScopeView = { name: string; description: string; createdAt: Date };
export type ScopeUsage = { clients: string[]; resources: string[]; resourceServers: string[] };
export type ResourceView = { pattern: string; scopes: string[]; groups: string[]; createdAt: Date };

const WITHOUT_SECRET = { projection: { secretHash: 0 } } as const;
const WITHOUT_PASSWORD = { projection: { passwordHash: 0 } } as const;

function clientView(doc: Omit<ClientDoc, 'secretHash'>): ClientView {
  return {
    clientId: doc._id,
    name: doc.name,
    type: doc.type,
    redirectUris: doc.redirectUris,
    scopes: doc.scopes,
    refreshTokens: clientGetsRefreshTokens(doc as ClientDoc),
    grantTypes: doc.grantTypes,
    refreshGraceSeconds: clientRefreshGraceSeconds(doc as ClientDoc),
    accessTokenTtlSeconds: doc.accessTokenTtlSeconds,
    refreshTokenTtlSeconds: doc.refreshTokenTtlSeconds,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
    disabled: doc.disabled === true,
    requireDpop: doc.requireDpop === true,
    requirePar: doc.requirePar === true,
  };
}

export async function listClients(db: Db): Promise<ClientView[]> {
  const docs = await clientsCollection(db).find({}, WITHOUT_SECRET).sort({ createdAt: 1, _id: 1 }).toArray();
  return docs.map(clientView);
}

export async function showClient(db: Db, clientId: string): Promise<ClientView> {
  const doc = await clientsCollection(db).findOne({ _id: clientId }, WITHOUT_SECRET);
  if (!doc) throw new AdminError(`no client "${clientId}"`);
  return clientView(doc);
}

export async function listUsers(db: Db): Promise<UserView[]> {
  const docs = await usersCollection(db).find({}, WITHOUT_PASSWORD).sort({ username: 1 }).toArray();
  return docs.map((u) => ({ sub: u._id, username: u.username, groups: u.groups, createdAt: u.createdAt, disabled: u.disabled === true }));
}

export async function showUser(db: Db, username: string): Promise<UserView> {
  const u = await usersCollection(db).findOne({ username }, WITHOUT_PASSWORD);
  if (!u) throw new AdminError(`no user "${username}"`);
  return { sub: u._id, username: u.username, groups: u.groups, createdAt: u.createdAt, disabled: u.disabled === true };
}

export async function listScopes(db: Db): Promise<ScopeView[]> {
  const docs = await scopesCollection(db).find().sort({ _id: 1 }).toArray();
  return docs.map((s) => ({ name: s._id, description: s.description, createdAt: s.createdAt }));
}

export async function showScope(db: Db, name: string): Promise<ScopeView & { usedBy: ScopeUsage }> {
  const s = await scopesCollection(db).findOne({ _id: name });
  if (!s) throw new AdminError(`no scope "${name}"`);
  return { name: s._id, description: s.description, createdAt: s.createdAt, usedBy: await scopeUsage(db, name) };
}

/** Which clients, resource rules and resource servers (RFC 8707) name `scope` (an array field matches any of its elements). */
export async function scopeUsage(db: Db, scope: string): Promise<ScopeUsage> {
  const naming = { scopes: scope };
  const [clients, resources, resourceServers] = await Promise.all([
    clientsCollection(db).find(naming, { projection: { _id: 1 } }).toArray(),
    resourcesCollection(db).find(naming, { projection: { _id: 1 } }).toArray(),
    resourceServersCollection(db).find(naming, { projection: { _id: 1 } }).toArray(),
  ]);
  return { clients: clients.map((c) => c._id), resources: resources.map((r) => r._id), resourceServers: resourceServers.map((r) => r._id) };
}

export async function listResources(db: Db): Promise<ResourceView[]> {
  const docs = await resourcesCollection(db).find().sort({ _id: 1 }).toArray();
  return docs.map((r) => ({ pattern: r._id, scopes: r.scopes, groups: r.groups, createdAt: r.createdAt }));
}

export async function showResource(db: Db, pattern: string): Promise<ResourceView> {
  const r = await resourcesCollection(db).findOne({ _id: pattern });
  if (!r) throw new AdminError(`no resource rule "${pattern}"`);
  return { pattern: r._id, scopes: r.scopes, groups: r.groups, createdAt: r.createdAt };
}
