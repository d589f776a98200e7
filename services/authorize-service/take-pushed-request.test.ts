import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MongoNetworkError } from 'mongodb';
import { takePushedRequest, type Deps } from './take-pushed-request.ts';
import { pushedRequestSealer, REQUEST_URI_PREFIX } from './pushed-requests.ts';

const now = new Date('2030-01-01T00:00:00Z');
const params = { response_type: 'code', client_id: 'c1', redirect_uri: 'https://app.example.com/cb' };

function setup(claim: Deps['store']['claimPushedRequest']) {
  const pushed = pushedRequestSealer(randomBytes(32));
  const deps: Deps = { pushed, store: { claimPushedRequest: claim }, clock: { now: () => now } };
  const requestUri = REQUEST_URI_PREFIX + pushed.seal({ id: 'p1', clientId: 'c1', params }, new Date(now.getTime() + 60_000));
  return { deps, query: { client_id: 'c1', request_uri: requestUri } };
}

describe('takePushedRequest', () => {
  it('takes a pushed request once: its parameters the first time, the error page after', async () => {
    const taken = new Set<string>();
    const { deps, query } = setup(async (id) => !taken.has(id) && Boolean(taken.add(id)));
    assert.deepEqual(await takePushedRequest(deps, query), { kind: 'pushed', params });
    assert.equal((await takePushedRequest(deps, query)).kind, 'show-error');
  });

  it('says unavailable, neither taken nor refused, when its one use cannot be recorded', async () => {
    const failure = new MongoNetworkError('connection refused');
    const { deps, query } = setup(async () => {
      throw failure;
    });
    assert.deepEqual(await takePushedRequest(deps, query), { kind: 'unavailable', error: failure });
  });
});
