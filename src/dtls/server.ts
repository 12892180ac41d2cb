/**
 * DTLS server (gateway side) for the AnyConnect subset.
 *
 * Resume modes B/C/D (PROTOCOL.md §6.3-§6.6), abbreviated handshake:
 *   C: ClientHello(session_id = X-DTLS-Session-ID, our suite)
 *   S: ServerHello(echoed session_id), ChangeCipherSpec, Finished      [one flight, retransmitted]
 *   C: ChangeCipherSpec, Finished                                      → established
 *
 * PSK mode A (§6.7), full DTLS 1.2 plain-PSK handshake:
 *   C: ClientHello(session_id = App-ID, PSK suites)
 *   S: ServerHello, ServerHelloDone                                    [retransmitted]
 *   C: ClientKeyExchange(identity), ChangeCipherSpec, Finished
 *   S: ChangeCipherSpec, Finished                                      → established (final flight,
 *                                                                         resent if the client resends)
 *
 * Optional HelloVerifyRequest before either (off by default: ocserv sends
 * none, transcripts/ocserv-dtls*-wire.txt). What openconnect 9.01/GnuTLS 3.7
 * puts in its ClientHello (record version FE FF, extensions 13/35/65281/28, no
 * EMS) is accepted; unknown extensions are ignored.
 */
import { isAllZero } from './bytes.js';
import {
  AlertDescription,
  ContentType,
  DTLS0_9,
  DTLS1_0,
  DTLS1_2,
  EMPTY_RENEGOTIATION_INFO_SCSV,
  ExtensionType,
  HandshakeType,
  RANDOM_LENGTH,
  versionName,
} from './constants.js';
import { computeCookie, verifyCookie } from './cookie.js';
import { DtlsEndpointBase } from './endpoint.js';
import type { FlightItem } from './flight.js';
import {
  computeVerifyData,
  deriveExtendedMasterSecret,
  deriveKeyBlock,
  deriveMasterSecret,
  pskPreMasterSecret,
} from './keys.js';
import {
  encodeHandshake,
  encodeHelloVerifyRequest,
  encodeServerHello,
  findExtension,
  parseClientHello,
  parsePskIdentity,
  type ClientHello,
  type Extension,
  type HandshakeFragment,
} from './messages.js';
import type { HandshakeMessage } from './reassembly.js';
import { DEFAULT_PSK_SUITES, getSuite, suiteAllowedForResume, type CipherSuite } from './suites.js';
import { Transcript } from './transcript.js';
import type { DtlsResult, DtlsServerOptions, HelloVerifyOptions } from './types.js';

type ServerState = 'wait-client-hello' | 'wait-client-key-exchange' | 'wait-ccs' | 'wait-finished' | 'done';

export class DtlsServer extends DtlsEndpointBase {
  readonly role = 'server' as const;
  private readonly opts: DtlsServerOptions;
  private hs: ServerState = 'wait-client-hello';
  private suite: CipherSuite | null = null;
  private transcript: Transcript | null = null;
  private masterSecret: Buffer | null = null;
  private clientRandom: Buffer | null = null;
  private serverRandom: Buffer | null = null;
  private ems = false;
  /** Our next handshake message_seq. */
  private sendSeq = 0;
  private readonly helloVerify: HelloVerifyOptions | undefined;

  constructor(opts: DtlsServerOptions) {
    super(opts.mode === 'resume' ? opts.version : DTLS1_2, opts);
    this.opts = opts;
    this.helloVerify = opts.helloVerify;
    if (opts.mode === 'resume') {
      if (opts.sessionId.length === 0 || opts.sessionId.length > 32) throw new RangeError('sessionId must be 1..32 bytes');
      if (opts.masterSecret.length !== 48) throw new RangeError('masterSecret must be 48 bytes');
      const suite = getSuite(opts.suite);
      if (!suite || !suiteAllowedForResume(suite, opts.version)) {
        throw new RangeError(`suite 0x${opts.suite.toString(16)} not usable with ${versionName(opts.version)}`);
      }
    } else if (opts.psk.length === 0) {
      throw new RangeError('psk must not be empty');
    }
    // Servers number the ServerHello after the answered ClientHello; accept whichever comes.
    this.reasm.loose = true;
  }

  protected override beforeDatagram(nowMs: number): void {
    // The handshake clock starts with the first datagram the gateway hands us.
    if (this.state === 'idle' || this.state === 'handshaking') this.startDeadline(nowMs);
    if (this.state === 'idle') this.state = 'handshaking';
  }

  protected override onHandshakeMessage(msg: HandshakeMessage, epoch: number, nowMs: number, out: DtlsResult): void {
    switch (this.hs) {
      case 'wait-client-hello':
        if (msg.msgType !== HandshakeType.clientHello || epoch !== 0) return this.unexpected(out);
        return this.onClientHello(msg, nowMs, out);
      case 'wait-client-key-exchange':
        if (msg.msgType !== HandshakeType.clientKeyExchange || epoch !== 0) return this.unexpected(out);
        return this.onClientKeyExchange(msg, out);
      case 'wait-finished':
        if (msg.msgType !== HandshakeType.finished || epoch !== 1) return this.unexpected(out);
        return this.onFinished(msg, nowMs, out);
      default:
        return this.unexpected(out);
    }
  }

  protected override onChangeCipherSpec(_out: DtlsResult): void {
    if (this.hs === 'wait-ccs') this.hs = 'wait-finished';
  }

  /**
   * A ClientHello with an already-used message_seq: a retransmission (answer
   * with our flight) unless its random is new, which means the client started
   * over (before completion: restart; after: tell the caller).
   */
  protected override onOldHandshake(frag: HandshakeFragment, epoch: number, nowMs: number, out: DtlsResult): void {
    if (frag.msgType === HandshakeType.clientHello && epoch === 0 && frag.fragmentOffset === 0) {
      const random = frag.data.subarray(2, 2 + RANDOM_LENGTH);
      if (random.length === RANDOM_LENGTH && this.clientRandom && !random.equals(this.clientRandom)) {
        if (this.state === 'established') {
          out.drops.push('new-handshake');
          return;
        }
        if (frag.data.length === frag.length) {
          this.restart();
          const msgs: HandshakeMessage[] = [];
          this.reasm.push(frag, msgs);
          for (const m of msgs) this.onHandshakeMessage(m, 0, nowMs, out);
          return;
        }
      }
    }
    super.onOldHandshake(frag, epoch, nowMs, out);
  }

  private restart(): void {
    this.resetHandshake();
    this.hs = 'wait-client-hello';
    this.suite = null;
    this.transcript = null;
    this.masterSecret = null;
    this.clientRandom = null;
    this.serverRandom = null;
    this.ems = false;
    this.reasm.loose = true;
  }

  private unexpected(out: DtlsResult): void {
    out.drops.push('unexpected-message');
  }

  private onClientHello(msg: HandshakeMessage, nowMs: number, out: DtlsResult): void {
    const ch = parseClientHello(msg.body);
    // ocserv also refuses an all-zero random (buggy GnuTLS 3.6.3-3.6.12, PROTOCOL.md §6.8).
    if (!ch || isAllZero(ch.random)) {
      this.reasm.loose = true;
      out.drops.push('malformed');
      return;
    }
    if (!this.sessionMatches(ch)) {
      this.reasm.loose = true;
      out.drops.push('unknown-session');
      return;
    }
    if (this.helloVerify && !verifyCookie(this.helloVerify.secret, this.helloVerify.peer, ch)) {
      this.sendHelloVerifyRequest(ch, msg.messageSeq, out);
      return;
    }
    const opts = this.opts;
    // Version: DTLS 0.9 peers say 01 00; DTLS 1.2 clients say FE FD (or a lower,
    // i.e. numerically smaller, future version).
    const versionOk = opts.mode === 'resume' && opts.version === DTLS0_9 ? ch.version === DTLS0_9 : ch.version <= DTLS1_2 && ch.version > DTLS0_9;
    if (!versionOk) {
      return this.fail('protocol-version', `ClientHello version ${versionName(ch.version)} not acceptable`, out, AlertDescription.protocolVersion);
    }
    if (!ch.compressionMethods.includes(0)) {
      return this.fail('illegal-parameter', 'ClientHello without null compression', out, AlertDescription.illegalParameter);
    }
    const suite = this.chooseSuite(ch);
    if (!suite) {
      return this.fail('no-common-suite', 'no acceptable cipher suite offered', out, AlertDescription.handshakeFailure);
    }
    const extensions: Extension[] = [];
    if (opts.mode === 'psk') {
      // RFC 5746: an initial ClientHello's renegotiation_info must be empty; echo it (ocserv does in PSK mode).
      const ri = findExtension(ch.extensions, ExtensionType.renegotiationInfo);
      if (ri && !(ri.length === 1 && ri[0] === 0)) {
        return this.fail('illegal-parameter', 'non-empty renegotiation_info', out, AlertDescription.handshakeFailure);
      }
      if (ri || ch.cipherSuites.includes(EMPTY_RENEGOTIATION_INFO_SCSV)) {
        extensions.push({ type: ExtensionType.renegotiationInfo, data: Buffer.from([0]) });
      }
      // RFC 7627 when offered (openconnect 9.01 does not offer it; other clients may).
      this.ems = findExtension(ch.extensions, ExtensionType.extendedMasterSecret) !== null;
      if (this.ems) extensions.push({ type: ExtensionType.extendedMasterSecret, data: Buffer.alloc(0) });
    }
    // Resume modes send no extensions: no EMS/EtM (would break the fake resumption, §6.3) and,
    // like ocserv with %DISABLE_SAFE_RENEGOTIATION, no renegotiation_info.

    this.suite = suite;
    this.clientRandom = Buffer.from(ch.random);
    this.serverRandom = this.rng(RANDOM_LENGTH);
    this.sendSeq = msg.messageSeq; // RFC 6347 §4.2.2: our numbering follows the answered ClientHello
    const transcript = new Transcript(this.version, suite.prfHash);
    transcript.add(HandshakeType.clientHello, msg.messageSeq, msg.body);
    this.transcript = transcript;

    const serverHello = encodeServerHello({
      version: this.version,
      random: this.serverRandom,
      // Resume: echo the injected id. PSK: a fresh id, as ocserv does (never resumable here).
      sessionId: opts.mode === 'resume' ? opts.sessionId : this.rng(32),
      cipherSuite: suite.id,
      extensions: extensions.length > 0 ? extensions : null,
    });
    const shSeq = this.sendSeq++;
    transcript.add(HandshakeType.serverHello, shSeq, serverHello);
    const flight: FlightItem[] = [
      { epoch: 0, kind: 'handshake', msgType: HandshakeType.serverHello, messageSeq: shSeq, body: serverHello },
    ];

    if (opts.mode === 'resume') {
      this.masterSecret = opts.masterSecret;
      this.installSessionKeys();
      const ccsSeq = this.version === DTLS0_9 ? this.sendSeq++ : 0; // DTLS 0.9 CCS consumes a message_seq
      flight.push({ epoch: 0, kind: 'ccs', msgType: 0, messageSeq: ccsSeq, body: Buffer.alloc(0) });
      const finSeq = this.sendSeq++;
      const verify = computeVerifyData(this.version, suite, this.masterSecret, 'server', transcript.digest());
      transcript.add(HandshakeType.finished, finSeq, verify);
      flight.push({ epoch: 1, kind: 'handshake', msgType: HandshakeType.finished, messageSeq: finSeq, body: verify });
      this.hs = 'wait-ccs';
    } else {
      const shdSeq = this.sendSeq++;
      transcript.add(HandshakeType.serverHelloDone, shdSeq, Buffer.alloc(0));
      flight.push({ epoch: 0, kind: 'handshake', msgType: HandshakeType.serverHelloDone, messageSeq: shdSeq, body: Buffer.alloc(0) });
      this.hs = 'wait-client-key-exchange';
    }
    this.sendFlight(flight, nowMs, out, true);
  }

  private sessionMatches(ch: ClientHello): boolean {
    const opts = this.opts;
    if (opts.mode === 'resume') return ch.sessionId.equals(opts.sessionId);
    if (!opts.appId) return true;
    // ocserv looks for the App-ID extension first, then the session id (PROTOCOL.md §6.7/§6.8).
    const ext = findExtension(ch.extensions, ExtensionType.anyconnectAppId);
    if (ext && ext.length >= 1 && ext[0] === ext.length - 1 && ext.subarray(1).equals(opts.appId)) return true;
    return ch.sessionId.equals(opts.appId);
  }

  private chooseSuite(ch: ClientHello): CipherSuite | null {
    const opts = this.opts;
    if (opts.mode === 'resume') {
      return ch.cipherSuites.includes(opts.suite) ? (getSuite(opts.suite) ?? null) : null;
    }
    for (const id of opts.suites ?? DEFAULT_PSK_SUITES) {
      const s = getSuite(id);
      if (s && s.psk && ch.cipherSuites.includes(id)) return s;
    }
    return null;
  }

  private sendHelloVerifyRequest(ch: ClientHello, messageSeq: number, out: DtlsResult): void {
    const hv = this.helloVerify!;
    const cookie = computeCookie(hv.secret, hv.peer, ch);
    // RFC 6347 §4.2.1: HVR version DTLS 1.0 for 1.2 servers; DTLS 0.9 uses its own version
    // (OpenSSL bad_dtls_test). The record reuses the ClientHello's record sequence number.
    const hvVersion = this.version === DTLS0_9 ? DTLS0_9 : DTLS1_0;
    const body = encodeHelloVerifyRequest({ version: hvVersion, cookie });
    const seq = this.currentRecordSeq;
    this.bumpWriteSeq0(seq);
    this.sendLoose(
      ContentType.handshake,
      0,
      seq,
      encodeHandshake(HandshakeType.helloVerifyRequest, messageSeq, body),
      hvVersion,
      out,
    );
    // Stay stateless: the next ClientHello (any message_seq) starts over.
    this.reasm.loose = true;
    out.drops.push('cookie-required');
  }

  private installSessionKeys(): void {
    const kb = deriveKeyBlock(this.version, this.suite!, this.masterSecret!, this.clientRandom!, this.serverRandom!);
    this.installKeys(this.suite!, kb.server, kb.client);
  }

  private onClientKeyExchange(msg: HandshakeMessage, out: DtlsResult): void {
    const opts = this.opts;
    if (opts.mode !== 'psk') return this.unexpected(out);
    // The identity is ignored: the App-ID already mapped this flow to its session (§6.7).
    if (parsePskIdentity(msg.body) === null) {
      out.drops.push('malformed');
      return;
    }
    const suite = this.suite!;
    const transcript = this.transcript!;
    transcript.add(HandshakeType.clientKeyExchange, msg.messageSeq, msg.body);
    const pre = pskPreMasterSecret(opts.psk);
    this.masterSecret = this.ems
      ? deriveExtendedMasterSecret(this.version, suite, pre, transcript.digest())
      : deriveMasterSecret(this.version, suite, pre, this.clientRandom!, this.serverRandom!);
    this.installSessionKeys();
    this.hs = 'wait-ccs';
  }

  private onFinished(msg: HandshakeMessage, nowMs: number, out: DtlsResult): void {
    const done = this.onPeerFinished(msg, nowMs, out, {
      mode: this.opts.mode,
      suite: this.suite!,
      transcript: this.transcript!,
      masterSecret: this.masterSecret!,
      ems: this.ems,
      // Resume: the client's Finished ends it. PSK: our CCS + Finished is the final flight.
      peerSpeaksLast: this.opts.mode === 'resume',
      nextMessageSeq: () => this.sendSeq++,
    });
    if (done) this.hs = 'done';
  }
}
