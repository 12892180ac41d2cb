/**
 * The part of a DTLS endpoint shared by client and server:
 *
 *   1. record parsing and epoch/replay/MAC checks (handleDatagram),
 *   2. buffering of next-epoch records that overtake the ChangeCipherSpec,
 *   3. handshake message ordering (reassembly.ts) and dispatch to the role,
 *   4. the outgoing flight (flight.ts): retransmission on timeout and on
 *      peer retransmission (RFC 6347 §4.2.4),
 *   5. application data protection once established.
 *
 * Timers: the endpoint never sets timers. Every result carries `timerAt`
 * (absolute ms, caller's clock); the caller calls `onTimer(now)` then.
 *
 * Nothing here throws on network input: each public entry point catches and
 * reports an 'internal-error' drop as a last resort.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  AlertDescription,
  AlertLevel,
  ContentType,
  DTLS0_9,
  DTLS1_0,
  DTLS1_2,
  MAX_PLAINTEXT_LENGTH,
  MAX_SEQUENCE,
  RECORD_HEADER_LENGTH,
  type DtlsVersion,
} from './constants.js';
import type { DirectionKeys } from './keys.js';
import { HandshakeTimers, serializeFlight, type FlightItem, type FlightRecordWriter } from './flight.js';
import { encodeAlert, parseAlert, parseHandshakeFragments, type HandshakeFragment } from './messages.js';
import { HandshakeReassembler, type HandshakeMessage } from './reassembly.js';
import {
  RECORD_OVERSIZED,
  RECORD_TRUNCATED,
  encodeRecord,
  newRecordHeader,
  readRecordHeader,
  recordLength,
  writeRecord,
  type RecordHeader,
} from './record.js';
import { createRecordProtection, type IvFiller, type RecordProtection } from './record-cipher.js';
import { ReplayWindow } from './replay.js';
import type { CipherSuite } from './suites.js';
import {
  createResult,
  type CommonOptions,
  type DtlsFailReason,
  type DtlsResult,
  type DtlsSessionInfo,
  type DtlsTrafficKeys,
} from './types.js';

export type EndpointState = 'idle' | 'handshaking' | 'established' | 'failed' | 'closed';

/** Next-epoch records kept until the ChangeCipherSpec arrives (RFC 6347 §4.1 allows buffering). */
const MAX_BUFFERED_RECORDS = 8;

export abstract class DtlsEndpointBase {
  abstract readonly role: 'client' | 'server';
  protected state: EndpointState = 'idle';
  protected readonly rng: (n: number) => Buffer;
  private readonly timers: HandshakeTimers;
  protected readonly handshakeTimeoutMs: number;
  private readonly maxDatagram: number;
  /** CBC explicit IVs come from the injected random source when there is one (deterministic tests). */
  private readonly fillIv: IvFiller | undefined;

  /** Negotiated (or configured) protocol version. */
  protected readonly version: DtlsVersion;

  // Write side: epoch 0 is plaintext, epoch 1 is set up by the role when keys exist.
  private readonly writeSeq = [0, 0];
  private readonly writeProt: (RecordProtection | null)[] = [null, null];
  private writeEpoch = 0;

  // Read side.
  private readEpoch = 0;
  private readProt: RecordProtection | null = null;
  private pendingReadProt: RecordProtection | null = null;
  private readonly replay = new ReplayWindow();
  private buffered: Buffer[] = [];

  protected reasm = new HandshakeReassembler();

  // Our current flight (kept for retransmission).
  private flight: FlightItem[] = [];
  private retransmittedThisCall = false;
  private readonly writer: FlightRecordWriter;

  /** Sequence number of the record being processed (a HelloVerifyRequest echoes it, RFC 6347 §4.2.1). */
  protected currentRecordSeq = 0;

  private suiteForData: CipherSuite | null = null;
  private keysForExport: { write: DirectionKeys; read: DirectionKeys } | null = null;
  protected sessionInfo: DtlsSessionInfo | null = null;

  private readonly hdr: RecordHeader = newRecordHeader();

  protected constructor(version: DtlsVersion, opts: CommonOptions) {
    this.version = version;
    this.rng = opts.randomBytes ?? nodeRandomBytes;
    const inject = opts.randomBytes;
    this.fillIv = inject ? (iv) => void inject(iv.length).copy(iv) : undefined;
    this.timers = new HandshakeTimers(opts.initialRetransmitMs ?? 1000, opts.maxRetransmitMs ?? 60000);
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 60000;
    this.maxDatagram = opts.maxDatagramSize ?? 1400;
    this.writer = {
      version,
      protection: (epoch) => (epoch === 0 ? null : this.writeProt[1]!),
      nextSeq: (epoch) => this.nextWriteSeq(epoch),
    };
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
    try {
      this.beforeDatagram(nowMs);
      let off = 0;
      while (off < datagram.length) {
        const next = readRecordHeader(datagram, off, this.hdr);
        if (next === RECORD_TRUNCATED) {
          out.drops.push('truncated');
          break;
        }
        if (next === RECORD_OVERSIZED) {
          out.drops.push('oversized');
          off = this.hdr.fragmentOffset + this.hdr.fragmentLength;
          continue;
        }
        this.processRecord(datagram, this.hdr, nowMs, out);
        off = next;
      }
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

  /** Bytes needed in front of a payload for `protectInPlace` (record header + explicit IV/nonce). */
  get headroom(): number {
    const p = this.writeProt[1];
    return RECORD_HEADER_LENGTH + (p ? p.explicitNonceLength : 0);
  }

  /** Bytes needed after a payload for `protectInPlace`, worst case (tag, or MAC + padding). */
  get tailroom(): number {
    const p = this.writeProt[1];
    return p ? p.maxTrailerLength : 0;
  }

  /** Size of the record `protect` would produce for a payload of this length. */
  recordLength(payloadLength: number): number {
    return recordLength(this.requireDataProtection(), payloadLength);
  }

  /**
   * Protect one application payload (AnyConnect type byte + packet, §6.1) as
   * a record in a new buffer. Throws if not established (a caller bug).
   */
  protect(payload: Uint8Array): Buffer {
    const prot = this.requireDataProtection();
    return encodeRecord(prot, ContentType.applicationData, this.version, 1, this.nextWriteSeq(1), payload);
  }

  /**
   * Protect a payload that sits in `buf` at [payloadOffset, payloadOffset+payloadLength)
   * with `headroom` free bytes before it and `tailroom` after it. The record is
   * written in place starting at payloadOffset - headroom; returns its length.
   */
  protectInPlace(buf: Buffer, payloadOffset: number, payloadLength: number): number {
    const prot = this.requireDataProtection();
    const start = payloadOffset - RECORD_HEADER_LENGTH - prot.explicitNonceLength;
    if (start < 0 || start + recordLength(prot, payloadLength) > buf.length) {
      throw new RangeError('protectInPlace: not enough headroom/tailroom');
    }
    const payload = buf.subarray(payloadOffset, payloadOffset + payloadLength);
    return writeRecord(buf, start, prot, ContentType.applicationData, this.version, 1, this.nextWriteSeq(1), payload);
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

  /**
   * Traffic keys and sequence state, for a data plane outside this object
   * (e.g. a native AEAD). If you use them, stop calling protect() here.
   */
  exportTrafficKeys(): DtlsTrafficKeys | null {
    if (this.state !== 'established' || !this.keysForExport || !this.suiteForData) return null;
    return {
      version: this.version,
      suiteId: this.suiteForData.id,
      epoch: 1,
      write: this.keysForExport.write,
      read: this.keysForExport.read,
      nextWriteSeq: this.writeSeq[1]!,
    };
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

  protected nextWriteSeq(epoch: 0 | 1): number {
    const s = this.writeSeq[epoch]!;
    if (s >= MAX_SEQUENCE) throw new Error('DTLS sequence number space exhausted');
    this.writeSeq[epoch] = s + 1;
    return s;
  }

  /** Make sure our next epoch-0 record uses a sequence number above `seq`. */
  protected bumpWriteSeq0(seq: number): void {
    if (this.writeSeq[0]! <= seq) this.writeSeq[0] = seq + 1;
  }

  /** Install the keys of the next epoch: writes use them after our CCS, reads after the peer's CCS. */
  protected installKeys(suite: CipherSuite, write: DirectionKeys, read: DirectionKeys): void {
    this.writeProt[1] = createRecordProtection(suite, write, this.fillIv);
    this.pendingReadProt = createRecordProtection(suite, read, this.fillIv);
    this.suiteForData = suite;
    this.keysForExport = { write, read };
  }

  /** Replace the current flight, send it, and (optionally) arm the retransmission timer. */
  protected sendFlight(items: FlightItem[], nowMs: number, out: DtlsResult, retransmit: boolean): void {
    this.flight = items;
    this.transmitFlight(out);
    if (retransmit) this.timers.arm(nowMs);
    else this.timers.stopRetransmit();
  }

  protected retransmitOnDemand(out: DtlsResult): void {
    if (this.flight.length === 0 || this.retransmittedThisCall) return;
    if (this.state === 'failed' || this.state === 'closed') return;
    this.retransmittedThisCall = true;
    this.transmitFlight(out);
  }

  protected startDeadline(nowMs: number): void {
    this.timers.startDeadline(nowMs, this.handshakeTimeoutMs);
  }

  protected establish(info: DtlsSessionInfo, out: DtlsResult, keepFlight: boolean): void {
    this.state = 'established';
    this.sessionInfo = info;
    this.timers.clear();
    this.buffered = [];
    if (!keepFlight) this.flight = [];
    out.events.push({ type: 'established', info });
  }

  protected fail(reason: DtlsFailReason, message: string, out: DtlsResult, alert?: number): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    if (alert !== undefined) this.sendAlert(AlertLevel.fatal, alert, out);
    this.state = 'failed';
    this.flight = [];
    this.timers.clear();
    this.buffered = [];
    out.events.push({ type: 'failed', reason, message });
  }

  /** Forget all handshake progress (server: the client restarted with a fresh ClientHello). */
  protected resetHandshake(): void {
    this.writeProt[1] = null;
    this.writeSeq[1] = 0;
    this.writeEpoch = 0;
    this.readEpoch = 0;
    this.readProt = null;
    this.pendingReadProt = null;
    this.replay.reset();
    this.buffered = [];
    this.reasm = new HandshakeReassembler();
    this.flight = [];
    this.timers.stopRetransmit();
    this.suiteForData = null;
    this.keysForExport = null;
  }

  /** Overhead of one record under the epoch-1 protection, worst case. */
  protected maxRecordOverhead(): number {
    const p = this.writeProt[1];
    return RECORD_HEADER_LENGTH + (p ? p.explicitNonceLength + p.maxTrailerLength : 0);
  }

  /** Send a record that is not part of a flight (alerts, HelloVerifyRequest). */
  protected sendLoose(type: number, epoch: 0 | 1, seq: number, plaintext: Buffer, recordVersion: number, out: DtlsResult): void {
    out.send.push(encodeRecord(epoch === 0 ? null : this.writeProt[1]!, type, recordVersion, epoch, seq, plaintext));
  }

  // -------------------------------------------------------------------------
  // Internals

  private requireDataProtection(): RecordProtection {
    const p = this.writeProt[1];
    if (this.state !== 'established' || !p) throw new Error('DTLS association not established');
    return p;
  }

  private sendAlert(level: number, description: number, out: DtlsResult): void {
    const epoch: 0 | 1 = this.writeEpoch === 1 && this.writeProt[1] ? 1 : 0;
    try {
      this.sendLoose(
        ContentType.alert,
        epoch,
        this.nextWriteSeq(epoch),
        encodeAlert(level, description),
        this.version,
        out,
      );
    } catch {
      // Alerts are best effort.
    }
  }

  private transmitFlight(out: DtlsResult): void {
    // After our ChangeCipherSpec, alerts go out protected.
    if (serializeFlight(this.flight, this.writer, this.maxDatagram, out.send)) this.writeEpoch = 1;
  }

  private acceptsRecordVersion(version: number, epoch: number): boolean {
    if (this.version === DTLS0_9) return version === DTLS0_9;
    // RFC 6347 §4.1: the first ClientHello / HelloVerifyRequest may use DTLS 1.0 (GnuTLS does).
    return version === DTLS1_2 || (epoch === 0 && version === DTLS1_0);
  }

  private processRecord(buf: Buffer, h: RecordHeader, nowMs: number, out: DtlsResult): void {
    if (this.state === 'failed' || this.state === 'closed') {
      out.drops.push('closed');
      return;
    }
    if (!this.acceptsRecordVersion(h.version, h.epoch)) {
      out.drops.push('bad-version');
      return;
    }
    const fragment = buf.subarray(h.fragmentOffset, h.fragmentOffset + h.fragmentLength);
    if (h.epoch === this.readEpoch) {
      let plaintext: Buffer | null = fragment;
      if (this.readProt) {
        const seen = this.replay.check(h.seq);
        if (seen !== 'ok') {
          out.drops.push(seen === 'replay' ? 'replay' : 'too-old');
          return;
        }
        plaintext = this.readProt.open(h.type, h.version, h.epoch, h.seq, fragment);
        if (plaintext === null) {
          out.drops.push('bad-mac');
          return;
        }
        this.replay.mark(h.seq);
      }
      if (plaintext.length > MAX_PLAINTEXT_LENGTH) {
        out.drops.push('oversized');
        return;
      }
      this.currentRecordSeq = h.seq;
      this.dispatch(h.type, plaintext, h.epoch, nowMs, out);
      return;
    }
    if (h.epoch === this.readEpoch + 1 && this.state !== 'established') {
      // Overtook the ChangeCipherSpec (reordering, or ocserv's separate datagrams).
      if (this.buffered.length >= MAX_BUFFERED_RECORDS) {
        out.drops.push('buffer-full');
        return;
      }
      this.buffered.push(Buffer.from(buf.subarray(h.fragmentOffset - RECORD_HEADER_LENGTH, h.fragmentOffset + h.fragmentLength)));
      return;
    }
    if (h.epoch === 0 && this.readEpoch === 1) {
      // Previous epoch: only plaintext handshake retransmissions matter now.
      if (h.type === ContentType.handshake) {
        this.currentRecordSeq = h.seq;
        const frags = parseHandshakeFragments(fragment);
        if (!frags) {
          out.drops.push('malformed');
          return;
        }
        for (const f of frags) this.onOldHandshake(f, 0, nowMs, out);
        return;
      }
      out.drops.push(h.type === ContentType.changeCipherSpec ? 'duplicate' : 'bad-epoch');
      return;
    }
    out.drops.push('bad-epoch');
  }

  private dispatch(type: number, plaintext: Buffer, epoch: number, nowMs: number, out: DtlsResult): void {
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
    if (this.pendingReadProt === null) {
      out.drops.push(this.readEpoch > 0 ? 'duplicate' : 'unexpected-message');
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
    this.readEpoch = 1;
    this.readProt = this.pendingReadProt;
    this.pendingReadProt = null;
    this.replay.reset();
    this.onChangeCipherSpec(out);
    // Records of the new epoch that overtook the CCS.
    const pending = this.buffered;
    this.buffered = [];
    const h = newRecordHeader();
    for (const rec of pending) {
      if (readRecordHeader(rec, 0, h) > 0) this.processRecord(rec, h, nowMs, out);
    }
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
