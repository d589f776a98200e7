import { Type, type Static } from '@sinclair/typebox';
import { ClientAuthConfig, RevocationSetConfig, parseConfig, serviceConfigSchema } from '#shared/config.ts';

export const TokenConfigSchema = serviceConfigSchema({
  /** The `aud` of access tokens (RFC 9068 §2.2); the issuer when not set. */
  ACCESS_TOKEN_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  ...ClientAuthConfig,
  ...RevocationSetConfig,
  /** How often signing keys are reloaded from the database (besides the `keys` announcement). */
  SIGNING_KEY_RELOAD_SECONDS: Type.Integer({ minimum: 5, maximum: 3600, default: 60 }),
});
export type TokenConfig = Static<typeof TokenConfigSchema>;

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): TokenConfig => parseConfig(TokenConfigSchema, env);

/** The `aud` of the access tokens this service issues, and introspection requires. */
export const accessTokenAudience = (config: TokenConfig): string => config.ACCESS_TOKEN_AUDIENCE ?? config.OAUTH_ISSUER;
