// Docker does not run on the CI machine, so docker-compose.yml is checked by reading it: every
// service, file, port and environment variable it names must exist in the project.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, access } from 'node:fs/promises';
import { parse } from 'yaml';
import type { TObject } from '@sinclair/typebox';
import { authorizationServerMetadata } from '../services/authorize-service/metadata.ts';
import { publicUrls, parseConfig, parseTrustProxy, CommonConfigSchema } from '#shared/config.ts';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFile(new URL(path, root), 'utf8');
const exists = (path: string) => access(new URL(path, root)).then(() => true, () => false);

type ComposeService = {
  image?: string; build?: { context: string; dockerfile: string }; command?: string[]; environment?: Record<string, string>;
  healthcheck?: { test: string[] }; volumes?: string[]; depends_on?: Record<string, unknown>; ports?: string[];
};

const compose = parse(await read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
const caddyfile = await read('deploy/Caddyfile');

const httpServices = {
  'authorize-service': 'AUTHORIZE_SERVICE_PORT',
  'consent-ui': 'CONSENT_UI_PORT',
  'token-service': 'TOKEN_SERVICE_PORT',
  'validation-service': 'VALIDATION_SERVICE_PORT',
} as const;
/** validation-service's HTTP port serves only /healthz, /readyz and /metrics: the edge never routes to it. */
const notPublic: ReadonlySet<string> = new Set(['validation-service']);

/** The paths of the Caddyfile route block that proxies to `service`. */
function routedPaths(service: string): string[] {
  const block = new RegExp(`@(\\w+) path ([^\\n]+)\\n\\s*reverse_proxy @\\1 \\{\\s*dynamic a ${service} `).exec(caddyfile);
  return block ? block[2]!.trim().split(/\s+/) : [];
}

async function configSchema(service: string): Promise<TObject> {
  const module = (await import(`../services/${service}/config.ts`)) as Record<string, unknown>;
  const schema = Object.values(module).find((v): v is TObject => typeof v === 'object' && v !== null && 'properties' in v);
  assert.ok(schema, `services/${service}/config.ts exports its schema`);
  return schema;
}

describe('docker-compose.yml', () => {
  it('runs NATS with JetStream from deploy/, MongoDB 7 and an edge proxy', async () => {
    assert.match(compose.services.nats!.image!, /^nats:2\.(1[0-9])/);
    assert.ok(compose.services.nats!.volumes!.some((v) => v.startsWith('./deploy/nats.conf:')));
    assert.match(await read('deploy/nats.conf'), /jetstream\s*\{/);
    assert.match(compose.services.mongo!.image!, /^mongo:7/);
    assert.ok(compose.services.edge!.volumes!.some((v) => v.startsWith('./deploy/Caddyfile:')));
    for (const name of ['nats', 'mongo', ...Object.keys(httpServices)]) assert.ok(compose.services[name]!.healthcheck, `${name} has a health check`);
  });

  for (const [service, portVariable] of Object.entries(httpServices)) {
    it(`runs ${service} from the one image, on a port its config knows, with known variables`, async () => {
      const s = compose.services[service];
      assert.ok(s, `${service} is in docker-compose.yml`);
      assert.equal(s.build?.dockerfile, 'deploy/Dockerfile');
      assert.ok(await exists(s.build.dockerfile));
      assert.equal(s.image, compose.services['authorize-service']!.image);
      assert.deepEqual(s.command, ['node', `services/${service}/main.ts`]);
      assert.ok(await exists(`services/${service}/main.ts`));
      assert.equal(s.ports, undefined, 'no host port: the edge is the only way in, so --scale works');
      const schema = await configSchema(service);
      for (const name of Object.keys(s.environment!)) assert.ok(name in schema.properties, `${service}: ${name} is a setting of the service`);
      const port = s.environment![portVariable]!;
      assert.ok(s.healthcheck!.test.join(' ').includes(`127.0.0.1:${port}/readyz`), 'health check probes the service port');
      if (notPublic.has(service)) assert.ok(!caddyfile.includes(`dynamic a ${service} `), 'the edge routes nothing to it');
      else assert.ok(caddyfile.includes(`dynamic a ${service} ${port}`), 'the edge routes to the service port');
      assert.ok(s.depends_on && 'nats' in s.depends_on && 'mongo' in s.depends_on);
    });
  }

  it('connects every service to NATS as its own user, with a password that must be set, as deploy/nats.conf defines them', async () => {
    const natsConf = await read('deploy/nats.conf');
    const natsEnv = compose.services.nats!.environment ?? {};
    const users = [...natsConf.matchAll(/user:\s*"([^"]+)"\s*\n\s*password:\s*\$([A-Z_]+)/g)].map((m) => ({ user: m[1]!, variable: m[2]! }));
    assert.deepEqual(users.map((u) => u.user).sort(), [...Object.keys(httpServices), 'admin-cli', 'resource-server', 'auditor'].sort(), 'one user per service and per outside role');
    for (const { user, variable } of users) {
      assert.equal(variable, `${user.toUpperCase().replaceAll('-', '_')}_NATS_PASSWORD`);
      assert.match(natsEnv[variable] ?? '', new RegExp(`^\\$\\{${variable}:\\?.+\\}$`), `nats gets ${variable}, and a missing one fails loudly`);
    }
    for (const service of Object.keys(httpServices)) {
      const env = compose.services[service]!.environment!;
      assert.equal(env.NATS_USER, service, `${service} connects as ${service}`);
      assert.equal(env.NATS_PASSWORD, natsEnv[`${service.toUpperCase().replaceAll('-', '_')}_NATS_PASSWORD`], `${service} gets the password NATS checks`);
      assert.ok(env.NATS_PASSWORD, `${service} has NATS_PASSWORD`);
    }
  });

  it('routes every public endpoint path of the metadata to a service at the edge', () => {
    const env = { OAUTH_ISSUER: 'https://id.example.com', NODE_ENV: 'test' };
    const meta = authorizationServerMetadata(publicUrls(parseConfig(CommonConfigSchema, env, { checkDevelopmentKey: false })), []);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint'] as const) {
      const url = new URL(meta[key]);
      assert.equal(url.origin, 'https://id.example.com', `${key} sits on the one host`);
      assert.ok(caddyfile.includes(url.pathname), `${key} path ${url.pathname} is routed`);
    }
    assert.ok(caddyfile.includes('/.well-known/oauth-authorization-server'));
    assert.ok(caddyfile.includes('/ui/*'));
  });

  it('routes the back-channel endpoints, introspection included, to token-service', () => {
    assert.deepEqual(routedPaths('token-service').sort(), ['/introspect', '/jwks.json', '/revoke', '/token']);
    assert.deepEqual(routedPaths('validation-service'), []);
  });

  // Security finding 8: the image and docker-compose set TRUST_PROXY=true (every X-Forwarded-For hop believed).
  it('finding 8: the image trusts no proxy, and every service trusts exactly the one edge hop, a setting config accepts', async () => {
    const dockerfile = await read('deploy/Dockerfile');
    assert.doesNotMatch(dockerfile, /TRUST_PROXY=/, 'off by default in the image');
    for (const service of Object.keys(httpServices)) {
      const env = compose.services[service]!.environment!;
      assert.equal(env.TRUST_PROXY, '1', `${service}: one hop, the edge proxy`);
      assert.equal(parseTrustProxy(env.TRUST_PROXY), 1);
    }
  });

  it('the image runs the sources on Node 24', async () => {
    const dockerfile = await read('deploy/Dockerfile');
    assert.match(dockerfile, /^FROM node:24/m);
    for (const dir of ['shared', 'services', 'bin']) assert.match(dockerfile, new RegExp(`COPY ${dir} `));
  });
});
