/**
 * The TUN devices of `serve`: one per worker (lease-routes.ts), created by the privileged
 * process and handed to the network processes as fd 4. Worker 0's carries the pool subnets, as
 * with one worker; the others are named `<tun>-1`, `-2`, ... (serve-setup.ts workerTunName).
 */
import type { Logger } from '../../log.js';
import { addrAdd, linkSetUp } from '../../os/ip.js';
import { createTunInterface } from '../../os/tun.js';
import { formatIpv4, networkOf } from '../../protocol/ipv4.js';
import type { GatewayConfig } from '../config.js';
import { subnetsOf, tunOffloadWanted, workerTunName } from './serve-setup.js';

/** A TUN device this process opened; fd -1 once handed to its network process. */
export interface WorkerTun {
  fd: number;
  name: string;
  offload: number;
}

/**
 * Creates `count` TUN devices into `tuns` (the caller closes what is there on an error), adds
 * the pool subnets to the first and sets every one up with `mtu`.
 */
export async function openWorkerTuns(cfg: GatewayConfig, count: number, mtu: number, tuns: WorkerTun[], log: Logger): Promise<void> {
  const offload = tunOffloadWanted(cfg);
  tuns.push(createTunInterface(cfg.tun.name, false, offload));
  const first = tuns[0]!.name;
  for (let i = 1; i < count; i++) tuns.push(createTunInterface(workerTunName(first, i), false, offload));
  const subnets = subnetsOf(cfg);
  for (const c of subnets.keys()) await addrAdd(first, c);
  // The TUN's MTU bounds what the kernel sends us; TLS 1.2 AES-GCM is the larger overhead
  // among the ciphers we negotiate, so every client's MTU is at least this.
  for (const t of tuns) await linkSetUp(t.name, mtu);
  log.info(
    { tun: first, offload: tuns[0]!.offload, subnets: [...subnets.values()].map((c) => `${formatIpv4(networkOf(c))}/${c.prefix}`), ...(count > 1 ? { workers: count, workerTuns: tuns.map((t) => t.name) } : {}) },
    'TUN device configured',
  );
}
