/**
 * The CSTP frames waiting for a TLS socket, in the shape the socket should write them: one frame,
 * or a run of full-size frames in one buffer (cstp-channel.ts writes each entry with one
 * socket.write). Pure: no socket, no timers; the channel pins the record size when `take` says so.
 *
 * Why runs are safe, and their rules (PROTOCOL.md §5.3: openconnect and ocserv drop or close on a
 * TLS record that is not exactly one frame). OpenSSL cuts a write into records of the record size
 * from the start, so a run of k frames of `runFrame` bytes written at once with max_send_fragment
 * set to `runFrame` still gives one frame per record, and a run may end with one shorter frame
 * (the remainder is exactly that frame).
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
import { CSTP_HEADER_LEN, CstpType, writeCstpHeader } from '../protocol/cstp.js';
import { runBufferPool, type RunBufferPool } from './run-buffer-pool.js';

/**
 * buf[off, off+len) as a plain Uint8Array, for TypedArray#set. Not buf.subarray: on a Buffer that
 * makes a Buffer through the species constructor, about twice the cost per packet (a node 20
 * micro-benchmark: 65 against 38 ns for a 1,400-byte copy, a bare copy being 30).
 */
function plainView(buf: Uint8Array, off: number, len: number): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset + off, len);
}

/** frames in one run at most (64 full-MTU frames ≈ 92 KB) */
export const MAX_RUN = 64;
const EMPTY = Buffer.alloc(0);

export class CstpSendQueue {
  /**
   * Entries, oldest at `head`: a single frame, or a run (several frames in one buffer, built in
   * place by appendData). `used` is each entry's length in bytes, `counts` its number of frames.
   */
  private readonly entries: Buffer[] = [];
  private readonly used: number[] = [];
  private readonly counts: number[] = [];
  private head = 0;
  /** frames queued (the sum of counts) */
  private count = 0;
  /** the last entry may still take full-size frames: a run (or its first frame) not taken yet */
  private runOpen = false;
  private isPinned = false;
  /** the run buffer take() handed out last, until written() gives it back to the pool */
  private outstanding: Buffer | null = null;

  /**
   * runFrame: the full frame size that may run (0: never run, one frame per entry). drops.txDrops
   * counts the frames take() drops because they no longer fit one record. Run buffers come from
   * `pool` and go back to it (run-buffer-pool.ts).
   */
  constructor(
    private readonly runFrame: number,
    private readonly drops: { txDrops: number },
    private readonly pool: RunBufferPool = runBufferPool,
  ) {}

  /** A run was taken: the record size must be runFrame from now on (see the file header). */
  get pinned(): boolean {
    return this.isPinned;
  }

  get frames(): number {
    return this.count;
  }

  /** Queues a prepared frame (control frames, and data frames that cannot join a run). */
  push(frame: Buffer): void {
    this.entries.push(frame);
    this.used.push(frame.length);
    this.counts.push(1);
    this.count++;
    // A full-size frame may start a run; anything else closes the one before it (order).
    this.runOpen = this.runFrame !== 0 && frame.length === this.runFrame;
  }

  /** Queues a DATA frame for buf[off, off+len): into the open run when it can join, else as a frame of its own. */
  pushData(buf: Uint8Array, off: number, len: number): void {
    if (this.runOpen && this.appendData(buf, off, len)) return;
    const frame = Buffer.allocUnsafe(CSTP_HEADER_LEN + len);
    writeCstpHeader(frame, 0, CstpType.Data, len);
    frame.set(plainView(buf, off, len), CSTP_HEADER_LEN);
    this.push(frame);
  }

  /**
   * Adds a data frame to the open run at the queue's end: a full-size frame while the run has
   * room, or one shorter frame, which ends it. The run's buffer is made when its second frame
   * comes, so a lone full-size packet costs no more than a frame of its own; after that no
   * per-packet buffer, one copy. False when the frame cannot join.
   */
  private appendData(buf: Uint8Array, off: number, len: number): boolean {
    const rf = this.runFrame;
    const size = CSTP_HEADER_LEN + len;
    if (size > rf) return false;
    const last = this.entries.length - 1;
    let run = this.entries[last]!;
    if (run.length < rf * MAX_RUN) {
      // Its only frame, a buffer of its own so far: the run's buffer starts with it.
      const grown = this.pool.take(rf * MAX_RUN);
      run.copy(grown, 0, 0, this.used[last]);
      this.entries[last] = run = grown;
    }
    const at = this.used[last]!;
    writeCstpHeader(run, at, CstpType.Data, len);
    run.set(plainView(buf, off, len), at + CSTP_HEADER_LEN);
    this.used[last] = at + size;
    const n = ++this.counts[last]!;
    this.count++;
    if (size < rf || n >= MAX_RUN) this.runOpen = false;
    return true;
  }

  /**
   * The next buffer to write (null: nothing left). When it is the first run, `pinned` turns true
   * and the caller must set max_send_fragment to runFrame before writing it. The caller writes one
   * buffer at a time and calls written() when that write completed (or failed).
   */
  take(): Buffer | null {
    const rf = this.runFrame;
    let i = this.head;
    while (this.isPinned && this.counts[i] === 1 && this.used[i]! > rf) {
      // Cannot be one record any more; the peer would drop the tunnel on the split.
      this.drops.txDrops++;
      this.release(i);
      if (++i === this.entries.length) {
        this.head = i;
        this.compact();
        return null;
      }
    }
    if (i === this.entries.length) return null;
    const buf = this.entries[i]!;
    const used = this.used[i]!;
    const n = this.counts[i]!;
    if (i === this.entries.length - 1) this.runOpen = false; // taken: no more appends
    this.release(i);
    this.head = i + 1;
    this.compact();
    if (n > 1) {
      this.isPinned = true;
      // A run's buffer is the pool's: back to it once written(). Only one write is out at a time;
      // a previous one never reported written is left to the GC, never reused.
      this.outstanding = buf;
    }
    return used === buf.length ? buf : buf.subarray(0, used);
  }

  /** The buffer take() returned was written (the socket is done with it). */
  written(): void {
    if (this.outstanding !== null) this.pool.give(this.outstanding);
    this.outstanding = null;
  }

  /**
   * Drops everything queued (a hard close). The runs not taken go back to the pool; one being
   * written goes back at written(), if the socket ever says so (else the GC takes it).
   */
  clear(): void {
    for (let i = this.head; i < this.entries.length; i++) if (this.counts[i]! > 1) this.pool.give(this.entries[i]!);
    this.entries.length = this.used.length = this.counts.length = 0;
    this.head = this.count = 0;
    this.runOpen = false;
  }

  private release(i: number): void {
    this.count -= this.counts[i]!;
    this.entries[i] = EMPTY;
  }

  private compact(): void {
    if (this.head === this.entries.length) {
      this.entries.length = this.used.length = this.counts.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.used.splice(0, this.head);
      this.counts.splice(0, this.head);
      this.head = 0;
    }
  }
}
