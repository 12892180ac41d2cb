/**
 * Cipher suites of the AnyConnect DTLS subset.
 *
 * In the resume modes (PROTOCOL.md §6.3-§6.6) no key exchange ever runs, so the
 * key-exchange part of a suite (RSA, DHE-RSA, ECDHE-RSA, PSK) only selects the
 * suite ID; what matters is record protection and the PRF hash. In PSK mode
 * (§6.7) only the plain-PSK suites (RFC 4279 / 5487 / 7905) are negotiated.
 *
 * Key sizes and key-block layout: RFC 5246 §6.3 (MAC keys, then encryption
 * keys, then IVs/salts). AES-GCM: RFC 5288 (4-byte implicit salt + 8-byte
 * explicit nonce). ChaCha20-Poly1305: RFC 7905 (12-byte IV XOR sequence).
 */
import { DTLS0_9, DTLS1_2, type DtlsVersion } from './constants.js';
import type { PrfHash } from './prf.js';

export type RecordCipherKind = 'cbc' | 'gcm' | 'chacha20-poly1305';

export interface CipherSuite {
  readonly id: number;
  /** IANA name. */
  readonly name: string;
  readonly kind: RecordCipherKind;
  /** node:crypto cipher name. */
  readonly cipher: string;
  readonly keyLength: number;
  /** Bytes of IV/salt taken from the key block per direction (CBC: block size, unused with explicit IVs). */
  readonly fixedIvLength: number;
  /** CBC block size; 0 for AEAD. */
  readonly blockSize: number;
  /** HMAC hash for CBC suites, null for AEAD. */
  readonly macHash: 'sha1' | 'sha256' | 'sha384' | null;
  readonly macLength: number;
  /** PRF hash under DTLS 1.2 (DTLS 0.9 always uses the TLS 1.0 MD5/SHA-1 PRF). */
  readonly prfHash: PrfHash;
  /** Plain-PSK key exchange (usable in PSK-NEGOTIATE mode). */
  readonly psk: boolean;
  /** Usable with DTLS 0.9 (only the CBC + HMAC-SHA1 suites existed then). */
  readonly dtls09: boolean;
}

function cbc(
  id: number,
  name: string,
  cipher: string,
  keyLength: number,
  blockSize: number,
  macHash: 'sha1' | 'sha256' | 'sha384',
  prfHash: PrfHash,
  psk: boolean,
): CipherSuite {
  const macLength = macHash === 'sha1' ? 20 : macHash === 'sha256' ? 32 : 48;
  return {
    id,
    name,
    kind: 'cbc',
    cipher,
    keyLength,
    fixedIvLength: blockSize,
    blockSize,
    macHash,
    macLength,
    prfHash,
    psk,
    dtls09: !psk && macHash === 'sha1',
  };
}

function gcm(id: number, name: string, keyLength: 16 | 32, prfHash: PrfHash, psk: boolean): CipherSuite {
  return {
    id,
    name,
    kind: 'gcm',
    cipher: keyLength === 16 ? 'aes-128-gcm' : 'aes-256-gcm',
    keyLength,
    fixedIvLength: 4,
    blockSize: 0,
    macHash: null,
    macLength: 0,
    prfHash,
    psk,
    dtls09: false,
  };
}

function chacha(id: number, name: string, psk: boolean): CipherSuite {
  return {
    id,
    name,
    kind: 'chacha20-poly1305',
    cipher: 'chacha20-poly1305',
    keyLength: 32,
    fixedIvLength: 12,
    blockSize: 0,
    macHash: null,
    macLength: 0,
    prfHash: 'sha256',
    psk,
    dtls09: false,
  };
}

/** Suite IDs by IANA name, for readable call sites and tests. */
export const SuiteId = {
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 0x000a,
  TLS_RSA_WITH_AES_128_CBC_SHA: 0x002f,
  TLS_DHE_RSA_WITH_AES_128_CBC_SHA: 0x0033,
  TLS_RSA_WITH_AES_256_CBC_SHA: 0x0035,
  TLS_DHE_RSA_WITH_AES_256_CBC_SHA: 0x0039,
  TLS_PSK_WITH_AES_128_CBC_SHA: 0x008c,
  TLS_PSK_WITH_AES_256_CBC_SHA: 0x008d,
  TLS_RSA_WITH_AES_128_GCM_SHA256: 0x009c,
  TLS_RSA_WITH_AES_256_GCM_SHA384: 0x009d,
  TLS_PSK_WITH_AES_128_GCM_SHA256: 0x00a8,
  TLS_PSK_WITH_AES_256_GCM_SHA384: 0x00a9,
  TLS_PSK_WITH_AES_128_CBC_SHA256: 0x00ae,
  TLS_PSK_WITH_AES_256_CBC_SHA384: 0x00af,
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 0xc02b,
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 0xc02c,
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 0xc02f,
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 0xc030,
  TLS_PSK_WITH_CHACHA20_POLY1305_SHA256: 0xccab,
} as const;

const S = SuiteId;

const ALL: readonly CipherSuite[] = [
  cbc(S.TLS_RSA_WITH_3DES_EDE_CBC_SHA, 'TLS_RSA_WITH_3DES_EDE_CBC_SHA', 'des-ede3-cbc', 24, 8, 'sha1', 'sha256', false),
  cbc(S.TLS_RSA_WITH_AES_128_CBC_SHA, 'TLS_RSA_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 16, 16, 'sha1', 'sha256', false),
  cbc(S.TLS_DHE_RSA_WITH_AES_128_CBC_SHA, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 16, 16, 'sha1', 'sha256', false),
  cbc(S.TLS_RSA_WITH_AES_256_CBC_SHA, 'TLS_RSA_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 32, 16, 'sha1', 'sha256', false),
  cbc(S.TLS_DHE_RSA_WITH_AES_256_CBC_SHA, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 32, 16, 'sha1', 'sha256', false),
  cbc(S.TLS_PSK_WITH_AES_128_CBC_SHA, 'TLS_PSK_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 16, 16, 'sha1', 'sha256', true),
  cbc(S.TLS_PSK_WITH_AES_256_CBC_SHA, 'TLS_PSK_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 32, 16, 'sha1', 'sha256', true),
  gcm(S.TLS_RSA_WITH_AES_128_GCM_SHA256, 'TLS_RSA_WITH_AES_128_GCM_SHA256', 16, 'sha256', false),
  gcm(S.TLS_RSA_WITH_AES_256_GCM_SHA384, 'TLS_RSA_WITH_AES_256_GCM_SHA384', 32, 'sha384', false),
  gcm(S.TLS_PSK_WITH_AES_128_GCM_SHA256, 'TLS_PSK_WITH_AES_128_GCM_SHA256', 16, 'sha256', true),
  gcm(S.TLS_PSK_WITH_AES_256_GCM_SHA384, 'TLS_PSK_WITH_AES_256_GCM_SHA384', 32, 'sha384', true),
  cbc(S.TLS_PSK_WITH_AES_128_CBC_SHA256, 'TLS_PSK_WITH_AES_128_CBC_SHA256', 'aes-128-cbc', 16, 16, 'sha256', 'sha256', true),
  cbc(S.TLS_PSK_WITH_AES_256_CBC_SHA384, 'TLS_PSK_WITH_AES_256_CBC_SHA384', 'aes-256-cbc', 32, 16, 'sha384', 'sha384', true),
  gcm(S.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 16, 'sha256', false),
  gcm(S.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 32, 'sha384', false),
  gcm(S.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 16, 'sha256', false),
  gcm(S.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 32, 'sha384', false),
  // RFC 7905. openconnect's GnuTLS build also uses this ID for the OC2-DTLS1_2-CHACHA20-POLY1305
  // resume mode (PROTOCOL.md §6.6), where the PSK key exchange never runs.
  chacha(S.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256, 'TLS_PSK_WITH_CHACHA20_POLY1305_SHA256', true),
];

const BY_ID = new Map<number, CipherSuite>(ALL.map((s) => [s.id, s]));

export function getSuite(id: number): CipherSuite | undefined {
  return BY_ID.get(id);
}

export function allSuites(): readonly CipherSuite[] {
  return ALL;
}

/** Whether `suite` can be used for a resumption under `version`. */
export function suiteAllowedForResume(suite: CipherSuite, version: DtlsVersion): boolean {
  if (version === DTLS0_9) return suite.dtls09;
  return version === DTLS1_2;
}

/**
 * Default PSK-NEGOTIATE preference: what openconnect 9.01/GnuTLS 3.7 offers
 * (transcripts/ocserv-dtls-wire.txt frame 25) minus the CCM suites we do not
 * implement. ocserv picked 00 A9 from that list.
 */
export const DEFAULT_PSK_SUITES: readonly number[] = [
  S.TLS_PSK_WITH_AES_256_GCM_SHA384,
  S.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
  S.TLS_PSK_WITH_AES_128_GCM_SHA256,
  S.TLS_PSK_WITH_AES_256_CBC_SHA,
  S.TLS_PSK_WITH_AES_128_CBC_SHA,
  S.TLS_PSK_WITH_AES_128_CBC_SHA256,
  S.TLS_PSK_WITH_AES_256_CBC_SHA384,
];

/** Bytes of the key block: two MAC keys, two encryption keys, two IVs/salts. */
export function keyBlockLength(suite: CipherSuite): number {
  return 2 * (suite.macLength + suite.keyLength + suite.fixedIvLength);
}
