// Starts the real services in-process against real NATS and the database, each test file with a
// database of its own, and seeds reference data with unique names. Nothing wipes a database.
import { NATS_URL, uniqueMongoUri } from '#shared/testing/suite-servers.ts';
import { freePort } from './ports.ts';
import { startPrivateNats, type PrivateNats } from './nats-server.ts';
import { MongoClient, type Db } from 'mongodb';
import { connect } from '@nats-io/transport-node';
import type { ConnectionOptions, NatsConnection } from '@nats-io/nats-core';
import type { StartOptions } from '#shared/service-base.ts';
import { randomToken } from '#shared/crypto.ts';
import { publicUrls, type PublicUrls, parseConfig, CommonConfigSchema } from '#shared/config.ts';
import { announceReferenceDataChange } from '#shared/reference-data/reference-cache.ts';
import type { ReferenceDataKind } from '#shared/contracts/reference-data-changed.ts';
import * as admin from '../../services/admin-cli/reference-data-admin.ts';
import { createResourceServer } from '../../services/admin-cli/resource-servers-admin.ts';

export const ServiceNames = ['authorize-service', 'consent-ui', 'token-service', 'validation-service'] as const;
export type ServiceName = (typeof ServiceNames)[number];

export { freePort, NATS_URL, uniqueMongoUri };

/** Environment for one system under test: free ports, a unique database, quiet logs. */
export async function testEnv(label: string, overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const [a, c, t, v] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  return {
    NODE_ENV: 'test',
    NATS_URL,
    MONGODB_URI: uniqueMongoUri(label),
    OAUTH_ISSUER: `http://localhost:${a}`,
    AUTHORIZE_SERVICE_PORT: String(a),
    CONSENT_UI_PORT: String(c),
    TOKEN_SERVICE_PORT: String(t),
    VALIDATION_SERVICE_PORT: String(v),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  };
}

type ServiceModule = { loadConfig(env: NodeJS.ProcessEnv): unknown; start(config: unknown, options?: StartOptions): Promise<{ stop(): Promise<void> }> };

export async function startService(name: ServiceName, env: Record<string, string>, options: StartOptions = {}): Promise<{ stop(): Promise<void> }> {
  const module = (await import(`../../services/${name}/main.ts`)) as ServiceModule;
  return module.start(module.loadConfig(env), options);
}

export type SystemOptions = {
  services?: readonly ServiceName[];
  env?: Record<string, string>;
  /** Settings for one service only, on top of `env` (e.g. its own NATS_USER and NATS_PASSWORD). */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Options of the test's own NATS connection `nc` (e.g. user, pass and inboxPrefix on a server that requires them). */
  natsConnect?: Partial<ConnectionOptions>;
  /** Where the services' log lines go (every service's into the one stream); stdout by default. */
  logStream?: StartOptions['logStream'];
};

export type System = {
  env: Record<string, string>;
  urls: PublicUrls;
  /** validation-service's own HTTP server: /healthz, /readyz and /metrics only (no public endpoint). */
  validationServiceUrl: string;
  db: Db;
  nc: NatsConnection;
  seed: Seeder;
  stopService(name: ServiceName): Promise<void>;
  stop(): Promise<void>;
};

/**
 * Starts the named services (all four by default) on a NATS server of this system's own: the
 * services answer in queue groups, so systems of test files running side by side must not share
 * one, or one file's request could be answered by another file's services.
 */
/** authorize-service and token-service (the back channel's system), with a scope and a user seeded. */
export async function startTokenSystem(label: string, scopeName: string, groups?: string[]): Promise<{ system: System; scope: string; user: SeededUser }> {
  const system = await startSystem(label, { services: ['authorize-service', 'token-service'] });
  return { system, scope: await system.seed.scope(scopeName), user: await system.seed.user(groups) };
}

export async function startSystem(label: string, options: SystemOptions = {}): Promise<System> {
  const privateNats: PrivateNats | undefined = options.env?.NATS_URL ? undefined : await startPrivateNats();
  const env = await testEnv(label, { ...(privateNats ? { NATS_URL: privateNats.url } : {}), ...options.env });
  const mongo = await MongoClient.connect(env.MONGODB_URI!);
  const db = mongo.db();
  const nc = await connect({ servers: env.NATS_URL!, name: `test-${label}`, ...options.natsConnect });
  const running = new Map<ServiceName, { stop(): Promise<void> }>();
  try {
    // Sequential: services create shared indexes and the audit stream idempotently, but not in a race.
    for (const name of options.services ?? ServiceNames) {
      running.set(name, await startService(name, { ...env, ...options.serviceEnv?.[name] }, { logStream: options.logStream }));
    }
  } catch (error) {
    await Promise.allSettled([...running.values()].map((s) => s.stop()));
    await nc.close();
    await mongo.close();
    await privateNats?.stop();
    throw error;
  }
  return {
    env,
    urls: publicUrls(parseConfig(CommonConfigSchema, env)),
    validationServiceUrl: `http://localhost:${env.VALIDATION_SERVICE_PORT}`,
    db,
    nc,
    seed: seeder(db, nc),
    stopService: async (name) => {
      await running.get(name)?.stop();
      running.delete(name);
    },
    stop: async () => {
      await Promise.allSettled([...running.values()].map((s) => s.stop()));
      running.clear();
      await nc.close();
      await mongo.close();
      await privateNats?.stop();
    },
  };
}

export type SeededClient = { clientId: string; clientSecret?: string; redirectUri: string; scopes: string[] };
export type SeededUser = { username: string; password: string; sub: string };

export type Seeder = ReturnType<typeof seeder>;

/** Reference data with unique names, written as the admin CLI writes it and announced to the services. */
export function seeder(db: Db, nc: NatsConnection) {
  const announce = async (kind: ReferenceDataKind) => {
    announceReferenceDataChange(nc, kind);
    await nc.flush();
  };
  return {
    async scope(prefix = 'read', description = `Read your ${prefix} data`): Promise<string> {
      const name = `${prefix}.${randomToken(4).replace(/[^a-z0-9]/gi, 'x')}`;
      await admin.createScope(db, name, description);
      await announce('scopes');
      return name;
    },
    async user(groups: string[] = []): Promise<SeededUser> {
      const username = `user_${randomToken(6).replace(/[^a-z0-9]/gi, 'x')}`;
      const password = `pw-${randomToken(12)}`;
      const { sub } = await admin.createUser(db, { username, password, groups });
      await announce('users');
      return { username, password, sub };
    },
    async client(options: Partial<admin.NewClient> & { scopes: string[] }): Promise<SeededClient> {
      const redirectUri = options.redirectUris?.[0] ?? `https://client-${randomToken(4).replace(/[^a-z0-9]/gi, 'x').toLowerCase()}.example.com/callback`;
      const created = await admin.createClient(db, {
        name: options.name ?? 'Test Client',
        type: options.type ?? 'confidential',
        redirectUris: options.redirectUris ?? [redirectUri],
        scopes: options.scopes,
        refreshTokens: options.refreshTokens ?? true,
        ...(options.accessTokenTtlSeconds ? { accessTokenTtlSeconds: options.accessTokenTtlSeconds } : {}),
        ...(options.requireDpop ? { requireDpop: true } : {}),
        ...(options.requirePar ? { requirePar: true } : {}),
        ...(options.grantTypes ? { grantTypes: options.grantTypes } : {}),
        ...(options.refreshGraceSeconds !== undefined ? { refreshGraceSeconds: options.refreshGraceSeconds } : {}),
      });
      await announce('clients');
      return { ...created, redirectUri, scopes: options.scopes };
    },
    async resource(pattern: string, scopes: string[], groups: string[] = []): Promise<void> {
      await admin.createResource(db, { pattern, scopes, groups });
      await announce('resources');
    },
    /** A resource server (RFC 8707) at a unique URI, accepting `scopes`. */
    async resourceServer(scopes: string[]): Promise<string> {
      const uri = `https://rs-${randomToken(6).replace(/[^a-z0-9]/gi, 'x').toLowerCase()}.example.com/`;
      await createResourceServer(db, { uri, scopes });
      await announce('resource_servers');
      return uri;
    },
  };
}
