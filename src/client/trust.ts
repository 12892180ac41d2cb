/**
 * Should we talk to this gateway? Decided right after the TLS handshake, before the first
 * request, so no credential ever goes to an unverified server ([SEED] §1 "서버 인증서": strict
 * validation, block by default; openconnect refuses unless the user pins the key, §3.1).
 *
 *   1. --servercert given: accept only a certificate that matches one of the pins (any of the
 *      four forms of §3.1), whatever the CA check says.
 *   2. otherwise the chain must verify (system CAs and/or --cafile) and the name must match the
 *      host (DNS or IP SAN).
 *   3. and, when preferences.xml remembers another certificate for this host:port, refuse
 *      unless the new one is pinned: a changed certificate is the signature of interception.
 *
 * Pure: the caller does the TLS and the file I/O.
 */
import { certSha1Hex, matchesPin, pinSha256 } from '../protocol/cert-pin.js';
import type { ServerCertRecord } from './preferences.js';

export interface TrustInput {
  host: string;
  port: number;
  /** DER of the gateway's leaf certificate */
  der: Uint8Array;
  /** why strict verification failed (chain or name); undefined when it passed */
  verifyError?: string;
  /** --servercert values */
  pins: string[];
  /** what preferences.xml remembers for host:port */
  known?: ServerCertRecord;
}

export type TrustDecision =
  | { ok: true; how: 'pinned' | 'verified'; sha1: string; pin: string; changed: boolean; firstTime: boolean }
  | { ok: false; reason: 'untrusted' | 'pin-mismatch' | 'changed'; message: string; sha1: string; pin: string };

export function decideTrust(i: TrustInput): TrustDecision {
  const sha1 = certSha1Hex(i.der);
  const pin = pinSha256(i.der);
  const where = `${i.host}${i.port === 443 ? '' : ':' + i.port}`;
  const changed = i.known !== undefined && i.known.sha1.toUpperCase() !== sha1;
  const firstTime = i.known === undefined;
  if (i.pins.length > 0) {
    if (i.pins.some((p) => matchesPin(p, i.der))) return { ok: true, how: 'pinned', sha1, pin, changed, firstTime };
    return {
      ok: false,
      reason: 'pin-mismatch',
      sha1,
      pin,
      message:
        `the certificate of ${where} does not match --servercert ${i.pins.join(', ')}; refusing to connect.\n` +
        `The gateway presented ${pin} (SHA-1 ${sha1}).`,
    };
  }
  if (i.verifyError !== undefined) {
    return {
      ok: false,
      reason: 'untrusted',
      sha1,
      pin,
      message:
        `the certificate of ${where} is not trusted (${i.verifyError}); refusing to connect before sending any credential.\n` +
        `If you have checked it out of band, run again with:  --servercert ${pin}`,
    };
  }
  if (changed) {
    return {
      ok: false,
      reason: 'changed',
      sha1,
      pin,
      message: changedCertificateWarning(where, i.known!, sha1, pin),
    };
  }
  return { ok: true, how: 'verified', sha1, pin, changed: false, firstTime };
}

export function changedCertificateWarning(where: string, known: ServerCertRecord, sha1: string, pin: string): string {
  const bar = '@'.repeat(68);
  return [
    bar,
    `@  WARNING: THE CERTIFICATE OF ${where} HAS CHANGED`,
    bar,
    `Someone could be intercepting this connection, or the gateway's certificate was replaced.`,
    `  remembered: SHA-1 ${known.sha1}${known.pin ? `  (${known.pin})` : ''}${known.lastSeen ? `, last seen ${known.lastSeen}` : ''}`,
    `  presented:  SHA-1 ${sha1}  (${pin})`,
    `Refusing to connect. If the change is expected, run again with:  --servercert ${pin}`,
  ].join('\n');
}
