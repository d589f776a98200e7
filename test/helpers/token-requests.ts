// Token-side requests for system tests: refresh, revoke, verifying access tokens against jwks_uri,
// reading what token-service stored, and watching revocation broadcasts.
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Msg, Subscription } from '@nats-io/nats-core';
import { Subjects } from '#shared/nats/subjects.ts';
import type { RevocationRecorded } from '#shared/contracts/revocation-recorded.ts';
import type { SeededClient, System } from './system.ts';
import { tokenRequest, type TokenResponse } from './oauth.ts';

/** RFC 6749 §2.3.1 client_secret_basic for a confidential client. */
export const basicAuth = (client: SeededClient): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret!)}`).toString('base64')}`;

/** A form POST authenticated as `as` (client_secret_basic) to a back-channel URL; the JSON answer, if any. */
export async function postForm(url: string, as: SeededClient, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(as) },
    body: new URLSearchParams(form),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export function refreshRequest(system: System, client: SeededClient, refreshToken: string, scope?: string): Promise<TokenResponse> {
  const form: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken };
  if (scope !== undefined) form.scope = scope;
  return tokenRequest(system, form, { clientId: client.clientId, ...(client.clientSecret ? { clientSecret: client.clientSecret } : {}) });
}

export async function revokeRequest(
  system: System,
  client: SeededClient,
  token: string | undefined,
  hint?: string,
): Promise<{ status: number; body: string; headers: Headers }> {
  const body = new URLSearchParams();
  if (token !== undefined) body.set('token', token);
  if (hint) body.set('token_type_hint', hint);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (client.clientSecret) headers.authorization = basicAuth(client);
  else body.set('client_id', client.clientId);
  const res = await fetch(`${system.urls.tokenService}/revoke`, { method: 'POST', headers, body });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** Verifies an access token the way a resource server would: signature from jwks_uri, issuer, typ. */
export async function verifyAccessToken(
  system: System,
  token: string,
): Promise<{ payload: JWTPayload & Record<string, unknown>; header: Record<string, unknown> }> {
  const jwks = createRemoteJWKSet(new URL(`${system.urls.tokenService}/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: system.urls.issuer, typ: 'at+jwt', algorithms: ['ES256'] });
  return { payload: payload as JWTPayload & Record<string, unknown>, header: protectedHeader as Record<string, unknown> };
}

/** Every revocation broadcast on NATS from now on (subscribe before acting). */
export function watchRevocations(system: System): {
  seen: RevocationRecorded[];
  sub: Subscription;
  waitFor(predicate: (r: RevocationRecorded) => boolean, timeoutMs?: number): Promise<RevocationRecorded>;
} {
  const seen: RevocationRecorded[] = [];
  const sub = system.nc.subscribe(Subjects.revocationRecorded, { callback: (_e, msg: Msg) => void seen.push(msg.json<RevocationRecorded>()) });
  return {
    seen,
    sub,
    waitFor: async (predicate, timeoutMs = 3000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = seen.find(predicate);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching revocation broadcast within ${timeoutMs} ms (saw ${JSON.stringify(seen)})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** The grant id (claim `gid`) of an access token, without verifying it. */
export function grantIdOf(accessToken: string): string {
  return JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()).gid as string;
}
