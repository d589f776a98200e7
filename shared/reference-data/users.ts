import type { Db } from 'mongodb';
import type { IndexDefinition } from '#shared/mongo.ts';

export type UserDoc = { _id: string; username: string; passwordHash: string; groups: string[]; createdAt: Date };

export const usersCollection = (db: Db) => db.collection<UserDoc>('users');
export const userIndexes: IndexDefinition[] = [{ key: { username: 1 }, options: { unique: true } }];

export const USERNAME = /^[A-Za-z0-9._@+-]{1,128}$/;
export const GROUP = /^[A-Za-z0-9._:-]{1,64}$/;
