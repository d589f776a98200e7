import { Type, type Static } from '@sinclair/typebox';
import { ClientAuthConfig, ConfigError, DpopConfig, RevocationSetConfig, parseConfig, serviceConfigSchema } from '#shared/config.ts';

export const TokenConfigSchema = serviceConfigSchema({
  /** The `aud` of access tokens (RFC 9068 §2.2); the issuer when not set. */
  ACCESS_TOKEN_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  ...ClientAuthConfig,
  ...RevocationSetConfig,
  ...DpopConfig,
  /**
   * How often signing keys are reloaded from the database (besides the `keys` announcement); below
   * the prepublish period. Unset: a minute, or less when the prepublish period is short (defaultKeyReloadSeconds).
   */
  SIGNING_KEY_RELOAD_SECONDS: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  /** A new signing key every this many seconds, counted from the newest key's creation (90 days by default). */
  SIGNING_KEY_ROTATION_SECONDS: Type.Integer({ minimum: 60, default: 7_776_000 }),
  /** How long a new key is in JWKS before it signs (a day by default); below the rotation period. */
  SIGNING_KEY_PREPUBLISH_SECONDS: Type.Integer({ minimum: 5, default: 86_400 }),
});
export type TokenConfig = Static<typeof TokenConfigSchema> & { SIGNING_KEY_RELOAD_SECONDS: number };

/**
 * The key reload interval when none is set: a minute, or for a prepublish period of two minutes or
 * less half of it, so that any prepublish period the contract allows (5 s and up) works alone.
 */
const defaultKeyReloadSeconds = (prepublishSeconds: number): number => Math.min(60, Math.floor((prepublishSeconds - 1) / 2));

export function loadConfig(env: NodeJS.ProcessEnv = process.env): TokenConfig {
  const parsed = parseConfig(TokenConfigSchema, env);
  const config = { ...parsed, SIGNING_KEY_RELOAD_SECONDS: parsed.SIGNING_KEY_RELOAD_SECONDS ?? defaultKeyReloadSeconds(parsed.SIGNING_KEY_PREPUBLISH_SECONDS) };
  // A key published for longer than it signs would have its successor made before it ever signed.
  if (config.SIGNING_KEY_PREPUBLISH_SECONDS >= config.SIGNING_KEY_ROTATION_SECONDS) {
    throw new ConfigError('configuration error: SIGNING_KEY_PREPUBLISH_SECONDS must be below SIGNING_KEY_ROTATION_SECONDS');
  }
  // An instance that missed the `keys` announcement publishes a new key at its next reload: that must come before the key signs.
  if (config.SIGNING_KEY_PREPUBLISH_SECONDS <= config.SIGNING_KEY_RELOAD_SECONDS) {
    throw new ConfigError('configuration error: SIGNING_KEY_PREPUBLISH_SECONDS must be above SIGNING_KEY_RELOAD_SECONDS');
  }
  return config;
}

/** The longest JWKS caching allowed (Cache-Control max-age), a minute by default. */
const MAX_JWKS_MAX_AGE_SECONDS = 60;

/**
 * JWKS max-age: short enough that a copy fetched from an instance that learnt of a new key only at
 * its periodic reload (a second's slack for the reload itself; a reload that fails keeps the old
 * set until the next one, which no bound here covers) still holds the key before it signs.
 */
export const jwksMaxAgeSeconds = (config: Pick<TokenConfig, 'SIGNING_KEY_PREPUBLISH_SECONDS' | 'SIGNING_KEY_RELOAD_SECONDS'>): number =>
  Math.min(MAX_JWKS_MAX_AGE_SECONDS, config.SIGNING_KEY_PREPUBLISH_SECONDS - config.SIGNING_KEY_RELOAD_SECONDS - 1);

/** The `aud` of the access tokens this service issues, and introspection requires. */
export const accessTokenAudience = (config: TokenConfig): string => config.ACCESS_TOKEN_AUDIENCE ?? config.OAUTH_ISSUER;
