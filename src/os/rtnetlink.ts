/**
 * rtnetlink messages for the client's IPv4 host configuration (pure: bytes only; native/netlink.c
 * sends them). What `ip link set dev X mtu M up`, `ip addr replace A/L dev X` and
 * `ip route replace C [via G] dev X` send, as iproute2 builds them (rtnetlink(7)):
 *   - routes go to the main table with protocol "boot" (iproute2's default) and scope "link"
 *     unless they have a gateway (scope "universe"), so `ip route` shows them as it would;
 *   - an address carries IFA_LOCAL and IFA_ADDRESS, both the address (not point-to-point);
 *   - `ip route replace C dev X src S` adds RTA_PREFSRC; `ip route del C dev X` is RTM_DELROUTE
 *     with table main, scope "nowhere", protocol and type 0: the kernel reads those as "any"
 *     (net/ipv4/fib_trie.c fib_table_delete; iproute2 ip/iproute.c sets them so for a delete);
 *   - every message asks for an acknowledgement (NLM_F_ACK) and has sequence number i + 1, so the
 *     answers map back to the requests.
 * Netlink fields are in host byte order; addresses in network byte order.
 */
import { endianness } from 'node:os';

export type RtRequest =
  | { kind: 'link'; ifindex: number; mtu: number; up: boolean }
  | { kind: 'addr'; ifindex: number; address: number; prefix: number }
  | { kind: 'route'; ifindex: number; dst: number; prefix: number; gateway?: number; src?: number }
  /** the route to dst/prefix through ifindex goes (ENOENT/ESRCH when there is none) */
  | { kind: 'route-del'; ifindex: number; dst: number; prefix: number };

const RTM_NEWLINK = 16;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_CREATE = 0x400;
const AF_UNSPEC = 0;
const AF_INET = 2;
const IFF_UP = 0x1;
const IFLA_MTU = 4;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PREFSRC = 7;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
const RTN_UNICAST = 1;

const NLMSG_HDRLEN = 16;
const le = endianness() === 'LE';

/** Writes host-order integers (netlink's), and big-endian addresses. */
class Writer {
  private off = 0;
  constructor(readonly buf: Buffer) {}
  get offset(): number {
    return this.off;
  }
  u8(v: number): void {
    this.off = this.buf.writeUInt8(v, this.off);
  }
  u16(v: number): void {
    this.off = le ? this.buf.writeUInt16LE(v, this.off) : this.buf.writeUInt16BE(v, this.off);
  }
  u32(v: number): void {
    this.off = le ? this.buf.writeUInt32LE(v >>> 0, this.off) : this.buf.writeUInt32BE(v >>> 0, this.off);
  }
  /** an IPv4 address, network byte order */
  addr(v: number): void {
    this.off = this.buf.writeUInt32BE(v >>> 0, this.off);
  }
  /** rtattr with a 4-byte payload (u32 host order, or an address) */
  attr32(type: number, v: number, address = false): void {
    this.u16(8);
    this.u16(type);
    if (address) this.addr(v);
    else this.u32(v);
  }
}

function checkIndex(i: number): void {
  if (!Number.isInteger(i) || i <= 0 || i > 0x7fffffff) throw new RangeError(`rtnetlink: bad interface index ${i}`);
}

function checkPrefix(p: number): void {
  if (!Number.isInteger(p) || p < 0 || p > 32) throw new RangeError(`rtnetlink: bad IPv4 prefix length ${p}`);
}

/** Body length (after the 16-byte header) of one request; every piece is 4-byte aligned. */
function bodyLength(r: RtRequest): number {
  switch (r.kind) {
    case 'link':
      return 16 + 8; // ifinfomsg + IFLA_MTU
    case 'addr':
      return 8 + 8 + 8; // ifaddrmsg + IFA_LOCAL + IFA_ADDRESS
    case 'route':
      return 12 + 8 + 8 + (r.gateway === undefined ? 0 : 8) + (r.src === undefined ? 0 : 8); // rtmsg + RTA_DST + RTA_OIF [+ RTA_GATEWAY] [+ RTA_PREFSRC]
    case 'route-del':
      return 12 + 8 + 8; // rtmsg + RTA_DST + RTA_OIF
  }
}

/** The requests as one buffer for nlRequest(buf, requests.length). */
export function encodeRtRequests(requests: readonly RtRequest[]): Buffer {
  const total = requests.reduce((n, r) => n + NLMSG_HDRLEN + bodyLength(r), 0);
  const w = new Writer(Buffer.alloc(total));
  requests.forEach((r, i) => {
    checkIndex(r.ifindex);
    const len = NLMSG_HDRLEN + bodyLength(r);
    const start = w.offset;
    w.u32(len);
    switch (r.kind) {
      case 'link':
        if (!Number.isInteger(r.mtu) || r.mtu < 68 || r.mtu > 65535) throw new RangeError(`rtnetlink: bad MTU ${r.mtu}`);
        w.u16(RTM_NEWLINK);
        w.u16(NLM_F_REQUEST | NLM_F_ACK);
        w.u32(i + 1);
        w.u32(0);
        // ifinfomsg: family, pad, type, index, flags, change (only IFF_UP is changed)
        w.u8(AF_UNSPEC);
        w.u8(0);
        w.u16(0);
        w.u32(r.ifindex);
        w.u32(r.up ? IFF_UP : 0);
        w.u32(IFF_UP);
        w.attr32(IFLA_MTU, r.mtu);
        break;
      case 'addr':
        checkPrefix(r.prefix);
        w.u16(RTM_NEWADDR);
        w.u16(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        w.u32(i + 1);
        w.u32(0);
        // ifaddrmsg: family, prefixlen, flags, scope, index
        w.u8(AF_INET);
        w.u8(r.prefix);
        w.u8(0);
        w.u8(RT_SCOPE_UNIVERSE);
        w.u32(r.ifindex);
        w.attr32(IFA_LOCAL, r.address, true);
        w.attr32(IFA_ADDRESS, r.address, true);
        break;
      case 'route':
        checkPrefix(r.prefix);
        routeHead(w, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, i + 1, r.prefix, RTPROT_BOOT, r.gateway === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE, RTN_UNICAST);
        w.attr32(RTA_DST, r.dst, true);
        w.attr32(RTA_OIF, r.ifindex);
        if (r.gateway !== undefined) w.attr32(RTA_GATEWAY, r.gateway, true);
        if (r.src !== undefined) w.attr32(RTA_PREFSRC, r.src, true);
        break;
      case 'route-del':
        checkPrefix(r.prefix);
        // protocol 0 and type 0: any; scope RT_SCOPE_NOWHERE: any
        routeHead(w, RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, i + 1, r.prefix, 0, RT_SCOPE_NOWHERE, 0);
        w.attr32(RTA_DST, r.dst, true);
        w.attr32(RTA_OIF, r.ifindex);
        break;
    }
    if (w.offset - start !== len) throw new Error(`rtnetlink: internal length mismatch for ${r.kind}`);
  });
  return w.buf;
}

/** nlmsghdr after its length (type, flags, seq, pid 0) and an IPv4 rtmsg for `prefix`. */
function routeHead(w: Writer, type: number, flags: number, seq: number, prefix: number, protocol: number, scope: number, rtType: number): void {
  w.u16(type);
  w.u16(flags);
  w.u32(seq);
  w.u32(0);
  // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
  w.u8(AF_INET);
  w.u8(prefix);
  w.u8(0);
  w.u8(0);
  w.u8(RT_TABLE_MAIN);
  w.u8(protocol);
  w.u8(scope);
  w.u8(rtType);
  w.u32(0);
}
