/**
 * The gateway's DTLS handshakes in progress (dtls-listener.ts file header says why they are
 * bounded): at most one per "address:port", at most `perSession` per session tunnel and `total`
 * in all, with the eviction rule of `makeRoom`; and the per-tunnel throttle of the "handshake
 * failed" log line (an attacker who knows a session id can fail handshakes at will).
 *
 * Pure bookkeeping: no sockets, no timers. Closing a handshake is the caller's channel's job; its
 * close callback then calls `remove`.
 */
export interface PendingHandshake<T> {
  /** "address:port" */
  readonly key: string;
  /** the session tunnel it would join */
  readonly tunnel: T;
  /** the source address of its ClientHello */
  readonly address: string;
  readonly channel: { close(why: string): void };
}

export interface PendingLimits {
  perSession: number;
  total: number;
}

/** A failed handshake is logged at most this often per session tunnel. */
export const FAIL_LOG_INTERVAL_MS = 10_000;

export class PendingHandshakes<T, H extends PendingHandshake<T>> {
  /** by "address:port" */
  private readonly byKey = new Map<string, H>();
  /** per session tunnel, oldest first */
  private readonly byTunnel = new Map<T, H[]>();
  /** per session tunnel: when a failed handshake was last logged, and how many were not since */
  private readonly failLog = new Map<T, { at: number; quiet: number }>();

  constructor(private readonly limits: PendingLimits) {}

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): H | undefined {
    return this.byKey.get(key);
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  values(): IterableIterator<H> {
    return this.byKey.values();
  }

  /** A handshake started (after makeRoom said yes). */
  add(h: H): void {
    this.byKey.set(h.key, h);
    const mine = this.byTunnel.get(h.tunnel);
    if (mine) mine.push(h);
    else this.byTunnel.set(h.tunnel, [h]);
  }

  /** It completed or closed. */
  remove(h: H): void {
    if (this.byKey.get(h.key) === h) this.byKey.delete(h.key);
    const mine = this.byTunnel.get(h.tunnel);
    if (!mine) return;
    const i = mine.indexOf(h);
    if (i >= 0) mine.splice(i, 1);
    if (mine.length === 0) this.byTunnel.delete(h.tunnel);
  }

  /**
   * Whether one more handshake for `tunnel` from `address` fits the limits. When the tunnel is
   * full, a ClientHello from `sessionAddress` (the address of the session's TLS connection, where
   * its client most likely is) closes the oldest pending one, preferring one from another
   * address; one from any other address is refused. So a flood from elsewhere cannot keep the
   * client from a new handshake, and one from the client's own address (spoofed, or a neighbour
   * behind the same NAT) has to outpace the client's round trip to do so. (A fresh ClientHello
   * from an address:port that already has a pending handshake never comes here: that
   * handshake's endpoint takes it and restarts, RFC 6347 §4.2.8.)
   */
  makeRoom(tunnel: T, address: string, sessionAddress: string | null): boolean {
    if (this.byKey.size >= this.limits.total) return false;
    const mine = this.byTunnel.get(tunnel) ?? [];
    if (mine.length < this.limits.perSession) return true;
    if (sessionAddress === null || address !== sessionAddress) return false;
    const victim = mine.find((p) => p.address !== sessionAddress) ?? mine[0]!;
    victim.channel.close('evicted by a handshake from the session address');
    return true;
  }

  /** The tunnel ended: its handshakes close, its log throttle goes. */
  forgetTunnel(tunnel: T): void {
    for (const h of [...(this.byTunnel.get(tunnel) ?? [])]) h.channel.close('tunnel closed');
    this.byTunnel.delete(tunnel);
    this.failLog.delete(tunnel);
  }

  /**
   * A handshake of `tunnel` failed at `now` (ms): how many failures of it went unlogged since the
   * last line, when this one is to be logged, else null (counted for the next line).
   */
  failureToLog(tunnel: T, now: number): number | null {
    const f = this.failLog.get(tunnel);
    if (f && now - f.at < FAIL_LOG_INTERVAL_MS) {
      f.quiet++;
      return null;
    }
    this.failLog.set(tunnel, { at: now, quiet: 0 });
    return f?.quiet ?? 0;
  }

  /** Everything forgotten (the listener closed; it closed the channels itself). */
  clear(): void {
    this.byKey.clear();
    this.byTunnel.clear();
    this.failLog.clear();
  }
}
