import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from '#shared/crypto.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { ClientCredentials } from '#shared/client-auth/authenticate-client.ts';
import { pushAuthorization, type Deps } from './push-authorization.ts';
import { MemoryStore, TestClock, testClient } from './test-doubles.ts';

const SECRET = 'par-secret';
const confidential = testClient({ _id: 'c_par', secretHash: sha256(SECRET) });
const params = { response_type: 'code', scope: 'read', redirect_uri: 'https://app.example.com/cb' };

function setup(answer: () => Promise<{ requestUri: string; expiresIn: number }> = async () => ({ requestUri: 'urn:ietf:params:oauth:request_uri:x', expiresIn: 60 })) {
  const forwarded: { push: Parameters<Deps['forward']>[0]; reqId: string }[] = [];
  const clients = new Map<string, ClientDoc>([[confidential._id, confidential]]);
  const deps: Deps = {
    authenticate: {
      findClient: async (id) => clients.get(id), store: new MemoryStore(), clock: new TestClock(),
      log: { info: () => undefined, warn: () => undefined }, metrics: { count: () => undefined }, maxFailures: 10, lockSeconds: 60,
    },
    forward: async (push, reqId) => {
      forwarded.push({ push, reqId });
      return answer();
    },
  };
  return { deps, forwarded };
}

const post = (clientSecret: string): ClientCredentials => ({ authorization: undefined, clientId: confidential._id, clientSecret });

describe('pushAuthorization', () => {
  it('authenticates the client, then hands authorize-service its id and the parameters, never the secret', async () => {
    const { deps, forwarded } = setup();
    const pushed = await pushAuthorization(deps, { credentials: post(SECRET), params: { ...params, client_id: confidential._id }, reqId: 'r1' });
    assert.deepEqual(pushed, { requestUri: 'urn:ietf:params:oauth:request_uri:x', expiresIn: 60 });
    assert.equal(forwarded.length, 1);
    assert.equal(forwarded[0]!.reqId, 'r1');
    assert.equal(forwarded[0]!.push.clientId, confidential._id);
    assert.deepEqual(forwarded[0]!.push.params, { ...params, client_id: confidential._id });
    assert.ok(!JSON.stringify(forwarded).includes(SECRET));
  });

  it('forwards nothing for a client that fails to authenticate (invalid_client)', async () => {
    const { deps, forwarded } = setup();
    await assert.rejects(pushAuthorization(deps, { credentials: post('wrong'), params, reqId: 'r2' }), (e: OAuthError) => e.code === 'invalid_client');
    await assert.rejects(pushAuthorization(deps, { credentials: { authorization: undefined, clientId: undefined, clientSecret: undefined }, params, reqId: 'r3' }),
      (e: OAuthError) => e.code === 'invalid_client');
    assert.equal(forwarded.length, 0);
  });

  it('passes authorize-service\u2019s refusal or absence on as the OAuthError it was', async () => {
    for (const error of [new OAuthError('invalid_scope', 'No.'), new OAuthError('temporarily_unavailable', 'Later.')]) {
      const { deps } = setup(async () => {
        throw error;
      });
      await assert.rejects(pushAuthorization(deps, { credentials: post(SECRET), params, reqId: 'r4' }), (e) => e === error);
    }
  });
});
