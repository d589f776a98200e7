// The user and client documents' side of ending access: look-ups that refuse unknown names, and
// the disabled flag. Called only after end-access.ts made the revocation durable.
import type { Db } from 'mongodb';
import { usersCollection } from '#shared/reference-data/users.ts';
import { clientsCollection } from '#shared/reference-data/clients.ts';
import { AdminError } from './admin-error.ts';

export type UserRef = { sub: string; username: string; disabled: boolean };
export type ClientRef = { clientId: string; disabled: boolean };

export async function findUserRef(db: Db, username: string): Promise<UserRef> {
  const user = await usersCollection(db).findOne({ username }, { projection: { _id: 1, username: 1, disabled: 1 } });
  if (!user) throw new AdminError(`no user "${username}"`);
  return { sub: user._id, username: user.username, disabled: user.disabled === true };
}

export async function findClientRef(db: Db, clientId: string): Promise<ClientRef> {
  const client = await clientsCollection(db).findOne({ _id: clientId }, { projection: { _id: 1, disabled: 1 } });
  if (!client) throw new AdminError(`no client "${clientId}"`);
  return { clientId: client._id, disabled: client.disabled === true };
}

/** Marks the user disabled; sessions begun up to `endedAt` are over even once enabled again. */
export async function disableUser(db: Db, sub: string, endedAt: Date): Promise<void> {
  await usersCollection(db).updateOne({ _id: sub }, { $set: { disabled: true, accessEndedAt: endedAt } });
}

export async function enableUser(db: Db, sub: string): Promise<void> {
  await usersCollection(db).updateOne({ _id: sub }, { $unset: { disabled: '' } });
}

export async function disableClient(db: Db, clientId: string, endedAt: Date): Promise<void> {
  await clientsCollection(db).updateOne({ _id: clientId }, { $set: { disabled: true, accessEndedAt: endedAt, updatedAt: endedAt } });
}

export async function enableClient(db: Db, clientId: string): Promise<void> {
  await clientsCollection(db).updateOne({ _id: clientId }, { $unset: { disabled: '' }, $set: { updatedAt: new Date() } });
}
