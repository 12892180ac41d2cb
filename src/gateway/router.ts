/**
 * The gateway's data plane: one TUN device, many sessions.
 *
 * TUN -> client: 1. a batch of packets from the TUN (one callback)  2. destination address ->
 *   the channel of the session holding that address (one Map look-up)  3. channel.sendPacket.
 * client -> TUN: 1. a DATA frame from a session's channel  2. source address must be the
 *   session's own (no spoofing of other clients or the gateway)  3. one write to the TUN.
 *
 * No logging, promises or allocation here beyond the frame buffer the channel makes.
 */
import { ipv4Destination, ipv4Source } from '../protocol/ipv4.js';
import type { TunDevice } from '../os/tun.js';

/** Where the router sends a session's packets: its tunnel (DTLS or CSTP, see SessionTunnel). */
export interface PacketSink {
  sendPacket(buf: Uint8Array, off: number, len: number): boolean;
}

export interface RouterCounters {
  tunRxPackets: number;
  noRoute: number;
  spoofed: number;
  tunWriteErrors: number;
}

/** Most client packets queued for one writeBatch (a recvmmsg batch: 32 messages of up to 64 GRO segments). */
const WRITE_QUEUE = 2048;
/** Room for the CSTP packets of one event-loop turn: a few 64 KB socket reads' worth. */
const COPY_SLAB = 256 * 1024;
const COPY_QUEUE = 512;

export class Router {
  readonly counters: RouterCounters = { tunRxPackets: 0, noRoute: 0, spoofed: 0, tunWriteErrors: 0 };
  private readonly byAddr = new Map<number, PacketSink>();
  /**
   * Client packets of one receive batch (DtlsListener's recvmmsg slab), written with ONE
   * tun.writeBatch call at its end instead of one tun.write call each (still one write(2) per
   * packet: the TUN takes one packet per write). Only packets inside `queueSlab` are queued: it
   * stays untouched until endClientBatch().
   */
  private queueSlab: Buffer | null = null;
  private readonly queueOffs = new Uint32Array(WRITE_QUEUE);
  private readonly queueLens = new Uint32Array(WRITE_QUEUE);
  private queued = 0;
  /**
   * Client packets that arrive one per buffer (CSTP: Node hands each TLS record to JS on its own),
   * copied here and written with ONE writeBatch once the event loop has handled the I/O at hand
   * (setImmediate), so the TUN's write-side GRO can merge a TLS upload's segments too. Only when
   * the TUN merges (tun.gro): without it a batch still costs one write(2) per packet.
   */
  private readonly copySlab: Buffer;
  private readonly copyOffs = new Uint32Array(COPY_QUEUE);
  private readonly copyLens = new Uint32Array(COPY_QUEUE);
  private copied = 0;
  private copyUsed = 0;
  private copyFlushPending = false;

  constructor(private readonly tun: TunDevice) {
    this.copySlab = tun.gro ? Buffer.allocUnsafeSlow(COPY_SLAB) : Buffer.alloc(0);
  }

  start(): void {
    this.tun.start(this.onBatch);
  }

  attach(addr: number, channel: PacketSink): void {
    this.byAddr.set(addr, channel);
  }

  /** Removes the route only if it still points at this channel (a reconnect may have replaced it); true if it did. */
  detach(addr: number, channel: PacketSink): boolean {
    if (this.byAddr.get(addr) !== channel) return false;
    this.byAddr.delete(addr);
    return true;
  }

  /** Addresses with a live tunnel. */
  get size(): number {
    return this.byAddr.size;
  }

  /** A packet from the client that owns `addr`. */
  fromClient(addr: number, buf: Buffer, start: number, end: number): void {
    if (ipv4Source(buf, start, end - start) !== addr) {
      this.counters.spoofed++;
      return;
    }
    if (buf === this.queueSlab) {
      const i = this.queued++;
      this.queueOffs[i] = start;
      this.queueLens[i] = end - start;
      if (this.queued === WRITE_QUEUE) this.flushClientQueue();
      return;
    }
    if (!this.tun.write(buf, start, end - start)) this.counters.tunWriteErrors++;
  }

  /**
   * A packet from the client that owns `addr`, in a buffer the caller may reuse as soon as this
   * returns (a CSTP record): copied and written with the others of this event-loop turn.
   */
  fromClientRecord(addr: number, buf: Buffer, start: number, end: number): void {
    const len = end - start;
    if (this.copySlab.length === 0 || len > COPY_SLAB) {
      this.fromClient(addr, buf, start, end);
      return;
    }
    if (ipv4Source(buf, start, len) !== addr) {
      this.counters.spoofed++;
      return;
    }
    if (this.copyUsed + len > COPY_SLAB || this.copied === COPY_QUEUE) this.flushCopies();
    buf.copy(this.copySlab, this.copyUsed, start, end);
    this.copyOffs[this.copied] = this.copyUsed;
    this.copyLens[this.copied++] = len;
    this.copyUsed += len;
    if (!this.copyFlushPending) {
      this.copyFlushPending = true;
      setImmediate(this.flushCopies);
    }
  }

  /** Writes the copied client packets now (also called by the pending setImmediate). */
  readonly flushCopies = (): void => {
    this.copyFlushPending = false;
    const n = this.copied;
    if (n === 0) return;
    this.copied = 0;
    this.copyUsed = 0;
    this.writeBatch(this.copySlab, this.copyOffs, this.copyLens, n);
  };

  /**
   * From now until endClientBatch(), fromClient() queues packets that lie in `slab` (whose bytes
   * the caller keeps as they are until then) and writes them together at the end.
   */
  beginClientBatch(slab: Buffer): void {
    this.flushClientQueue();
    this.queueSlab = slab;
  }

  /** Writes what beginClientBatch() queued (also before any packet from another buffer, to keep order). */
  endClientBatch(): void {
    this.flushClientQueue();
    this.queueSlab = null;
  }

  /** Writes the queued client packets now. */
  flushClientQueue(): void {
    const n = this.queued;
    if (n === 0) return;
    this.queued = 0;
    this.writeBatch(this.queueSlab!, this.queueOffs, this.queueLens, n);
  }

  /**
   * The one write of either queue (once per batch, not per packet). The two queues stay apart:
   * one borrows the receive slab until the batch ends, the other owns copies flushed a loop
   * turn later; one state for both would cost a call per packet on the hottest path.
   */
  private writeBatch(slab: Buffer, offs: Uint32Array, lens: Uint32Array, n: number): void {
    const ok = this.tun.writeBatch(slab, offs, lens, n);
    if (ok < n) this.counters.tunWriteErrors += n - ok;
  }

  private readonly onBatch = (slab: Buffer, lens: Uint32Array, count: number): void => {
    const slot = this.tun.slot;
    const head = this.tun.headroom;
    this.counters.tunRxPackets += count;
    for (let i = 0; i < count; i++) {
      const off = i * slot + head;
      const len = lens[i]!;
      const ch = this.byAddr.get(ipv4Destination(slab, off, len));
      if (ch) ch.sendPacket(slab, off, len);
      else this.counters.noRoute++;
    }
  };
}
