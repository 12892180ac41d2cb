/**
 * When to try reconnecting again (PROTOCOL.md §8.5). openconnect waits 10 s, then 10 s more
 * each time, up to 100 s (`ssl.c` ssl_reconnect); we start at once (most drops are a closed
 * connection to a gateway that is still there) and double from 1 s up to 30 s, so a restored
 * link is noticed within seconds. Nothing is tried once --reconnect-timeout has passed.
 *
 * Pure: the caller passes the clock.
 */
export const FIRST_RETRY_MS = 1000;
export const MAX_RETRY_MS = 30_000;

export class Backoff {
  private delay = 0;
  private readonly deadline: number;

  constructor(readonly startMs: number, timeoutS: number) {
    this.deadline = startMs + timeoutS * 1000;
  }

  /** Milliseconds to wait before the next attempt, or null when it would start past the deadline. */
  next(nowMs: number): number | null {
    const d = this.delay;
    this.delay = d === 0 ? FIRST_RETRY_MS : Math.min(d * 2, MAX_RETRY_MS);
    return nowMs + d > this.deadline ? null : d;
  }
}
