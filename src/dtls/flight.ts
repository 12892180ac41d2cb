/**
 * Outgoing handshake flights and their timers (RFC 6347 §4.2.4).
 *
 * A flight is kept as a list of messages, not bytes: every (re)transmission
 * serialises it again with fresh record sequence numbers (peers run replay
 * detection on handshake records too; GnuTLS does) and re-encrypts the
 * epoch-1 Finished. Records are packed into as few datagrams as fit.
 *
 * HandshakeTimers is plain arithmetic on the caller's clock: retransmission
 * timeout starting at `initialMs`, doubling up to `maxMs`, plus an overall
 * handshake deadline.
 */
import { ContentType, DTLS0_9 } from './constants.js';
import { encodeHandshake } from './messages.js';
import { encodeRecord } from './record.js';
import type { RecordProtection } from './record-cipher.js';

/** One record of our current flight. */
export interface FlightItem {
  readonly epoch: 0 | 1;
  readonly kind: 'handshake' | 'ccs';
  readonly msgType: number;
  /** Handshake message_seq; for a DTLS 0.9 CCS the message_seq it consumes. */
  readonly messageSeq: number;
  readonly body: Buffer;
  /** Record version override (a DTLS 1.2 ClientHello goes out with FE FF, like GnuTLS). */
  readonly recordVersion?: number;
}

/** What serialisation needs from the record layer's write side. */
export interface FlightRecordWriter {
  readonly version: number;
  protection(epoch: 0 | 1): RecordProtection | null;
  nextSeq(epoch: 0 | 1): number;
}

/** DTLS 0.9 CCS = 01 ‖ message_seq(2) (PROTOCOL.md §6.4 item 3); DTLS 1.2 CCS = 01. */
function ccsPayload(version: number, messageSeq: number): Buffer {
  if (version === DTLS0_9) return Buffer.from([1, (messageSeq >> 8) & 0xff, messageSeq & 0xff]);
  return Buffer.from([1]);
}

/**
 * Serialise `items` into datagrams of at most `maxDatagram` bytes (a single
 * record larger than that still goes out alone) and append them to `sink`.
 * Returns true if the flight contained a ChangeCipherSpec.
 */
export function serializeFlight(
  items: readonly FlightItem[],
  writer: FlightRecordWriter,
  maxDatagram: number,
  sink: Buffer[],
): boolean {
  let sawCcs = false;
  let chunk: Buffer[] = [];
  let chunkLen = 0;
  const flush = (): void => {
    if (chunkLen > 0) sink.push(chunk.length === 1 ? chunk[0]! : Buffer.concat(chunk));
    chunk = [];
    chunkLen = 0;
  };
  for (const item of items) {
    const isCcs = item.kind === 'ccs';
    const plaintext = isCcs
      ? ccsPayload(writer.version, item.messageSeq)
      : encodeHandshake(item.msgType, item.messageSeq, item.body);
    const rec = encodeRecord(
      writer.protection(item.epoch),
      isCcs ? ContentType.changeCipherSpec : ContentType.handshake,
      item.recordVersion ?? writer.version,
      item.epoch,
      writer.nextSeq(item.epoch),
      plaintext,
    );
    sawCcs ||= isCcs;
    if (chunkLen > 0 && chunkLen + rec.length > maxDatagram) flush();
    chunk.push(rec);
    chunkLen += rec.length;
  }
  flush();
  return sawCcs;
}

export class HandshakeTimers {
  private rto: number;
  private retransmitAt: number | null = null;
  private deadlineAt: number | null = null;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.rto = initialMs;
  }

  /** A new flight went out: retransmit it after the initial timeout. */
  arm(nowMs: number): void {
    this.rto = this.initialMs;
    this.retransmitAt = nowMs + this.rto;
  }

  /** The flight was retransmitted on timeout: double the timeout (bounded). */
  backoff(nowMs: number): void {
    this.rto = Math.min(this.rto * 2, this.maxMs);
    this.retransmitAt = nowMs + this.rto;
  }

  stopRetransmit(): void {
    this.retransmitAt = null;
  }

  /** Start the overall handshake deadline (first call wins). */
  startDeadline(nowMs: number, timeoutMs: number): void {
    if (this.deadlineAt === null) this.deadlineAt = nowMs + timeoutMs;
  }

  clear(): void {
    this.retransmitAt = null;
    this.deadlineAt = null;
  }

  retransmitDue(nowMs: number): boolean {
    return this.retransmitAt !== null && nowMs >= this.retransmitAt;
  }

  deadlinePassed(nowMs: number): boolean {
    return this.deadlineAt !== null && nowMs >= this.deadlineAt;
  }

  /** Earliest time anything is due, or null. */
  get next(): number | null {
    if (this.retransmitAt === null) return this.deadlineAt;
    if (this.deadlineAt === null) return this.retransmitAt;
    return Math.min(this.retransmitAt, this.deadlineAt);
  }
}
