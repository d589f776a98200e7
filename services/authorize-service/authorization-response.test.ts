import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authorizationResponseUrl } from './authorization-response.ts';

describe('authorizationResponseUrl', () => {
  it('keeps the registered query as it is and appends the response parameters (RFC 6749 §3.1.2)', () => {
    assert.equal(authorizationResponseUrl('https://a.example/cb?x=a%20b', { code: 'c', state: 's t', iss: 'https://id.example' }),
      'https://a.example/cb?x=a%20b&code=c&state=s+t&iss=https%3A%2F%2Fid.example');
  });
  it('leaves out parameters without a value', () => {
    assert.equal(authorizationResponseUrl('https://a.example/cb', { error: 'access_denied', state: undefined }), 'https://a.example/cb?error=access_denied');
  });
});
