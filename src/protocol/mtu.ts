/**
 * MTU arithmetic (PROTOCOL.md §6.9). "link" = the outer IP packet size that fits the path;
 * "data MTU" = the largest inner IP packet a channel can carry.
 */

export const IPV4_HEADER = 20;
const TCP_HEADER = 20;
const UDP_HEADER = 8;
const TLS_RECORD_HEADER = 5;
const DTLS_RECORD_HEADER = 13;
const CSTP_HEADER = 8;
const DTLS_TYPE_BYTE = 1;

/** Per-record expansion of the cipher protecting a channel. */
export type CipherOverhead =
  | { kind: 'aead-explicit-nonce' } // AES-GCM in TLS/DTLS 1.2: 8 nonce + 16 tag
  | { kind: 'aead-tls13' } // TLS 1.3 AEAD: 16 tag + 1 inner content type
  | { kind: 'chacha' } // ChaCha20-Poly1305 (1.2): 16 tag
  | { kind: 'cbc-hmac'; block: number; mac: number }; // explicit IV + MAC + 1..block padding

export function cipherOverhead(c: CipherOverhead): number {
  switch (c.kind) {
    case 'aead-explicit-nonce':
      return 8 + 16;
    case 'aead-tls13':
      return 17;
    case 'chacha':
      return 16;
    case 'cbc-hmac':
      return c.block + c.mac + 1; // worst case padding counted by rounding in dtlsDataMtu
  }
}

/** Inner packet size that fits a DTLS record in `link` bytes of outer IP packet. */
export function dtlsDataMtu(link: number, c: CipherOverhead, ipHeader = IPV4_HEADER): number {
  let room = link - ipHeader - UDP_HEADER - DTLS_RECORD_HEADER;
  if (c.kind === 'cbc-hmac') {
    // ciphertext = IV + roundup(payload + MAC + 1, block): round the room down to whole blocks
    room -= c.block; // explicit IV
    room -= room % c.block;
    room -= c.mac + 1;
  } else {
    room -= cipherOverhead(c);
  }
  return room - DTLS_TYPE_BYTE;
}

/** Inner packet size that fits one TLS record carrying one CSTP frame in `link` bytes of IP. */
export function tlsDataMtu(link: number, c: CipherOverhead, ipHeader = IPV4_HEADER): number {
  let room = link - ipHeader - TCP_HEADER - TLS_RECORD_HEADER;
  if (c.kind === 'cbc-hmac') {
    room -= c.block;
    room -= room % c.block;
    room -= c.mac + 1;
  } else {
    room -= cipherOverhead(c);
  }
  return room - CSTP_HEADER;
}

/** TLS cipher name as Node reports it (getCipher().name/standardName, version) -> overhead. */
export function tlsCipherOverhead(version: string | undefined, cipherName: string | undefined): CipherOverhead {
  const name = (cipherName ?? '').toUpperCase();
  if (version === 'TLSv1.3') return { kind: 'aead-tls13' };
  if (name.includes('GCM') || name.includes('CCM')) return { kind: 'aead-explicit-nonce' };
  if (name.includes('CHACHA20')) return { kind: 'chacha' };
  const mac = name.includes('SHA384') ? 48 : name.includes('SHA256') ? 32 : 20;
  return { kind: 'cbc-hmac', block: name.includes('3DES') || name.includes('DES-CBC3') ? 8 : 16, mac };
}

/**
 * The link MTU a gateway assumes for a client: the smaller of its own limit and the client's
 * X-CSTP-Base-MTU, ignoring implausible client values (ocserv ignores Base-MTU < 800; §6.9).
 */
export function negotiateLinkMtu(gatewayLimit: number, clientBaseMtu: number | undefined): number {
  if (clientBaseMtu !== undefined && clientBaseMtu >= 800 && clientBaseMtu < gatewayLimit) return clientBaseMtu;
  return gatewayLimit;
}

/**
 * What openconnect asks for (§4.1): X-CSTP-MTU = Base − 82 − 8 − IP header, where 82 is its
 * worst-case DTLS overhead. Our client sends the same so gateways size us like openconnect.
 */
export function clientRequestedMtu(baseMtu: number, ipHeader = IPV4_HEADER): number {
  return baseMtu - 82 - 8 - ipHeader;
}
