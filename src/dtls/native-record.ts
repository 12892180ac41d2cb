/**
 * The DTLS data path's record protection, native when the `sslgate_dtls`
 * addon (native/dtls_record.c) is built, pure TypeScript otherwise. Same API and same bytes on
 * the wire either way (test/unit/dtls-native-*.test.ts checks both against record-cipher.ts).
 *
 * Why: node:crypto builds a cipher object per record (~3.6-3.9 us for AES-GCM, more for
 * CBC+HMAC); a context that is keyed once and only re-IV'd per record costs ~0.5 us
 * (NODE-DATAPLANE.md §3). The handshake never comes here: after 'established' the channel takes
 * `endpoint.exportTrafficKeys()` and builds one sealer and one opener from it.
 *
 *   const keys = ep.exportTrafficKeys()!
 *   const sealer = createRecordSealer(keys)        // continues at keys.nextWriteSeq, owns the seq
 *   const opener = createRecordOpener(keys)        // has its own 64-record replay window
 *
 *   // out: payload written at `off + sealer.headroom` first, tag/MAC/padding room after it
 *   n = sealer.seal(buf, off, payloadLength, ContentType.applicationData)     // record at buf[off, off+n)
 *   // or copy + seal in one call (the AnyConnect type byte goes in front of the packet):
 *   n = sealer.sealFrom(dst, off, packet, pktOff, pktLen, 0x00, ContentType.applicationData)
 *
 *   // in: one record at buf[off, off+len) (type 23, epoch and version already checked by peeking)
 *   r = opener.open(buf, off, len)   // >= 0: plaintext of r bytes at buf[off + opener.plaintextOffset]
 *                                    // OPEN_BAD (-1) tag/MAC/padding/format, OPEN_REPLAY (-2) seen/too old
 *
 * The sealed datagrams go out through `dgram.send` or a batched sink (udp-batch.ts, which uses
 * the same addon's sendmmsg).
 *
 * Set SSLGATE_DTLS_NATIVE=0 to force the TypeScript implementation (A/B measurements, tests).
 */
import { loadAddon } from '../os/native-addon.js';
import { MAX_PLAINTEXT_LENGTH, MAX_SEQUENCE, RECORD_HEADER_LENGTH } from './constants.js';
import { createRecordProtection, type RecordProtection } from './record-cipher.js';
import { writeRecordHeader } from './record.js';
import { ReplayWindow } from './replay.js';
import { getSuite, type CipherSuite } from './suites.js';
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

// ---------------------------------------------------------------- addon

/** The `sslgate_dtls` addon (native/dtls_record.c). */
export interface DtlsAddon {
  openssl: string;
  RecordSealer: new (
    kind: string, cipher: string, macHash: string, encKey: Buffer, fixedIv: Buffer, macKey: Buffer,
    version: number, epoch: number, firstSeq: number,
  ) => RecordSealer;
  RecordOpener: new (
    kind: string, cipher: string, macHash: string, encKey: Buffer, fixedIv: Buffer, macKey: Buffer,
    version: number, epoch: number,
  ) => RecordOpener;
  sendBatch(
    fd: number, slab: Buffer, offsets: Uint32Array, lens: Uint32Array, addrs: Uint32Array, ports: Uint32Array, count: number,
    flags: Uint32Array,
  ): number;
}

let addon: DtlsAddon | null | undefined;
let addonError: string | null = null;

/** The addon, or null (not built, not Linux, or SSLGATE_DTLS_NATIVE=0): then TS is used. */
export function nativeDtlsAddon(): DtlsAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env['SSLGATE_DTLS_NATIVE'] === '0') {
    addonError = 'disabled by SSLGATE_DTLS_NATIVE=0';
    return addon;
  }
  try {
    addon = loadAddon<DtlsAddon>('sslgate_dtls');
  } catch (e) {
    addonError = (e as Error).message;
  }
  return addon;
}

/** 'native (OpenSSL x.y.z)' or 'typescript (<why>)', for logs. */
export function recordBackend(): string {
  const a = nativeDtlsAddon();
  return a ? `native (${a.openssl})` : `typescript (${addonError ?? 'no addon'})`;
}

// ---------------------------------------------------------------- factories

function suiteOf(keys: DtlsTrafficKeys): CipherSuite {
  const s = getSuite(keys.suiteId);
  if (!s) throw new Error(`unknown DTLS suite 0x${keys.suiteId.toString(16)}`);
  return s;
}

export interface RecordFactoryOptions {
  /** Use the TypeScript implementation even when the addon is there (tests, A/B). */
  typescript?: boolean;
}

/** Write protection for the association of `keys`, continuing at keys.nextWriteSeq. */
export function createRecordSealer(keys: DtlsTrafficKeys, opts: RecordFactoryOptions = {}): RecordSealer {
  const suite = suiteOf(keys);
  const a = opts.typescript ? null : nativeDtlsAddon();
  if (a) {
    const k = keys.write;
    return new a.RecordSealer(suite.kind, suite.cipher, suite.macHash ?? '', k.encKey, k.fixedIv, k.macKey,
      keys.version, keys.epoch, keys.nextWriteSeq);
  }
  return new TsSealer(suite, keys);
}

/** Read protection for the association of `keys`, with its own replay window. */
export function createRecordOpener(keys: DtlsTrafficKeys, opts: RecordFactoryOptions = {}): RecordOpener {
  const suite = suiteOf(keys);
  const a = opts.typescript ? null : nativeDtlsAddon();
  if (a) {
    const k = keys.read;
    return new a.RecordOpener(suite.kind, suite.cipher, suite.macHash ?? '', k.encKey, k.fixedIv, k.macKey,
      keys.version, keys.epoch);
  }
  return new TsOpener(suite, keys);
}

// ---------------------------------------------------------------- TypeScript fallback

class TsSealer implements RecordSealer {
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

class TsOpener implements RecordOpener {
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
