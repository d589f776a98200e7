// Deleting reference data. Each delete is one atomic Mongo call; a refusal changes nothing and
// throws AdminError with a one-line reason.
import type { Db } from 'mongodb';
import { clientsCollection } from '#shared/reference-data/clients.ts';
import { scopesCollection } from '#shared/reference-data/scopes.ts';
import { usersCollection } from '#shared/reference-data/users.ts';
import { resourcesCollection } from '#shared/reference-data/resources.ts';
import { AdminError } from './admin-error.ts';
import { scopeUsage } from './reference-data-inspect.ts';

/**
 * Deletes the client. Token-service and authorize-service drop it from their caches on the
 * announcement, so its refresh tokens and new authorization requests are refused from then on;
 * access tokens already issued run out at their `exp`.
 */
export async function deleteClient(db: Db, clientId: string): Promise<void> {
  const deleted = await clientsCollection(db).findOneAndDelete({ _id: clientId });
  if (!deleted) throw new AdminError(`no client "${clientId}"`);
}

export async function deleteUser(db: Db, username: string): Promise<{ sub: string }> {
  const deleted = await usersCollection(db).findOneAndDelete({ username });
  if (!deleted) throw new AdminError(`no user "${username}"`);
  return { sub: deleted._id };
}

/**
 * Refuses while a client, resource rule or resource server still names the scope: removing it under
 * them would leave clients asking for a scope nobody can describe on the consent page.
 */
export async function deleteScope(db: Db, name: string): Promise<void> {
  const usage = await scopeUsage(db, name);
  const users = [
    ...(usage.clients.length ? [`client${usage.clients.length > 1 ? 's' : ''} ${listSome(usage.clients)}`] : []),
    ...(usage.resources.length ? [`resource rule${usage.resources.length > 1 ? 's' : ''} ${listSome(usage.resources)}`] : []),
    ...(usage.resourceServers.length ? [`resource server${usage.resourceServers.length > 1 ? 's' : ''} ${listSome(usage.resourceServers)}`] : []),
  ];
  if (users.length) throw new AdminError(`scope "${name}" is still used by ${users.join(' and ')}; delete those first`);
  const result = await scopesCollection(db).deleteOne({ _id: name });
  if (result.deletedCount === 0) throw new AdminError(`no scope "${name}"`);
}

export async function deleteResource(db: Db, pattern: string): Promise<void> {
  const result = await resourcesCollection(db).deleteOne({ _id: pattern });
  if (result.deletedCount === 0) throw new AdminError(`no resource rule "${pattern}"`);
}

const listSome = (names: string[], max = 5): string =>
  names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
