/**
 * Handshake message codec for the messages the AnyConnect DTLS subset uses:
 * ClientHello, ServerHello, HelloVerifyRequest, ServerKeyExchange and
 * ClientKeyExchange for plain PSK (RFC 4279 §2), ServerHelloDone, Finished.
 *
 * Layouts: RFC 5246 §7.4 with the DTLS additions of RFC 6347 §4.2 (cookie in
 * ClientHello, HelloVerifyRequest, 12-byte handshake header). DTLS 0.9 uses
 * the same layouts (PROTOCOL.md §6.4 "Wire layout").
 *
 * Every parser is bounds-checked, enforces the limits below and returns null
 * on any malformation; none of them throws.
 */
import { EMPTY, Reader, u16, u24, u8, vec16, vec8 } from './bytes.js';
import {
  MAX_SESSION_ID_LENGTH,
  RANDOM_LENGTH,
  VERIFY_DATA_LENGTH,
} from './constants.js';

/** Limits on untrusted input. */
export const Limits = {
  /** Largest handshake message we accept (ours are < 300 bytes; GnuTLS's ClientHello ~150). */
  maxHandshakeMessage: 8192,
  maxCookie: 255, // RFC 6347: opaque cookie<0..2^8-1>
  maxCipherSuites: 512,
  maxExtensions: 64,
  maxPskIdentity: 1024,
} as const;

export interface HandshakeFragment {
  msgType: number;
  /** Length of the whole message body. */
  length: number;
  messageSeq: number;
  fragmentOffset: number;
  /** View of this fragment's bytes. */
  data: Buffer;
}

/** Split a handshake record's plaintext into fragments; null if malformed. */
export function parseHandshakeFragments(plaintext: Buffer): HandshakeFragment[] | null {
  const out: HandshakeFragment[] = [];
  const r = new Reader(plaintext);
  while (r.remaining > 0) {
    const msgType = r.u8();
    const length = r.u24();
    const messageSeq = r.u16();
    const fragmentOffset = r.u24();
    const fragmentLength = r.u24();
    const data = r.bytes(fragmentLength);
    if (!r.ok) return null;
    if (fragmentOffset + fragmentLength > length) return null;
    if (length > Limits.maxHandshakeMessage) return null;
    out.push({ msgType, length, messageSeq, fragmentOffset, data });
  }
  return out;
}

/** The 12-byte DTLS handshake header for an unfragmented message. */
export function handshakeHeader(msgType: number, length: number, messageSeq: number): Buffer {
  return Buffer.concat([u8(msgType), u24(length), u16(messageSeq), u24(0), u24(length)]);
}

/** A whole, unfragmented handshake message (header + body). */
export function encodeHandshake(msgType: number, messageSeq: number, body: Buffer): Buffer {
  return Buffer.concat([handshakeHeader(msgType, body.length, messageSeq), body]);
}

// ---------------------------------------------------------------------------
// Extensions

export interface Extension {
  type: number;
  data: Buffer;
}

/**
 * The extensions block: null when absent (allowed: RFC 5246 §7.4.1.2), undefined when malformed
 * (bad lengths, duplicates, too many) so the hello is refused rather than read as having none.
 */
function parseExtensions(r: Reader): Extension[] | null | undefined {
  if (r.remaining === 0) return null;
  const block = r.vec16();
  if (!r.ok) return undefined;
  const er = new Reader(block);
  const exts: Extension[] = [];
  const seen = new Set<number>();
  while (er.remaining > 0) {
    const type = er.u16();
    const data = er.vec16();
    if (!er.ok) return undefined;
    if (seen.has(type)) return undefined; // RFC 5246 §7.4.1.4: no duplicates
    seen.add(type);
    exts.push({ type, data });
    if (exts.length > Limits.maxExtensions) return undefined;
  }
  return exts;
}

function encodeExtensions(exts: readonly Extension[] | null): Buffer {
  if (exts === null) return EMPTY;
  return vec16(Buffer.concat(exts.map((e) => Buffer.concat([u16(e.type), vec16(e.data)]))));
}

export function findExtension(exts: readonly Extension[] | null, type: number): Buffer | null {
  if (!exts) return null;
  for (const e of exts) if (e.type === type) return e.data;
  return null;
}

// ---------------------------------------------------------------------------
// ClientHello

export interface ClientHello {
  version: number;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  cipherSuites: number[];
  compressionMethods: Buffer;
  /** null = no extensions block at all. */
  extensions: Extension[] | null;
  /** Raw bytes of the cipher_suites vector (for the HelloVerifyRequest cookie). */
  rawCipherSuites: Buffer;
}

export function parseClientHello(body: Buffer): ClientHello | null {
  const r = new Reader(body);
  const version = r.u16();
  const random = r.bytes(RANDOM_LENGTH);
  const sessionId = r.vec8(MAX_SESSION_ID_LENGTH);
  const cookie = r.vec8(Limits.maxCookie);
  const rawCipherSuites = r.vec16(2 * Limits.maxCipherSuites);
  const compressionMethods = r.vec8();
  if (!r.ok) return null;
  if (rawCipherSuites.length === 0 || rawCipherSuites.length % 2 !== 0) return null;
  if (compressionMethods.length === 0) return null;
  const cipherSuites: number[] = [];
  for (let i = 0; i < rawCipherSuites.length; i += 2) cipherSuites.push(rawCipherSuites.readUInt16BE(i));
  const extensions = parseExtensions(r);
  if (extensions === undefined || !r.ok || r.remaining !== 0) return null;
  return { version, random, sessionId, cookie, cipherSuites, compressionMethods, extensions, rawCipherSuites };
}

interface ClientHelloInit {
  version: number;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  cipherSuites: readonly number[];
  extensions: readonly Extension[] | null;
}

export function encodeClientHello(ch: ClientHelloInit): Buffer {
  const suites = Buffer.allocUnsafe(2 * ch.cipherSuites.length);
  ch.cipherSuites.forEach((s, i) => suites.writeUInt16BE(s, 2 * i));
  return Buffer.concat([
    u16(ch.version),
    ch.random,
    vec8(ch.sessionId),
    vec8(ch.cookie),
    vec16(suites),
    vec8(Buffer.from([0])), // compression: null only
    encodeExtensions(ch.extensions),
  ]);
}

// ---------------------------------------------------------------------------
// ServerHello

export interface ServerHello {
  version: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  compressionMethod: number;
  extensions: Extension[] | null;
}

export function parseServerHello(body: Buffer): ServerHello | null {
  const r = new Reader(body);
  const version = r.u16();
  const random = r.bytes(RANDOM_LENGTH);
  const sessionId = r.vec8(MAX_SESSION_ID_LENGTH);
  const cipherSuite = r.u16();
  const compressionMethod = r.u8();
  if (!r.ok) return null;
  const extensions = parseExtensions(r);
  if (extensions === undefined || !r.ok || r.remaining !== 0) return null;
  return { version, random, sessionId, cipherSuite, compressionMethod, extensions };
}

export function encodeServerHello(sh: Omit<ServerHello, 'compressionMethod'>): Buffer {
  return Buffer.concat([
    u16(sh.version),
    sh.random,
    vec8(sh.sessionId),
    u16(sh.cipherSuite),
    u8(0),
    encodeExtensions(sh.extensions),
  ]);
}

// ---------------------------------------------------------------------------
// HelloVerifyRequest (RFC 6347 §4.2.1)

export interface HelloVerifyRequest {
  version: number;
  cookie: Buffer;
}

export function parseHelloVerifyRequest(body: Buffer): HelloVerifyRequest | null {
  const r = new Reader(body);
  const version = r.u16();
  const cookie = r.vec8(Limits.maxCookie);
  if (!r.ok || r.remaining !== 0 || cookie.length === 0) return null;
  return { version, cookie };
}

export function encodeHelloVerifyRequest(hvr: HelloVerifyRequest): Buffer {
  return Buffer.concat([u16(hvr.version), vec8(hvr.cookie)]);
}

// ---------------------------------------------------------------------------
// PSK ServerKeyExchange (identity hint) and ClientKeyExchange (identity): both
// are a single opaque<0..2^16-1> (RFC 4279 §2).

export function parsePskIdentity(body: Buffer): Buffer | null {
  const r = new Reader(body);
  const id = r.vec16(Limits.maxPskIdentity);
  if (!r.ok || r.remaining !== 0) return null;
  return id;
}

export function encodePskIdentity(identity: Buffer): Buffer {
  return vec16(identity);
}

// ---------------------------------------------------------------------------
// Finished

export function parseFinished(body: Buffer): Buffer | null {
  return body.length === VERIFY_DATA_LENGTH ? body : null;
}

// ---------------------------------------------------------------------------
// Alerts (RFC 5246 §7.2)

export interface Alert {
  level: number;
  description: number;
}

export function parseAlert(fragment: Buffer): Alert | null {
  if (fragment.length !== 2) return null;
  return { level: fragment[0]!, description: fragment[1]! };
}

export function encodeAlert(level: number, description: number): Buffer {
  return Buffer.from([level, description]);
}
