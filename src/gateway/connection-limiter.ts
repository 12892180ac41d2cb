/**
 * Per-address rate limit of new TLS connections: a token bucket per source address (an IPv6 /64
 * counts as one, address-key.ts) (`rate`
 * connections per second, bursts of up to `burst`). Checked on accept, before the TLS handshake,
 * so a flood costs the gateway almost nothing. Offices behind one NAT address make many
 * connections at 9:00: the defaults are generous and the ban allow-list bypasses this too.
 */
import { addressKey } from './address-key.js';

export interface RateOptions {
  /** tokens per second; 0 = no limit */
  rate: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const MAX_BUCKETS = 100_000;

export class ConnectionLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private opts: RateOptions, private readonly now: () => number = Date.now) {}

  setOptions(o: RateOptions): void {
    this.opts = o;
  }

  /** Takes one token for `addr`; false when the address is over its rate. */
  take(addr: string): boolean {
    const { rate, burst } = this.opts;
    if (rate <= 0) return true;
    const key = addressKey(addr); // an IPv6 /64 is one address
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_BUCKETS) this.sweep();
      b = { tokens: burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forgets buckets that refilled completely (they hold no information). */
  sweep(): void {
    const { rate, burst } = this.opts;
    const now = this.now();
    for (const [k, b] of this.buckets) {
      if (rate <= 0 || b.tokens + ((now - b.at) * rate) / 1000 >= burst) this.buckets.delete(k);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
