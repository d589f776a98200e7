// Environment configuration: one TypeBox schema per service, parsed once at start-up.
// A bad or missing value stops the process with one line that names the variable.
import { Type, type TObject, type TProperties, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isIP } from 'node:net';
import { isLoopbackHost, isLoopbackUrl, mongoUriIsLoopback, natsUrlsAreLoopback } from './loopback.ts';

export class ConfigError extends Error {}

const Url = (description: string, fallback: string) =>
  Type.String({ default: fallback, minLength: 1, description });

const Port = (fallback: number) => Type.Integer({ minimum: 0, maximum: 65535, default: fallback });

/** Where a laptop finds the system: the issuer on authorize-service's port, each edge on its own. */
export const DEFAULT_ISSUER_URL = 'http://localhost:8080';
export const DEFAULT_PORTS = { AUTHORIZE_SERVICE_PORT: 8080, CONSENT_UI_PORT: 8081, TOKEN_SERVICE_PORT: 8082, VALIDATION_SERVICE_PORT: 8083 } as const;

/** Settings every service and the admin CLI read (see CONTRACT.md "Running it"). */
export const CommonConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('production'), Type.Literal('development'), Type.Literal('test')], { default: 'development' }),
  NATS_URL: Url('NATS server URL(s), comma separated', 'nats://127.0.0.1:4222'),
  NATS_USER: Type.Optional(Type.String({ minLength: 1 })),
  NATS_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  MONGODB_URI: Url('MongoDB connection string; the database name is taken from it', 'mongodb://127.0.0.1:27017/oauth'),
  OAUTH_ISSUER: Url('public issuer URL (RFC 8414)', DEFAULT_ISSUER_URL),
  OAUTH_KEY_ENCRYPTION_KEY: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: '32 random bytes, base64url' })),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  HTTP_HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  AUTHORIZE_SERVICE_PORT: Port(DEFAULT_PORTS.AUTHORIZE_SERVICE_PORT),
  CONSENT_UI_PORT: Port(DEFAULT_PORTS.CONSENT_UI_PORT),
  TOKEN_SERVICE_PORT: Port(DEFAULT_PORTS.TOKEN_SERVICE_PORT),
  VALIDATION_SERVICE_PORT: Port(DEFAULT_PORTS.VALIDATION_SERVICE_PORT),
  // Public base URLs of the HTTP edges; by default derived from the issuer (see publicUrls).
  // validation-service has no public endpoint: its port serves only health, readiness and metrics.
  CONSENT_UI_URL: Type.Optional(Type.String({ minLength: 1 })),
  TOKEN_SERVICE_URL: Type.Optional(Type.String({ minLength: 1 })),
  /** Which proxies' X-Forwarded-* to believe: off, a hop count, or proxy addresses/CIDRs (see parseTrustProxy). */
  TRUST_PROXY: Type.String({ default: 'false', maxLength: 2048 }),
  NATS_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
  DB_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  // After SIGTERM, HTTP is served (not ready) this long before the server closes: a load balancer's readiness period.
  SHUTDOWN_DRAIN_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 0 }),
  AUDIT_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 90 }),
  /** Replicas of the OAUTH_AUDIT stream (3 on a 3-node NATS cluster); an existing stream is updated to it. */
  AUDIT_STREAM_REPLICAS: Type.Integer({ minimum: 1, maximum: 5, default: 1 }),
  /**
   * How often expired records are removed where the database has no TTL indexes (FerretDB). Every
   * read checks expiry itself, so this bounds only storage; on FerretDB each sweep reads every
   * record of its collections, hence not every minute.
   */
  SWEEP_INTERVAL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 600 }),
  // `npm run bench` sets it: count every MongoDB command by name in mongodb_commands_total on /metrics.
  BENCH_COUNT_DB_COMMANDS: Type.Boolean({ default: false }),
  /** OpenTelemetry traces go over OTLP/HTTP to this base URL (`<url>/v1/traces`); unset, tracing is off and costs nothing. */
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2048 })),
  /** The service name traces carry (default: the service's own, e.g. token-service). */
  OTEL_SERVICE_NAME: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
export type CommonConfig = Static<typeof CommonConfigSchema>;

/** Client authentication throttling, for every edge that authenticates clients (token, revocation, introspection). */
export const ClientAuthConfig = {
  /** CONTRACT "Sign-in abuse": at most 10 consecutive failed client authentications… */
  CLIENT_AUTH_MAX_FAILURES: Type.Integer({ minimum: 1, maximum: 10, default: 10 }),
  /** …then the client's authentication is refused for at least 60 s. */
  CLIENT_AUTH_LOCK_SECONDS: Type.Integer({ minimum: 60, maximum: 86_400, default: 60 }),
};

/** Settings of services that keep a RevocationSet (validation-service, token-service). */
export const RevocationSetConfig = {
  /** How often the revocation set is re-read from the database to cover missed broadcasts. */
  REVOCATION_RESYNC_MS: Type.Integer({ minimum: 200, maximum: 60_000, default: 5000 }),
};

/** Settings of services that check DPoP proofs (token-service, validation-service). */
export const DpopConfig = {
  /** Replicas of the OAUTH_DPOP_PROOFS replay stream; AUDIT_STREAM_REPLICAS when not set (3 on a 3-node cluster). */
  DPOP_PROOF_STREAM_REPLICAS: Type.Optional(Type.Integer({ minimum: 1, maximum: 5 })),
};

/** Extends the common schema with a service's own settings. */
export function serviceConfigSchema<P extends TProperties>(own: P) {
  return Type.Composite([CommonConfigSchema, Type.Object(own)]);
}

export type ParseOptions = {
  /**
   * Refuse the public development key unless everything is loopback (default). Only the admin CLI
   * turns it off: most of its commands need no key, and keyEncryptionKey checks for those that do.
   */
  checkDevelopmentKey?: boolean;
  /** False for a process that holds no secret (validation-service): OAUTH_KEY_ENCRYPTION_KEY is neither required nor checked. */
  usesKeyEncryptionKey?: boolean;
};

/**
 * Parses `env` against `schema`: converts strings to numbers/booleans, applies defaults,
 * ignores unrelated variables, and throws a ConfigError naming the first bad variable.
 */
export function parseConfig<S extends TObject>(schema: S, env: NodeJS.ProcessEnv = process.env, options: ParseOptions = {}): Static<S> {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const raw = env[key];
    if (raw !== undefined && raw !== '') picked[key] = raw;
  }
  const value = Value.Convert(schema, Value.Default(schema, picked));
  const firstError = Value.Errors(schema, value).First();
  if (firstError) {
    const name = firstError.path.replace(/^\//, '') || 'configuration';
    const shown = env[name] === undefined ? 'missing' : 'invalid';
    throw new ConfigError(`configuration error: ${name} is ${shown} (${firstError.message})`);
  }
  const config = value as Static<S>;
  const usesKey = options.usesKeyEncryptionKey ?? true;
  checkCommon(config as unknown as CommonConfig, usesKey);
  if (usesKey && (options.checkDevelopmentKey ?? true)) checkDevelopmentKey(config as unknown as CommonConfig);
  return config;
}

/**
 * The public development key (no OAUTH_KEY_ENCRYPTION_KEY) only where nothing leaves this machine:
 * anyone can seal codes and refresh tokens with it and decrypt signing keys made under it, so a
 * public issuer or edge URL (a reverse proxy in front of a loopback listener), a database or NATS
 * elsewhere (keys shared with other machines) all refuse it. Throws a one-line ConfigError.
 */
export function checkDevelopmentKey(config: CommonConfig): void {
  if (config.OAUTH_KEY_ENCRYPTION_KEY) return;
  const offLoopback = developmentKeyBlocker(config);
  if (offLoopback) {
    throw new ConfigError('configuration error: OAUTH_KEY_ENCRYPTION_KEY is missing; the development key is public, '
      + `so without it ${offLoopback} must name only loopback hosts (localhost, 127.0.0.0/8, ::1)`);
  }
}

/** The first setting that names a host other than loopback, if any. */
function developmentKeyBlocker(config: CommonConfig): string | undefined {
  // Every public URL the configuration has (a service's own schema may add some): names ending in _URL.
  const publicUrlSettings = Object.entries(config as Record<string, unknown>)
    .filter(([name, value]) => typeof value === 'string' && (name === 'OAUTH_ISSUER' || (name.endsWith('_URL') && name !== 'NATS_URL')));
  for (const [name, value] of publicUrlSettings) if (!isLoopbackUrl(value as string)) return name;
  if (!mongoUriIsLoopback(config.MONGODB_URI)) return 'MONGODB_URI';
  if (!natsUrlsAreLoopback(config.NATS_URL)) return 'NATS_URL';
  if (!isLoopbackHost(config.HTTP_HOST)) return 'HTTP_HOST';
  return undefined;
}

function checkCommon(config: CommonConfig, usesKeyEncryptionKey: boolean): void {
  const issuer = parseUrl('OAUTH_ISSUER', config.OAUTH_ISSUER);
  // RFC 8414 §2: the issuer is https (plain http tolerated only outside production) with no query or fragment.
  if (issuer.search || issuer.hash || issuer.username || issuer.password) {
    throw new ConfigError('configuration error: OAUTH_ISSUER must have no query, fragment or credentials');
  }
  if (issuer.pathname !== '/' || config.OAUTH_ISSUER.endsWith('/')) {
    throw new ConfigError('configuration error: OAUTH_ISSUER must be an origin without a path or trailing slash, e.g. https://id.example.com');
  }
  if (config.NODE_ENV === 'production' && issuer.protocol !== 'https:') {
    throw new ConfigError('configuration error: OAUTH_ISSUER must be https in production');
  }
  if (issuer.protocol !== 'https:' && issuer.protocol !== 'http:') {
    throw new ConfigError('configuration error: OAUTH_ISSUER must be an http(s) URL');
  }
  if (usesKeyEncryptionKey && config.NODE_ENV === 'production' && !config.OAUTH_KEY_ENCRYPTION_KEY) {
    throw new ConfigError('configuration error: OAUTH_KEY_ENCRYPTION_KEY is missing (required when NODE_ENV=production)');
  }
  for (const name of ['CONSENT_UI_URL', 'TOKEN_SERVICE_URL'] as const) {
    const value = config[name];
    if (value !== undefined) {
      const url = parseUrl(name, value);
      if (url.search || url.hash || value.endsWith('/')) throw new ConfigError(`configuration error: ${name} must be a base URL without query, fragment or trailing slash`);
    }
  }
  parseTrustProxy(config.TRUST_PROXY);
  if (!/^mongodb(\+srv)?:\/\//.test(config.MONGODB_URI)) {
    throw new ConfigError('configuration error: MONGODB_URI must start with mongodb:// or mongodb+srv://');
  }
  if (!/^(nats|tls|wss?):\/\//.test(config.NATS_URL.split(',')[0]!.trim())) {
    throw new ConfigError('configuration error: NATS_URL must start with nats://, tls:// or ws(s)://');
  }
}

/** What fastify's `trustProxy` takes from TRUST_PROXY: off, the number of proxy hops, or the proxies' addresses. */
export type TrustProxy = false | number | string[];

/** More proxies in front of one service than this is a mistake, not a deployment. */
const MAX_PROXY_HOPS = 10;

/**
 * TRUST_PROXY (CONTRACT "Running it"): off by default ("false", "0" or unset); a hop count ("1": the
 * one edge proxy's X-Forwarded-For entry is the client, whatever a client put before it); or a
 * comma-separated list of proxy addresses/CIDRs. Never "trust everything": with `true` a client
 * picks its own address (and so its sign-in throttle key) by sending X-Forwarded-For itself.
 */
export function parseTrustProxy(value: string): TrustProxy {
  const setting = value.trim();
  if (setting === '' || setting === 'false' || setting === '0') return false;
  if (/^true$/i.test(setting)) {
    throw new ConfigError('configuration error: TRUST_PROXY=true would trust every X-Forwarded-For hop; '
      + 'set the number of proxies in front (e.g. 1) or their addresses/CIDRs');
  }
  if (/^\d+$/.test(setting)) {
    const hops = Number(setting);
    if (hops > MAX_PROXY_HOPS) throw new ConfigError(`configuration error: TRUST_PROXY must be at most ${MAX_PROXY_HOPS} hops`);
    return hops;
  }
  const proxies = setting.split(',').map((item) => item.trim());
  if (!proxies.every(isAddressOrCidr)) {
    throw new ConfigError('configuration error: TRUST_PROXY must be false, a hop count, or a comma-separated list of proxy IP addresses or CIDRs');
  }
  return proxies;
}

function isAddressOrCidr(item: string): boolean {
  const [address = '', prefix, ...rest] = item.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function parseUrl(name: string, value: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new ConfigError(`configuration error: ${name} is not a valid URL`);
  }
}

export type PublicUrls = {
  issuer: string;
  authorizeService: string;
  consentUi: string;
  tokenService: string;
};

/**
 * Where each HTTP edge is reachable from outside. With a local http issuer (services on their
 * own ports of one machine) an edge defaults to the issuer's host on the edge's own port;
 * anywhere else the edges default to the issuer itself (one ingress host routing by path).
 */
export function publicUrls(config: CommonConfig): PublicUrls {
  const issuer = new URL(config.OAUTH_ISSUER);
  const local = issuer.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
  const edge = (explicit: string | undefined, port: number) =>
    explicit ?? (local ? `${issuer.protocol}//${issuer.hostname}:${port}` : config.OAUTH_ISSUER);
  return {
    issuer: config.OAUTH_ISSUER,
    authorizeService: config.OAUTH_ISSUER,
    consentUi: edge(config.CONSENT_UI_URL, config.CONSENT_UI_PORT),
    tokenService: edge(config.TOKEN_SERVICE_URL, config.TOKEN_SERVICE_PORT),
  };
}

/** Runs `fn`, and on a ConfigError prints its one line and exits 78 (EX_CONFIG). */
export function exitOnConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
}
