// Resource servers (RFC 8707) as the admin CLI writes and reads them: the URIs clients may name as
// `resource`, each with the scopes it accepts. Every function validates first and changes nothing
// on bad input; each throws AdminError with a one-line reason.
import type { Db } from 'mongodb';
import { isDuplicateKey } from '#shared/mongo.ts';
import { requireScopes } from './require-scopes.ts';
import { isResourceIndicator, resourceServersCollection } from '#shared/reference-data/resource-servers.ts';
import { AdminError } from './admin-error.ts';

export type ResourceServerView = { uri: string; scopes: string[]; createdAt: Date };

export async function createResourceServer(db: Db, server: { uri: string; scopes: string[] }): Promise<ResourceServerView> {
  // RFC 8707 §2: an absolute URI without a fragment (the input is not echoed: it may be anything).
  if (!isResourceIndicator(server.uri)) throw new AdminError('invalid resource server URI: an absolute URI of printable ASCII without a fragment');
  const scopes = [...new Set(server.scopes)];
  if (scopes.length === 0) throw new AdminError('a resource server needs at least one --scope');
  await requireScopes(db, scopes);
  const doc = { _id: server.uri, scopes, createdAt: new Date() };
  try {
    await resourceServersCollection(db).insertOne(doc);
  } catch (error) {
    if (isDuplicateKey(error)) throw new AdminError(`resource server "${server.uri}" already exists`);
    throw error;
  }
  return { uri: doc._id, scopes, createdAt: doc.createdAt };
}

export async function listResourceServers(db: Db): Promise<ResourceServerView[]> {
  const docs = await resourceServersCollection(db).find().sort({ _id: 1 }).toArray();
  return docs.map((d) => ({ uri: d._id, scopes: d.scopes, createdAt: d.createdAt }));
}

export async function showResourceServer(db: Db, uri: string): Promise<ResourceServerView> {
  const doc = await resourceServersCollection(db).findOne({ _id: uri });
  if (!doc) throw new AdminError(`no resource server "${uri}"`);
  return { uri: doc._id, scopes: doc.scopes, createdAt: doc.createdAt };
}

/** Tokens already issued for it stay valid until they expire; new requests naming it get invalid_target. */
export async function deleteResourceServer(db: Db, uri: string): Promise<void> {
  const result = await resourceServersCollection(db).deleteOne({ _id: uri });
  if (result.deletedCount === 0) throw new AdminError(`no resource server "${uri}"`);
}
