/**
 * Packets from the peer into the TUN, written in batches so the TUN's write-side GRO
 * (native/gro.c, tun.writeBatch) can merge a TCP flow's segments into one write: the client's
 * downloads (client/session.ts) and the gateway's uploads (gateway/router.ts, after its
 * source-address check).
 *
 *   DTLS, batched receive (recvmmsg slab): between beginBatch(slab) and endBatch() packets that
 *     lie in that slab (opened in place) are only queued; endBatch() writes them with ONE
 *     writeBatch call. The receiver leaves the slab alone until then.
 *   CSTP (the session's shared TLS read buffer, reused by the next read): `record` copies each
 *     packet into a slab of its own and writes the copies of one event-loop turn together
 *     (setImmediate), only when the TUN merges (tun.gro); without GRO a batch would still be one
 *     write(2) per packet, so the copy would buy nothing and each record is written at once.
 *   anything else (dgram 'message' buffers): written at once.
 * Order is kept: queued or copied packets are written before any packet written another way.
 * No allocation and no promise per packet.
 */
import type { TunDevice } from '../os/tun.js';

/** Most packets queued from one receive batch (32 datagrams of up to 64 UDP GRO segments). */
const QUEUE = 2048;
/** Room for the CSTP packets of one event-loop turn: a few 64 KB TLS reads' worth. */
const COPY_SLAB = 256 * 1024;
const COPY_QUEUE = 512;

export class TunWriter {
  /** packets the kernel refused (dropped, like a full NIC ring) */
  writeErrors = 0;
  private queueSlab: Buffer | null = null;
  private readonly queueOffs = new Uint32Array(QUEUE);
  private readonly queueLens = new Uint32Array(QUEUE);
  private queued = 0;
  private readonly copySlab: Buffer;
  private readonly copyOffs = new Uint32Array(COPY_QUEUE);
  private readonly copyLens = new Uint32Array(COPY_QUEUE);
  private copied = 0;
  private copyUsed = 0;
  private copyFlushPending = false;

  constructor(private readonly tun: TunDevice) {
    this.copySlab = tun.gro ? Buffer.allocUnsafeSlow(COPY_SLAB) : Buffer.alloc(0);
  }

  /** A packet in a buffer that stays as it is until endBatch() (if it is the batch's slab), or is not reused. */
  readonly packet = (buf: Buffer, start: number, end: number): void => {
    if (buf === this.queueSlab) {
      const i = this.queued++;
      this.queueOffs[i] = start;
      this.queueLens[i] = end - start;
      if (this.queued === QUEUE) this.flushQueue();
      return;
    }
    this.writeNow(buf, start, end);
  };

  /** A packet in a buffer the caller reuses as soon as this returns (a CSTP record). */
  readonly record = (buf: Buffer, start: number, end: number): void => {
    const len = end - start;
    if (this.copySlab.length === 0 || this.queueSlab !== null || len > COPY_SLAB) {
      this.writeNow(buf, start, end);
      return;
    }
    if (this.copyUsed + len > COPY_SLAB || this.copied === COPY_QUEUE) this.flushCopies();
    buf.copy(this.copySlab, this.copyUsed, start, end);
    this.copyOffs[this.copied] = this.copyUsed;
    this.copyLens[this.copied++] = len;
    this.copyUsed += len;
    if (!this.copyFlushPending) {
      this.copyFlushPending = true;
      setImmediate(this.onImmediate);
    }
  };

  /** From now until endBatch(), packets inside `slab` are queued (the caller keeps its bytes). */
  beginBatch(slab: Buffer): void {
    this.flushCopies();
    this.flushQueue();
    this.queueSlab = slab;
  }

  /** Writes what the batch queued. */
  endBatch(): void {
    this.flushQueue();
    this.queueSlab = null;
  }

  private writeNow(buf: Buffer, start: number, end: number): void {
    this.flushCopies();
    this.flushQueue();
    if (!this.tun.write(buf, start, end - start)) this.writeErrors++;
  }

  /** Writes what the current batch queued so far (before a packet handled another way, to keep order). */
  flushQueue(): void {
    const n = this.queued;
    if (n === 0) return;
    this.queued = 0;
    const ok = this.tun.writeBatch(this.queueSlab!, this.queueOffs, this.queueLens, n);
    if (ok < n) this.writeErrors += n - ok;
  }

  private readonly onImmediate = (): void => {
    this.copyFlushPending = false;
    this.flushCopies();
  };

  /** Writes the copied packets now. */
  private flushCopies(): void {
    const n = this.copied;
    if (n === 0) return;
    this.copied = 0;
    this.copyUsed = 0;
    const ok = this.tun.writeBatch(this.copySlab, this.copyOffs, this.copyLens, n);
    if (ok < n) this.writeErrors += n - ok;
  }
}
