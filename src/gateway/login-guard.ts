/**
 * Counts failed logins per source address; after `maxFailures` within `window` seconds the
 * address is refused for `banTime` seconds (ocserv's ban-points idea, simplified). Also yields the
 * delay to apply before answering a failure, which slows password guessing down.
 */
export interface LoginGuardOptions {
  maxFailures: number;
  /** seconds */
  window: number;
  /** seconds */
  banTime: number;
}

interface Entry {
  failures: number[];
  bannedUntil: number;
}

export class LoginGuard {
  private readonly byAddr = new Map<string, Entry>();

  constructor(private readonly opts: LoginGuardOptions, private readonly now: () => number = Date.now) {}

  /** ms left on a ban, or 0 */
  bannedFor(addr: string): number {
    const e = this.byAddr.get(addr);
    if (!e) return 0;
    const left = e.bannedUntil - this.now();
    return left > 0 ? left : 0;
  }

  /** Records a failure; returns the delay (ms) to wait before answering. */
  fail(addr: string): number {
    const now = this.now();
    const e = this.byAddr.get(addr) ?? { failures: [], bannedUntil: 0 };
    e.failures = e.failures.filter((t) => now - t < this.opts.window * 1000);
    e.failures.push(now);
    if (e.failures.length >= this.opts.maxFailures) {
      e.bannedUntil = now + this.opts.banTime * 1000;
      e.failures = [];
    }
    this.byAddr.set(addr, e);
    // 250 ms per recent failure, capped at 2 s: harmless to a person, costly to a guesser.
    return Math.min(2000, 250 * e.failures.length);
  }

  succeed(addr: string): void {
    const e = this.byAddr.get(addr);
    if (e && e.bannedUntil <= this.now()) this.byAddr.delete(addr);
  }

  /** Drops stale entries (call from a slow timer). */
  sweep(): void {
    const now = this.now();
    for (const [addr, e] of this.byAddr) {
      if (e.bannedUntil <= now && e.failures.every((t) => now - t >= this.opts.window * 1000)) this.byAddr.delete(addr);
    }
  }

  bans(): Array<{ addr: string; until: number }> {
    const now = this.now();
    return [...this.byAddr].filter(([, e]) => e.bannedUntil > now).map(([addr, e]) => ({ addr, until: e.bannedUntil }));
  }
}
