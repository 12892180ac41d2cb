/**
 * Which interface carries the connection to the gateway, from the kernel's own tables in /proc
 * (pure parsers here; base-mtu.ts reads the files). Needed because os.networkInterfaces() (libuv's
 * uv_interface_addresses) leaves out every interface that is up but not yet "running": the
 * operational state of a freshly configured link (a veth, a USB modem) follows its carrier only
 * when the kernel's linkwatch gets to it (up to a second later), while packets flow at once.
 * Measured: in the benchmark's fresh namespaces half of our client's CONNECTs found only `lo`
 * there and sent the fallback X-CSTP-Base-MTU 1406 instead of the veth's 1500, and ocserv
 * answered an X-DTLS-MTU 94 bytes smaller (1312 instead of openconnect's 1406).
 */
import { isIPv6 } from 'node:net';
import { maskToPrefix, parseIpv4 } from '../protocol/ipv4.js';
import { ipv6Groups } from '../protocol/ipv6-groups.js';

/**
 * The interface of the main table's most specific route to `remote` (dotted IPv4) in the text of
 * /proc/net/route; undefined when none matches or the text is not that file's format. Policy
 * routing (other tables) is not seen: the caller tries the local address first.
 */
export function routeInterfaceIpv4(procNetRoute: string, remote: string): string | undefined {
  const target = parseIpv4(remote.replace(/^::ffff:/i, ''));
  if (target === null) return undefined;
  let best: { iface: string; bits: number; metric: number } | undefined;
  const lines = procNetRoute.split('\n');
  // Header: Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
  if (!/^Iface\s+Destination\s+Gateway\s+Flags\s+RefCnt\s+Use\s+Metric\s+Mask\b/.test(lines[0] ?? '')) return undefined;
  for (const line of lines.slice(1, 4097)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, destHex, , flagsHex, , , metricDec, maskHex] = f as [string, string, string, string, string, string, string, string];
    const RTF_UP = 0x1;
    const flags = parseInt(flagsHex, 16);
    const dest = hostOrderHex(destHex);
    const mask = hostOrderHex(maskHex);
    const metric = Number(metricDec);
    if (!(flags & RTF_UP) || dest === undefined || mask === undefined || !Number.isFinite(metric)) continue;
    const bits = maskToPrefix(mask);
    if (bits === null || ((target & mask) >>> 0) !== dest) continue;
    if (!best || bits > best.bits || (bits === best.bits && metric < best.metric)) best = { iface, bits, metric };
  }
  return best?.iface;
}

/** The interface holding `local` (an IPv6 address) in the text of /proc/net/if_inet6. */
export function addressInterfaceIpv6(procNetIfInet6: string, local: string): string | undefined {
  const want = ipv6ToHex(local);
  if (want === undefined) return undefined;
  for (const line of procNetIfInet6.split('\n').slice(0, 4096)) {
    // "fe800000000000000000000000000001 02 40 20 80 eth0": address, index, prefix, scope, flags, name
    const f = line.trim().split(/\s+/);
    if (f.length === 6 && f[0]!.toLowerCase() === want) return f[5];
  }
  return undefined;
}

/**
 * /proc/net/route prints each address as the hex of the 32-bit word in the kernel's byte order,
 * which is network order in memory: "0001A8C0" on a little-endian machine is 192.168.1.0.
 */
function hostOrderHex(h: string): number | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(h)) return undefined;
  const b = Buffer.alloc(4);
  b.writeUInt32LE(parseInt(h, 16));
  // On a big-endian kernel the text is already in network order.
  return isLittleEndian ? b.readUInt32BE(0) : parseInt(h, 16);
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The 32 hex digits /proc/net/if_inet6 uses for an IPv6 address (zone id dropped), or undefined. */
function ipv6ToHex(a: string): string | undefined {
  const bare = a.split('%')[0]!;
  if (!isIPv6(bare)) return undefined;
  return ipv6Groups(bare).map((g) => g.toString(16).padStart(4, '0')).join('');
}
