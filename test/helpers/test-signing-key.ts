// A signing key of the test's own, published in signing_keys like token-service's keys (public
// JWK in clear), so tests can mint access tokens the real key would never sign: expired ones,
// ones with odd claims. It is marked superseded, so token-service never signs with it.
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import type { Db } from 'mongodb';
import { randomToken } from '#shared/crypto.ts';
import { signingKeysCollection } from '#shared/keys/signing-keys.ts';
import { announceReferenceDataChange } from '#shared/reference-data/reference-cache.ts';
import type { NatsConnection } from '@nats-io/nats-core';

export type TestSigningKey = { kid: string; privateKey: CryptoKey };

/** A fresh ES256 key pair; with `db`, its public half is published as token-service publishes keys. */
export async function createTestSigningKey(db?: Db, nc?: NatsConnection): Promise<TestSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `test-${randomToken(8)}`;
  if (db) {
    const now = new Date();
    await signingKeysCollection(db).insertOne({
      _id: kid, alg: 'ES256', publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
      privateJwkEncrypted: { iv: '', tag: '', data: '' },
      createdAt: now, supersededAt: now, retireAt: new Date(now.getTime() + 3600_000),
    });
    if (nc) {
      announceReferenceDataChange(nc, 'keys');
      await nc.flush();
    }
  }
  return { kid, privateKey };
}

export type MintOptions = { header?: Record<string, unknown>; issuer: string; audience?: string | string[] };

/** An RFC 9068 access token with the agreed claims; `claims` override or add to them. */
export async function mintAccessToken(key: TestSigningKey, options: MintOptions, claims: JWTPayload = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = {
    iss: options.issuer, sub: 'u_test', aud: options.audience ?? options.issuer, client_id: 'c_test', scope: 'orders.read',
    iat: now, exp: now + 600, jti: randomToken(16), auth_time: now, gid: randomToken(16), ...claims,
  };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid, ...options.header }).sign(key.privateKey);
}
