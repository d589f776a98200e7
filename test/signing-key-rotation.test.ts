// Scheduled signing-key rotation with several token-service instances on one database.
// - Store level (real database, injected clock, no waiting): instances race for one rotation and
//   exactly one key and one oauth.key.rotated come of it; the new key is in every instance's JWKS
//   before it signs, every instance signs with it from its activation instant without a reload, and
//   the old key stays published until its retireAt. `oauth-admin keys rotate` (rotateSigningKey)
//   over a pending next key, and a rotator that died after its claim, on the real database too.
// - Running services (real NATS): three token-service instances find the newest key one rotation
//   period old and race at start; one new key, one event; tokens carry it after its activation
//   (SIGNING_KEY_PREPUBLISH_SECONDS=5, the only wait), and validation-service accepts both kids.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { decodeProtectedHeader } from 'jose';
import { addSeconds } from '#shared/clock.ts';
import { createLogger } from '#shared/logger.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { signingKeysCollection } from '#shared/keys/signing-keys.ts';
import { generateSigningKey, rotateSigningKey } from '#shared/keys/rotate-signing-key.ts';
import { keyStates } from '#shared/keys/signing-key-states.ts';
import { createTokenStore, type TokenStore } from '../services/token-service/store.ts';
import { KeyRing } from '../services/token-service/signing-keys.ts';
import { rotateSigningKeysOnSchedule, SCHEDULED_RETAIN_SECONDS } from '../services/token-service/rotate-signing-keys.ts';
import { AuditRecorder, TestClock } from '../services/token-service/test-doubles.ts';
import { freePort, startService, startSystem, uniqueMongoUri, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats } from './helpers/oauth.ts';
import { collectAuditEvents } from './helpers/audit.ts';

const ROTATION = 60;
const PREPUBLISH = 5;
/** The key reload token-service derives from that prepublish period when none is set (config.ts). */
const RELOAD = 2;
const INSTANCES = 5;
const log = createLogger('test', 'silent');

describe('scheduled rotation on one database (store level, injected clock)', () => {
  let mongo: MongoClient;
  let db: Db;
  before(async () => {
    mongo = await MongoClient.connect(uniqueMongoUri('keyrotstore'));
    db = mongo.db();
  });
  after(async () => {
    await db.dropDatabase();
    await mongo.close();
  });

  /** INSTANCES token-service instances: a store, a key ring and a rotator each, one clock and one audit trail. */
  async function instances(clock: TestClock, kek: Buffer, audit: AuditRecorder) {
    return Promise.all(Array.from({ length: INSTANCES }, async () => {
      const store: TokenStore = await createTokenStore(db, log);
      const ring = new KeyRing({ store, kek, clock, log });
      const rotate = () => rotateSigningKeysOnSchedule({
        store, kek, clock, audit, log, rotationSeconds: ROTATION, prepublishSeconds: PREPUBLISH, announce: () => undefined,
      });
      return { store, ring, rotate };
    }));
  }

  /** An empty signing_keys, and the instances on a fresh key-encryption key, clock and audit trail. */
  async function freshCluster() {
    await signingKeysCollection(db).deleteMany({});
    const kek = randomBytes(32);
    const clock = new TestClock(new Date());
    const audit = new AuditRecorder();
    return { kek, clock, audit, nodes: await instances(clock, kek, audit) };
  }

  it('instances race for one rotation: one key, one event; published before it signs, signing from its activation, the old kid until retireAt', async () => {
    const { clock, audit, nodes } = await freshCluster();
    await nodes[0]!.ring.start();
    await Promise.all(nodes.slice(1).map((n) => n.ring.start()));
    const [first] = await signingKeysCollection(db).find().toArray();
    assert.ok(first);

    clock.advance(ROTATION);
    const checks = await Promise.all(nodes.flatMap((n) => [n.rotate(), n.rotate()]));
    assert.equal(checks.filter((c) => c.rotated).length, 1, 'one check rotated');
    assert.equal(audit.ofType('oauth.key.rotated').length, 1, 'one oauth.key.rotated');
    const keys = await signingKeysCollection(db).find().toArray();
    assert.equal(keys.length, 2, 'one new key');
    const next = keys.find((k) => k._id !== first._id)!;
    assert.deepEqual(next.activatesAt, addSeconds(clock.now(), PREPUBLISH));

    await Promise.all(nodes.map((n) => n.ring.reload()));
    for (const { ring } of nodes) {
      assert.deepEqual(ring.jwks().keys.map((k) => k.kid).sort(), [first._id, next._id].sort(), 'in JWKS before it signs');
      assert.equal(ring.signingKey().kid, first._id);
    }
    clock.advance(PREPUBLISH);
    for (const { ring } of nodes) assert.equal(ring.signingKey().kid, next._id, 'every instance switches at the activation instant, no reload');

    const old = await signingKeysCollection(db).findOne({ _id: first._id });
    assert.deepEqual(old?.retireAt, addSeconds(next.activatesAt!, SCHEDULED_RETAIN_SECONDS));
    clock.current = addSeconds(old!.retireAt!, -1);
    await nodes[0]!.ring.reload();
    assert.ok(nodes[0]!.ring.jwks().keys.some((k) => k.kid === first._id), 'the old kid until its retireAt');
    clock.advance(1);
    await nodes[0]!.ring.reload();
    assert.deepEqual(nodes[0]!.ring.jwks().keys.map((k) => k.kid), [next._id]);
  });

  it('a rotator that died after its claim: the next check of any instance completes that rotation, once', async () => {
    const { kek, clock, audit, nodes } = await freshCluster();
    await nodes[0]!.ring.start();
    const [first] = await signingKeysCollection(db).find().toArray();
    clock.advance(ROTATION);
    const claimed = await generateSigningKey(kek, clock.now());
    const claim = { predecessorKid: first!._id, key: claimed, claimedAt: clock.now(), expiresAt: addSeconds(clock.now(), 2 * ROTATION) };
    assert.ok(await nodes[0]!.store.claimSigningKeySuccessor(claim));
    assert.equal(await nodes[1]!.store.claimSigningKeySuccessor({ ...claim, key: await generateSigningKey(kek, clock.now()) }), false, 'one claim per key');
    clock.advance(6);
    const checks = await Promise.all(nodes.map((n) => n.rotate()));
    assert.deepEqual(checks.filter((c) => c.rotated).map((c) => c.rotated && c.kid), [claimed._id]);
    assert.equal(audit.ofType('oauth.key.rotated').length, 1);
    assert.equal(await signingKeysCollection(db).countDocuments(), 2);
  });

  it('oauth-admin keys rotate over a pending next key: its key signs at once, the next key never does, the schedule counts from it', async () => {
    const { kek, clock, nodes: [node] } = await freshCluster();
    await node!.ring.start();
    clock.advance(ROTATION);
    const check = await node!.rotate();
    assert.ok(check.rotated);
    clock.advance(1);
    const manual = await rotateSigningKey(db, kek, clock.now(), 600);
    assert.deepEqual(manual.superseded, [check.kid], 'only the not yet superseded key: the next one');
    await node!.ring.reload();
    clock.advance(PREPUBLISH);
    assert.equal(node!.ring.signingKey().kid, manual.kid);
    const states = Object.fromEntries(keyStates(await signingKeysCollection(db).find().toArray(), clock.now()).map(({ key, state }) => [key._id, state]));
    assert.equal(states[manual.kid], 'active');
    assert.equal(states[check.kid], 'retiring');
    assert.equal((await node!.rotate()).rotated, false, 'the schedule counts from the manual key');
    clock.advance(ROTATION);
    assert.equal((await node!.rotate()).rotated, true);
  });
});

describe('scheduled rotation with three token-service instances on NATS', () => {
  let system: System;
  let client: SeededClient;
  let user: SeededUser;
  const extra: { stop(): Promise<void> }[] = [];
  const edges: string[] = [];
  const env = { OAUTH_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'), SIGNING_KEY_ROTATION_SECONDS: String(ROTATION), SIGNING_KEY_PREPUBLISH_SECONDS: String(PREPUBLISH) };

  before(async () => {
    system = await startSystem('keyrotation', { services: ['authorize-service', 'token-service', 'validation-service'], env });
    edges.push(system.urls.tokenService);
    const scope = await system.seed.scope('keys');
    user = await system.seed.user();
    client = await system.seed.client({ scopes: [scope] });
  });
  after(async () => {
    await Promise.allSettled(extra.map((s) => s.stop()));
    await system?.stop();
  });

  const basic = (c: SeededClient) => `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret!)}`).toString('base64')}`;
  async function accessTokenAt(edge: string): Promise<string> {
    const { code, verifier } = await codeViaNats(system, client, user);
    const res = await fetch(`${edge}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client) },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }),
    });
    const body = await res.json() as { access_token: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    return body.access_token;
  }
  const jwksKids = async (edge: string) => {
    const jwks = (await (await fetch(`${edge}/jwks.json`)).json()) as { keys: { kid: string }[] };
    return jwks.keys.map((k) => k.kid).sort();
  };
  const kidOf = (token: string) => decodeProtectedHeader(token).kid;
  const validate = async (token: string) =>
    (await system.nc.request(Subjects.tokenValidate, JSON.stringify({ token }), { timeout: 5000 })).json<{ active: boolean }>();

  it('exactly one instance rotates; the new kid is in JWKS before any token carries it, then signs at every instance; the old kid stays', async () => {
    const keys = signingKeysCollection(system.db);
    const [first] = await keys.find().toArray();
    assert.ok(first);
    const oldToken = await accessTokenAt(edges[0]!);
    assert.equal(kidOf(oldToken), first._id);
    // Make the first key one rotation period old, then start two more instances at once: each checks at start.
    await keys.updateOne({ _id: first._id }, { $set: { createdAt: addSeconds(new Date(), -ROTATION - 1) } });
    const rotated = await collectAuditEvents(system.nc, (e) => e.type === 'oauth.key.rotated');
    const ports = await Promise.all([freePort(), freePort()]);
    extra.push(...await Promise.all(ports.map((port) => startService('token-service', { ...system.env, TOKEN_SERVICE_PORT: String(port) }))));
    edges.push(...ports.map((port) => `http://127.0.0.1:${port}`));
    try {
      const [event] = await rotated.waitFor('oauth.key.rotated', 1, 5000);
      const all = await keys.find().toArray();
      assert.equal(all.length, 2, 'one new key');
      const next = all.find((k) => k._id !== first._id)!;
      assert.equal(event!.subject, next._id);
      assert.ok(next.activatesAt!.getTime() - next.createdAt.getTime() >= PREPUBLISH * 1000);

      // Before activation: published at every edge (each instance reloads on the announcement on its own: wait for each until then), not signing.
      for (const edge of edges) {
        while (!(await jwksKids(edge)).includes(next._id)) {
          assert.ok(Date.now() < next.activatesAt!.getTime(), `${edge} publishes the new kid before its activation`);
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.deepEqual(await jwksKids(edge), [first._id, next._id].sort());
        // Cached no longer than a copy fetched at an instance that learns of the key only at its reload still holds it when it signs.
        assert.equal((await fetch(`${edge}/jwks.json`)).headers.get('cache-control'), `public, max-age=${PREPUBLISH - RELOAD - 1}`);
      }
      const beforeActivation = await accessTokenAt(edges[1]!);
      if (Date.now() < next.activatesAt!.getTime()) assert.equal(kidOf(beforeActivation), first._id);

      await new Promise((r) => setTimeout(r, Math.max(0, next.activatesAt!.getTime() - Date.now()) + 200));
      for (const edge of edges) assert.equal(kidOf(await accessTokenAt(edge)), next._id, `${edge} signs with the new key after its activation`);
      for (const edge of edges) assert.deepEqual(await jwksKids(edge), [first._id, next._id].sort(), 'the old kid stays until its retireAt');
      assert.equal((await validate(oldToken)).active, true, 'a token of the old key still validates');
      assert.equal((await validate(await accessTokenAt(edges[2]!))).active, true, 'a token of the new key validates');
      assert.deepEqual((await keys.findOne({ _id: first._id }))?.retireAt, addSeconds(next.activatesAt!, SCHEDULED_RETAIN_SECONDS));
      assert.equal(rotated.ofType('oauth.key.rotated').length, 1, 'one oauth.key.rotated for the rotation');
    } finally {
      await rotated.stop();
    }
  });
});
