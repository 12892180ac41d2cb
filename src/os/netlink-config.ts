/**
 * IPv4 host configuration over rtnetlink, in-process (native/netlink.c; messages from
 * rtnetlink.ts): the client's connect path without an ip(8) spawn. A caller that gets null from
 * netlinkConfigurator() or a NetlinkError falls back to ip(8) (host-config.ts), which also covers
 * IPv6 and says in its own words what failed. SSLGATE_NETLINK=0 turns this path off (tests prove
 * the fallback with it).
 */
import { envFlagOn } from './env-flag.js';
import { loadAddon } from './native-addon.js';
import { encodeRtRequests, type RtRequest } from './rtnetlink.js';
import { formatIpv4 } from '../protocol/ipv4.js';

interface NetlinkAddon {
  nlRequest(buf: Buffer, count: number): number[];
  ifIndex(name: string): number;
  errnoText(errno: number): [code: string, message: string];
}

export class NetlinkError extends Error {
  constructor(
    message: string,
    /** the failed request, as the equivalent ip(8) command */
    readonly request: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'NetlinkError';
  }
}

/** The request as the ip(8) command that does the same (for messages). */
export function describeRtRequest(r: RtRequest, dev: string): string {
  switch (r.kind) {
    case 'link':
      return `ip link set dev ${dev} mtu ${r.mtu}${r.up ? ' up' : ''}`;
    case 'addr':
      return `ip addr replace ${formatIpv4(r.address)}/${r.prefix} dev ${dev}`;
    case 'route':
      return `ip route replace ${formatIpv4(r.dst)}/${r.prefix}${r.gateway === undefined ? '' : ` via ${formatIpv4(r.gateway)}`} dev ${dev}${r.src === undefined ? '' : ` src ${formatIpv4(r.src)}`}`;
    case 'route-del':
      return `ip route del ${formatIpv4(r.dst)}/${r.prefix} dev ${dev}`;
  }
}

export interface NetlinkConfigurator {
  /** The device's index; throws NetlinkError when there is none. */
  ifIndex(dev: string): number;
  /** Sends the requests in one round trip; throws NetlinkError naming the first refused one. */
  apply(requests: readonly RtRequest[], devName: (ifindex: number) => string): void;
}

/** null when turned off (SSLGATE_NETLINK=0) or when the addon lacks it (an older build). */
export function netlinkConfigurator(env: NodeJS.ProcessEnv = process.env): NetlinkConfigurator | null {
  if (!envFlagOn('SSLGATE_NETLINK', env)) return null;
  let native: NetlinkAddon;
  try {
    native = loadAddon<NetlinkAddon>('sslgate_tun');
  } catch {
    return null;
  }
  if (typeof native.nlRequest !== 'function' || typeof native.ifIndex !== 'function') return null;
  return {
    ifIndex(dev) {
      const i = native.ifIndex(dev);
      if (i === 0) throw new NetlinkError(`no device ${dev}`, `ip link show ${dev}`, 'ENODEV');
      return i;
    },
    apply(requests, devName) {
      if (requests.length === 0) return;
      const results = native.nlRequest(encodeRtRequests(requests), requests.length);
      results.forEach((rc, i) => {
        if (rc === 0) return;
        const what = describeRtRequest(requests[i]!, devName(requests[i]!.ifindex));
        if (rc === 1) throw new NetlinkError(`${what}: no answer from the kernel`, what, 'ETIMEDOUT');
        const [code, text] = native.errnoText(rc);
        throw new NetlinkError(`${what}: ${text} (${code})`, what, code);
      });
    },
  };
}
