// The example resource server (examples/resource-server) against the running system: it lets a
// token through only when validation-service says so, and answers RFC 6750 refusals otherwise.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomToken } from '#shared/crypto.ts';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode } from './helpers/oauth.ts';
import { startResourceServer } from '../examples/resource-server/server.ts';

let system: System;
let server: { port: number; stop(): Promise<void> };
let scope: string;
let otherScope: string;
let staff: SeededUser;
let outsider: SeededUser;
let client: SeededClient;

before(async () => {
  system = await startSystem('resourceserver', { services: ['authorize-service', 'token-service', 'validation-service'] });
  scope = await system.seed.scope('orders');
  otherScope = await system.seed.scope('profile');
  staff = await system.seed.user(['staff']);
  outsider = await system.seed.user(['customers']);
  client = await system.seed.client({ scopes: [scope, otherScope] });
  await system.seed.resource('/orders', [scope]);
  await system.seed.resource('/orders/*', [scope], ['staff']);
  server = await startResourceServer({ port: 0, natsUrl: system.env.NATS_URL, scope });
});
after(async () => {
  await server?.stop();
  await system?.stop();
});

async function accessToken(user: SeededUser, scopes = [scope]): Promise<string> {
  const { code, verifier } = await codeViaNats(system, client, user, { scopes });
  const res = await exchangeCode(system, client, code, verifier);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.access_token as string;
}

const get = async (path: string, token?: string) => {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as Record<string, unknown> };
};

describe('example resource server', () => {
  it('serves an order to a token that may read it, naming the resource owner', async () => {
    const token = await accessToken(staff);
    const one = await get('/orders/42', token);
    assert.equal(one.status, 200);
    assert.equal(one.body.username, staff.username);
    const list = await get('/orders', token);
    assert.equal(list.status, 200);
    assert.equal(list.body.username, staff.username);
  });

  it('answers 401 with a Bearer challenge without a token, and error="invalid_token" for a bad one', async () => {
    const none = await get('/orders/42');
    assert.equal(none.status, 401);
    assert.match(none.challenge ?? '', /^Bearer realm=/);
    const bad = await get('/orders/42', `${await accessToken(staff)}x`);
    assert.equal(bad.status, 401);
    assert.match(bad.challenge ?? '', /^Bearer .*error="invalid_token"/);
    const garbage = await get('/orders/42', randomToken(16));
    assert.equal(garbage.status, 401);
  });

  it('answers 403 insufficient_scope to a token without the orders scope', async () => {
    const res = await get('/orders/42', await accessToken(staff, [otherScope]));
    assert.equal(res.status, 403);
    assert.equal(res.body.error, 'insufficient_scope');
    assert.match(res.challenge ?? '', /error="insufficient_scope"/);
  });

  it('answers 403 access_denied when the resource rule\u2019s groups exclude the owner', async () => {
    const token = await accessToken(outsider);
    const res = await get('/orders/42', token);
    assert.equal(res.status, 403);
    assert.equal(res.body.error, 'access_denied');
    assert.equal((await get('/orders', token)).status, 200, 'the list has no group restriction');
  });

  it('answers 503 when validation-service does not answer', async () => {
    const token = await accessToken(staff);
    await system.stopService('validation-service');
    const res = await get('/orders/42', token);
    assert.equal(res.status, 503);
  });
});
