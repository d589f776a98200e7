// Docker does not run on the CI machine, so docker-compose.yml is checked by reading it: every
// service, file, port and environment variable it names must exist in the project, the NATS nodes
// must form one cluster with the users of deploy/nats.conf, and the MongoDB members one replica set.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, access } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { authorizationServerMetadata } from '../services/authorize-service/metadata.ts';
import { publicUrls, parseConfig, parseTrustProxy, CommonConfigSchema } from '#shared/config.ts';
import { parseNatsConf, natsUsers, isVariable, type NatsBlock } from './helpers/nats-conf.ts';
import { HTTP_SERVICES as httpServices, caddyRoutedPaths, isSetting, parseMongoUri, serviceConfig } from './helpers/deployment-settings.ts';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFile(new URL(path, root), 'utf8');
const exists = (path: string) => access(new URL(path, root)).then(() => true, () => false);

type ComposeService = {
  image?: string; build?: { context: string; dockerfile: string }; command?: string[]; entrypoint?: string[]; environment?: Record<string, string>;
  healthcheck?: { test: string[] }; volumes?: string[]; depends_on?: Record<string, { condition: string }>; ports?: string[]; profiles?: string[];
};
type ComposeFile = { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };

const compose = parse(await read('docker-compose.yml'), { merge: true }) as ComposeFile;
const caddyfile = await read('deploy/Caddyfile');
const natsConf = parseNatsConf(await read('deploy/nats.conf'));
const clusterConf = parseNatsConf(await read('deploy/nats-cluster.conf'));

const natsNodes = ['nats-1', 'nats-2', 'nats-3'];
const mongoMembers = ['mongo-1', 'mongo-2', 'mongo-3'];
/** validation-service's HTTP port serves only /healthz, /readyz and /metrics: the edge never routes to it. */
const notPublic: ReadonlySet<string> = new Set(['validation-service']);
const routedPaths = (service: string) => caddyRoutedPaths(caddyfile, service);

/** Where a file is mounted in a compose service: the container path of `./<path>`. */
const mountOf = (s: ComposeService, path: string) => s.volumes?.map((v) => v.split(':')).find(([from]) => from === `./${path}`)?.[1];

/**
 * docker compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?message}` (a missing
 * required one throws, as `docker compose up` stops), with the values an operator's .env would hold.
 */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
    if (env[name]) return env[name];
    if (kind === '-') return rest!;
    throw new Error(`${name} is required: ${rest ?? ''}`);
  });
}
const password = () => `p${randomBytes(24).toString('hex')}`;
const dotEnv: Record<string, string> = {
  OAUTH_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
  ...Object.fromEntries(['AUTHORIZE_SERVICE', 'CONSENT_UI', 'TOKEN_SERVICE', 'VALIDATION_SERVICE', 'ADMIN_CLI', 'RESOURCE_SERVER', 'AUDITOR']
    .map((v) => [`${v}_NATS_PASSWORD`, password()])),
  NATS_ROUTE_PASSWORD: password(), MONGO_ROOT_PASSWORD: password(), MONGO_APP_PASSWORD: password(), MONGO_REPLICA_SET_KEY: randomBytes(64).toString('hex'),
};
const environmentOf = (service: string) =>
  Object.fromEntries(Object.entries(compose.services[service]!.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), dotEnv)]));

describe('docker-compose.yml', () => {
  it('runs a NATS cluster with JetStream from deploy/, MongoDB 7 and an edge proxy', async () => {
    for (const node of natsNodes) {
      const s = compose.services[node]!;
      assert.match(s.image!, /^nats:2\.(1[0-9])/, node);
      assert.ok(s.volumes!.some((v) => v.startsWith('./deploy/nats.conf:')), `${node} mounts deploy/nats.conf`);
    }
    assert.ok(natsConf.entries.jetstream, 'deploy/nats.conf enables JetStream');
    for (const member of mongoMembers) assert.match(compose.services[member]!.image!, /^mongo:7/, member);
    assert.ok(compose.services.edge!.volumes!.some((v) => v.startsWith('./deploy/Caddyfile:')));
    for (const name of [...natsNodes, ...mongoMembers, ...Object.keys(httpServices)]) assert.ok(compose.services[name]!.healthcheck, `${name} has a health check`);
    assert.equal(compose.services.nats, undefined, 'no single NATS server beside the cluster');
    assert.equal(compose.services.mongo, undefined, 'no single MongoDB beside the replica set');
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
      const { schema, loadConfig } = await serviceConfig(service);
      for (const name of Object.keys(s.environment!)) assert.ok(isSetting(schema, name), `${service}: ${name} is a setting of the service`);
      const port = s.environment![portVariable]!;
      assert.ok(s.healthcheck!.test.join(' ').includes(`127.0.0.1:${port}/readyz`), 'health check probes the service port');
      if (notPublic.has(service)) assert.ok(!caddyfile.includes(`dynamic a ${service} `), 'the edge routes nothing to it');
      else assert.ok(caddyfile.includes(`dynamic a ${service} ${port}`), 'the edge routes to the service port');
      // The service starts on this environment (as an operator's .env fills it): its own schema and cross-checks accept it.
      const config = loadConfig(environmentOf(service));
      assert.equal(config[portVariable], Number(port));
      assert.equal(config.NODE_ENV, 'production');
    });
  }

  it('starts every service only after the whole NATS cluster is healthy and the replica set is initiated', () => {
    for (const service of [...Object.keys(httpServices), 'admin-cli']) {
      const dependsOn = compose.services[service]!.depends_on ?? {};
      for (const node of natsNodes) assert.equal(dependsOn[node]?.condition, 'service_healthy', `${service} waits for ${node}`);
      assert.equal(dependsOn['mongo-init']?.condition, 'service_completed_successfully', `${service} waits for mongo-init`);
    }
  });

  it('connects every service to NATS as its own user, with a password that must be set, as deploy/nats.conf defines them', () => {
    const users = natsUsers(natsConf.entries);
    assert.deepEqual(users.map((u) => u.user).sort(), [...Object.keys(httpServices), 'admin-cli', 'resource-server', 'auditor'].sort(), 'one user per service and per outside role');
    for (const node of natsNodes) {
      const natsEnv = compose.services[node]!.environment ?? {};
      for (const { user, password: pw } of users) {
        assert.ok(isVariable(pw), `${user}'s password comes from the environment`);
        const variable = pw.variable;
        assert.equal(variable, `${user.toUpperCase().replaceAll('-', '_')}_NATS_PASSWORD`);
        assert.match(natsEnv[variable] ?? '', new RegExp(`^\\$\\{${variable}:\\?.+\\}$`), `${node} gets ${variable}, and a missing one fails loudly`);
      }
    }
    for (const service of [...Object.keys(httpServices), 'admin-cli']) {
      const env = compose.services[service]!.environment!;
      const user = users.find((u) => u.user === env.NATS_USER);
      assert.equal(env.NATS_USER, service, `${service} connects as ${service}`);
      assert.ok(user && user.subscribe.includes(`_INBOX.${service}.>`), `${service} has a user with permissions in deploy/nats.conf, and an inbox of its own`);
      assert.equal(env.NATS_PASSWORD, compose.services['nats-1']!.environment![(user.password as { variable: string }).variable], `${service} gets the password NATS checks`);
    }
  });

  it('forms one three-node cluster: every node runs nats-cluster.conf (nats.conf and routes to all three), with a name and a store of its own', () => {
    assert.deepEqual(clusterConf.includes, ['nats.conf'], 'the cluster config includes nats.conf: same users, same permissions, same JetStream');
    const cluster = clusterConf.entries.cluster as NatsBlock;
    assert.ok(cluster, 'a cluster block');
    const routeVariables = (cluster.routes as unknown[]).map((r) => (isVariable(r) ? r.variable : assert.fail(`route ${JSON.stringify(r)} is not from the environment`)));
    const authorization = cluster.authorization as NatsBlock;
    assert.ok(isVariable(authorization.password), 'routes need a password');
    const names = new Set<string>();
    const dataVolumes = new Set<string>();
    const storeDir = String((natsConf.entries.jetstream as NatsBlock).store_dir);
    for (const node of natsNodes) {
      const s = compose.services[node]!;
      const configPath = s.command![s.command!.indexOf('-c') + 1]!;
      assert.equal(mountOf(s, 'deploy/nats-cluster.conf'), configPath, `${node} runs deploy/nats-cluster.conf`);
      assert.equal(mountOf(s, 'deploy/nats.conf'), configPath.replace(/[^/]+$/, 'nats.conf'), `${node} has nats.conf beside it, where the include finds it`);
      const env = environmentOf(node);
      // Every variable the two files name is set on every node.
      const variables = JSON.stringify([natsConf.entries, clusterConf.entries]).match(/"variable":"([A-Z0-9_]+)"/g)!.map((m) => m.slice(12, -1));
      for (const variable of variables) assert.ok(env[variable], `${node} sets ${variable}`);
      const routes = routeVariables.map((v) => new URL(env[v]!));
      assert.deepEqual(routes.map((u) => u.hostname).sort(), natsNodes, `${node} routes to all three nodes`);
      for (const url of routes) {
        assert.equal(url.port, String(cluster.port), 'on the cluster port');
        assert.equal(url.username, authorization.user);
        assert.equal(url.password, env[(authorization.password as { variable: string }).variable], 'with the route password the others check');
      }
      names.add(env[(clusterConf.entries.server_name as { variable: string }).variable]!);
      const data = s.volumes!.find((v) => storeDir.startsWith(v.split(':')[1]!) && !v.startsWith('./'));
      assert.ok(data, `${node} keeps its JetStream store (${storeDir}) on a volume`);
      dataVolumes.add(data.split(':')[0]!);
      assert.ok(compose.volumes && data.split(':')[0]! in compose.volumes, 'a named volume');
    }
    assert.equal(names.size, 3, 'each node has a name of its own');
    assert.equal(dataVolumes.size, 3, 'each node has a store of its own');
  });

  it('points every service at all three NATS nodes, with OAUTH_AUDIT at 3 replicas', () => {
    for (const service of [...Object.keys(httpServices), 'admin-cli']) {
      const env = environmentOf(service);
      const servers = env.NATS_URL!.split(',').map((u) => new URL(u.trim()));
      assert.deepEqual(servers.map((u) => u.hostname).sort(), natsNodes, `${service}: NATS_URL lists every node`);
      for (const url of servers) assert.equal(url.port, String(natsConf.entries.port), 'on the client port');
      assert.equal(env.AUDIT_STREAM_REPLICAS, '3', `${service}: AUDIT_STREAM_REPLICAS=3`);
    }
  });

  it('runs MongoDB as replica set rs0 with authentication: keyFile between members, a root user, an idempotent init job that creates the services\' user', async () => {
    const memberScript = await read('deploy/mongo/member.sh');
    assert.match(memberScript, /--replSet rs0\b/);
    assert.match(memberScript, /--keyFile "\$keyfile"/);
    assert.match(memberScript, /chmod 0400 "\$keyfile"/);
    for (const member of mongoMembers) {
      const s = compose.services[member]!;
      assert.deepEqual(s.entrypoint, ['bash', mountOf(s, 'deploy/mongo/member.sh')], `${member} starts through member.sh`);
      assert.match(s.environment!.MONGO_REPLICA_SET_KEY!, /^\$\{MONGO_REPLICA_SET_KEY:\?.+\}$/, `${member}: the keyFile is required`);
      assert.ok(s.volumes!.some((v) => v.endsWith(':/data/db') && !v.startsWith('./')), `${member} keeps its data on a volume`);
      assert.equal(s.ports, undefined, `${member} publishes no port`);
    }
    assert.match(compose.services['mongo-1']!.environment!.MONGO_INITDB_ROOT_PASSWORD!, /^\$\{MONGO_ROOT_PASSWORD:\?.+\}$/, 'the root user from the environment');

    const init = compose.services['mongo-init']!;
    const script = init.command!.at(-1)!;
    const mounted = init.volumes!.map((v) => v.split(':')).find(([, to]) => to === script);
    assert.ok(mounted && await exists(mounted[0]!), 'the init script is a file of the project');
    const initScript = await read(mounted[0]!);
    assert.match(initScript, /replSetInitiate/);
    assert.match(initScript, /NotYetInitialized/, 'initiates only a set that is not initiated yet');
    assert.match(initScript, /getUser\(appUser\)/, 'creates the user once, updates it after');
    for (const member of mongoMembers) assert.equal(init.depends_on?.[member]?.condition, 'service_healthy');
    const initEnv = environmentOf('mongo-init');
    assert.equal(initEnv.MONGO_ROOT_PASSWORD, environmentOf('mongo-1').MONGO_INITDB_ROOT_PASSWORD);
    assert.equal(initEnv.MONGO_ROOT_USERNAME, environmentOf('mongo-1').MONGO_INITDB_ROOT_USERNAME);

    for (const service of [...Object.keys(httpServices), 'admin-cli']) {
      const uri = parseMongoUri(environmentOf(service).MONGODB_URI!);
      assert.equal(uri.options.get('replicaSet'), initEnv.MONGO_REPLICA_SET, `${service}: the replica set the init job initiates`);
      assert.equal(initEnv.MONGO_REPLICA_SET, 'rs0');
      assert.deepEqual(uri.hosts, initEnv.MONGO_MEMBERS!.split(','), `${service}: every member`);
      assert.deepEqual(uri.hosts.map((h) => h.split(':')[0]).sort(), mongoMembers);
      assert.equal(uri.user, initEnv.MONGO_APP_USERNAME, `${service}: the user the init job creates`);
      assert.equal(uri.password, initEnv.MONGO_APP_PASSWORD, `${service}: with its password`);
      assert.equal(uri.database, initEnv.MONGO_APP_DATABASE, `${service}: the database the user may write`);
      assert.equal(uri.options.get('authSource'), 'admin', 'the user lives in admin');
    }
  });

  it('runs the admin CLI on demand (profile tools) as the admin-cli NATS user, with settings the CLI knows', () => {
    const cli = compose.services['admin-cli']!;
    assert.deepEqual(cli.profiles, ['tools'], 'not started by docker compose up');
    assert.deepEqual(cli.entrypoint, ['node', 'bin/oauth-admin.js']);
    assert.equal(cli.image, compose.services['authorize-service']!.image);
    for (const name of Object.keys(cli.environment!)) assert.ok(isSetting(CommonConfigSchema, name), `admin-cli: ${name} is a setting of the CLI`);
    parseConfig(CommonConfigSchema, environmentOf('admin-cli'));
  });

  it('publishes no port but the edge\'s', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (name === 'edge') assert.deepEqual(s.ports?.map((p) => p.split(':').at(-1)).sort(), ['443', '80']);
      else assert.equal(s.ports, undefined, `${name} publishes nothing`);
    }
  });

  it('routes every public endpoint path of the metadata to a service at the edge', () => {
    const env = { OAUTH_ISSUER: 'https://id.example.com', NODE_ENV: 'test' };
    const meta = authorizationServerMetadata(publicUrls(parseConfig(CommonConfigSchema, env, { checkDevelopmentKey: false })), []);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint', 'pushed_authorization_request_endpoint'] as const) {
      const url = new URL(meta[key]);
      assert.equal(url.origin, 'https://id.example.com', `${key} sits on the one host`);
      assert.ok(caddyfile.includes(url.pathname), `${key} path ${url.pathname} is routed`);
    }
    assert.ok(caddyfile.includes('/.well-known/oauth-authorization-server'));
    assert.ok(caddyfile.includes('/ui/*'));
  });

  it('keeps /metrics, /healthz and /readyz of every service off the edge: no route matches them, the rest is 404', () => {
    const patterns = [...caddyfile.matchAll(/^\s*@\w+ path ([^\n]+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/));
    assert.ok(patterns.length > 0);
    // Caddy's path matcher: exact, or a prefix where the pattern ends in `*`.
    const matches = (pattern: string, path: string) => (pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern);
    for (const internal of ['/metrics', '/healthz', '/readyz']) {
      assert.ok(!patterns.some((p) => matches(p, internal)), `${internal} is not routed`);
    }
    assert.match(caddyfile, /\n\trespond 404\n\}\s*$/, 'anything not routed is answered 404 by the edge itself');
    // Caddy's default order runs `respond` before `reverse_proxy`: without this the 404 answered every request.
    assert.match(caddyfile, /^\{\n(?:\s*#[^\n]*\n)*\s*order respond after reverse_proxy\n\}/m, 'the global options put the 404 after the proxies');
  });

  it('runs the proxies before the 404 in the configuration Caddy itself makes of the Caddyfile (where a caddy binary is installed)', (t) => {
    const caddy = process.env.CADDY_BIN ?? 'caddy';
    const adapted = spawnSync(caddy, ['adapt', '--config', fileURLToPath(new URL('deploy/Caddyfile', root)), '--adapter', 'caddyfile'], { encoding: 'utf8' });
    if (adapted.error) return t.skip(`no caddy binary (${caddy}); set CADDY_BIN to check`);
    assert.equal(adapted.status, 0, adapted.stderr);
    type Route = { handle: { handler: string; routes?: Route[] }[]; match?: { path?: string[] }[] };
    const server = Object.values((JSON.parse(adapted.stdout) as { apps: { http: { servers: Record<string, { routes: Route[] }> } } }).apps.http.servers)[0]!;
    const routes = server.routes[0]!.handle[0]!.routes!;
    const handlers = routes.map((r) => r.handle.map((h) => h.handler).join('+'));
    assert.ok(handlers.includes('log_append+encode') || handlers[0]!.includes('encode'), handlers.join(', '));
    assert.deepEqual(handlers.slice(1), ['reverse_proxy', 'reverse_proxy', 'reverse_proxy', 'static_response'], 'the proxies, then the 404');
    assert.equal(routes.at(-1)!.match, undefined, 'the 404 catches what no proxy took');
  });

  it('logs each request as JSON without query strings, redirect Locations, Referer, Authorization or cookies', () => {
    const log = /\n\tlog \{\n([\s\S]*?)\n\t\}\n/.exec(caddyfile)?.[1];
    assert.ok(log, 'the site has a log directive');
    assert.match(log, /output stdout/);
    assert.match(log, /format filter \{[\s\S]*wrap json/);
    assert.match(log, /request>uri regexp `\[\?\]\.\*\$` ""/, 'the query string is cut from the URI');
    for (const field of ['request>headers>Referer', 'request>headers>Authorization', 'request>headers>Cookie', 'resp_headers>Location', 'resp_headers>Set-Cookie']) {
      assert.match(log, new RegExp(`${field} delete`), `${field} is not logged`);
    }
    assert.match(caddyfile, /log_append request_id \{http\.request\.uuid\}/, 'the edge line carries the Request-Id the services log');
  });

  it('routes the authorization endpoint and the metadata to authorize-service', () => {
    assert.deepEqual(routedPaths('authorize-service').sort(), ['/.well-known/oauth-authorization-server', '/authorize']);
  });

  it('routes the back-channel endpoints, introspection and PAR included, to token-service', () => {
    assert.deepEqual(routedPaths('token-service').sort(), ['/introspect', '/jwks.json', '/par', '/revoke', '/token']);
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

  it('builds from the sources alone: .dockerignore leaves out local data, dependencies and tests, and nothing the image copies', async () => {
    const ignored = (await read('.dockerignore')).split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
    for (const entry of ['.data', 'node_modules', '.git', 'test', '**/*.test.ts', 'shared/testing']) assert.ok(ignored.includes(entry), entry);
    const copied = [...(await read('deploy/Dockerfile')).matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    assert.deepEqual(copied.sort(), ['bin', 'package-lock.json', 'package.json', 'package.json', 'services', 'shared'].sort());
    for (const source of copied) {
      assert.ok(!ignored.some((entry) => entry === source || source.startsWith(`${entry}/`)), `${source} is copied, so not ignored`);
    }
  });
});

describe('deploy/docker-compose.dev.yml: what npm start\'s hint runs', () => {
  it('the hint names a command that exists: this file, with services nats and mongo on loopback at the default URLs', async () => {
    const hint = /const DOCKER_HINT = '[^`]*`([^`]+)`'/.exec(await read('scripts/local-infra.ts'))?.[1];
    assert.ok(hint, 'scripts/local-infra.ts has the hint');
    const words = hint.split(/\s+/);
    assert.deepEqual(words.slice(0, 2), ['docker', 'compose']);
    const file = words[words.indexOf('-f') + 1]!;
    assert.ok(await exists(file), `${file} exists`);
    assert.deepEqual(words.slice(words.indexOf('up')), ['up', '-d', 'nats', 'mongo']);
    const dev = parse(await read(file)) as ComposeFile;
    const defaults = parseConfig(CommonConfigSchema, { NODE_ENV: 'development' });
    const nats = new URL(defaults.NATS_URL);
    const mongo = parseMongoUri(defaults.MONGODB_URI).hosts[0]!.split(':');
    assert.deepEqual(dev.services.nats!.ports, [`${nats.hostname}:${nats.port}:4222`], 'NATS on the default NATS_URL, loopback only');
    assert.deepEqual(dev.services.mongo!.ports, [`${mongo[0]}:${mongo[1]}:27017`], 'MongoDB on the default MONGODB_URI, loopback only');
    assert.ok(dev.services.nats!.command!.includes('--jetstream'), 'with JetStream');
    assert.match(dev.services.mongo!.image!, /^mongo:7/);
    assert.equal(dev.services.nats!.environment, undefined, 'no users: the services connect without credentials');
    assert.ok((await read('README.md')).includes(`\`${hint}\``), 'README states the same command');
    assert.ok((await read('docs/operations.md')).includes(hint), 'docs/operations.md states the same command');
  });
});
