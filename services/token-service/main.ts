// token-service: wiring only.
import { systemClock } from '#shared/clock.ts';
import { openServiceBase, startOnBase, type StartOptions } from '#shared/service-base.ts';
import type { NatsConnection } from '#shared/nats/connect.ts';
import type { Logger } from '#shared/logger.ts';
import { createHttpServer, listen } from '#shared/http/create-http-server.ts';
import { keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { toPublishedKey } from '#shared/keys/signing-keys.ts';
import { ReferenceCache, announceReferenceDataChange, onReferenceDataChanged } from '#shared/reference-data/reference-cache.ts';
import { runMain, type Running } from '#shared/run-main.ts';
import { startPeriodic } from '#shared/periodic.ts';
import { CleanAuthStates } from '#shared/client-auth/authenticate-client.ts';
import { refreshTokenSealer } from '#shared/grants/refresh-tokens.ts';
import { authorizationCodeSealer } from '#shared/grants/authorization-codes.ts';
import { startRevocationSet } from '#shared/grants/revocation-feed.ts';
import { VerificationKeys } from '#shared/access-tokens/verification-keys.ts';
import { every, keepKeysCurrent } from '#shared/access-tokens/keep-keys-current.ts';
import { accessTokenAudience, jwksMaxAgeSeconds, loadConfig, type TokenConfig } from './config.ts';
import { createTokenStore } from './store.ts';
import { KeyRing } from './signing-keys.ts';
import { registerParRoute, registerRoutes } from './http.ts';
import { authorizationPusher } from './nats-client.ts';
import { publicUrls } from '#shared/config.ts';
import { ensureProofReplayStream, proofFirstUse } from '#shared/dpop/proof-replay-stream.ts';
import { publishRevocation, registerEndpoints } from './nats.ts';
import { revocationRecorder } from './record-revocation.ts';
import { sweepExpiredGrants, type Deps as SweepDeps } from './sweep-expired-grants.ts';
import { completeDecidedRevocations, type Deps as CompleteRevocationsDeps } from './complete-revocations.ts';
import { rotateSigningKeysOnSchedule, rotationCheckIntervalMs, type RotateSigningKeysDeps } from './rotate-signing-keys.ts';

export { loadConfig };

export const SERVICE_NAME = 'token-service';

export type StartedTokenService = Running & { port: number };

export async function start(config: TokenConfig, options: StartOptions = {}): Promise<StartedTokenService> {
  const base = await openServiceBase(SERVICE_NAME, config, options);
  const { log, mongo, nc } = base;
  const clock = systemClock;
  return startOnBase(base, config, async (onStop) => {
    const reference = new ReferenceCache(mongo.db, log, ['clients', 'users', 'resource_servers']);
    onStop(() => reference.stop());
    await reference.start(nc);
    const store = await createTokenStore(mongo.db, log, base.metrics.observeGroupCommit);

    const kek = keyEncryptionKey(config, log);
    const keys = new KeyRing({ store, kek, clock, log });
    // A first key made here is announced, so every other instance (and validation-service) loads it.
    if (await keys.start()) announceReferenceDataChange(nc, 'keys');
    // The public keys introspection verifies with, held as validation-service holds them.
    const verificationKeys = new VerificationKeys({ clock, log, loadKeys: async (now) => (await store.publishedSigningKeys(now)).map(toPublishedKey) });
    const keyReloading = await keepKeysCurrent({
      onKeysChanged: (onChange) => onReferenceDataChanged(nc, 'keys', onChange),
      every, log, intervalMs: config.SIGNING_KEY_RELOAD_SECONDS * 1000,
      reload: async () => {
        await Promise.all([keys.reload(true), verificationKeys.reload()]);
      },
    });
    onStop(() => keyReloading.stop());

    const findClient = (id: string) => reference.findClient(id);
    // A resource server created and announced a moment ago is found: the lookup waits for its load.
    const findResourceServer = (uri: string) => reference.findResourceServer(uri);
    // Refresh tokens are sealed; whether their grant was revoked is answered from memory.
    const refreshTokens = refreshTokenSealer(kek);
    const revocations = await startRevocationSet({ nc, db: mongo.db, clock, log, resyncMs: config.REVOCATION_RESYNC_MS, metrics: base.metrics });
    onStop(() => revocations.stop());
    const recordRevocation = revocationRecorder({ store, publish: publishRevocation(nc), clock, log, local: revocations });
    const tokens = { keys, issuer: config.OAUTH_ISSUER, audience: accessTokenAudience(config) };

    // DPoP proofs at the token endpoint are used once, in the replay stream validation-service uses too.
    await ensureProofReplayStream(nc, config);
    const service = await base.natsService('Token endpoint state: refresh token families and revocations');
    registerEndpoints(service, log, { revokeConsent: { store, clock, audit: base.audit, findClient, recordRevocation } });

    const app = createHttpServer({ log, metrics: base.metrics, ready: base.ready, stopping: base.stopping, trustProxy: config.TRUST_PROXY });
    // One client authentication (and lockout) for /token, /revoke, /introspect and /par.
    const authenticate = {
      findClient, store, clock, log, metrics: base.metrics,
      maxFailures: config.CLIENT_AUTH_MAX_FAILURES, lockSeconds: config.CLIENT_AUTH_LOCK_SECONDS, cleanStates: new CleanAuthStates(),
    };
    registerRoutes(app, {
      authenticate,
      redeem: {
        store, codes: authorizationCodeSealer(kek), refreshTokens, revocations, clock, audit: base.audit, tokens, recordRevocation, log, findResourceServer,
      },
      rotate: { store, refreshTokens, revocations, clock, audit: base.audit, tokens, recordRevocation, findResourceServer },
      clientCredentials: { clock, audit: base.audit, tokens, findResourceServer },
      revoke: { store, refreshTokens, clock, audit: base.audit, keys, issuer: config.OAUTH_ISSUER, recordRevocation },
      introspect: {
        store, refreshTokens, revocations, clock, keys: verificationKeys, cache: undefined,
        issuer: config.OAUTH_ISSUER, audience: tokens.audience, findResourceServer,
        user: (sub) => reference.user(sub), findUser: (sub) => reference.findUser(sub),
      },
      dpop: { clock, firstUse: proofFirstUse(nc), tokenEndpointUrl: `${publicUrls(config).tokenService}/token` },
      jwks: () => keys.jwks(),
      jwksMaxAgeSeconds: jwksMaxAgeSeconds(config),
    });
    // RFC 9126: authorize-service, the owner of authorization requests, validates and seals what is pushed.
    registerParRoute(app, { authenticate, forward: authorizationPusher(nc, config.NATS_REQUEST_TIMEOUT_MS) });

    const port = await listen(app, config.HTTP_HOST, config.TOKEN_SERVICE_PORT);

    // After listen, as before: their first passes (a read of every claim on FerretDB) must not hold
    // the port closed. They cannot fail the start: each catches and logs its own errors.
    const reloadKeys = () => Promise.all([keys.reload(), verificationKeys.reload()]);
    const rotating = await startKeyRotation(config, { store, kek, clock, audit: base.audit, log, nc }, reloadKeys);
    onStop(() => rotating.stop());
    const sweep = await startGrantMaintenance({ store, recordRevocation, clock, log }, config.SWEEP_INTERVAL_SECONDS * 1000);
    onStop(() => sweep.stop());
    log.info({ port }, 'token-service ready');
    return { port, http: app };
  });
}

/** How often decided but unrecorded revocations are looked for (a short list): at most this long, or the sweep's interval if shorter. */
const COMPLETION_INTERVAL_MS = 60_000;

/**
 * Revocations decided but never recorded are completed at start and every minute (or sweep, if
 * sooner); the sweep removes expired state where TTL indexes are missing (FerretDB), and dead
 * families, which no TTL index finds, and also looks for revocations that earlier releases decided.
 */
async function startGrantMaintenance(deps: CompleteRevocationsDeps & SweepDeps & { log: Logger }, sweepIntervalMs: number) {
  const { log } = deps;
  const completeRevocations = async (fromClaims: boolean) => {
    const completed = await completeDecidedRevocations(deps, { fromClaims });
    if (completed > 0) log.warn({ completed }, 'completed grant revocations whose record had failed');
  };
  await completeRevocations(true).catch((err: unknown) => log.warn({ err }, 'could not complete decided revocations; retrying shortly'));
  const completion = startPeriodic('complete decided revocations', () => completeRevocations(false), Math.min(COMPLETION_INTERVAL_MS, sweepIntervalMs), log);
  const sweep = startPeriodic('sweep expired grant state', async () => {
    // A slow read of every claim (FerretDB) must not stop the sweep that keeps that read short.
    await completeRevocations(true).catch((err: unknown) => log.warn({ err }, 'could not look for revocations decided by earlier releases; retrying with the next sweep'));
    const removed = await sweepExpiredGrants(deps);
    if (removed > 0) log.debug({ removed }, 'expired grant state removed');
  }, sweepIntervalMs, log);
  return { stop: () => [completion, sweep].forEach((task) => task.stop()) };
}

/**
 * Scheduled signing-key rotation: every instance checks at start and then periodically; one unique
 * insert decides who rotates (rotate-signing-keys.ts). The rotator reloads its own keys at once.
 */
async function startKeyRotation(
  config: TokenConfig,
  deps: Omit<RotateSigningKeysDeps, 'announce' | 'rotationSeconds' | 'prepublishSeconds' | 'log'> & { nc: NatsConnection; log: Logger },
  reloadKeys: () => Promise<unknown>,
): Promise<{ stop(): void }> {
  const rotation: RotateSigningKeysDeps = {
    ...deps, rotationSeconds: config.SIGNING_KEY_ROTATION_SECONDS, prepublishSeconds: config.SIGNING_KEY_PREPUBLISH_SECONDS,
    announce: () => announceReferenceDataChange(deps.nc, 'keys'),
  };
  const check = async () => {
    if ((await rotateSigningKeysOnSchedule(rotation)).rotated) await reloadKeys();
  };
  await check().catch((error: unknown) => deps.log.warn({ err: error }, 'signing key rotation check failed; will retry'));
  return startPeriodic('signing key rotation check', check, rotationCheckIntervalMs(config.SIGNING_KEY_ROTATION_SECONDS), deps.log);
}

if (import.meta.main) {
  runMain(SERVICE_NAME, () => loadConfig(), (config) => start(config));
}
