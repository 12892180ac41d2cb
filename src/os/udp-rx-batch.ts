/**
 * Batched UDP input for the gateway's DTLS socket: the receive half of udp-batch.ts.
 *
 * `UdpBatchReceiver` reads the dgram socket's datagrams with recvmmsg(2) and UDP_GRO through the
 * `sslgate_dtls` addon's UdpPoller (native/udp_rx.c): one JS call per batch of up to 64
 * messages (each possibly a GRO train of datagrams of one flow, split natively), into a slab
 * reused for every batch. dgram keeps the socket (bind, handshake sends, close) but stops
 * reading it; the poller reads a dup of its fd.
 *
 * Linux, IPv4 and the addon only; `create` returns null otherwise, or when turned off
 * (SSLGATE_UDP_RX_BATCH=0, or config `dtls: { batch-receive: false }`): then dgram's 'message'
 * path is used. SSLGATE_UDP_GRO=0 keeps batching but without UDP_GRO (4 KiB slots: a larger
 * datagram is dropped and counted; DTLS records are MTU-sized).
 *
 * `pktinfo` (the gateway's socket bound to 0.0.0.0): IP_PKTINFO on, and each datagram's
 * destination address (the local address the peer sent to: a VIP, a secondary address) comes
 * with the batch (`locals`), so the reply can leave from it (udp-batch.ts). dgram's 'message'
 * path cannot tell (Node does not expose IP_PKTINFO): there the kernel picks the source.
 */
import { envFlagOn } from './env-flag.js';
import type { Socket } from 'node:dgram';
import { nativeDtlsAddon } from './dtls-record-addon.js';
import { udpSocketFd } from './udp-batch.js';

/**
 * Datagram i = slab[offs[i], offs[i] + lens[i]) from addrs[i] (IPv4, host order):ports[i], sent to
 * locals[i] (host order, 0 = not known; `locals` null without `pktinfo`). Valid during the call only.
 */
export type UdpBatchHandler = (
  slab: Buffer, offs: Uint32Array, lens: Uint32Array, addrs: Uint32Array, ports: Uint32Array, count: number, locals: Uint32Array | null,
) => void;

interface UdpPollerNative {
  readonly gro: boolean;
  /** IP_PKTINFO on (undefined: an addon built before it) */
  readonly pktinfo?: boolean;
  start(): void;
  stop(): void;
  close(): void;
}

/** The part of the addon this file uses (native/udp_rx.c). */
export interface UdpRxAddon {
  UdpPoller: new (
    fd: number, slab: Buffer, slot: number, nmsgs: number, offs: Uint32Array, lens: Uint32Array, addrs: Uint32Array,
    ports: Uint32Array, stats: Float64Array, gro: boolean, cb: (count: number) => void, locals?: Uint32Array | null,
  ) => UdpPollerNative;
  setSocketBuffers(fd: number, bytes: number): [rcvbuf: number, sndbuf: number];
  rxLayout(
    lens: Uint32Array, segs: Int32Array, flags: Uint32Array, n: number, slot: number, offs: Uint32Array, outLens: Uint32Array, room: number,
  ): [datagrams: number, dropped: number];
  groSegment(control: Buffer, flags: number): number;
  rxMaxSegments: number;
}

/** The addon's receive functions, or null (no addon, an addon without them, SSLGATE_DTLS_NATIVE=0). */
export function udpRxAddon(): UdpRxAddon | null {
  const a = nativeDtlsAddon() as unknown as Partial<UdpRxAddon> | null;
  return a && typeof a.UdpPoller === 'function' && typeof a.setSocketBuffers === 'function' ? (a as UdpRxAddon) : null;
}

/**
 * Socket buffers of `bytes` for a bound dgram socket, past net.core.rmem_max/wmem_max when the
 * process may (CAP_NET_ADMIN: the network process binds as root, before it drops privileges).
 * Returns what the kernel granted (it reports twice the request), or null without the addon.
 */
export function enlargeSocketBuffers(socket: Socket, bytes: number): { rcvbuf: number; sndbuf: number } | null {
  const a = udpRxAddon();
  const fd = udpSocketFd(socket);
  if (!a || fd < 0) return null;
  const [rcvbuf, sndbuf] = a.setSocketBuffers(fd, bytes);
  return { rcvbuf, sndbuf };
}

/** Whether batched receive is allowed by the environment (tests, A/B): SSLGATE_UDP_RX_BATCH=0 turns it off. */
export function batchReceiveAllowed(): boolean {
  return envFlagOn('SSLGATE_UDP_RX_BATCH');
}

export interface UdpBatchReceiverCounters {
  /** datagrams delivered */
  datagrams: number;
  /** recvmmsg calls that returned data */
  reads: number;
  /** messages dropped: larger than a slot, unreadable control data, not IPv4 */
  dropped: number;
  /** messages that were GRO trains (more than one datagram) */
  groMessages: number;
}

interface UdpHandle {
  recvStop?: () => number;
  recvStart?: () => number;
}

/** Largest UDP payload: a GRO train is at most this long, so a slot this size never cuts one. */
const GRO_SLOT = 65535;
/** Without GRO a slot holds one datagram: the largest a DTLS record for a 1500-byte-class MTU needs, with room. */
const PLAIN_SLOT = 4096;

interface RxBuffers {
  slab: Buffer;
  offs: Uint32Array;
  lens: Uint32Array;
  addrs: Uint32Array;
  ports: Uint32Array;
  stats: Float64Array;
}

/**
 * Buffers of `shared` receivers, by shape: one DTLS peer's connected socket (workers > 1) must
 * not cost a 2 MiB slab. Sharing is safe on one thread: each batch is handled (and its slab
 * consumed, router.endClientBatch) inside the one callback that read it, before any other
 * poller of this loop reads again.
 */
const SHARED = new Map<string, RxBuffers>();

export class UdpBatchReceiver {
  /**
   * [datagrams, reads, dropped, groMessages], kept current by the addon (read without allocating);
   * with `shared`, the sum over every receiver sharing the buffers.
   */
  readonly stats: Float64Array;
  private readonly slab: Buffer;
  private readonly offs: Uint32Array;
  private readonly lens: Uint32Array;
  private readonly addrs: Uint32Array;
  private readonly ports: Uint32Array;
  /** destination addresses (IP_PKTINFO), or null */
  private readonly locals: Uint32Array | null;
  private onBatch: UdpBatchHandler | null = null;
  private onError: ((err: Error) => void) | null = null;
  private closed = false;

  /**
   * Takes over reading `socket` (bound, IPv4). Null when not possible: then nothing changed and
   * dgram's 'message' events keep coming. `gro: false` reads one datagram per message (slots of
   * 4 KiB instead of 64 KiB).
   */
  static create(socket: Socket, opts: { nmsgs?: number; gro?: boolean; shared?: boolean; pktinfo?: boolean } = {}): UdpBatchReceiver | null {
    const a = udpRxAddon();
    if (!a || process.platform !== 'linux' || !batchReceiveAllowed()) return null;
    let family: string;
    try {
      family = socket.address().family;
    } catch {
      return null; // not bound
    }
    const fd = udpSocketFd(socket);
    const handle = udpHandle(socket);
    if (fd < 0 || family !== 'IPv4' || typeof handle?.recvStop !== 'function') return null;
    const gro = opts.gro ?? envFlagOn('SSLGATE_UDP_GRO');
    let r: UdpBatchReceiver;
    try {
      r = new UdpBatchReceiver(a, fd, opts.nmsgs ?? (gro ? 32 : 64), gro, opts.shared ?? false, opts.pktinfo ?? false);
    } catch {
      return null; // dup or uv_poll_init failed (fd limit): dgram keeps reading
    }
    // From here on only the poller reads: libuv's own reader would see GRO trains unsplit.
    handle.recvStop();
    return r;
  }

  private readonly poller: UdpPollerNative;
  readonly slot: number;

  private constructor(a: UdpRxAddon, fd: number, readonly nmsgs: number, gro: boolean, shared: boolean, pktinfo: boolean) {
    this.slot = gro ? GRO_SLOT : PLAIN_SLOT;
    const room = nmsgs * a.rxMaxSegments;
    const key = `${this.slot}/${nmsgs}/${room}`;
    const bufs = (shared ? SHARED.get(key) : undefined) ?? {
      slab: Buffer.allocUnsafe(this.slot * nmsgs),
      offs: new Uint32Array(room),
      lens: new Uint32Array(room),
      addrs: new Uint32Array(room),
      ports: new Uint32Array(room),
      stats: new Float64Array(4),
    };
    if (shared) SHARED.set(key, bufs);
    this.slab = bufs.slab;
    this.offs = bufs.offs;
    this.lens = bufs.lens;
    this.addrs = bufs.addrs;
    this.ports = bufs.ports;
    this.stats = bufs.stats;
    // Never shared: only the one (unconnected) socket of a port asks for it.
    const locals = pktinfo ? new Uint32Array(room) : null;
    this.poller = new a.UdpPoller(fd, this.slab, this.slot, nmsgs, this.offs, this.lens, this.addrs, this.ports, this.stats, gro, this.dispatch, locals);
    this.locals = this.poller.pktinfo === true ? locals : null;
  }

  /** Whether each batch names the datagrams' destination addresses (IP_PKTINFO is on). */
  get pktinfo(): boolean {
    return this.locals !== null;
  }

  /** Whether the kernel accepted UDP_GRO on the socket. */
  get gro(): boolean {
    return this.poller.gro;
  }

  get counters(): UdpBatchReceiverCounters {
    const s = this.stats;
    return { datagrams: s[0]!, reads: s[1]!, dropped: s[2]!, groMessages: s[3]! };
  }

  /** Starts reading: one onBatch call per recvmmsg. A hard read error stops reading and goes to onError. */
  start(onBatch: UdpBatchHandler, onError: (err: Error) => void): void {
    if (this.closed) throw new Error('UdpBatchReceiver is closed');
    this.onBatch = onBatch;
    this.onError = onError;
    this.poller.start();
  }

  /** Stops reading and closes the dup'd fd (the socket itself stays dgram's to close). Safe twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller.close();
  }

  private readonly dispatch = (count: number): void => {
    if (count > 0) {
      this.onBatch?.(this.slab, this.offs, this.lens, this.addrs, this.ports, count, this.locals);
      return;
    }
    this.onError?.(new Error(`DTLS socket read failed (errno ${-count})`));
  };
}

/**
 * Stops libuv reading `socket` (which bind() started), in the same turn: nothing is read. The
 * privileged process makes a DTLS peer's socket and hands it over without reading a byte.
 */
export function stopReading(socket: Socket): boolean {
  const h = udpHandle(socket);
  if (typeof h?.recvStop !== 'function') return false;
  h.recvStop();
  return true;
}

function udpHandle(socket: Socket): UdpHandle | undefined {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = sym ? (socket as unknown as Record<symbol, { handle?: UdpHandle | null } | undefined>)[sym] : undefined;
  return state?.handle ?? undefined;
}

/** "a.b.c.d" for a host-order IPv4 address (slow paths only: it allocates). */
export function ipv4FromInt(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}
