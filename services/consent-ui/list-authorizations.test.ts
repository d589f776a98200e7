import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import { listAuthorizations } from './list-authorizations.ts';
import { memoryStore } from './test-doubles.ts';

describe('listAuthorizations', () => {
  it('lists every client the owner granted access to, newest first, with names and scope descriptions', async () => {
    const memory = memoryStore();
    await memory.store.recordGrant('u_1', 'c_old', ['orders'], false, new Date('2030-01-01T00:00:00Z'));
    await memory.store.recordGrant('u_1', 'c_new', ['orders'], true, new Date('2030-01-02T00:00:00Z'));
    await memory.store.recordGrant('u_1', 'c_new', ['unknown.scope'], false, new Date('2030-01-02T00:00:00Z'));
    await memory.store.recordGrant('u_1', 'c_gone', ['orders'], false, new Date('2029-12-31T00:00:00Z'));
    await memory.store.recordGrant('u_2', 'c_other', ['orders'], true, new Date('2030-01-03T00:00:00Z'));
    const names: Record<string, string> = { c_old: 'Old Shop', c_new: 'New Shop' };
    const list = await listAuthorizations({
      store: memory.store,
      findClient: async (id) => (names[id] ? ({ _id: id, name: names[id] } as ClientDoc) : undefined),
      scope: (name) => (name === 'orders' ? { _id: 'orders', description: 'Read your orders', createdAt: new Date() } : undefined),
    }, 'u_1');
    assert.deepEqual(list.map((a) => [a.clientId, a.clientName, a.remembered]), [['c_new', 'New Shop', true], ['c_old', 'Old Shop', false], ['c_gone', undefined, false]]);
    assert.deepEqual(list[0]?.scopes, [{ name: 'orders', description: 'Read your orders' }, { name: 'unknown.scope', description: 'unknown.scope' }]);
  });
});
