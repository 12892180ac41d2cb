/**
 * Tunnel routes of the multi-worker gateway (workers > 1). Each worker has its own TUN device;
 * the pool subnets sit on worker 0's TUN (as with one worker), and each live tunnel's address
 * gets a /32 route to the TUN of the worker that carries the tunnel, set when its CONNECT is
 * answered and removed when it ends. The longest prefix wins, so the kernel hands a client's
 * packets to the process that holds its TLS/DTLS connection; no packet crosses processes.
 *
 * Why routes and not one IFF_MULTI_QUEUE TUN: the kernel spreads a multi-queue TUN's packets by
 * flow hash, not by owner; steering them by destination needs a BPF program (TUNSETSTEERINGEBPF)
 * and a map kept in sync; a route per tunnel is one rtnetlink request at CONNECT (worker-routes.ts;
 * `ip route replace` as the fallback), visible with `ip route`, and each TUN keeps its own
 * offload settings.
 *
 * A worker asks; this process decides: the address must be a host address of a configured pool
 * (never the gateway's own address) leased to the session the worker shows the cookie of
 * (worker-routes.ts checkRouteRequest, before this); a later request for the same address from another worker
 * (a reconnect that landed elsewhere) moves the route; a worker can only remove a route that
 * points at its own TUN. Operations run one at a time, in order.
 */
import { formatIpv4, networkOf, prefixToMask, type Ipv4Cidr } from '../../protocol/ipv4.js';
import type { RouteOps } from './worker-routes.js';

/** Where a pool address may be routed: the configured subnet it lies in (its gateway address is `address`). */
export function poolOf(addr: number, subnets: Iterable<Ipv4Cidr>): Ipv4Cidr | null {
  for (const c of subnets) {
    const mask = prefixToMask(c.prefix);
    const net = networkOf(c);
    if (((addr & mask) >>> 0) !== net) continue;
    const broadcast = (net | ~mask) >>> 0;
    if (addr === net || addr === broadcast || addr === c.address) return null;
    return c;
  }
  return null;
}

export class LeaseRoutes {
  /** address -> worker index whose TUN the /32 points at */
  private readonly owner = new Map<number, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    /** TUN name of each worker */
    private readonly tuns: readonly string[],
    /** the pool subnets of the running configuration */
    private readonly subnets: () => Iterable<Ipv4Cidr>,
    /** rtnetlink or ip(8) (worker-routes.ts) */
    private readonly ops: RouteOps,
  ) {}

  /** Routes `addr` to worker `w`'s TUN; resolves with how. Rejects with a reason worded for the log. */
  route(addr: number, w: number): Promise<'rtnetlink' | 'ip'> {
    const pool = poolOf(addr, this.subnets());
    if (pool === null) return Promise.reject(new Error(`${formatIpv4(addr)} is not a client address of a configured pool`));
    return this.run(async () => {
      // src: what the gateway answers from when it talks to the client itself (the pool's
      // gateway address; the TUN of a worker other than 0 has no address of its own).
      const via = await this.ops.replace(addr, this.tuns[w]!, pool.address);
      this.owner.set(addr, w);
      return via;
    });
  }

  /** Removes `addr`'s route if it still points at worker `w` (a reconnect elsewhere may have moved it). */
  unroute(addr: number, w: number): Promise<void> {
    return this.run(async () => {
      if (this.owner.get(addr) !== w) return;
      this.owner.delete(addr);
      await this.ops.remove(addr, this.tuns[w]!).catch(() => undefined); // gone with its TUN already
    });
  }

  get size(): number {
    return this.owner.size;
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
