/**
 * The CSTP channel: IP packets framed in TLS (PROTOCOL.md §5), shared by gateway and client.
 *
 * Pipeline, outbound: 1. packet from the TUN  2. behind an 8-byte header into the send queue
 * (cstp-send-queue.ts: a frame of its own, or appended to a run)  3. at the end of the callback,
 * one socket.write per queue entry, the next only after the previous completed.
 * Step 3 is the point of this file: openconnect and ocserv both drop or close on a TLS record that
 * is not exactly one frame (§5.3, quirk 16), and Node's TLS socket merges buffered writes into one
 * SSL_write. So the channel never lets the socket buffer: each write is one queue entry, one frame
 * or a run that OpenSSL cuts into exactly one frame per record once the record size is pinned.
 * Measured with openconnect on a bulk download: half the gateway CPU per byte of one-frame
 * writes, 1.4x the throughput.
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
} from '../protocol/cstp.js';
import { CstpSendQueue } from './cstp-send-queue.js';
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
  /** socket writes: below txPackets when frames went out in runs (cstp-send-queue.ts) */
  txWrites: number;
}

export class CstpChannel {
  readonly counters: ChannelCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDrops: 0, rxControl: 0, txWrites: 0 };
  private readonly decoder: CstpDecoder;
  /** frames waiting for the socket, runs built in place (cstp-send-queue.ts) */
  private readonly queue: CstpSendQueue;
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

  constructor(private readonly socket: Duplex, private readonly opts: CstpChannelOptions) {
    this.queueLimit = opts.queueLimit ?? 512;
    this.tls = socket instanceof TLSSocket ? socket : null;
    const rf = opts.runFrame ?? 0;
    this.runFrame = this.tls && rf >= MIN_FRAGMENT && rf <= MAX_FRAGMENT ? rf : 0;
    this.queue = new CstpSendQueue(this.runFrame, this.counters);
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
    return this.queue.frames;
  }

  /** Sends one IP packet (a view into any buffer; copied). Returns false if dropped. */
  sendPacket(buf: Uint8Array, off: number, len: number): boolean {
    if (this.closed || this.queued >= this.queueLimit) {
      this.counters.txDrops++;
      return false;
    }
    this.counters.txPackets++;
    this.counters.txBytes += len;
    this.queue.pushData(buf, off, len);
    this.scheduleFlush();
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
    while (!this.writing && this.queue.frames > 0) {
      const wasPinned = this.queue.pinned;
      const out = this.queue.take();
      if (!out) break;
      // The first run: the record size is the run's frame size from now on (cstp-send-queue.ts).
      if (!wasPinned && this.queue.pinned) this.tls!.setMaxSendFragment(this.runFrame);
      this.writing = true;
      this.counters.txWrites++;
      this.socket.write(out, this.onWritten);
    }
    this.inFlush = false;
    if (this.closed && !this.writing && this.queued === 0) this.socket.end();
  }

  private readonly onWritten = (err?: Error | null): void => {
    this.writing = false;
    this.queue.written();
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
        // pinned record size (cstp-send-queue.ts): an oversized echo would otherwise be dropped.
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
      this.queue.clear();
      this.socket.destroy();
    }
    if (this.closed) return;
    this.closed = true;
    if (!hard && !this.writing && this.queued === 0) this.socket.end();
    // Let the peer's final frames (already queued) go out before the socket ends: flush() ends it.
    this.opts.onClose(reason);
  }
}

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
