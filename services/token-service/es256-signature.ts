// ES256 signatures for JWS: node:crypto signs P-256 in DER (an ASN.1 SEQUENCE of two INTEGERs),
// JWS wants R ‖ S, 32 bytes each (RFC 7518 §3.4). Node converts when asked (dsaEncoding
// 'ieee-p1363'), but that path, and the options object it needs, cost 25 µs of the 53 µs of a
// signature here (docs/performance.md), so the key is passed as is and the DER is read below.
import { sign, type KeyObject } from 'node:crypto';

const COORDINATE_BYTES = 32;

export function signEs256(data: Buffer, key: KeyObject): Buffer {
  return joseSignatureFromDer(sign('sha256', data, key));
}

/** R ‖ S from DER `30 len 02 lenR R 02 lenS S`; each INTEGER may carry a leading 0x00 or be shorter than 32 bytes. */
export function joseSignatureFromDer(der: Buffer): Buffer {
  if (der[0] !== 0x30 || der[1] !== der.length - 2) throw new Error('not a DER ECDSA signature');
  const r = integerAt(der, 2);
  const s = integerAt(der, r.end);
  if (s.end !== der.length) throw new Error('not a DER ECDSA signature');
  const out = Buffer.alloc(2 * COORDINATE_BYTES);
  copyUnsigned(r.value, out, 0);
  copyUnsigned(s.value, out, COORDINATE_BYTES);
  return out;
}

function integerAt(der: Buffer, at: number): { value: Buffer; end: number } {
  const length = der[at + 1];
  if (der[at] !== 0x02 || length === undefined || length === 0 || at + 2 + length > der.length) throw new Error('not a DER ECDSA signature');
  return { value: der.subarray(at + 2, at + 2 + length), end: at + 2 + length };
}

/** Right-aligns a big-endian unsigned integer in its 32 bytes, without DER's sign byte. */
function copyUnsigned(value: Buffer, out: Buffer, offset: number): void {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  const digits = value.subarray(start);
  if (digits.length > COORDINATE_BYTES) throw new Error('not a P-256 signature');
  digits.copy(out, offset + COORDINATE_BYTES - digits.length);
}
