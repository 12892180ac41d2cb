/**
 * Public types of the DTLS endpoints: options, results, events, drop reasons.
 * See index.ts for how a caller drives an endpoint.
 */
import type { DtlsVersion } from './constants.js';

/** Why a received record or message was discarded. Never fatal; count them. */
export type DropReason =
  /** Datagram ends inside a record header or fragment. */
  | 'truncated'
  /** Record length field above 2^14+2048, or decrypted plaintext above 2^14. */
  | 'oversized'
  /** Record version not valid for this association. */
  | 'bad-version'
  /** Unknown content type, or a content type not allowed in this epoch/state. */
  | 'bad-content-type'
  /** Epoch neither current, previous, nor the next one during the handshake. */
  | 'bad-epoch'
  /** Sequence number already seen (replay window). */
  | 'replay'
  /** Sequence number left of the 64-entry replay window. */
  | 'too-old'
  /** MAC, padding or AEAD tag check failed (one reason on purpose). */
  | 'bad-mac'
  /** Malformed handshake/CCS/alert payload. */
  | 'malformed'
  /** Well-formed handshake message not expected in the current state. */
  | 'unexpected-message'
  /** Handshake message/CCS already processed (peer retransmission). */
  | 'duplicate'
  /** Application data before the handshake completed, or after close/failure. */
  | 'not-established'
  /** Next-epoch records buffered past the limit, or message_seq too far ahead. */
  | 'buffer-full'
  /** ClientHello for another session id/App-ID than this endpoint serves. */
  | 'unknown-session'
  /** ClientHello without a valid cookie (a HelloVerifyRequest was sent). */
  | 'cookie-required'
  /**
   * A fresh ClientHello (new random) arrived on an established association:
   * the peer restarted or rekeys with a new association. The caller may hand
   * this datagram to a new server endpoint (PROTOCOL.md §6.8 item 3, §6.11).
   */
  | 'new-handshake'
  /** Encrypted handshake after completion (renegotiation is not supported). */
  | 'renegotiation'
  /** The endpoint is closed or failed. */
  | 'closed'
  /** Bug guard: an exception was caught inside the endpoint. */
  | 'internal-error';

export type DtlsFailReason =
  /** No handshake completion within handshakeTimeoutMs. */
  | 'timeout'
  /** Resume mode: the server did not resume (new session id, Certificate, ...). */
  | 'resume-refused'
  /** The peer's Finished did not verify (wrong master secret or PSK). */
  | 'bad-finished'
  /** The peer sent a fatal alert during the handshake. */
  | 'peer-alert'
  /** No cipher suite in common / server picked one we did not offer. */
  | 'no-common-suite'
  /** Protocol version mismatch. */
  | 'protocol-version'
  /** A handshake message with forbidden content (e.g. unrequested EMS, bad renegotiation_info). */
  | 'illegal-parameter'
  /** Too many HelloVerifyRequests. */
  | 'too-many-hello-verify';

export interface DtlsSessionInfo {
  readonly role: 'client' | 'server';
  readonly mode: 'resume' | 'psk';
  readonly version: DtlsVersion;
  readonly suiteId: number;
  readonly suiteName: string;
  readonly extendedMasterSecret: boolean;
  /** Bytes a record adds to its plaintext, worst case (header + nonce/IV + tag/MAC + padding). */
  readonly maxRecordOverhead: number;
}

export type DtlsEvent =
  | { readonly type: 'established'; readonly info: DtlsSessionInfo }
  | { readonly type: 'failed'; readonly reason: DtlsFailReason; readonly message: string }
  /** The peer sent close_notify (or a fatal alert) on the protected channel. */
  | { readonly type: 'closed'; readonly alert: number };

/**
 * Everything a call produced. Arrays are appended to, so one result object can
 * collect a whole batch of datagrams (pass it as `out`).
 */
export interface DtlsResult {
  /** Datagrams to transmit to the peer, in order. */
  send: Buffer[];
  /** Decrypted application-record payloads (AnyConnect type byte + payload, PROTOCOL.md §6.1). */
  deliver: Buffer[];
  events: DtlsEvent[];
  drops: DropReason[];
  /**
   * Absolute time (same clock as the `nowMs` arguments) at which `onTimer()`
   * must be called, or null for no timer. Always the endpoint's *current*
   * wish: re-arm (or cancel) your timer from it after every call.
   */
  timerAt: number | null;
}

export function createResult(): DtlsResult {
  return { send: [], deliver: [], events: [], drops: [], timerAt: null };
}

/** Empty a result for reuse (batch loops). */
export function clearResult(r: DtlsResult): void {
  r.send.length = 0;
  r.deliver.length = 0;
  r.events.length = 0;
  r.drops.length = 0;
  r.timerAt = null;
}

export interface HelloVerifyOptions {
  /** Secret for the stateless cookie HMAC (≥ 16 random bytes, may be rotated by making new endpoints). */
  readonly secret: Buffer;
  /** Bytes identifying the peer transport address (e.g. "ip:port"), bound into the cookie. */
  readonly peer?: Buffer;
}

export interface CommonOptions {
  /** First retransmission timeout (RFC 6347 §4.2.4.1 suggests 1 s; default 1000). */
  readonly initialRetransmitMs?: number;
  /** Upper bound of the doubling retransmission timeout (default 60000, PROTOCOL.md A.2). */
  readonly maxRetransmitMs?: number;
  /** Give up a handshake after this long (default 60000, ocserv/GnuTLS's value, §6.7). */
  readonly handshakeTimeoutMs?: number;
  /** Largest datagram used for handshake flights (records are packed up to this; default 1400). */
  readonly maxDatagramSize?: number;
  /** Random source (tests inject a deterministic one). Defaults to crypto.randomBytes. */
  readonly randomBytes?: (n: number) => Buffer;
}

/** Modes B, C, D (PROTOCOL.md §6.3-§6.6): abbreviated handshake from injected session state. */
export interface ResumeParams {
  readonly mode: 'resume';
  readonly version: DtlsVersion;
  /** IANA suite id (see names.ts for the header names). */
  readonly suite: number;
  /** X-DTLS-Session-ID, 32 bytes. */
  readonly sessionId: Buffer;
  /** X-DTLS-Master-Secret, 48 bytes. */
  readonly masterSecret: Buffer;
}

export interface ResumeClientOptions extends CommonOptions, ResumeParams {
  readonly role: 'client';
}

export interface ResumeServerOptions extends CommonOptions, ResumeParams {
  readonly role: 'server';
  /** Send a HelloVerifyRequest first. Default: off (ocserv does not, transcripts). */
  readonly helloVerify?: HelloVerifyOptions;
}

/** Mode A (PROTOCOL.md §6.7): DTLS 1.2 full PSK handshake. */
export interface PskClientOptions extends CommonOptions {
  readonly role: 'client';
  readonly mode: 'psk';
  /** exportKeyingMaterial(32, 'EXPORTER-openconnect-psk') of the CSTP TLS connection. */
  readonly psk: Buffer;
  /** Hex-decoded X-DTLS-App-ID: sent as the ClientHello session_id. */
  readonly appId: Buffer;
  /** PSK identity (servers ignore it; openconnect sends "psk"). */
  readonly identity?: Buffer;
  /** Suites to offer, in preference order (default DEFAULT_PSK_SUITES). */
  readonly suites?: readonly number[];
  /** Also send the App-ID in private extension 48018 (older openconnect did). Default false. */
  readonly appIdExtension?: boolean;
  /** Offer Extended Master Secret (RFC 7627). Default false, like openconnect 9.01 (transcripts). */
  readonly extendedMasterSecret?: boolean;
}

export interface PskServerOptions extends CommonOptions {
  readonly role: 'server';
  readonly mode: 'psk';
  readonly psk: Buffer;
  /** Expected App-ID; when set, ClientHellos for another id are dropped ('unknown-session'). */
  readonly appId?: Buffer;
  /** Acceptable suites, server preference order (default DEFAULT_PSK_SUITES). */
  readonly suites?: readonly number[];
  /** Send a HelloVerifyRequest first. Default: off (ocserv does not, §6.7). */
  readonly helloVerify?: HelloVerifyOptions;
}

export type DtlsClientOptions = ResumeClientOptions | PskClientOptions;
export type DtlsServerOptions = ResumeServerOptions | PskServerOptions;

/** Traffic keys of an established association, for an external (e.g. native) data plane. */
export interface DtlsTrafficKeys {
  readonly version: DtlsVersion;
  readonly suiteId: number;
  readonly epoch: number;
  readonly write: { readonly macKey: Buffer; readonly encKey: Buffer; readonly fixedIv: Buffer };
  readonly read: { readonly macKey: Buffer; readonly encKey: Buffer; readonly fixedIv: Buffer };
  /** Next sequence number the endpoint would use for an epoch-`epoch` record. */
  readonly nextWriteSeq: number;
}
