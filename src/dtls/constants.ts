/**
 * Wire constants of the AnyConnect DTLS subset.
 *
 * Numbers are from RFC 5246 / RFC 6347 (DTLS 1.2), RFC 4347 (DTLS 1.0) and
 * PROTOCOL.md §6.4 for Cisco's pre-RFC "DTLS 0.9" (OpenSSL DTLS1_BAD_VER).
 */

/** Protocol versions as they appear on the wire (record and hello version fields). */
export const DTLS0_9 = 0x0100; // Cisco pre-RFC DTLS (OpenSSL DTLS1_BAD_VER), PROTOCOL.md §6.4
export const DTLS1_0 = 0xfeff; // RFC 4347; GnuTLS uses it as the record version of a DTLS 1.2 ClientHello
export const DTLS1_2 = 0xfefd; // RFC 6347

/** The two protocol versions this module negotiates. */
export type DtlsVersion = typeof DTLS0_9 | typeof DTLS1_2;

/** Record content types (RFC 5246 §6.2.1). */
export const ContentType = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
} as const;

/** Handshake message types (RFC 5246 §7.4, RFC 6347 §4.3.2). */
export const HandshakeType = {
  helloRequest: 0,
  clientHello: 1,
  serverHello: 2,
  helloVerifyRequest: 3,
  newSessionTicket: 4,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  clientKeyExchange: 16,
  finished: 20,
} as const;

/** Alert levels and the descriptions we send or recognise (RFC 5246 §7.2). */
export const AlertLevel = { warning: 1, fatal: 2 } as const;
export const AlertDescription = {
  closeNotify: 0,
  unexpectedMessage: 10,
  badRecordMac: 20,
  handshakeFailure: 40,
  illegalParameter: 47,
  decodeError: 50,
  decryptError: 51,
  protocolVersion: 70,
  internalError: 80,
  noRenegotiation: 100,
  unsupportedExtension: 110,
} as const;

/** TLS extension numbers we look at. */
export const ExtensionType = {
  signatureAlgorithms: 13,
  extendedMasterSecret: 23, // RFC 7627
  sessionTicket: 35,
  recordSizeLimit: 28,
  renegotiationInfo: 0xff01, // RFC 5746
  /** Private extension carrying the AnyConnect App-ID (older openconnect; ocserv checks it first), PROTOCOL.md §6.7. */
  anyconnectAppId: 48018, // 0xBB92
} as const;

/** TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3): same meaning as an empty renegotiation_info. */
export const EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

/** Fixed sizes. */
export const RECORD_HEADER_LENGTH = 13; // type(1) version(2) epoch(2) seq(6) length(2)
export const RANDOM_LENGTH = 32;
export const MASTER_SECRET_LENGTH = 48;
export const VERIFY_DATA_LENGTH = 12;
export const MAX_SESSION_ID_LENGTH = 32;

/** RFC 6347 §4.1 / RFC 5246 §6.2.3: plaintext ≤ 2^14, ciphertext ≤ 2^14 + 2048. */
export const MAX_PLAINTEXT_LENGTH = 16384;
export const MAX_CIPHERTEXT_LENGTH = 16384 + 2048;

/** 48-bit record sequence numbers (RFC 6347 §4.1). */
export const MAX_SEQUENCE = 2 ** 48 - 1;

/**
 * AnyConnect packet types carried as the first byte of every DTLS application
 * record (PROTOCOL.md §6.1, same numbers as CSTP §5.2).
 */
export const DtlsPacketType = {
  data: 0x00,
  dpdRequest: 0x03,
  dpdResponse: 0x04,
  disconnect: 0x05,
  keepalive: 0x07,
  compressed: 0x08,
} as const;

export function versionName(v: number): string {
  switch (v) {
    case DTLS0_9:
      return 'DTLS0.9';
    case DTLS1_0:
      return 'DTLS1.0';
    case DTLS1_2:
      return 'DTLS1.2';
    default:
      return `0x${v.toString(16).padStart(4, '0')}`;
  }
}
