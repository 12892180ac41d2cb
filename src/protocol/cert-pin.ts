/**
 * Certificate identities (PROTOCOL.md §3.1): the forms users pin with openconnect's --servercert
 * and the hash the gateway reports in <server-cert-hash>.
 */
import { createHash, X509Certificate } from 'node:crypto';

/** SHA-1 of the whole DER certificate, upper-case hex: <server-cert-hash>, preferences.xml. */
export function certSha1Hex(der: Uint8Array): string {
  return createHash('sha1').update(der).digest('hex').toUpperCase();
}

function spkiDer(der: Uint8Array): Buffer {
  return new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
}

/** "pin-sha256:<base64 of SHA-256 over the DER SubjectPublicKeyInfo>", openconnect's form. */
export function pinSha256(der: Uint8Array): string {
  return 'pin-sha256:' + createHash('sha256').update(spkiDer(der)).digest('base64');
}

/**
 * Does a user-supplied --servercert value match this certificate? Accepts pin-sha256:<b64>,
 * sha256:<hex>, sha1:<hex> (both over the SPKI) and a bare hex SHA-1 of the whole certificate;
 * hex compares case-insensitively, base64 case-sensitively, and a prefix of at least 4
 * characters is enough, as in openconnect (`library.c` openconnect_check_peer_cert_hash).
 */
export function matchesPin(pin: string, der: Uint8Array): boolean {
  const p = pin.trim();
  const prefixMatch = (given: string, actual: string): boolean => given.length >= 4 && actual.startsWith(given);
  if (p.startsWith('pin-sha256:')) {
    return prefixMatch(p.slice(11), createHash('sha256').update(spkiDer(der)).digest('base64'));
  }
  if (p.toLowerCase().startsWith('sha256:')) {
    return prefixMatch(p.slice(7).toLowerCase(), createHash('sha256').update(spkiDer(der)).digest('hex'));
  }
  if (p.toLowerCase().startsWith('sha1:')) {
    return prefixMatch(p.slice(5).toLowerCase(), createHash('sha1').update(spkiDer(der)).digest('hex'));
  }
  if (/^[0-9a-fA-F]+$/.test(p)) return prefixMatch(p.toLowerCase(), certSha1Hex(der).toLowerCase());
  return false;
}
