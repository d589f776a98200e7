import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { authorizationRequestSealer, type PendingRequest } from '#shared/grants/authorization-requests.ts';
import { authorizationCodeSealer } from '#shared/grants/authorization-codes.ts';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { requestDescriber } from './request-descriptions.ts';
import { testClock } from './test-doubles.ts';

const pending: PendingRequest = {
  id: 'r_1', clientId: 'c_1', redirectUri: 'https://shop.example/cb', redirectUriSent: true,
  scopes: ['orders', 'profile'], state: 'st', codeChallenge: undefined,
};

function setup() {
  const key = randomBytes(32);
  const sealer = authorizationRequestSealer(key);
  const clock = testClock();
  const clients = new Map<string, Pick<ClientDoc, '_id' | 'name' | 'disabled'>>([['c_1', { _id: 'c_1', name: 'Shop' }]]);
  const descriptions = new Map([['orders', 'Read your orders'], ['profile', 'See your profile']]);
  const requests = requestDescriber({
    requests: sealer,
    clock,
    findClient: async (id) => clients.get(id) as ClientDoc | undefined,
    scope: (name) => (descriptions.has(name) ? { _id: name, description: descriptions.get(name)!, createdAt: new Date() } : undefined),
  });
  const expiresAt = new Date(clock.now().getTime() + 600_000);
  return { key, requests, clock, clients, descriptions, handle: sealer.seal(pending, expiresAt), expiresAt };
}

const refused = (e: unknown) => e instanceof OAuthError && e.code === 'invalid_request';

describe('requestDescriber', () => {
  it('reads the client and scopes from the handle, with the name and descriptions of the reference data', async () => {
    const { requests, handle, expiresAt } = setup();
    assert.deepEqual(await requests.describe(handle), {
      clientId: 'c_1', clientName: 'Shop',
      scopes: [{ name: 'orders', description: 'Read your orders' }, { name: 'profile', description: 'See your profile' }],
      resources: [], expiresAt,
    });
  });

  it('takes a renamed client and changed descriptions as they are now', async () => {
    const { requests, handle, clients, descriptions } = setup();
    clients.set('c_1', { _id: 'c_1', name: 'Shop (renamed)' });
    descriptions.set('orders', 'Read your order history');
    descriptions.delete('profile');
    const described = await requests.describe(handle);
    assert.equal(described.clientName, 'Shop (renamed)');
    assert.deepEqual(described.scopes.map((s) => s.description), ['Read your order history', 'profile']);
  });

  it('names the resources a request carries', async () => {
    const { key, requests, clock } = setup();
    const handle = authorizationRequestSealer(key).seal({ ...pending, resources: ['https://api.example/'] }, new Date(clock.now().getTime() + 60_000));
    assert.deepEqual((await requests.describe(handle)).resources, ['https://api.example/']);
  });

  it('refuses an expired handle, from the second it expires', async () => {
    const { requests, handle, clock } = setup();
    clock.advance(599);
    await requests.describe(handle);
    clock.advance(1);
    await assert.rejects(requests.describe(handle), refused);
  });

  it('refuses a handle whose client was deleted or disabled since', async () => {
    const { requests, handle, clients } = setup();
    clients.set('c_1', { _id: 'c_1', name: 'Shop', disabled: true });
    await assert.rejects(requests.describe(handle), refused);
    clients.delete('c_1');
    await assert.rejects(requests.describe(handle), refused);
  });

  it('refuses a tampered handle, one sealed under another key, and another kind of sealed value under the same key', async () => {
    const { key, requests, handle, clock } = setup();
    const flipped = `${handle.slice(0, 20)}${handle[20] === 'A' ? 'B' : 'A'}${handle.slice(21)}`;
    await assert.rejects(requests.describe(flipped), refused);
    await assert.rejects(requests.describe(authorizationRequestSealer(randomBytes(32)).seal(pending, new Date(clock.now().getTime() + 60_000))), refused);
    const code = authorizationCodeSealer(key).seal({
      grantId: 'g', clientId: 'c_1', redirectUri: 'https://shop.example/cb', redirectUriSent: true, codeChallenge: null,
      scopes: ['orders'], sub: 'u_1', username: 'alice', authTime: 0, issuedAt: 0,
    }, new Date(clock.now().getTime() + 60_000));
    await assert.rejects(requests.describe(code), refused);
    await assert.rejects(requests.describe('H'.repeat(43)), refused);
  });
});
