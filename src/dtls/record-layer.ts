/**
 * The record layer of a DTLS endpoint (RFC 6347 §4.1), below the handshake (endpoint.ts):
 *
 *   in:  datagrams split into records; version, epoch, replay and MAC checks; next-epoch
 *        records that overtake the ChangeCipherSpec kept until it arrives (RFC 6347 §4.1
 *        allows buffering); the plaintext handed up through `dispatch`;
 *   out: sequence numbers and protection per epoch, flights packed into datagrams
 *        (flight.ts), loose records (alerts, HelloVerifyRequest), and application data
 *        protection once established (protect, protectInPlace, exportTrafficKeys).
 *
 * Epoch 0 is plaintext; epoch 1 is what installKeys sets up: writes use it after our
 * ChangeCipherSpec went out, reads after the peer's was accepted (switchReadEpoch).
 */
import {
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
import { serializeFlight, type FlightItem, type FlightRecordWriter } from './flight.js';
import { encodeAlert } from './messages.js';
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
import type { CommonOptions, DtlsResult, DtlsTrafficKeys } from './types.js';

export type EndpointState = 'idle' | 'handshaking' | 'established' | 'failed' | 'closed';

/** Next-epoch records kept until the ChangeCipherSpec arrives (RFC 6347 §4.1 allows buffering). */
const MAX_BUFFERED_RECORDS = 8;

export abstract class DtlsRecordLayer {
  /** Driven by the handshake (endpoint.ts); read here to drop records and refuse data. */
  protected state: EndpointState = 'idle';
  private readonly maxDatagram: number;
  /** CBC explicit IVs come from the injected random source when there is one (deterministic tests). */
  private readonly fillIv: IvFiller | undefined;

  /** Negotiated (or configured) protocol version. */
  protected readonly version: DtlsVersion;

  // Write side: epoch 0 is plaintext, epoch 1 is set up by the role when keys exist.
  private readonly writeSeq = [0, 0];
  private readonly writeProt: (RecordProtection | null)[] = [null, null];
  private writeEpoch = 0;
  private readonly writer: FlightRecordWriter;

  // Read side.
  private readEpoch = 0;
  private readProt: RecordProtection | null = null;
  private pendingReadProt: RecordProtection | null = null;
  private readonly replay = new ReplayWindow();
  private buffered: Buffer[] = [];

  /** Sequence number of the record being processed (a HelloVerifyRequest echoes it, RFC 6347 §4.2.1). */
  protected currentRecordSeq = 0;

  private suiteForData: CipherSuite | null = null;
  private keysForExport: { write: DirectionKeys; read: DirectionKeys } | null = null;

  private readonly hdr: RecordHeader = newRecordHeader();

  protected constructor(version: DtlsVersion, opts: CommonOptions) {
    this.version = version;
    const inject = opts.randomBytes;
    this.fillIv = inject ? (iv) => void inject(iv.length).copy(iv) : undefined;
    this.maxDatagram = opts.maxDatagramSize ?? 1400;
    this.writer = {
      version,
      protection: (epoch) => (epoch === 0 ? null : this.writeProt[1]!),
      nextSeq: (epoch) => this.nextWriteSeq(epoch),
    };
  }

  // -------------------------------------------------------------------------
  // Public API: application data

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
  // Hooks for the handshake

  /** The plaintext of one authentic record of the current read epoch. */
  protected abstract dispatch(type: number, plaintext: Buffer, epoch: number, nowMs: number, out: DtlsResult): void;

  /** A plaintext handshake record of epoch 0 after the read epoch moved to 1 (a retransmission). */
  protected abstract onPreviousEpochHandshake(plaintext: Buffer, nowMs: number, out: DtlsResult): void;

  // -------------------------------------------------------------------------
  // Write side

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

  /** Overhead of one record under the epoch-1 protection, worst case. */
  protected maxRecordOverhead(): number {
    const p = this.writeProt[1];
    return RECORD_HEADER_LENGTH + (p ? p.explicitNonceLength + p.maxTrailerLength : 0);
  }

  /** Send a record that is not part of a flight (alerts, HelloVerifyRequest). */
  protected sendLoose(type: number, epoch: 0 | 1, seq: number, plaintext: Buffer, recordVersion: number, out: DtlsResult): void {
    out.send.push(encodeRecord(epoch === 0 ? null : this.writeProt[1]!, type, recordVersion, epoch, seq, plaintext));
  }

  /** An alert, protected once our ChangeCipherSpec went out; best effort. */
  protected sendAlert(level: number, description: number, out: DtlsResult): void {
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

  /** Serialise a flight (fresh sequence numbers) into `out.send`. */
  protected writeFlight(items: readonly FlightItem[], out: DtlsResult): void {
    // After our ChangeCipherSpec, alerts go out protected.
    if (serializeFlight(items, this.writer, this.maxDatagram, out.send)) this.writeEpoch = 1;
  }

  // -------------------------------------------------------------------------
  // Read side

  /** Every record of one datagram, in order. */
  protected readRecords(datagram: Buffer, nowMs: number, out: DtlsResult): void {
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
  }

  /** The read epoch (0 until the peer's ChangeCipherSpec was accepted). */
  protected get currentReadEpoch(): number {
    return this.readEpoch;
  }

  /** Whether installKeys set up read keys that the peer's ChangeCipherSpec has not switched to yet. */
  protected get readKeysPending(): boolean {
    return this.pendingReadProt !== null;
  }

  /**
   * The peer's ChangeCipherSpec was accepted: reads use the new epoch from now on. Then call
   * processBuffered for the records of that epoch that came first.
   */
  protected switchReadEpoch(): void {
    this.readEpoch = 1;
    this.readProt = this.pendingReadProt;
    this.pendingReadProt = null;
    this.replay.reset();
  }

  /** Records of the new epoch that overtook the CCS. */
  protected processBuffered(nowMs: number, out: DtlsResult): void {
    const pending = this.buffered;
    this.buffered = [];
    const h = newRecordHeader();
    for (const rec of pending) {
      if (readRecordHeader(rec, 0, h) > 0) this.processRecord(rec, h, nowMs, out);
    }
  }

  protected dropBuffered(): void {
    this.buffered = [];
  }

  /** Back to epoch 0 both ways with no keys (server: the client restarted with a fresh ClientHello). */
  protected resetRecords(): void {
    this.writeProt[1] = null;
    this.writeSeq[1] = 0;
    this.writeEpoch = 0;
    this.readEpoch = 0;
    this.readProt = null;
    this.pendingReadProt = null;
    this.replay.reset();
    this.buffered = [];
  }

  // -------------------------------------------------------------------------
  // Internals

  private requireDataProtection(): RecordProtection {
    const p = this.writeProt[1];
    if (this.state !== 'established' || !p) throw new Error('DTLS association not established');
    return p;
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
        this.onPreviousEpochHandshake(fragment, nowMs, out);
        return;
      }
      out.drops.push(h.type === ContentType.changeCipherSpec ? 'duplicate' : 'bad-epoch');
      return;
    }
    out.drops.push('bad-epoch');
  }
}
