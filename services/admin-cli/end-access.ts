// Ending access (CONTRACT "Ending access (operators)"): an operator disables or deletes a user or a
// client, or revokes grants. Never half done: the revocation is made durable FIRST (a record in
// the revocations collection every validation-service and token-service instance loads and
// resyncs from), then broadcast on oauth.revocation.recorded (each instance applies it within
// milliseconds), then the grants' families are marked revoked, and only then does the caller
// change or delete the user or client document and announce it. A failure at any step leaves the
// tokens refused, never the user gone with their tokens alive; running the command again completes it.
//
// The cut-off is the database's clock (the one clock every service shares), or this machine's when
// it is later: everything issued up to it is refused, whoever issued it.
import type { Db } from 'mongodb';
import type { NatsConnection } from '@nats-io/nats-core';
import { revocationId, revocationsCollection, toRevocationRecorded, writeRevocation } from '#shared/grants/revocation-feed.ts';
import { MAX_CODE_TTL_SECONDS } from '#shared/grants/authorization-codes.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { clientGetsRefreshTokens, clientsCollection, DEFAULT_ACCESS_TOKEN_TTL_SECONDS, type ClientDoc } from '#shared/reference-data/clients.ts';
import { familiesCollection, type FamilyDoc } from './grants-admin.ts';

/** Beyond the last token's `exp`: validation accepts 5 s of leeway, and clocks drift (as token-service's records). */
const REVOCATION_MARGIN_MS = 60_000;

export type OperatorRevocation = { kind: 'grant' | 'subject' | 'client'; key: string; issuedBefore: Date; expiresAt: Date };

/** Where a revocation goes: the database (durable), and NATS when connected (at once; otherwise within the services' resync period). */
export type RevocationTarget = { db: Db; nc: NatsConnection | undefined };

/** Whose grants: one resource owner's (by sub) or one client's. */
export type Holder = { sub: string } | { clientId: string };

/** The instant of the operator's action: the database's clock, or this machine's if it is later (the strict side). */
export async function actionInstant(db: Db): Promise<Date> {
  const local = new Date();
  const hello = (await db.command({ hello: 1 })) as { localTime?: unknown };
  const remote = hello.localTime instanceof Date ? hello.localTime : undefined;
  return remote && remote > local ? remote : local;
}

/** Stores the revocation (or widens the stored one: the later instants win), then broadcasts it. */
export async function recordRevocation(target: RevocationTarget, revocation: OperatorRevocation, now: Date): Promise<void> {
  // As token-service writes them: the later cut-off and expiry win, stamped with the database's
  // clock, so every instance's resync finds it even when the broadcast below is lost.
  await writeRevocation(target.db, revocation, now);
  if (!target.nc) return;
  try {
    target.nc.publish(Subjects.revocationRecorded, JSON.stringify(toRevocationRecorded(revocation)));
    // Out before the document changes: an instance hears the revocation no later than the announcement.
    await target.nc.flush();
  } catch {
    // Stored already: every instance reads it at its next resync (the CLI warns that NATS is down).
  }
}

const holderFilter = (holder: Holder) => ('sub' in holder ? { sub: holder.sub } : { clientId: holder.clientId });

/**
 * Ends every token of the holder issued up to now (a `subject` or `client` cut-off), including
 * grants that have no stored family (clients without refresh tokens) and codes approved but not
 * yet redeemed; marks the holder's live families revoked. Returns the cut-off and how many live
 * grants (families) ended.
 */
export async function endAccessOf(target: RevocationTarget, holder: Holder): Promise<{ endedAt: Date; grants: number }> {
  const endedAt = await actionInstant(target.db);
  const live = await liveFamilies(target.db, holder, endedAt);
  const clients = 'sub' in holder
    ? await clientsCollection(target.db).find({}, { projection: { secretHash: 0 } }).toArray()
    : await clientsCollection(target.db).find({ _id: holder.clientId }, { projection: { secretHash: 0 } }).toArray();
  const expiresAt = coveredUntil(endedAt, clients, live);
  const [kind, key] = 'sub' in holder ? (['subject', holder.sub] as const) : (['client', holder.clientId] as const);
  await recordRevocation(target, { kind, key, issuedBefore: endedAt, expiresAt }, endedAt);
  const marked = await familiesCollection(target.db).updateMany({ ...holderFilter(holder), revokedAt: null }, { $set: { revokedAt: endedAt } });
  return { endedAt, grants: Math.max(live.length, marked.modifiedCount) };
}

/** How long the services take to hear a change of a user or a client (the announcement, or a reload). */
export const PROPAGATION_MS = 2000;

/**
 * After the document changed: records the holder's cut-off again, once the services have had time
 * to hear the change, so a grant begun between the first cut-off and the moment a service saw the
 * user or client disabled (a session still honoured, a code still issued) ends too.
 */
export async function sealAccessEnd(target: RevocationTarget, holder: Holder, pauseMs = PROPAGATION_MS): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
  const endedAt = await actionInstant(target.db);
  const [kind, key] = 'sub' in holder ? (['subject', holder.sub] as const) : (['client', holder.clientId] as const);
  const stored = await revocationsCollection(target.db).findOne({ _id: revocationId(kind, key) as never }, { projection: { expiresAt: 1 } });
  if (!stored) return;
  // Grants begun this much later may live this much longer.
  const expiresAt = new Date(stored.expiresAt.getTime() + pauseMs + REVOCATION_MARGIN_MS);
  await recordRevocation(target, { kind, key, issuedBefore: endedAt, expiresAt }, endedAt);
}

/** Ends one grant: every token of it, whenever issued, until the last could have expired. */
export async function endGrant(target: RevocationTarget, family: Pick<FamilyDoc, '_id' | 'expiresAt' | 'accessTokenTtlSeconds'>): Promise<Date> {
  const endedAt = await actionInstant(target.db);
  const lastIssue = Math.max(family.expiresAt.getTime(), endedAt.getTime());
  const expiresAt = new Date(lastIssue + family.accessTokenTtlSeconds * 1000 + REVOCATION_MARGIN_MS);
  await recordRevocation(target, { kind: 'grant', key: family._id, issuedBefore: endedAt, expiresAt }, endedAt);
  await familiesCollection(target.db).updateOne({ _id: family._id, revokedAt: null }, { $set: { revokedAt: endedAt } });
  return endedAt;
}

/** The holder's families that can still be refreshed. */
export function liveFamilies(db: Db, holder: Holder, now: Date): Promise<FamilyDoc[]> {
  return familiesCollection(db).find({ ...holderFilter(holder), revokedAt: null, expiresAt: { $gt: now } }).sort({ createdAt: 1, _id: 1 }).toArray();
}

/**
 * When a cut-off at `now` may be forgotten: after the last token it covers has expired. Tokens can
 * still be issued from a grant begun before it until its family expires (refresh) or a code
 * approved before it runs out, each access token living up to its client's lifetime.
 */
export function coveredUntil(now: Date, clients: Pick<ClientDoc, 'grantTypes' | 'accessTokenTtlSeconds' | 'refreshTokenTtlSeconds'>[], families: Pick<FamilyDoc, 'expiresAt' | 'accessTokenTtlSeconds'>[]): Date {
  const codeWindowMs = MAX_CODE_TTL_SECONDS * 1000;
  let lastIssueMs = now.getTime() + codeWindowMs;
  let accessTtlSeconds = DEFAULT_ACCESS_TOKEN_TTL_SECONDS;
  for (const client of clients) {
    accessTtlSeconds = Math.max(accessTtlSeconds, client.accessTokenTtlSeconds);
    if (clientGetsRefreshTokens(client as ClientDoc)) lastIssueMs = Math.max(lastIssueMs, now.getTime() + codeWindowMs + client.refreshTokenTtlSeconds * 1000);
  }
  for (const family of families) {
    accessTtlSeconds = Math.max(accessTtlSeconds, family.accessTokenTtlSeconds);
    lastIssueMs = Math.max(lastIssueMs, family.expiresAt.getTime());
  }
  return new Date(lastIssueMs + accessTtlSeconds * 1000 + REVOCATION_MARGIN_MS);
}
