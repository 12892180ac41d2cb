/**
 * The DTLS data path's record protection and datagram output, native when the `sslgate_dtls`
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
 * Batched sends (gateway): `UdpBatchSender` collects sealed datagrams in one slab and hands them
 * to sendmmsg(2) once per burst (a microtask after the TUN batch that produced them), instead of
 * one `dgram.send` per packet (~5 us each plus a nextTick for its address lookup, §5). It writes
 * on the dgram socket's own fd: reads stay on dgram, and Node has no public API for the fd of a
 * UDP socket, so it is taken from the socket's internal handle (see `udpSocketFd`). Linux and
 * IPv4 only; anything else keeps using `dgram.send`.
 *
 * Set SSLGATE_DTLS_NATIVE=0 to force the TypeScript implementation (A/B measurements, tests).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:dgram';
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

interface DtlsAddon {
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

function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'sslgate') return dir;
    } catch {
      // keep walking up
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** The addon, or null (not built, not Linux, or SSLGATE_DTLS_NATIVE=0): then TS is used. */
export function nativeDtlsAddon(): DtlsAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env['SSLGATE_DTLS_NATIVE'] === '0') {
    addonError = 'disabled by SSLGATE_DTLS_NATIVE=0';
    return addon;
  }
  const root = packageRoot();
  if (!root) {
    addonError = 'sslgate package root not found';
    return addon;
  }
  const path = join(root, 'build', 'Release', 'sslgate_dtls.node');
  try {
    addon = createRequire(import.meta.url)(path) as DtlsAddon;
  } catch (e) {
    addonError = `cannot load ${path}: ${(e as Error).message.split('\n')[0]}`;
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

// ---------------------------------------------------------------- batched UDP output

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

  static create(socket: Socket, opts: { slot?: number; batch?: number } = {}): UdpBatchSender | null {
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
    return new UdpBatchSender(a, socket, state, handle, fd, opts.slot ?? 2304, opts.batch ?? 64);
  }

  private constructor(
    private readonly addon: DtlsAddon,
    private readonly socket: Socket,
    private readonly state: UdpHandleState,
    private readonly handle: object,
    private readonly fd: number,
    readonly slot: number,
    readonly batch: number,
  ) {
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

  /** A sink bound to one peer (one per association). */
  sinkFor(address: string, port: number): DatagramSink | null {
    const addr = ipv4ToInt(address);
    if (addr < 0) return null;
    return new PeerSink(this, addr, port);
  }

  /** @internal PeerSink.reserve */
  reserve(length: number, addr: number, port: number): number {
    if (length > this.slot || this.closed) return -1;
    if (this.count === this.batch) this.flush();
    this.pendingAddr = addr;
    this.pendingPort = port;
    return this.count * this.slot;
  }

  /** @internal PeerSink.commit */
  commit(length: number): void {
    const i = this.count++;
    this.lens[i] = length;
    this.addrs[i] = this.pendingAddr;
    this.ports[i] = this.pendingPort;
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
      done = this.addon.sendBatch(this.fd, this.slab, this.offsets, this.lens, this.addrs, this.ports, n, this.flags);
    } catch {
      done = 0;
    }
    // Socket buffer full: let libuv queue the rest (it waits for POLLOUT). Rare; allocation is fine.
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
  ) {
    this.slab = sender.slab;
  }

  reserve(length: number): number {
    return this.sender.reserve(length, this.addr, this.port);
  }

  commit(length: number): void {
    this.sender.commit(length);
  }
}
