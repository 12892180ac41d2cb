/**
 * Stateless inspection of a first ClientHello, so the gateway can map a UDP
 * flow from an unknown address to its session before creating any DTLS state
 * (PROTOCOL.md §6.8, modelled on ocserv main.c forward_udp_to_owner):
 *
 *   - byte 0 must be 22 (handshake), epoch 0, handshake type 1 (ClientHello),
 *     first fragment (offset 0) containing at least the session id;
 *   - record and hello versions must be FE FF, FE FD or 01 00;
 *   - an all-zero random is refused (buggy GnuTLS 3.6.3-3.6.12);
 *   - the identifier is the App-ID from private extension 48018 if present
 *     (ocserv checks it first), else the session_id.
 *
 * Every read is bounds-checked; nothing here throws.
 */
import { isAllZero, Reader } from './bytes.js';
import {
  ContentType,
  DTLS0_9,
  DTLS1_0,
  DTLS1_2,
  ExtensionType,
  HandshakeType,
  MAX_SESSION_ID_LENGTH,
  RANDOM_LENGTH,
  RECORD_HEADER_LENGTH,
} from './constants.js';

export interface ClientHelloPeek {
  readonly recordVersion: number;
  readonly helloVersion: number;
  /** Copy of the session_id (may be empty). */
  readonly sessionId: Buffer;
  /** Copy of the App-ID from extension 48018, or null. */
  readonly appIdExtension: Buffer | null;
  /** What to look the session up by: appIdExtension ?? sessionId, null if both are empty. */
  readonly lookupId: Buffer | null;
  /** Whether the ClientHello carries a cookie (a second ClientHello after HelloVerifyRequest). */
  readonly hasCookie: boolean;
}

function okVersion(v: number): boolean {
  return v === DTLS1_0 || v === DTLS1_2 || v === DTLS0_9;
}

export function peekClientHello(datagram: Buffer): ClientHelloPeek | null {
  try {
    return peek(datagram);
  } catch {
    return null; // defensive: Reader does not throw, but this must never throw.
  }
}

function peek(datagram: Buffer): ClientHelloPeek | null {
  const r = new Reader(datagram);
  const type = r.u8();
  const recordVersion = r.u16();
  const epoch = r.u16();
  r.skip(6); // sequence number
  const recordLength = r.u16();
  if (!r.ok || type !== ContentType.handshake || epoch !== 0 || !okVersion(recordVersion)) return null;
  const recordEnd = RECORD_HEADER_LENGTH + recordLength;
  if (recordEnd > datagram.length) return null;

  const h = new Reader(datagram, RECORD_HEADER_LENGTH, recordEnd);
  const msgType = h.u8();
  const length = h.u24();
  h.skip(2); // message_seq
  const fragmentOffset = h.u24();
  const fragmentLength = h.u24();
  if (!h.ok || msgType !== HandshakeType.clientHello || fragmentOffset !== 0) return null;
  if (fragmentLength > length || fragmentLength > h.remaining) return null;

  const bodyStart = h.offset;
  const b = new Reader(datagram, bodyStart, bodyStart + fragmentLength);
  const helloVersion = b.u16();
  const random = b.bytes(RANDOM_LENGTH);
  const sessionId = b.vec8(MAX_SESSION_ID_LENGTH);
  if (!b.ok || !okVersion(helloVersion) || isAllZero(random)) return null;

  // The rest is optional for the lookup: parse it only if this fragment holds the whole message.
  let appIdExtension: Buffer | null = null;
  let hasCookie = false;
  const cookie = b.vec8();
  if (b.ok) hasCookie = cookie.length > 0;
  if (fragmentLength === length) {
    b.vec16(); // cipher suites
    b.vec8(); // compression methods
    if (b.ok && b.remaining >= 2) {
      const exts = new Reader(b.vec16());
      while (b.ok && exts.ok && exts.remaining > 0) {
        const extType = exts.u16();
        const data = exts.vec16();
        if (!exts.ok) break;
        if (extType === ExtensionType.anyconnectAppId) {
          // Body: len(1) ‖ id (PROTOCOL.md §6.7).
          const e = new Reader(data);
          const id = e.vec8(MAX_SESSION_ID_LENGTH);
          if (e.ok && e.remaining === 0 && id.length > 0) appIdExtension = Buffer.from(id);
          break;
        }
      }
    }
  }

  const sid = Buffer.from(sessionId);
  const lookupId = appIdExtension ?? (sid.length > 0 ? sid : null);
  return { recordVersion, helloVersion, sessionId: sid, appIdExtension, lookupId, hasCookie };
}

/**
 * The identifier to map this datagram to a session (App-ID extension, else
 * session_id), or null if it is not a usable first ClientHello.
 */
export function peekClientHelloSessionId(datagram: Buffer): Buffer | null {
  return peekClientHello(datagram)?.lookupId ?? null;
}
