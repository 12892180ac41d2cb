/**
 * Linux TUN device for the data plane, backed by the native addon in native/tun.c.
 *
 * Reads arrive in batches: the addon fills a preallocated slab (one fixed-size slot per packet,
 * starting `headroom` bytes into the slot) and makes one JS call per batch. The headroom is
 * reserved for sealing CSTP/DTLS records in place; no caller writes there yet (the CSTP channel
 * and the DTLS sealers build each record in their own buffer), so today it is only an offset. Writes are synchronous, one packet per write(2); a packet the
 * kernel refuses is dropped, never queued, like a full NIC ring.
 *
 * Offloads (the gateway's TUN, createTunInterface(..., offload=true); the client's, openTun({ offload })): the kernel then hands
 * over TCP/UDP super-packets of up to 64 KB, which the addon cuts into MTU-sized packets in the
 * slab (native/gso.c), and takes a 10-byte virtio header before each written packet, which the
 * addon prepends with an iovec. Callers see the same packets either way.
 */
import { envFlagOn } from './env-flag.js';
import { closeSync } from 'node:fs';
import { loadAddon, type AddonLoadError } from './native-addon.js';

/** A kernel interface name: at most 15 bytes; may hold one `%d` for the kernel to number. */
export type InterfaceName = string;

export class TunError extends Error {
  /** e.g. 'EBUSY', 'EPERM', 'EBADFD'; 'ERR_TUN_ADDON' when the addon is missing. */
  readonly code: string;
  /** Negative errno when the failure came from the kernel. */
  readonly errno: number | undefined;
  constructor(message: string, code: string, errno?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TunError';
    this.code = code;
    this.errno = errno;
  }
}

export type TunBatchHandler = (slab: Buffer, lens: Uint32Array, count: number) => void;

export interface TunDevice {
  readonly name: InterfaceName;
  readonly fd: number;
  /** Bytes per slot in the read slab. */
  readonly slot: number;
  /** Bytes before each packet in its slot (reserved for in-place headers; unused so far). */
  readonly headroom: number;
  /** Packets dropped on read because they did not fit in slot - headroom bytes. */
  readonly truncated: number;
  /** Offload counters (all 0 without offloads). */
  readonly offloadCounters: TunOffloadCounters;
  /** Whether reads and writes carry a virtio header (the fd was opened with offloads). */
  readonly vnetHdr: boolean;
  /** writeBatch merges runs of one TCP upload (write-side GRO): worth batching writes for */
  readonly gro: boolean;
  /**
   * With vnetHdr: no packet cut from a super-packet is longer than `mtu` from now on (a
   * super-packet being cut keeps its size); call it when the interface's MTU changes. No effect
   * on a plain TUN.
   */
  setMtu(mtu: number): void;
  /**
   * Starts reading. onBatch(slab, lens, count): packet i is
   * slab.subarray(i*slot+headroom, i*slot+headroom+lens[i]); valid only during the call.
   * The bytes after a packet, up to the end of its slot, are free too (room for a MAC/tag).
   * A read error that ends the device (e.g. the interface was deleted) stops reading and goes
   * to onError; without onError it is thrown as an uncaught exception.
   * Calling start() again only replaces the handlers.
   */
  start(onBatch: TunBatchHandler, onError?: (err: TunError) => void): void;
  stop(): void;
  /**
   * Writes one IP packet (view into any buffer; or buf[offset, offset+length) without making a
   * view). Returns false if the kernel refused it (dropped).
   */
  write(packet: Buffer, offset?: number, length?: number): boolean;
  /**
   * Packet i = slab[offsets[i], offsets[i]+lens[i]), in order: one write(2) each, except that with
   * offloads on (vnetHdr) runs of one TCP upload go as one merged write (write-side GRO,
   * native/gro.h; the packets' headers in the slab are rewritten). Returns how many the kernel took.
   */
  writeBatch(slab: Buffer, offsets: Uint32Array, lens: Uint32Array, count: number): number;
  /** Stops reading and closes the fd (the kernel then deletes the interface). Safe to call twice.
   *  A device that is dropped without close() keeps its fd and interface until the process exits. */
  close(): void;
}

export interface TunOffloadCounters {
  /** Reads dropped because their virtio header or super-packet did not parse. */
  malformed: number;
  /** Super-packets read, and the packets cut from them. */
  superPackets: number;
  segments: number;
  /** Write-side GRO: merged writes, and the client packets they carried (process-wide). */
  groWrites: number;
  groSegments: number;
}

export interface OpenTunOptions {
  /** Exact name, or a pattern like 'sgw%d'; empty lets the kernel choose ('tunN'). */
  name?: InterfaceName;
  headroom?: number;
  slot?: number;
  /** Most packets per read batch (one JS call each). */
  batch?: number;
  /** IFF_MULTI_QUEUE: open the same name again to get another queue (one per worker thread). */
  multiQueue?: boolean;
  /**
   * adoptTun only: the fd was opened with offloads (createTunInterface(..., true) returned a
   * non-zero `offload`), so every read and write carries a virtio header.
   */
  vnetHdr?: boolean;
  /** With vnetHdr: the TUN's MTU; no packet cut from a super-packet is longer. */
  mtu?: number;
  /**
   * openTun only: try IFF_VNET_HDR + TUNSETOFFLOAD (as createTunInterface's `offload`); the
   * device's `vnetHdr` says whether the kernel agreed.
   */
  offload?: boolean;
}

/**
 * Would hold a DTLS (13 B header + 16 B explicit IV) or CSTP (8 B) header, rounded to a cache
 * line, once records are sealed in place; nothing writes there today.
 */
export const DEFAULT_HEADROOM = 64;
/** Payload room per slot: covers a 1500-byte MTU with room after it for a CBC pad + MAC or GCM tag. */
export const DEFAULT_PACKET_ROOM = 2048;
export const DEFAULT_BATCH = 64;

// ---------------------------------------------------------------- addon

interface TunPollerNative {
  start(): void;
  stop(): void;
  close(): void;
  truncated(): number;
  counters(): [truncated: number, malformed: number, superPackets: number, segments: number];
  /** absent in an addon built before it (then the MTU given at construction stays) */
  setMtu?(mtu: number): void;
}
interface TunAddon {
  open(name: string, multiQueue: boolean, offload: boolean): { fd: number; name: string; offload: number };
  TunPoller: new (
    fd: number, slab: Buffer, slot: number, headroom: number, lens: Uint32Array, maxBatch: number,
    callback: (count: number) => void, vnetHdr: boolean, mtu: number,
  ) => TunPollerNative;
  write(fd: number, buf: Buffer, offset: number, length: number, vnetHdr: boolean): number;
  writeBatch(fd: number, slab: Buffer, offsets: Uint32Array, lens: Uint32Array, count: number, vnetHdr: boolean, gro: boolean): number;
  groCounters(): [writes: number, segments: number];
  gsoSplit(vh: Buffer, pkt: Buffer, mtu: number, out: Buffer, slot: number, lens: Uint32Array): number;
  groCoalesce(slab: Buffer, offsets: Uint32Array, lens: Uint32Array, count: number, out: Buffer, outLens: Uint32Array): number;
  errnoText(errno: number): [code: string, message: string];
  lockDown(): number;
  listenTcp(host: string, port: number, backlog: number): number;
  dupFd(fd: number): number;
}

let addon: TunAddon | undefined;

/** Loaded on first use, so modules that merely import this file work without the addon built. */
function tunAddon(): TunAddon {
  if (addon) return addon;
  try {
    addon = loadAddon<TunAddon>('sslgate_tun');
  } catch (e) {
    const { path, cause } = e as AddonLoadError;
    if (path === null) throw new TunError('cannot find the sslgate package root', 'ERR_TUN_ADDON');
    throw new TunError(`cannot load ${path} (run \`npm run install\` to build it)`, 'ERR_TUN_ADDON', undefined, { cause });
  }
  return addon;
}

/** The addon's kernel errors carry code/errno like Node's; give them our type. Others pass through. */
function asTunError(e: unknown): unknown {
  const err = e as { message?: unknown; code?: unknown; errno?: unknown } | null;
  if (!(e instanceof Error) || typeof err?.code !== 'string' || typeof err.errno !== 'number') return e;
  return new TunError(e.message, err.code, err.errno, { cause: e });
}

// ---------------------------------------------------------------- device

/** Write-side GRO unless SSLGATE_TUN_GRO=0 (or false/off/no) says no: the fallback, for tests. */
export function groWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return envFlagOn('SSLGATE_TUN_GRO', env);
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0 || v > 0xffffffff) throw new RangeError(`openTun: ${name} must be a positive integer`);
  return v;
}

class LinuxTun implements TunDevice {
  readonly slab: Buffer;
  readonly lens: Uint32Array;
  private poller: TunPollerNative | undefined;
  private onBatch: TunBatchHandler | undefined;
  private onError: ((err: TunError) => void) | undefined;
  private closed = false;
  /** write-side GRO in writeBatch: needs the virtio header; SSLGATE_TUN_GRO=0 turns it off */
  readonly gro: boolean;

  constructor(
    private readonly native: TunAddon,
    readonly name: InterfaceName,
    readonly fd: number,
    readonly slot: number,
    readonly headroom: number,
    readonly batch: number,
    readonly vnetHdr: boolean,
    private mtu: number,
  ) {
    // Buffer.alloc, not allocUnsafe: a slab this size is never pooled, and zeroing it once
    // means stale heap bytes can never leak into a headroom that a caller forgets to fill.
    this.slab = Buffer.alloc(slot * batch);
    this.lens = new Uint32Array(batch);
    this.gro = vnetHdr && groWanted();
  }

  get truncated(): number {
    return this.poller ? this.poller.truncated() : 0;
  }

  get offloadCounters(): TunOffloadCounters {
    const c = this.poller?.counters() ?? [0, 0, 0, 0];
    const g = this.gro ? this.native.groCounters() : [0, 0];
    return { malformed: c[1], superPackets: c[2], segments: c[3], groWrites: g[0], groSegments: g[1] };
  }

  start(onBatch: TunBatchHandler, onError?: (err: TunError) => void): void {
    if (this.closed) throw new TunError(`${this.name} is closed`, 'ERR_TUN_CLOSED');
    this.onBatch = onBatch;
    this.onError = onError;
    // One long-lived closure: the addon calls it once per batch with a small integer.
    this.poller ??= new this.native.TunPoller(this.fd, this.slab, this.slot, this.headroom, this.lens, this.batch,
      (count) => this.dispatch(count), this.vnetHdr, this.mtu);
    this.poller.start();
  }

  private dispatch(count: number): void {
    if (count > 0) {
      this.onBatch?.(this.slab, this.lens, count);
      return;
    }
    const [code, message] = this.native.errnoText(count);
    const err = new TunError(`read from ${this.name}: ${message}`, code, count);
    if (this.onError) this.onError(err);
    else throw err; // the addon rethrows it as an uncaught exception (gotcha G5)
  }

  stop(): void {
    this.poller?.stop();
  }

  setMtu(mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < 0 || mtu > 0xffff) throw new RangeError(`setMtu: ${mtu} is not an MTU`);
    if (this.closed) return;
    this.mtu = mtu;
    this.poller?.setMtu?.(mtu);
  }

  // After close() the fd number may already belong to another file: never write through it.
  write(packet: Buffer, offset = 0, length = packet.length - offset): boolean {
    return !this.closed && this.native.write(this.fd, packet, offset, length, this.vnetHdr) === length;
  }

  writeBatch(slab: Buffer, offsets: Uint32Array, lens: Uint32Array, count: number): number {
    return this.closed ? 0 : this.native.writeBatch(this.fd, slab, offsets, lens, count, this.vnetHdr, this.gro);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The poller must leave epoll before the fd number can be reused, hence this order.
    this.poller?.close();
    closeSync(this.fd);
  }
}

function slabShape(opts: OpenTunOptions): { headroom: number; slot: number; batch: number } {
  const headroom = opts.headroom ?? DEFAULT_HEADROOM;
  if (!Number.isInteger(headroom) || headroom < 0) throw new RangeError('openTun: headroom must be a non-negative integer');
  const slot = positiveInt('slot', opts.slot ?? headroom + DEFAULT_PACKET_ROOM);
  const batch = positiveInt('batch', opts.batch ?? DEFAULT_BATCH);
  if (slot <= headroom) throw new RangeError('openTun: slot must be larger than headroom');
  return { headroom, slot, batch };
}

/**
 * Creates (or attaches to) a TUN interface and returns its fd, without reading from it: the
 * gateway's privileged process does this and hands the fd to the network process (priv/), which
 * adopts it with adoptTun(). Needs CAP_NET_ADMIN.
 * offload: try IFF_VNET_HDR + TUNSETOFFLOAD (checksum, TSO4/6, USO4/6 where the kernel has it);
 * the result's `offload` is the TUN_F_* bits enabled, 0 when the kernel refused and the fd is a
 * plain one (adopt it with vnetHdr = offload !== 0).
 */
export function createTunInterface(name: InterfaceName, multiQueue = false, offload = false): { fd: number; name: InterfaceName; offload: number } {
  if (Buffer.byteLength(name) > 15) throw new RangeError(`openTun: interface name ${JSON.stringify(name)} is longer than 15 bytes`);
  try {
    return tunAddon().open(name, multiQueue, offload);
  } catch (e) {
    throw asTunError(e);
  }
}

/** A TunDevice on an fd opened elsewhere (inherited from the privileged process). */
export function adoptTun(fd: number, name: InterfaceName, opts: OpenTunOptions = {}): TunDevice {
  const { headroom, slot, batch } = slabShape(opts);
  return new LinuxTun(tunAddon(), name, fd, slot, headroom, batch, opts.vnetHdr ?? false, opts.mtu ?? 0);
}

/**
 * The addon's super-packet splitter on its own (native/gso.c), for tests: vh is the 10-byte
 * virtio header, pkt the IP packet after it. Returns 0 for one ordinary packet (pkt completed in
 * place), n > 0 segments at out[i*slot, i*slot+lens[i]), or < 0 when it would be dropped.
 */
export function gsoSplit(vh: Buffer, pkt: Buffer, mtu: number, out: Buffer, slot: number, lens: Uint32Array): number {
  return tunAddon().gsoSplit(vh, pkt, mtu, out, slot, lens);
}

/** Bytes per output slot of groCoalesce: a virtio header and the largest IP packet (+1). */
export const GRO_OUT_SLOT = 10 + 65535 + 1;

/**
 * The write-side GRO planner and header rewrite on their own (native/gro.c), for tests: what
 * writeBatch with offloads would hand the kernel for these packets. Returns the number of writes;
 * write i (virtio header + packet) is at out[i*GRO_OUT_SLOT, +outLens[i]). Rewrites the slab's
 * packets as writeBatch does.
 */
export function groCoalesce(slab: Buffer, offsets: Uint32Array, lens: Uint32Array, count: number, out: Buffer, outLens: Uint32Array): number {
  return tunAddon().groCoalesce(slab, offsets, lens, count, out, outLens);
}

/**
 * no_new_privs and an empty capability bounding set for this process (native/tun.c lockDown);
 * run as root just before giving up root. Throws TunError on failure.
 */
export function lockDownProcess(): void {
  const native = tunAddon();
  const rc = native.lockDown();
  if (rc !== 0) {
    const [code, message] = native.errnoText(rc);
    throw new TunError(`prctl (no_new_privs / capability bounding set): ${message}`, code, rc);
  }
}

/**
 * A listening TCP socket nobody accepts on yet (native/listen.c): the privileged process binds
 * the TLS port with it and hands the descriptor to the network process, keeping its own copy so
 * `ctl restart` never closes the port. Throws an Error with `code` (EADDRINUSE ...) and `address`.
 */
export function listenTcpSocket(host: string, port: number, backlog = 511): number {
  const native = tunAddon();
  const rc = native.listenTcp(host, port, backlog);
  if (rc < 0) {
    const [code, message] = native.errnoText(rc);
    throw Object.assign(new Error(`cannot listen on ${host}:${port}: ${message}`), { code, address: host, port });
  }
  return rc;
}

/** A close-on-exec duplicate of `fd` (native/listen.c). Throws with the errno's code on failure. */
export function dupFd(fd: number): number {
  const native = tunAddon();
  const rc = native.dupFd(fd);
  if (rc < 0) {
    const [code, message] = native.errnoText(rc);
    throw Object.assign(new Error(`cannot duplicate descriptor ${fd}: ${message}`), { code });
  }
  return rc;
}

/** Opens (creates, if needed) a TUN interface. Needs CAP_NET_ADMIN. The interface starts down. */
export function openTun(opts: OpenTunOptions = {}): TunDevice {
  const native = tunAddon();
  const { headroom, slot, batch } = slabShape(opts);
  const name = opts.name ?? '';
  if (Buffer.byteLength(name) > 15) throw new RangeError(`openTun: interface name ${JSON.stringify(name)} is longer than 15 bytes`);
  let h: { fd: number; name: string; offload: number };
  try {
    h = native.open(name, opts.multiQueue ?? false, opts.offload ?? false);
  } catch (e) {
    throw asTunError(e);
  }
  try {
    return new LinuxTun(native, h.name, h.fd, slot, headroom, batch, h.offload !== 0, opts.mtu ?? 0);
  } catch (e) {
    closeSync(h.fd);
    throw e;
  }
}
