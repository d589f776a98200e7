import { Type, type Static } from '@sinclair/typebox';
import { DpopConfig, RevocationSetConfig, parseConfig, serviceConfigSchema } from '#shared/config.ts';

export const ValidationConfigSchema = serviceConfigSchema({
  /** The `aud` every access token must carry (RFC 9068 §4); defaults to the issuer. */
  ACCESS_TOKEN_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  /** Verified access tokens remembered by their exact string, so a repeated token skips the signature check. */
  VERIFIED_TOKEN_CACHE_ENTRIES: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 10_000 }),
  ...RevocationSetConfig,
  ...DpopConfig,
});
export type ValidationConfig = Static<typeof ValidationConfigSchema>;

// It holds no secret and unseals nothing: none is asked for, in production or elsewhere.
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): ValidationConfig =>
  parseConfig(ValidationConfigSchema, env, { usesKeyEncryptionKey: false });

/** The audience access tokens must be issued for. */
export const accessTokenAudience = (config: ValidationConfig): string => config.ACCESS_TOKEN_AUDIENCE ?? config.OAUTH_ISSUER;
