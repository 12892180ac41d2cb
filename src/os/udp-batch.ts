/**
 * Batched UDP output for the DTLS data path (gateway, and the client's connected socket).
 *
 * `UdpBatchSender` collects sealed datagrams in one slab and hands them to sendmmsg(2) once per
 * burst (a microtask after the TUN batch that produced them), instead of one `dgram.send` per
 * packet (~5 us each plus a nextTick for its address lookup, NODE-DATAPLANE.md §5). It writes
 * on the dgram socket's own fd: reads stay on dgram, and Node has no public API for the fd of a
 * UDP socket, so it is taken from the socket's internal handle (see `udpSocketFd`). Linux and
 * IPv4 only, and only with the `sslgate_dtls` addon (dtls-record-addon.ts); anything else keeps
 * using `dgram.send`.
 *
 * Channels write into it through a `DatagramSink` (one per peer, `sinkFor`).
 *
 * Source addresses (`create(socket, { pktinfo: true })`, the gateway's socket bound to 0.0.0.0):
 * each sink may name the local address its datagrams go out from (the address the peer sent to,
 * learnt by the receiver from IP_PKTINFO, udp-rx-batch.ts); sendmmsg attaches it as an
 * IP_PKTINFO control message (ip(7)). Without it the kernel picks the source by routing, and a
 * client that reached the gateway through a VIP or a secondary address (openconnect's UDP
 * socket is connect()ed to that address) drops the reply.
 */
import type { Socket } from 'node:dgram';
import { nativeDtlsAddon, type DtlsAddon } from './dtls-record-addon.js';

/** Where a channel writes its next datagram: a slot in a shared slab, sent later in a batch. */
export interface DatagramSink {
  /** The slab to write into; read it after reserve() (it never changes for one sink). */
  readonly slab: Buffer;
  /** Offset of a free slot of at least `length` bytes, or -1 (too big: send it yourself). */
  reserve(length: number): number;
  /** The datagram at the reserved offset is `length` bytes long: queue it. */
  commit(length: number): void;
}

interface UdpHandleState {
  handle?: { fd?: unknown } | null;
}

/** dgram's internal per-socket state ({ handle: UDPWrap | null, ... }), or undefined. */
function udpState(socket: Socket): UdpHandleState | undefined {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  return sym ? (socket as unknown as Record<symbol, UdpHandleState | undefined>)[sym] : undefined;
}

/**
 * The fd of a bound dgram socket, or -1. Node has no public accessor (and `socket._handle`
 * prints DEP0112), so this reads the UDPWrap handle from the socket's internal state symbol;
 * UDPWrap exposes `fd` on Unix. Used for sendmmsg only: libuv keeps reading the socket.
 */
export function udpSocketFd(socket: Socket): number {
  const fd = udpState(socket)?.handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

/**
 * A dgram socket made from a handle that is already connect()ed (a DTLS peer's socket, handed
 * over by the privileged process): tells dgram so, so that send() without an address works
 * (libuv refuses an address on a connected socket with EISCONN, and dgram refuses to send
 * without one unless it believes the socket connected). Sets dgram's internal connectState to
 * CONNECT_STATE_CONNECTED (2, lib/dgram.js) and checks the result with remoteAddress(). False
 * when that did not work (another Node version): the caller then closes the socket.
 */
export function markConnected(socket: Socket, address: string, port: number): boolean {
  const st = udpState(socket) as (UdpHandleState & { connectState?: number }) | undefined;
  if (!st || st.connectState !== 0) return false;
  st.connectState = 2;
  try {
    const r = socket.remoteAddress();
    if (r.address === address && r.port === port) return true;
  } catch {
    // not connected after all
  }
  st.connectState = 0;
  return false;
}

/** IPv4 dotted quad to a host-order integer, or -1. */
export function ipv4ToInt(addr: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (!m) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return -1;
    v = v * 256 + b;
  }
  return v;
}

const RESOLVED = Promise.resolve();

export interface UdpBatchSenderCounters {
  batches: number;
  datagrams: number;
  /** Left over by sendmmsg (EAGAIN: socket buffer full) and handed to dgram.send instead. */
  viaDgram: number;
}

/** sendBatch flags[0] bit: UDP GSO allowed (the addon clears it if the kernel refuses). */
const FLAG_GSO = 1;

/**
 * Collects datagrams for many IPv4 peers of one socket and sends them with sendmmsg(2), at the
 * latest in a microtask after the call that queued the first one (the TUN batch callback, or a
 * 'message' event), or when the slab is full. Create with `UdpBatchSender.create`, which returns
 * null when batching is not possible (no addon, no fd, IPv6 socket).
 *
 * Runs of equal-sized datagrams to one peer (a bulk TCP flow: full-size segments) go out as one
 * UDP GSO message each (UDP_SEGMENT): the kernel's send path runs once per run instead of once
 * per datagram, and the peer still receives ordinary datagrams. Turned off for good when the
 * kernel refuses it on this path, or with SSLGATE_UDP_GSO=0.
 */
export class UdpBatchSender {
  readonly counters: UdpBatchSenderCounters = { batches: 0, datagrams: 0, viaDgram: 0 };
  readonly slab: Buffer;
  private readonly offsets: Uint32Array;
  private readonly lens: Uint32Array;
  private readonly addrs: Uint32Array;
  private readonly ports: Uint32Array;
  private count = 0;
  private scheduled = false;
  private closed = false;
  private readonly flags = new Uint32Array(1);
  private pendingAddr = 0;
  private pendingPort = 0;
  private pendingSrc = 0;
  /** per slot: the source address (host order, 0 = routing picks); null without `pktinfo` */
  private readonly srcs: Uint32Array | null;

  /**
   * `pktinfo`: sinks may carry a source address (see the file header). Only for a socket bound to
   * a wildcard address: a socket bound to one address sends from it anyway.
   */
  static create(socket: Socket, opts: { slot?: number; batch?: number; pktinfo?: boolean } = {}): UdpBatchSender | null {
    const a = nativeDtlsAddon();
    if (!a || process.platform !== 'linux') return null;
    let family: string;
    try {
      family = socket.address().family;
    } catch {
      return null; // not bound
    }
    const state = udpState(socket);
    const handle = state?.handle;
    const fd = udpSocketFd(socket);
    if (!state || !handle || fd < 0 || family !== 'IPv4') return null;
    return new UdpBatchSender(a, socket, state, handle, fd, opts.slot ?? 2304, opts.batch ?? 64, opts.pktinfo ?? false);
  }

  private constructor(
    private readonly addon: DtlsAddon,
    private readonly socket: Socket,
    private readonly state: UdpHandleState,
    private readonly handle: object,
    private readonly fd: number,
    readonly slot: number,
    readonly batch: number,
    pktinfo: boolean,
  ) {
    this.srcs = pktinfo ? new Uint32Array(batch) : null;
    this.slab = Buffer.allocUnsafe(slot * batch);
    this.offsets = new Uint32Array(batch);
    this.lens = new Uint32Array(batch);
    this.addrs = new Uint32Array(batch);
    this.ports = new Uint32Array(batch);
    for (let i = 0; i < batch; i++) this.offsets[i] = i * slot;
    this.flags[0] = process.env['SSLGATE_UDP_GSO'] === '0' ? 0 : FLAG_GSO;
  }

  /** Whether UDP GSO is (still) in use. */
  get gso(): boolean {
    return (this.flags[0]! & FLAG_GSO) !== 0;
  }

  /** Sends what is queued and stops: the socket's fd may be closed (and reused) after this. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /** Whether sinks' source addresses are used (created with `pktinfo`). */
  get pktinfo(): boolean {
    return this.srcs !== null;
  }

  /**
   * A sink bound to one peer (one per association). `local` (host order; 0 = routing picks): the
   * source address of its datagrams, used when the sender was created with `pktinfo`.
   */
  sinkFor(address: string, port: number, local = 0): DatagramSink | null {
    const addr = ipv4ToInt(address);
    if (addr < 0) return null;
    return new PeerSink(this, addr, port, this.srcs !== null ? local >>> 0 : 0);
  }

  /**
   * Queues a copy of `datagram` for `sink` (a sink of this sender), in order with its data
   * records: for datagrams made outside the slab (handshake flights, DPD) that must carry the
   * sink's source address. False when it does not fit a slot or the sender is closed.
   */
  queueCopy(sink: DatagramSink, datagram: Uint8Array): boolean {
    const at = sink.reserve(datagram.length);
    if (at < 0) return false;
    this.slab.set(datagram, at);
    sink.commit(datagram.length);
    return true;
  }

  /** @internal PeerSink.reserve */
  reserve(length: number, addr: number, port: number, src: number): number {
    if (length > this.slot || this.closed) return -1;
    if (this.count === this.batch) this.flush();
    this.pendingAddr = addr;
    this.pendingPort = port;
    this.pendingSrc = src;
    return this.count * this.slot;
  }

  /** @internal PeerSink.commit */
  commit(length: number): void {
    const i = this.count++;
    this.lens[i] = length;
    this.addrs[i] = this.pendingAddr;
    this.ports[i] = this.pendingPort;
    if (this.srcs !== null) this.srcs[i] = this.pendingSrc;
    if (!this.scheduled) {
      this.scheduled = true;
      // A resolved promise's then() rather than queueMicrotask (which wraps every call in an
      // AsyncResource): this runs once per TUN batch, often once per packet for ACK streams.
      void RESOLVED.then(this.flushTask);
    }
  }

  private readonly flushTask = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Sends everything queued now. */
  flush(): void {
    const n = this.count;
    if (n === 0 || this.closed) return;
    this.count = 0;
    if (this.state.handle !== this.handle) {
      // The socket was closed (dgram drops its handle at once): its fd number may already
      // belong to another file. Never write to it again; the queued datagrams are lost.
      this.closed = true;
      return;
    }
    this.counters.batches++;
    this.counters.datagrams += n;
    let done: number;
    try {
      done =
        this.srcs === null
          ? this.addon.sendBatch(this.fd, this.slab, this.offsets, this.lens, this.addrs, this.ports, n, this.flags)
          : this.addon.sendBatch(this.fd, this.slab, this.offsets, this.lens, this.addrs, this.ports, n, this.flags, this.srcs);
    } catch {
      done = 0;
    }
    // Socket buffer full: let libuv queue the rest (it waits for POLLOUT). Rare; allocation is fine.
    // (dgram cannot set a source address: with pktinfo such a datagram leaves from the routing
    // choice and a VIP client drops it, like a datagram lost to the full buffer.)
    // A connected socket (the client's) refuses an explicit destination: send without one.
    let connected = false;
    if (done < n) {
      try {
        this.socket.remoteAddress();
        connected = true;
      } catch {
        connected = false;
      }
    }
    for (let i = done; i < n; i++) {
      const o = this.offsets[i]!;
      const a = this.addrs[i]!;
      const ip = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
      this.counters.viaDgram++;
      try {
        const dgram = Buffer.from(this.slab.subarray(o, o + this.lens[i]!));
        if (connected) this.socket.send(dgram);
        else this.socket.send(dgram, this.ports[i]!, ip);
      } catch {
        // socket closed meanwhile: the datagram is lost, as UDP allows
      }
    }
  }
}

class PeerSink implements DatagramSink {
  readonly slab: Buffer;
  constructor(
    private readonly sender: UdpBatchSender,
    private readonly addr: number,
    private readonly port: number,
    private readonly src: number,
  ) {
    this.slab = sender.slab;
  }

  reserve(length: number): number {
    return this.sender.reserve(length, this.addr, this.port, this.src);
  }

  commit(length: number): void {
    this.sender.commit(length);
  }
}
