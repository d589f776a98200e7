import type { Db } from 'mongodb';
import type { IndexDefinition } from '#shared/mongo.ts';

export type UserDoc = {
  _id: string; username: string; passwordHash: string; groups: string[]; createdAt: Date;
  /** Set by `oauth-admin users disable`: sign-in fails as with a wrong password, and no session counts. */
  disabled?: boolean;
  /** The last time an operator ended the user's access: sessions begun at or before it are over (kept when enabled again). */
  accessEndedAt?: Date;
};

export const usersCollection = (db: Db) => db.collection<UserDoc>('users');
export const userIndexes: IndexDefinition[] = [{ key: { username: 1 }, options: { unique: true } }];

export const USERNAME = /^[A-Za-z0-9._@+-]{1,128}$/;
export const GROUP = /^[A-Za-z0-9._:-]{1,64}$/;
