import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from '#shared/crypto.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { authenticateClient, ClientAuthFailures, LOCKOUT_MS, MAX_CONSECUTIVE_FAILURES, type Deps } from './authenticate-client.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');

const client = (over: Partial<ClientDoc> = {}): ClientDoc => ({
  _id: 'c1', name: 'Orders API', type: 'confidential', secretHash: sha256('s3cret'), redirectUris: ['https://a.example.com/cb'], scopes: ['orders.read'],
  grantTypes: ['authorization_code'], accessTokenTtlSeconds: 600, refreshTokenTtlSeconds: 86_400, createdAt: new Date(0), updatedAt: new Date(0), ...over,
});

function deps(clients: ClientDoc[] = [client()]) {
  let nowMs = T0;
  const d: Deps = {
    findClient: async (id) => clients.find((c) => c._id === id),
    clock: { now: () => new Date(nowMs) },
    failures: new ClientAuthFailures(),
  };
  return { d, advance: (ms: number) => { nowMs += ms; } };
}

const rejects = (promise: Promise<unknown>) =>
  assert.rejects(promise, (error) => isOAuthError(error) && error.code === 'invalid_client' && error.status === 401);

describe('authenticateClient', () => {
  it('accepts the client\u2019s secret', async () => {
    const { d } = deps();
    assert.equal((await authenticateClient(d, { clientId: 'c1', clientSecret: 's3cret' }))._id, 'c1');
  });

  it('refuses no credentials, a wrong secret, an unknown client and a public client with invalid_client', async () => {
    const { d } = deps([client(), client({ _id: 'p1', type: 'public', secretHash: undefined })]);
    await rejects(authenticateClient(d, undefined));
    await rejects(authenticateClient(d, { clientId: 'c1', clientSecret: 'wrong' }));
    await rejects(authenticateClient(d, { clientId: 'nobody', clientSecret: 's3cret' }));
    await rejects(authenticateClient(d, { clientId: 'p1', clientSecret: '' }));
  });

  it(`refuses even the right secret for ${LOCKOUT_MS / 1000} s after ${MAX_CONSECUTIVE_FAILURES} consecutive failures`, async () => {
    const { d, advance } = deps();
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES; i++) await rejects(authenticateClient(d, { clientId: 'c1', clientSecret: `wrong${i}` }));
    await rejects(authenticateClient(d, { clientId: 'c1', clientSecret: 's3cret' }));
    advance(LOCKOUT_MS - 1);
    await rejects(authenticateClient(d, { clientId: 'c1', clientSecret: 's3cret' }));
    advance(1);
    assert.equal((await authenticateClient(d, { clientId: 'c1', clientSecret: 's3cret' }))._id, 'c1');
  });

  it('counts only consecutive failures: a success starts the count again', async () => {
    const { d } = deps();
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES - 1; i++) await rejects(authenticateClient(d, { clientId: 'c1', clientSecret: 'wrong' }));
    await authenticateClient(d, { clientId: 'c1', clientSecret: 's3cret' });
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES - 1; i++) await rejects(authenticateClient(d, { clientId: 'c1', clientSecret: 'wrong' }));
    assert.equal((await authenticateClient(d, { clientId: 'c1', clientSecret: 's3cret' }))._id, 'c1');
  });
});
