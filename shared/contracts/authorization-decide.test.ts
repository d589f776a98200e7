import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checker } from './checker.ts';
import { AuthorizationDecideReplySchema, AuthorizationDecideRequestSchema } from './authorization-decide.ts';

const decideReply = checker(AuthorizationDecideReplySchema);
const decideRequest = checker(AuthorizationDecideRequestSchema);
const reply = (extra: Record<string, unknown>) => ({ redirect_to: 'https://client.example/cb?code=x', client_id: 'c1', scopes: ['orders'], ...extra });

describe('oauth.authorization.decide reply', () => {
  it('takes a grant and a decision time a Date can hold, and refuses the rest (consent-ui dates an audit event by it)', () => {
    assert.ok(decideReply.parse(reply({})), 'an earlier authorize-service sends neither');
    assert.ok(decideReply.parse(reply({ grant_id: 'g_1-x', decided_at: 1_893_456_000_000 })));
    assert.ok(decideReply.parse(reply({ grant_id: 'g', decided_at: 8_640_000_000_000_000 })), 'the last time a Date holds');
    for (const decidedAt of [8_640_000_000_000_001, 1e300, -1, 1.5, '1893456000000']) {
      assert.equal(decideReply.parse(reply({ grant_id: 'g', decided_at: decidedAt })), undefined, String(decidedAt));
    }
    for (const grantId of ['', 'a b', 'x'.repeat(129), 7]) assert.equal(decideReply.parse(reply({ grant_id: grantId, decided_at: 0 })), undefined, String(grantId));
  });
});

describe('oauth.authorization.decide request', () => {
  it('takes a sign-in time a Date can hold, and refuses the rest (authorize-service dates the code by it)', () => {
    const request = (authTime: unknown) => ({ handle: 'A'.repeat(43), decision: 'approve', sub: 'u1', username: 'alice', auth_time: authTime });
    for (const authTime of [0, 1_893_456_000, 8_640_000_000_000]) assert.ok(decideRequest.parse(request(authTime)), String(authTime));
    for (const authTime of [8_640_000_000_001, 1e300, Number.MAX_SAFE_INTEGER + 2, -1, 1.5, '1893456000']) {
      assert.equal(decideRequest.parse(request(authTime)), undefined, String(authTime));
    }
  });
});
