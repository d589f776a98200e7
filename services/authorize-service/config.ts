import { Type, type Static } from '@sinclair/typebox';
import { HotReadCacheMsSetting } from '#shared/signed-in/cached-reads.ts';
import { parseConfig, serviceConfigSchema } from '#shared/config.ts';
import { MAX_CODE_TTL_SECONDS } from '#shared/grants/authorization-codes.ts';

export const AuthorizeConfigSchema = serviceConfigSchema({
  /** How long a pending authorization request waits for sign-in and consent. */
  AUTHORIZATION_REQUEST_TTL_SECONDS: Type.Integer({ minimum: 30, maximum: 3600, default: 600 }),
  /** Authorization code lifetime (RFC 6749 §4.1.2: short; 10 minutes at most). */
  CODE_TTL_SECONDS: Type.Integer({ minimum: 5, maximum: MAX_CODE_TTL_SECONDS, default: 60 }),
  /** Lifetime of a pushed authorization request's request_uri (RFC 9126 §2.2: short; the contract says 60 s at most). */
  PAR_TTL_SECONDS: Type.Integer({ minimum: 5, maximum: 60, default: 60 }),
  HOT_READ_CACHE_MS: HotReadCacheMsSetting,
});
export type AuthorizeConfig = Static<typeof AuthorizeConfigSchema>;

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): AuthorizeConfig => parseConfig(AuthorizeConfigSchema, env);
