// The RevocationSet kinds an operator's action records (oauth-admin users disable|delete, clients
// disable|delete, grants revoke --user|--client): every token of one resource owner (subject) or
// of one client (client) issued up to the action, and nothing issued after it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '#shared/logger.ts';
import { RETAIN_AFTER_EXPIRY_MS, RevocationSet, type RevocableToken, type RevocationRecord } from './revocation-set.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');

function set(now = () => T0, loaded: RevocationRecord[] = []) {
  let onRecord: ((r: RevocationRecord) => void) | undefined;
  const revocations = new RevocationSet({
    clock: { now: () => new Date(now()) },
    log: createLogger('test', 'silent'),
    resyncMs: 60_000,
    subscribe: (cb) => ((onRecord = cb), { unsubscribe: () => undefined }),
    loadActive: async () => loaded,
    loadChangedSince: async () => [],
  });
  return { revocations, broadcast: (r: RevocationRecord) => onRecord!(r) };
}

const accessToken = (over: Partial<RevocableToken> = {}): RevocableToken => ({ jti: 'j', grantId: 'g', sub: 'u_alice', clientId: 'c_app', iat: T0 / 1000, ...over });
/** A refresh token's view: its grant's start in ms, no jti. */
const refreshToken = (startedAtMs: number, over: Partial<RevocableToken> = {}): RevocableToken =>
  ({ grantId: 'g', sub: 'u_alice', clientId: 'c_app', iat: Math.floor(startedAtMs / 1000), iatMs: startedAtMs, ...over });
const cutOff = (kind: 'subject' | 'client', key: string, issuedBeforeMs = T0, expiresAtMs = T0 + 3_600_000): RevocationRecord => ({ kind, key, issuedBeforeMs, expiresAtMs });

describe('RevocationSet: a whole resource owner (subject)', () => {
  it('refuses every token of the owner issued up to the cut-off, with any client and any grant', async () => {
    const { revocations } = set();
    await revocations.start();
    revocations.record(cutOff('subject', 'u_alice'));
    assert.equal(revocations.isRevoked(accessToken()), true, 'issued in the cut-off second');
    assert.equal(revocations.isRevoked(accessToken({ clientId: 'c_other', grantId: 'g2', jti: 'j2', iat: T0 / 1000 - 3600 })), true);
    assert.equal(revocations.isRevoked(refreshToken(T0 - 1)), true, 'a grant begun before');
    assert.equal(revocations.isRevoked(refreshToken(T0)), true, 'a grant begun at the cut-off');
    revocations.stop();
  });

  it('lets tokens issued after the cut-off, and other owners\' tokens, through', async () => {
    const { revocations } = set();
    await revocations.start();
    revocations.record(cutOff('subject', 'u_alice'));
    assert.equal(revocations.isRevoked(accessToken({ iat: T0 / 1000 + 1 })), false, 'issued after (a user enabled again signs in anew)');
    assert.equal(revocations.isRevoked(refreshToken(T0 + 1)), false, 'a grant begun a millisecond after');
    assert.equal(revocations.isRevoked(accessToken({ sub: 'u_bob' })), false);
    assert.equal(revocations.isRevoked(accessToken({ sub: 'c_app' })), false, 'a subject record is not a client record');
    revocations.stop();
  });
});

describe('RevocationSet: a whole client (client)', () => {
  it('refuses every token issued to the client up to the cut-off, for every owner', async () => {
    const { revocations } = set();
    await revocations.start();
    revocations.record(cutOff('client', 'c_app'));
    assert.equal(revocations.isRevoked(accessToken({ sub: 'u_bob', jti: 'j3' })), true);
    assert.equal(revocations.isRevoked(refreshToken(T0 - 5000, { sub: 'u_carol' })), true);
    assert.equal(revocations.isRevoked(accessToken({ clientId: 'c_other' })), false);
    assert.equal(revocations.isRevoked(accessToken({ iat: T0 / 1000 + 1 })), false, 'issued after (a client enabled again)');
    revocations.stop();
  });

  it('keeps the later cut-off and expiry of two records for one client, in any order', async () => {
    const { revocations } = set();
    await revocations.start();
    revocations.record(cutOff('client', 'c_app', T0 + 10_000, T0 + 7_200_000));
    revocations.record(cutOff('client', 'c_app', T0, T0 + 3_600_000));
    assert.equal(revocations.isRevoked(accessToken({ iat: T0 / 1000 + 10 })), true);
    assert.equal(revocations.size, 1);
    revocations.stop();
  });
});

describe('RevocationSet: operator records over the feed', () => {
  it('takes them from the load at start and from the broadcast', async () => {
    const { revocations, broadcast } = set(() => T0, [cutOff('subject', 'u_loaded')]);
    await revocations.start();
    assert.equal(revocations.isRevoked(accessToken({ sub: 'u_loaded' })), true);
    broadcast(cutOff('client', 'c_broadcast'));
    assert.equal(revocations.isRevoked(accessToken({ clientId: 'c_broadcast' })), true);
    revocations.stop();
  });

  it('forgets them once every token they cover has expired, and not before', async () => {
    let now = T0;
    const { revocations } = set(() => now);
    await revocations.start();
    revocations.record(cutOff('subject', 'u_alice', T0, T0 + 60_000));
    revocations.record(cutOff('client', 'c_app', T0, T0 + 60_000));
    now = T0 + 60_000 + RETAIN_AFTER_EXPIRY_MS - 1;
    revocations.sweep();
    assert.equal(revocations.size, 2);
    now = T0 + 60_000 + RETAIN_AFTER_EXPIRY_MS;
    revocations.sweep();
    assert.equal(revocations.size, 0);
    revocations.stop();
  });

  it('skips a kind it does not know (a newer writer during an upgrade) instead of failing', async () => {
    const { revocations } = set();
    await revocations.start();
    revocations.record({ kind: 'future_kind' as RevocationRecord['kind'], key: 'x', issuedBeforeMs: T0, expiresAtMs: T0 + 60_000 });
    assert.equal(revocations.size, 0);
    revocations.stop();
  });
});
