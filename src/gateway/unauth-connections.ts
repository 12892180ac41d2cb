/**
 * Connections that are not a tunnel yet: from TCP accept, through the TLS handshake and the auth
 * exchange, until CONNECT turns one into a tunnel. Each lives under an absolute deadline
 * (`limits.auth-timeout`, counted from accept, not reset by traffic: a client that sends a byte a
 * minute, or never finishes its handshake, is closed all the same), and their number is capped
 * per address (`limits.max-unauth-per-address`, an IPv6 /64 being one address) and in total
 * (`limits.max-unauth-connections`). So one address holding slow connections cannot lock out
 * the others, and a connection costs at most auth-timeout seconds of memory before it either
 * authenticated or went away.
 *
 * Works on the raw TCP socket (the TLS socket does not exist before the handshake); the TLS
 * layer names a connection by its remote address and port, which are the raw socket's.
 */
import { addressKey } from './address-key.js';

export interface UnauthOptions {
  /** ms from accept until the connection must have become a tunnel */
  deadlineMs: number;
  /** connections per address key (0 = no cap) */
  maxPerAddress: number;
  /** connections in total (0 = no cap) */
  maxTotal: number;
}

export type UnauthRefusal = 'unauth-per-address' | 'unauth-total';

/** What the tracker uses of a socket: a net.Socket, a fake in unit tests. */
export interface TrackedSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** The remote end of a connection, as both the raw and the TLS socket report it. */
export interface RemoteEnd {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

interface Pending {
  key: string;
  timer: ReturnType<typeof setTimeout>;
}

const connId = (s: RemoteEnd): string => `${s.remoteAddress ?? '?'}|${s.remotePort ?? 0}`;

export class UnauthConnections {
  private readonly pending = new Map<string, Pending>();
  private readonly perKey = new Map<string, number>();
  /** connections closed because their deadline passed */
  expired = 0;

  constructor(private opts: UnauthOptions) {}

  /** A reload: new caps apply at once, the new deadline to connections accepted from now on. */
  setOptions(o: UnauthOptions): void {
    this.opts = o;
  }

  /**
   * On accept: registers the connection and arms its deadline, or says why it is refused (the
   * caller closes it). `exempt` (allow-listed addresses) skips the per-address cap only;
   * `uncapped` skips both caps (workers > 1: the privileged process counted them for the whole
   * gateway, priv/conn-admission.ts), the deadline still applies.
   */
  admit(sock: TrackedSocket, exempt = false, uncapped = false): UnauthRefusal | null {
    const key = addressKey(sock.remoteAddress ?? '');
    const { maxPerAddress, maxTotal, deadlineMs } = this.opts;
    if (!uncapped && maxTotal > 0 && this.pending.size >= maxTotal) return 'unauth-total';
    const n = this.perKey.get(key) ?? 0;
    if (!uncapped && !exempt && maxPerAddress > 0 && n >= maxPerAddress) return 'unauth-per-address';
    const id = connId(sock);
    const entry: Pending = {
      key,
      timer: setTimeout(() => {
        this.expired++;
        this.release(id, entry);
        sock.destroy();
      }, deadlineMs),
    };
    entry.timer.unref?.();
    this.pending.set(id, entry);
    this.perKey.set(key, n + 1);
    // Only this entry: after a promote, the same address and port may be a new connection.
    sock.once('close', () => this.release(id, entry));
    return null;
  }

  /** The connection became a tunnel: no deadline any more, and it no longer counts here. */
  promote(sock: RemoteEnd): void {
    this.release(connId(sock));
  }

  /** Unauthenticated connections now, in total or from `addr`'s key. */
  count(addr?: string): number {
    return addr === undefined ? this.pending.size : this.perKey.get(addressKey(addr)) ?? 0;
  }

  private release(id: string, only?: Pending): void {
    const p = this.pending.get(id);
    if (!p || (only && p !== only)) return;
    clearTimeout(p.timer);
    this.pending.delete(id);
    const n = (this.perKey.get(p.key) ?? 1) - 1;
    if (n > 0) this.perKey.set(p.key, n);
    else this.perKey.delete(p.key);
  }
}
