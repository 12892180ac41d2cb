/**
 * Password checks in the privileged process, bounded: a few at once (scrypt costs CPU and
 * 16 MiB each), a bounded queue behind them, and "no" at once beyond it. A flood of logins (or
 * a compromised network process) then costs bounded memory and CPU here.
 */
import { AUTH_CONCURRENCY, AUTH_QUEUE } from './limits.js';

export class AuthQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly concurrency = AUTH_CONCURRENCY, private readonly maxWaiting = AUTH_QUEUE) {}

  /** Runs `job` when a slot is free; false (and `job` never runs) when the queue is full. */
  run(job: () => Promise<void>): boolean {
    if (this.running >= this.concurrency && this.waiting.length >= this.maxWaiting) return false;
    const go = (): void => {
      this.running++;
      job()
        .catch(() => undefined) // a job answers its own errors; the slot must come back regardless
        .finally(() => {
          this.running--;
          this.waiting.shift()?.();
        });
    };
    if (this.running < this.concurrency) go();
    else this.waiting.push(go);
    return true;
  }

  get size(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
