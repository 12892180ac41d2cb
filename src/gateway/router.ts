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
import { TunWriter } from '../tunnel/tun-writer.js';

/** Where the router sends a session's packets: its tunnel (DTLS or CSTP, see SessionTunnel). */
export interface PacketSink {
  sendPacket(buf: Uint8Array, off: number, len: number): boolean;
}

export interface RouterCounters {
  tunRxPackets: number;
  noRoute: number;
  spoofed: number;
  /** read from the TUN writer */
  readonly tunWriteErrors: number;
}

export class Router {
  readonly counters: RouterCounters;
  private readonly byAddr = new Map<number, PacketSink>();
  /**
   * Client packets into the TUN, in batches for write-side GRO: a DTLS receive batch's packets
   * (in its slab, between beginClientBatch and endClientBatch) and one event-loop turn's CSTP
   * records (copied) are each one tun.writeBatch (tunnel/tun-writer.ts, shared with the client).
   */
  private readonly writer: TunWriter;

  constructor(private readonly tun: TunDevice) {
    const writer = (this.writer = new TunWriter(tun));
    this.counters = {
      tunRxPackets: 0,
      noRoute: 0,
      spoofed: 0,
      get tunWriteErrors(): number {
        return writer.writeErrors;
      },
    };
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

  /** A packet from the client that owns `addr`, in a receive slab (see beginClientBatch) or a buffer not reused. */
  fromClient(addr: number, buf: Buffer, start: number, end: number): void {
    if (ipv4Source(buf, start, end - start) !== addr) {
      this.counters.spoofed++;
      return;
    }
    this.writer.packet(buf, start, end);
  }

  /**
   * A packet from the client that owns `addr`, in a buffer the caller may reuse as soon as this
   * returns (a CSTP record): copied and written with the others of this event-loop turn.
   */
  fromClientRecord(addr: number, buf: Buffer, start: number, end: number): void {
    if (ipv4Source(buf, start, end - start) !== addr) {
      this.counters.spoofed++;
      return;
    }
    this.writer.record(buf, start, end);
  }

  /**
   * From now until endClientBatch(), fromClient() queues packets that lie in `slab` (whose bytes
   * the caller keeps as they are until then) and writes them together at the end.
   */
  beginClientBatch(slab: Buffer): void {
    this.writer.beginBatch(slab);
  }

  /** Writes what beginClientBatch() queued. */
  endClientBatch(): void {
    this.writer.endBatch();
  }

  /** Writes the queued client packets now (before a datagram handled another way, to keep order). */
  flushClientQueue(): void {
    this.writer.flushQueue();
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
