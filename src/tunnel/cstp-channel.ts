/**
 * The CSTP channel: IP packets framed in TLS (PROTOCOL.md §5), shared by gateway and client.
 *
 * Pipeline, outbound: 1. packet from the TUN  2. copy behind an 8-byte header (one buffer)
 * 3. queue  4. one socket.write at a time, the next only after the previous completed.
 * Step 4 is the point of this file: openconnect and ocserv both drop or close on a TLS record that
 * is not exactly one frame (§5.3, quirk 16), and Node's TLS socket merges buffered writes into one
 * SSL_write. So the channel never lets the socket buffer: each write is either one frame, or a
 * run of full-size frames (ending with at most one shorter frame) with the record size set to the
 * full size once (takeWrite), which OpenSSL cuts into exactly one frame per record. Measured with openconnect on a bulk download: half the
 * gateway CPU per byte of one-frame writes, 1.4x the throughput.
 *
 * Inbound: the TLS plaintext stream goes through the incremental CstpDecoder; DATA payloads are
 * handed to `onPacket` as views (no copy); control frames are answered here.
 *
 * Liveness (DPD/keepalive, §8.1-8.2) is checked on a coarse timer from packet counters
 * (liveness.ts), so the per-packet path does no clock reads and arms no timers.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import {
  CSTP_DPD_REQ,
  CSTP_HEADER_LEN,
  CSTP_KEEPALIVE,
  CstpDecoder,
  CstpError,
  CstpType,
  encodeCstp,
  encodeDisconnect,
  writeCstpHeader,
} from '../protocol/cstp.js';
import { Liveness } from './liveness.js';
import { readIntoUserBuffer } from '../os/stream-user-buffer.js';

export type ChannelRole = 'client' | 'gateway';

export type ChannelCloseReason =
  | { kind: 'peer-disconnect'; reason: number; text: string }
  | { kind: 'peer-terminate' }
  | { kind: 'dpd-timeout' }
  | { kind: 'protocol-error'; error: CstpError | Error }
  | { kind: 'socket-closed'; error?: Error }
  | { kind: 'local'; text: string };

export interface CstpChannelOptions {
  role: ChannelRole;
  /** largest inbound payload accepted (MTU + slack) */
  maxPayload: number;
  /**
   * frames waiting for the socket before new packets are dropped (a NIC-like tail drop); control
   * frames may go CONTROL_SLACK past it, then the channel closes: a peer that sends DPD requests
   * and never reads the answers must not grow our memory
   */
  queueLimit?: number;
  /**
   * The frame size of a full-MTU packet (MTU + 8), the only size written in runs; the channel
   * never sends a larger frame once it has run. Absent: one frame per write, no record size games.
   */
  runFrame?: number;
  /** seconds; 0 = off */
  dpd: number;
  /** seconds; 0 = off. Sent when nothing was sent for this long. */
  keepalive: number;
  /** one inbound IP packet: buf[start..end), valid during the call only */
  onPacket: (buf: Buffer, start: number, end: number) => void;
  /** called once, after the socket is closed or being closed */
  onClose: (reason: ChannelCloseReason) => void;
}

export interface ChannelCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txDrops: number;
  rxControl: number;
  /** socket writes: below txPackets when frames went out in runs (takeWrite) */
  txWrites: number;
}

export class CstpChannel {
  readonly counters: ChannelCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDrops: 0, rxControl: 0, txWrites: 0 };
  private readonly decoder: CstpDecoder;
  /**
   * Entries waiting for the socket, oldest at queueHead: a single frame, or a run (several
   * frames in one buffer, built in place by appendToRun). `used` is each entry's length in
   * bytes, `counts` its number of frames.
   */
  private readonly queue: Buffer[] = [];
  private readonly used: number[] = [];
  private readonly counts: number[] = [];
  private queueHead = 0;
  /** frames in the queue (the sum of counts) */
  private framesQueued = 0;
  /** the last entry may still take full-size frames: a run (or its first frame) not handed to the socket yet */
  private runOpen = false;
  private writing = false;
  private inFlush = false;
  /** a flush is queued as a microtask (see enqueue) */
  private flushQueued = false;
  private closed = false;
  private readonly liveness: Liveness;
  private readonly queueLimit: number;
  /** the TLS socket, when it is one (a plain stream in unit tests): record size control */
  private readonly tls: TLSSocket | null;
  /** runFrame when runs are possible (a TLS socket and a size OpenSSL accepts), else 0 */
  private readonly runFrame: number;
  /**
   * Set once the first run was written: max_send_fragment is then runFrame for good, and no
   * frame larger than runFrame may be written any more (see takeWrite).
   */
  private pinned = false;

  constructor(private readonly socket: Duplex, private readonly opts: CstpChannelOptions) {
    this.queueLimit = opts.queueLimit ?? 512;
    this.tls = socket instanceof TLSSocket ? socket : null;
    const rf = opts.runFrame ?? 0;
    this.runFrame = this.tls && rf >= MIN_FRAGMENT && rf <= MAX_FRAGMENT ? rf : 0;
    this.decoder = new CstpDecoder(this.onFrame, opts.maxPayload);
    this.liveness = new Liveness(opts, this.counters, {
      sendProbe: () => this.sendFrame(CSTP_DPD_REQ),
      sendKeepalive: () => this.sendFrame(CSTP_KEEPALIVE),
      dead: () => this.closeWith({ kind: 'dpd-timeout' }, true),
    });
    socket.on('data', this.onData);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('end', this.onSocketEnd);
    this.liveness.start();
  }

  /** Feeds bytes that arrived before the channel took over the socket (after the HTTP head). */
  feed(chunk: Buffer): void {
    if (chunk.length) this.onData(chunk);
  }

  /**
   * From now on the socket is read into `buffer` (shared by every channel of the process: each
   * read is handled before the next) instead of a fresh Buffer per 'data' chunk
   * (os/stream-user-buffer.ts). Call after feed(). False when this Node does not allow it: the
   * channel keeps reading 'data' events.
   */
  readIntoSharedBuffer(buffer: Buffer): boolean {
    if (this.closed || !(this.socket instanceof Socket)) return false;
    if (!readIntoUserBuffer(this.socket, buffer, this.onUserBytes)) return false;
    this.socket.removeListener('data', this.onData);
    return true;
  }

  private readonly onUserBytes = (n: number, buf: Buffer): void => {
    if (this.closed) return;
    const err = this.decoder.push(buf, n);
    if (err) this.closeWith({ kind: 'protocol-error', error: err }, true);
  };

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Frames waiting to be written (for back-pressure decisions and stats). */
  get queued(): number {
    return this.framesQueued;
  }

  /** Sends one IP packet (a view into any buffer; copied). Returns false if dropped. */
  sendPacket(buf: Uint8Array, off: number, len: number): boolean {
    if (this.closed || this.queued >= this.queueLimit) {
      this.counters.txDrops++;
      return false;
    }
    this.counters.txPackets++;
    this.counters.txBytes += len;
    if (this.runOpen && this.appendToRun(buf, off, len)) return true;
    const frame = Buffer.allocUnsafe(CSTP_HEADER_LEN + len);
    writeCstpHeader(frame, 0, CstpType.Data, len);
    frame.set(buf.subarray(off, off + len), CSTP_HEADER_LEN);
    this.enqueue(frame);
    return true;
  }

  /**
   * Adds a data frame to the open run at the queue's end (see takeWrite for why runs are safe):
   * a full-size frame while the run has room, or one shorter frame, which ends it. The run's
   * buffer is made when its second frame comes, so a lone full-size packet costs no more than
   * before; after that no per-packet buffer, one copy. False when the frame cannot join.
   */
  private appendToRun(buf: Uint8Array, off: number, len: number): boolean {
    const rf = this.runFrame;
    const size = CSTP_HEADER_LEN + len;
    if (size > rf) return false;
    const last = this.queue.length - 1;
    let run = this.queue[last]!;
    if (run.length < rf * MAX_RUN) {
      // Its only frame, a buffer of its own so far: the run's buffer starts with it.
      const grown = Buffer.allocUnsafe(rf * MAX_RUN);
      run.copy(grown, 0, 0, this.used[last]);
      this.queue[last] = run = grown;
    }
    const at = this.used[last]!;
    writeCstpHeader(run, at, CstpType.Data, len);
    run.set(buf.subarray(off, off + len), at + CSTP_HEADER_LEN);
    this.used[last] = at + size;
    const n = ++this.counts[last]!;
    this.framesQueued++;
    if (size < rf || n >= MAX_RUN) this.runOpen = false;
    return true;
  }

  /**
   * Sends a prepared control frame (DPD, keepalive, disconnect...). Data is tail-dropped at the
   * queue limit; a control frame may not be dropped (a lost DPD answer looks like a dead peer),
   * so past the limit plus a little slack the peer is not reading and the channel closes.
   */
  sendFrame(frame: Buffer): void {
    if (this.closed) return;
    if (this.queued >= this.queueLimit + CONTROL_SLACK) {
      this.closeWith({ kind: 'protocol-error', error: new Error(`peer does not read: ${this.queued} frames wait for the socket (send queue limit ${this.queueLimit})`) }, true);
      return;
    }
    this.enqueue(frame);
  }

  /** Sends DISCONNECT (reason, text) and closes after it is written. */
  disconnect(reason: number, text: string): void {
    this.finish(encodeDisconnect(reason, text), { kind: 'local', text });
  }

  /** Sends a prepared final frame (e.g. TERMINATE) and closes after it is written. */
  finish(frame: Buffer | null, reason: ChannelCloseReason): void {
    if (this.closed) return;
    if (frame) this.enqueue(frame);
    this.closeWith(reason, false);
  }

  /** Closes at once without a goodbye frame. */
  destroy(reason: ChannelCloseReason): void {
    this.closeWith(reason, true);
  }

  /**
   * Frames are written at the end of the current callback (a microtask), not at once: the router
   * hands a whole TUN batch over packet by packet, and writing the first one alone would cost a
   * second write (and a second record-encryption call, syscall and completion) per batch. `perf`
   * on a TLS download showed the write-completion chain at about 68% of the network process.
   */
  private enqueue(frame: Buffer): void {
    this.queue.push(frame);
    this.used.push(frame.length);
    this.counts.push(1);
    this.framesQueued++;
    // A full-size frame may start a run; anything else closes the one before it (order).
    this.runOpen = this.runFrame !== 0 && frame.length === this.runFrame;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.writing && !this.flushQueued) {
      this.flushQueued = true;
      toFlush.push(this);
      // One microtask for every channel a batch touched (Node's queueMicrotask makes an
      // AsyncResource per call).
      if (toFlush.length === 1) queueMicrotask(flushAll);
    }
  }

  /** flushAll's per-channel step (not for other callers) */
  runQueuedFlush(): void {
    this.flushQueued = false;
    this.flush();
  }

  /** flushAll gave up before this channel (not for other callers) */
  unmarkQueuedFlush(): void {
    this.flushQueued = false;
  }

  private flush(): void {
    // A write callback may run synchronously; the flag keeps this a loop, not a recursion.
    if (this.inFlush) return;
    this.inFlush = true;
    while (!this.writing && this.framesQueued > 0) {
      const out = this.takeWrite();
      if (!out) break;
      this.writing = true;
      this.counters.txWrites++;
      this.socket.write(out, this.onWritten);
    }
    this.inFlush = false;
    if (this.closed && !this.writing && this.queued === 0) this.socket.end();
  }

  /**
   * The next buffer to hand to the socket (null: nothing left to write): one frame, or a run of
   * full-size frames, the last of which may be shorter (built by appendToRun). Node completes TLS
   * writes one event-loop turn later, so one frame per write caps a busy tunnel at one packet per
   * turn. OpenSSL cuts a large write into records of the
   * record size, so a run of k frames of runFrame bytes written at once with max_send_fragment set
   * to runFrame still gives one frame per record (§5.3).
   *
   * Only one size ever runs, and the record size is set once, never back: SSL_set_max_send_fragment
   * also lowers split_send_fragment to the new value but raising it again does not raise that, and
   * OpenSSL cuts every write into records of split_send_fragment bytes (ssl3_write_bytes in
   * OpenSSL 3.0; Node has no call for the split size). So after a run of size S every frame larger
   * than S would go out in two records, whatever max_send_fragment says: that is what openconnect
   * saw after a run of 1036-byte frames ("SSL_read returned 1036 but packet is 53 54 46 01 05 8f").
   * Hence runs only of the largest frame the tunnel carries, and once pinned, a frame larger than
   * that (a packet over the tunnel MTU) is dropped rather than split.
   */
  private takeWrite(): Buffer | null {
    const rf = this.runFrame;
    let i = this.queueHead;
    while (this.pinned && this.counts[i] === 1 && this.used[i]! > rf) {
      // Cannot be one record any more; the peer would drop the tunnel on the split.
      this.counters.txDrops++;
      this.release(i);
      if (++i === this.queue.length) {
        this.queueHead = i;
        this.compact();
        return null;
      }
    }
    const buf = this.queue[i]!;
    const used = this.used[i]!;
    const n = this.counts[i]!;
    if (i === this.queue.length - 1) this.runOpen = false; // handed to the socket: no more appends
    this.release(i);
    this.queueHead = i + 1;
    this.compact();
    if (n > 1 && !this.pinned) {
      this.tls!.setMaxSendFragment(rf);
      this.pinned = true;
    }
    return used === buf.length ? buf : buf.subarray(0, used);
  }

  private release(i: number): void {
    this.framesQueued -= this.counts[i]!;
    this.queue[i] = EMPTY;
  }

  private compact(): void {
    if (this.queueHead === this.queue.length) {
      this.queue.length = this.used.length = this.counts.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.used.splice(0, this.queueHead);
      this.counts.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  private readonly onWritten = (err?: Error | null): void => {
    this.writing = false;
    if (err) {
      this.closeWith({ kind: 'socket-closed', error: err }, true);
      return;
    }
    this.flush();
  };

  private readonly onData = (chunk: Buffer): void => {
    const err = this.decoder.push(chunk);
    if (err) this.closeWith({ kind: 'protocol-error', error: err }, true);
  };

  private readonly onFrame = (type: number, buf: Buffer, start: number, end: number): void => {
    if (this.closed) return; // the rest of a chunk after a close (e.g. the send queue overflowed)
    if (type === CstpType.Data) {
      this.counters.rxPackets++;
      this.counters.rxBytes += end - start;
      this.opts.onPacket(buf, start, end);
      return;
    }
    this.counters.rxControl++;
    switch (type) {
      case CstpType.DpdReq:
        // Echo the payload: the draft's convention and what ocserv does (§5.2). Cut to fit a
        // pinned record size (see takeWrite): an oversized echo would otherwise be dropped.
        this.sendFrame(encodeCstp(CstpType.DpdResp, buf.subarray(start, this.runFrame ? Math.min(end, start + this.runFrame - CSTP_HEADER_LEN) : end)));
        break;
      case CstpType.DpdResp:
      case CstpType.Keepalive:
        break; // liveness only: the rx counter moved
      case CstpType.Disconnect: {
        const reason = end > start ? buf[start]! : 0;
        const text = end > start + 1 ? buf.toString('latin1', start + 1, end) : '';
        this.closeWith({ kind: 'peer-disconnect', reason, text }, false);
        break;
      }
      case CstpType.Terminate:
        this.closeWith({ kind: 'peer-terminate' }, false);
        break;
      case CstpType.Compressed:
        // We never offer compression, so a compressed frame is a protocol violation (§7).
        this.closeWith({ kind: 'protocol-error', error: new Error('compressed CSTP frame, but no compression was negotiated') }, true);
        break;
      default:
        break; // unknown types are ignored, as ocserv does (§5.2)
    }
  };

  private readonly onSocketError = (err: Error): void => {
    this.closeWith({ kind: 'socket-closed', error: err }, true);
  };

  private readonly onSocketEnd = (): void => {
    this.closeWith({ kind: 'socket-closed' }, false);
  };

  private readonly onSocketClose = (): void => {
    this.closeWith({ kind: 'socket-closed' }, true);
  };

  private closeWith(reason: ChannelCloseReason, hard: boolean): void {
    this.liveness.stop();
    if (hard) {
      this.queue.length = this.used.length = this.counts.length = 0;
      this.queueHead = this.framesQueued = 0;
      this.runOpen = false;
      this.socket.destroy();
    }
    if (this.closed) return;
    this.closed = true;
    if (!hard && !this.writing && this.queued === 0) this.socket.end();
    // Let the peer's final frames (already queued) go out before the socket ends: flush() ends it.
    this.opts.onClose(reason);
  }
}

const EMPTY = Buffer.alloc(0);

/** channels with frames queued during the current callback (enqueue), written by flushAll */
const toFlush: CstpChannel[] = [];

function flushAll(): void {
  // A flush may queue frames on another channel (a write callback running synchronously), which
  // then joins this list: hence the index loop over a growing array.
  let i = 0;
  try {
    for (; i < toFlush.length; i++) toFlush[i]!.runQueuedFlush();
  } finally {
    // After a throw, the channels not reached yet are marked again so their next frame schedules
    // a flush; the list is never left non-empty (enqueue schedules only when it was empty).
    for (let j = i + 1; j < toFlush.length; j++) toFlush[j]!.unmarkQueuedFlush();
    toFlush.length = 0;
  }
}
/**
 * Control frames allowed past a full queue: a live peer has at most a DPD request or two in
 * flight while bulk data fills the queue; a flood needs thousands.
 */
const CONTROL_SLACK = 16;
/** OpenSSL's bounds for SSL_set_max_send_fragment */
const MIN_FRAGMENT = 512;
const MAX_FRAGMENT = 16384;
/** frames merged into one write at most (64 full-MTU frames ≈ 92 KB) */
const MAX_RUN = 64;
