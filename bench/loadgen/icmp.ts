/**
 * ICMP echo packets (IPv4) for checking that a session's tunnel passes traffic: the load generator
 * has no TUN, so it writes the whole IP packet into a CSTP DATA frame itself. Pure code.
 */

const IP_HEADER = 20;
const ICMP_HEADER = 8;

/** RFC 1071 Internet checksum of buf[start..end). */
export function inetChecksum(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4 ICMP echo request from `src` to `dst` (addresses as unsigned 32-bit numbers). */
export function echoRequest(src: number, dst: number, id: number, seq: number, payloadLen = 56): Buffer {
  const total = IP_HEADER + ICMP_HEADER + payloadLen;
  const p = Buffer.alloc(total);
  p[0] = 0x45; // IPv4, 5 words of header
  p.writeUInt16BE(total, 2);
  p.writeUInt16BE((id ^ seq) & 0xffff, 4);
  p.writeUInt16BE(0x4000, 6); // don't fragment
  p[8] = 64; // TTL
  p[9] = 1; // ICMP
  p.writeUInt32BE(src >>> 0, 12);
  p.writeUInt32BE(dst >>> 0, 16);
  p.writeUInt16BE(inetChecksum(p, 0, IP_HEADER), 10);
  p[IP_HEADER] = 8; // echo request
  p.writeUInt16BE(id & 0xffff, IP_HEADER + 4);
  p.writeUInt16BE(seq & 0xffff, IP_HEADER + 6);
  for (let i = 0; i < payloadLen; i++) p[IP_HEADER + ICMP_HEADER + i] = i & 0xff;
  p.writeUInt16BE(inetChecksum(p, IP_HEADER, total), IP_HEADER + 2);
  return p;
}

export interface EchoReply {
  src: number;
  dst: number;
  id: number;
  seq: number;
}

/** The echo reply in buf[start..end), or null when the packet is something else. */
export function parseEchoReply(buf: Uint8Array, start: number, end: number): EchoReply | null {
  const len = end - start;
  if (len < IP_HEADER + ICMP_HEADER || buf[start]! >> 4 !== 4 || buf[start + 9] !== 1) return null;
  const ihl = (buf[start]! & 0x0f) * 4;
  if (len < ihl + ICMP_HEADER || buf[start + ihl] !== 0) return null;
  const u32 = (o: number): number => ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
  return {
    src: u32(start + 12),
    dst: u32(start + 16),
    id: (buf[start + ihl + 4]! << 8) | buf[start + ihl + 5]!,
    seq: (buf[start + ihl + 6]! << 8) | buf[start + ihl + 7]!,
  };
}
