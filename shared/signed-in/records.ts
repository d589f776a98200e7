// A signed-in owner's records, as consent-ui writes them: the session (by the SHA-256 of the id in
// its cookie) and the consent for each client (the remembered scopes, and every scope granted).
// consent-ui alone writes them; authorize-service reads them to answer a signed-in owner's
// request that a remembered consent covers (services/authorize-service/answer-remembered.ts).
import type { Db } from 'mongodb';

export type SessionDoc = {
  _id: string; // SHA-256 of the session id in the cookie
  sub: string;
  username: string;
  authTime: Date;
  createdAt: Date;
  expiresAt: Date;
};

export type ConsentDoc = {
  _id: string; // `${sub} ${clientId}`
  sub: string;
  clientId: string;
  /** Scopes the owner asked us to remember: a request within them is approved without asking. */
  scopes: string[];
  /** Every scope the owner ever approved for the client (remembered or not): what "Your authorizations" lists. */
  grantedScopes: string[];
  createdAt: Date;
  updatedAt: Date;
};

export const SESSIONS = 'sessions';
export const CONSENTS = 'consents';

export const consentId = (sub: string, clientId: string) => `${sub} ${clientId}`;

/** True when every one of `scopes` is among the consent's `field` (none when there is no consent). */
export function consentCovers(consent: ConsentDoc | null, field: 'scopes' | 'grantedScopes', scopes: readonly string[]): boolean {
  const listed = new Set(consent?.[field] ?? []);
  return scopes.every((scope) => listed.has(scope));
}

/**
 * A consent as read, and when that read was sent: the record was so at `readAt` or later. A consent
 * only grows until it is deleted, so one that covers a request at `readAt` was not deleted before it.
 */
export type DatedConsent = { consent: ConsentDoc | null; readAt: Date };

/** The keyed reads of both. On _id alone: FerretDB 1.24 reads every document to answer any other filter. */
export function ownerRecordReads(db: Db) {
  const sessions = db.collection<SessionDoc>(SESSIONS);
  const consents = db.collection<ConsentDoc>(CONSENTS);
  const findConsent = (sub: string, clientId: string): Promise<ConsentDoc | null> => consents.findOne({ _id: consentId(sub, clientId) });
  return {
    /** The session, unless it has expired (checked here, on the document found). */
    async findSession(idHash: string, now: Date): Promise<SessionDoc | null> {
      const doc = await sessions.findOne({ _id: idHash });
      return doc && doc.expiresAt > now ? doc : null;
    },
    findConsent,
    /** The same read with its time: `now`, the caller's clock before the read is sent (a cached answer keeps its own). */
    findConsentAsOf: async (sub: string, clientId: string, now: Date): Promise<DatedConsent> => ({ consent: await findConsent(sub, clientId), readAt: now }),
    /** The same read, never answered from a hot-read cache (cached-reads.ts passes it through). */
    findConsentUncached: findConsent,
  };
}

export type OwnerRecordReads = ReturnType<typeof ownerRecordReads>;
