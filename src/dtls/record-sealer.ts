/**
 * Record protection for the DTLS data path after the handshake, as objects keyed once per
 * association: the interfaces the channel uses (RecordSealer, RecordOpener) and their pure
 * TypeScript implementation over record-cipher.ts. The native implementation of the same
 * interfaces (native/dtls_record.c) and the choice between the two live in
 * src/os/dtls-record-addon.ts; test/unit/dtls-native-*.test.ts checks that both give the same
 * bytes as record-cipher.ts.
 *
 *   // out: payload written at `off + sealer.headroom` first, tag/MAC/padding room after it
 *   n = sealer.seal(buf, off, payloadLength, ContentType.applicationData)     // record at buf[off, off+n)
 *   // or copy + seal in one call (the AnyConnect type byte goes in front of the packet):
 *   n = sealer.sealFrom(dst, off, packet, pktOff, pktLen, 0x00, ContentType.applicationData)
 *
 *   // in: one record at buf[off, off+len) (type 23, epoch and version already checked by peeking)
 *   r = opener.open(buf, off, len)   // >= 0: plaintext of r bytes at buf[off + opener.plaintextOffset]
 *                                    // OPEN_BAD (-1) tag/MAC/padding/format, OPEN_REPLAY (-2) seen/too old
 */
import { MAX_PLAINTEXT_LENGTH, MAX_SEQUENCE, RECORD_HEADER_LENGTH } from './constants.js';
import { createRecordProtection, type RecordProtection } from './record-cipher.js';
import { writeRecordHeader } from './record.js';
import { ReplayWindow } from './replay.js';
import type { CipherSuite } from './suites.js';
import type { DtlsTrafficKeys } from './types.js';

/** open(): authentication, padding or format failure (one code on purpose). */
export const OPEN_BAD = -1;
/** open(): sequence number already seen, or left of the replay window. */
export const OPEN_REPLAY = -2;

export interface RecordSealer {
  /** Bytes before the payload: record header + explicit nonce/IV. */
  readonly headroom: number;
  /** Worst-case bytes after the payload: tag, or MAC + padding. */
  readonly tailroom: number;
  /** Sequence number the next record gets. */
  readonly nextSeq: number;
  /** Payload already at buf[recordOffset + headroom, +payloadLength); returns the record length. */
  seal(buf: Buffer, recordOffset: number, payloadLength: number, contentType: number): number;
  /**
   * Payload = [prefixByte if 0..255, none if -1] ‖ src[srcOffset, +srcLength): copied to
   * dst[recordOffset + headroom] and sealed there. src may be any Uint8Array (also dst itself).
   */
  sealFrom(
    dst: Buffer,
    recordOffset: number,
    src: Uint8Array,
    srcOffset: number,
    srcLength: number,
    prefixByte: number,
    contentType: number,
  ): number;
}

export interface RecordOpener {
  /** Where the plaintext starts, from the record's first byte. */
  readonly plaintextOffset: number;
  /** Decrypt + verify in place: plaintext length, OPEN_BAD or OPEN_REPLAY. */
  open(buf: Buffer, recordOffset: number, recordLength: number): number;
}

/** Write protection in TypeScript, continuing at keys.nextWriteSeq. */
export class TsRecordSealer implements RecordSealer {
  readonly headroom: number;
  readonly tailroom: number;
  private seq: number;
  private readonly prot: RecordProtection;
  private readonly version: number;
  private readonly epoch: number;

  constructor(suite: CipherSuite, keys: DtlsTrafficKeys) {
    this.prot = createRecordProtection(suite, keys.write);
    this.headroom = RECORD_HEADER_LENGTH + this.prot.explicitNonceLength;
    this.tailroom = this.prot.maxTrailerLength;
    this.seq = keys.nextWriteSeq;
    this.version = keys.version;
    this.epoch = keys.epoch;
  }

  get nextSeq(): number {
    return this.seq;
  }

  seal(buf: Buffer, recordOffset: number, payloadLength: number, contentType: number): number {
    const start = recordOffset + this.headroom;
    if (payloadLength > MAX_PLAINTEXT_LENGTH || start + payloadLength + this.tailroom > buf.length) {
      throw new RangeError('seal: record does not fit in the buffer (headroom/tailroom)');
    }
    if (this.seq >= MAX_SEQUENCE) throw new Error('DTLS sequence number space exhausted');
    const seq = this.seq++;
    const frag = this.prot.seal(contentType, this.version, this.epoch, seq, buf.subarray(start, start + payloadLength), buf,
      recordOffset + RECORD_HEADER_LENGTH);
    writeRecordHeader(buf, recordOffset, contentType, this.version, this.epoch, seq, frag);
    return RECORD_HEADER_LENGTH + frag;
  }

  sealFrom(dst: Buffer, recordOffset: number, src: Uint8Array, srcOffset: number, srcLength: number,
    prefixByte: number, contentType: number): number {
    const pre = prefixByte >= 0 ? 1 : 0;
    const start = recordOffset + this.headroom;
    if (srcOffset + srcLength > src.length || start + pre + srcLength + this.tailroom > dst.length) {
      throw new RangeError('sealFrom: source or record out of bounds');
    }
    dst.set(src.subarray(srcOffset, srcOffset + srcLength), start + pre); // TypedArray.set handles overlap
    if (pre) dst[start] = prefixByte;
    return this.seal(dst, recordOffset, pre + srcLength, contentType);
  }
}

/** Read protection in TypeScript, with its own replay window. */
export class TsRecordOpener implements RecordOpener {
  readonly plaintextOffset: number;
  private readonly prot: RecordProtection;
  private readonly replay = new ReplayWindow();
  private readonly version: number;
  private readonly epoch: number;

  constructor(suite: CipherSuite, keys: DtlsTrafficKeys) {
    this.prot = createRecordProtection(suite, keys.read);
    this.plaintextOffset = RECORD_HEADER_LENGTH + this.prot.explicitNonceLength;
    this.version = keys.version;
    this.epoch = keys.epoch;
  }

  open(buf: Buffer, recordOffset: number, recordLength: number): number {
    if (recordLength < RECORD_HEADER_LENGTH || recordOffset + recordLength > buf.length) return OPEN_BAD;
    const type = buf[recordOffset]!;
    const version = buf.readUInt16BE(recordOffset + 1);
    const epoch = buf.readUInt16BE(recordOffset + 3);
    const seq = buf.readUIntBE(recordOffset + 5, 6);
    const frag = buf.readUInt16BE(recordOffset + 11);
    if (frag !== recordLength - RECORD_HEADER_LENGTH || version !== this.version || epoch !== this.epoch) return OPEN_BAD;
    if (this.replay.check(seq) !== 'ok') return OPEN_REPLAY;
    const f = recordOffset + RECORD_HEADER_LENGTH;
    const pt = this.prot.open(type, version, epoch, seq, buf.subarray(f, f + frag));
    if (pt === null || pt.length > MAX_PLAINTEXT_LENGTH) return OPEN_BAD;
    this.replay.mark(seq);
    pt.copy(buf, recordOffset + this.plaintextOffset);
    return pt.length;
  }
}
