/**
 * The OpenSSL-style names used in the CONNECT headers `X-DTLS-CipherSuite`
 * and `X-DTLS12-CipherSuite` (PROTOCOL.md §4.1, §4.3, §6.2), mapped to what
 * this module needs to run the DTLS handshake.
 *
 * The header *name* decides the DTLS version for the legacy names: `AES128-SHA`
 * in `X-DTLS-CipherSuite` means DTLS 0.9 (mode D); in `X-DTLS12-CipherSuite` it
 * means DTLS 1.2 (mode B) (§6.2: openconnect derives the version from the header name).
 */
import { DTLS0_9, DTLS1_2, type DtlsVersion } from './constants.js';
import { SuiteId } from './suites.js';

export type DtlsCipherHeader = 'X-DTLS-CipherSuite' | 'X-DTLS12-CipherSuite';

export type DtlsSetup =
  /** Mode A (§6.7): full DTLS 1.2 PSK handshake keyed by the TLS exporter. */
  | { readonly mode: 'psk'; readonly name: string }
  /** Modes B/C/D (§6.3-§6.6): abbreviated handshake from X-DTLS-Master-Secret + X-DTLS-Session-ID. */
  | { readonly mode: 'resume'; readonly name: string; readonly version: DtlsVersion; readonly suite: number };

const S = SuiteId;

function resume(name: string, version: DtlsVersion, suite: number): DtlsSetup {
  return { mode: 'resume', name, version, suite };
}

/** Names valid in `X-DTLS-CipherSuite` (openconnect's list, ocserv's answers). */
const X_DTLS: ReadonlyMap<string, DtlsSetup> = new Map<string, DtlsSetup>([
  ['PSK-NEGOTIATE', { mode: 'psk', name: 'PSK-NEGOTIATE' }],
  // Mode C (§6.6)
  ['OC-DTLS1_2-AES128-GCM', resume('OC-DTLS1_2-AES128-GCM', DTLS1_2, S.TLS_RSA_WITH_AES_128_GCM_SHA256)],
  ['OC-DTLS1_2-AES256-GCM', resume('OC-DTLS1_2-AES256-GCM', DTLS1_2, S.TLS_RSA_WITH_AES_256_GCM_SHA384)],
  // GnuTLS builds of openconnect only; ocserv never selects it (§6.6)
  [
    'OC2-DTLS1_2-CHACHA20-POLY1305',
    resume('OC2-DTLS1_2-CHACHA20-POLY1305', DTLS1_2, S.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256),
  ],
  // Mode D (§6.4), DTLS 0.9
  ['AES128-SHA', resume('AES128-SHA', DTLS0_9, S.TLS_RSA_WITH_AES_128_CBC_SHA)],
  ['AES256-SHA', resume('AES256-SHA', DTLS0_9, S.TLS_RSA_WITH_AES_256_CBC_SHA)],
  ['DHE-RSA-AES128-SHA', resume('DHE-RSA-AES128-SHA', DTLS0_9, S.TLS_DHE_RSA_WITH_AES_128_CBC_SHA)],
  ['DHE-RSA-AES256-SHA', resume('DHE-RSA-AES256-SHA', DTLS0_9, S.TLS_DHE_RSA_WITH_AES_256_CBC_SHA)],
  ['DES-CBC3-SHA', resume('DES-CBC3-SHA', DTLS0_9, S.TLS_RSA_WITH_3DES_EDE_CBC_SHA)],
  // DES-CBC-SHA (single DES) is deliberately absent: not in OpenSSL 3's default provider.
]);

/** Names valid in `X-DTLS12-CipherSuite` (mode B, §6.5). */
const X_DTLS12: ReadonlyMap<string, DtlsSetup> = new Map<string, DtlsSetup>([
  ['AES128-GCM-SHA256', resume('AES128-GCM-SHA256', DTLS1_2, S.TLS_RSA_WITH_AES_128_GCM_SHA256)],
  ['AES256-GCM-SHA384', resume('AES256-GCM-SHA384', DTLS1_2, S.TLS_RSA_WITH_AES_256_GCM_SHA384)],
  ['ECDHE-RSA-AES128-GCM-SHA256', resume('ECDHE-RSA-AES128-GCM-SHA256', DTLS1_2, S.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)],
  ['ECDHE-RSA-AES256-GCM-SHA384', resume('ECDHE-RSA-AES256-GCM-SHA384', DTLS1_2, S.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)],
  // AnyConnect may offer the ECDSA names; openconnect aborts DTLS if a gateway picks one
  // (anylink #379, PROTOCOL.md §11 quirk 11), so gateways should prefer the others.
  [
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    resume('ECDHE-ECDSA-AES128-GCM-SHA256', DTLS1_2, S.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
  ],
  [
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    resume('ECDHE-ECDSA-AES256-GCM-SHA384', DTLS1_2, S.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
  ],
  ['AES128-SHA', resume('AES128-SHA', DTLS1_2, S.TLS_RSA_WITH_AES_128_CBC_SHA)],
  ['AES256-SHA', resume('AES256-SHA', DTLS1_2, S.TLS_RSA_WITH_AES_256_CBC_SHA)],
  ['DHE-RSA-AES128-SHA', resume('DHE-RSA-AES128-SHA', DTLS1_2, S.TLS_DHE_RSA_WITH_AES_128_CBC_SHA)],
  ['DHE-RSA-AES256-SHA', resume('DHE-RSA-AES256-SHA', DTLS1_2, S.TLS_DHE_RSA_WITH_AES_256_CBC_SHA)],
]);

/** Look up one name from a CONNECT header; null when this module cannot run it. */
export function lookupDtlsCipherName(header: DtlsCipherHeader, name: string): DtlsSetup | null {
  const table = header === 'X-DTLS12-CipherSuite' ? X_DTLS12 : X_DTLS;
  return table.get(name.trim()) ?? null;
}

/**
 * Parse a colon-separated header value into the setups this module supports,
 * in the order given (unknown names are skipped, as gateways do, §4.1).
 */
export function parseDtlsCipherHeader(header: DtlsCipherHeader, value: string): DtlsSetup[] {
  const out: DtlsSetup[] = [];
  for (const name of value.split(':')) {
    const s = lookupDtlsCipherName(header, name);
    if (s) out.push(s);
  }
  return out;
}

/** All names this module supports for a header (e.g. to build a client offer). */
export function supportedDtlsCipherNames(header: DtlsCipherHeader): string[] {
  return [...(header === 'X-DTLS12-CipherSuite' ? X_DTLS12 : X_DTLS).keys()];
}
