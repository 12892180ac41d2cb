/**
 * DTLS record framing (RFC 6347 §4.1; identical layout in DTLS 0.9, PROTOCOL.md §6.4):
 *
 *   type(1) | version(2) | epoch(2) | sequence_number(6) | length(2) | fragment
 *
 * A datagram may carry several records. Parsing is split in two steps so the
 * hot path allocates nothing: `readRecordHeader` fills a caller-owned
 * `RecordHeader` and says where the fragment is.
 */
import { MAX_CIPHERTEXT_LENGTH, RECORD_HEADER_LENGTH } from './constants.js';
import type { RecordProtection } from './record-cipher.js';

export interface RecordHeader {
  type: number;
  version: number;
  epoch: number;
  seq: number;
  /** Offset of the fragment in the datagram. */
  fragmentOffset: number;
  fragmentLength: number;
}

export function newRecordHeader(): RecordHeader {
  return { type: 0, version: 0, epoch: 0, seq: 0, fragmentOffset: 0, fragmentLength: 0 };
}

/**
 * Parse the record header at `offset`. Returns the offset of the next record,
 * or a negative code: -1 truncated (header or fragment runs past the datagram),
 * -2 oversized (length field above the RFC limit; the rest of the datagram is
 * still skipped past because the length is usable for framing).
 */
export const RECORD_TRUNCATED = -1;
export const RECORD_OVERSIZED = -2;

export function readRecordHeader(buf: Buffer, offset: number, out: RecordHeader): number {
  if (buf.length - offset < RECORD_HEADER_LENGTH) return RECORD_TRUNCATED;
  const length = buf.readUInt16BE(offset + 11);
  const end = offset + RECORD_HEADER_LENGTH + length;
  if (end > buf.length) return RECORD_TRUNCATED;
  out.type = buf[offset]!;
  out.version = buf.readUInt16BE(offset + 1);
  out.epoch = buf.readUInt16BE(offset + 3);
  out.seq = buf.readUIntBE(offset + 5, 6);
  out.fragmentOffset = offset + RECORD_HEADER_LENGTH;
  out.fragmentLength = length;
  if (length > MAX_CIPHERTEXT_LENGTH) return RECORD_OVERSIZED;
  return end;
}

export function writeRecordHeader(
  dst: Buffer,
  offset: number,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  length: number,
): void {
  dst[offset] = type;
  dst.writeUInt16BE(version, offset + 1);
  dst.writeUInt16BE(epoch, offset + 3);
  dst.writeUIntBE(seq, offset + 5, 6);
  dst.writeUInt16BE(length, offset + 11);
}

/** Size of a whole record carrying `plaintextLength` bytes under `protection` (null = epoch 0 plaintext). */
export function recordLength(protection: RecordProtection | null, plaintextLength: number): number {
  return RECORD_HEADER_LENGTH + (protection ? protection.fragmentLength(plaintextLength) : plaintextLength);
}

/**
 * Write one complete record at dst[offset..]; returns its total length.
 * dst must have room for recordLength(protection, plaintext.length).
 */
export function writeRecord(
  dst: Buffer,
  offset: number,
  protection: RecordProtection | null,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  plaintext: Uint8Array,
): number {
  let fragLen: number;
  if (protection) {
    fragLen = protection.seal(type, version, epoch, seq, plaintext, dst, offset + RECORD_HEADER_LENGTH);
  } else {
    dst.set(plaintext, offset + RECORD_HEADER_LENGTH);
    fragLen = plaintext.length;
  }
  writeRecordHeader(dst, offset, type, version, epoch, seq, fragLen);
  return RECORD_HEADER_LENGTH + fragLen;
}

/** Convenience: one record in a fresh buffer. */
export function encodeRecord(
  protection: RecordProtection | null,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  plaintext: Uint8Array,
): Buffer {
  const out = Buffer.allocUnsafe(recordLength(protection, plaintext.length));
  const n = writeRecord(out, 0, protection, type, version, epoch, seq, plaintext);
  return n === out.length ? out : out.subarray(0, n);
}
