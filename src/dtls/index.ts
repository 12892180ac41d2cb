/**
 * sslgate DTLS: the AnyConnect DTLS subset as a pure module (no sockets, no timers).
 *
 * Modes (PROTOCOL.md §6.2):
 *   A  PSK-NEGOTIATE       DTLS 1.2 full plain-PSK handshake (00 A9, 00 A8, CC AB, PSK CBC suites)
 *   B  X-DTLS12-CipherSuite DTLS 1.2 abbreviated handshake from injected session state
 *   C  OC-DTLS1_2-*         same as B, named in X-DTLS-CipherSuite
 *   D  legacy names         DTLS 0.9 (01 00) abbreviated handshake, CBC + HMAC-SHA1
 *
 * ── Driving an endpoint ────────────────────────────────────────────────────
 *
 *   const ep = new DtlsClient(options)              // or new DtlsServer(options)
 *   let r = ep.role === 'client' ? ep.start(now) : createResult()
 *   loop:
 *     for (const d of r.send) udp.send(d)           // datagrams, in order
 *     for (const p of r.deliver) onPacket(p)        // decrypted app payloads: type byte ‖ payload (§6.1)
 *     for (const e of r.events) ...                 // 'established' | 'failed' | 'closed'
 *     for (const why of r.drops) counters[why]++    // never fatal
 *     rearm(r.timerAt)                              // absolute ms on YOUR clock, null = no timer
 *   on datagram:  r = ep.handleDatagram(buf, now)
 *   on timer:     r = ep.onTimer(now)
 *
 * The caller owns the clock and the timers: `timerAt` is the endpoint's
 * current wish after every call (retransmission with 1 s initial timeout,
 * doubling up to 60 s, and the handshake deadline). Nothing else is async.
 * handleDatagram/onTimer never throw on network input; problems become drop
 * reasons (DropReason) or a 'failed' event (DtlsFailReason).
 *
 * Batching: every entry point takes an optional `out: DtlsResult` to append
 * to, so a batch of datagrams can share one result (clearResult() to reuse).
 *
 * ── Data path after 'established' ──────────────────────────────────────────
 *
 *   ep.protect(payload) → Buffer                    // one application record (payload = type byte ‖ packet)
 *   ep.protectInPlace(buf, off, len) → recordLen    // payload at buf[off..off+len) with ep.headroom
 *                                                    // bytes before and ep.tailroom after; the record
 *                                                    // is written at off - ep.headroom
 *   ep.handleDatagram(dgram, now).deliver           // received application payloads
 *   ep.exportTrafficKeys()                          // keys + next sequence number, for a native data plane
 *   ep.close() → close_notify datagram in .send
 *
 * Keep feeding all datagrams of the association to handleDatagram after
 * establishment: the side that sent the last handshake flight must resend it
 * when the peer retransmits (RFC 6347 §4.2.4), and that happens inside.
 *
 * ── Gateway: mapping a first ClientHello to a session (§6.8) ───────────────
 *
 *   peekClientHelloSessionId(datagram) → Buffer | null   // App-ID ext 48018, else session_id
 *   peekClientHello(datagram) → ClientHelloPeek | null
 *   then: new DtlsServer({ role: 'server', mode: 'psk', psk, appId }) or
 *         new DtlsServer({ role: 'server', mode: 'resume', version, suite, sessionId, masterSecret })
 *   and feed it that same datagram. A 'new-handshake' drop on an established
 *   server means a new ClientHello arrived on the same flow: hand that datagram
 *   to a fresh server endpoint, and keep the established one until the new one
 *   completes (anyone who saw the session id can send a ClientHello).
 *
 * ── Names from CONNECT headers ──────────────────────────────────────────────
 *
 *   lookupDtlsCipherName('X-DTLS-CipherSuite', 'AES256-SHA')
 *     → { mode: 'resume', version: DTLS0_9, suite: 0x0035, name }
 *   lookupDtlsCipherName('X-DTLS12-CipherSuite', 'ECDHE-RSA-AES256-GCM-SHA384')
 *     → { mode: 'resume', version: DTLS1_2, suite: 0xc030, name }
 *   lookupDtlsCipherName('X-DTLS-CipherSuite', 'PSK-NEGOTIATE') → { mode: 'psk', name }
 */
export { DtlsClient, RESUME_REFUSED_MESSAGE } from './client.js';
export { DtlsServer } from './server.js';
export type { EndpointState } from './record-layer.js';
export * from './types.js';
export {
  DTLS0_9,
  DTLS1_0,
  DTLS1_2,
  DtlsPacketType,
  ContentType,
  AlertDescription,
  type DtlsVersion,
} from './constants.js';
export { SuiteId, getSuite, allSuites, DEFAULT_PSK_SUITES, type CipherSuite } from './suites.js';
export {
  lookupDtlsCipherName,
  parseDtlsCipherHeader,
  supportedDtlsCipherNames,
  type DtlsCipherHeader,
  type DtlsSetup,
} from './names.js';
export { peekClientHello, peekClientHelloSessionId, type ClientHelloPeek } from './peek.js';
export { maxRecordOverhead, maxPlaintextForDatagram, dtlsDataMtu } from './mtu.js';
export { prfTls10, prfTls12 } from './prf.js';
export { deriveKeyBlock, computeVerifyData, pskPreMasterSecret, type KeyBlock, type DirectionKeys } from './keys.js';
export { ReplayWindow } from './replay.js';
