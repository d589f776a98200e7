import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '#shared/logger.ts';
import { cutsOffByTime, RevocationSet, RESYNC_OVERLAP_MS, RETAIN_AFTER_EXPIRY_MS, type RevocationRecord, type RevocationSetDeps } from './revocation-set.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const log = createLogger('test', 'silent');

function harness(initial: RevocationRecord[] = []) {
  let nowMs = T0;
  const calls: string[] = [];
  let onRecord: ((r: RevocationRecord) => void) | undefined;
  const sinceAsked: Date[] = [];
  let sinceResult: RevocationRecord[] | Error = [];
  const deps: RevocationSetDeps = {
    clock: { now: () => new Date(nowMs) },
    log,
    resyncMs: 60_000,
    subscribe: (cb) => {
      calls.push('subscribe');
      onRecord = cb;
      return { unsubscribe: () => calls.push('unsubscribe') };
    },
    loadActive: async () => {
      calls.push('load');
      return initial;
    },
    loadChangedSince: async (since) => {
      sinceAsked.push(since);
      if (sinceResult instanceof Error) throw sinceResult;
      return sinceResult;
    },
  };
  const set = new RevocationSet(deps);
  return {
    set, calls, sinceAsked,
    broadcast: (r: RevocationRecord) => onRecord!(r),
    setNow: (ms: number) => { nowMs = ms; },
    setSinceResult: (r: RevocationRecord[] | Error) => { sinceResult = r; },
  };
}

const token = (over: Partial<{ jti: string; grantId: string; sub: string; clientId: string; iat: number }> = {}) => ({
  jti: 'j1', grantId: 'g1' as string | undefined, sub: 's1', clientId: 'c1', iat: T0 / 1000, ...over,
});
const rec = (kind: RevocationRecord['kind'], key: string, issuedBeforeSeconds = T0 / 1000, expiresAtMs = T0 + 600_000): RevocationRecord => ({ kind, key, issuedBeforeMs: issuedBeforeSeconds * 1000, expiresAtMs });

describe('RevocationSet', () => {
  it('subscribes to the broadcast before loading, so nothing recorded during the load is missed', async () => {
    const h = harness([rec('jti', 'loaded')]);
    await h.set.start();
    h.set.stop();
    assert.deepEqual(h.calls, ['subscribe', 'load', 'unsubscribe']);
    assert.equal(h.set.isRevoked(token({ jti: 'loaded' })), true);
  });

  it('refuses a token by jti, by grant, and by subject and client up to issuedBefore', async () => {
    const h = harness();
    await h.set.start();
    assert.equal(h.set.isRevoked(token()), false);
    h.broadcast(rec('jti', 'j1'));
    assert.equal(h.set.isRevoked(token()), true);
    assert.equal(h.set.isRevoked(token({ jti: 'j2' })), false);
    h.broadcast(rec('grant', 'g2'));
    assert.equal(h.set.isRevoked(token({ jti: 'j2', grantId: 'g2' })), true);
    assert.equal(h.set.isRevoked(token({ jti: 'j2', grantId: undefined })), false);
    h.broadcast(rec('subject_client', 's1 c1', T0 / 1000));
    assert.equal(h.set.isRevoked(token({ jti: 'j3', grantId: 'g3', iat: T0 / 1000 })), true, 'issued at issuedBefore');
    assert.equal(h.set.isRevoked(token({ jti: 'j3', grantId: 'g3', iat: T0 / 1000 - 100 })), true, 'issued before');
    assert.equal(h.set.isRevoked(token({ jti: 'j3', grantId: 'g3', iat: T0 / 1000 + 1 })), false, 'issued after: a new grant');
    assert.equal(h.set.isRevoked(token({ jti: 'j3', grantId: 'g3', clientId: 'c2', iat: T0 / 1000 - 100 })), false, 'another client');
    h.set.stop();
  });

  it('compares a refresh token\u2019s grant start to the millisecond: a grant begun just after the withdrawal stays', async () => {
    const h = harness();
    await h.set.start();
    h.broadcast({ kind: 'subject_client', key: 's1 c1', issuedBeforeMs: T0 + 400, expiresAtMs: T0 + 600_000 });
    const grant = (iatMs: number) => ({ grantId: 'g9', sub: 's1', clientId: 'c1', iat: Math.floor(iatMs / 1000), iatMs });
    assert.equal(h.set.isRevoked(grant(T0 + 400)), true, 'begun at the withdrawal');
    assert.equal(h.set.isRevoked(grant(T0 + 401)), false, 'begun 1 ms after, in the same second');
    assert.equal(h.set.isRevoked(token({ jti: 'j9', grantId: undefined, iat: T0 / 1000 })), true, 'an access token of that second: the strict side');
    h.set.stop();
  });

  it('keeps the widest of two records for one key, whatever their order', async () => {
    const h = harness();
    await h.set.start();
    h.broadcast(rec('subject_client', 's1 c1', T0 / 1000 + 50));
    h.broadcast(rec('subject_client', 's1 c1', T0 / 1000));
    assert.equal(h.set.isRevoked(token({ jti: 'x', grantId: undefined, iat: T0 / 1000 + 50 })), true);
    h.set.stop();
  });

  it('drops a record only after its tokens expired and the exp leeway passed', async () => {
    const h = harness([rec('jti', 'j1', 0, T0 + 1000)]);
    await h.set.start();
    h.setNow(T0 + 1000 + 5000);
    h.set.sweep();
    assert.equal(h.set.isRevoked(token()), true, 'still within the leeway after exp');
    h.setNow(T0 + 1000 + RETAIN_AFTER_EXPIRY_MS);
    h.set.sweep();
    assert.equal(h.set.isRevoked(token()), false);
    assert.equal(h.set.size, 0);
    h.set.stop();
  });

  it('ignores a broadcast whose record has long expired', async () => {
    const h = harness();
    await h.set.start();
    h.broadcast(rec('jti', 'old', 0, T0 - RETAIN_AFTER_EXPIRY_MS - 1));
    assert.equal(h.set.size, 0);
    h.set.stop();
  });

  // Security finding 7: the window was the reader's clock, the records the writer's.
  it('finding 7: resyncs from the newest database stamp read minus an overlap, whatever its own clock says, and retries after a failure', async () => {
    const stamped = (key: string, changedAtMs: number): RevocationRecord => ({ ...rec('jti', key, T0 / 1000, T0 + 7_200_000), changedAtMs });
    const h = harness([stamped('loaded', T0 - 30_000)]);
    await h.set.start();
    // The reader's clock runs 1 h ahead of the database: irrelevant, only stamps count.
    h.setNow(T0 + 3_600_000);
    h.setSinceResult([stamped('missed', T0 - 29_000)]);
    await h.set.resync();
    assert.equal(h.sinceAsked[0]!.getTime(), T0 - 30_000 - RESYNC_OVERLAP_MS, 'from the newest stamp loaded at start');
    assert.equal(h.set.isRevoked(token({ jti: 'missed' })), true, 'a broadcast missed is picked up by the resync');

    h.setSinceResult(new Error('db down'));
    await h.set.resync();
    assert.equal(h.sinceAsked[1]!.getTime(), T0 - 29_000 - RESYNC_OVERLAP_MS);
    h.setSinceResult([]);
    await h.set.resync();
    assert.equal(h.sinceAsked[2]!.getTime(), T0 - 29_000 - RESYNC_OVERLAP_MS, 'the failed window is read again');
    h.set.stop();
  });

  it('runs a resync asked for while one is running once more after it, so a record stored meanwhile is read', async () => {
    const stamped = (key: string, changedAtMs: number): RevocationRecord => ({ ...rec('jti', key, T0 / 1000, T0 + 7_200_000), changedAtMs });
    const h = harness([stamped('loaded', T0 - 30_000)]);
    await h.set.start();
    h.setSinceResult([]);
    const first = h.set.resync();
    // Stored while the first read is under way (it has already been sent): only a second read finds it.
    h.setSinceResult([stamped('stored meanwhile', T0 - 1_000)]);
    void h.set.resync();
    await first;
    for (let turns = 0; !h.set.isRevoked(token({ jti: 'stored meanwhile' })) && turns < 10; turns++) await new Promise((r) => setImmediate(r));
    assert.equal(h.set.isRevoked(token({ jti: 'stored meanwhile' })), true);
    assert.equal(h.sinceAsked.length, 2, 'two reads, not more');
    h.set.stop();
  });

  it('reads every live record at a resync until it has read a stamped one', async () => {
    const h = harness();
    await h.set.start();
    await h.set.resync();
    assert.deepEqual(h.calls, ['subscribe', 'load', 'load'], 'no stamp yet: the whole live set again');
    assert.equal(h.sinceAsked.length, 0);
    h.set.stop();
  });
});

describe('cutsOffByTime', () => {
  it('names the kinds that end grants up to an instant, not the ones that end a token or a grant by its id', () => {
    assert.deepEqual((['jti', 'grant', 'subject_client', 'subject', 'client'] as const).filter(cutsOffByTime), ['subject_client', 'subject', 'client']);
  });
});
