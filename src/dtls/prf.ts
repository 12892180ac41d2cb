/**
 * TLS pseudo-random functions.
 *
 * - TLS 1.0/1.1 PRF (RFC 2246 §5): P_MD5(S1) XOR P_SHA1(S2), S1/S2 = halves of
 *   the secret (sharing the middle byte when the length is odd). Used by DTLS
 *   0.9 (PROTOCOL.md §6.4; OpenSSL bad_dtls_test uses EVP_md5_sha1 TLS1-PRF).
 * - TLS 1.2 PRF (RFC 5246 §5): P_<hash> with SHA-256, or SHA-384 for
 *   *_SHA384 suites.
 */
import { createHmac } from 'node:crypto';
import { DTLS0_9, type DtlsVersion } from './constants.js';

export type PrfHash = 'sha256' | 'sha384';

/** P_hash(secret, seed) from RFC 5246 §5, truncated to `length` bytes. */
function pHash(hash: string, secret: Buffer, seed: Buffer, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let a = seed; // A(0)
  let filled = 0;
  while (filled < length) {
    a = createHmac(hash, secret).update(a).digest(); // A(i) = HMAC(secret, A(i-1))
    const block = createHmac(hash, secret).update(a).update(seed).digest();
    const n = Math.min(block.length, length - filled);
    block.copy(out, filled, 0, n);
    filled += n;
  }
  return out;
}

/** TLS 1.0/1.1 PRF (MD5 ⊕ SHA-1). */
export function prfTls10(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  const half = Math.ceil(secret.length / 2);
  const s1 = secret.subarray(0, half);
  const s2 = secret.subarray(secret.length - half);
  const labelSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const md5 = pHash('md5', s1, labelSeed, length);
  const sha1 = pHash('sha1', s2, labelSeed, length);
  for (let i = 0; i < length; i++) md5[i]! ^= sha1[i]!;
  return md5;
}

/** TLS 1.2 PRF with the suite's hash. */
export function prfTls12(hash: PrfHash, secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  return pHash(hash, secret, Buffer.concat([Buffer.from(label, 'latin1'), seed]), length);
}

/** The PRF of a protocol version: DTLS 0.9 uses the TLS 1.0 PRF, DTLS 1.2 the suite's P_hash. */
export function prf(
  version: DtlsVersion,
  hash: PrfHash,
  secret: Buffer,
  label: string,
  seed: Buffer,
  length: number,
): Buffer {
  return version === DTLS0_9 ? prfTls10(secret, label, seed, length) : prfTls12(hash, secret, label, seed, length);
}
