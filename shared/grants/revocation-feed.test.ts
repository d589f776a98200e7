// The revocation broadcast as every RevocationSet hears it, against the real NATS and database: a
// cut-off far past the receiver's clock is cut to a minute past it, so a forged one cannot refuse
// every token its subject will ever get; a real one (stored before it was broadcast) is read at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from 'mongodb';
import type { NatsConnection } from '@nats-io/transport-node';
import { randomToken } from '#shared/crypto.ts';
import { createLogger } from '#shared/logger.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { BROADCAST_CUT_OFF_AHEAD_MS, BROADCAST_LIFETIME_MAX_MS, boundedBroadcast, startRevocationSet, toRevocationRecorded, writeRevocation } from './revocation-feed.ts';
import type { RevocationSet } from './revocation-set.ts';
import { suiteConnections, type SuiteConnections } from '#shared/testing/suite-servers.ts';

const DAY_MS = 86_400_000;

describe('revocation broadcasts', () => {
  let suite: SuiteConnections;
  let db: Db;
  let nc: NatsConnection;
  let revocations: RevocationSet;

  before(async () => {
    suite = await suiteConnections('revocationfeed');
    ({ db, nc } = suite);
    revocations = await startRevocationSet({ nc, db, clock: { now: () => new Date() }, log: createLogger('revocation-feed-test', 'silent'), resyncMs: 60_000 });
  });
  after(async () => {
    revocations?.stop();
    await suite?.close();
  });

  it('cuts a broadcast cut-off far past this clock to a minute past it: tokens issued later are not refused', async () => {
    const sub = `u_${randomToken(8)}`;
    const token = (iatMs: number) => ({ grantId: undefined, sub, clientId: 'c_app', iat: Math.floor(iatMs / 1000), iatMs });
    const sentAt = Date.now();
    nc.publish(Subjects.revocationRecorded, JSON.stringify({
      kind: 'subject', key: sub, issued_before: Math.floor((sentAt + 365 * DAY_MS) / 1000), issued_before_ms: sentAt + 365 * DAY_MS,
      expires_at: Math.ceil((sentAt + 2 * DAY_MS) / 1000),
    }));
    await nc.flush();
    for (let waited = 0; !revocations.isRevoked(token(sentAt)) && waited < 2000; waited += 10) await sleep(10);
    assert.equal(revocations.isRevoked(token(sentAt)), true, 'a token issued when it was sent is refused');
    assert.equal(revocations.isRevoked(token(sentAt + BROADCAST_CUT_OFF_AHEAD_MS - 1000)), true, 'and one issued within the minute');
    assert.equal(revocations.isRevoked(token(Date.now() + BROADCAST_CUT_OFF_AHEAD_MS + 1)), false, 'one issued past the minute is not');
  });

  it('applies a stored record whose writer\u2019s clock runs further ahead in full at once: the cut starts a resync', async () => {
    const sub = `u_${randomToken(8)}`;
    const token = (iatMs: number) => ({ grantId: undefined, sub, clientId: 'c_app', iat: Math.floor(iatMs / 1000), iatMs });
    const aheadMs = Date.now() + 10 * 60_000;
    // As a writer does: stored first, then broadcast (resyncs here are a minute apart: only the cut's own counts).
    const write = { kind: 'subject' as const, key: sub, issuedBefore: new Date(aheadMs), expiresAt: new Date(aheadMs + DAY_MS) };
    await writeRevocation(db, write, new Date());
    nc.publish(Subjects.revocationRecorded, JSON.stringify(toRevocationRecorded(write)));
    await nc.flush();
    const issuedLater = token(aheadMs - 60_000);
    // Milliseconds here; the margin is for a loaded CI machine. The next periodic resync is a minute away.
    for (let waited = 0; !revocations.isRevoked(issuedLater) && waited < 3000; waited += 10) await sleep(10);
    assert.equal(revocations.isRevoked(issuedLater), true, 'a token issued before the stored cut-off, past the minute, is refused at once');
  });

  it('leaves a record within the bounds as it was, and cuts a cut-off past the minute or an expiry past the longest token life', () => {
    const record = { kind: 'subject' as const, key: 'u', issuedBeforeMs: 1_000 + BROADCAST_CUT_OFF_AHEAD_MS, expiresAtMs: 1_000 + BROADCAST_LIFETIME_MAX_MS };
    assert.equal(boundedBroadcast(record, 1_000), record);
    assert.deepEqual(boundedBroadcast({ ...record, issuedBeforeMs: 9e12 }, 1_000), record);
    assert.deepEqual(boundedBroadcast({ ...record, expiresAtMs: 8.64e15 }, 1_000), record);
    // The longest life a real record can have: a refresh token of a year begun now, then a day's access token.
    assert.ok(BROADCAST_LIFETIME_MAX_MS > (365 + 1) * DAY_MS);
  });
});
