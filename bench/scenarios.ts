// The measured scenarios. Each worker is one browser (cookie jar) of one resource owner;
// every operation checks what it gets back (state, iss, a token response, an allowed validation),
// and anything else counts as an error.
import { createHash, randomBytes } from 'node:crypto';
import { Subjects } from '#shared/nats/subjects.ts';
import { browse, CookieJar, hiddenField, location, request, type Response } from './http.ts';
import { runLoad, type LoadResult } from './load.ts';
import type { BenchUser, Fixture } from './system.ts';
import { expectAllowed, validateFromThread } from './resource-server-thread.ts';

export type Worker = { user: BenchUser; jar: CookieJar; refreshToken: string; accessToken: string };

type Tokens = { access_token: string; refresh_token?: string; scope: string };

const b64 = (bytes: Buffer) => bytes.toString('base64url');

/** A fresh authorization request with PKCE (S256) and state. */
function authorizationRequest(fx: Fixture): { url: string; verifier: string; state: string } {
  const verifier = b64(randomBytes(32));
  const state = b64(randomBytes(12));
  const url = new URL(fx.meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: fx.clientId, redirect_uri: fx.redirectUri, scope: fx.scope, state,
    code_challenge: b64(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
  }).toString();
  return { url: url.toString(), verifier, state };
}

/** The code from the redirect back to the client, after checking state and iss (RFC 9207). */
function codeFrom(redirect: string, fx: Fixture, state: string): string {
  if (!redirect.startsWith(fx.redirectUri)) throw new Error(`redirected elsewhere: ${new URL(redirect).pathname}`);
  const params = new URL(redirect).searchParams;
  const code = params.get('code');
  if (!code) throw new Error(`redirect without code: error=${params.get('error')}`);
  if (params.get('state') !== state) throw new Error('state mismatch');
  if (params.get('iss') !== fx.issuer) throw new Error('iss mismatch');
  return code;
}

const basicAuth = (fx: Fixture) => `Basic ${Buffer.from(`${encodeURIComponent(fx.clientId)}:${encodeURIComponent(fx.clientSecret)}`).toString('base64')}`;

async function tokenRequest(fx: Fixture, form: Record<string, string>): Promise<Tokens> {
  const response = await request(fx.meta.token_endpoint, { method: 'POST', form, headers: { authorization: basicAuth(fx) } });
  if (response.status !== 200) throw new Error(`token endpoint answered ${response.status} ${response.body.slice(0, 200)}`);
  const tokens = JSON.parse(response.body) as Tokens;
  if (typeof tokens.access_token !== 'string') throw new Error('token response without access_token');
  return tokens;
}

const exchange = (fx: Fixture, code: string, verifier: string) =>
  tokenRequest(fx, { grant_type: 'authorization_code', code, redirect_uri: fx.redirectUri, code_verifier: verifier });

/**
 * The sign-in page's form, filled in and sent: returns the response to the POST. Our pages are
 * known, so fields are read by name (the yardstick finds them by label instead).
 */
async function signIn(jar: CookieJar, page: Response, pageUrl: string, user: BenchUser): Promise<{ response: Response; url: string }> {
  if (page.status !== 200 || !page.body.includes('name="password"')) throw new Error(`expected the sign-in page, got ${page.status}`);
  const url = new URL('/ui/login', pageUrl).toString();
  const handle = new URL(pageUrl).searchParams.get('handle') ?? '';
  const response = await browse(jar, url, { method: 'POST', form: { _csrf: hiddenField(page.body, '_csrf'), handle, username: user.username, password: user.password } });
  return { response, url };
}

/**
 * One complete flow through the pages: sign in when there is no session, consent (remembered)
 * when asked, and the code exchanged for tokens. Used to set up each worker and, with a fresh
 * browser each time, as scenario 4.
 */
export async function interactiveFlow(fx: Fixture, jar: CookieJar, user: BenchUser): Promise<Tokens> {
  const { url, verifier, state } = authorizationRequest(fx);
  let from = location(await browse(jar, url), url, 'authorization endpoint');
  let page = await browse(jar, from);
  for (let step = 0; step < 3 && page.status === 200; step++) {
    if (page.body.includes('name="password"')) {
      const sent = await signIn(jar, page, from, user);
      // With a remembered consent, signing in answers with the redirect to the client itself.
      const next = location(sent.response, sent.url, 'sign-in');
      if (next.startsWith(fx.redirectUri)) return exchange(fx, codeFrom(next, fx, state), verifier);
      from = next;
      page = await browse(jar, from);
    } else if (page.body.includes('value="allow"')) {
      const consentUrl = new URL('/ui/consent', from).toString();
      page = await browse(jar, consentUrl, {
        method: 'POST',
        form: { _csrf: hiddenField(page.body, '_csrf'), handle: new URL(from).searchParams.get('handle') ?? '', decision: 'allow', remember: 'on' },
      });
      from = consentUrl;
    } else {
      throw new Error(`unexpected page at ${new URL(from).pathname}: ${page.body.slice(0, 120).replace(/\s+/g, ' ')}`);
    }
  }
  const redirect = location(page, from, 'consent');
  return exchange(fx, codeFrom(redirect, fx, state), verifier);
}

/** Signs each user in once, with a remembered consent, and keeps their browser and tokens. */
export async function prepareWorkers(fx: Fixture): Promise<Worker[]> {
  return Promise.all(fx.users.map(async (user) => {
    const jar = new CookieJar();
    const tokens = await interactiveFlow(fx, jar, user);
    if (!tokens.refresh_token) throw new Error('the client got no refresh token');
    return { user, jar, refreshToken: tokens.refresh_token, accessToken: tokens.access_token };
  }));
}

/** 1. The signed-in hot path: authorize (session, remembered consent; else on to consent-ui) → code → token. */
export function signedInCodeFlow(fx: Fixture, workers: Worker[], seconds: number): Promise<LoadResult> {
  return runLoad(workers, seconds, async (worker) => {
    const { url, verifier, state } = authorizationRequest(fx);
    const first = location(await browse(worker.jar, url), url, 'authorization endpoint');
    // Where consent-ui's session cookie reaches the authorization endpoint, it answers with the code itself.
    const back = first.startsWith(fx.redirectUri) ? first : location(await browse(worker.jar, first), first, 'consent-ui with a remembered consent');
    const tokens = await exchange(fx, codeFrom(back, fx, state), verifier);
    worker.accessToken = tokens.access_token;
  });
}

/** 2. Refresh token rotation: each worker refreshes its own family, keeping the rotated-in token. */
export function refreshRotation(fx: Fixture, workers: Worker[], seconds: number): Promise<LoadResult> {
  return runLoad(workers, seconds, async (worker) => {
    const tokens = await tokenRequest(fx, { grant_type: 'refresh_token', refresh_token: worker.refreshToken });
    if (!tokens.refresh_token) throw new Error('refresh without a rotated refresh token');
    worker.refreshToken = tokens.refresh_token;
    worker.accessToken = tokens.access_token;
  });
}

/** 5. Client credentials (RFC 6749 §4.4): the client authenticates and gets a token for itself; nothing is stored. */
export function clientCredentials(fx: Fixture, workers: Worker[], seconds: number): Promise<LoadResult> {
  return runLoad(workers, seconds, async () => {
    const tokens = await tokenRequest(fx, { grant_type: 'client_credentials', scope: fx.scope });
    if (tokens.refresh_token !== undefined || tokens.scope !== fx.scope) throw new Error('client credentials answered with a refresh token or another scope');
  });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * 3. oauth.token.validate with scopes and a resource rule, `inFlight` requests at a time, from a thread of its own;
 * the same requests to `subject` for the floor under it (echo-endpoint.ts).
 */
export function validateOverNats(
  fx: Fixture, workers: Worker[], inFlight: number, seconds: number, subject: string = Subjects.tokenValidate,
): Promise<LoadResult> {
  return validateFromThread({ nats: fx.natsConnection, subject, payloads: validatePayloads(fx, workers), inFlight, seconds });
}

const validatePayloads = (fx: Fixture, workers: readonly Worker[]): string[] =>
  workers.map((w) => JSON.stringify({ token: w.accessToken, scopes: [fx.scope], resource: fx.resource }));

/** validation-service's reply to the first worker's validate request, as the echo endpoint is to answer it. */
export async function recordedValidateReply(fx: Fixture, workers: readonly Worker[]): Promise<string> {
  const reply = decoder.decode((await fx.nc.request(Subjects.tokenValidate, encoder.encode(validatePayloads(fx, workers)[0]!), { timeout: 5000 })).data);
  expectAllowed(reply);
  return reply;
}

/** 4. The full flow with sign-in (argon2id check included): a new browser every time. */
export function fullFlowWithSignIn(fx: Fixture, workers: Worker[], seconds: number): Promise<LoadResult> {
  return runLoad(workers, seconds, async (worker) => {
    await interactiveFlow(fx, new CookieJar(), worker.user);
  });
}

/** A resource server URL the DPoP proofs are made for (htu); validation checks it against `url`. */
const DPOP_RESOURCE_URL = 'https://api.bench.example/orders/1';

export type DpopWorker = { accessToken: string; proofs: () => Promise<string> };

/**
 * Each worker gets a DPoP-bound access token (a refresh with a proof: the client is confidential,
 * so its refresh token stays unbound and the worker keeps rotating it) and a supply of fresh
 * proofs for that token, signed ahead (`pooled` of them) so that the client's own signing does not
 * eat the measured CPU; past the pool, proofs are signed as they are needed.
 */
export async function prepareDpopWorkers(fx: Fixture, workers: Worker[], pooled: number): Promise<DpopWorker[]> {
  const { SignJWT, exportJWK, generateKeyPair } = await import('jose');
  return Promise.all(workers.map(async (worker) => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const proof = (htm: string, htu: string, ath?: string) =>
      new SignJWT({ jti: b64(randomBytes(12)), htm, htu, iat: Math.floor(Date.now() / 1000), ...(ath ? { ath } : {}) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(privateKey);
    const response = await request(fx.meta.token_endpoint, {
      method: 'POST', form: { grant_type: 'refresh_token', refresh_token: worker.refreshToken },
      headers: { authorization: basicAuth(fx), dpop: await proof('POST', fx.meta.token_endpoint) },
    });
    const tokens = JSON.parse(response.body) as Tokens & { token_type?: string };
    if (response.status !== 200 || tokens.token_type !== 'DPoP') throw new Error(`DPoP refresh answered ${response.status} ${response.body.slice(0, 200)}`);
    worker.refreshToken = tokens.refresh_token!;
    const ath = b64(createHash('sha256').update(tokens.access_token).digest());
    const pool = await Promise.all(Array.from({ length: Math.ceil(pooled / workers.length) }, () => proof('GET', DPOP_RESOURCE_URL, ath)));
    return { accessToken: tokens.access_token, proofs: async () => pool.pop() ?? proof('GET', DPOP_RESOURCE_URL, ath) };
  }));
}

/** 3b. oauth.token.validate of DPoP-bound tokens, each with a fresh proof (signature, thumbprint, ath, one-time jti in JetStream). */
export function validateDpopOverNats(fx: Fixture, workers: DpopWorker[], inFlight: number, seconds: number): Promise<LoadResult> {
  const slots = Array.from({ length: inFlight }, (_, i) => workers[i % workers.length]!);
  return runLoad(slots, seconds, async (worker) => {
    const payload = encoder.encode(JSON.stringify({
      token: worker.accessToken, scopes: [fx.scope], resource: fx.resource, dpop: await worker.proofs(), method: 'GET', url: DPOP_RESOURCE_URL,
    }));
    const reply = await fx.nc.request(Subjects.tokenValidate, payload, { timeout: 5000 });
    expectAllowed(decoder.decode(reply.data));
  });
}
