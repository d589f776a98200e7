import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isOAuthError } from '#shared/oauth-error.ts';
import { selectResources } from './select-resources.ts';

const servers = [
  { _id: 'https://api.example.com/', scopes: ['read', 'write'], createdAt: new Date(0) },
  { _id: 'https://files.example.com/', scopes: ['files'], createdAt: new Date(0) },
];
const deps = { findResourceServer: async (uri: string) => servers.find((s) => s._id === uri) };
const API = 'https://api.example.com/';
const FILES = 'https://files.example.com/';

const refusal = async (run: () => Promise<unknown>): Promise<string> => {
  try {
    await run();
  } catch (error) {
    if (isOAuthError(error)) return error.code;
    throw error;
  }
  return 'none';
};

describe('selectResources', () => {
  it('leaves the audience and scopes as they were when neither the authorization nor the request names a resource', async () => {
    assert.deepEqual(await selectResources(deps, undefined, undefined, ['read', 'other']), { audience: undefined, scopes: ['read', 'other'] });
  });

  it('takes every authorized resource without `resource`, and cuts the scope to what they accept', async () => {
    assert.deepEqual(await selectResources(deps, undefined, [API, FILES], ['read', 'files', 'other']), { audience: [API, FILES], scopes: ['read', 'files'] });
  });

  it('narrows to the requested resources, never widens (invalid_target)', async () => {
    assert.deepEqual(await selectResources(deps, [FILES], [API, FILES], ['read', 'files']), { audience: [FILES], scopes: ['files'] });
    assert.equal(await refusal(() => selectResources(deps, [FILES], [API], ['read', 'files'])), 'invalid_target');
  });

  it('lets an authorization that named no resource be narrowed to any registered one', async () => {
    assert.deepEqual(await selectResources(deps, [API], undefined, ['read', 'files']), { audience: [API], scopes: ['read'] });
  });

  it('refuses unregistered, malformed or useless resources, and all without the registry', async () => {
    assert.equal(await refusal(() => selectResources(deps, ['https://other.example.com/'], undefined, ['read'])), 'invalid_target');
    assert.equal(await refusal(() => selectResources(deps, ['not a uri'], undefined, ['read'])), 'invalid_target');
    assert.equal(await refusal(() => selectResources(deps, [FILES], undefined, ['read'])), 'invalid_target');
    assert.equal(await refusal(() => selectResources({}, [API], undefined, ['read'])), 'invalid_target');
  });

  it('waits for the lookup, so a resource server that is still loading (announced a moment ago) is found', async () => {
    let loaded = false;
    const loading = { findResourceServer: async (uri: string) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      loaded = true;
      return servers.find((s) => s._id === uri);
    } };
    assert.deepEqual(await selectResources(loading, [API], undefined, ['read']), { audience: [API], scopes: ['read'] });
    assert.ok(loaded);
  });
});
