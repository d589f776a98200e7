// HTTP edge of consent-ui: the sign-in, consent and "Your authorizations" pages. Routes parse with
// a schema, call one domain function and map its result to a page or a redirect; every page is
// server-rendered (eta, escaped), loads nothing, cannot be framed, is never cached, and every form
// carries an anti-CSRF token.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import cookie from '@fastify/cookie';
import csrfProtection from '@fastify/csrf-protection';
import helmet from '@fastify/helmet';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Eta } from 'eta';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ClientId, Handle } from '#shared/contracts/common.ts';
import { checker } from '#shared/contracts/checker.ts';
import { BODY_LIMIT_BYTES, clientErrorStatus, isUnavailable } from '#shared/http/create-http-server.ts';
import { isOAuthError } from '#shared/oauth-error.ts';
import type { ClientDoc } from '#shared/reference-data/clients.ts';
import type { AuthorizationDescription } from './request-descriptions.ts';
import { contentSecurityPolicy, formActionSources, styleHash } from './page-security.ts';
import { signOut, type SignOutDeps } from './session.ts';
import { readSession, sessionCookieNames, type ReadSessionDeps, type Session } from '#shared/signed-in/session.ts';
import { submitSignIn, type Deps as SubmitSignInDeps, type SubmitSignInResult } from './submit-sign-in.ts';
import { showAuthorization, type Deps as ShowDeps } from './show-authorization.ts';
import { decideConsent, type Deps as DecideDeps } from './decide-consent.ts';
import { listAuthorizations, type Deps as ListDeps } from './list-authorizations.ts';
import { revokeAuthorization, type Deps as RevokeDeps } from './revoke-authorization.ts';

export type HttpDeps = {
  session: ReadSessionDeps;
  signIn: SubmitSignInDeps;
  signOut: SignOutDeps;
  show: ShowDeps;
  decide: DecideDeps;
  list: ListDeps;
  revoke: RevokeDeps;
  findClient(id: string): Promise<ClientDoc | undefined>;
  /** True when consent-ui's public URL is https: cookies are then Secure with the __Host- prefix. */
  secureCookies: boolean;
  sessionTtlSeconds: number;
};

const views = fileURLToPath(new URL('./views', import.meta.url));
const eta = new Eta({ views, autoEscape: true, cache: true });
const css = readFileSync(`${views}/style.css`, 'utf8').trim();
const STYLE_SOURCE = styleHash(css);

export const SIGN_IN_FAILED = 'Wrong username or password.';
const SIGN_IN_MISSING = 'Enter your username and password.';

// Forms: application/x-www-form-urlencoded only; every field a single bounded string; unknown or
// repeated fields are refused (TypeBox checks exactly, with no coercion and nothing removed).
const CsrfField = Type.String({ minLength: 1, maxLength: 256 });
const SignInBodySchema = Type.Object({
  _csrf: CsrfField,
  username: Type.String({ maxLength: 128 }),
  password: Type.String({ maxLength: 1024 }),
  handle: Type.Optional(Handle),
}, { additionalProperties: false });
const ConsentBodySchema = Type.Object({
  _csrf: CsrfField,
  handle: Handle,
  decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  remember: Type.Optional(Type.Literal('on')),
}, { additionalProperties: false });
const SignOutBodySchema = Type.Object({ _csrf: CsrfField, handle: Type.Optional(Handle) }, { additionalProperties: false });
const RevokeBodySchema = Type.Object({ _csrf: CsrfField, client_id: ClientId }, { additionalProperties: false });
const handleQuery = checker(Type.Object({ handle: Handle }));
const noticeQuery = checker(Type.Object({ notice: Type.Optional(Type.Union([Type.Literal('signed-out'), Type.Literal('revoked')])) }));

type ErrorPage = { status: number; heading: string; message: string; hint?: string };

const EXPIRED: ErrorPage = {
  status: 400,
  heading: 'This sign-in request has expired',
  message: 'The request is unknown, was already answered, or took too long.',
  hint: 'Go back to the application you came from and start again.',
};
const UNAVAILABLE: ErrorPage = {
  status: 503,
  heading: 'Please try again in a moment',
  message: 'The service is temporarily unavailable.',
  hint: 'Go back and try again in a moment.',
};
const FAILED: ErrorPage = {
  status: 500,
  heading: 'Something went wrong',
  message: 'The server could not complete the request.',
  hint: 'Go back and try again.',
};

export async function registerRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const cookieNames = sessionCookieNames(deps.secureCookies);
  // Lax, not Strict: the browser arrives here through a redirect chain that began on the client's
  // site, and the session must come along for a remembered consent to be honoured.
  const cookieOptions = { path: '/', httpOnly: true, sameSite: 'lax', secure: deps.secureCookies } as const;

  // Forms only: no JSON or text bodies anywhere in this service.
  app.removeAllContentTypeParsers();
  await app.register(formbody, { bodyLimit: BODY_LIMIT_BYTES });
  await app.register(cookie);
  await app.register(csrfProtection, {
    cookieKey: cookieNames.csrf,
    cookieOpts: cookieOptions,
    getToken: (request) => {
      const token = (request.body as Record<string, unknown> | null | undefined)?._csrf;
      return typeof token === 'string' ? token : undefined;
    },
  });
  await app.register(helmet, {
    global: true,
    // Set below per page: form-action depends on the page (see page-security.ts).
    contentSecurityPolicy: false,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: deps.secureCookies ? { maxAge: 31_536_000, includeSubDomains: false } : false,
    // A client may open the authorization request in a popup and rely on window.opener once the
    // popup is back on its redirect URI; COOP same-origin would sever that link for good.
    crossOriginOpenerPolicy: false,
  });
  app.addHook('onRequest', async (_request, reply) => {
    reply
      .header('cache-control', 'no-store')
      .header('pragma', 'no-cache')
      .header('content-security-policy', contentSecurityPolicy(STYLE_SOURCE));
  });

  app.get('/', async (_request, reply) => reply.redirect('/ui/', 302));
  await app.register(async (ui) => registerPages(ui, deps, cookieNames, cookieOptions), { prefix: '/ui' });
}

type CookieNames = { session: string; csrf: string };
type CookieOptions = { path: string; httpOnly: boolean; sameSite: 'lax'; secure: boolean };

/** What every page route shares: the deps, the cookies, and how pages, errors and redirects are sent. */
type Pages = ReturnType<typeof pageKit>;

function registerPages(ui: FastifyInstance, deps: HttpDeps, cookieNames: CookieNames, cookieOptions: CookieOptions): void {
  const pages = pageKit(deps, cookieNames, cookieOptions);
  handleFormsAndErrors(ui, pages);
  ui.get('/', async (request, reply) => {
    if (await pages.currentSession(request, reply)) return reply.redirect('/ui/authorizations', 302);
    const notice = noticeQuery.parse(request.query)?.notice === 'signed-out' ? 'You have signed out.' : undefined;
    return pages.signInPage(reply, { notice });
  });
  registerAuthorizePage(ui, pages);
  registerSignIn(ui, pages);
  registerConsent(ui, pages);
  registerSignOut(ui, pages);
  registerAuthorizations(ui, pages);
}

function handleFormsAndErrors(ui: FastifyInstance, pages: Pages): void {
  ui.setValidatorCompiler(({ schema }) => {
    const compiled = TypeCompiler.Compile(schema as TSchema);
    return (data: unknown) => (compiled.Check(data) ? { value: data } : { error: new Error('the form does not match its schema') });
  });
  // The token comes from the parsed form, so the check runs after parsing but before the schema:
  // a form without a valid token is a 403 whatever else is wrong with it.
  ui.addHook('preValidation', (request, reply, done) => {
    if (request.method === 'POST') ui.csrfProtection(request, reply, done);
    else done();
  });
  ui.setErrorHandler((error: FastifyError, request, reply) => {
    const status = clientErrorStatus(error);
    if (status === 403 && error.code?.startsWith('FST_CSRF')) {
      request.log.info({ reason: error.code }, 'form refused: anti-CSRF token missing or wrong');
      return pages.errorPage(reply, FORM_EXPIRED);
    }
    if (status) return pages.errorPage(reply, { ...MALFORMED, status });
    if (isUnavailable(error)) {
      request.log.warn({ detail: error.message, reqId: request.id }, 'a dependency is unavailable');
      return pages.errorPage(reply, UNAVAILABLE);
    }
    request.log.error({ err: error, reqId: request.id }, 'unexpected error');
    return pages.errorPage(reply, FAILED);
  });
  ui.setNotFoundHandler((_request, reply) =>
    pages.errorPage(reply, { status: 404, heading: 'Page not found', message: 'There is no page at this address.' }));
}

const FORM_EXPIRED: ErrorPage = {
  status: 403,
  heading: 'This form has expired',
  message: 'The page you sent it from is no longer valid.',
  hint: 'Go back, reload the page and try again.',
};
const MALFORMED: ErrorPage = { status: 400, heading: 'This request cannot be handled', message: 'The request is malformed.', hint: 'Go back and try again.' };

type SignInPage = { handle?: string; request?: AuthorizationDescription; error?: string; notice?: string; username?: string };

function pageKit(deps: HttpDeps, cookieNames: CookieNames, cookieOptions: CookieOptions) {
  /** Renders a page; `formActions` widens form-action for pages whose forms may end at the client. */
  const render = (reply: FastifyReply, status: number, view: string, data: Record<string, unknown>, formActions: string[] = []) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .header('content-security-policy', contentSecurityPolicy(STYLE_SOURCE, formActions))
      .send(eta.render(view, { css, csrfToken: reply.generateCsrf(), signedIn: undefined, handle: undefined, ...data }));
  const clientFormActions = async (clientId: string) => formActionSources((await deps.findClient(clientId))?.redirectUris ?? []);
  const errorPage = (reply: FastifyReply, page: ErrorPage) => render(reply, page.status, './error', { title: page.heading, ...page });

  return {
    deps,
    render,
    errorPage,
    /** The browser's session; a cookie that names none is cleared. */
    async currentSession(request: FastifyRequest, reply: FastifyReply): Promise<Session | undefined> {
      const value = request.cookies[cookieNames.session];
      if (value === undefined) return undefined;
      const session = await readSession(deps.session, value);
      if (!session) reply.clearCookie(cookieNames.session, cookieOptions);
      return session;
    },
    startSession: (reply: FastifyReply, session: Session) =>
      reply.setCookie(cookieNames.session, session.id, { ...cookieOptions, maxAge: deps.sessionTtlSeconds }),
    endSession: (reply: FastifyReply) => reply.clearCookie(cookieNames.session, cookieOptions),
    signInPage: async (reply: FastifyReply, page: SignInPage) =>
      render(reply, 200, './login', {
        title: 'Sign in', handle: page.handle, clientName: page.request?.clientName, error: page.error, notice: page.notice, username: page.username ?? '',
      }, page.request ? await clientFormActions(page.request.clientId) : []),
    consentPage: async (reply: FastifyReply, session: Session, handle: string, request: AuthorizationDescription) =>
      render(reply, 200, './consent', {
        title: `Allow ${request.clientName} to access your account?`, signedIn: session, handle, clientName: request.clientName, scopes: request.scopes,
        resources: request.resources,
      }, await clientFormActions(request.clientId)),
    /** Errors from NATS calls: an expired request, a service that did not answer, or a failure. */
    failurePage(request: FastifyRequest, reply: FastifyReply, error: unknown, about: 'authorization request' | 'other' = 'authorization request') {
      if (about === 'authorization request' && isOAuthError(error) && error.code === 'invalid_request') return errorPage(reply, EXPIRED);
      if (isUnavailable(error)) {
        request.log.warn({ detail: isOAuthError(error) ? error.detail : (error as Error).message }, 'a service or the database did not answer');
        return errorPage(reply, UNAVAILABLE);
      }
      request.log.error({ err: error, reqId: request.id }, 'request failed');
      return errorPage(reply, FAILED);
    },
    /** RFC 9700 §4.12: a redirect answering a form POST is a 303; a Location with a code is never sent on as a referrer. */
    redirectToClient: (reply: FastifyReply, location: string, status: 302 | 303) => reply.header('referrer-policy', 'no-referrer').redirect(location, status),
  };
}

/** The page of a pending authorization request: sign in, consent, or (remembered consent) straight back to the client. */
function registerAuthorizePage(ui: FastifyInstance, pages: Pages): void {
  ui.get('/authorize', async (request, reply) => {
    const query = handleQuery.parse(request.query);
    if (!query) return pages.errorPage(reply, EXPIRED);
    let result;
    try {
      // The request is described while the session is read (one wait, not two in a row).
      result = await showAuthorization(pages.deps.show, { handle: query.handle, session: pages.currentSession(request, reply), reqId: request.id });
    } catch (error) {
      return pages.failurePage(request, reply, error);
    }
    if (result.kind === 'redirect') return pages.redirectToClient(reply, result.redirectTo, 302);
    if (result.kind === 'sign-in') return pages.signInPage(reply, { handle: query.handle, request: result.request });
    return pages.consentPage(reply, result.session, query.handle, result.request);
  });
}

function registerSignIn(ui: FastifyInstance, pages: Pages): void {
  ui.post<{ Body: Static<typeof SignInBodySchema> }>('/login', { schema: { body: SignInBodySchema } }, async (request, reply) => {
    const { username, password, handle } = request.body;
    let result: SubmitSignInResult;
    try {
      const previousSession = await pages.currentSession(request, reply);
      result = await submitSignIn(pages.deps.signIn, { username, password, handle, ip: request.ip, previousSession, reqId: request.id });
    } catch (error) {
      return pages.failurePage(request, reply, error);
    }
    if (result.kind === 'retry') {
      // One answer for an unknown user, a wrong password and a locked account or address.
      const error = result.problem === 'missing' ? SIGN_IN_MISSING : SIGN_IN_FAILED;
      return pages.signInPage(reply, { handle, request: result.request, username, error });
    }
    pages.startSession(reply, result.session);
    if (result.notApproved !== undefined) request.log.warn({ err: result.notApproved }, 'approving with a remembered consent after sign-in failed');
    const { next } = result;
    // A remembered consent approved the request: straight back to the client (a 303, RFC 9700 §4.12).
    if (next.to === 'client') return pages.redirectToClient(reply, next.redirectTo, 303);
    return reply.redirect(next.to === 'request' ? `/ui/authorize?handle=${next.handle}` : '/ui/authorizations', 303);
  });
}

function registerConsent(ui: FastifyInstance, pages: Pages): void {
  ui.post<{ Body: Static<typeof ConsentBodySchema> }>('/consent', { schema: { body: ConsentBodySchema } }, async (request, reply) => {
    const { handle, decision, remember } = request.body;
    const session = await pages.currentSession(request, reply);
    // Signed out (or expired) since the page was shown: back to the request, which asks to sign in.
    if (!session) return reply.redirect(`/ui/authorize?handle=${handle}`, 303);
    try {
      const input = { handle, session, approve: decision === 'allow', remember: remember === 'on', reqId: request.id };
      const redirectTo = await decideConsent(pages.deps.decide, input);
      return pages.redirectToClient(reply, redirectTo, 303);
    } catch (error) {
      return pages.failurePage(request, reply, error);
    }
  });
}

function registerSignOut(ui: FastifyInstance, pages: Pages): void {
  ui.post<{ Body: Static<typeof SignOutBodySchema> }>('/logout', { schema: { body: SignOutBodySchema } }, async (request, reply) => {
    const { handle } = request.body;
    const session = await pages.currentSession(request, reply);
    if (session) await signOut(pages.deps.signOut, session);
    pages.endSession(reply);
    return reply.redirect(handle !== undefined ? `/ui/authorize?handle=${handle}` : '/ui/?notice=signed-out', 303);
  });
}

function registerAuthorizations(ui: FastifyInstance, pages: Pages): void {
  ui.get('/authorizations', async (request, reply) => {
    const session = await pages.currentSession(request, reply);
    if (!session) return pages.signInPage(reply, { notice: 'Sign in to see the applications you have given access to.' });
    const authorizations = await listAuthorizations(pages.deps.list, session.sub);
    const notice = noticeQuery.parse(request.query)?.notice === 'revoked' ? 'Access revoked.' : undefined;
    return pages.render(reply, 200, './authorizations', { title: 'Your authorizations', signedIn: session, authorizations, notice });
  });

  ui.post<{ Body: Static<typeof RevokeBodySchema> }>('/authorizations/revoke', { schema: { body: RevokeBodySchema } }, async (request, reply) => {
    const session = await pages.currentSession(request, reply);
    if (!session) return reply.redirect('/ui/authorizations', 303);
    try {
      await revokeAuthorization(pages.deps.revoke, { session, clientId: request.body.client_id, reqId: request.id });
    } catch (error) {
      return pages.failurePage(request, reply, error, 'other');
    }
    return reply.redirect('/ui/authorizations?notice=revoked', 303);
  });
}
