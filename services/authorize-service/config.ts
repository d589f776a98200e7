import { Type, type Static } from '@sinclair/typebox';
import { parseConfig, serviceConfigSchema } from '#shared/config.ts';
import { MAX_CODE_TTL_SECONDS } from '#shared/grants/authorization-codes.ts';

export const AuthorizeConfigSchema = serviceConfigSchema({
  /** How long a pending authorization request waits for sign-in and consent. */
  AUTHORIZATION_REQUEST_TTL_SECONDS: Type.Integer({ minimum: 30, maximum: 3600, default: 600 }),
  /** Authorization code lifetime (RFC 6749 §4.1.2: short; 10 minutes at most). */
  CODE_TTL_SECONDS: Type.Integer({ minimum: 5, maximum: MAX_CODE_TTL_SECONDS, default: 60 }),
  /** Lifetime of a pushed authorization request's request_uri (RFC 9126 §2.2: short; the contract says 60 s at most). */
  PAR_TTL_SECONDS: Type.Integer({ minimum: 5, maximum: 60, default: 60 }),
  /**
   * How long a session or remembered consent read from the database is reused (0: never), as in
   * consent-ui: sign-out and consent changes reach this service at once by broadcast.
   */
  HOT_READ_CACHE_MS: Type.Integer({ minimum: 0, maximum: 10_000, default: 2000 }),
});
export type AuthorizeConfig = Static<typeof AuthorizeConfigSchema>;

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): AuthorizeConfig => parseConfig(AuthorizeConfigSchema, env);
