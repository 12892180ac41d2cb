/**
 * The DTLS listener's live associations, found by the datagram's source: by "address:port" for
 * dgram's `message` events, and by (host-order IPv4 integer, port) for batched receive, where
 * building the string for every datagram would allocate. Each lookup has a one-entry cache (a
 * busy tunnel sends many datagrams in a row from the same peer), invalidated on every change.
 */
import { ipv4FromInt } from '../os/udp-rx-batch.js';

export interface LivePeer {
  /** "address:port" */
  readonly key: string;
  /** the address as a host-order integer (-1: IPv6) */
  readonly addrInt: number;
  readonly port: number;
}

/** (IPv4 host-order address, port) -> a non-negative small integer (a V8 Smi: no boxing as a Map key). */
function peerHash(addr: number, port: number): number {
  return (addr ^ Math.imul(port, 0x9e3779b1)) & 0x3fffffff;
}

export class LivePeers<A extends LivePeer> {
  private readonly byKey = new Map<string, A>();
  /**
   * The same associations by peerHash. On a collision the later one is not indexed (it is still
   * found through byKey); every hit is checked against address and port.
   */
  private readonly byInt = new Map<number, A>();
  private lastPeer: A | null = null;
  private lastAddress = '';
  private lastPort = -1;
  private intPeer: A | null = null;
  private intAddr = -1;
  private intPort = -1;

  get(key: string): A | undefined {
    return this.byKey.get(key);
  }

  values(): IterableIterator<A> {
    return this.byKey.values();
  }

  /** For dgram's 'message' events: the association of (address, port), or null. */
  find(address: string, port: number): A | null {
    if (this.lastPeer === null || port !== this.lastPort || address !== this.lastAddress) {
      this.lastPeer = this.byKey.get(`${address}:${port}`) ?? null;
      this.lastAddress = address;
      this.lastPort = port;
    }
    return this.lastPeer;
  }

  /** For batched receive: the association of (host-order IPv4 integer, port), or null. */
  findInt(addr: number, port: number): A | null {
    if (this.intPeer === null || addr !== this.intAddr || port !== this.intPort) {
      let a = this.byInt.get(peerHash(addr, port)) ?? null;
      // Not indexed (a hash collision): the string key, built on this miss only.
      if (a === null || a.addrInt !== addr || a.port !== port) a = this.byKey.get(`${ipv4FromInt(addr)}:${port}`) ?? null;
      this.intPeer = a;
      this.intAddr = addr;
      this.intPort = port;
    }
    return this.intPeer;
  }

  add(a: A): void {
    this.byKey.set(a.key, a);
    if (a.addrInt >= 0) {
      // The same address and port: a rekey replacing its predecessor (the caller closes that one).
      const h = peerHash(a.addrInt, a.port);
      const cur = this.byInt.get(h);
      if (cur === undefined || (cur.addrInt === a.addrInt && cur.port === a.port)) this.byInt.set(h, a);
    }
    this.forgetCache();
  }

  /** Removes `a` if it is still the association of its address. */
  remove(a: A): void {
    if (this.byKey.get(a.key) === a) this.byKey.delete(a.key);
    if (a.addrInt >= 0) {
      const h = peerHash(a.addrInt, a.port);
      if (this.byInt.get(h) === a) this.byInt.delete(h);
    }
    this.forgetCache();
  }

  clear(): void {
    this.byKey.clear();
    this.byInt.clear();
    this.forgetCache();
  }

  private forgetCache(): void {
    this.lastPeer = null;
    this.intPeer = null;
  }
}
