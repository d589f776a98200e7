import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { addSeconds } from '#shared/clock.ts';
import { createLogger } from '#shared/logger.ts';
import { generateSigningKey } from '#shared/keys/rotate-signing-key.ts';
import { keyStates } from '#shared/keys/signing-key-states.ts';
import { KeyRing } from './signing-keys.ts';
import { rotateSigningKeysOnSchedule, rotationCheckIntervalMs, SCHEDULED_RETAIN_SECONDS } from './rotate-signing-keys.ts';
import { AuditRecorder, MemorySigningKeyStore, TestClock } from './test-doubles.ts';

const ROTATION = 60;
const PREPUBLISH = 5;
const log = createLogger('test', 'silent');

async function setup() {
  const kek = randomBytes(32);
  const clock = new TestClock();
  const store = new MemorySigningKeyStore();
  const audit = new AuditRecorder();
  let announced = 0;
  const deps = { store, kek, clock, audit, log, rotationSeconds: ROTATION, prepublishSeconds: PREPUBLISH, announce: () => announced++ };
  const ring = new KeyRing({ store, kek, clock, log });
  await ring.start();
  const first = store.keys[0]!;
  return { kek, clock, store, audit, deps, ring, first, announced: () => announced };
}

const stateOf = (store: MemorySigningKeyStore, now: Date) => Object.fromEntries(keyStates(store.keys, now).map(({ key, state }) => [key._id, state]));

describe('rotateSigningKeysOnSchedule', () => {
  it('does nothing until one rotation period after the newest key was made, then publishes a next key that signs after the prepublish period', async () => {
    const { clock, store, audit, deps, first, announced } = await setup();
    clock.advance(ROTATION - 1);
    assert.deepEqual(await rotateSigningKeysOnSchedule(deps), { rotated: false, dueAt: addSeconds(first.createdAt, ROTATION) });
    assert.equal(store.keys.length, 1);

    clock.advance(1);
    const check = await rotateSigningKeysOnSchedule(deps);
    assert.ok(check.rotated);
    assert.equal(check.previous, first._id);
    assert.deepEqual(check.activatesAt, addSeconds(clock.now(), PREPUBLISH));
    assert.deepEqual(stateOf(store, clock.now()), { [first._id]: 'active', [check.kid]: 'next' });
    const old = store.keys.find((k) => k._id === first._id)!;
    assert.deepEqual(old.supersededAt, check.activatesAt, 'the old key stops signing exactly when the new one starts');
    assert.deepEqual(old.retireAt, addSeconds(check.activatesAt, SCHEDULED_RETAIN_SECONDS));
    assert.deepEqual(audit.events, [{ type: 'oauth.key.rotated', subject: check.kid, data: { kid: check.kid, count: 1, reason: 'schedule' } }]);
    assert.equal(announced(), 1);

    // The next one is due a rotation period after this key's creation, not before.
    clock.advance(ROTATION - 1);
    assert.equal((await rotateSigningKeysOnSchedule(deps)).rotated, false);
    clock.advance(1);
    assert.equal((await rotateSigningKeysOnSchedule(deps)).rotated, true);
    assert.equal(audit.ofType('oauth.key.rotated').length, 2);
  });

  it('of many concurrent checks exactly one makes the key and emits oauth.key.rotated', async () => {
    const { clock, store, audit, deps, announced } = await setup();
    clock.advance(ROTATION);
    const checks = await Promise.all(Array.from({ length: 8 }, () => rotateSigningKeysOnSchedule(deps)));
    assert.equal(checks.filter((c) => c.rotated).length, 1);
    assert.equal(store.keys.length, 2);
    assert.equal(audit.ofType('oauth.key.rotated').length, 1);
    assert.equal(announced(), 1);
  });

  it('a rotator that died after landing its claim delays the rotation by one check: the next check puts the claimed key in, published from then', async () => {
    const { kek, clock, store, audit, deps, first } = await setup();
    clock.advance(ROTATION);
    const claimed = await generateSigningKey(kek, clock.now());
    const claim = { predecessorKid: first._id, key: claimed, claimedAt: clock.now(), expiresAt: addSeconds(clock.now(), 2 * ROTATION) };
    assert.ok(await store.claimSigningKeySuccessor(claim));
    clock.advance(30); // the dead rotator's key never made it into signing_keys
    const check = await rotateSigningKeysOnSchedule(deps);
    assert.ok(check.rotated);
    assert.equal(check.kid, claimed._id, 'the claimed key, not another one');
    const inserted = store.keys.find((k) => k._id === claimed._id)!;
    assert.deepEqual(inserted.createdAt, clock.now());
    assert.deepEqual(inserted.activatesAt, addSeconds(clock.now(), PREPUBLISH), 'the full prepublish period counts from when it is published');
    assert.equal(audit.ofType('oauth.key.rotated').length, 1);
  });

  it('repairs a predecessor a rotator left unmarked (it died between inserting the key and superseding the old one)', async () => {
    const { kek, clock, store, deps, first } = await setup();
    clock.advance(10);
    store.keys.push(await generateSigningKey(kek, clock.now(), addSeconds(clock.now(), PREPUBLISH)));
    assert.equal((await rotateSigningKeysOnSchedule(deps)).rotated, false);
    assert.deepEqual(store.keys.find((k) => k._id === first._id)!.supersededAt, addSeconds(clock.now(), PREPUBLISH));
  });

  it('keys rotate during a pending next key: the new key signs at once, the next key never signs, the schedule counts from the new key', async () => {
    const { kek, clock, store, deps, ring } = await setup();
    clock.advance(ROTATION);
    const check = await rotateSigningKeysOnSchedule(deps);
    assert.ok(check.rotated);
    clock.advance(1);
    // What rotateSigningKey writes (the real one runs against the database in test/signing-key-rotation.test.ts).
    const cli = await generateSigningKey(kek, clock.now());
    for (const key of store.keys) if (key.supersededAt === null) Object.assign(key, { supersededAt: clock.now(), retireAt: addSeconds(clock.now(), 900) });
    store.keys.push(cli);
    await ring.reload();
    clock.advance(PREPUBLISH);
    assert.equal(ring.signingKey().kid, cli._id, 'the superseded next key never signs');
    assert.equal(stateOf(store, clock.now())[check.kid], 'retiring');
    assert.equal((await rotateSigningKeysOnSchedule(deps)).rotated, false, 'counted from the manual key');
  });

  it('checks every tenth of the rotation period, at most every minute', () => {
    assert.equal(rotationCheckIntervalMs(60), 6000);
    assert.equal(rotationCheckIntervalMs(7_776_000), 60_000);
  });
});

describe('KeyRing with scheduled keys', () => {
  it('publishes the next key at once and switches to it at its activation instant, without a reload', async () => {
    const { clock, deps, ring, first } = await setup();
    clock.advance(ROTATION);
    const check = await rotateSigningKeysOnSchedule(deps);
    assert.ok(check.rotated);
    await ring.reload();
    assert.deepEqual(ring.jwks().keys.map((k) => k.kid).sort(), [first._id, check.kid].sort(), 'in JWKS before it signs');
    assert.equal(ring.signingKey().kid, first._id);
    clock.advance(PREPUBLISH - 1);
    assert.equal(ring.signingKey().kid, first._id);
    clock.advance(1);
    assert.equal(ring.signingKey().kid, check.kid, 'at activation, no reload in between');
    clock.current = new Date(check.activatesAt.getTime() + SCHEDULED_RETAIN_SECONDS * 1000 - 1000);
    await ring.reload();
    assert.ok(ring.jwks().keys.some((k) => k.kid === first._id), 'the old key stays published until every token it signed expired');
    clock.advance(1);
    await ring.reload();
    assert.deepEqual(ring.jwks().keys.map((k) => k.kid), [check.kid]);
  });
});
