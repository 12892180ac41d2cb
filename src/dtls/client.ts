/**
 * DTLS client for the AnyConnect subset (see server.ts for the flights).
 *
 * Resume modes: the ClientHello offers exactly the chosen suite with the
 * gateway's session id; anything but an abbreviated handshake echoing that id
 * is refused ("full handshake offered on resume: possible attack", PROTOCOL.md
 * §6.3, openconnect "DTLS session resume failed; possible MITM attack").
 *
 * PSK mode: the ClientHello carries the App-ID as session_id and offers
 * plain-PSK suites; identity "psk" (what openconnect sends, §6.7).
 *
 * Both handle a HelloVerifyRequest (RFC 6347 §4.2.1; ASA behaviour unknown, §12 item 7).
 */
import {
  AlertDescription,
  DTLS0_9,
  DTLS1_0,
  DTLS1_2,
  ExtensionType,
  HandshakeType,
  RANDOM_LENGTH,
  versionName,
} from './constants.js';
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
  encodeClientHello,
  encodePskIdentity,
  findExtension,
  parseHelloVerifyRequest,
  parsePskIdentity,
  parseServerHello,
  type Extension,
  type ServerHello,
} from './messages.js';
import type { HandshakeMessage } from './reassembly.js';
import { DEFAULT_PSK_SUITES, getSuite, suiteAllowedForResume, type CipherSuite } from './suites.js';
import { Transcript } from './transcript.js';
import { createResult, type DtlsClientOptions, type DtlsResult } from './types.js';

type ClientState = 'wait-server-hello' | 'wait-server-hello-done' | 'wait-ccs' | 'wait-finished' | 'done';

/** The exact error text asked for by the gateway/client teams. */
export const RESUME_REFUSED_MESSAGE = 'full handshake offered on resume: possible attack';

const MAX_HELLO_VERIFY = 4;

/** Handshake messages that only exist in a full handshake. */
const FULL_HANDSHAKE_TYPES: ReadonlySet<number> = new Set([
  HandshakeType.certificate,
  HandshakeType.serverKeyExchange,
  HandshakeType.certificateRequest,
  HandshakeType.serverHelloDone,
]);

export class DtlsClient extends DtlsEndpointBase {
  readonly role = 'client' as const;
  private readonly opts: DtlsClientOptions;
  private hs: ClientState = 'wait-server-hello';
  private readonly clientRandom: Buffer;
  private cookie: Buffer = Buffer.alloc(0);
  private helloVerifyCount = 0;
  private clientHelloBody: Buffer = Buffer.alloc(0);
  private clientHelloSeq = 0;
  /** Our next handshake message_seq. */
  private sendSeq = 0;
  private readonly offered: readonly number[];
  private suite: CipherSuite | null = null;
  private transcript: Transcript | null = null;
  private masterSecret: Buffer | null = null;
  private serverRandom: Buffer | null = null;
  private ems = false;

  constructor(opts: DtlsClientOptions) {
    super(opts.mode === 'resume' ? opts.version : DTLS1_2, opts);
    this.opts = opts;
    if (opts.mode === 'resume') {
      if (opts.sessionId.length === 0 || opts.sessionId.length > 32) throw new RangeError('sessionId must be 1..32 bytes');
      if (opts.masterSecret.length !== 48) throw new RangeError('masterSecret must be 48 bytes');
      const suite = getSuite(opts.suite);
      if (!suite || !suiteAllowedForResume(suite, opts.version)) {
        throw new RangeError(`suite 0x${opts.suite.toString(16)} not usable with ${versionName(opts.version)}`);
      }
      this.offered = [opts.suite];
    } else {
      if (opts.psk.length === 0) throw new RangeError('psk must not be empty');
      if (opts.appId.length > 32) throw new RangeError('appId must be at most 32 bytes');
      const offered = (opts.suites ?? DEFAULT_PSK_SUITES).filter((id) => getSuite(id)?.psk === true);
      if (offered.length === 0) throw new RangeError('no usable PSK suite to offer');
      this.offered = offered;
    }
    this.clientRandom = this.rng(RANDOM_LENGTH);
  }

  /** Send the first ClientHello. Call once; then drive with handleDatagram/onTimer. */
  start(nowMs: number, out: DtlsResult = createResult()): DtlsResult {
    if (this.state !== 'idle') {
      out.timerAt = this.timerAt;
      return out;
    }
    this.state = 'handshaking';
    this.startDeadline(nowMs);
    this.sendClientHello(nowMs, out);
    out.timerAt = this.timerAt;
    return out;
  }

  private buildClientHelloExtensions(): Extension[] | null {
    const opts = this.opts;
    // DTLS 0.9 ClientHellos carry no extensions here: pre-RFC peers (old ASA) predate them
    // and nothing in the resumption needs one (Appendix B's ClientHello has none).
    if (opts.mode === 'resume' && opts.version === DTLS0_9) return null;
    // RFC 5746: signal secure renegotiation support with an empty renegotiation_info (GnuTLS does).
    const exts: Extension[] = [{ type: ExtensionType.renegotiationInfo, data: Buffer.from([0]) }];
    if (opts.mode === 'psk') {
      if (opts.extendedMasterSecret) exts.push({ type: ExtensionType.extendedMasterSecret, data: Buffer.alloc(0) });
      if (opts.appIdExtension) {
        exts.push({ type: ExtensionType.anyconnectAppId, data: Buffer.concat([Buffer.from([opts.appId.length]), opts.appId]) });
      }
    }
    return exts;
  }

  private sendClientHello(nowMs: number, out: DtlsResult): void {
    const opts = this.opts;
    this.clientHelloBody = encodeClientHello({
      version: this.version,
      random: this.clientRandom,
      sessionId: opts.mode === 'resume' ? opts.sessionId : opts.appId,
      cookie: this.cookie,
      cipherSuites: this.offered,
      extensions: this.buildClientHelloExtensions(),
    });
    this.clientHelloSeq = this.sendSeq++;
    // GnuTLS sends the PSK-mode ClientHello in a DTLS 1.0 record (RFC 6347 §4.1 allows it for
    // compatibility) but resume-mode ones in FE FD (transcripts); mirror that.
    const recordVersion = opts.mode === 'psk' ? DTLS1_0 : this.version;
    const item: FlightItem = {
      epoch: 0,
      kind: 'handshake',
      msgType: HandshakeType.clientHello,
      messageSeq: this.clientHelloSeq,
      body: this.clientHelloBody,
      recordVersion,
    };
    this.reasm.loose = true;
    this.sendFlight([item], nowMs, out, true);
  }

  protected override onHandshakeMessage(msg: HandshakeMessage, epoch: number, nowMs: number, out: DtlsResult): void {
    switch (this.hs) {
      case 'wait-server-hello':
        if (epoch !== 0) return this.unexpected(out);
        if (msg.msgType === HandshakeType.helloVerifyRequest) return this.onHelloVerifyRequest(msg, nowMs, out);
        if (msg.msgType === HandshakeType.serverHello) return this.onServerHello(msg, out);
        return this.unexpected(out);
      case 'wait-server-hello-done':
        if (epoch !== 0) return this.unexpected(out);
        if (msg.msgType === HandshakeType.serverKeyExchange) return this.onServerKeyExchange(msg, out);
        if (msg.msgType === HandshakeType.serverHelloDone) return this.onServerHelloDone(msg, nowMs, out);
        if (msg.msgType === HandshakeType.certificate || msg.msgType === HandshakeType.certificateRequest) {
          return this.fail('illegal-parameter', 'server sent a certificate message in PSK mode', out, AlertDescription.unexpectedMessage);
        }
        return this.unexpected(out);
      case 'wait-ccs':
      case 'wait-finished':
        if (this.opts.mode === 'resume' && FULL_HANDSHAKE_TYPES.has(msg.msgType)) {
          return this.fail('resume-refused', RESUME_REFUSED_MESSAGE, out, AlertDescription.handshakeFailure);
        }
        if (this.hs === 'wait-finished' && msg.msgType === HandshakeType.finished && epoch === 1) {
          return this.onFinished(msg, nowMs, out);
        }
        return this.unexpected(out);
      default:
        return this.unexpected(out);
    }
  }

  protected override onChangeCipherSpec(_out: DtlsResult): void {
    if (this.hs === 'wait-ccs') this.hs = 'wait-finished';
  }

  private unexpected(out: DtlsResult): void {
    out.drops.push('unexpected-message');
  }

  private onHelloVerifyRequest(msg: HandshakeMessage, nowMs: number, out: DtlsResult): void {
    const hvr = parseHelloVerifyRequest(msg.body);
    if (!hvr || (this.version === DTLS0_9 && hvr.cookie.length > 32)) {
      this.reasm.loose = true;
      out.drops.push('malformed');
      return;
    }
    if (hvr.cookie.equals(this.cookie)) {
      // Duplicate of one we already answered; our ClientHello retransmission timer covers loss.
      this.reasm.loose = true;
      out.drops.push('duplicate');
      return;
    }
    if (++this.helloVerifyCount > MAX_HELLO_VERIFY) {
      return this.fail('too-many-hello-verify', 'server keeps sending HelloVerifyRequest', out);
    }
    // RFC 6347 §4.2.1: same random and parameters, plus the cookie; next message_seq.
    this.cookie = Buffer.from(hvr.cookie);
    this.sendClientHello(nowMs, out);
  }

  private checkServerHelloBasics(sh: ServerHello, out: DtlsResult): boolean {
    if (sh.version !== this.version) {
      this.fail('protocol-version', `server chose ${versionName(sh.version)}`, out, AlertDescription.protocolVersion);
      return false;
    }
    if (sh.compressionMethod !== 0) {
      this.fail('illegal-parameter', 'server chose compression', out, AlertDescription.illegalParameter);
      return false;
    }
    const ri = findExtension(sh.extensions, ExtensionType.renegotiationInfo);
    if (ri && !(ri.length === 1 && ri[0] === 0)) {
      this.fail('illegal-parameter', 'non-empty renegotiation_info in initial handshake', out, AlertDescription.handshakeFailure);
      return false;
    }
    const ems = findExtension(sh.extensions, ExtensionType.extendedMasterSecret) !== null;
    const emsOffered = this.opts.mode === 'psk' && this.opts.extendedMasterSecret === true;
    if (ems && !emsOffered) {
      // RFC 7627 §5.3; and in resume modes EMS would make the resumption impossible (§6.3).
      this.fail('illegal-parameter', 'server negotiated extended master secret we did not offer', out, AlertDescription.unsupportedExtension);
      return false;
    }
    this.ems = ems;
    return true;
  }

  private onServerHello(msg: HandshakeMessage, out: DtlsResult): void {
    const sh = parseServerHello(msg.body);
    if (!sh) {
      this.reasm.loose = true;
      out.drops.push('malformed');
      return;
    }
    const opts = this.opts;
    if (opts.mode === 'resume' && !sh.sessionId.equals(opts.sessionId)) {
      // A new session id means the server is running a full handshake.
      return this.fail('resume-refused', RESUME_REFUSED_MESSAGE, out, AlertDescription.handshakeFailure);
    }
    if (!this.checkServerHelloBasics(sh, out)) return;
    const suite = this.offered.includes(sh.cipherSuite) ? getSuite(sh.cipherSuite) : undefined;
    if (!suite) {
      return this.fail('no-common-suite', `server chose suite 0x${sh.cipherSuite.toString(16)} we did not offer`, out, AlertDescription.illegalParameter);
    }
    this.suite = suite;
    this.serverRandom = Buffer.from(sh.random);
    // The transcript starts at the ClientHello that was answered (RFC 6347 §4.2.6; §6.4 item 4).
    const transcript = new Transcript(this.version, suite.prfHash);
    transcript.add(HandshakeType.clientHello, this.clientHelloSeq, this.clientHelloBody);
    transcript.add(HandshakeType.serverHello, msg.messageSeq, msg.body);
    this.transcript = transcript;
    if (opts.mode === 'resume') {
      this.masterSecret = opts.masterSecret;
      this.installSessionKeys();
      this.hs = 'wait-ccs';
    } else {
      this.hs = 'wait-server-hello-done';
    }
  }

  private installSessionKeys(): void {
    const kb = deriveKeyBlock(this.version, this.suite!, this.masterSecret!, this.clientRandom, this.serverRandom!);
    this.installKeys(this.suite!, kb.client, kb.server);
  }

  private onServerKeyExchange(msg: HandshakeMessage, out: DtlsResult): void {
    // Plain PSK: only an identity hint, which AnyConnect peers do not use (§6.7, §12 item 8).
    if (parsePskIdentity(msg.body) === null) {
      out.drops.push('malformed');
      return;
    }
    this.transcript!.add(msg.msgType, msg.messageSeq, msg.body);
  }

  private onServerHelloDone(msg: HandshakeMessage, nowMs: number, out: DtlsResult): void {
    const opts = this.opts;
    if (opts.mode !== 'psk') return this.unexpected(out);
    if (msg.body.length !== 0) {
      out.drops.push('malformed');
      return;
    }
    const suite = this.suite!;
    const transcript = this.transcript!;
    transcript.add(msg.msgType, msg.messageSeq, msg.body);

    const cke = encodePskIdentity(opts.identity ?? Buffer.from('psk'));
    const ckeSeq = this.sendSeq++;
    transcript.add(HandshakeType.clientKeyExchange, ckeSeq, cke);
    const pre = pskPreMasterSecret(opts.psk);
    this.masterSecret = this.ems
      ? deriveExtendedMasterSecret(this.version, suite, pre, transcript.digest())
      : deriveMasterSecret(this.version, suite, pre, this.clientRandom, this.serverRandom!);
    this.installSessionKeys();
    const finSeq = this.sendSeq++;
    const verify = computeVerifyData(this.version, suite, this.masterSecret, 'client', transcript.digest());
    transcript.add(HandshakeType.finished, finSeq, verify);
    this.sendFlight(
      [
        { epoch: 0, kind: 'handshake', msgType: HandshakeType.clientKeyExchange, messageSeq: ckeSeq, body: cke },
        { epoch: 0, kind: 'ccs', msgType: 0, messageSeq: 0, body: Buffer.alloc(0) },
        { epoch: 1, kind: 'handshake', msgType: HandshakeType.finished, messageSeq: finSeq, body: verify },
      ],
      nowMs,
      out,
      true,
    );
    this.hs = 'wait-ccs';
  }

  private onFinished(msg: HandshakeMessage, nowMs: number, out: DtlsResult): void {
    const done = this.onPeerFinished(msg, nowMs, out, {
      mode: this.opts.mode,
      suite: this.suite!,
      transcript: this.transcript!,
      masterSecret: this.masterSecret!,
      ems: this.ems,
      // PSK: the server's Finished ends it. Resume: our CCS + Finished is the final flight.
      peerSpeaksLast: this.opts.mode === 'psk',
      nextMessageSeq: () => this.sendSeq++,
    });
    if (done) this.hs = 'done';
  }
}
