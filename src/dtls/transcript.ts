/**
 * Handshake transcript for Finished (and the Extended Master Secret session hash).
 *
 * - DTLS 1.2 (RFC 6347 §4.2.6): each message is hashed with its 12-byte DTLS
 *   handshake header written as if unfragmented; the HelloVerifyRequest and the
 *   ClientHello it answered are left out. Hash = the suite's PRF hash.
 * - DTLS 0.9 (PROTOCOL.md §6.4 items 2 and 4; OpenSSL bad_dtls_test "MAC_OFFSET"):
 *   message *bodies only*, no header; transcript = the answered ClientHello ‖
 *   ServerHello ‖ ...; hash = MD5(t) ‖ SHA1(t) (TLS 1.0 style, 36 bytes).
 *
 * Messages are kept as a list and hashed on demand: transcripts are a few
 * hundred bytes and hashed at most three times per handshake.
 */
import { createHash } from 'node:crypto';
import { DTLS0_9, type DtlsVersion } from './constants.js';
import { handshakeHeader } from './messages.js';
import type { PrfHash } from './prf.js';

export class Transcript {
  private parts: Buffer[] = [];

  constructor(
    private readonly version: DtlsVersion,
    private hashName: PrfHash = 'sha256',
  ) {}

  /** The PRF hash is only known once the suite is chosen; messages can be added before. */
  setHash(hash: PrfHash): void {
    this.hashName = hash;
  }

  add(msgType: number, messageSeq: number, body: Buffer): void {
    if (this.version !== DTLS0_9) this.parts.push(handshakeHeader(msgType, body.length, messageSeq));
    this.parts.push(body);
  }

  reset(): void {
    this.parts = [];
  }

  digest(): Buffer {
    if (this.version === DTLS0_9) {
      const md5 = createHash('md5');
      const sha1 = createHash('sha1');
      for (const p of this.parts) {
        md5.update(p);
        sha1.update(p);
      }
      return Buffer.concat([md5.digest(), sha1.digest()]);
    }
    const h = createHash(this.hashName);
    for (const p of this.parts) h.update(p);
    return h.digest();
  }
}
