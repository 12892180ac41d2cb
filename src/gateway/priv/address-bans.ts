/**
 * workers > 1: the address bans, as the privileged process learns them, so that it refuses a
 * banned address at accept, before its connection rate is counted (conn-admission.ts), as one
 * network process does (gatekeeper.ts: banned first, then the rate). The bans themselves are
 * decided by worker 0 (ban-guard.ts) or come from the store: this process sees each one go by
 * (a worker's state-ban/state-unban, the cluster's broadcasts) and reads the stored ones at
 * start. The workers still check bans too; this only saves handing a banned address's
 * connections over, and keeps its rate tokens and refusal reason as with one worker.
 *
 * Bounded like the ban guard's map: expired bans are dropped when seen and on sweep(); when the
 * map is full of live bans a new one is not kept here (the workers still enforce it).
 */
import { addressKey } from '../address-key.js';
import type { BanRecord } from '../state/types.js';

/** As many as the ban guard keeps per map (ban-guard.ts MAX_ENTRIES). */
const MAX_BANS = 100_000;

export class AddressBans {
  private readonly until = new Map<string, number>();

  constructor(private readonly max = MAX_BANS, private readonly now: () => number = Date.now) {}

  /** A ban made or restored (user-name locks are not this process's business). */
  add(b: BanRecord): void {
    if (b.kind !== 'address' || b.until <= this.now()) return;
    const key = addressKey(b.key);
    const had = this.until.get(key);
    if (had === undefined && this.until.size >= this.max) {
      this.sweep();
      if (this.until.size >= this.max) return;
    }
    this.until.set(key, Math.max(had ?? 0, b.until));
  }

  /** `ctl unban` (on any worker or node). */
  remove(kind: BanRecord['kind'], key: string): void {
    if (kind === 'address') this.until.delete(addressKey(key));
  }

  banned(addr: string): boolean {
    const key = addressKey(addr);
    const u = this.until.get(key);
    if (u === undefined) return false;
    if (u > this.now()) return true;
    this.until.delete(key);
    return false;
  }

  sweep(): void {
    const now = this.now();
    for (const [k, u] of this.until) if (u <= now) this.until.delete(k);
  }

  get size(): number {
    return this.until.size;
  }
}
