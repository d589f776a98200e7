// Hostile input at every edge (issue 5): property-based tests (fast-check) send every HTTP endpoint
// and every NATS subject random and malformed input — repeated and unknown parameters, oversized
// values, wrong content types, invalid UTF-8 as raw bytes in query strings and bodies, deeply
// nested JSON, huge headers, odd methods — and check each answer: a 4xx with a standard error
// body (RFC 6749 JSON on /token, /revoke, /introspect; an HTML page, or a redirect with `error`
// only ever to a registered URI, on /authorize; HTML pages on consent-ui) or a NATS service error,
// never a 5xx, a crash or a hang (every request has a deadline). Each barrage runs between two
// snapshots of every collection of the test database, which must match (but for the sign-in and
// client-authentication failure records a failed attempt is meant to leave), and a known-good
// access token, refresh token and session must still work afterwards.
//
// Coverage: authorize-service (GET /authorize, with request_uri too, metadata, health/ready/metrics), consent-ui (every
// /ui/* route), token-service (POST /token, /revoke, /introspect, /par, GET /jwks.json), validation-service
// (health/ready/metrics over HTTP), every subject of shared/nats/subjects.ts (the five request
// subjects, the three broadcasts), requests without a reply subject or with one outside `_INBOX.`
// (never answered, never acted on), and malformed NATS header blocks.
//
// Budget: about 15,000 inputs in under a minute on two quiet cores (RUNS below). Inputs are drawn
// in batches of CONCURRENCY and sent at once, each with its deadline; the database is snapshotted
// per barrage, not per input. At the end the file prints one line per target (inputs, seconds,
// answers), a total line and the seed; FC_SEED=<seed> replays the same inputs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import fc from 'fast-check';
import { headers as natsHeaders, type Msg, type MsgHdrs } from '@nats-io/nats-core';
import { randomToken, sha256 } from '#shared/crypto.ts';
import { Subjects } from '#shared/nats/subjects.ts';
import { MAX_REQUEST_BYTES, parseJson } from '#shared/nats/add-endpoint.ts';
import { checker } from '#shared/contracts/checker.ts';
import { TokenValidateRequestSchema } from '#shared/contracts/token-validate.ts';
import { ConsentRevokeRequestSchema } from '#shared/contracts/consent-revoke.ts';
import { AuthorizationPushReplySchema, AuthorizationPushRequestSchema } from '#shared/contracts/authorization-push.ts';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { accessTokenHash } from '#shared/dpop/verify-dpop-proof.ts';
import { startSystem, type SeededClient, type SeededUser, type System } from './helpers/system.ts';
import { codeViaNats, exchangeCode } from './helpers/oauth.ts';
import { refreshRequest } from './helpers/token-requests.ts';
import { rawRequest, type RawRequest, type RawResponse } from './helpers/raw-http.ts';
import {
  changedCollections, CONTENT_TYPES, dbState, deepJson, describeChanges, encode, fcOptions, junkHeaders, junkHeaderValue, junkText, jwtLike, METHODS,
  rawBytes, refreshTokenLike, serializePairs, TriedCounter, wireComponent, wirePairs, type WirePair,
} from './helpers/hostile.ts';

const REQUEST_DEADLINE_MS = 5000;
const tried = new TriedCounter();
const startedAt = performance.now();

/**
 * Inputs per barrage in one CI run, about 12,000 in all within about a minute on two quiet cores:
 * the cheap ones (NATS validate, the token endpoint's form) get the most.
 */
const RUNS = {
  authorize: 1200, anyRoute: 1200, token: 2000, clientCredentials: 400, revoke: 800, introspect: 1000, par: 800, requestUri: 300,
  uiAuthorize: 400, uiLogin: 400, uiConsent: 400, uiLogout: 320, uiAuthorizations: 320, uiRevoke: 320,
  validate: 3000, describe: 600, decide: 600, consentRevoke: 400, push: 500,
  revocationRecorded: 800, referenceDataChanged: 400, consentUiChanged: 600, noReply: 200, notInbox: 400,
} as const;

let system: System;
let port: { authorize: number; consent: number; token: number; validation: number };
let scope: string;
/** A registered resource server (RFC 8707) accepting `scope`. */
let resourceServer: string;
let user: SeededUser;
/** Its access and refresh token must survive the barrage. */
let known: SeededClient;
/** Authenticates correctly in the barrage, so requests get past client authentication. */
let barrage: SeededClient;
/** Takes the wrong secrets (and ends up locked). */
let victim: SeededClient;
let publicClient: SeededClient;
/** Registered for client credentials only (no redirect URI). */
let machine: SeededClient;
let tokens: { accessToken: string; refreshToken: string; kid: string; claims: Record<string, unknown> };
/** consent-ui: a signed-in session of `user`, and an anti-CSRF cookie with its form token. */
let ui: { session: string; csrfCookie: string; csrfToken: string };

before(async () => {
  // The known code outlives any run, so no periodic sweep deletes it in the middle of a barrage.
  system = await startSystem('hostile', { env: { CODE_TTL_SECONDS: '600' } });
  const portOf = (url: string) => Number(new URL(url).port);
  port = {
    authorize: portOf(system.urls.authorizeService),
    consent: portOf(system.urls.consentUi),
    token: portOf(system.urls.tokenService),
    validation: portOf(system.validationServiceUrl),
  };
  scope = await system.seed.scope('hostile');
  user = await system.seed.user();
  // A rule for resource checks to match hostile resources against (no groups: any owner).
  await system.seed.resource('/hostile/*', [scope]);
  resourceServer = await system.seed.resourceServer([scope]);
  known = await system.seed.client({ scopes: [scope], refreshTokens: true });
  barrage = await system.seed.client({ scopes: [scope], refreshTokens: true });
  victim = await system.seed.client({ scopes: [scope] });
  publicClient = await system.seed.client({
    scopes: [scope], type: 'public', redirectUris: ['https://public.example.com/cb', 'com.example.app:/cb'],
  });
  machine = await system.seed.client({ scopes: [scope], grantTypes: ['client_credentials'], redirectUris: [], refreshTokens: false });
  const { code, verifier } = await codeViaNats(system, known, user);
  const exchanged = await exchangeCode(system, known, code, verifier);
  assert.equal(exchanged.status, 200);
  const accessToken = exchanged.body.access_token as string;
  const [header, payload] = accessToken.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
  tokens = { accessToken, refreshToken: exchanged.body.refresh_token as string, kid: header!.kid as string, claims: payload! };
  ui = await signInToConsentUi(user);
  dpop = await dpopBoundToken();
});

/** A DPoP-bound access token (RFC 9449) and proofs for it that are each wrong in one way, whatever method and URL they come with. */
let dpop: { token: string; badProofs: string[] };
const DPOP_API = 'https://api.example.com/hostile/1';
async function dpopBoundToken(): Promise<typeof dpop> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const now = () => Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}, key = privateKey) =>
    new SignJWT({ jti: randomToken(12), htm: 'POST', htu: `${system.urls.tokenService}/token`, iat: now(), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk, ...header }).sign(key);
  const { code, verifier } = await codeViaNats(system, known, user);
  const res = await fetch(`${system.urls.tokenService}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await sign({}),
      authorization: `Basic ${Buffer.from(`${known.clientId}:${known.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: known.redirectUri, code_verifier: verifier }),
  });
  const token = ((await res.json()) as { access_token: string }).access_token;
  const forToken = { htm: 'GET', htu: DPOP_API, ath: accessTokenHash(token) };
  const other = await generateKeyPair('ES256', { extractable: true });
  const raw = (header: object) => `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(forToken)).toString('base64url')}.c2ln`;
  const badProofs = await Promise.all([
    sign(forToken, { typ: 'JWT' }),
    raw({ alg: 'none', typ: 'dpop+jwt', jwk }),
    raw({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } }),
    sign(forToken, { jwk: { ...jwk, d: 'AAAA' } }),
    sign(forToken, { pad: 'x'.repeat(4000) }),
    sign({ ...forToken, iat: now() - 3600 }),
    sign({ ...forToken, iat: now() + 3600 }),
    sign({ ...forToken, ath: accessTokenHash('another token') }),
    sign({ ...forToken, htm: 'PUT' }),
    sign({ ...forToken, htu: 'https://api.example.com/elsewhere' }),
    sign(forToken, {}, other.privateKey),
    sign({ ...forToken, jti: undefined }),
  ]);
  return { token, badProofs };
}

after(async () => {
  console.log(tried.report('hostile inputs per endpoint and subject', ` HTTP and NATS inputs in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`));
  await system?.stop();
});

/** Signs in through the real sign-in form and returns the session and an anti-CSRF pair. */
async function signInToConsentUi(owner: SeededUser): Promise<{ session: string; csrfCookie: string; csrfToken: string }> {
  const page = await fetch(`${system.urls.consentUi}/ui/`);
  const csrfCookie = /(?:^|,\s*)csrf=([^;]+)/.exec(page.headers.getSetCookie().join(', '))?.[1];
  const csrfToken = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  assert.ok(csrfCookie && csrfToken, 'the sign-in page sets an anti-CSRF cookie and field');
  const res = await fetch(`${system.urls.consentUi}/ui/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `csrf=${csrfCookie}` },
    body: new URLSearchParams({ _csrf: csrfToken, username: owner.username, password: owner.password }),
  });
  assert.equal(res.status, 303);
  const session = /(?:^|,\s*)session=([^;]+)/.exec(res.headers.getSetCookie().join(', '))?.[1];
  assert.ok(session);
  return { session, csrfCookie, csrfToken };
}

// ---------------------------------------------------------------------------------------------
// Running a barrage and judging answers
// ---------------------------------------------------------------------------------------------

/** The barrage running now, whose answers `send` and `natsAsk` record. */
let current = '';

/**
 * Inputs of one barrage in flight at once. The services answer concurrently (and in CI they share
 * two cores with the test), so a small pool keeps them busy without queueing requests past their
 * deadline; every request still has its own deadline (REQUEST_DEADLINE_MS).
 */
const CONCURRENCY = 8;

type BarrageOptions = {
  /** Collections a barrage may change (failure records of throttling), or a function deciding it afterwards. */
  mayChange?: string[] | (() => string[]);
  /** Inputs sent at once; 1 for a barrage whose checks must not overlap. */
  concurrency?: number;
  /** Waits, before the second snapshot, for work the inputs started without an answer (publishes). */
  settle?: () => Promise<void>;
};

/**
 * Runs `check` over at least `numRuns` inputs of `arbitrary` between two database snapshots:
 * nothing may change but the collections named in `mayChange`. fast-check draws the inputs in
 * batches of `concurrency`, sent at once; a failure names the input that failed (and fast-check
 * then shrinks the batch).
 */
async function barrageOf<T>(name: string, arbitrary: fc.Arbitrary<T>, numRuns: number, check: (input: T) => Promise<void>, options: BarrageOptions = {}) {
  const batch = options.concurrency ?? CONCURRENCY;
  current = name;
  const beforeState = await dbState(system.db);
  const started = performance.now();
  await fc.assert(fc.asyncProperty(fc.array(arbitrary, { minLength: batch, maxLength: batch }), async (inputs) => {
    tried.add(name, inputs.length);
    const outcomes = await Promise.allSettled(inputs.map((input) => check(input)));
    const at = outcomes.findIndex((o) => o.status === 'rejected');
    if (at < 0) return;
    const reason = (outcomes[at] as PromiseRejectedResult).reason as unknown;
    if (reason instanceof Error) reason.message = `${name}, input ${at} of the batch: ${fc.stringify(inputs[at]).slice(0, 600)}\n${reason.message}`;
    throw reason;
  }), fcOptions(Math.ceil(numRuns / batch)));
  await options.settle?.();
  tried.took(name, performance.now() - started);
  const mayChange = typeof options.mayChange === 'function' ? options.mayChange() : options.mayChange ?? [];
  const afterState = await dbState(system.db);
  const changed = changedCollections(beforeState, afterState).filter((c) => !mayChange.includes(c));
  assert.deepEqual(changed, [], `${name}: hostile input changed the database:\n${describeChanges(beforeState, afterState, changed)}`);
}

/** " invalid_grant" for a JSON error body, for the report. */
function errorCodeOf(res: RawResponse): string {
  if (!res.headers['content-type']?.startsWith('application/json')) return '';
  try {
    const error = (JSON.parse(res.body.toString('utf8')) as { error?: unknown }).error;
    return typeof error === 'string' ? ` ${error}` : '';
  } catch {
    return '';
  }
}

/** Sends one raw request; a hang (no answer, no close within the deadline) throws. */
async function send(to: number, request: RawRequest): Promise<RawResponse> {
  const res = await rawRequest(to, request, REQUEST_DEADLINE_MS);
  tried.answer(current, res.kind === 'response' ? `${res.status}${errorCodeOf(res)}` : 'closed');
  assert.equal(res.kind, 'response', `the server closed the connection without answering: ${res.kind === 'closed' ? res.error ?? '' : ''}`);
  return res as RawResponse;
}

const describeResponse = (res: RawResponse) =>
  `${res.status} ${res.headers['content-type'] ?? ''} ${res.headers.location ?? ''} ${res.body.toString('latin1').slice(0, 300)}`;

/** Never a 5xx, whatever came in. */
function assertNoServerError(res: RawResponse): void {
  assert.ok(res.status < 500, `server error: ${describeResponse(res)}`);
}

const TOKEN_ERRORS = ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope', 'invalid_target'];
const ASCII_DESCRIPTION = /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/; // RFC 6749 §5.2: no '"' or '\'

/** A JSON error: 4xx, `error` one of `codes`, `error_description` (if any) plain ASCII that never echoes input. */
function assertJsonError(res: RawResponse, codes: readonly string[], method = 'POST'): Record<string, unknown> {
  assertNoServerError(res);
  assert.ok(res.status >= 400 && res.status < 500, `expected a 4xx: ${describeResponse(res)}`);
  if (method === 'HEAD') return {};
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, describeResponse(res));
  const body = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
  assert.ok(codes.includes(body.error as string), `unexpected error code: ${describeResponse(res)}`);
  if (body.error_description !== undefined) assert.match(body.error_description as string, ASCII_DESCRIPTION);
  return body;
}

/** RFC 6749 §5.2 on /token and /revoke (and RFC 7662 on /introspect): status, code, challenge, no caching. */
function assertOAuthError(res: RawResponse, codes = TOKEN_ERRORS): void {
  // A request the HTTP parser refused never reached the endpoint: a plain invalid_request.
  const body = assertJsonError(res, [...codes, 'invalid_request']);
  if (res.status === 401) {
    assert.equal(body.error, 'invalid_client');
    assert.ok(res.headers['www-authenticate'], 'invalid_client comes with WWW-Authenticate');
  } else if (res.status !== 400) {
    // 413 body too large, 415 not a form, 417 an Expect we do not support, 431 headers too large.
    assert.ok([413, 415, 417, 431].includes(res.status), describeResponse(res));
    assert.equal(body.error, 'invalid_request');
  }
  assert.equal(res.headers['cache-control'], 'no-store', 'RFC 6749 §5.1: never cached');
}

/** consent-ui: an HTML page (4xx error page, or 200 for a page such as sign-in) that loads nothing and echoes no markup. */
function assertHtmlPage(res: RawResponse, method: string): void {
  assertNoServerError(res);
  if (method === 'HEAD') return;
  assert.match(res.headers['content-type'] ?? '', /^text\/html/, describeResponse(res));
  const html = res.body.toString('utf8');
  assert.match(html, /<h1>[^<]+<\/h1>/);
  // Escaped input may still read "onload=" as text inside a quoted attribute; what must never
  // appear is a tag, or an attribute breaking out of its quotes.
  assert.doesNotMatch(html, /<script|<svg|<img|<iframe|["']\s*on[a-z]+\s*=/i, 'no markup from the input reaches the page');
  assert.ok(res.headers['x-frame-options'] === 'DENY' || /frame-ancestors 'none'/.test(res.headers['content-security-policy'] ?? ''));
}

/** Statuses of requests refused before any route (framing, header size, bad URL, Expect). */
const isParserRefusal = (res: RawResponse) =>
  res.status === 400 || res.status === 413 || res.status === 414 || res.status === 417 || res.status === 431;

// ---------------------------------------------------------------------------------------------
// Arbitraries shared by the HTTP barrages
// ---------------------------------------------------------------------------------------------

/** RFC 6749 §2.3.1: form-encoded id and secret (a lone surrogate as its WTF-8 bytes), then Basic. */
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;

type Credentials = { header?: string; form: WirePair[] };

/** Client credentials, right and wrong: every authentication method, two at once, malformed headers. */
function credentials(): fc.Arbitrary<Credentials> {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const secret = barrage.clientSecret!;
  const knownSecret = known.clientSecret!;
  const right = fc.constantFrom<Credentials>(
    { header: basic(barrage.clientId, secret), form: [] },
    { form: [['client_id', encode(barrage.clientId)], ['client_secret', encode(secret)]] },
    { header: basic(known.clientId, knownSecret), form: [] },
    { form: [['client_id', encode(publicClient.clientId)]] },
  );
  const wrong = fc.oneof(
    fc.constant<Credentials>({ form: [] }),
    junkText.map((s): Credentials => ({ header: basic(victim.clientId, s || 'x'), form: [] })),
    junkText.map((s): Credentials => ({ form: [['client_id', encode(victim.clientId)], ['client_secret', encode(s)]] })),
    fc.tuple(junkText, junkText).map(([id, s]): Credentials => ({ header: basic(id, s), form: [] })),
    fc.tuple(wireComponent, wireComponent).map(([id, s]): Credentials => ({ form: [['client_id', id], ['client_secret', s]] })),
    fc.constant<Credentials>({ header: basic(barrage.clientId, secret), form: [['client_secret', encode(secret)]] }),
    fc.constant<Credentials>({ header: basic(barrage.clientId, secret), form: [['client_id', encode(victim.clientId)]] }),
    fc.constant<Credentials>({ form: [['client_id', encode(barrage.clientId)], ['client_id', encode(barrage.clientId)], ['client_secret', encode(secret)]] }),
    junkHeaderValue().map((v): Credentials => ({ header: v, form: [] })),
    fc.constantFrom(
      'Basic', 'Basic ', 'Basic %%%', 'Basic Og==', `Basic ${b64(':')}`, `Basic ${b64('%ZZ:%ZZ')}`, 'Bearer x', `basic ${b64(`${barrage.clientId}:${secret}`)}`,
      `Basic ${'A'.repeat(3000)}`, `Basic ${b64('\u0000:\u0000')}`,
    ).map((h): Credentials => ({ header: h, form: [] })),
  );
  // Half of them right, so that most requests get past client authentication.
  return fc.oneof(right, wrong);
}

const FORM = 'application/x-www-form-urlencoded';

/** A form body in one of many shapes, under one of many content types, or something else entirely. */
type Body = { contentType?: string; body?: Buffer | string; extraHeaders: [string, string][]; oversized?: true };

function formBody(pairs: fc.Arbitrary<WirePair[]>, auth?: fc.Arbitrary<Credentials>): fc.Arbitrary<Body> {
  const form = fc.tuple(pairs, auth ?? fc.constant<Credentials>({ form: [] }), fc.constantFrom(...CONTENT_TYPES), fc.nat(9), junkHeaders)
    .map(([p, a, type, pick, extra]): Body => {
      const headers: [string, string][] = [...extra];
      if (a.header !== undefined) headers.push(['authorization', a.header]);
      // Mostly the right content type, so that the form is read and its parameters judged.
      return { contentType: pick < 8 ? FORM : type, body: serializePairs([...a.form, ...p]), extraHeaders: headers };
    });
  const other: fc.Arbitrary<Body> = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => ({ contentType: 'application/json', body: Buffer.from(JSON.stringify(v) ?? 'null'), extraHeaders: [] })),
    fc.tuple(fc.integer({ min: 100, max: 7000 }), fc.constantFrom<'array' | 'object'>('array', 'object'), fc.constantFrom('application/json', FORM))
      .map(([depth, kind, type]) => ({ contentType: type, body: deepJson(depth, kind), extraHeaders: [] })),
    fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...CONTENT_TYPES))
      .map(([b, type]) => ({ contentType: type, body: Buffer.from(b), extraHeaders: [] })),
    fc.constantFrom(...CONTENT_TYPES).map((type) => ({ contentType: type, extraHeaders: [] })),
    fc.constant<Body>({ extraHeaders: [] }),
    fc.constant<Body>({ body: 'grant_type=authorization_code', extraHeaders: [] }),
    fc.constant<Body>({ contentType: FORM, body: 'a=1', extraHeaders: [['content-type', 'application/json']] }),
    // Over the 16 KiB body limit: 413.
    fc.integer({ min: 16 * 1024 + 1, max: 64 * 1024 })
      .map((n): Body => ({ contentType: FORM, body: `token=${'x'.repeat(n)}`, extraHeaders: [], oversized: true })),
  );
  return fc.oneof({ weight: 6, arbitrary: form }, { weight: 1, arbitrary: other });
}

function postRequest(target: string, body: Body, cookie?: string): RawRequest {
  const headers: [string, string][] = [];
  if (body.contentType !== undefined) headers.push(['content-type', body.contentType]);
  if (cookie !== undefined) headers.push(['cookie', cookie]);
  headers.push(...body.extraHeaders);
  const content = body.body ?? (body.contentType !== undefined ? '' : undefined);
  // Now and then chunked rather than with a length: the body limit must hold either way.
  const chunked = content !== undefined && content.length % 5 === 1 ? 1 + (content.length % 4000) : undefined;
  return { method: 'POST', target, headers, body: content, ...(chunked ? { chunked } : {}) };
}


// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

describe('authorize-service GET /authorize under hostile input', () => {
  type AuthorizeInput = {
    defects: readonly string[]; client: 'known' | 'public'; pairs: WirePair[]; pageDefect: boolean; redirectDefect: boolean;
    state: string | undefined; method: 'GET' | 'HEAD'; headers: [string, string][];
  };

  /**
   * A valid request with at least one defect applied. A defect in client_id or redirect_uri must
   * get an HTML page; any other must go back to the registered redirect URI with an error.
   */
  function authorizeInput(): fc.Arbitrary<AuthorizeInput> {
    const pageDefects = [
      'no-client', 'empty-client', 'unknown-client', 'repeated-client', 'unregistered-redirect', 'repeated-redirect', 'missing-redirect',
    ] as const;
    const redirectDefects = [
      'no-response-type', 'bad-response-type', 'repeated-param', 'bad-challenge', 'bad-method', 'method-alone', 'no-pkce-public', 'no-scope', 'bad-scope',
      'long-state', 'bad-resource',
    ] as const;
    const defect = fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...pageDefects) }, { weight: 2, arbitrary: fc.constantFrom(...redirectDefects) });
    return fc.record({
      client: fc.constantFrom<'known' | 'public'>('known', 'public'),
      defects: fc.uniqueArray(defect, { minLength: 1, maxLength: 3 }),
      state: fc.option(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(...['<script>alert(1)</script>', '"&\'<>', '💥', 'a b+c'])), { nil: undefined }),
      junk: fc.array(junkText, { minLength: 8, maxLength: 8 }),
      junkValues: fc.array(wireComponent, { minLength: 3, maxLength: 3 }),
      noise: fc.array(fc.tuple(junkText.map((n) => `x_${encode(n)}`), wireComponent), { maxLength: 3 }),
      repeated: fc.constantFrom('response_type', 'scope', 'state', 'code_challenge', 'code_challenge_method'),
      method: fc.constantFrom<'GET' | 'HEAD'>('GET', 'GET', 'GET', 'HEAD'),
      headers: junkHeaders,
      order: fc.nat(),
    }).map(({ client: which, defects, state, junk, junkValues, noise, repeated, method, headers, order }): AuthorizeInput => {
      const client = which === 'known' ? known : publicClient;
      const has = (d: string) => (defects as readonly string[]).includes(d);
      const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
      const params: WirePair[] = [];
      const add = (name: string, value: string) => params.push([name, encode(value)]);
      if (!has('no-client')) add('client_id', has('empty-client') ? '' : has('unknown-client') ? `c_${junk[0]}` : client.clientId);
      if (has('repeated-client')) add('client_id', client.clientId);
      const redirect = client.redirectUri;
      const unregistered = [
        `${redirect}/`, redirect.toUpperCase(), `${redirect}?x=1`, redirect.replace('https://', 'http://'), `${redirect}#f`, junk[1]!, `${redirect}%00`,
      ].filter((u) => u !== redirect);
      if (has('unregistered-redirect')) add('redirect_uri', unregistered[order % unregistered.length]!);
      else if (!(has('missing-redirect') && which === 'public')) add('redirect_uri', redirect);
      if (has('repeated-redirect')) add('redirect_uri', redirect);
      if (!has('no-response-type')) add('response_type', has('bad-response-type') ? ['token', 'code token', 'CODE', '', junk[2]!][order % 5]! : 'code');
      const pkce = !(has('no-pkce-public') && which === 'public');
      const badChallenges = ['', 'short', `${challenge}A`, challenge.replace('E', '+'), junk[3]!];
      if (pkce && !has('method-alone')) add('code_challenge', has('bad-challenge') ? badChallenges[order % 5]! : challenge);
      if (pkce) add('code_challenge_method', has('bad-method') ? ['plain', 's256', '', 'S256 ', junk[4]!][order % 5]! : 'S256');
      const badScopes = [`${scope} "x"`, `${scope}  ${scope}`, `${scope}.unknown`, '', ` ${scope}`, junk[5]!]
        .filter((s) => s.split(' ').some((t) => t !== scope));
      if (!has('no-scope')) add('scope', has('bad-scope') ? badScopes[order % 5]! : scope);
      if (has('bad-resource')) add('resource', ['https://unregistered.example/', 'not a uri', `${resourceServer}#f`, junk[7]!][order % 4]!);
      else if (order % 4 === 0) add('resource', resourceServer);
      const sentState = has('long-state') ? 'x'.repeat(2049) : state;
      if (sentState !== undefined) add('state', sentState);
      if (has('repeated-param')) {
        if (repeated === 'state' && sentState === undefined) add('state', 'once');
        add(repeated, repeated === 'state' ? 'again' : junk[6]!);
      }
      for (const [n, v] of noise) params.push([n, v]);
      if (order % 3 === 0) params.push(['x_raw', junkValues[0]!]);
      // Shuffle deterministically by `order`: parameter order must not matter.
      const shuffled = params.map((p, i) => ({ p, k: (i * 7919 + order) % 104729 })).sort((a, b) => a.k - b.k).map((x) => x.p);
      // Judged from what is sent, as the server judges it (defects can cancel out: left out, then repeated).
      const clientIds = params.filter(([n]) => n === 'client_id').map(([, v]) => v);
      const redirects = params.filter(([n]) => n === 'redirect_uri').map(([, v]) => v);
      const pageDefect = clientIds.length !== 1 || clientIds[0] !== encode(client.clientId) || redirects.length > 1
        || (redirects.length === 0 && which === 'public') || (redirects.length === 1 && redirects[0] !== encode(redirect));
      const stateOnce = !(has('repeated-param') && repeated === 'state') && sentState !== undefined && sentState.length <= 2048 ? sentState : undefined;
      const redirectDefect = defects.some((d) => (redirectDefects as readonly string[]).includes(d) && (d !== 'no-pkce-public' || which === 'public'));
      return { defects, client: which, pairs: shuffled, pageDefect, redirectDefect, state: stateOnce, method, headers };
    }).filter((input) => input.pageDefect || input.redirectDefect);
  }

  it('answers every defective request with an HTML error page or an error redirect to the registered URI, changing nothing', async () => {
    await barrageOf('GET /authorize', authorizeInput(), RUNS.authorize, async (input) => {
      const res = await send(port.authorize, { method: input.method, target: `/authorize?${serializePairs(input.pairs)}`, headers: input.headers });
      assertNoServerError(res);
      if (res.headers['content-type']?.startsWith('application/json')) {
        // Refused before the route (raw bytes in the request line, an unsupported Expect): a plain invalid_request.
        assertJsonError(res, ['invalid_request'], input.method);
        return;
      }
      const client = input.client === 'known' ? known : publicClient;
      if (input.pageDefect) {
        assert.equal(res.status, 400, describeResponse(res));
        assert.equal(res.headers.location, undefined, 'never a redirect before the client and redirect URI are verified');
        if (input.method === 'GET') {
          assert.match(res.headers['content-type'] ?? '', /^text\/html/);
          assert.doesNotMatch(res.body.toString('utf8'), /<script|<svg|onload=/i);
        }
        return;
      }
      assert.equal(res.status, 302, describeResponse(res));
      const location = res.headers.location ?? '';
      assert.ok(location.startsWith(`${client.redirectUri}?`), `redirect only to the registered URI: ${location}`);
      const answer = new URL(location).searchParams;
      assert.ok(['invalid_request', 'unsupported_response_type', 'invalid_scope', 'unauthorized_client', 'invalid_target'].includes(answer.get('error')!), location);
      assert.match(answer.get('error_description') ?? '', ASCII_DESCRIPTION);
      assert.equal(answer.get('iss'), system.urls.issuer);
      assert.equal(answer.get('code'), null);
      if (input.state !== undefined && /^[\x20-\x7e]*$/.test(input.state)) assert.equal(answer.get('state'), input.state, 'state exactly as sent');
    });
  });
});

describe('every HTTP edge: odd methods, junk paths, junk queries and headers', () => {
  const edges = () => [
    { name: 'authorize-service', port: port.authorize, get: ['/.well-known/oauth-authorization-server', '/healthz', '/readyz', '/metrics'] },
    { name: 'consent-ui', port: port.consent, get: ['/healthz', '/readyz', '/metrics', '/', '/ui/', '/ui/authorizations'] },
    { name: 'token-service', port: port.token, get: ['/jwks.json', '/healthz', '/readyz', '/metrics'] },
    { name: 'validation-service', port: port.validation, get: ['/healthz', '/readyz', '/metrics'] },
  ];
  const JUNK_PATHS = [
    '/', '//', '/x', '/.well-known/', '/.well-known/openid-configuration', '/healthz/', '/HEALTHZ', '/metrics/../healthz', '/%2e%2e/%2e%2e/etc/passwd',
    '/ui', '/ui/%', '/ui/..', '/ui/authorize/', '/token/', '/jwks.json.bak', '/introspect/x', '/authorize/..;/healthz', '/%00', '/%ff', '/%', '/a%2Fb', '*',
    'http://evil.example/', '/' + 'a'.repeat(8000),
  ];
  const junkSegment = fc.oneof({ weight: 5, arbitrary: junkText.map(encode) }, { weight: 1, arbitrary: wireComponent });
  const junkSegments = fc.array(junkSegment, { minLength: 1, maxLength: 3 });

  it('answers 200 only on the GET routes, a 4xx with an error body everywhere else, never a 5xx', async () => {
    const input = fc.record({
      edge: fc.nat(3),
      method: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST') }, { weight: 2, arbitrary: fc.constantFrom(...METHODS) }),
      path: fc.oneof(
        fc.nat(20).map((i) => ({ known: i })),
        fc.constantFrom(...JUNK_PATHS).map((p) => ({ junk: p })),
        junkSegments.map((s) => ({ junk: `/${s.join('/')}` })),
      ),
      query: fc.option(wirePairs(['notice', 'handle', 'x']), { nil: undefined }),
      headers: junkHeaders,
      body: fc.option(fc.tuple(fc.constantFrom(...CONTENT_TYPES), fc.oneof(rawBytes(64), fc.jsonValue().map((v) => JSON.stringify(v) ?? ''))), {
        nil: undefined,
      }),
    });
    await barrageOf('any method, any path (4 edges)', input, RUNS.anyRoute, async ({ edge: e, method, path, query, headers, body }) => {
      const edge = edges()[e]!;
      const routePath = 'known' in path ? edge.get[path.known % edge.get.length]! : path.junk;
      const target = query ? `${routePath}?${serializePairs(query)}` : routePath;
      const extra: [string, string][] = body ? [['content-type', body[0]]] : [];
      tried.part('any method, any path (4 edges)', edge.name);
      const res = await send(edge.port, { method, target, headers: [...headers, ...extra], ...(body ? { body: body[1] } : {}) });
      assertNoServerError(res);
      const isGetRoute = 'known' in path && (method === 'GET' || method === 'HEAD');
      if (res.status === 200) {
        const isUiPage = edge.name === 'consent-ui' && (method === 'GET' || method === 'HEAD') && routePath.startsWith('/ui');
        assert.ok(isGetRoute || isUiPage, `200 for ${method} ${routePath}`);
        return;
      }
      if (res.status === 302 || res.status === 303) {
        // consent-ui sends a signed-in owner, or `/`, on to its own pages; never elsewhere.
        assert.equal(edge.name, 'consent-ui', describeResponse(res));
        assert.match(res.headers.location ?? '', /^\/ui\//);
        return;
      }
      assert.ok(res.status >= 400 && res.status < 500, describeResponse(res));
      if (method === 'HEAD') return;
      if (edge.name === 'consent-ui' && res.headers['content-type']?.startsWith('text/html')) assertHtmlPage(res, method);
      else assertJsonError(res, ['invalid_request', 'not_found'], method);
    });
  });

  it('refuses a request body over 16 KiB with 413 and an error body on every POST route', async () => {
    current = '413 body limit';
    const big = `a=${'x'.repeat(20 * 1024)}`;
    const form = 'application/x-www-form-urlencoded';
    for (const [to, target] of [[port.token, '/token'], [port.token, '/revoke'], [port.token, '/introspect'], [port.token, '/par']] as const) {
      for (const chunked of [undefined, 1000]) {
        tried.add('413 body limit');
        const res = await send(to, { method: 'POST', target, headers: [['content-type', form]], body: big, ...(chunked ? { chunked } : {}) });
        assert.equal(res.status, 413, `${target}${chunked ? ' (chunked)' : ''}: ${describeResponse(res)}`);
        assertOAuthError(res);
      }
    }
    for (const target of ['/ui/login', '/ui/consent', '/ui/logout', '/ui/authorizations/revoke']) {
      tried.add('413 body limit');
      const headers: [string, string][] = [['content-type', form], ['cookie', `csrf=${ui.csrfCookie}`]];
      const res = await send(port.consent, { method: 'POST', target, headers, body: `_csrf=${ui.csrfToken}&${big}` });
      assert.equal(res.status, 413, `${target}: ${describeResponse(res)}`);
      assertHtmlPage(res, 'POST');
    }
  });

  it('refuses headers over 16 KiB with 431 (or closes cleanly), on every edge, and serves the next request', async () => {
    current = '';
    for (const edge of edges()) {
      const oversized = [
        [['x-big', 'a'.repeat(17 * 1024)]], Array.from({ length: 400 }, (_, i) => [`x-h${i}`, 'b'.repeat(50)]), [['cookie', `session=${'c'.repeat(20_000)}`]],
      ] as [string, string][][];
      for (const headers of oversized) {
        tried.add('431 header limit');
        const res = await rawRequest(edge.port, { method: 'GET', target: '/healthz', headers }, REQUEST_DEADLINE_MS);
        tried.answer('431 header limit', res.kind === 'response' ? String(res.status) : 'closed');
        if (res.kind === 'response') {
          assert.equal(res.status, 431, `${edge.name}: ${describeResponse(res)}`);
          assertJsonError(res, ['invalid_request'], 'GET');
        }
        assert.equal((await send(edge.port, { method: 'GET', target: '/healthz' })).status, 200, `${edge.name} still answers`);
      }
    }
  });

  it('answers broken HTTP framing with 400 and a JSON error, never a hang', async () => {
    const framings: RawRequest[] = [
      { method: 'GET', target: '/healthz', bare: true, headers: [] }, // no Host
      { method: 'GET', target: '/health\u0000z', headers: [] },
      { method: 'GET', target: '/healthz\u00ff', headers: [] },
      { method: 'GET', target: '/healthz', headers: [['x-bad', 'a\u0000b']] },
      { method: 'GET', target: '/healthz', headers: [['bad header', 'x']] },
      { method: 'GET', target: '/healthz', headers: [['content-length', '1'], ['content-length', '2']], body: 'ab' },
      { method: 'POST', target: '/token', bare: true, headers: [['Host', 'x'], ['Transfer-Encoding', 'chunked'], ['Content-Length', '3']], body: '0\r\n\r\n' },
      { method: 'POST', target: '/token', bare: true, headers: [['Host', 'x'], ['Transfer-Encoding', 'chunked']], body: 'zz\r\nabc\r\n0\r\n\r\n' },
      { method: 'GET', target: 'healthz', headers: [] },
      { method: 'GET', target: '/healthz', headers: [['expect', 'teapot']] },
    ];
    for (const edge of edges()) {
      for (const request of framings) {
        tried.add('broken framing');
        const res = await rawRequest(edge.port, request, REQUEST_DEADLINE_MS);
        tried.answer('broken framing', res.kind === 'response' ? String(res.status) : 'closed');
        if (res.kind === 'closed') continue; // refused cleanly
        const what = `${edge.name} ${JSON.stringify(request)}: ${describeResponse(res)}`;
        assertNoServerError(res);
        assert.ok(isParserRefusal(res) || res.status === 404, what);
        assert.match(res.headers['content-type'] ?? '', /^application\/json/, what);
        assertJsonError(res, ['invalid_request', 'not_found'], 'GET');
      }
    }
  });
});

describe('token-service POST /token under hostile input', () => {
  it('answers RFC 6749 §5.2 JSON errors only, and consumes nothing', async () => {
    const pairs = wirePairs(['grant_type', 'code', 'redirect_uri', 'code_verifier', 'refresh_token', 'scope', 'resource'], {
      grant_type: fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom('authorization_code', 'refresh_token') },
        { weight: 1, arbitrary: fc.constantFrom('client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'AUTHORIZATION_CODE') },
      ),
      code: fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url')), junkText),
      redirect_uri: fc.constantFrom(known.redirectUri, barrage.redirectUri, 'https://evil.example/cb'),
      code_verifier: fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 96 }).map((b) => Buffer.from(b).toString('base64url')), junkText),
      refresh_token: refreshTokenLike(tokens),
      scope: fc.constantFrom(scope, `${scope} other`, 'openid', ''),
      resource: fc.constantFrom(resourceServer, 'https://unregistered.example/', `${resourceServer}#f`, 'relative', ''),
    }, { depth: 6 });
    // Now and then a DPoP header: junk (what HTTP lets through), or a proof that fails (refused before any grant is looked at).
    const withDpop = fc.tuple(formBody(pairs, credentials()), fc.option(fc.oneof(fc.constantFrom(...dpop.badProofs), junkHeaderValue().filter((v) => /^[\x21-\x7E][\x20-\x7E]*$/.test(v))), { freq: 4 }))
      .map(([body, proof]): typeof body => (proof == null || !proof.trim() ? body : { ...body, extraHeaders: [...body.extraHeaders, ['dpop', proof.trim()]] }));
    await barrageOf('POST /token', withDpop, RUNS.token, async (body) => {
      const res = await send(port.token, postRequest('/token', body));
      assertOAuthError(res, [...TOKEN_ERRORS, 'invalid_dpop_proof']);
      if (body.oversized) assert.equal(res.status, 413);
    }, { mayChange: ['client_auth_failures'] });
  });
});

describe('token-service POST /par (RFC 9126) under hostile input', () => {
  it('answers 201 with a request_uri, or an RFC 6749 JSON error, and stores nothing', async () => {
    const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
    const pairs = wirePairs(
      ['response_type', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method', 'resource', 'request_uri'], {
        response_type: fc.constantFrom('code', 'code', 'token'),
        redirect_uri: fc.constantFrom(barrage.redirectUri, known.redirectUri, publicClient.redirectUri, 'https://evil.example/cb'),
        scope: fc.constantFrom(scope, `${scope} other`, ''),
        state: fc.oneof(fc.string({ maxLength: 40 }), fc.constant('x'.repeat(2049))),
        code_challenge: fc.constantFrom(challenge, 'short'),
        code_challenge_method: fc.constantFrom('S256', 'plain'),
        resource: fc.constantFrom(resourceServer, 'https://unregistered.example/', 'relative'),
        request_uri: fc.constantFrom('urn:ietf:params:oauth:request_uri:abc', 'https://evil.example/r'),
      }, { depth: 5 },
    );
    await barrageOf('POST /par', formBody(pairs, credentials()), RUNS.par, async (body) => {
      const res = await send(port.token, postRequest('/par', body));
      if (res.status === 201) {
        const answer = JSON.parse(res.body.toString('utf8')) as { request_uri: string; expires_in: number };
        assert.match(answer.request_uri, /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]+$/);
        assert.ok(answer.expires_in > 0 && answer.expires_in <= 60);
        assert.equal(res.headers['cache-control'], 'no-store');
        return;
      }
      assertOAuthError(res, [...TOKEN_ERRORS, 'unsupported_response_type']);
      if (body.oversized) assert.equal(res.status, 413);
    }, { mayChange: ['client_auth_failures'] });
  });

  it('GET /authorize with a junk request_uri: the HTML error page, never a redirect, nothing taken', async () => {
    const prefix = 'urn:ietf:params:oauth:request_uri:';
    const input = fc.record({
      requestUri: fc.oneof(
        junkText,
        fc.uint8Array({ minLength: 40, maxLength: 400 }).map((b) => `${prefix}${Buffer.from(b).toString('base64url')}`),
        junkText.map((j) => `${prefix}${j}`),
      ),
      clientId: fc.constantFrom(known.clientId, publicClient.clientId, 'unknown'),
      extra: wirePairs(['scope', 'redirect_uri', 'response_type', 'request_uri'], { redirect_uri: fc.constant('https://evil.example/cb') }, { depth: 2 }),
    });
    await barrageOf('GET /authorize?request_uri', input, RUNS.requestUri, async ({ requestUri, clientId, extra }) => {
      const target = `/authorize?${serializePairs([['client_id', encode(clientId)], ['request_uri', encode(requestUri)], ...extra])}`;
      const res = await send(port.authorize, { method: 'GET', target, headers: [] });
      assertNoServerError(res);
      if (res.headers['content-type']?.startsWith('application/json')) {
        assertJsonError(res, ['invalid_request'], 'GET'); // refused before the route (raw bytes in the request line)
        return;
      }
      assert.equal(res.status, 400, describeResponse(res));
      assert.equal(res.headers.location, undefined, 'never a redirect for an unusable request_uri');
      assert.match(res.headers['content-type'] ?? '', /^text\/html/);
    });
  });
});

describe('token-service POST /token grant_type=client_credentials under hostile input', () => {
  it('issues only the client\u2019s own scope, never a refresh token; anything else is an RFC 6749 error, and nothing is stored', async () => {
    const pairs = wirePairs(['grant_type', 'scope', 'refresh_token', 'code'], {
      grant_type: fc.oneof(
        { weight: 6, arbitrary: fc.constant('client_credentials') },
        { weight: 1, arbitrary: fc.constantFrom('client_credential', 'CLIENT_CREDENTIALS', 'client_credentials ', 'password', 'implicit', 'urn:x', '') },
      ),
      scope: fc.oneof(
        fc.constantFrom(scope, `${scope} ${scope}`, `${scope} other`, 'other', `${scope}\t`, ` ${scope}`, `${scope}  ${scope}`, '""', ''),
        junkText,
      ),
    }, { depth: 4 });
    const auth = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom<Credentials>(
        { header: basic(machine.clientId, machine.clientSecret!), form: [] },
        { form: [['client_id', encode(machine.clientId)], ['client_secret', encode(machine.clientSecret!)]] },
      ) },
      { weight: 1, arbitrary: credentials() },
    );
    await barrageOf('POST /token client_credentials', formBody(pairs, auth), RUNS.clientCredentials, async (body) => {
      const res = await send(port.token, postRequest('/token', body));
      if (res.status !== 200) {
        assertOAuthError(res);
        return;
      }
      const answer = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
      assert.equal(answer.scope, scope, describeResponse(res));
      assert.equal(answer.refresh_token, undefined);
      assert.equal(res.headers['cache-control'], 'no-store');
      const claims = JSON.parse(Buffer.from(String(answer.access_token).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      assert.equal(claims.sub, machine.clientId);
    }, { mayChange: ['client_auth_failures'] });
  });
});

describe('token-service POST /revoke under hostile input', () => {
  it('answers 200 with nothing revoked, or an RFC 6749 JSON error, and changes nothing', async () => {
    const pairs = wirePairs(['token', 'token_type_hint'], {
      token: fc.oneof(jwtLike(tokens), refreshTokenLike(tokens), junkText),
      token_type_hint: fc.constantFrom('access_token', 'refresh_token', 'id_token', ''),
    }, { depth: 5 });
    await barrageOf('POST /revoke', formBody(pairs, credentials()), RUNS.revoke, async (body) => {
      const res = await send(port.token, postRequest('/revoke', body));
      if (res.status === 200) {
        assert.equal(res.headers['cache-control'], 'no-store');
        return;
      }
      assertOAuthError(res);
    }, { mayChange: ['client_auth_failures'] });
  });
});

describe('token-service POST /introspect under hostile input', () => {
  it('answers exactly {"active":false} or an RFC 6749 JSON error, and changes nothing', async () => {
    const pairs = wirePairs(['token', 'token_type_hint'], {
      token: fc.oneof(fc.constant(tokens.accessToken), jwtLike(tokens), refreshTokenLike(tokens), junkText),
      token_type_hint: fc.constantFrom('access_token', 'refresh_token', ''),
    }, { depth: 5 });
    await barrageOf('POST /introspect', formBody(pairs, credentials()), RUNS.introspect, async (body) => {
      const res = await send(port.token, postRequest('/introspect', body));
      if (res.status === 200) {
        const answer = JSON.parse(res.body.toString('utf8')) as { active: boolean; client_id?: string };
        // Only the real token is active (the form is form-encoded, so its value arrives as sent).
        if (answer.active) assert.ok(body.body?.includes(encode(tokens.accessToken)) && answer.client_id === known.clientId, 'only the real token is active');
        else assert.deepEqual(answer, { active: false });
        return;
      }
      assertOAuthError(res);
      if (body.oversized) assert.equal(res.status, 413);
    });
  });
});

describe('consent-ui pages under hostile input', () => {
  const handle = fc.uint8Array({ minLength: 24, maxLength: 48 }).map((b) => Buffer.from(b).toString('base64url'));
  /** Cookies: the signed-in session (where `session` allows it), junk, or none; the anti-CSRF cookie, or junk. */
  const cookies = (session: 'allowed' | 'never') => fc.record({
    session: fc.oneof(fc.constant(undefined), session === 'allowed' ? fc.constant(ui.session) : fc.constant(undefined), wireComponent, handle),
    csrf: fc.oneof(
      { weight: 5, arbitrary: fc.constant(ui.csrfCookie) }, { weight: 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: wireComponent },
    ),
    extra: fc.option(junkHeaderValue(), { nil: undefined }),
  }).map(({ session: s, csrf, extra }) =>
    [s !== undefined ? `session=${s}` : '', csrf !== undefined ? `csrf=${csrf}` : '', extra ?? ''].filter(Boolean).join('; ') || undefined);

  const withCookie = (headers: [string, string][], cookie: string | undefined): [string, string][] =>
    (cookie ? [...headers, ['cookie', cookie]] : headers);

  /** Location of a consent-ui redirect: always one of its own pages. */
  function assertOwnRedirect(res: RawResponse): void {
    assert.equal(res.status, 303, describeResponse(res));
    // A handle is a sealed authorization request: base64url, up to MAX_SEALED_LENGTH characters.
    assert.match(res.headers.location ?? '', /^\/ui\/(authorize\?handle=[A-Za-z0-9_-]{32,12288}|authorizations|\?notice=signed-out)$/);
  }

  it('GET /ui/authorize: the "expired" page for any unknown or malformed handle', async () => {
    const input = fc.record({
      query: wirePairs(['handle', 'notice'], { handle }), cookie: cookies('allowed'), method: fc.constantFrom('GET', 'GET', 'HEAD'), headers: junkHeaders,
    });
    await barrageOf('GET /ui/authorize', input, RUNS.uiAuthorize, async ({ query, cookie, method, headers }) => {
      const res = await send(port.consent, { method, target: `/ui/authorize?${serializePairs(query)}`, headers: withCookie(headers, cookie) });
      if (res.headers['content-type']?.startsWith('application/json')) { assertJsonError(res, ['invalid_request'], method); return; }
      assert.equal(res.status, 400, describeResponse(res));
      assertHtmlPage(res, method);
    });
  });

  it('POST /ui/login: a sign-in page with an error, or an HTML error page; never a session for a wrong password', async () => {
    // Mostly a well-formed form, so that many attempts reach the password check (or, with a handle, authorize-service).
    const pairs = fc.tuple(
      wirePairs(
        ['_csrf', 'username', 'password'],
        { _csrf: fc.constant(ui.csrfToken), username: fc.oneof(fc.constantFrom(user.username, 'admin', ''), junkText) },
        { depth: 8, junkPairs: 1 },
      ),
      fc.oneof({ weight: 2, arbitrary: fc.constant<WirePair[]>([]) }, { weight: 1, arbitrary: handle.map((h): WirePair[] => [['handle', h]]) }),
    ).map(([p, h]) => [...(p.some(([n]) => n === '_csrf') ? p : [['_csrf', ui.csrfToken] as WirePair, ...p]), ...h]);
    const input = fc.record({ body: formBody(pairs), cookie: cookies('never') });
    await barrageOf('POST /ui/login', input, RUNS.uiLogin, async ({ body, cookie }) => {
      const res = await send(port.consent, postRequest('/ui/login', body, cookie));
      const sessions = res.setCookies.filter((c) => c.startsWith('session=') && !/max-age=0|expires=thu, 01 jan 1970/i.test(c));
      assert.equal(sessions.length, 0, 'no session for a failed sign-in');
      if (res.headers['content-type']?.startsWith('application/json')) { assertJsonError(res, ['invalid_request']); return; }
      assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), describeResponse(res));
      assertHtmlPage(res, 'POST');
      if (res.status === 200) assert.match(res.body.toString('utf8'), /Wrong username or password|Enter your username and password/);
    }, { mayChange: ['login_failures', 'login_locks'] });
  });

  it('POST /ui/consent: an HTML error page or a 303 back to the request; no decision, no consent stored', async () => {
    const pairs = wirePairs(['_csrf', 'handle', 'decision', 'remember'], {
      _csrf: fc.constant(ui.csrfToken), handle, decision: fc.constantFrom('allow', 'deny', 'approve'), remember: fc.constantFrom('on', 'off'),
    }, { depth: 6 });
    await barrageOf('POST /ui/consent', fc.record({ body: formBody(pairs), cookie: cookies('allowed') }), RUNS.uiConsent, async ({ body, cookie }) => {
      const res = await send(port.consent, postRequest('/ui/consent', body, cookie));
      if (res.status === 303) return assertOwnRedirect(res);
      if (res.headers['content-type']?.startsWith('application/json')) { assertJsonError(res, ['invalid_request']); return; }
      assert.ok(res.status >= 400 && res.status < 500, describeResponse(res));
      assertHtmlPage(res, 'POST');
    });
  });

  it('POST /ui/logout without a valid session: an HTML error page or a 303 to a consent-ui page', async () => {
    const pairs = wirePairs(['_csrf', 'handle'], { _csrf: fc.constant(ui.csrfToken), handle }, { depth: 6 });
    await barrageOf('POST /ui/logout', fc.record({ body: formBody(pairs), cookie: cookies('never') }), RUNS.uiLogout, async ({ body, cookie }) => {
      const res = await send(port.consent, postRequest('/ui/logout', body, cookie));
      if (res.status === 303) return assertOwnRedirect(res);
      if (res.headers['content-type']?.startsWith('application/json')) { assertJsonError(res, ['invalid_request']); return; }
      assert.ok(res.status >= 400 && res.status < 500, describeResponse(res));
      assertHtmlPage(res, 'POST');
    });
  });

  it('GET /ui/authorizations: the list for the session, else the sign-in page', async () => {
    const input = fc.record({
      query: wirePairs(['notice'], { notice: fc.constantFrom('revoked', 'signed-out') }), cookie: cookies('allowed'), headers: junkHeaders,
    });
    await barrageOf('GET /ui/authorizations', input, RUNS.uiAuthorizations, async ({ query, cookie, headers }) => {
      const res = await send(port.consent, { method: 'GET', target: `/ui/authorizations?${serializePairs(query)}`, headers: withCookie(headers, cookie) });
      if (res.headers['content-type']?.startsWith('application/json')) { assertJsonError(res, ['invalid_request'], 'GET'); return; }
      assert.equal(res.status, 200, describeResponse(res));
      assertHtmlPage(res, 'GET');
    });
  });

  it('POST /ui/authorizations/revoke with a malformed form: an HTML error page; nothing revoked', async () => {
    // With the real session the form always has a defect (a valid one would revoke, as it should).
    const defective = fc.tuple(
      wirePairs(['_csrf', 'client_id'], { _csrf: fc.constant(ui.csrfToken), client_id: fc.constantFrom(known.clientId, barrage.clientId) }),
      fc.constantFrom('extra-field', 'repeated-client', 'no-client', 'long-client', 'empty-client', 'bad-csrf'),
    ).map(([p, defect]): WirePair[] => {
      const rest = p.filter(([n]) => n !== '_csrf' && n !== 'client_id');
      const csrf: WirePair = ['_csrf', defect === 'bad-csrf' ? 'x' : ui.csrfToken];
      switch (defect) {
        case 'extra-field': return [csrf, ['client_id', encode(known.clientId)], ['x_extra', 'y'], ...rest];
        case 'repeated-client': return [csrf, ['client_id', encode(known.clientId)], ['client_id', encode(known.clientId)], ...rest];
        case 'no-client': return [csrf];
        case 'long-client': return [csrf, ['client_id', 'c'.repeat(129)]];
        case 'empty-client': return [csrf, ['client_id', '']];
        default: return [csrf, ['client_id', encode(known.clientId)]];
      }
    });
    const input = fc.oneof(
      fc.record({ body: formBody(defective), cookie: fc.constant(`session=${ui.session}; csrf=${ui.csrfCookie}`) }),
      fc.record({ body: formBody(wirePairs(['_csrf', 'client_id'], { _csrf: fc.constant(ui.csrfToken) }, { depth: 6 })), cookie: cookies('never') }),
    );
    await barrageOf('POST /ui/authorizations/revoke', input, RUNS.uiRevoke, async ({ body, cookie }) => {
      const res = await send(port.consent, postRequest('/ui/authorizations/revoke', body, cookie));
      if (res.status === 303) {
        assert.ok(!cookie?.includes(ui.session), 'a defective form with a real session is never carried out');
        return assertOwnRedirect(res);
      }
      if (res.headers['content-type']?.startsWith('application/json')) { assertJsonError(res, ['invalid_request']); return; }
      assert.ok(res.status >= 400 && res.status < 500, describeResponse(res));
      assertHtmlPage(res, 'POST');
    });
  });
});

// ---------------------------------------------------------------------------------------------
// NATS
// ---------------------------------------------------------------------------------------------

type NatsAnswer = { status?: string; serviceError?: string; body: unknown; raw: Uint8Array };

async function natsAsk(subject: string, data: Uint8Array, headers?: MsgHdrs): Promise<NatsAnswer> {
  const msg: Msg = await system.nc.request(subject, data, { timeout: REQUEST_DEADLINE_MS, ...(headers ? { headers } : {}) });
  tried.answer(current, msg.headers?.get('Nats-Service-Error-Code') ? `error ${msg.headers.get('Nats-Service-Error-Code')}` : 'reply');
  const status = msg.headers?.get('Nats-Service-Error-Code');
  return { status, serviceError: msg.headers?.get('Nats-Service-Error'), body: parseJson(msg.data), raw: msg.data };
}

/** Payloads for a NATS subject: junk bytes, invalid UTF-8, JSON of any shape, `fields` with junk values, deep nesting, oversize. */
function natsPayload(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Uint8Array> {
  const jsonOf = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null');
  const anyJsonValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), junkText, fc.integer(), fc.double(), fc.constant(null));
  const mostlyGood = (good: fc.Arbitrary<unknown>) => fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: anyJsonValue });
  const values = Object.fromEntries(Object.entries(fields).map(([k, good]) => [k, mostlyGood(good)]));
  const extraFields = fc.dictionary(fc.oneof(junkText, fc.constantFrom('__proto__', 'constructor')), anyJsonValue, { maxKeys: 2 });
  // Every field present (mostly with a good value, so many requests are well-formed), or any of them.
  const objectWith = fc.oneof(fc.record(values), fc.record(values, { requiredKeys: [] }));
  return fc.oneof(
    { weight: 12, arbitrary: fc.tuple(objectWith, extraFields).map(([o, extra]) => jsonOf({ ...extra, ...o })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map(jsonOf) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.tuple(objectWith, fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => b.map((x) => x | 0x80))).map(([o, bad]) => {
      const text = JSON.stringify(o) ?? '{}';
      return Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from(',"x":"'), Buffer.from(bad), Buffer.from('"}')]); // invalid UTF-8 inside a string
    }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('', ' ', '{', '{"token":', 'null', '"x"', '[]', '{}', '{"__proto__":{"token":"x"}}', '{"token":"x","token":1}')
        .map((s) => Buffer.from(s)),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: 1000, max: 60_000 }), fc.constantFrom<'array' | 'object'>('array', 'object'))
        .map(([d, k]) => Buffer.from(deepJson(d, k))),
    },
    { weight: 1, arbitrary: fc.integer({ min: MAX_REQUEST_BYTES - 64, max: 900 * 1024 }).map((n) => Buffer.from(JSON.stringify({ token: 'x'.repeat(n) }))) },
  );
}

/** Request headers: none, or junk request ids and deadlines. */
const natsRequestHeaders: fc.Arbitrary<MsgHdrs | undefined> = fc.option(
  fc.record({
    id: junkHeaderValue(),
    deadline: fc.oneof(junkHeaderValue(), fc.constantFrom('0', '-1', '1e309', String(Date.now() - 1000), 'NaN')),
  }, { requiredKeys: [] }).map(({ id, deadline }) => {
    const h = natsHeaders();
    if (id !== undefined) h.set('Request-Id', id.trim() || 'x');
    if (deadline !== undefined) h.set('Request-Deadline', deadline.trim() || '0');
    return h;
  }),
  { nil: undefined },
);

/** A NATS service error: the headers say 400 and the body is the endpoint's JSON refusal. */
function assertServiceError(answer: NatsAnswer, body?: unknown): void {
  assert.equal(answer.status, '400', `expected a 400 service error, got ${answer.status ?? 'a reply'}: ${Buffer.from(answer.raw).toString().slice(0, 200)}`);
  assert.ok(answer.serviceError);
  if (body !== undefined) assert.deepEqual(answer.body, body);
  else {
    const refusal = answer.body as { error?: string; error_description?: string };
    assert.equal(refusal.error, 'invalid_request');
    assert.match(refusal.error_description ?? '', ASCII_DESCRIPTION);
  }
}

const expectedValid = (data: Uint8Array, schema: { parse(v: unknown): unknown }) =>
  data.length <= MAX_REQUEST_BYTES && schema.parse(parseJson(data)) !== undefined;
const validateRequest = checker(TokenValidateRequestSchema);
const consentRevokeRequest = checker(ConsentRevokeRequestSchema);
const pushRequest = checker(AuthorizationPushRequestSchema);
const pushReply = checker(AuthorizationPushReplySchema);
const handleValue = fc.uint8Array({ minLength: 24, maxLength: 48 }).map((b) => Buffer.from(b).toString('base64url'));

const REQUEST_SUBJECTS = [
  Subjects.tokenValidate, Subjects.authorizationDescribe, Subjects.authorizationDecide, Subjects.consentRevoke, Subjects.authorizationPush,
];

/**
 * After publishes (which nobody answers): every request subject answers a request sent after them
 * (so its service has read them), and a moment more for the work they may have started.
 */
async function settleNats(): Promise<void> {
  await system.nc.flush();
  const was = current;
  current = '';
  for (const subject of REQUEST_SUBJECTS) await natsAsk(subject, Buffer.from('{}'));
  current = was;
  await new Promise((resolve) => setTimeout(resolve, 200));
}

/** Junk published on a broadcast subject (no reply), with junk headers now and then. */
async function broadcastBarrage(subject: string, payload: fc.Arbitrary<Uint8Array>, numRuns: number): Promise<void> {
  await barrageOf(subject, fc.tuple(payload, natsRequestHeaders), numRuns, async ([data, headers]) => {
    system.nc.publish(subject, data, headers ? { headers } : {});
  }, { settle: settleNats });
}

describe('NATS subjects under hostile input', () => {
  it('oauth.token.validate: {active:false, allowed:false, error:"invalid_request"} as a 400 service error, or invalid_token', async () => {
    const payload = natsPayload({
      // The real token too: with it, hostile scopes and resources reach the rule checks.
      token: fc.oneof(
        fc.constant(tokens.accessToken), jwtLike(tokens), refreshTokenLike(tokens), junkText, fc.integer({ min: 8190, max: 8200 }).map((n) => 'x'.repeat(n)),
        fc.constant(dpop.token),
      ),
      // DPoP (RFC 9449): only proofs that fail, with the method and URL of a request or junk.
      dpop: fc.oneof(fc.constantFrom(...dpop.badProofs), jwtLike(tokens), junkText, fc.integer({ min: 8190, max: 8200 }).map((n) => 'x'.repeat(n))),
      method: fc.oneof(fc.constantFrom('GET', 'get', 'POST', ''), junkText),
      url: fc.oneof(fc.constantFrom(DPOP_API, `${DPOP_API}?q=1#f`, 'not a url', 'ftp://api.example.com/hostile/1', ''), junkText),
      scopes: fc.oneof(
        { weight: 6, arbitrary: fc.array(fc.constantFrom(scope, 'other.scope', 'x'), { maxLength: 3 }) },
        { weight: 1, arbitrary: fc.array(fc.constantFrom(scope, 'x', '', 'a b', '"', '\u00e9'), { maxLength: 5 }) },
        { weight: 1, arbitrary: fc.array(fc.constant(scope), { minLength: 64, maxLength: 70 }) },
      ),
      resource: fc.oneof(fc.constantFrom('/hostile/1', '/hostile/', '/hostile', '/hostile/../admin', '/orders/1', '/', '*', ''), junkText),
    });
    await barrageOf('oauth.token.validate', fc.tuple(payload, natsRequestHeaders), RUNS.validate, async ([data, headers]) => {
      const answer = await natsAsk(Subjects.tokenValidate, data, headers);
      if (!expectedValid(data, validateRequest)) return assertServiceError(answer, { active: false, allowed: false, error: 'invalid_request' });
      assert.equal(answer.status, undefined, 'a well-formed request gets a reply');
      const request = validateRequest.parse(parseJson(data))!;
      if (request.token === dpop.token) {
        const error = request.dpop === undefined ? 'invalid_token' : 'invalid_dpop_proof';
        assert.deepEqual(answer.body, { active: false, allowed: false, error }, 'a bound token is never allowed without a good proof');
        return;
      }
      if (request.token !== tokens.accessToken) {
        assert.deepEqual(answer.body, { active: false, allowed: false, error: 'invalid_token' }, 'a hostile token is never active');
        return;
      }
      // The real token: allowed exactly when every scope was granted and a rule covers the resource.
      const reply = answer.body as { active: boolean; allowed: boolean; error?: string; sub?: string };
      const expected = request.scopes?.some((s) => s !== scope)
        ? 'insufficient_scope'
        : request.resource !== undefined && !request.resource.startsWith('/hostile/') ? 'access_denied' : undefined;
      assert.equal(reply.active, true);
      assert.equal(reply.sub, user.sub);
      assert.equal(reply.allowed, expected === undefined, JSON.stringify({ request: { ...request, token: '…' }, reply }));
      assert.equal(reply.error, expected);
    });
  });

  it('oauth.authorization.describe: a 400 invalid_request for anything but a pending request', async () => {
    const payload = natsPayload({ handle: fc.oneof(handleValue, junkText) });
    await barrageOf('oauth.authorization.describe', fc.tuple(payload, natsRequestHeaders), RUNS.describe, async ([data, headers]) => {
      assertServiceError(await natsAsk(Subjects.authorizationDescribe, data, headers));
    });
  });

  it('oauth.authorization.decide: a 400 invalid_request, no code issued, nothing stored', async () => {
    const payload = natsPayload({
      handle: fc.oneof(handleValue, junkText),
      decision: fc.constantFrom('approve', 'deny', 'allow'),
      sub: fc.oneof(fc.constant(user.sub), junkText),
      username: fc.oneof(fc.constant(user.username), junkText),
      auth_time: fc.oneof(fc.integer({ min: 0 }), fc.constantFrom(-1, 1.5, 1e300, Number.MAX_SAFE_INTEGER + 2)),
    });
    await barrageOf('oauth.authorization.decide', fc.tuple(payload, natsRequestHeaders), RUNS.decide, async ([data, headers]) => {
      assertServiceError(await natsAsk(Subjects.authorizationDecide, data, headers));
    });
  });

  it('oauth.consent.revoke: a 400 invalid_request for a malformed request; a well-formed one revokes nothing that exists', async () => {
    let wellFormed = 0;
    const payload = natsPayload({ sub: fc.oneof(junkText, fc.constant(user.sub)), client_id: fc.oneof(junkText, fc.constant(barrage.clientId)) })
      .filter((data) => {
        const r = consentRevokeRequest.parse(parseJson(data));
        return !(r?.sub === user.sub && r.client_id === known.clientId);
      });
    // A well-formed revoke records its cut-off (a revocation) even when nothing was issued yet:
    // only revocations may change, and only for well-formed requests.
    const mayChange = () => (wellFormed > 0 ? ['revocations'] : []);
    await barrageOf('oauth.consent.revoke', fc.tuple(payload, natsRequestHeaders), RUNS.consentRevoke, async ([data, headers]) => {
      const answer = await natsAsk(Subjects.consentRevoke, data, headers);
      if (!expectedValid(data, consentRevokeRequest)) return assertServiceError(answer);
      wellFormed++;
      assert.equal(answer.status, undefined);
      assert.deepEqual(answer.body, { revoked_families: 0 });
    }, { mayChange });
  });

  it('oauth.authorization.push: a 400 invalid_request for a malformed request; a well-formed one a request_uri or an OAuth refusal, storing nothing', async () => {
    const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
    const params = fc.record({
      response_type: fc.oneof(fc.constantFrom('code', 'token'), junkText),
      client_id: fc.oneof(fc.constantFrom(barrage.clientId, known.clientId), junkText),
      redirect_uri: fc.oneof(fc.constantFrom(barrage.redirectUri, 'https://evil.example/cb'), junkText),
      scope: fc.oneof(fc.constantFrom(scope, `${scope} other`), junkText),
      state: fc.oneof(fc.string({ maxLength: 40 }), fc.constant('x'.repeat(2049)), fc.constant('x'.repeat(4097))),
      code_challenge: fc.constantFrom(challenge, 'short', ''),
      code_challenge_method: fc.constantFrom('S256', 'plain'),
      request_uri: fc.constantFrom('urn:ietf:params:oauth:request_uri:abc'),
      resource: fc.oneof(fc.constant([resourceServer]), fc.array(fc.oneof(junkText, fc.constant('https://unregistered.example/')), { maxLength: 17 })),
    }, { requiredKeys: [] });
    // Often the parameters of a request authorize-service takes, so that hostile fields next to them reach the domain.
    const good = fc.record({ response_type: fc.constant('code'), redirect_uri: fc.constant(barrage.redirectUri), scope: fc.constant(scope) });
    const payload = natsPayload({
      client_id: fc.oneof(fc.constantFrom(barrage.clientId, barrage.clientId, publicClient.clientId, 'unknown'), junkText),
      params: fc.oneof(
        { weight: 4, arbitrary: good }, { weight: 1, arbitrary: fc.tuple(good, params).map(([g, p]) => ({ ...g, ...p })) }, { weight: 1, arbitrary: params },
      ),
    });
    const answered = { taken: 0, refused: 0 };
    await barrageOf('oauth.authorization.push', fc.tuple(payload, natsRequestHeaders), RUNS.push, async ([data, headers]) => {
      const answer = await natsAsk(Subjects.authorizationPush, data, headers);
      if (!expectedValid(data, pushRequest)) return assertServiceError(answer);
      if (answer.status === undefined) {
        assert.ok(pushReply.parse(answer.body), `a request_uri and its lifetime: ${JSON.stringify(answer.body).slice(0, 200)}`);
        answered.taken++;
        return;
      }
      answered.refused++;
      assert.equal(answer.status, '400', `a well-formed push is answered or refused, never a ${answer.status}`);
      const refusal = answer.body as { error?: string; error_description?: string };
      assert.ok([...TOKEN_ERRORS, 'unsupported_response_type'].includes(refusal.error!), JSON.stringify(refusal));
      assert.match(refusal.error_description ?? '', ASCII_DESCRIPTION);
    });
    assert.ok(answered.taken > 0 && answered.refused > 0, `well-formed pushes reached authorize-service's rules: ${JSON.stringify(answered)}`);
  });

  it('ignores junk on the broadcast subjects oauth.revocation.recorded, oauth.reference_data.changed and oauth.consent_ui.changed', async () => {
    const anyNumber = fc.oneof(fc.integer(), fc.nat(), fc.double(), fc.constant(1e300), fc.constant(-1));
    const revocations = natsPayload({
      kind: fc.constantFrom('jti', 'grant', 'subject_client', 'subject', 'client', 'clients', 'all'),
      key: fc.oneof(junkText, fc.constant('x'.repeat(513))),
      issued_before: anyNumber,
      issued_before_ms: anyNumber,
      expires_at: anyNumber,
    });
    // A junk revocation never names the known token, its grant, its owner or its client.
    const spared = [tokens.claims.jti as string, tokens.refreshToken.split('.')[0]!, user.sub, known.clientId];
    const names = new RegExp(spared.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));
    const harmless = revocations.filter((data) => !names.test(Buffer.from(data).toString('latin1')));
    await broadcastBarrage(Subjects.revocationRecorded, harmless, RUNS.revocationRecorded);
    // A well-formed one makes every service reload that kind from the database: a few hundred, not thousands.
    const kinds = natsPayload({ kind: fc.constantFrom('clients', 'users', 'scopes', 'resources', 'keys', 'all', 'Clients', '') });
    await broadcastBarrage(Subjects.referenceDataChanged, kinds, RUNS.referenceDataChanged);
    // Forgetting a cached read is harmless, so the known session's and consent's keys are among them.
    const consentUi = natsPayload({
      kind: fc.constantFrom('session', 'consent', 'Session', ''),
      key: fc.oneof(junkText, fc.constantFrom(sha256(ui.session), `${user.sub} ${known.clientId}`, 'x'.repeat(513))),
    });
    await broadcastBarrage(Subjects.consentUiChanged, consentUi, RUNS.consentUiChanged);
    // Requests without a reply subject: nobody to answer, nothing to break.
    const requests = fc.tuple(fc.constantFrom(...REQUEST_SUBJECTS), fc.oneof(fc.constant(Buffer.from('{"token":"x"}')), fc.uint8Array({ maxLength: 64 })));
    await barrageOf('request subjects without a reply subject', requests, RUNS.noReply, async ([subject, data]) => {
      system.nc.publish(subject, data);
    }, { settle: settleNats });
    await assertKnownTokenActive();
    await assertKnownSessionWorks();
  });

  it('answers no request whose reply subject is not an inbox, and acts on none (finding 3)', async () => {
    // Where a service must never publish at a requester's bidding: broadcasts, the audit stream, look-alikes of an inbox.
    const replies = ['hostile.reply', 'oauth.audit.hostile', Subjects.revocationRecorded, Subjects.referenceDataChanged, Subjects.consentUiChanged,
      '_INBOX', '_inbox.x', 'INBOX.x', '_INBOXX.x', '$SRV.x'] as const;
    const seen: Msg[] = [];
    // (Not `_INBOX.>`: this test's own requests are answered there.)
    const subs = replies.flatMap((r) => (r === '_INBOX' ? [r] : [r, `${r}.>`]))
      .map((subject) => system.nc.subscribe(subject, { callback: (_e, m) => void seen.push(m) }));
    await system.nc.flush();
    // Well-formed requests mostly (a service that acted on one would answer, or revoke: the snapshot would show it).
    const wellFormed: Record<string, unknown> = {
      [Subjects.tokenValidate]: { token: tokens.accessToken, scopes: [scope] },
      [Subjects.authorizationDescribe]: { handle: 'A'.repeat(43) },
      [Subjects.authorizationDecide]: { handle: 'A'.repeat(43), decision: 'approve', sub: user.sub, username: user.username, auth_time: 1 },
      [Subjects.consentRevoke]: { sub: user.sub, client_id: barrage.clientId },
      [Subjects.authorizationPush]: { client_id: barrage.clientId, params: { response_type: 'code', redirect_uri: barrage.redirectUri, scope } },
    };
    const input = fc.record({
      subject: fc.constantFrom(...REQUEST_SUBJECTS),
      reply: fc.tuple(fc.constantFrom(...replies), fc.option(fc.stringMatching(/^[a-z0-9]{1,8}$/), { nil: undefined }))
        // `_INBOX` with a tail would be an inbox: sent bare.
        .map(([r, tail]) => (tail === undefined || r === '_INBOX' ? r : `${r}.${tail}`)),
      junk: fc.option(fc.uint8Array({ maxLength: 64 }), { freq: 4, nil: undefined }),
    });
    await barrageOf('requests with a reply subject outside _INBOX.', input, RUNS.notInbox, async ({ subject, reply, junk }) => {
      system.nc.publish(subject, junk ?? Buffer.from(JSON.stringify(wellFormed[subject])), { reply });
    }, { settle: settleNats });
    for (const sub of subs) sub.unsubscribe();
    assert.deepEqual(seen.map((m) => m.subject), [], 'no service answered into a reply subject outside _INBOX.');
    await assertKnownTokenActive();
  });

  it('refuses a request over the services\' 64 KiB limit with 400 invalid_request, unparsed; over max_payload, the client refuses it', async () => {
    current = 'NATS over 64 KiB';
    const oversized = Buffer.from(JSON.stringify({ token: 'x'.repeat(MAX_REQUEST_BYTES), handle: 'x', sub: 'x', client_id: 'x' }));
    for (const subject of REQUEST_SUBJECTS) {
      tried.add('NATS over 64 KiB');
      const body = subject === Subjects.tokenValidate ? { active: false, allowed: false, error: 'invalid_request' } : undefined;
      assertServiceError(await natsAsk(subject, oversized), body);
    }
    tried.add('NATS over max_payload');
    await assert.rejects(() => natsAsk(Subjects.tokenValidate, Buffer.alloc(2 * 1024 * 1024, 0x61)), 'the client refuses a message over max_payload');
    await assertKnownTokenActive();
  });

  it('answers messages whose header block is malformed (the client library throws decoding it) and keeps running', async () => {
    const natsPort = Number(new URL(system.env.NATS_URL!).port);
    // Under _INBOX.: services answer no other reply subject (finding 3).
    const inbox = `_INBOX.hostile.${randomToken(6)}`;
    const replies: Msg[] = [];
    const sub = system.nc.subscribe(`${inbox}.>`, { callback: (_e, m) => void replies.push(m) });
    await system.nc.flush();
    const socket = tcpConnect({ host: '127.0.0.1', port: natsPort });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n');
    const blocks = [
      'NATS/1.0\r\nBad Key: v\r\n\r\n', 'NATS/1.0\r\n\u00ff\u00fe: v\r\n\r\n', 'NATS/1.0 503\r\n\r\n', 'NATS/1.0 x y z\r\nRequest-Id: a\r\n\r\n',
      'NATS/1.0\r\nRequest-Id: \u00ff\r\n\r\n', 'NATS/1.0\r\n:\r\n\r\n',
    ];
    const requestSubjects: string[] = REQUEST_SUBJECTS;
    const expected = new Set<string>();
    for (const subject of [...requestSubjects, Subjects.revocationRecorded, Subjects.referenceDataChanged, Subjects.consentUiChanged, '$SRV.PING']) {
      for (const [i, block] of blocks.entries()) {
        const header = Buffer.from(block, 'latin1');
        const body = Buffer.from('{"token":"x","handle":"x"}');
        const replyTo = `${inbox}.${subject.replaceAll('.', '_').replace('$', '')}.${i}`;
        const line = Buffer.from(`HPUB ${subject} ${replyTo} ${header.length} ${header.length + body.length}\r\n`);
        socket.write(Buffer.concat([line, header, body, Buffer.from('\r\n')]));
        tried.add('malformed NATS headers');
        if (requestSubjects.includes(subject)) expected.add(replyTo);
      }
    }
    socket.write('PING\r\n');
    const deadline = Date.now() + REQUEST_DEADLINE_MS;
    const unanswered = () => [...expected].filter((s) => !replies.some((m) => m.subject === s));
    while (unanswered().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    sub.unsubscribe();
    assert.deepEqual(unanswered(), [], 'every request with a malformed header block was answered');
    for (const reply of replies.filter((m) => expected.has(m.subject))) {
      const code = reply.headers?.get('Nats-Service-Error-Code');
      assert.ok(code === undefined || code === '' || code === '400', `${reply.subject}: answered as a request, never a 5xx (got ${code})`);
    }
    await assertKnownTokenActive();
  });
});

// ---------------------------------------------------------------------------------------------
// After the barrage
// ---------------------------------------------------------------------------------------------

async function assertKnownTokenActive(): Promise<void> {
  current = '';
  const answer = await natsAsk(Subjects.tokenValidate, Buffer.from(JSON.stringify({ token: tokens.accessToken, scopes: [scope] })));
  assert.equal((answer.body as { active?: boolean }).active, true, `the known access token is still active: ${JSON.stringify(answer.body)}`);
  assert.equal((answer.body as { allowed?: boolean }).allowed, true);
}

async function assertKnownSessionWorks(): Promise<void> {
  const page = await fetch(`${system.urls.consentUi}/ui/authorizations`, {
    headers: { cookie: `session=${ui.session}` }, signal: AbortSignal.timeout(REQUEST_DEADLINE_MS),
  });
  assert.equal(page.status, 200);
  assert.match(await page.text(), new RegExp(`Signed in as <strong>${user.username}</strong>`));
}

describe('after the barrage', () => {
  it('the known access token is active, introspects as active, its session works, and its refresh token still rotates', async () => {
    await assertKnownTokenActive();
    const introspection = await fetch(`${system.urls.tokenService}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(known.clientId, known.clientSecret!) },
      body: new URLSearchParams({ token: tokens.accessToken }),
    });
    assert.equal(introspection.status, 200);
    assert.equal(((await introspection.json()) as { active: boolean }).active, true);
    await assertKnownSessionWorks();
    for (const edge of [port.authorize, port.consent, port.token, port.validation]) {
      assert.equal((await send(edge, { method: 'GET', target: '/readyz' })).status, 200);
    }
    const refreshed = await refreshRequest(system, known, tokens.refreshToken);
    assert.equal(refreshed.status, 200, `the known refresh token still works: ${JSON.stringify(refreshed.body)}`);
  });
});
