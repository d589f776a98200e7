import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '#shared/config.ts';
import { jwksMaxAgeSeconds, loadConfig } from './config.ts';

const env = (extra: Record<string, string> = {}) => ({ NODE_ENV: 'test', ...extra });

describe('token-service configuration: signing key rotation', () => {
  it('defaults to a new key every 90 days, published a day before it signs', () => {
    const config = loadConfig(env());
    assert.equal(config.SIGNING_KEY_ROTATION_SECONDS, 7_776_000);
    assert.equal(config.SIGNING_KEY_PREPUBLISH_SECONDS, 86_400);
  });

  it('accepts the shortest periods (rotation 60 s, prepublish 5 s) alone: keys are then reloaded every 2 s', () => {
    const config = loadConfig(env({ SIGNING_KEY_ROTATION_SECONDS: '60', SIGNING_KEY_PREPUBLISH_SECONDS: '5' }));
    assert.deepEqual([config.SIGNING_KEY_ROTATION_SECONDS, config.SIGNING_KEY_PREPUBLISH_SECONDS, config.SIGNING_KEY_RELOAD_SECONDS], [60, 5, 2]);
    assert.equal(loadConfig(env()).SIGNING_KEY_RELOAD_SECONDS, 60, 'a minute by default');
    assert.equal(loadConfig(env({ SIGNING_KEY_PREPUBLISH_SECONDS: '61' })).SIGNING_KEY_RELOAD_SECONDS, 30);
    assert.equal(loadConfig(env({ SIGNING_KEY_PREPUBLISH_SECONDS: '61', SIGNING_KEY_RELOAD_SECONDS: '10' })).SIGNING_KEY_RELOAD_SECONDS, 10, 'as set');
  });

  it('lets JWKS be cached a minute by default, and only as long as a key published at a reload still comes before it signs', () => {
    assert.equal(jwksMaxAgeSeconds(loadConfig(env())), 60);
    // Published at most 2 s (the reload) plus a second after the announcement; it signs 5 s after it.
    assert.equal(jwksMaxAgeSeconds(loadConfig(env({ SIGNING_KEY_PREPUBLISH_SECONDS: '5', SIGNING_KEY_RELOAD_SECONDS: '2' }))), 2);
    assert.equal(jwksMaxAgeSeconds(loadConfig(env({ SIGNING_KEY_PREPUBLISH_SECONDS: '61', SIGNING_KEY_RELOAD_SECONDS: '60' }))), 0);
    assert.equal(jwksMaxAgeSeconds(loadConfig(env({ SIGNING_KEY_PREPUBLISH_SECONDS: '5' }))), 2, 'the reload derived from the prepublish period');
  });

  it('refuses a rotation under 60 s, a prepublish under 5 s, non-integers, a prepublish not below the rotation period or not above the reload interval', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ SIGNING_KEY_ROTATION_SECONDS: '59' }, /SIGNING_KEY_ROTATION_SECONDS/],
      [{ SIGNING_KEY_ROTATION_SECONDS: '90d' }, /SIGNING_KEY_ROTATION_SECONDS/],
      [{ SIGNING_KEY_ROTATION_SECONDS: '60.5' }, /SIGNING_KEY_ROTATION_SECONDS/],
      [{ SIGNING_KEY_PREPUBLISH_SECONDS: '4' }, /SIGNING_KEY_PREPUBLISH_SECONDS/],
      [{ SIGNING_KEY_PREPUBLISH_SECONDS: '-1' }, /SIGNING_KEY_PREPUBLISH_SECONDS/],
      [{ SIGNING_KEY_ROTATION_SECONDS: '60', SIGNING_KEY_PREPUBLISH_SECONDS: '60' }, /SIGNING_KEY_PREPUBLISH_SECONDS must be below SIGNING_KEY_ROTATION_SECONDS/],
      [{ SIGNING_KEY_PREPUBLISH_SECONDS: '7776000' }, /SIGNING_KEY_PREPUBLISH_SECONDS must be below/],
      // An instance that missed the announcement would publish the key only after it began to sign.
      [{ SIGNING_KEY_PREPUBLISH_SECONDS: '60', SIGNING_KEY_RELOAD_SECONDS: '60' }, /SIGNING_KEY_PREPUBLISH_SECONDS must be above SIGNING_KEY_RELOAD_SECONDS/],
      [{ SIGNING_KEY_PREPUBLISH_SECONDS: '5', SIGNING_KEY_RELOAD_SECONDS: '5' }, /SIGNING_KEY_PREPUBLISH_SECONDS must be above SIGNING_KEY_RELOAD_SECONDS/],
      [{ SIGNING_KEY_RELOAD_SECONDS: '0' }, /SIGNING_KEY_RELOAD_SECONDS/],
    ];
    for (const [vars, message] of bad) {
      assert.throws(() => loadConfig(env(vars)), (error: unknown) => error instanceof ConfigError && message.test(error.message) && !error.message.includes('\n'), JSON.stringify(vars));
    }
  });

  it('token-service exits 78 with one line when the prepublish period is not below the rotation period', () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const result = spawnSync(process.execPath, [main], {
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', SIGNING_KEY_ROTATION_SECONDS: '100', SIGNING_KEY_PREPUBLISH_SECONDS: '200' },
      encoding: 'utf8', timeout: 20_000,
    });
    assert.equal(result.status, 78, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /SIGNING_KEY_PREPUBLISH_SECONDS must be below SIGNING_KEY_ROTATION_SECONDS/);
  });
});
