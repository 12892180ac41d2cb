/**
 * IPv4 address pool of one subnet: every host address except the gateway's own. Leases are held
 * by a key (the session) so a reconnect with the same cookie gets the same address (openconnect
 * aborts otherwise, PROTOCOL.md §4.3 / quirk 20).
 */
import { formatIpv4, networkOf, parseIpv4Cidr, prefixToMask, type Ipv4Cidr } from '../protocol/ipv4.js';

/**
 * The addresses a pool may lease: every host address of the subnet except the gateway's own (the
 * address written in the config, e.g. 192.168.77.1/24). The one definition: IpPool here, and the
 * stores that lease across processes or nodes (SqliteStore, RedisStore) hand out the same set.
 */
export interface PoolRange {
  first: number;
  last: number;
  /** the gateway's own address (never leased); may lie outside first..last */
  own: number;
}

export function leasableRange(subnet: Ipv4Cidr): PoolRange {
  const net = networkOf(subnet);
  const broadcast = (net | ~prefixToMask(subnet.prefix)) >>> 0;
  // /31 and /32 have no network or broadcast address to skip (RFC 3021).
  const first = subnet.prefix >= 31 ? net : net + 1;
  const last = subnet.prefix >= 31 ? broadcast : broadcast - 1;
  return { first, last, own: subnet.address };
}

/** leasableRange of a PoolRef's cidr. Throws on a CIDR that does not parse: a PoolRef comes from the validated config. */
export function poolRange(cidr: string): PoolRange {
  const c = parseIpv4Cidr(cidr);
  if (!c) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  return leasableRange(c);
}

/** True when `addr` may be leased from the pool (whether someone holds it is the caller's). */
export function leasable(r: PoolRange, addr: number): boolean {
  return Number.isSafeInteger(addr) && addr >= r.first && addr <= r.last && addr !== r.own;
}

export class IpPool {
  readonly first: number;
  readonly last: number;
  readonly netmask: string;
  private readonly range: PoolRange;
  private readonly byAddr = new Map<number, string>();
  private readonly byKey = new Map<string, number>();
  private cursor: number;

  constructor(readonly subnet: Ipv4Cidr) {
    this.range = leasableRange(subnet);
    this.first = this.range.first;
    this.last = this.range.last;
    this.netmask = formatIpv4(prefixToMask(subnet.prefix));
    this.cursor = this.first;
  }

  get size(): number {
    return this.last - this.first + 1 - (this.contains(this.subnet.address) ? 1 : 0);
  }

  get used(): number {
    return this.byAddr.size;
  }

  contains(addr: number): boolean {
    return addr >= this.first && addr <= this.last;
  }

  /** The address leased to `key`, leasing one if needed (preferring `hint`); null when full. */
  lease(key: string, hint?: number): number | null {
    const have = this.byKey.get(key);
    if (have !== undefined) return have;
    if (hint !== undefined && this.isFree(hint)) return this.take(key, hint);
    const span = this.last - this.first + 1;
    for (let i = 0; i < span; i++) {
      const a = this.cursor;
      this.cursor = a >= this.last ? this.first : a + 1;
      if (this.isFree(a)) return this.take(key, a);
    }
    return null;
  }

  /**
   * A lease the state store made (state/types.ts lease: the store decides, across processes and
   * nodes): recorded here so `used`, the metrics and a reload see it.
   */
  note(key: string, a: number): void {
    const had = this.byKey.get(key);
    if (had === a) return;
    if (had !== undefined) this.byAddr.delete(had);
    this.byAddr.set(a, key);
    this.byKey.set(key, a);
  }

  release(key: string): void {
    const a = this.byKey.get(key);
    if (a === undefined) return;
    this.byKey.delete(key);
    this.byAddr.delete(a);
  }

  /** The address leased to `key`, if any (never leases). */
  addressOf(key: string): number | undefined {
    return this.byKey.get(key);
  }

  holder(addr: number): string | undefined {
    return this.byAddr.get(addr);
  }

  private isFree(a: number): boolean {
    return leasable(this.range, a) && !this.byAddr.has(a);
  }

  private take(key: string, a: number): number {
    this.byAddr.set(a, key);
    this.byKey.set(key, a);
    return a;
  }
}
