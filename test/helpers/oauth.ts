// Client-side OAuth steps for system tests: PKCE pairs, authorization requests, token requests.
import { createHash } from 'node:crypto';
import { randomToken } from '#shared/crypto.ts';
import * as oauth from 'oauth4webapi';
import type { SeededClient, SeededUser, System } from './system.ts';
import { Subjects } from '#shared/nats/subjects.ts';

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomToken(32);
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function authorizeUrl(system: System, params: Record<string, string>): string {
  return `${system.urls.authorizeService}/authorize?${new URLSearchParams(params)}`;
}

/**
 * Runs the authorization request and stands in for consent-ui's decision over NATS (as consent-ui
 * does after sign-in and consent), returning the code from the redirect. For tests of the token
 * and validation side; the pages themselves are tested through consent-ui.
 */
export async function codeViaNats(system: System, client: SeededClient, user: SeededUser, options: { scopes?: string[]; pkce?: boolean; decision?: 'approve' | 'deny' } = {}) {
  const { verifier, challenge } = pkcePair();
  const state = randomToken(8);
  const params: Record<string, string> = {
    response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: (options.scopes ?? client.scopes).join(' '), state,
  };
  if (options.pkce ?? true) Object.assign(params, { code_challenge: challenge, code_challenge_method: 'S256' });
  const res = await fetch(authorizeUrl(system, params), { redirect: 'manual' });
  const handoff = res.headers.get('location');
  if (res.status !== 302 || !handoff) throw new Error(`authorize answered ${res.status} ${await res.text()}`);
  const handle = new URL(handoff).searchParams.get('handle')!;
  const reply = await system.nc.request(Subjects.authorizationDecide, JSON.stringify({
    handle, decision: options.decision ?? 'approve', sub: user.sub, username: user.username, auth_time: Math.floor(Date.now() / 1000),
  }), { timeout: 5000 });
  const redirectTo = new URL((reply.json() as { redirect_to: string }).redirect_to);
  return { code: redirectTo.searchParams.get('code') ?? '', state, verifier, redirectTo };
}

export type TokenResponse = { status: number; body: Record<string, unknown>; headers: Headers };

export async function tokenRequest(system: System, form: Record<string, string>, auth?: { clientId: string; clientSecret?: string; method?: 'basic' | 'post' }): Promise<TokenResponse> {
  const body = new URLSearchParams(form);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth?.clientSecret && (auth.method ?? 'basic') === 'basic') {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret)}`).toString('base64')}`;
  } else if (auth) {
    body.set('client_id', auth.clientId);
    if (auth.clientSecret) body.set('client_secret', auth.clientSecret);
  }
  const res = await fetch(`${system.urls.tokenService}/token`, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** Exchanges a code for tokens as the client `client`. */
export function exchangeCode(system: System, client: SeededClient, code: string, verifier: string | undefined) {
  const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri };
  if (verifier) form.code_verifier = verifier;
  return tokenRequest(system, form, { clientId: client.clientId, ...(client.clientSecret ? { clientSecret: client.clientSecret } : {}) });
}

/** The system's RFC 8414 metadata as oauth4webapi reads it (the test issuer is plain http on loopback). */
export async function discoverAuthorizationServer(system: System): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(system.urls.issuer);
  const options = { [oauth.allowInsecureRequests]: true, algorithm: 'oauth2' as const };
  return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options));
}
