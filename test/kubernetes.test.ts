// deploy/kubernetes is checked by rendering it: `kubectl kustomize` of the production overlay (no
// cluster needed), parsed, and every name, port, environment variable and secret reference checked
// against the rendered objects, the services' configuration schemas, deploy/Caddyfile, and
// deploy/nats.conf (whose users the NATS Helm values must repeat exactly).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, access } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { authorizationServerMetadata } from '../services/authorize-service/metadata.ts';
import { CommonConfigSchema, ConfigError, parseConfig, publicUrls } from '#shared/config.ts';
import { parseNatsConf, natsUsers, isVariable } from './helpers/nats-conf.ts';
import { HTTP_SERVICES, caddyRoutedPaths, isSetting, parseMongoUri, serviceConfig, type ServiceName } from './helpers/deployment-settings.ts';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFile(new URL(path, root), 'utf8');
const exists = (path: string) => access(new URL(path, root)).then(() => true, () => false);
const OVERLAY = 'deploy/kubernetes/overlays/production';

// ---- The Kubernetes objects, as far as these checks read them. ----
type Labels = Record<string, string>;
type Selector = { matchLabels?: Labels; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } };
type Probe = { httpGet?: { path: string; port: number | string }; tcpSocket?: { port: number | string }; exec?: unknown };
type Container = {
  name: string; image: string; command?: string[]; args?: string[]; ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[]; envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  livenessProbe?: Probe; readinessProbe?: Probe; startupProbe?: Probe; lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] }; runAsNonRoot?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
};
type PodSpec = {
  containers: Container[]; initContainers?: Container[]; terminationGracePeriodSeconds?: number; automountServiceAccountToken?: boolean;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string }[] }; configMap?: { name: string } }[];
};
type PodTemplate = { metadata: { labels: Labels }; spec: PodSpec };
type K8sObject = {
  apiVersion: string; kind: string; metadata: { name?: string; generateName?: string; namespace?: string; labels?: Labels };
  // Whatever each kind has; read through the narrower types above.
  spec?: Record<string, unknown> & { template?: PodTemplate; selector?: Selector | Labels };
  data?: Record<string, string>;
};
type Peer = { podSelector?: Selector; namespaceSelector?: Selector };
type PolicyRule = { from?: Peer[]; to?: Peer[]; ports?: { protocol?: string; port: number }[] };
type NetworkPolicySpec = { podSelector: Selector; policyTypes: string[]; ingress?: PolicyRule[]; egress?: PolicyRule[] };

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const skip = kubectl.error ? `kubectl is not installed (${kubectl.error.message}): deploy/kubernetes is not rendered or checked` : false;

function render(): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', fileURLToPath(new URL(OVERLAY, root))], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${OVERLAY} failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((d) => d.toJSON() as K8sObject).filter(Boolean);
}

const objects = skip ? [] : render();
const all = (kind: string) => objects.filter((o) => o.kind === kind);
function get(kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind} ${name} is rendered`);
  return found;
}
const podTemplate = (o: K8sObject): PodTemplate => o.spec!.template!;
const decoded = (secret: K8sObject): Record<string, string> =>
  Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

/** The NATS Helm values, and deploy/nats.conf's users they must repeat. */
type NatsValues = {
  fullnameOverride: string;
  config: {
    cluster: { enabled: boolean; replicas: number; port: number; merge: { authorization: { user: string; password: string }; routes: string[] } };
    jetstream: { enabled: boolean; fileStore: { enabled: boolean; dir: string; pvc: { enabled: boolean; size: string } }; memoryStore: { enabled: boolean } };
    monitor: { enabled: boolean; port: number };
    merge: { authorization: { users: { user: string; password: string; permissions: { publish: { allow: string[] }; subscribe: { allow: string[] } } }[] } };
  };
  container: { env: Record<string, string | { valueFrom: { secretKeyRef: { name: string; key: string } } }> };
  natsBox: { enabled: boolean };
};
const natsValues = parse(await read('deploy/kubernetes/nats-values.yaml')) as NatsValues;
const natsConf = parseNatsConf(await read('deploy/nats.conf'));
const caddyfile = await read('deploy/Caddyfile');
const adminJob = parse(await read('deploy/kubernetes/admin-cli-job.yaml')) as K8sObject;

/**
 * The pods that will run in namespace oauth: the rendered workloads', the admin CLI Job's, and the
 * NATS Helm release's (the chart's selector labels: app.kubernetes.io/name = the chart name "nats",
 * app.kubernetes.io/instance = the release, app.kubernetes.io/component = "nats").
 */
type Pod = { owner: string; labels: Labels; ports: number[] };
function pods(): Pod[] {
  const workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)).concat(adminJob);
  const ours = workloads.map((o) => ({
    owner: `${o.kind} ${o.metadata.name ?? o.metadata.generateName}`,
    labels: podTemplate(o).metadata.labels,
    ports: podTemplate(o).spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)),
  }));
  const nats = { owner: 'NATS Helm release', labels: { 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/instance': 'nats', 'app.kubernetes.io/component': 'nats' },
    ports: [4222, natsValues.config.cluster.port, natsValues.config.monitor.port] };
  return [...ours, ...Array.from({ length: natsValues.config.cluster.replicas }, () => nats)];
}

function selects(selector: Selector | undefined, labels: Labels): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    if (e.operator === 'In' && !(has && e.values!.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && e.values!.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}
const selected = (selector: Selector | undefined) => pods().filter((p) => selects(selector, p.labels));
const deploymentOf = (service: ServiceName) => get('Deployment', service);
const containerOf = (o: K8sObject) => podTemplate(o).spec.containers[0]!;

/** Every environment variable a container gets, as the kubelet would set it (ConfigMaps and Secrets resolved). */
function resolvedEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, get('ConfigMap', from.configMapRef.name).data);
    if (from.secretRef) Object.assign(env, decoded(get('Secret', from.secretRef.name)));
  }
  for (const v of container.env ?? []) {
    const secret = v.valueFrom?.secretKeyRef;
    const configMap = v.valueFrom?.configMapKeyRef;
    if (secret) env[v.name] = decoded(get('Secret', secret.name))[secret.key]!;
    else if (configMap) env[v.name] = get('ConfigMap', configMap.name).data![configMap.key]!;
    else env[v.name] = v.value!;
  }
  return env;
}
/** The names a container's environment has: envFrom keys and env names. */
const envNames = (container: Container): string[] => Object.keys(resolvedEnv(container));

/** Every secretKeyRef/configMapKeyRef, envFrom and volume of a pod points at an object (and key) that is rendered. */
function assertReferencesExist(what: string, spec: PodSpec, claimTemplates: string[] = []): void {
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef) get('ConfigMap', from.configMapRef.name);
      if (from.secretRef) get('Secret', from.secretRef.name);
    }
    for (const v of c.env ?? []) {
      const secret = v.valueFrom?.secretKeyRef;
      const configMap = v.valueFrom?.configMapKeyRef;
      if (secret) assert.ok(secret.key in (get('Secret', secret.name).data ?? {}), `${what}: ${v.name} → Secret ${secret.name} has key ${secret.key}`);
      if (configMap) assert.ok(configMap.key in (get('ConfigMap', configMap.name).data ?? {}), `${what}: ${v.name} → ConfigMap ${configMap.name} has key ${configMap.key}`);
    }
    for (const m of c.volumeMounts ?? []) assert.ok(spec.volumes?.some((v) => v.name === m.name) || claimTemplates.includes(m.name), `${what}: volume ${m.name} is declared`);
  }
  for (const v of spec.volumes ?? []) {
    if (v.secret) get('Secret', v.secret.secretName);
    if (v.configMap) get('ConfigMap', v.configMap.name);
  }
}

/** An Ingress path matches a request path as Kubernetes defines Exact and Prefix (element-wise). */
function ingressMatches(rule: { path: string; pathType: string }, requestPath: string): boolean {
  if (rule.pathType === 'Exact') return rule.path === requestPath;
  const prefix = rule.path.replace(/\/$/, '');
  return requestPath === prefix || requestPath.startsWith(`${prefix}/`) || prefix === '';
}
type IngressPath = { path: string; pathType: string; backend: { service: { name: string; port: { number: number } } } };
const ingressPaths = (): IngressPath[] => all('Ingress').flatMap((i) => (i.spec!.rules as { http: { paths: IngressPath[] } }[]).flatMap((r) => r.http.paths));

/** A valid key-encryption key in place of the overlay's placeholder (what an operator puts there). */
const testKey = randomBytes(32).toString('base64url');

describe(`deploy/kubernetes: ${OVERLAY} rendered with kubectl kustomize`, { skip }, () => {
  it('renders the four services, the Ingress, NetworkPolicies, MongoDB and the Secrets, in namespace oauth', () => {
    for (const service of Object.keys(HTTP_SERVICES)) {
      for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) get(kind, service);
    }
    for (const name of ['oauth-key-encryption', 'oauth-mongodb', 'mongodb-credentials', 'mongodb-keyfile', 'nats-users']) get('Secret', name);
    get('StatefulSet', 'mongodb');
    get('Job', 'mongodb-init');
    assert.ok(all('Ingress').length === 1 && all('NetworkPolicy').length > 0);
    for (const o of objects) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'oauth', `${o.kind} ${o.metadata.name} is in namespace oauth`);
  });

  for (const [service, portVariable] of Object.entries(HTTP_SERVICES) as [ServiceName, string][]) {
    describe(service, () => {
      it('runs its own main.ts from the one image, with only settings its config schema knows', async () => {
        const c = containerOf(deploymentOf(service));
        assert.deepEqual(c.command, ['node', `services/${service}/main.ts`]);
        assert.ok(await exists(`services/${service}/main.ts`));
        assert.equal(c.image, containerOf(deploymentOf('authorize-service')).image, 'one image for every service');
        assert.match(c.image, /:[\w.-]+$/, 'a tagged image');
        const { schema } = await serviceConfig(service);
        const names = envNames(c);
        for (const name of names) assert.ok(isSetting(schema, name), `${service}: ${name} is a setting of the service`);
        for (const name of ['NATS_URL', 'MONGODB_URI', 'OAUTH_ISSUER', 'NATS_USER', 'NATS_PASSWORD', portVariable]) {
          assert.ok(names.includes(name), `${service} gets ${name}`);
        }
        // validation-service holds no secret: it is not given the key-encryption key.
        assert.equal(names.includes('OAUTH_KEY_ENCRYPTION_KEY'), service !== 'validation-service', `${service} and the key-encryption key`);
      });

      it('points every secret and config reference at a key that is rendered', () => {
        assertReferencesExist(service, podTemplate(deploymentOf(service)).spec);
      });

      it('starts on the rendered configuration: its own schema and cross-checks accept it, in production', async () => {
        const { loadConfig } = await serviceConfig(service);
        const env = resolvedEnv(containerOf(deploymentOf(service)));
        // The overlay's placeholder is not a key: a service refuses to start on it (exit 78), never runs on it.
        if (service !== 'validation-service') assert.throws(() => loadConfig(env), ConfigError, 'the placeholder key-encryption key is refused');
        const config = loadConfig({ ...env, OAUTH_KEY_ENCRYPTION_KEY: testKey });
        assert.equal(config.NODE_ENV, 'production');
        assert.match(String(config.OAUTH_ISSUER), /^https:\/\//);
        assert.equal(config.TRUST_PROXY, '1', 'one proxy hop: the ingress controller');
        if ('AUDIT_STREAM_REPLICAS' in config) assert.equal(config.AUDIT_STREAM_REPLICAS, 3);
        assert.equal(env.AUDIT_STREAM_REPLICAS, '3', 'OAUTH_AUDIT at 3 replicas');
      });

      it('listens, is probed and is served on one port: its port setting, the container port, the probes and the Service', async () => {
        const { loadConfig } = await serviceConfig(service);
        const c = containerOf(deploymentOf(service));
        const port = Number(loadConfig({ ...resolvedEnv(c), OAUTH_KEY_ENCRYPTION_KEY: testKey })[portVariable]);
        assert.deepEqual(c.ports?.map((p) => p.containerPort), [port], 'the container port is the port setting');
        assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port }, 'liveness: /healthz on the service port');
        assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port }, 'readiness: /readyz on the service port');
        if (c.startupProbe) assert.equal(c.startupProbe.httpGet?.port, port);
        const svc = get('Service', service);
        const servicePorts = svc.spec!.ports as { port: number; targetPort: number }[];
        assert.deepEqual(servicePorts.map((p) => p.targetPort), [port], 'the Service sends to that port');
      });

      it('connects to NATS as its own user, with that user\'s password from the Secret, and to the NATS Service', () => {
        const c = containerOf(deploymentOf(service));
        const env = c.env!;
        assert.equal(env.find((v) => v.name === 'NATS_USER')?.value, service);
        const ref = env.find((v) => v.name === 'NATS_PASSWORD')?.valueFrom?.secretKeyRef;
        assert.deepEqual(ref, { name: 'nats-users', key: service }, 'its own key of nats-users');
        const user = natsValues.config.merge.authorization.users.find((u) => u.user === service);
        assert.ok(user, `the NATS values have user ${service}`);
        const variable = /^<< \$([A-Z0-9_]+) >>$/.exec(user.password)?.[1];
        assert.deepEqual(natsValues.container.env[variable!], { valueFrom: { secretKeyRef: ref } }, 'NATS checks the password the service sends');
        const servers = resolvedEnv(c).NATS_URL!.split(',').map((u) => new URL(u.trim()));
        for (const url of servers) {
          assert.equal(url.hostname, natsValues.fullnameOverride, 'NATS_URL names the NATS Service of the Helm release');
          assert.equal(url.port, '4222');
        }
      });

      it('is scaled by an autoscaler and protected by a disruption budget that both target it', () => {
        const hpa = get('HorizontalPodAutoscaler', service).spec as { scaleTargetRef: { kind: string; name: string }; minReplicas: number; maxReplicas: number };
        assert.deepEqual([hpa.scaleTargetRef.kind, hpa.scaleTargetRef.name], ['Deployment', service]);
        assert.ok(hpa.minReplicas >= 2 && hpa.maxReplicas > hpa.minReplicas, 'at least two pods, room to grow');
        const pdb = get('PodDisruptionBudget', service);
        assert.ok(selects(pdb.spec!.selector as Selector, podTemplate(deploymentOf(service)).metadata.labels), 'the budget selects its pods');
        assert.ok(selected(pdb.spec!.selector as Selector).every((p) => p.owner === `Deployment ${service}`), 'and no one else\'s');
        const deploymentSelector = deploymentOf(service).spec!.selector as Selector;
        assert.ok(selects(deploymentSelector, podTemplate(deploymentOf(service)).metadata.labels));
      });

      it('runs as non-root on a read-only root filesystem, with requests and limits, and stops within its grace period', async () => {
        const { loadConfig } = await serviceConfig(service);
        const pod = podTemplate(deploymentOf(service)).spec;
        const c = pod.containers[0]!;
        assert.equal(pod.securityContext?.runAsNonRoot, true);
        assert.ok((pod.securityContext?.runAsUser ?? 0) > 0);
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
        assert.equal(pod.automountServiceAccountToken, false);
        for (const r of ['cpu', 'memory']) {
          assert.ok(c.resources?.requests?.[r], `${r} request`);
          assert.ok(c.resources?.limits?.[r], `${r} limit`);
        }
        const shutdownMs = Number(loadConfig({ ...resolvedEnv(c), OAUTH_KEY_ENCRYPTION_KEY: testKey }).SHUTDOWN_TIMEOUT_MS);
        const preStop = c.lifecycle?.preStop?.exec?.command;
        const preStopMs = preStop?.[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
        assert.ok(pod.terminationGracePeriodSeconds! * 1000 > preStopMs + shutdownMs,
          `terminationGracePeriodSeconds (${pod.terminationGracePeriodSeconds} s) is above preStop + SHUTDOWN_TIMEOUT_MS (${(preStopMs + shutdownMs) / 1000} s)`);
      });
    });
  }

  it('every Service selects the pods of one rendered workload, on a port they listen on', () => {
    for (const svc of all('Service')) {
      // A Service's selector is a plain label map.
      const matching = selected({ matchLabels: svc.spec!.selector as Labels });
      const owners = new Set(matching.map((p) => p.owner));
      assert.equal(owners.size, 1, `Service ${svc.metadata.name} selects the pods of exactly one workload (${[...owners].join(', ')})`);
      for (const p of svc.spec!.ports as { targetPort: number }[]) assert.ok(matching[0]!.ports.includes(p.targetPort), `Service ${svc.metadata.name}: port ${p.targetPort} is a container port`);
    }
  });

  it('every autoscaler and disruption budget targets a rendered workload', () => {
    for (const hpa of all('HorizontalPodAutoscaler')) {
      const target = (hpa.spec as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef;
      get(target.kind, target.name);
    }
    for (const pdb of all('PodDisruptionBudget')) assert.ok(selected(pdb.spec!.selector as Selector).length > 0, `PodDisruptionBudget ${pdb.metadata.name} selects pods`);
    assert.deepEqual(all('HorizontalPodAutoscaler').map((h) => h.metadata.name).sort(), Object.keys(HTTP_SERVICES).sort(), 'one autoscaler per service');
  });

  it('routes by path as deploy/Caddyfile does, to each Service\'s port, and nothing to validation-service', () => {
    const paths = ingressPaths();
    for (const service of Object.keys(HTTP_SERVICES)) {
      const caddy = caddyRoutedPaths(caddyfile, service);
      const ingress = paths.filter((p) => p.backend.service.name === service);
      // Caddy's `/ui /ui/*` is Kubernetes' Prefix /ui; every other Caddy path is one Exact path.
      const asCaddy = ingress.flatMap((p) => (p.pathType === 'Prefix' ? [p.path, `${p.path}/*`] : [p.path])).sort();
      assert.deepEqual(asCaddy, [...caddy].sort(), `${service}: the Ingress paths are the Caddyfile's`);
      for (const p of ingress) {
        const port = (get('Service', service).spec!.ports as { port: number }[])[0]!.port;
        assert.equal(p.backend.service.port.number, port, `${service}: the Service port`);
      }
    }
    assert.equal(paths.filter((p) => p.backend.service.name === 'validation-service').length, 0);
    for (const p of paths) get('Service', p.backend.service.name);
  });

  it('serves every endpoint of the metadata through the Ingress, and no /metrics, /healthz or /readyz', () => {
    const host = (all('Ingress')[0]!.spec!.rules as { host: string }[])[0]!.host;
    const issuer = get('ConfigMap', 'oauth-config').data!.OAUTH_ISSUER!;
    assert.equal(new URL(issuer).host, host, 'the Ingress host is the issuer\'s');
    const tls = all('Ingress')[0]!.spec!.tls as { hosts: string[] }[];
    assert.ok(tls.some((t) => t.hosts.includes(host)), 'with TLS for it');
    const meta = authorizationServerMetadata(publicUrls(parseConfig(CommonConfigSchema, { OAUTH_ISSUER: issuer, NODE_ENV: 'test' }, { checkDevelopmentKey: false })), []);
    const paths = ingressPaths();
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint', 'pushed_authorization_request_endpoint'] as const) {
      const url = new URL(meta[key]);
      assert.equal(url.host, host, `${key} is on the Ingress host`);
      assert.ok(paths.some((p) => ingressMatches(p, url.pathname)), `${key} ${url.pathname} is routed`);
    }
    assert.ok(paths.some((p) => ingressMatches(p, '/.well-known/oauth-authorization-server')));
    for (const internal of ['/metrics', '/healthz', '/readyz']) {
      assert.ok(!paths.some((p) => ingressMatches(p, internal)), `${internal} is not reachable through the Ingress`);
    }
  });

  describe('NetworkPolicies', () => {
    const policies = () => all('NetworkPolicy').map((p) => ({ name: p.metadata.name!, spec: p.spec as unknown as NetworkPolicySpec }));
    /** The rules of every policy that selects `labels`, for one direction. */
    const rulesFor = (labels: Labels, direction: 'ingress' | 'egress') =>
      policies().filter((p) => selects(p.spec.podSelector, labels) || Object.keys(p.spec.podSelector).length === 0)
        .filter((p) => p.spec.policyTypes.includes(direction === 'ingress' ? 'Ingress' : 'Egress'))
        .flatMap((p) => (p.spec[direction] ?? []).map((rule) => ({ policy: p.name, rule })));
    const peers = (rule: PolicyRule) => rule.from ?? rule.to ?? [];
    const isDns = (rule: PolicyRule) => rule.ports?.every((p) => p.port === 53) && peers(rule).every((peer) => peer.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns');
    const fromIngressController = (peer: Peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'ingress-nginx';
    const fromMonitoring = (peer: Peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring';

    it('deny everything in the namespace by default', () => {
      const deny = policies().find((p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress && !p.spec.egress);
      assert.ok(deny, 'a default-deny policy');
      assert.deepEqual([...deny.spec.policyTypes].sort(), ['Egress', 'Ingress']);
    });

    it('select pods that exist, and name peers that exist, on ports those peers listen on', () => {
      for (const { name, spec } of policies()) {
        if (Object.keys(spec.podSelector).length > 0) assert.ok(selected(spec.podSelector).length > 0, `${name} selects pods`);
        for (const rule of [...(spec.ingress ?? []), ...(spec.egress ?? [])]) {
          for (const peer of peers(rule)) {
            if (peer.namespaceSelector || !peer.podSelector) continue;
            const targets = selected(peer.podSelector);
            assert.ok(targets.length > 0, `${name}: a peer selects pods`);
            if (rule.to) for (const p of rule.ports ?? []) assert.ok(targets.every((t) => t.ports.includes(p.port)), `${name}: peers listen on ${p.port}`);
          }
        }
        for (const rule of spec.ingress ?? []) {
          const targets = selected(spec.podSelector);
          for (const p of rule.ports ?? []) assert.ok(targets.some((t) => t.ports.includes(p.port)), `${name}: a selected pod listens on ${p.port}`);
        }
      }
    });

    const adminLabels = podTemplate(adminJob).metadata.labels;
    const clients = [...Object.keys(HTTP_SERVICES).map((s) => ({ name: s, labels: podTemplate(deploymentOf(s as ServiceName)).metadata.labels })), { name: 'admin CLI Job', labels: adminLabels }];

    it('let the services and the admin CLI reach NATS (4222) and MongoDB (27017) only, besides DNS', () => {
      const nats = pods().find((p) => p.owner === 'NATS Helm release')!;
      const mongodb = podTemplate(get('StatefulSet', 'mongodb')).metadata.labels;
      for (const { name, labels } of clients) {
        const egress = rulesFor(labels, 'egress').filter(({ rule }) => !isDns(rule));
        assert.deepEqual([...new Set(egress.flatMap(({ rule }) => rule.ports!.map((p) => p.port)))].sort(), [27017, 4222], `${name}: only 4222 and 27017`);
        for (const { policy, rule } of egress) {
          for (const peer of peers(rule)) {
            assert.equal(peer.namespaceSelector, undefined, `${policy}: in this namespace`);
            const port = rule.ports![0]!.port;
            const expected = port === 4222 ? nats.labels : mongodb;
            assert.ok(selects(peer.podSelector, expected), `${policy}: ${port} goes to ${port === 4222 ? 'NATS' : 'MongoDB'}`);
            assert.ok(selected(peer.podSelector).every((p) => selects(peer.podSelector, expected) && p.ports.includes(port)));
          }
        }
        // And NATS and MongoDB let them in.
        const natsIngress = rulesFor(nats.labels, 'ingress').filter(({ rule }) => rule.ports?.some((p) => p.port === 4222));
        assert.ok(natsIngress.some(({ rule }) => peers(rule).some((peer) => !peer.namespaceSelector && selects(peer.podSelector, labels))), `NATS admits ${name}`);
        const mongoIngress = rulesFor(mongodb, 'ingress').filter(({ rule }) => rule.ports?.some((p) => p.port === 27017));
        assert.ok(mongoIngress.some(({ rule }) => peers(rule).some((peer) => !peer.namespaceSelector && selects(peer.podSelector, labels))), `MongoDB admits ${name}`);
      }
    });

    it('let only the ingress controller reach the HTTP edges, each on its own port, and only Prometheus besides', () => {
      for (const service of Object.keys(HTTP_SERVICES) as ServiceName[]) {
        const labels = podTemplate(deploymentOf(service)).metadata.labels;
        const port = containerOf(deploymentOf(service)).ports![0]!.containerPort;
        const ingress = rulesFor(labels, 'ingress');
        for (const { policy, rule } of ingress) {
          for (const peer of peers(rule)) assert.ok(fromIngressController(peer) || fromMonitoring(peer), `${policy}: ${service} admits only the ingress controller or Prometheus`);
        }
        const fromController = ingress.filter(({ rule }) => peers(rule).some(fromIngressController));
        if (service === 'validation-service') {
          assert.equal(fromController.length, 0, 'validation-service: nothing from the ingress controller');
          assert.ok(ingress.every(({ rule }) => peers(rule).every(fromMonitoring)), 'validation-service: metrics only');
        } else {
          assert.deepEqual(fromController.flatMap(({ rule }) => rule.ports!.map((p) => p.port)), [port], `${service}: the ingress controller reaches its port only`);
        }
      }
    });

    it('let NATS nodes route only to each other, and MongoDB members replicate only among each other', () => {
      const nats = pods().find((p) => p.owner === 'NATS Helm release')!;
      const routes = rulesFor(nats.labels, 'ingress').filter(({ rule }) => rule.ports?.some((p) => p.port === natsValues.config.cluster.port));
      assert.ok(routes.length > 0);
      for (const { rule } of routes) for (const peer of peers(rule)) assert.ok(!peer.namespaceSelector && selected(peer.podSelector).every((p) => p.owner === 'NATS Helm release'));
      const mongodb = podTemplate(get('StatefulSet', 'mongodb')).metadata.labels;
      for (const { rule } of rulesFor(mongodb, 'egress').filter(({ rule }) => !isDns(rule))) {
        for (const peer of peers(rule)) assert.ok(selected(peer.podSelector).every((p) => p.owner === 'StatefulSet mongodb'));
      }
    });
  });

  describe('MongoDB replica set', () => {
    it('runs three members of rs0 behind a headless Service, with a keyFile from its Secret', () => {
      const sts = get('StatefulSet', 'mongodb');
      assert.equal(sts.spec!.replicas, 3);
      const headless = get('Service', String(sts.spec!.serviceName));
      assert.equal(headless.spec!.clusterIP, 'None', 'headless: stable member names');
      assert.ok(selects({ matchLabels: headless.spec!.selector as Labels }, podTemplate(sts).metadata.labels));
      const pod = podTemplate(sts).spec;
      const claims = (sts.spec!.volumeClaimTemplates as { metadata: { name: string } }[]).map((t) => t.metadata.name);
      assertReferencesExist('mongodb', pod, claims);
      assert.ok(containerOf(sts).volumeMounts!.some((m) => m.mountPath === '/data/db' && claims.includes(m.name)), 'the data on a persistent volume');
      const args = containerOf(sts).args!;
      assert.equal(args[args.indexOf('--replSet') + 1], 'rs0');
      const keyFile = args[args.indexOf('--keyFile') + 1]!;
      const mount = containerOf(sts).volumeMounts!.find((m) => keyFile.startsWith(`${m.mountPath}/`));
      assert.ok(mount, 'the keyFile is on a mounted volume');
      const copier = pod.initContainers!.find((c) => c.volumeMounts?.some((m) => m.name === mount.name))!;
      assert.ok(copier, 'an init container writes it');
      const secretVolume = pod.volumes!.find((v) => v.secret && copier.volumeMounts!.some((m) => m.name === v.name))!;
      assert.equal(secretVolume.secret!.secretName, 'mongodb-keyfile');
      assert.ok(copier.command!.join(' ').includes(`/keyfile`) && copier.command!.join(' ').includes('0400'), 'copied with mode 0400');
      assert.ok('keyfile' in get('Secret', 'mongodb-keyfile').data!);
      assert.equal(pod.securityContext?.runAsNonRoot, true);
      assert.equal(containerOf(sts).securityContext?.readOnlyRootFilesystem, true);
      assert.ok(selected(get('PodDisruptionBudget', 'mongodb').spec!.selector as Selector).every((p) => p.owner === 'StatefulSet mongodb'));
    });

    it('is initiated by a Job running the same script as docker-compose, and the services\' URI names its members, set and user', async () => {
      const job = get('Job', 'mongodb-init');
      const pod = podTemplate(job).spec;
      assertReferencesExist('mongodb-init', pod);
      const c = pod.containers[0]!;
      const script = c.command!.at(-1)!;
      const mount = c.volumeMounts!.find((m) => script.startsWith(`${m.mountPath}/`))!;
      const configMap = get('ConfigMap', pod.volumes!.find((v) => v.name === mount.name)!.configMap!.name);
      assert.equal(configMap.data![script.slice(mount.mountPath.length + 1)], await read('deploy/kubernetes/base/mongodb/init-replica-set.js'));
      const env = resolvedEnv(c);
      const sts = get('StatefulSet', 'mongodb');
      const members = env.MONGO_MEMBERS!.split(',');
      assert.deepEqual(members.map((m) => m.split('.').slice(0, 2).join('.')),
        Array.from({ length: Number(sts.spec!.replicas) }, (_, i) => `mongodb-${i}.${String(sts.spec!.serviceName)}`), 'every member, by its stable name');
      for (const m of members) assert.match(m, /^mongodb-\d\.mongodb\.oauth\.svc:27017$/);
      const credentials = decoded(get('Secret', 'mongodb-credentials'));
      const rootUser = containerOf(sts).env!.find((v) => v.name === 'MONGO_INITDB_ROOT_USERNAME')!.valueFrom!.secretKeyRef!;
      assert.equal(rootUser.key, c.env!.find((v) => v.name === 'MONGO_ROOT_USERNAME')!.valueFrom!.secretKeyRef!.key, 'the init job signs in as the root user the members create');
      for (const service of Object.keys(HTTP_SERVICES) as ServiceName[]) {
        const uri = parseMongoUri(resolvedEnv(containerOf(deploymentOf(service))).MONGODB_URI!);
        assert.deepEqual(uri.hosts, members, `${service}: every member`);
        assert.equal(uri.options.get('replicaSet'), env.MONGO_REPLICA_SET);
        assert.equal(env.MONGO_REPLICA_SET, 'rs0');
        assert.equal(uri.user, credentials.MONGO_APP_USERNAME, `${service}: the user the init job creates`);
        assert.equal(uri.password, credentials.MONGO_APP_PASSWORD, `${service}: with its password (placeholders alike)`);
        assert.equal(uri.database, env.MONGO_APP_DATABASE, `${service}: the database that user may write`);
        assert.equal(uri.options.get('authSource'), 'admin');
      }
    });
  });

  describe('NATS Helm values (deploy/kubernetes/nats-values.yaml)', () => {
    it('run three clustered nodes with JetStream on file storage', () => {
      const { cluster, jetstream, monitor } = natsValues.config;
      assert.equal(cluster.enabled, true);
      assert.equal(cluster.replicas, 3);
      assert.equal(jetstream.enabled, true);
      assert.equal(jetstream.fileStore.enabled, true);
      assert.equal(jetstream.fileStore.pvc.enabled, true, 'on a persistent volume');
      assert.equal(jetstream.memoryStore.enabled, false);
      assert.equal(monitor.enabled, true, 'the chart\'s health probes use the monitoring port');
      assert.equal(natsValues.natsBox.enabled, false, 'no client without a user of its own');
    });

    it('route between the three nodes with a password from the Secret', () => {
      const { cluster } = natsValues.config;
      const passwordVariable = /^<< \$([A-Z0-9_]+) >>$/.exec(cluster.merge.authorization.password)?.[1];
      assert.ok(passwordVariable, 'the route password is a variable');
      const ref = (natsValues.container.env[passwordVariable] as { valueFrom: { secretKeyRef: { name: string; key: string } } }).valueFrom.secretKeyRef;
      assert.ok(ref.key in get('Secret', ref.name).data!, 'from a rendered Secret key');
      const routes = cluster.merge.routes.map((r) => /^<< \$([A-Z0-9_]+) >>$/.exec(r)?.[1]);
      assert.equal(routes.length, cluster.replicas);
      routes.forEach((variable, i) => {
        const url = natsValues.container.env[variable!] as string;
        // Kubernetes expands $(VAR) only for variables defined before; the chart renders env sorted by name.
        assert.ok(passwordVariable < variable!, `${passwordVariable} is defined before ${variable}`);
        assert.equal(url, `nats://${cluster.merge.authorization.user}:$(${passwordVariable})@${natsValues.fullnameOverride}-${i}.${natsValues.fullnameOverride}-headless:${cluster.port}`);
      });
    });

    it('have exactly deploy/nats.conf\'s users and permissions, each password from its key of the nats-users Secret', () => {
      const expected = natsUsers(natsConf.entries);
      const actual = natsValues.config.merge.authorization.users;
      assert.deepEqual(actual.map((u) => u.user), expected.map((u) => u.user), 'the same users');
      const secret = get('Secret', 'nats-users');
      for (const want of expected) {
        const got = actual.find((u) => u.user === want.user)!;
        assert.deepEqual(got.permissions.publish.allow, want.publish, `${want.user}: publish`);
        assert.deepEqual(got.permissions.subscribe.allow, want.subscribe, `${want.user}: subscribe`);
        assert.ok(isVariable(want.password));
        assert.equal(got.password, `<< $${want.password.variable} >>`, `${want.user}: the password variable of nats.conf`);
        assert.deepEqual(natsValues.container.env[want.password.variable], { valueFrom: { secretKeyRef: { name: 'nats-users', key: want.user } } });
        assert.ok(want.user in secret.data!, `nats-users has a key for ${want.user}`);
      }
    });
  });

  describe('the admin CLI Job (deploy/kubernetes/admin-cli-job.yaml)', () => {
    it('runs oauth-admin from the overlay\'s image as the admin-cli NATS user, with settings the CLI knows and references that exist', async () => {
      const pod = podTemplate(adminJob).spec;
      const c = pod.containers[0]!;
      assert.deepEqual(c.command, ['node', 'bin/oauth-admin.js']);
      assert.ok(await exists('bin/oauth-admin.js'));
      assert.equal(c.image, containerOf(deploymentOf('authorize-service')).image, 'the image the overlay deploys');
      assertReferencesExist('admin CLI Job', pod);
      for (const name of envNames(c)) assert.ok(isSetting(CommonConfigSchema, name), `admin CLI: ${name} is a setting of the CLI`);
      const env = c.env!;
      assert.equal(env.find((v) => v.name === 'NATS_USER')?.value, 'admin-cli');
      assert.deepEqual(env.find((v) => v.name === 'NATS_PASSWORD')?.valueFrom?.secretKeyRef, { name: 'nats-users', key: 'admin-cli' });
      assert.ok(natsUsers(natsConf.entries).some((u) => u.user === 'admin-cli'));
      parseConfig(CommonConfigSchema, { ...resolvedEnv(c), OAUTH_KEY_ENCRYPTION_KEY: testKey });
      assert.equal(pod.securityContext?.runAsNonRoot, true);
      assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    });
  });
});
