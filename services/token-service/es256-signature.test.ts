import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { joseSignatureFromDer, signEs256 } from './es256-signature.ts';

const der = (r: number[], s: number[]) => Buffer.from([0x30, 4 + r.length + s.length, 0x02, r.length, ...r, 0x02, s.length, ...s]);

describe('ES256 signatures for JWS', () => {
  it('gives 64 bytes that verify as R ‖ S (ieee-p1363), over many signatures (some with short or sign-padded integers)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    for (let i = 0; i < 300; i++) {
      const data = Buffer.from(`signing input ${i}`);
      const signature = signEs256(data, privateKey);
      assert.equal(signature.length, 64);
      assert.ok(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature));
    }
  });

  it('drops DER\u2019s sign byte and left-pads a short integer to 32 bytes', () => {
    const r = [0x00, 0x80, ...Array<number>(31).fill(0x11)];
    const s = [0x7f, ...Array<number>(29).fill(0x22)];
    const out = joseSignatureFromDer(der(r, s));
    assert.deepEqual([...out.subarray(0, 32)], [0x80, ...Array<number>(31).fill(0x11)]);
    assert.deepEqual([...out.subarray(32)], [0x00, 0x00, 0x7f, ...Array<number>(29).fill(0x22)]);
  });

  it('refuses what is not a DER signature of two P-256 integers', () => {
    const ok = [0x01];
    for (const bad of [
      Buffer.from([0x31, 6, 0x02, 1, 1, 0x02, 1, 1]), // not a SEQUENCE
      Buffer.concat([der(ok, ok), Buffer.of(0)]), // trailing byte
      Buffer.from([0x30, 6, 0x02, 1, 1, 0x03, 1, 1]), // not an INTEGER
      Buffer.from([0x30, 5, 0x02, 0, 0x02, 1, 1]), // empty INTEGER
      der(Array<number>(33).fill(0x01), ok), // 33 significant bytes
    ]) assert.throws(() => joseSignatureFromDer(bad), /not a (DER ECDSA|P-256) signature/);
  });
});
