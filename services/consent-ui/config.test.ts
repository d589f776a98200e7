import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '#shared/config.ts';
import { loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('has safe defaults: 8 h sessions, lock after 10 failures for 60 s growing to 15 min, 50 per address, refusals held to 250 ms', () => {
    const config = loadConfig({});
    assert.equal(config.SESSION_TTL_SECONDS, 8 * 3600);
    assert.equal(config.LOGIN_MAX_FAILURES, 10);
    assert.equal(config.LOGIN_LOCK_SECONDS, 60);
    assert.equal(config.LOGIN_MAX_LOCK_SECONDS, 900);
    assert.equal(config.LOGIN_IP_MAX_FAILURES, 50);
    assert.equal(config.LOGIN_REFUSAL_MIN_MS, 250);
    assert.equal(config.TRUST_PROXY, 'false');
  });

  it('reads the settings from the environment', () => {
    const config = loadConfig({ SESSION_TTL_SECONDS: '600', LOGIN_MAX_FAILURES: '5', LOGIN_LOCK_SECONDS: '120', TRUST_PROXY: '1' });
    assert.deepEqual([config.SESSION_TTL_SECONDS, config.LOGIN_MAX_FAILURES, config.LOGIN_LOCK_SECONDS, config.TRUST_PROXY], [600, 5, 120, '1']);
  });

  it('refuses settings that would break the sign-in abuse contract (more than 10 failures, locks under 60 s, refusals held under 100 ms)', () => {
    assert.throws(() => loadConfig({ LOGIN_MAX_FAILURES: '11' }), (e: unknown) => e instanceof ConfigError && /LOGIN_MAX_FAILURES/.test(e.message));
    assert.throws(() => loadConfig({ LOGIN_LOCK_SECONDS: '30' }), (e: unknown) => e instanceof ConfigError && /LOGIN_LOCK_SECONDS/.test(e.message));
    // A floor below a password check's time would let a refusal's timing tell why again.
    assert.throws(() => loadConfig({ LOGIN_REFUSAL_MIN_MS: '0' }), (e: unknown) => e instanceof ConfigError && /LOGIN_REFUSAL_MIN_MS/.test(e.message));
    assert.throws(() => loadConfig({ LOGIN_LOCK_SECONDS: '600', LOGIN_MAX_LOCK_SECONDS: '300' }), /LOGIN_MAX_LOCK_SECONDS/);
    assert.throws(() => loadConfig({ SESSION_TTL_SECONDS: 'forever' }), /SESSION_TTL_SECONDS/);
  });

  it('refuses a refusal floor a stop could cut off: at most a quarter of SHUTDOWN_TIMEOUT_MS', () => {
    assert.equal(loadConfig({ LOGIN_REFUSAL_MIN_MS: '2500' }).LOGIN_REFUSAL_MIN_MS, 2500);
    assert.throws(() => loadConfig({ LOGIN_REFUSAL_MIN_MS: '2501' }), (e: unknown) => e instanceof ConfigError && /a quarter of SHUTDOWN_TIMEOUT_MS/.test(e.message));
    assert.throws(() => loadConfig({ SHUTDOWN_TIMEOUT_MS: '900' }), /LOGIN_REFUSAL_MIN_MS must be at most a quarter of SHUTDOWN_TIMEOUT_MS/);
    assert.equal(loadConfig({ LOGIN_REFUSAL_MIN_MS: '5000', SHUTDOWN_TIMEOUT_MS: '20000' }).LOGIN_REFUSAL_MIN_MS, 5000);
  });
});
