/**
 * Record overhead arithmetic for MTU decisions (PROTOCOL.md §6.9).
 *
 *   DTLS data MTU = link − IP − UDP(8) − record header(13) − cipher overhead − 1 (type byte),
 *   with CBC rounded down to a whole block.
 *
 * Checked against ocserv's log lines (transcripts/ocserv-dtls*-server.txt):
 * "DTLS overhead is 66" for PSK AES-256-GCM (20+8+13+8+16+1) and 94 for
 * AES128-SHA (20+8+13+16+20+16+1); after the handshake GnuTLS reports
 * "data MTU: 1434" (PSK AES-256-GCM) and "data MTU: 1418" (AES128-SHA, block
 * rounding) for a 1500-byte link, which is what dtlsDataMtu() returns.
 */
import { RECORD_HEADER_LENGTH } from './constants.js';
import { getSuite, type CipherSuite } from './suites.js';

function suiteOf(s: CipherSuite | number): CipherSuite {
  const suite = typeof s === 'number' ? getSuite(s) : s;
  if (!suite) throw new RangeError(`unknown cipher suite ${String(s)}`);
  return suite;
}

/** Worst-case bytes a DTLS record adds to its plaintext (header + IV/nonce + MAC/tag + padding). */
export function maxRecordOverhead(s: CipherSuite | number): number {
  const suite = suiteOf(s);
  switch (suite.kind) {
    case 'cbc':
      return RECORD_HEADER_LENGTH + suite.blockSize + suite.macLength + suite.blockSize;
    case 'gcm':
      return RECORD_HEADER_LENGTH + 8 + 16;
    case 'chacha20-poly1305':
      return RECORD_HEADER_LENGTH + 16;
  }
}

/**
 * Largest record plaintext (AnyConnect type byte included) whose record fits
 * in a UDP payload of `udpPayload` bytes.
 */
export function maxPlaintextForDatagram(s: CipherSuite | number, udpPayload: number): number {
  const suite = suiteOf(s);
  if (suite.kind !== 'cbc') return Math.max(0, udpPayload - maxRecordOverhead(suite));
  // CBC: fragment = IV + whole blocks holding plaintext + MAC + ≥1 padding byte.
  const blocks = Math.floor((udpPayload - RECORD_HEADER_LENGTH - suite.blockSize) / suite.blockSize);
  return Math.max(0, blocks * suite.blockSize - suite.macLength - 1);
}

/**
 * Largest inner IP packet for a link MTU: link − IP header − UDP − record overhead − type byte.
 * `ipHeader` is 20 for IPv4, 40 for IPv6.
 */
export function dtlsDataMtu(s: CipherSuite | number, linkMtu: number, ipHeader = 20): number {
  return Math.max(0, maxPlaintextForDatagram(s, linkMtu - ipHeader - 8) - 1);
}
