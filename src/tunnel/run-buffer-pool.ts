/**
 * Run buffers (cstp-send-queue.ts: up to 64 full-size CSTP frames in one socket write, ~92 KB)
 * reused instead of made per run. Pure: no I/O.
 *
 * Why: a buffer this size is never from Node's 8 KB slab; each is a fresh ArrayBuffer of
 * external memory, and V8 starts a major GC after enough external memory was allocated. `perf` on
 * a TLS download through the gateway (SSLGATE_BENCH_PERF, bench throughput --modes tls) showed
 * V8's concurrent marking and sweeping at about 20% of the network process's samples, and page
 * faults on the fresh buffers, while an upload (no runs) showed none.
 *
 * One pool per process, shared by every channel: a buffer comes back when its socket write
 * completed (cstp-channel.ts), and an idle session keeps none (memory per session stays small).
 * Bounded: beyond `maxFree` free buffers per size, a returned one is left to the GC.
 */
export class RunBufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private freeCount = 0;

  constructor(private readonly maxFree = 64) {}

  /** A buffer of exactly `size` bytes, its content undefined (a reused one or a new one). */
  take(size: number): Buffer {
    const list = this.free.get(size);
    const b = list?.pop();
    if (b !== undefined) {
      this.freeCount--;
      return b;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** `b` is no longer used by its taker (its write completed): it may be handed out again. */
  give(b: Buffer): void {
    if (this.freeCount >= this.maxFree) return;
    let list = this.free.get(b.length);
    if (list === undefined) {
      // Sizes come from tunnel MTUs: few per gateway; a new size beyond a handful replaces none.
      if (this.free.size >= MAX_SIZES) return;
      list = [];
      this.free.set(b.length, list);
    }
    list.push(b);
    this.freeCount++;
  }

  /** free buffers held (for tests and stats) */
  get held(): number {
    return this.freeCount;
  }
}

/** Distinct buffer sizes kept (one per tunnel MTU in use). */
const MAX_SIZES = 8;

/** The process's pool (every CSTP channel of this process). */
export const runBufferPool = new RunBufferPool();
