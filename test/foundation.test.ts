// The four services as processes: configuration errors at start-up, readiness, graceful shutdown,
// and their declaration on NATS ($SRV.INFO).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceNames, startSystem, testEnv, type System } from './helpers/system.ts';
import { spawnNode, waitForOk } from './helpers/process.ts';

const portVariable = {
  'authorize-service': 'AUTHORIZE_SERVICE_PORT',
  'consent-ui': 'CONSENT_UI_PORT',
  'token-service': 'TOKEN_SERVICE_PORT',
  'validation-service': 'VALIDATION_SERVICE_PORT',
} as const;

describe('start-up configuration', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['a malformed MONGODB_URI', { MONGODB_URI: 'postgres://x' }, /MONGODB_URI/],
    ['a non-numeric port', { AUTHORIZE_SERVICE_PORT: 'eighty', CONSENT_UI_PORT: 'eighty', TOKEN_SERVICE_PORT: 'eighty', VALIDATION_SERVICE_PORT: 'eighty' }, /_PORT/],
    ['an issuer with a path', { OAUTH_ISSUER: 'http://localhost:8080/oauth' }, /OAUTH_ISSUER/],
    ['production without a key-encryption key', { NODE_ENV: 'production', OAUTH_ISSUER: 'https://id.example.com' }, /OAUTH_KEY_ENCRYPTION_KEY/],
    ['a malformed key-encryption key', { OAUTH_KEY_ENCRYPTION_KEY: 'short' }, /OAUTH_KEY_ENCRYPTION_KEY/],
    ['the public development key with the edges off loopback', { HTTP_HOST: '0.0.0.0' }, /OAUTH_KEY_ENCRYPTION_KEY.*HTTP_HOST/],
    // Security finding 1: a loopback listener behind a reverse proxy with a public issuer took the public key.
    ['the public development key behind a public issuer (finding 1)', { OAUTH_ISSUER: 'https://id.example.com' }, /OAUTH_KEY_ENCRYPTION_KEY.*OAUTH_ISSUER/],
    ['the public development key on a database elsewhere (finding 1)', { MONGODB_URI: 'mongodb://db.example.com/oauth' }, /OAUTH_KEY_ENCRYPTION_KEY.*MONGODB_URI/],
    ['an unknown log level', { LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
  ];
  for (const service of ServiceNames) {
    for (const [name, env, pattern] of cases) {
      // validation-service holds no secret: a missing key-encryption key is nothing to it.
      if (service === 'validation-service' && /OAUTH_KEY_ENCRYPTION_KEY/.test(pattern.source) && !('OAUTH_KEY_ENCRYPTION_KEY' in env)) continue;
      it(`${service} stops with one line naming the variable for ${name}`, async () => {
        const run = spawnNode([`services/${service}/main.ts`], env);
        const { code } = await run.exited;
        assert.equal(code, 78);
        const lines = run.output().trim().split('\n');
        assert.equal(lines.length, 1, run.output());
        assert.match(lines[0]!, pattern);
      });
    }
  }
});

describe('graceful shutdown', () => {
  for (const service of ServiceNames) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`${service} stops cleanly on ${signal}: exit 0, nothing left listening`, async () => {
        const env = await testEnv(`shutdown-${service}`);
        const run = spawnNode([`services/${service}/main.ts`], env);
        const port = env[portVariable[service]]!;
        await waitForOk(`http://127.0.0.1:${port}/readyz`);
        const started = Date.now();
        run.child.kill(signal);
        const { code } = await run.exited;
        assert.equal(code, 0, run.output());
        assert.ok(Date.now() - started < 10_000, 'stops within the shutdown timeout');
        await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'the port is closed');
      });
    }
  }
});

describe('$SRV.INFO', () => {
  let system: System;
  before(async () => (system = await startSystem('srv-info')));
  after(() => system.stop());

  it('lists all four services with their endpoints in queue group q', async () => {
    const seen = new Map<string, { endpoints: { subject: string; queue_group?: string }[] }>();
    const replies = await system.nc.requestMany('$SRV.INFO', '', { maxWait: 1000 });
    for await (const msg of replies) {
      const info = msg.json<{ name: string; endpoints: { subject: string; queue_group?: string }[] }>();
      seen.set(info.name, info);
    }
    for (const name of ServiceNames) assert.ok(seen.has(name), `${name} answers $SRV.INFO`);
    assert.ok(seen.get('validation-service')!.endpoints.some((e) => e.subject === 'oauth.token.validate' && e.queue_group === 'q'));
    assert.ok(seen.get('authorize-service')!.endpoints.some((e) => e.subject === 'oauth.authorization.decide'));
  });
});
