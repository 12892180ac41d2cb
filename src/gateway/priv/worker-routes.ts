/**
 * The privileged process's side of a worker's `route` request (workers > 1): whether to route a
 * tunnel address to that worker's TUN, and how the /32 reaches the kernel.
 *
 * Whether (checkRouteRequest): the address must be a client address of a configured pool AND be
 * leased, in the StateStore, to the session whose cookie the worker presents. The worker sends
 * the cookie itself (the client just gave it in its CONNECT), not its hash: the store and every
 * `state-list` answer hold only hashes, so a compromised worker cannot claim a session it never
 * saw a client for, and so cannot pull another session's address (its packets) to itself.
 *
 * How (routeOps): over rtnetlink in this process (native/netlink.c, one sendto/recv per route)
 * instead of spawning `ip route` per CONNECT; ip(8) when the addon lacks netlink, when
 * SSLGATE_NETLINK=0 says so (tests prove the fallback), or when a netlink request fails (ip
 * then says in its own words what is wrong).
 */
import { routeAdd, routeDel } from '../../os/ip.js';
import { netlinkConfigurator, type NetlinkConfigurator } from '../../os/netlink-config.js';
import { formatCidr, formatIpv4, type Ipv4Cidr } from '../../protocol/ipv4.js';
import { hashCookie } from '../sessions.js';
import type { StateStore } from '../state/types.js';
import { poolOf, type LeaseRoutes } from './lease-routes.js';

export type RouteVerdict = { ok: true; cookieHash: string; pool: Ipv4Cidr } | { ok: false; reason: string };

/** A webvpn cookie as sessions.ts makes it: 32 random bytes, base64url (43 characters). */
const COOKIE = /^[A-Za-z0-9_-]{16,128}$/;

/** May `addr` be routed for the session whose cookie is `cookie`? Never throws; a store error refuses. */
export async function checkRouteRequest(store: Pick<StateStore, 'leasedTo'> | null, subnets: Iterable<Ipv4Cidr>, addr: number, cookie: string): Promise<RouteVerdict> {
  const pool = poolOf(addr, subnets);
  if (pool === null) return { ok: false, reason: `${formatIpv4(addr)} is not a client address of a configured pool` };
  if (!COOKIE.test(cookie)) return { ok: false, reason: 'the cookie is not one this gateway makes' };
  if (!store?.leasedTo) return { ok: false, reason: 'the session store cannot say who holds an address' };
  const cookieHash = hashCookie(cookie);
  let leased: number | null;
  try {
    leased = await store.leasedTo({ name: '', cidr: formatCidr(pool) }, cookieHash);
  } catch (e) {
    return { ok: false, reason: `the session store did not answer: ${(e as Error).message}` };
  }
  if (leased !== addr) {
    return { ok: false, reason: `${formatIpv4(addr)} is not leased to the session of that cookie (${leased === null ? 'it holds no lease' : `it holds ${formatIpv4(leased)}`})` };
  }
  return { ok: true, cookieHash, pool };
}

/** Checks worker `w`'s request, then routes; rejects with the reason (for the log and the worker). */
export async function routeForWorker(routes: LeaseRoutes, store: Pick<StateStore, 'leasedTo'> | null, subnets: Iterable<Ipv4Cidr>, addr: number, cookie: string, w: number): Promise<{ via: 'rtnetlink' | 'ip'; cookieHash: string }> {
  const v = await checkRouteRequest(store, subnets, addr, cookie);
  if (!v.ok) throw new Error(`refused: ${v.reason}`);
  return { via: await routes.route(addr, w), cookieHash: v.cookieHash };
}

/** How a /32 is set and removed; `via` says which way it went (logged per route). */
export interface RouteOps {
  replace(addr: number, dev: string, src: number): Promise<'rtnetlink' | 'ip'>;
  remove(addr: number, dev: string): Promise<void>;
}

/** rtnetlink when available (and not turned off), else ip(8). */
export function routeOps(env: NodeJS.ProcessEnv = process.env, nl: NetlinkConfigurator | null = netlinkConfigurator(env)): RouteOps {
  const viaIp = {
    replace: async (addr: number, dev: string, src: number): Promise<'ip'> => {
      await routeAdd(`${formatIpv4(addr)}/32`, dev, { replace: true, src: formatIpv4(src) });
      return 'ip';
    },
    remove: (addr: number, dev: string): Promise<void> => routeDel(`${formatIpv4(addr)}/32`, dev),
  };
  if (!nl) return viaIp;
  // A TUN keeps its index while it exists; the worker TUNs live as long as this process.
  const indexes = new Map<string, number>();
  const indexOf = (dev: string): number => {
    let i = indexes.get(dev);
    if (i === undefined) indexes.set(dev, (i = nl.ifIndex(dev)));
    return i;
  };
  return {
    replace: async (addr, dev, src) => {
      try {
        nl.apply([{ kind: 'route', ifindex: indexOf(dev), dst: addr, prefix: 32, src }], () => dev);
        return 'rtnetlink';
      } catch {
        indexes.delete(dev);
        return viaIp.replace(addr, dev, src);
      }
    },
    remove: async (addr, dev) => {
      try {
        nl.apply([{ kind: 'route-del', ifindex: indexOf(dev), dst: addr, prefix: 32 }], () => dev);
      } catch {
        indexes.delete(dev);
        await viaIp.remove(addr, dev);
      }
    },
  };
}
