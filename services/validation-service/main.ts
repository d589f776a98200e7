// validation-service: wiring only.
import { systemClock } from '#shared/clock.ts';
import { openServiceBase, type StartOptions } from '#shared/service-base.ts';
import { createHttpServer, listen } from '#shared/http/create-http-server.ts';
import { ReferenceCache } from '#shared/reference-data/reference-cache.ts';
import { runMain, type Running } from '#shared/run-main.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { parseJson } from '#shared/nats/add-endpoint.ts';
import { checker } from '#shared/contracts/checker.ts';
import { ReferenceDataChangedSchema } from '#shared/contracts/reference-data-changed.ts';
import { accessTokenAudience, loadConfig, type ValidationConfig } from './config.ts';
import { createValidationStore } from './store.ts';
import { startRevocationSet } from '#shared/grants/revocation-feed.ts';
import { refreshTokenSealer } from '#shared/grants/refresh-tokens.ts';
import { keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { VerificationKeys } from './verification-keys.ts';
import { VerifiedTokenCache } from './verified-token-cache.ts';
import type { AccessToken } from './verify-access-token.ts';
import { CleanAuthStates } from '#shared/client-auth/authenticate-client.ts';
import { createClientAuthEventStore } from '#shared/client-auth/client-auth-events.ts';
import { registerEndpoints } from './nats.ts';
import { registerRoutes } from './http.ts';

export { loadConfig };

export const SERVICE_NAME = 'validation-service';
/** Safety net for key retirement and rotation announcements missed while NATS was down. */
const KEY_REFRESH_MS = 60_000;

export type StartedValidationService = Running & { port: number };

const referenceDataChanged = checker(ReferenceDataChangedSchema);

export async function start(config: ValidationConfig, options: StartOptions = {}): Promise<StartedValidationService> {
  // It emits no audit event and writes no outbox: no audit stream, no relay (nor their NATS rights).
  const base = await openServiceBase(SERVICE_NAME, config, options, { emitsAudit: false });
  const { log, mongo, nc } = base;
  const clock = systemClock;
  const store = createValidationStore(mongo.db);
  const clientAuthEvents = await createClientAuthEventStore(mongo.db, log);
  const cleanups: (() => void)[] = [];
  try {
    const reference = new ReferenceCache(mongo.db, log, ['clients', 'users', 'resources']);
    await reference.start(nc);
    cleanups.push(() => reference.stop());

    // Keys: loaded now, reloaded on a kid not yet known, on a `keys` change announcement, and every minute.
    const keys = new VerificationKeys({ clock, log, loadKeys: (now) => store.publishedKeys(now) });
    const keyChanges = nc.subscribe(Subjects.referenceDataChanged, {
      callback: (_error, msg) => {
        if (referenceDataChanged.parse(parseJson(msg.data))?.kind === 'keys') keys.reload().catch((err: unknown) => log.warn({ err }, 'signing key reload failed'));
      },
    });
    cleanups.push(() => keyChanges.unsubscribe());
    await keys.reload();
    const keyTimer = setInterval(() => keys.reload().catch((err: unknown) => log.warn({ err }, 'signing key reload failed')), KEY_REFRESH_MS);
    keyTimer.unref();
    cleanups.push(() => clearInterval(keyTimer));
    if (keys.size === 0) log.warn('no signing key published yet; tokens are refused until token-service creates one');

    // Revocations: subscribe to the broadcast (no queue group: every instance hears every one) before the load.
    const revocations = await startRevocationSet({ nc, db: mongo.db, clock, log, resyncMs: config.REVOCATION_RESYNC_MS });
    cleanups.push(() => revocations.stop());
    await nc.flush();

    const verify = {
      keys, revocations, clock,
      cache: config.VERIFIED_TOKEN_CACHE_ENTRIES > 0 ? new VerifiedTokenCache<AccessToken>(config.VERIFIED_TOKEN_CACHE_ENTRIES) : undefined,
      issuer: config.OAUTH_ISSUER,
      audience: accessTokenAudience(config),
    };
    const users = { user: (sub: string) => reference.user(sub), findUser: (sub: string) => reference.findUser(sub) };

    const service = await base.natsService('Access token validation for resource servers');
    registerEndpoints(service, log, { ...verify, ...users, findResourceRule: (resource) => reference.findResourceRule(resource) });

    const app = createHttpServer({
      log, metrics: base.metrics, ready: base.ready, trustProxy: config.TRUST_PROXY,
    });
    registerRoutes(app, {
      authenticate: {
        findClient: (id) => reference.findClient(id), store: clientAuthEvents, clock, log, metrics: base.metrics,
        maxFailures: config.CLIENT_AUTH_MAX_FAILURES, lockSeconds: config.CLIENT_AUTH_LOCK_SECONDS, cleanStates: new CleanAuthStates(),
      },
      introspect: { ...verify, ...users, refreshTokens: refreshTokenSealer(keyEncryptionKey(config, log)), refreshTokenSpent: (id) => store.claimExists(id) },
    });
    const port = await listen(app, config.HTTP_HOST, config.VALIDATION_SERVICE_PORT);
    log.info({ port, keys: keys.size, revocations: revocations.size }, 'validation-service ready');

    return {
      port,
      stop: async () => {
        await app.close();
        cleanups.forEach((cleanup) => cleanup());
        await base.close();
      },
    };
  } catch (error) {
    cleanups.forEach((cleanup) => cleanup());
    await base.close();
    throw error;
  }
}

if (import.meta.main) {
  runMain(SERVICE_NAME, () => loadConfig(), (config) => start(config));
}
