/**
 * 64-entry sliding anti-replay window for one epoch (RFC 6347 §4.1.2.6,
 * PROTOCOL.md §6.4 "Replay protection").
 *
 * `check()` is called before the (expensive) MAC/tag verification and
 * `mark()` only after it succeeded, so a forged record cannot advance the
 * window (RFC 6347 §4.1.2.6: "the receive window is updated only if the MAC
 * verification succeeds").
 *
 * Representation: a 64-slot bitmap indexed by seq mod 64 plus the highest
 * sequence number seen. Sequence numbers are 48-bit, exact in a JS number.
 */
const REPLAY_WINDOW_SIZE = 64;

export class ReplayWindow {
  private max = -1;
  private readonly seen = new Uint8Array(REPLAY_WINDOW_SIZE);

  /** Highest sequence number accepted so far (-1 if none). */
  get highest(): number {
    return this.max;
  }

  /** 'ok', 'replay' (already seen) or 'old' (left of the window). */
  check(seq: number): 'ok' | 'replay' | 'old' {
    if (seq > this.max) return 'ok';
    if (this.max - seq >= REPLAY_WINDOW_SIZE) return 'old';
    return this.seen[seq % REPLAY_WINDOW_SIZE] === 1 ? 'replay' : 'ok';
  }

  mark(seq: number): void {
    if (seq > this.max) {
      const advance = seq - this.max;
      if (advance >= REPLAY_WINDOW_SIZE) {
        this.seen.fill(0);
      } else {
        // Clear the slots that now represent sequence numbers (max, seq].
        for (let s = this.max + 1; s <= seq; s++) this.seen[s % REPLAY_WINDOW_SIZE] = 0;
      }
      this.max = seq;
    } else if (this.max - seq >= REPLAY_WINDOW_SIZE) {
      return;
    }
    this.seen[seq % REPLAY_WINDOW_SIZE] = 1;
  }

  reset(): void {
    this.max = -1;
    this.seen.fill(0);
  }
}
