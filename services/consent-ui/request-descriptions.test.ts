import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { AuthorizationDescription } from './nats-client.ts';
import { RequestDescriptions, type Deps } from './request-descriptions.ts';
import { testClock } from './test-doubles.ts';

const HANDLE = 'H'.repeat(43);

function setup(options: { expiresInSeconds?: number; maxEntries?: number } = {}) {
  const clock = testClock();
  const clients = new Map<string, Pick<ClientDoc, '_id' | 'name'>>([['c_1', { _id: 'c_1', name: 'Shop' }]]);
  const descriptions = new Map([['orders', 'Read your orders'], ['profile', 'See your profile']]);
  const asked: string[] = [];
  const deps: Deps = {
    clock,
    findClient: async (id) => clients.get(id) as ClientDoc | undefined,
    scope: (name) => (descriptions.has(name) ? { _id: name, description: descriptions.get(name)!, createdAt: new Date() } : undefined),
    nats: {
      describeAuthorization: async (handle) => {
        asked.push(handle);
        if (handle.startsWith('X')) throw new OAuthError('invalid_request', 'The authorization request is unknown, already answered or expired.');
        const described: AuthorizationDescription = {
          clientId: 'c_1',
          clientName: 'Shop',
          scopes: [{ name: 'orders', description: 'Read your orders' }, { name: 'profile', description: 'See your profile' }],
          resources: [],
        };
        const { expiresInSeconds = 600 } = options;
        return expiresInSeconds > 0 ? { ...described, expiresAt: new Date(clock.now().getTime() + expiresInSeconds * 1000) } : described;
      },
    },
  };
  return { requests: new RequestDescriptions(deps, options.maxEntries), clock, clients, descriptions, asked };
}

describe('RequestDescriptions', () => {
  it('asks authorize-service once per request, and answers the same until the request expires', async () => {
    const { requests, clock, asked } = setup({ expiresInSeconds: 600 });
    const first = await requests.describe(HANDLE, 'r1');
    clock.advance(599);
    assert.deepEqual(await requests.describe(HANDLE, 'r2'), first);
    assert.equal(asked.length, 1);
    clock.advance(1);
    await requests.describe(HANDLE, 'r3');
    assert.equal(asked.length, 2, 'asked again once the request has expired (authorize-service then refuses it)');
  });

  it('takes the client name and scope descriptions of a reused description from the current reference data', async () => {
    const { requests, clients, descriptions } = setup();
    await requests.describe(HANDLE, 'r');
    clients.set('c_1', { _id: 'c_1', name: 'Shop (renamed)' });
    descriptions.set('orders', 'Read your order history');
    const again = await requests.describe(HANDLE, 'r');
    assert.equal(again.clientName, 'Shop (renamed)');
    assert.deepEqual(again.scopes.map((s) => s.description), ['Read your order history', 'See your profile']);
  });

  it('refuses a reused description whose client has been deleted since, as authorize-service would', async () => {
    const { requests, clients } = setup();
    await requests.describe(HANDLE, 'r');
    clients.delete('c_1');
    await assert.rejects(requests.describe(HANDLE, 'r'), (e: unknown) => e instanceof OAuthError && e.code === 'invalid_request');
  });

  it('keeps nothing from an authorize-service that does not say when the request expires, and nothing refused', async () => {
    const { requests, asked } = setup({ expiresInSeconds: 0 });
    await requests.describe(HANDLE, 'r');
    await requests.describe(HANDLE, 'r');
    assert.equal(asked.length, 2);
    for (let i = 0; i < 2; i++) await assert.rejects(requests.describe('X'.repeat(43), 'r'), OAuthError);
    assert.equal(asked.length, 4);
  });

  it('keeps at most maxEntries requests, the oldest out first', async () => {
    const { requests, asked } = setup({ maxEntries: 2 });
    for (const handle of ['A', 'B', 'C', 'A'].map((c) => c.repeat(43))) await requests.describe(handle, 'r');
    assert.equal(asked.length, 4, 'A was dropped for C');
    await requests.describe('C'.repeat(43), 'r');
    assert.equal(asked.length, 4);
  });
});
