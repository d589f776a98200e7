// authorize-service: wiring only.
import { publicUrls } from '#shared/config.ts';
import { systemClock } from '#shared/clock.ts';
import { openServiceBase, startOnBase, type StartOptions } from '#shared/service-base.ts';
import { createHttpServer, listen } from '#shared/http/create-http-server.ts';
import { ReferenceCache } from '#shared/reference-data/reference-cache.ts';
import { runMain, type Running } from '#shared/run-main.ts';
import { startPeriodic } from '#shared/periodic.ts';
import { loadConfig, type AuthorizeConfig } from './config.ts';

export { loadConfig };
import { createAuthorizeStore } from './store.ts';
import { registerRoutes } from './http.ts';
import { registerEndpoints } from './nats.ts';
import { authorizationServerMetadata } from './metadata.ts';
import { authorizationRequestSealer } from '#shared/grants/authorization-requests.ts';
import { authorizationCodeSealer } from '#shared/grants/authorization-codes.ts';
import { keyEncryptionKey } from '#shared/keys/key-encryption.ts';
import { pushedRequestSealer } from './pushed-requests.ts';
import { ownerRecordReads } from '#shared/signed-in/records.ts';
import { cacheOwnerReads } from '#shared/signed-in/cached-reads.ts';
import { subscribeRevocations } from '#shared/grants/revocation-feed.ts';
import { cutsOffByTime } from '#shared/grants/revocation-set.ts';
import { consentUiChanges } from '#shared/signed-in/changes.ts';
import { sessionCookieSentTo } from '#shared/signed-in/session.ts';

export const SERVICE_NAME = 'authorize-service';

export type StartedAuthorizeService = Running & { port: number };

export async function start(config: AuthorizeConfig, options: StartOptions = {}): Promise<StartedAuthorizeService> {
  const base = await openServiceBase(SERVICE_NAME, config, options);
  const { log, mongo } = base;
  return startOnBase(base, config, async (onStop) => {
    const urls = publicUrls(config);
    // Users too: a session of a user deleted or disabled since answers nothing here (user-access.ts).
    const reference = new ReferenceCache(mongo.db, log, ['clients', 'scopes', 'resource_servers', 'users']);
    onStop(() => reference.stop());
    await reference.start(base.nc);
    const store = await createAuthorizeStore(mongo.db, log, base.metrics.observeGroupCommit);
    const clock = systemClock;
    const kek = keyEncryptionKey(config, log);
    const requests = authorizationRequestSealer(kek);
    const validate = {
      findClient: (id: string) => reference.findClient(id), scopeExists: async (name: string) => (await reference.findScope(name)) !== undefined,
      resourceServer: (uri: string) => reference.findResourceServer(uri),
    };
    const pushed = pushedRequestSealer(kek);
    const codes = authorizationCodeSealer(kek);
    const code = { codes, issuer: config.OAUTH_ISSUER, codeTtlSeconds: config.CODE_TTL_SECONDS };
    const owners = cacheOwnerReads(ownerRecordReads(mongo.db), consentUiChanges(base.nc, log), { maxAgeMs: config.HOT_READ_CACHE_MS });
    onStop(() => owners.subscription.unsubscribe());
    // A grant answered here starts when its consent was read: after a cut-off by time (an owner's
    // Revoke, an operator ending a user's or a client's access), a read from before it is dropped.
    const cutOffs = subscribeRevocations(base.nc, log, ({ kind }) => {
      if (cutsOffByTime(kind)) owners.forgetConsents();
    });
    onStop(() => cutOffs.unsubscribe());
    const sessionCookie = sessionCookieSentTo(urls.authorizeService, urls.consentUi);

    const service = await base.natsService('Authorization requests and decisions');
    registerEndpoints(service, log, {
      describe: { requests, clock, findClient: (id) => reference.findClient(id), scope: (name) => reference.scope(name) },
      decide: {
        store, requests, ...code, clock, audit: base.audit,
        findClient: (id) => reference.findClient(id),
      },
      // PAR (RFC 9126): token-service authenticates the client at POST /par and hands the request here.
      push: { validate, pushed, clock, audit: base.audit, ttlSeconds: config.PAR_TTL_SECONDS },
    });

    const app = createHttpServer({ log, metrics: base.metrics, ready: base.ready, stopping: base.stopping, trustProxy: config.TRUST_PROXY });
    registerRoutes(app, {
      issuer: config.OAUTH_ISSUER,
      validate,
      takePushed: { pushed, store, clock },
      ...(sessionCookie ? {
        remembered: {
          sessionCookie, owners: owners.reads, findUser: (sub: string) => reference.findUser(sub), clock, audit: base.audit, code, metrics: base.metrics,
        },
      } : {}),
      start: { requests, clock, audit: base.audit, requestTtlSeconds: config.AUTHORIZATION_REQUEST_TTL_SECONDS, consentUiUrl: urls.consentUi },
      metadata: () => authorizationServerMetadata(urls, reference.scopeNames()),
    });
    const sweep = startPeriodic('sweep expired authorization decisions', () => store.sweepExpired(clock.now()), config.SWEEP_INTERVAL_SECONDS * 1000, log);
    onStop(() => sweep.stop());
    const port = await listen(app, config.HTTP_HOST, config.AUTHORIZE_SERVICE_PORT);
    log.info({ port, issuer: config.OAUTH_ISSUER, rememberedConsentsAnsweredHere: sessionCookie !== undefined }, sessionCookie
      ? 'authorize-service ready; it answers remembered consents itself (consent-ui\'s session cookie reaches it)'
      : 'authorize-service ready; consent-ui answers remembered consents (its session cookie does not reach this host or scheme)');

    return { port, http: app };
  });
}

if (import.meta.main) {
  runMain(SERVICE_NAME, () => loadConfig(), (config) => start(config));
}
