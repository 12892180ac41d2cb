/**
 * The addresses a pool may lease, as ip-pool.ts defines them: every host address of the subnet
 * except the gateway's own (the address written in the config, e.g. 192.168.77.1/24). Pure; the
 * stores that lease across processes or nodes (RedisStore) use it so a shared pool hands out the
 * same set of addresses as the in-memory IpPool.
 */
import { networkOf, parseIpv4Cidr, prefixToMask } from '../../protocol/ipv4.js';

export interface PoolRange {
  first: number;
  last: number;
  /** the gateway's own address (never leased); may lie outside first..last */
  own: number;
}

/** Throws on a CIDR that does not parse: a PoolRef comes from the validated config. */
export function poolRange(cidr: string): PoolRange {
  const c = parseIpv4Cidr(cidr);
  if (!c) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  const net = networkOf(c);
  const broadcast = (net | ~prefixToMask(c.prefix)) >>> 0;
  // /31 and /32 have no network or broadcast address to skip (RFC 3021).
  const first = c.prefix >= 31 ? net : net + 1;
  const last = c.prefix >= 31 ? broadcast : broadcast - 1;
  return { first, last, own: c.address };
}

/** True when `addr` may be leased from the pool. */
export function leasable(r: PoolRange, addr: number): boolean {
  return Number.isSafeInteger(addr) && addr >= r.first && addr <= r.last && addr !== r.own;
}
