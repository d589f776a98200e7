// validation-service: wiring only. It answers oauth.token.validate from public keys, the
// revocation feed and cached reference data; its HTTP server serves only health, readiness and metrics.
import { systemClock } from '#shared/clock.ts';
import { openServiceBase, startOnBase, type StartOptions } from '#shared/service-base.ts';
import { createHttpServer, listen } from '#shared/http/create-http-server.ts';
import { ReferenceCache, onReferenceDataChanged } from '#shared/reference-data/reference-cache.ts';
import { runMain, type Running } from '#shared/run-main.ts';
import { startRevocationSet } from '#shared/grants/revocation-feed.ts';
import { VerificationKeys } from '#shared/access-tokens/verification-keys.ts';
import { VerifiedTokenCache } from '#shared/access-tokens/verified-token-cache.ts';
import { every, keepKeysCurrent } from '#shared/access-tokens/keep-keys-current.ts';
import type { AccessToken } from '#shared/access-tokens/verify-access-token.ts';
import { accessTokenAudience, loadConfig, type ValidationConfig } from './config.ts';
import { createValidationStore } from './store.ts';
import { registerEndpoints } from './nats.ts';
import { ensureProofReplayStream, proofFirstUse } from '#shared/dpop/proof-replay-stream.ts';

export { loadConfig };

export const SERVICE_NAME = 'validation-service';
/** Safety net for key retirement and rotation announcements missed while NATS was down. */
const KEY_REFRESH_MS = 60_000;

export type StartedValidationService = Running & { port: number };

export async function start(config: ValidationConfig, options: StartOptions = {}): Promise<StartedValidationService> {
  // It emits no audit event and writes no outbox: no audit stream, no relay (nor their NATS rights).
  const base = await openServiceBase(SERVICE_NAME, config, options, { emitsAudit: false });
  const { log, mongo, nc } = base;
  const clock = systemClock;
  const store = createValidationStore(mongo.db);
  return startOnBase(base, config, async (onStop) => {
    const reference = new ReferenceCache(mongo.db, log, ['clients', 'users', 'resources', 'resource_servers']);
    onStop(() => reference.stop());
    await reference.start(nc);

    // Keys: loaded now, reloaded on a kid not yet known, on a `keys` change announcement, and every minute.
    const keys = new VerificationKeys({ clock, log, loadKeys: (now) => store.publishedKeys(now) });
    const keyReloading = await keepKeysCurrent({
      onKeysChanged: (onChange) => onReferenceDataChanged(nc, 'keys', onChange),
      every, log, intervalMs: KEY_REFRESH_MS, reload: () => keys.reload(),
    });
    onStop(() => keyReloading.stop());
    if (keys.size === 0) log.warn('no signing key published yet; tokens are refused until token-service creates one');

    // Revocations: subscribe to the broadcast (no queue group: every instance hears every one) before the load.
    const revocations = await startRevocationSet({ nc, db: mongo.db, clock, log, resyncMs: config.REVOCATION_RESYNC_MS, metrics: base.metrics });
    onStop(() => revocations.stop());
    // DPoP proofs are used once across every instance: the replay stream exists before the first validation.
    await ensureProofReplayStream(nc, config);
    await nc.flush();

    const service = await base.natsService('Access token validation for resource servers');
    registerEndpoints(service, log, {
      keys, revocations, clock,
      cache: config.VERIFIED_TOKEN_CACHE_ENTRIES > 0 ? new VerifiedTokenCache<AccessToken>(config.VERIFIED_TOKEN_CACHE_ENTRIES) : undefined,
      issuer: config.OAUTH_ISSUER,
      audience: accessTokenAudience(config),
      findResourceServer: (uri) => reference.findResourceServer(uri),
      user: (sub) => reference.user(sub),
      findUser: (sub) => reference.findUser(sub),
      findResourceRule: (resource) => reference.findResourceRule(resource),
      dpop: { clock, firstUse: proofFirstUse(nc) },
    });

    const app = createHttpServer({ log, metrics: base.metrics, ready: base.ready, stopping: base.stopping, trustProxy: config.TRUST_PROXY });
    const port = await listen(app, config.HTTP_HOST, config.VALIDATION_SERVICE_PORT);
    log.info({ port, keys: keys.size, revocations: revocations.size }, 'validation-service ready');
    return { port, http: app };
  });
}

if (import.meta.main) {
  runMain(SERVICE_NAME, () => loadConfig(), (config) => start(config));
}
