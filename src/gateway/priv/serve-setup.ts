/**
 * What the privileged process (parent.ts) works out before and while it starts the network
 * processes, each a pure function of the config or the environment (but the TUN's addresses):
 * what `serve` lacks to start, the config the network process may see, the pool subnets on the
 * TUN, how many workers and their TUN names, a listening socket handed down by a supervisor.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { envFlagOn } from '../../os/env-flag.js';
import { addrAdd, IpError } from '../../os/ip.js';
import { CAP, hasCap, readProcStatus } from '../../os/proc-status.js';
import { formatCidr, type Ipv4Cidr } from '../../protocol/ipv4.js';
import type { GatewayConfig } from '../config.js';
import type { ServedProfile } from '../http-connection.js';
import { redactedUrl } from '../state/redacted-url.js';
import type { ProfileWire } from './messages.js';

function unprivilegedPortStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  } catch {
    return 1024;
  }
}

/** What `serve` needs and this process lacks, one line each; empty when it can start. */
export function missingPrivileges(cfg: GatewayConfig, st = readProcStatus('self')): string[] {
  const lacks: string[] = [];
  const need = (cap: number, name: string, why: string): void => {
    if (!hasCap(st.capEff, cap)) lacks.push(`${name}: ${why}`);
  };
  need(CAP.NET_ADMIN, 'CAP_NET_ADMIN', `to create the TUN device (${cfg.tun.name}) and give it the pool addresses`);
  const low = Math.min(cfg.listen.port, cfg.dtls.enabled ? cfg.dtls.port : cfg.listen.port);
  if (low < unprivilegedPortStart()) need(CAP.NET_BIND_SERVICE, 'CAP_NET_BIND_SERVICE', `to bind port ${low}`);
  need(CAP.SETUID, 'CAP_SETUID', `to run the network process as run-as-user ${cfg.runAsUser}`);
  need(CAP.SETGID, 'CAP_SETGID', `to run the network process as run-as-group ${cfg.runAsGroup}`);
  need(CAP.SETPCAP, 'CAP_SETPCAP', "to empty the network process's capability bounding set");
  if (st.uid[1] !== 0) lacks.unshift(`root (uid 0; this is uid ${st.uid[1]}): the state folder ${cfg.state} and its secrets belong to root`);
  return lacks;
}

/** tun.offload from the configuration, unless SSLGATE_TUN_OFFLOAD=0 (or false/off) says no. */
export function tunOffloadWanted(cfg: GatewayConfig, env: NodeJS.ProcessEnv = process.env): boolean {
  return envFlagOn('SSLGATE_TUN_OFFLOAD', env) && cfg.tun.offload;
}

/**
 * The config as the network process gets it. The auth servers (addresses, RADIUS secrets, LDAP
 * bind passwords) are cut: logins run in this process (auth/backends.ts).
 */
export function networkView(cfg: GatewayConfig): unknown {
  // The Redis password stays here too: the network process only needs the node's name and address.
  const cluster = cfg.cluster ? { ...cfg.cluster, redis: redactedUrl(cfg.cluster.redis) } : undefined;
  return JSON.parse(JSON.stringify({ ...cfg, authServers: {}, ...(cluster ? { cluster } : {}) })) as unknown;
}

export function profileWire(p: ServedProfile | null): ProfileWire | null {
  return p ? { uri: p.uri, sha1: p.sha1, content: p.content.toString('base64') } : null;
}

export function subnetsOf(cfg: GatewayConfig): Map<string, Ipv4Cidr> {
  const m = new Map<string, Ipv4Cidr>();
  m.set(formatCidr(cfg.network.address), cfg.network.address);
  for (const g of cfg.groups) m.set(formatCidr(g.network.address), g.network.address);
  return m;
}

export async function addSubnet(tun: string, c: string): Promise<void> {
  // A subnet dropped by an earlier reload may still be on the TUN: "File exists" is fine.
  await addrAdd(tun, c).catch((e: unknown) => {
    if (!(e instanceof IpError && /exists/i.test(e.stderr))) throw e;
  });
}

/** `workers` from the config: 'auto' is one per CPU this process may use (taskset is honoured). */
export function resolveWorkers(w: number | 'auto', cpus = availableParallelism()): number {
  return w === 'auto' ? Math.max(1, Math.min(cpus, 64)) : w;
}

/**
 * The TUN of worker i > 0: the same pattern when the configured name has one (the kernel
 * numbers it), else the name with "-i" (cut to the 15-byte limit).
 */
export function workerTunName(base: string, i: number): string {
  if (base.includes('%d')) return base;
  const suffix = `-${i}`;
  return base.slice(0, 15 - suffix.length) + suffix;
}

/** The listening socket a supervising `serve` passed on (serve-supervisor.ts), if it is for `cfg.listen`. */
export function inheritedListenFd(cfg: GatewayConfig, env: NodeJS.ProcessEnv = process.env): number | null {
  const fd = Number(env['SSLGATE_LISTEN_FD']);
  if (!Number.isInteger(fd) || fd < 3) return null;
  // A config whose listen address changed binds anew (the old port stays with the supervisor).
  return env['SSLGATE_LISTEN_ADDR'] === `${cfg.listen.host}:${cfg.listen.port}` ? fd : null;
}
