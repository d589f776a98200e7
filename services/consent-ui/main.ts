// consent-ui: wiring only.
import { publicUrls } from '#shared/config.ts';
import { systemClock } from '#shared/clock.ts';
import { openServiceBase, startOnBase, type StartOptions } from '#shared/service-base.ts';
import { createHttpServer, listen } from '#shared/http/create-http-server.ts';
import { decoyPasswordHash, hashPassword, needsRehash, verifyPassword } from '#shared/password.ts';
import { ReferenceCache } from '#shared/reference-data/reference-cache.ts';
import { runMain, type Running } from '#shared/run-main.ts';
import { startPeriodic } from '#shared/periodic.ts';
import { authorizationRequestSealer } from '#shared/grants/authorization-requests.ts';
import { keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { loadConfig, type ConsentUiConfig } from './config.ts';
import { createConsentUiStore } from './store.ts';
import { cacheHotReads } from './cached-store.ts';
import { createNatsClient } from './nats-client.ts';
import { consentUiChanges } from '#shared/signed-in/changes.ts';
import { requestDescriber } from './request-descriptions.ts';
import { registerRoutes } from './http.ts';
import { AttemptGates, UnlockedKeys } from './login-throttle.ts';

export { loadConfig };

export const SERVICE_NAME = 'consent-ui';

export type StartedConsentUi = Running & { port: number };

export async function start(config: ConsentUiConfig, options: StartOptions = {}): Promise<StartedConsentUi> {
  const base = await openServiceBase(SERVICE_NAME, config, options);
  const { log, mongo, audit } = base;
  return startOnBase(base, config, async (onStop) => {
    const urls = publicUrls(config);
    // Users too: a session or sign-in of a user deleted or disabled since is refused (user-access.ts).
    const reference = new ReferenceCache(mongo.db, log, ['clients', 'scopes', 'users']);
    const findUser = (sub: string) => reference.findUser(sub);
    onStop(() => reference.stop());
    await reference.start(base.nc);
    // Sign-in finds a user by the sub the reference cache names for the username (store.ts, usersStore).
    const subOfUsername = (username: string) => reference.subOfUsername(username);
    const { store, subscription: changes } = cacheHotReads(await createConsentUiStore(mongo.db, log, subOfUsername), consentUiChanges(base.nc, log), log, {
      maxAgeMs: config.HOT_READ_CACHE_MS,
    });
    onStop(() => changes.unsubscribe());
    const nats = createNatsClient(base.nc, config.NATS_REQUEST_TIMEOUT_MS);
    // No endpoints of its own, but declared like every service so $SRV.INFO/PING/STATS find it.
    await base.natsService('Sign-in and consent pages; asks authorize-service and token-service over NATS');
    const clock = systemClock;
    // Computed once now, so the first unknown-user sign-in costs no more than any other.
    await decoyPasswordHash();

    const app = createHttpServer({ log, metrics: base.metrics, ready: base.ready, stopping: base.stopping, trustProxy: config.TRUST_PROXY });
    const findClient = (id: string) => reference.findClient(id);
    // Pending requests are read from their handles, sealed under the key authorize-service uses.
    const handles = authorizationRequestSealer(keyEncryptionKey(config, log));
    const requests = requestDescriber({ requests: handles, clock, findClient, scope: (name) => reference.scope(name) });
    const remembered = { nats, store, clock };
    await registerRoutes(app, {
      session: { store, clock, findUser },
      signIn: {
        requests,
        remembered,
        signIn: {
          store, clock, audit,
          passwords: { verify: verifyPassword, decoyHash: decoyPasswordHash, needsRehash, hash: hashPassword },
          policy: {
            maxFailures: config.LOGIN_MAX_FAILURES,
            addressMaxFailures: config.LOGIN_IP_MAX_FAILURES,
            lockSeconds: config.LOGIN_LOCK_SECONDS,
            maxLockSeconds: config.LOGIN_MAX_LOCK_SECONDS,
            memorySeconds: config.LOGIN_FAILURE_MEMORY_SECONDS,
          },
          sessionTtlSeconds: config.SESSION_TTL_SECONDS,
          gates: new AttemptGates(),
          unlocked: new UnlockedKeys(),
          findUser,
          refusalFloorMs: config.LOGIN_REFUSAL_MIN_MS,
          log,
        },
      },
      signOut: { store, audit },
      show: { ...remembered, requests },
      decide: { nats, requests, store, clock, audit },
      list: { store, findClient, scope: (name) => reference.scope(name) },
      revoke: { nats, store, clock, audit },
      findClient,
      secureCookies: new URL(urls.consentUi).protocol === 'https:',
      sessionTtlSeconds: config.SESSION_TTL_SECONDS,
    });
    // FerretDB has no TTL indexes: expired sessions and failure records are swept here too.
    const sweep = startPeriodic('sweep expired sessions and sign-in failures', () => store.sweepExpired(clock.now()), config.SWEEP_INTERVAL_SECONDS * 1000, log);
    onStop(() => sweep.stop());
    const port = await listen(app, config.HTTP_HOST, config.CONSENT_UI_PORT);
    log.info({ port, url: urls.consentUi }, 'consent-ui ready');
    return { port, http: app };
  });
}

if (import.meta.main) {
  runMain(SERVICE_NAME, () => loadConfig(), (config) => start(config));
}
