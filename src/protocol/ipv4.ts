/** IPv4 addresses as unsigned 32-bit numbers, and CIDR blocks. Pure helpers. */

export interface Ipv4Cidr {
  /** the address as written (may have host bits set, e.g. a gateway address 192.168.77.1/24) */
  address: number;
  prefix: number;
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses dotted-quad; returns null when it is not one. */
export function parseIpv4(s: string): number | null {
  const m = DOTTED.exec(s.trim());
  if (!m) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return null;
    n = n * 256 + octet;
  }
  return n >>> 0;
}

export function formatIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Contiguous netmask -> prefix length, or null when the mask has holes. */
export function maskToPrefix(mask: number): number | null {
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) !== 0) return null;
  return 32 - Math.log2(inv + 1);
}

/** "10.0.0.0/8", "10.0.0.0/255.0.0.0" or a bare address (= /32). */
export function parseIpv4Cidr(s: string): Ipv4Cidr | null {
  const [addr, len, extra] = s.trim().split('/');
  if (extra !== undefined || addr === undefined) return null;
  const address = parseIpv4(addr);
  if (address === null) return null;
  if (len === undefined) return { address, prefix: 32 };
  if (/^\d{1,2}$/.test(len)) {
    const prefix = Number(len);
    return prefix <= 32 ? { address, prefix } : null;
  }
  const mask = parseIpv4(len);
  if (mask === null) return null;
  const prefix = maskToPrefix(mask);
  return prefix === null ? null : { address, prefix };
}

export function networkOf(c: Ipv4Cidr): number {
  return (c.address & prefixToMask(c.prefix)) >>> 0;
}

export function cidrContains(c: Ipv4Cidr, addr: number): boolean {
  const mask = prefixToMask(c.prefix);
  return ((addr & mask) >>> 0) === ((c.address & mask) >>> 0);
}

/** "10.0.0.0/255.0.0.0": the form Cisco and ocserv use in X-CSTP-Split-Include (§4.3). */
export function formatCidrDottedMask(c: Ipv4Cidr): string {
  return `${formatIpv4(networkOf(c))}/${formatIpv4(prefixToMask(c.prefix))}`;
}

export function formatCidr(c: Ipv4Cidr): string {
  return `${formatIpv4(c.address)}/${c.prefix}`;
}

/** Destination address of an IPv4 packet at buf[off..], or -1 when it is not IPv4. */
export function ipv4Destination(buf: Uint8Array, off: number, len: number): number {
  if (len < 20 || buf[off]! >> 4 !== 4) return -1;
  return ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) >>> 0;
}

/** Source address of an IPv4 packet at buf[off..], or -1 when it is not IPv4. */
export function ipv4Source(buf: Uint8Array, off: number, len: number): number {
  if (len < 20 || buf[off]! >> 4 !== 4) return -1;
  return ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0;
}
