/**
 * Configuring the host without a vpnc-script: address, MTU and routes with ip(8), and undoing it
 * on exit. DNS is left alone (that needs a resolver manager: use --script for it).
 *
 *   - the TUN gets address/len from X-CSTP-Address + Netmask (the kernel adds the subnet route)
 *     and X-CSTP-Address-IP6, and the MTU the gateway gave;
 *   - X-CSTP-Split-Include routes go to the TUN; none means a full tunnel, done as 0/1 + 128/1
 *     (and ::/1 + 8000::/1) so the existing default route is never touched or lost, with a host
 *     route keeping the gateway itself on its present path;
 *   - X-CSTP-Split-Exclude routes go via that present path too (0.0.0.0/255.255.255.255 is
 *     Cisco's "local LAN allowed" marker, not a route, §4.3).
 *
 * Routes through the TUN vanish with the device; only the ones outside it are undone here.
 */
import { ip, ipBatch, linkSetMtu, linkSetUp, routeAdd, routeDel, routeGet, type RouteOptions } from '../os/ip.js';
import type { TunnelParams } from '../protocol/connect-headers.js';
import { formatCidr, maskToPrefix, networkOf, parseIpv4, parseIpv4Cidr } from '../protocol/ipv4.js';
import type { Progress } from './progress.js';
import { netlinkConfigurator, NetlinkError } from '../os/netlink-config.js';
import type { RtRequest } from '../os/rtnetlink.js';

interface Undo {
  cidr: string;
  opts: RouteOptions;
  dev?: string;
}

function v4Routes(list: string[]): string[] {
  const out: string[] = [];
  for (const r of list) {
    if (r.includes(':')) continue;
    const c = parseIpv4Cidr(r);
    if (c) out.push(formatCidr({ address: networkOf(c), prefix: c.prefix }));
  }
  return out;
}

function v6Routes(list: string[]): string[] {
  return list.filter((r) => r.includes(':'));
}

export class HostConfig {
  private readonly undo: Undo[] = [];

  constructor(
    readonly dev: string,
    private readonly progress: Progress,
  ) {}

  async apply(p: TunnelParams, gateway: string, mtu: number): Promise<void> {
    const inc4 = v4Routes([...p.splitInclude, ...p.splitIncludeIp6]);
    const inc6 = v6Routes([...p.splitInclude, ...p.splitIncludeIp6]);
    const exc4 = v4Routes([...p.splitExclude, ...p.splitExcludeIp6]).filter((r) => r !== '0.0.0.0/32');
    const exc6 = v6Routes([...p.splitExclude, ...p.splitExcludeIp6]);
    const full4 = p.address !== '' && inc4.length === 0;
    const full6 = p.addressIp6 !== undefined && inc6.length === 0;
    // The gateway's present path, looked up before any route of ours exists (only when needed:
    // every ip(8) run costs milliseconds of connect time).
    const needPath = full4 || full6 || exc4.length > 0 || exc6.length > 0;
    const path = needPath ? await routeGet(gateway).catch(() => undefined) : undefined;
    if (needPath && !path) this.progress.warn(`no route to the gateway ${gateway}: cannot keep it outside the tunnel`);

    // Addresses: `replace`, so a retry after a partial failure does not trip over what exists.
    const addrs: string[][] = [];
    let subnet: string | undefined;
    if (p.address) {
      const mask = parseIpv4(p.netmask);
      const len = mask === null ? 32 : (maskToPrefix(mask) ?? 32);
      addrs.push(['addr', 'replace', `${p.address}/${len}`, 'dev', this.dev]);
      // The kernel adds the subnet route with the address.
      const addr = parseIpv4(p.address);
      if (addr !== null) subnet = formatCidr({ address: networkOf({ address: addr, prefix: len }), prefix: len });
    }
    const addr6 = p.addressIp6 ? (p.addressIp6.includes('/') ? p.addressIp6 : `${p.addressIp6}/128`) : undefined;

    const outside: Undo[] = [];
    if (path) {
      const via: RouteOptions = path.via ? { via: path.via } : {};
      if (full4 || full6) outside.push({ cidr: gateway.includes(':') ? `${gateway}/128` : `${gateway}/32`, dev: path.dev, opts: via });
      for (const r of [...exc4, ...exc6]) outside.push({ cidr: r, dev: path.dev, opts: via });
    }
    const tunRoutes = [...inc4.filter((r) => r !== subnet), ...inc6];
    if (full4) tunRoutes.push('0.0.0.0/1', '128.0.0.0/1');
    if (full6) tunRoutes.push('::/1', '8000::/1');

    // Fastest path: IPv4 only, in-process over rtnetlink (no ip(8) spawn on the connect path).
    // Then everything in one ip(8) process. On any failure, the same again step by step, which
    // says exactly what failed and carries on where it can.
    if (!addr6 && inc6.length === 0 && exc6.length === 0 && !full6 && this.viaNetlink(mtu, addrs, outside, tunRoutes)) {
      this.undo.push(...outside);
      this.progress.info(`routes via ${this.dev}: ${[subnet, ...tunRoutes].filter(Boolean).join(', ') || '(none)'}`);
      return;
    }
    const batch: string[][] = [
      ['link', 'set', 'dev', this.dev, 'mtu', String(mtu), 'up'],
      ...addrs,
      ...(addr6 ? [['addr', 'replace', addr6, 'dev', this.dev]] : []),
      ...outside.map((u) => ['route', 'replace', u.cidr, ...(u.opts.via ? ['via', u.opts.via] : []), 'dev', u.dev!]),
      ...tunRoutes.map((r) => ['route', 'replace', r, 'dev', this.dev]),
    ];
    try {
      await ipBatch(batch);
      this.undo.push(...outside);
    } catch (e) {
      this.progress.info(`ip -batch failed (${(e as Error).message}); configuring step by step`);
      await linkSetUp(this.dev, mtu);
      for (const a of addrs) await ip(a);
      if (addr6) await ip(['addr', 'replace', addr6, 'dev', this.dev]).catch((err: Error) => this.progress.warn(`cannot set the IPv6 address: ${err.message}`));
      for (const u of outside) await this.outside(u.cidr, u.dev, { ...u.opts, replace: true });
      for (const r of tunRoutes) {
        await routeAdd(r, this.dev, { replace: true }).catch((err: Error) => this.progress.warn(`cannot add route ${r}: ${err.message}`));
      }
    }
    this.progress.info(`routes via ${this.dev}: ${[subnet, ...tunRoutes].filter(Boolean).join(', ') || '(none)'}`);
  }

  /**
   * The IPv4 configuration over rtnetlink (os/netlink-config.ts). False when that path is off or
   * unavailable, or a request was refused: the caller then does it all again with ip(8), whose
   * `replace` commands do not trip over what this already did.
   */
  private viaNetlink(mtu: number, addrs: string[][], outside: Undo[], tunRoutes: string[]): boolean {
    const nl = netlinkConfigurator();
    if (!nl) return false;
    try {
      const names = new Map<number, string>();
      const index = (dev: string): number => {
        const i = nl.ifIndex(dev);
        names.set(i, dev);
        return i;
      };
      const tun = index(this.dev);
      const reqs: RtRequest[] = [{ kind: 'link', ifindex: tun, mtu, up: true }];
      for (const a of addrs) {
        const c = parseIpv4Cidr(a[2]!);
        if (!c) return false;
        reqs.push({ kind: 'addr', ifindex: tun, address: c.address, prefix: c.prefix });
      }
      for (const u of outside) {
        const c = parseIpv4Cidr(u.cidr);
        const via = u.opts.via === undefined ? undefined : parseIpv4(u.opts.via);
        if (!c || via === null || u.dev === undefined) return false;
        reqs.push({ kind: 'route', ifindex: index(u.dev), dst: networkOf(c), prefix: c.prefix, ...(via === undefined ? {} : { gateway: via }) });
      }
      for (const r of tunRoutes) {
        const c = parseIpv4Cidr(r);
        if (!c) return false;
        reqs.push({ kind: 'route', ifindex: tun, dst: networkOf(c), prefix: c.prefix });
      }
      nl.apply(reqs, (i) => names.get(i) ?? String(i));
      this.progress.info(`${this.dev} configured over rtnetlink (${reqs.length} requests)`);
      return true;
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e;
      this.progress.info(`netlink: ${e.message}; configuring with ip(8)`);
      return false;
    }
  }

  /** A new MTU after a reconnect. */
  async setMtu(mtu: number): Promise<void> {
    await linkSetMtu(this.dev, mtu);
  }

  /** Removes the routes added outside the TUN. Never throws. */
  async restore(): Promise<void> {
    for (const u of this.undo.splice(0).reverse()) {
      const { replace: _replace, ...opts } = u.opts;
      await routeDel(u.cidr, u.dev, opts).catch(() => undefined);
    }
  }

  private async outside(cidr: string, dev: string | undefined, opts: RouteOptions): Promise<void> {
    try {
      await routeAdd(cidr, dev ?? this.dev, opts);
      this.undo.push(dev !== undefined ? { cidr, opts, dev } : { cidr, opts });
    } catch (e) {
      this.progress.warn(`cannot add route ${cidr}: ${(e as Error).message}`);
    }
  }
}
