/**
 * X-CSTP-Base-MTU: the client's estimate of the link MTU to the gateway (§4.1). openconnect reads
 * TCP_INFO's path MTU; Node cannot, so we take the MTU of the interface that carries the TLS
 * connection: found by its local address among os.networkInterfaces(), else (an interface not
 * yet "running" is missing there, route-interface.ts) by the kernel's route to the gateway
 * (IPv4) or its address table (IPv6) in /proc; no process spawned on the connect path. Falls
 * back to openconnect's default of 1406 when all fail. Floor 1280, as openconnect.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { addressInterfaceIpv6, routeInterfaceIpv4 } from './route-interface.js';

export const DEFAULT_BASE_MTU = 1406;

export function baseMtuFor(localAddress: string | undefined, remoteAddress?: string): number {
  if (!localAddress) return DEFAULT_BASE_MTU;
  const addr = localAddress.replace(/^::ffff:/, '');
  for (const [name, list] of Object.entries(networkInterfaces())) {
    if (list?.some((a) => a.address === addr)) return interfaceMtu(name) ?? DEFAULT_BASE_MTU;
  }
  const name = addr.includes(':') ? addressInterfaceIpv6(readProc('/proc/net/if_inet6'), addr) : remoteAddress ? routeInterfaceIpv4(readProc('/proc/net/route'), remoteAddress) : undefined;
  return (name !== undefined ? interfaceMtu(name) : undefined) ?? DEFAULT_BASE_MTU;
}

function interfaceMtu(name: string): number | undefined {
  if (!/^[^/\0]{1,15}$/.test(name) || name === '.' || name === '..') return undefined;
  try {
    const mtu = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
    if (Number.isInteger(mtu) && mtu >= 576) return Math.max(1280, mtu);
  } catch {
    // not Linux sysfs: use the default
  }
  return undefined;
}

function readProc(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
