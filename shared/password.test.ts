import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hash } from '@node-rs/argon2';
import { hashPassword, needsRehash, verifyPassword } from './password.ts';

describe('passwords', () => {
  it('hashes with argon2id at 20 MiB, 2 iterations, 1 lane, and needs no rehash of its own hashes', async () => {
    const stored = await hashPassword('correct horse');
    assert.match(stored, /^\$argon2id\$v=19\$m=20480,t=2,p=1\$/);
    assert.equal(needsRehash(stored), false);
    assert.equal(await verifyPassword(stored, 'correct horse'), true);
    assert.equal(await verifyPassword(stored, 'wrong horse'), false);
  });

  it('still verifies a hash made with the earlier settings (19 MiB), and asks for it to be replaced', async () => {
    const earlier = await hash('correct horse', { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    assert.equal(await verifyPassword(earlier, 'correct horse'), true);
    assert.equal(needsRehash(earlier), true);
  });

  it('asks to replace what is weaker in any setting or not argon2id, never what is stronger', () => {
    const salted = '$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g';
    assert.equal(needsRehash(`$argon2id$v=19$m=65536,t=3,p=4${salted}`), false);
    for (const weaker of [`$argon2id$v=19$m=20480,t=1,p=1${salted}`, `$argon2i$v=19$m=20480,t=2,p=1${salted}`, `$argon2id$v=16$m=20480,t=2,p=1${salted}`, 'not a hash']) {
      assert.equal(needsRehash(weaker), true, weaker);
    }
  });

  it('answers false, not an error, for a stored hash it cannot read', async () => {
    assert.equal(await verifyPassword('not a hash', 'correct horse'), false);
  });
});
