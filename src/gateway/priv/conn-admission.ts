/**
 * workers > 1: the per-address connection limits of the whole gateway, counted once, in the
 * privileged process, which accepts every TLS connection and hands it to a worker (parent.ts).
 * Each worker counting the connections it was handed gave a client spread over N workers N times
 * its rate and N times its unauthenticated connections. Counted here, with the same rules a
 * single network process applies (gatekeeper.ts):
 *   - `limits.connection-rate` / `connection-burst`: the same token bucket per address
 *     (connection-limiter.ts);
 *   - `limits.max-unauth-connections` (all addresses) and `max-unauth-per-address` (an IPv6 /64
 *     is one address), the caps of unauth-connections.ts, checked in that order;
 *   - the ban allow-list lifts the rate and the per-address cap, not the total.
 * A handed connection counts as unauthenticated until its worker reports it `done`: it became a
 * tunnel or it closed (the worker keeps the auth deadline and closes it then, so the report
 * comes). Reports name the handed connection by the id given here; only the worker it was handed
 * to can release it. A worker that dies releases its connections (workerGone); a report lost
 * anyway (a bug) is released `deadline + LOST_REPORT_GRACE_MS` after the hand-over, so no entry
 * lives for ever. Pure but for the clock; parent.ts does the I/O.
 */
import { addressKey } from '../address-key.js';
import { ConnectionLimiter } from '../connection-limiter.js';

export interface AdmissionLimits {
  /** new connections per second per address (0 = no limit), and the burst */
  rate: number;
  burst: number;
  /** unauthenticated connections per address key / in total (0 = no cap) */
  maxPerAddress: number;
  maxTotal: number;
  /** limits.auth-timeout in ms: a worker closes an unauthenticated connection by then */
  deadlineMs: number;
}

export type AdmissionRefusal = 'rate-limit' | 'unauth-per-address' | 'unauth-total';
/** Why the privileged process closed a connection at accept: a ban (address-bans.ts), or a limit here. */
export type AcceptRefusal = 'banned' | AdmissionRefusal;

/** A worker gets this long past the auth deadline to report a connection before it is dropped here. */
export const LOST_REPORT_GRACE_MS = 60_000;
/** With `max-unauth-connections: 0` (no cap), the map still stops here (refused as unauth-total). */
export const MAX_TRACKED = 1_000_000;
/** Ids are small whole numbers (the channel checks them as such); they wrap after this. */
export const MAX_CONN_ID = 0x7fffffff;

interface Entry {
  key: string;
  worker: number;
  /** ms since the epoch after which the entry is dropped without a report */
  until: number;
}

export class ConnectionAdmission {
  private readonly limiter: ConnectionLimiter;
  private readonly open = new Map<number, Entry>();
  private readonly perKey = new Map<string, number>();
  private nextId = 1;
  /** entries dropped because no report came (LOST_REPORT_GRACE_MS) */
  lost = 0;

  constructor(
    private limits: AdmissionLimits,
    private readonly allowListed: (addr: string) => boolean,
    private readonly now: () => number = Date.now,
  ) {
    this.limiter = new ConnectionLimiter({ rate: limits.rate, burst: limits.burst }, now);
  }

  /** A reload: new limits apply to connections accepted from now on (counts are kept). */
  setLimits(l: AdmissionLimits): void {
    this.limits = l;
    this.limiter.setOptions({ rate: l.rate, burst: l.burst });
  }

  /** On accept, for the worker the connection goes to: its id, or why it is refused (the caller closes it). */
  admit(addr: string, worker: number): { id: number } | { why: AdmissionRefusal } {
    const allowed = this.allowListed(addr);
    if (!allowed && !this.limiter.take(addr)) return { why: 'rate-limit' };
    const { maxTotal, maxPerAddress, deadlineMs } = this.limits;
    if (this.open.size >= (maxTotal > 0 ? Math.min(maxTotal, MAX_TRACKED) : MAX_TRACKED)) return { why: 'unauth-total' };
    const key = addressKey(addr);
    const n = this.perKey.get(key) ?? 0;
    if (!allowed && maxPerAddress > 0 && n >= maxPerAddress) return { why: 'unauth-per-address' };
    let id = this.nextId;
    while (this.open.has(id)) id = id >= MAX_CONN_ID ? 1 : id + 1;
    this.nextId = id >= MAX_CONN_ID ? 1 : id + 1;
    this.open.set(id, { key, worker, until: this.now() + deadlineMs + LOST_REPORT_GRACE_MS });
    this.perKey.set(key, n + 1);
    return { id };
  }

  /** The worker's report: these connections became tunnels or closed. Ids of other workers are ignored. */
  done(ids: readonly number[], worker: number): void {
    for (const id of ids) {
      const e = this.open.get(id);
      if (e && e.worker === worker) this.release(id, e);
    }
  }

  /** A worker that exited holds no connection any more. */
  workerGone(worker: number): void {
    for (const [id, e] of this.open) if (e.worker === worker) this.release(id, e);
  }

  /** Drops refilled rate buckets and entries whose report never came; returns how many of those. */
  sweep(): number {
    this.limiter.sweep();
    const now = this.now();
    let n = 0;
    for (const [id, e] of this.open) {
      if (e.until > now) continue;
      this.release(id, e);
      n++;
    }
    this.lost += n;
    return n;
  }

  /** Unauthenticated connections now, in total or from `addr`'s key. */
  count(addr?: string): number {
    return addr === undefined ? this.open.size : this.perKey.get(addressKey(addr)) ?? 0;
  }

  private release(id: number, e: Entry): void {
    this.open.delete(id);
    const n = (this.perKey.get(e.key) ?? 1) - 1;
    if (n > 0) this.perKey.set(e.key, n);
    else this.perKey.delete(e.key);
  }
}
