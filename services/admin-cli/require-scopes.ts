// Clients, resource rules and resource servers may name only scopes that exist.
import type { Db } from 'mongodb';
import { scopesCollection } from '#shared/reference-data/scopes.ts';
import { AdminError } from './admin-error.ts';

/** Throws AdminError naming the first scope of `scopes` that does not exist, and how to create it. */
export async function requireScopes(db: Db, scopes: string[]): Promise<void> {
  const found = await scopesCollection(db).find({ _id: { $in: scopes } }, { projection: { _id: 1 } }).toArray();
  const known = new Set(found.map((s) => s._id));
  const unknown = scopes.find((s) => !known.has(s));
  if (unknown !== undefined) throw new AdminError(`unknown scope "${unknown}" (create it first with: oauth-admin scopes create ${unknown} --description ...)`);
}
