/**
 * Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1): an HMAC over the
 * peer's transport address and the ClientHello parameters that must not
 * change between the two ClientHellos, so the server keeps no state for
 * unverified peers.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { EMPTY, u16, u8 } from './bytes.js';
import type { ClientHello } from './messages.js';

/** 20 bytes, like OpenSSL's bad_dtls_test cookie; fits the 32-byte DTLS 0.9 limit. */
const COOKIE_LENGTH = 20;

export function computeCookie(secret: Buffer, peer: Buffer | undefined, ch: ClientHello): Buffer {
  const p = peer ?? EMPTY;
  return createHmac('sha256', secret)
    .update(u16(p.length))
    .update(p)
    .update(u16(ch.version))
    .update(ch.random)
    .update(u8(ch.sessionId.length))
    .update(ch.sessionId)
    .update(ch.rawCipherSuites)
    .digest()
    .subarray(0, COOKIE_LENGTH);
}

export function verifyCookie(secret: Buffer, peer: Buffer | undefined, ch: ClientHello): boolean {
  if (ch.cookie.length !== COOKIE_LENGTH) return false;
  return timingSafeEqual(computeCookie(secret, peer, ch), ch.cookie);
}
