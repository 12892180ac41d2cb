/**
 * X-CSTP-Base-MTU: the client's estimate of the link MTU to the gateway (§4.1). openconnect reads
 * TCP_INFO's path MTU; Node cannot, so we take the MTU of the interface that carries the TLS
 * connection (found by its local address: no process spawned on the connect path), and fall
 * back to openconnect's default of 1406 when that fails. Floor 1280, as openconnect.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

export const DEFAULT_BASE_MTU = 1406;

export function baseMtuFor(localAddress: string | undefined): number {
  if (!localAddress) return DEFAULT_BASE_MTU;
  const addr = localAddress.replace(/^::ffff:/, '');
  for (const [name, list] of Object.entries(networkInterfaces())) {
    if (!list?.some((a) => a.address === addr)) continue;
    try {
      const mtu = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
      if (Number.isInteger(mtu) && mtu >= 576) return Math.max(1280, mtu);
    } catch {
      // not Linux sysfs: use the default
    }
  }
  return DEFAULT_BASE_MTU;
}
