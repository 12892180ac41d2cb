/**
 * An in-memory TunDevice for unit tests of the gateway's data plane (Router, DtlsListener):
 * `inject` hands packets to the reader as one batch, in the slab layout the real device uses
 * (slot, headroom); `written` keeps every packet written to it.
 */
import type { InterfaceName, TunBatchHandler, TunDevice } from '../../src/os/tun.js';

export class FakeTun implements TunDevice {
  readonly name = 'faketun0' as InterfaceName;
  readonly fd = -1;
  readonly slot = 2048;
  readonly headroom = 64;
  readonly truncated = 0;
  readonly vnetHdr = false;
  /** set by tests of the deferred (batched) client writes */
  gro = false;
  readonly offloadCounters = { malformed: 0, superPackets: 0, segments: 0, groWrites: 0, groSegments: 0 };
  readonly written: Buffer[] = [];
  /** write() answers this (false: the kernel refused the packet) */
  accept = true;
  private onBatch: TunBatchHandler | null = null;

  start(onBatch: TunBatchHandler): void {
    this.onBatch = onBatch;
  }

  stop(): void {
    this.onBatch = null;
  }

  /** the last setMtu (the client's TUN follows its MTU changes) */
  mtu = 0;
  setMtu(mtu: number): void {
    this.mtu = mtu;
  }

  write(packet: Buffer, offset = 0, length = packet.length - offset): boolean {
    if (!this.accept) return false;
    this.written.push(Buffer.from(packet.subarray(offset, offset + length)));
    return true;
  }

  writeBatch(slab: Buffer, offsets: Uint32Array, lens: Uint32Array, count: number): number {
    for (let i = 0; i < count; i++) this.write(slab, offsets[i]!, lens[i]!);
    return count;
  }

  close(): void {
    this.onBatch = null;
  }

  /** Delivers `packets` to the reader as one batch (as a read from the kernel would). */
  inject(packets: Buffer[]): void {
    if (!this.onBatch) throw new Error('FakeTun: not started');
    const slab = Buffer.alloc(this.slot * packets.length, 0xee);
    const lens = new Uint32Array(packets.length);
    packets.forEach((p, i) => {
      p.copy(slab, i * this.slot + this.headroom);
      lens[i] = p.length;
    });
    this.onBatch(slab, lens, packets.length);
  }
}

/** "10.9.0.2" -> host-order number, as sessions store their address. */
export function ip(a: string): number {
  return a.split('.').reduce((v, b) => v * 256 + Number(b), 0);
}

/** A minimal IPv4 packet (header + payload; checksums are not looked at by the router). */
export function ipv4Packet(src: string, dst: string, payload: Buffer | string = 'hello'): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const p = Buffer.alloc(20 + body.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 17;
  p.writeUInt32BE(ip(src), 12);
  p.writeUInt32BE(ip(dst), 16);
  body.copy(p, 20);
  return p;
}
