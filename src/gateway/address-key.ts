/**
 * The key under which per-address limits count a client: the IPv4 address itself, or the /64 of
 * an IPv6 address. One IPv6 subscriber gets a whole /64 (RFC 6177, and SLAAC needs it), so an
 * attacker can rotate through 2^64 addresses at no cost; limits keyed by the full address would
 * limit nothing. IPv4-mapped IPv6 ("::ffff:10.0.0.1", what a dual-stack socket reports for an
 * IPv4 client) is the IPv4 address. Anything unparsable is its own key (it cannot come from a
 * socket, but must not throw).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Groups } from '../protocol/ipv6-groups.js';

/** "2001:db8:1:2:aa::5" -> "2001:db8:1:2::/64"; "::ffff:10.0.0.1" -> "10.0.0.1"; "10.0.0.1" stays. */
export function addressKey(addr: string): string {
  if (isIPv4(addr)) return addr;
  // A key given back by `ctl unban 2001:db8::/64` names the same /64.
  const slash = addr.endsWith('/64') ? addr.slice(0, -3) : addr;
  const bare = slash.split('%')[0]!; // a zone id (fe80::1%eth0) does not change the subscriber
  if (!isIPv6(bare)) return addr;
  const g = ipv6Groups(bare);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  }
  const prefix = g.slice(0, 4);
  while (prefix.length && prefix[prefix.length - 1] === 0) prefix.pop(); // 2001:db8:0:0 -> 2001:db8
  return `${prefix.map((x) => x.toString(16)).join(':')}::/64`;
}
