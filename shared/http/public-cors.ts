// CORS (Fetch standard) for the endpoints browser apps call directly: the metadata, the key set,
// the token and revocation endpoints (CONTRACT "More of the standards"). Any origin may call them,
// never with credentials: `Access-Control-Allow-Origin: *` and no Allow-Credentials, so a browser
// sends no cookies and reads no response on the strength of a user's session. Public clients
// authenticate with their client_id (and PKCE), confidential ones with what they hold, never with
// ambient authority. Every other route (the authorization endpoint, the pages, introspection) gets
// no CORS header, and a preflight there is refused as an unknown route.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import { pathOf } from './create-http-server.ts';

/** What a cross-origin caller may send and read: form posts with a client's Basic or DPoP proof, and the 401 challenge. */
const PUBLIC: FastifyCorsOptions = {
  origin: '*',
  credentials: false,
  methods: ['GET', 'HEAD', 'POST'],
  allowedHeaders: ['Authorization', 'Content-Type', 'DPoP'],
  exposedHeaders: ['WWW-Authenticate', 'Retry-After'],
  // Browsers cap this (Chromium at 2 h); ten minutes keeps a changed policy from lingering.
  maxAge: 600,
};
const NONE: FastifyCorsOptions = { origin: false };

/** An OPTIONS request that is not a CORS preflight (no Origin or no Access-Control-Request-Method) is an unknown route, as before. */
const notAPreflight = (request: FastifyRequest): boolean =>
  request.method === 'OPTIONS' && (request.headers.origin === undefined || request.headers['access-control-request-method'] === undefined);

/** Answers CORS preflights and adds CORS headers on `paths` only (exact paths, as the routes are declared). */
export function allowPublicCors(app: FastifyInstance, paths: readonly string[]): void {
  const open = new Set(paths);
  void app.register(cors, {
    delegator: (raw, callback) => {
      const request = raw as FastifyRequest;
      callback(null, open.has(pathOf(request.url)) && !notAPreflight(request) ? PUBLIC : NONE);
    },
  });
}
