import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CommonConfigSchema, ConfigError, parseConfig, parseTrustProxy, serviceConfigSchema } from './config.ts';
import { keyEncryptionKey } from './keys/key-encryption.ts';
import { Type } from '@sinclair/typebox';

const KEK = randomBytes(32).toString('base64url');
const refusal = (setting: string) => (error: unknown) =>
  error instanceof ConfigError && !error.message.includes('\n')
  && new RegExp(`OAUTH_KEY_ENCRYPTION_KEY is missing.* ${setting} must name only loopback hosts`).test(error.message);

// Security finding 1 (HIGH): the public development key worked wherever the HTTP listener
// was on loopback, e.g. behind a reverse proxy with a public issuer, or on a shared database.
describe('finding 1: the public development key only when everything is loopback', () => {
  const offLoopback: [string, Record<string, string>][] = [
    ['OAUTH_ISSUER', { OAUTH_ISSUER: 'https://id.example.com' }],
    ['OAUTH_ISSUER', { OAUTH_ISSUER: 'http://localhost.example.com:8080' }],
    ['OAUTH_ISSUER', { OAUTH_ISSUER: 'http://10.0.0.5:8080' }],
    ['CONSENT_UI_URL', { CONSENT_UI_URL: 'https://login.example.com' }],
    ['TOKEN_SERVICE_URL', { TOKEN_SERVICE_URL: 'https://token.example.com' }],
    ['MONGODB_URI', { MONGODB_URI: 'mongodb://db.example.com:27017/oauth' }],
    ['MONGODB_URI', { MONGODB_URI: 'mongodb://user:p%40ss@127.0.0.1:27017,db2.example.com:27017/oauth?replicaSet=rs0' }],
    ['MONGODB_URI', { MONGODB_URI: 'mongodb://[::1]:27017,[2001:db8::1]:27017/oauth' }],
    ['MONGODB_URI', { MONGODB_URI: 'mongodb+srv://localhost/oauth' }],
    ['MONGODB_URI', { MONGODB_URI: 'mongodb://127.0.0.1/oauth?proxyHost=proxy.example.com' }],
    ['MONGODB_URI', { MONGODB_URI: 'mongodb://127.0.0.1:27017/oauth?proxyhost=evil.com' }],
    ['MONGODB_URI', { MONGODB_URI: 'mongodb://127.0.0.1:27017/oauth?PROXYHOST=evil.com&proxyPort=1080' }],
    ['NATS_URL', { NATS_URL: 'nats://evil.com\\@127.0.0.1' }],
    ['NATS_URL', { NATS_URL: 'nats://127.0.0.1:4222,evil.com\\@127.0.0.1:4222' }],
    ['NATS_URL', { NATS_URL: 'nats://127.0.0.1%2eevil.com:4222' }],
    ['NATS_URL', { NATS_URL: 'nats://nats.example.com:4222' }],
    ['NATS_URL', { NATS_URL: 'nats://127.0.0.1:4222,nats://10.1.2.3:4222' }],
    ['NATS_URL', { NATS_URL: 'nats://127.0.0.1:4222, tls://nats.example.com:4222' }],
    ['NATS_URL', { NATS_URL: 'nats://127.0.0.1:4222,nats.example.com:4222' }],
    ['HTTP_HOST', { HTTP_HOST: '0.0.0.0' }],
  ];
  for (const [setting, env] of offLoopback) {
    it(`refuses it with ${setting}=${Object.values(env)[0]} (one line naming ${setting})`, () => {
      assert.throws(() => parseConfig(CommonConfigSchema, env), refusal(setting));
      // keyEncryptionKey checks again, for whoever parsed without the check (the admin CLI).
      const unchecked = parseConfig(CommonConfigSchema, env, { checkDevelopmentKey: false });
      assert.throws(() => keyEncryptionKey(unchecked), refusal(setting));
      // With a key of one's own, the same settings are fine.
      assert.ok(parseConfig(CommonConfigSchema, { ...env, OAUTH_KEY_ENCRYPTION_KEY: KEK }));
    });
  }

  it('checks every public URL a service schema adds (a setting ending in _URL)', () => {
    const schema = serviceConfigSchema({ PASSWORD_RESET_URL: Type.Optional(Type.String()) });
    assert.throws(() => parseConfig(schema, { PASSWORD_RESET_URL: 'https://reset.example.com' }), refusal('PASSWORD_RESET_URL'));
  });

  it('allows it when the issuer, every URL, every database host and every NATS server are loopback', () => {
    const env = {
      OAUTH_ISSUER: 'http://127.0.0.1:8080', CONSENT_UI_URL: 'http://localhost:8081', TOKEN_SERVICE_URL: 'http://[::1]:8082',
      HTTP_HOST: '::1',
      MONGODB_URI: 'mongodb://u:p@localhost:27017,127.0.0.1:27018,[::1]:27019/oauth?replicaSet=rs0',
      NATS_URL: 'nats://127.0.0.1:4222, nats://localhost:4223,[::1]:4224',
    };
    const config = parseConfig(CommonConfigSchema, env);
    assert.equal(keyEncryptionKey(config).length, 32);
    assert.ok(parseConfig(CommonConfigSchema, {}), 'the defaults are loopback');
    assert.ok(parseConfig(CommonConfigSchema, { MONGODB_URI: 'mongodb://%2Ftmp%2Fmongodb-27017.sock/oauth' }), 'a UNIX socket is this machine');
  });
});

// Security finding 8: TRUST_PROXY=true trusted every X-Forwarded-For hop.
describe('finding 8: TRUST_PROXY is off by default, a hop count or proxy addresses, never true', () => {
  const trustProxy = (value?: string) => parseTrustProxy(parseConfig(CommonConfigSchema, value === undefined ? {} : { TRUST_PROXY: value }).TRUST_PROXY);

  it('is off when unset, false or 0', () => {
    assert.equal(trustProxy(), false);
    assert.equal(trustProxy('false'), false);
    assert.equal(trustProxy('0'), false);
  });

  it('takes a hop count or a list of proxy addresses and CIDRs', () => {
    assert.equal(trustProxy('1'), 1);
    assert.deepEqual(trustProxy('10.0.0.0/8,127.0.0.1'), ['10.0.0.0/8', '127.0.0.1']);
    assert.deepEqual(trustProxy(' 192.168.0.0/16 , fd00::/8, ::1 '), ['192.168.0.0/16', 'fd00::/8', '::1']);
  });

  it('refuses true (any case) and anything else with one line naming TRUST_PROXY', () => {
    for (const value of ['true', 'TRUE', 'True', 'yes', '11', '-1', '10.0.0.0/33', 'proxy.example.com', '10.0.0.1,', '1.5']) {
      assert.throws(() => trustProxy(value), (error: unknown) => error instanceof ConfigError && /^configuration error: TRUST_PROXY/.test(error.message)
        && !error.message.includes('\n'), value);
    }
  });
});

describe('AUDIT_STREAM_REPLICAS', () => {
  it('defaults to 1 and takes 1 to 5', () => {
    assert.equal(parseConfig(CommonConfigSchema, {}).AUDIT_STREAM_REPLICAS, 1);
    assert.equal(parseConfig(CommonConfigSchema, { AUDIT_STREAM_REPLICAS: '3' }).AUDIT_STREAM_REPLICAS, 3);
    assert.equal(parseConfig(CommonConfigSchema, { AUDIT_STREAM_REPLICAS: '5' }).AUDIT_STREAM_REPLICAS, 5);
  });
  for (const bad of ['0', '6', 'three', '-1']) {
    it(`refuses ${bad} with one line naming the setting`, () => {
      assert.throws(() => parseConfig(CommonConfigSchema, { AUDIT_STREAM_REPLICAS: bad }),
        (error: unknown) => error instanceof ConfigError && !error.message.includes('\n') && /AUDIT_STREAM_REPLICAS is invalid/.test(error.message));
    });
  }
});

describe('OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('is unset by default (tracing off) and takes an http(s) URL', () => {
    assert.equal(parseConfig(CommonConfigSchema, {}).OTEL_EXPORTER_OTLP_ENDPOINT, undefined);
    assert.equal(parseConfig(CommonConfigSchema, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318' }).OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otel-collector:4318');
  });
  for (const bad of ['otel-collector:4318', 'ftp://x', 'http://a b', `http://${'x'.repeat(2100)}`]) {
    it(`refuses ${bad.slice(0, 30)} with one line naming the setting`, () => {
      assert.throws(() => parseConfig(CommonConfigSchema, { OTEL_EXPORTER_OTLP_ENDPOINT: bad }),
        (error: unknown) => error instanceof ConfigError && /^configuration error: OTEL_EXPORTER_OTLP_ENDPOINT is invalid/.test(error.message) && !error.message.includes('\n'));
    });
  }
});
