import { Type, type Static } from '@sinclair/typebox';
import { HotReadCacheMsSetting } from '#shared/signed-in/cached-reads.ts';
import { ConfigError, parseConfig, serviceConfigSchema } from '#shared/config.ts';

export const ConsentUiConfigSchema = serviceConfigSchema({
  /** How long a sign-in lasts (server-side expiry and cookie Max-Age). */
  SESSION_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 30 * 86_400, default: 8 * 3600 }),
  HOT_READ_CACHE_MS: HotReadCacheMsSetting,
  // CONTRACT "Sign-in abuse": after at most 10 consecutive failures for one account, further
  // attempts are refused for at least 60 s. The bounds make a setting that breaks this impossible.
  LOGIN_MAX_FAILURES: Type.Integer({ minimum: 1, maximum: 10, default: 10 }),
  LOGIN_LOCK_SECONDS: Type.Integer({ minimum: 60, maximum: 86_400, default: 60 }),
  /** Each further lock doubles, up to this. */
  LOGIN_MAX_LOCK_SECONDS: Type.Integer({ minimum: 60, maximum: 86_400, default: 900 }),
  /** Failed attempts from one client address (IPv4 address or IPv6 /64) before it is locked. */
  LOGIN_IP_MAX_FAILURES: Type.Integer({ minimum: 1, maximum: 100_000, default: 50 }),
  /** How long a failure is remembered after the last attempt (a success forgets an account's failures at once). */
  LOGIN_FAILURE_MEMORY_SECONDS: Type.Integer({ minimum: 60, maximum: 30 * 86_400, default: 86_400 }),
  /**
   * A refused sign-in is answered this long after it began (or a whole multiple of it, when it took
   * longer), so that how long a refusal took does not tell a known username from an unknown one
   * (CONTRACT: the same answer). Above a password check's time on a loaded machine; a person does
   * not notice it.
   */
  LOGIN_REFUSAL_MIN_MS: Type.Integer({ minimum: 100, maximum: 5000, default: 250 }),
});
export type ConsentUiConfig = Static<typeof ConsentUiConfigSchema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ConsentUiConfig {
  const config = parseConfig(ConsentUiConfigSchema, env);
  if (config.LOGIN_MAX_LOCK_SECONDS < config.LOGIN_LOCK_SECONDS) {
    throw new ConfigError('configuration error: LOGIN_MAX_LOCK_SECONDS must not be less than LOGIN_LOCK_SECONDS');
  }
  // A stop gives requests in flight what the drain delay (at most half the timeout) leaves; a refusal
  // held then (to the next multiple of the floor: once or twice it unless the machine is very slow)
  // should still be answered, not cut off.
  if (config.LOGIN_REFUSAL_MIN_MS * 4 > config.SHUTDOWN_TIMEOUT_MS) {
    throw new ConfigError('configuration error: LOGIN_REFUSAL_MIN_MS must be at most a quarter of SHUTDOWN_TIMEOUT_MS');
  }
  return config;
}
