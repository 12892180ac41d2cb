/**
 * The part of a DTLS endpoint shared by client and server, above the record
 * layer (record-layer.ts: record parsing, epoch/replay/MAC checks, buffering of
 * next-epoch records, application data protection):
 *
 *   1. the endpoint's state and the public entry points (handleDatagram, onTimer, close),
 *   2. handshake message ordering (reassembly.ts) and dispatch to the role,
 *   3. the outgoing flight (flight.ts): retransmission on timeout and on
 *      peer retransmission (RFC 6347 §4.2.4),
 *   4. ChangeCipherSpec and alerts.
 *
 * Timers: the endpoint never sets timers. Every result carries `timerAt`
 * (absolute ms, caller's clock); the caller calls `onTimer(now)` then.
 *
 * Nothing here throws on network input: each public entry point catches and
 * reports an 'internal-error' drop as a last resort.
 */
import { randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';
import { AlertDescription, AlertLevel, ContentType, DTLS0_9, HandshakeType, type DtlsVersion } from './constants.js';
import { HandshakeTimers, type FlightItem } from './flight.js';
import { computeVerifyData } from './keys.js';
import { parseAlert, parseFinished, parseHandshakeFragments, type HandshakeFragment } from './messages.js';
import { HandshakeReassembler, type HandshakeMessage } from './reassembly.js';
import { DtlsRecordLayer, type EndpointState } from './record-layer.js';
import type { CipherSuite } from './suites.js';
import type { Transcript } from './transcript.js';
import { createResult, type CommonOptions, type DtlsFailReason, type DtlsResult, type DtlsSessionInfo } from './types.js';

/** The role's handshake state that checking the peer's Finished needs (onPeerFinished). */
interface FinishedContext {
  readonly mode: 'resume' | 'psk';
  readonly suite: CipherSuite;
  readonly transcript: Transcript;
  readonly masterSecret: Buffer;
  readonly ems: boolean;
  /**
   * True when the peer's Finished ends the handshake (ours went out before it); false when our
   * ChangeCipherSpec + Finished answer it as the final flight.
   */
  readonly peerSpeaksLast: boolean;
  /** Takes our next handshake message_seq. */
  nextMessageSeq(): number;
}

export abstract class DtlsEndpointBase extends DtlsRecordLayer {
  abstract readonly role: 'client' | 'server';
  protected readonly rng: (n: number) => Buffer;
  private readonly timers: HandshakeTimers;
  protected readonly handshakeTimeoutMs: number;

  protected reasm = new HandshakeReassembler();

  // Our current flight (kept for retransmission).
  private flight: FlightItem[] = [];
  private retransmittedThisCall = false;
  /** the clock of the datagram being handled, and of the last retransmission it caused */
  private datagramAt = 0;
  private lastOnDemandAt = Number.NEGATIVE_INFINITY;
  private readonly onDemandGapMs: number;

  protected sessionInfo: DtlsSessionInfo | null = null;

  protected constructor(version: DtlsVersion, opts: CommonOptions) {
    super(version, opts);
    this.rng = opts.randomBytes ?? nodeRandomBytes;
    this.timers = new HandshakeTimers(opts.initialRetransmitMs ?? 1000, opts.maxRetransmitMs ?? 60000);
    this.onDemandGapMs = opts.initialRetransmitMs ?? 1000;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 60000;
  }

  // -------------------------------------------------------------------------
  // Public API

  /** 'idle' | 'handshaking' | 'established' | 'failed' | 'closed' */
  get status(): EndpointState {
    return this.state;
  }

  get established(): boolean {
    return this.state === 'established';
  }

  /** Negotiated parameters once established, else null. */
  get info(): DtlsSessionInfo | null {
    return this.sessionInfo;
  }

  /** Current timer wish (same value as the last result's timerAt). */
  get timerAt(): number | null {
    return this.state === 'handshaking' ? this.timers.next : null;
  }

  /**
   * Feed one received datagram. Returns (or appends to `out`) datagrams to
   * send, decrypted application payloads, events and drop reasons.
   */
  handleDatagram(datagram: Buffer, nowMs: number, out: DtlsResult = createResult()): DtlsResult {
    this.retransmittedThisCall = false;
    this.datagramAt = nowMs;
    try {
      this.beforeDatagram(nowMs);
      this.readRecords(datagram, nowMs, out);
    } catch {
      out.drops.push('internal-error');
    }
    out.timerAt = this.timerAt;
    return out;
  }

  /** Call at (or after) the last result's `timerAt`. Early calls are harmless. */
  onTimer(nowMs: number, out: DtlsResult = createResult()): DtlsResult {
    try {
      if (this.state === 'handshaking') {
        if (this.timers.deadlinePassed(nowMs)) {
          this.fail('timeout', `DTLS handshake not completed within ${this.handshakeTimeoutMs} ms`, out);
        } else if (this.timers.retransmitDue(nowMs)) {
          this.transmitFlight(out);
          this.timers.backoff(nowMs);
        }
      }
    } catch {
      out.drops.push('internal-error');
    }
    out.timerAt = this.timerAt;
    return out;
  }

  /** Send close_notify (if the association is up) and close. */
  close(out: DtlsResult = createResult()): DtlsResult {
    if (this.state === 'established') {
      this.sendAlert(AlertLevel.warning, AlertDescription.closeNotify, out);
    }
    if (this.state !== 'failed') this.state = 'closed';
    this.flight = [];
    this.timers.clear();
    out.timerAt = null;
    return out;
  }

  // -------------------------------------------------------------------------
  // Role hooks

  /** Called once per datagram before its records (server: starts the handshake deadline). */
  protected beforeDatagram(_nowMs: number): void {}

  /** A complete, in-order handshake message received in `epoch`. */
  protected abstract onHandshakeMessage(msg: HandshakeMessage, epoch: number, nowMs: number, out: DtlsResult): void;

  /** The peer's ChangeCipherSpec was accepted; reads now use the new epoch. */
  protected abstract onChangeCipherSpec(out: DtlsResult): void;

  /**
   * A handshake fragment whose message_seq was already processed, or one that
   * arrived in the previous epoch. Default: the peer is retransmitting, so
   * retransmit our last flight (RFC 6347 §4.2.4).
   */
  protected onOldHandshake(_frag: HandshakeFragment, _epoch: number, _nowMs: number, out: DtlsResult): void {
    out.drops.push('duplicate');
    this.retransmitOnDemand(out);
  }

  // -------------------------------------------------------------------------
  // Helpers for the roles

  /** Replace the current flight, send it, and (optionally) arm the retransmission timer. */
  protected sendFlight(items: FlightItem[], nowMs: number, out: DtlsResult, retransmit: boolean): void {
    this.flight = items;
    this.transmitFlight(out);
    if (retransmit) this.timers.arm(nowMs);
    else this.timers.stopRetransmit();
  }

  /**
   * The peer retransmitted, so our flight may be lost: send it again, but at most once per
   * initial retransmission timeout. Without that bound two endpoints that each answer the other's
   * retransmission loop at the speed of the round trip until the handshake deadline (a client
   * with a wrong key against our server did: 5,500 datagrams each way in 10 s, issue 9 drill);
   * RFC 9147 §5.8.1 asks for the same restraint.
   */
  protected retransmitOnDemand(out: DtlsResult): void {
    if (this.flight.length === 0 || this.retransmittedThisCall) return;
    if (this.state === 'failed' || this.state === 'closed') return;
    // (the datagram is already counted as a 'duplicate' drop)
    if (this.datagramAt - this.lastOnDemandAt < this.onDemandGapMs) return;
    this.retransmittedThisCall = true;
    this.lastOnDemandAt = this.datagramAt;
    this.transmitFlight(out);
  }

  protected startDeadline(nowMs: number): void {
    this.timers.startDeadline(nowMs, this.handshakeTimeoutMs);
  }

  protected establish(info: DtlsSessionInfo, out: DtlsResult, keepFlight: boolean): void {
    this.state = 'established';
    this.sessionInfo = info;
    this.timers.clear();
    this.dropBuffered();
    if (!keepFlight) this.flight = [];
    out.events.push({ type: 'established', info });
  }

  protected fail(reason: DtlsFailReason, message: string, out: DtlsResult, alert?: number): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    if (alert !== undefined) this.sendAlert(AlertLevel.fatal, alert, out);
    this.state = 'failed';
    this.flight = [];
    this.timers.clear();
    this.dropBuffered();
    out.events.push({ type: 'failed', reason, message });
  }

  /**
   * The peer's Finished, the last message the role waits for: verify it, then establish. When
   * we speak last, our ChangeCipherSpec + Finished go out as the final flight, kept to answer
   * a peer that did not get it (RFC 6347 §4.2.4). Returns true once the Finished verified.
   */
  protected onPeerFinished(msg: HandshakeMessage, nowMs: number, out: DtlsResult, c: FinishedContext): boolean {
    const verify = parseFinished(msg.body);
    if (!verify) {
      out.drops.push('malformed');
      return false;
    }
    const peer = this.role === 'client' ? 'server' : 'client';
    const expected = computeVerifyData(this.version, c.suite, c.masterSecret, peer, c.transcript.digest());
    if (!timingSafeEqual(expected, verify)) {
      this.fail('bad-finished', `${peer} Finished does not verify (wrong master secret or PSK?)`, out, AlertDescription.decryptError);
      return false;
    }
    const info: DtlsSessionInfo = {
      role: this.role,
      mode: c.mode,
      version: this.version,
      suiteId: c.suite.id,
      suiteName: c.suite.name,
      extendedMasterSecret: c.ems,
      maxRecordOverhead: this.maxRecordOverhead(),
    };
    if (c.peerSpeaksLast) {
      this.establish(info, out, false);
      return true;
    }
    c.transcript.add(HandshakeType.finished, msg.messageSeq, verify);
    // A DTLS 0.9 ChangeCipherSpec takes a message_seq too (PROTOCOL.md §6.4 item 3).
    const ccsSeq = this.version === DTLS0_9 ? c.nextMessageSeq() : 0;
    const finSeq = c.nextMessageSeq();
    const ourVerify = computeVerifyData(this.version, c.suite, c.masterSecret, this.role, c.transcript.digest());
    this.sendFlight(
      [
        { epoch: 0, kind: 'ccs', msgType: 0, messageSeq: ccsSeq, body: Buffer.alloc(0) },
        { epoch: 1, kind: 'handshake', msgType: HandshakeType.finished, messageSeq: finSeq, body: ourVerify },
      ],
      nowMs,
      out,
      false,
    );
    this.establish(info, out, true);
    return true;
  }

  /** Forget all handshake progress (server: the client restarted with a fresh ClientHello). */
  protected resetHandshake(): void {
    this.resetRecords();
    this.reasm = new HandshakeReassembler();
    this.flight = [];
    this.timers.stopRetransmit();
  }

  private transmitFlight(out: DtlsResult): void {
    this.writeFlight(this.flight, out);
  }

  // -------------------------------------------------------------------------
  // Records from the record layer

  protected override onPreviousEpochHandshake(plaintext: Buffer, nowMs: number, out: DtlsResult): void {
    const frags = parseHandshakeFragments(plaintext);
    if (!frags) {
      out.drops.push('malformed');
      return;
    }
    for (const f of frags) this.onOldHandshake(f, 0, nowMs, out);
  }

  protected override dispatch(type: number, plaintext: Buffer, epoch: number, nowMs: number, out: DtlsResult): void {
    switch (type) {
      case ContentType.applicationData:
        if (epoch === 0) out.drops.push('bad-content-type');
        else if (this.state !== 'established') out.drops.push('not-established');
        else out.deliver.push(plaintext);
        return;
      case ContentType.handshake:
        this.dispatchHandshake(plaintext, epoch, nowMs, out);
        return;
      case ContentType.changeCipherSpec:
        this.dispatchChangeCipherSpec(plaintext, nowMs, out);
        return;
      case ContentType.alert:
        this.dispatchAlert(plaintext, epoch, out);
        return;
      default:
        out.drops.push('bad-content-type');
    }
  }

  private dispatchHandshake(plaintext: Buffer, epoch: number, nowMs: number, out: DtlsResult): void {
    const frags = parseHandshakeFragments(plaintext);
    if (!frags || frags.length === 0) {
      out.drops.push('malformed');
      return;
    }
    const msgs: HandshakeMessage[] = [];
    for (const f of frags) {
      if (this.state === 'established' && f.messageSeq >= this.reasm.nextSeq) {
        out.drops.push('renegotiation');
        continue;
      }
      const r = this.reasm.push(f, msgs);
      if (r === 'old') this.onOldHandshake(f, epoch, nowMs, out);
      else if (r === 'dropped') out.drops.push('buffer-full');
      for (const m of msgs) {
        if (this.state !== 'handshaking' && this.state !== 'idle') break;
        this.onHandshakeMessage(m, epoch, nowMs, out);
      }
      msgs.length = 0;
    }
  }

  private dispatchChangeCipherSpec(plaintext: Buffer, nowMs: number, out: DtlsResult): void {
    const ok09 = this.version === DTLS0_9 && plaintext.length === 3 && plaintext[0] === 1;
    const ok12 = this.version !== DTLS0_9 && plaintext.length === 1 && plaintext[0] === 1;
    if (!ok09 && !ok12) {
      out.drops.push('malformed');
      return;
    }
    if (!this.readKeysPending) {
      out.drops.push(this.currentReadEpoch > 0 ? 'duplicate' : 'unexpected-message');
      return;
    }
    if (this.version === DTLS0_9) {
      const msgs: HandshakeMessage[] = [];
      const r = this.reasm.consumeSeq(plaintext.readUInt16BE(1), msgs);
      if (r !== 'ok') {
        out.drops.push(r === 'old' ? 'duplicate' : 'unexpected-message');
        return;
      }
      // consumeSeq cannot release epoch-0 messages past a CCS in practice; ignore any.
    }
    this.switchReadEpoch();
    this.onChangeCipherSpec(out);
    this.processBuffered(nowMs, out);
  }

  private dispatchAlert(plaintext: Buffer, epoch: number, out: DtlsResult): void {
    const alert = parseAlert(plaintext);
    if (!alert) {
      out.drops.push('malformed');
      return;
    }
    const fatalOrClose = alert.level === AlertLevel.fatal || alert.description === AlertDescription.closeNotify;
    if (!fatalOrClose) return; // warnings are informational
    if (this.state === 'established') {
      if (epoch === 0) {
        out.drops.push('bad-epoch'); // unauthenticated: ignore
        return;
      }
      this.state = 'closed';
      this.flight = [];
      out.events.push({ type: 'closed', alert: alert.description });
      return;
    }
    this.fail('peer-alert', `peer sent alert ${alert.level}/${alert.description}`, out);
  }
}
