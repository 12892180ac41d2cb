/**
 * Live reload (SIGHUP, `ctl reload`): the privileged process re-reads the config file, the
 * profile and the user store (priv/parent.ts); planReload() decides what the running gateway
 * adopts. Everything is read and validated first; a problem throws (ConfigError names the key)
 * and the gateway keeps its old state untouched.
 *
 * What applies: groups, routes, DNS, banners, profile, timeouts, limits, bans, log level, users.
 * New values reach new sessions; live sessions keep the group/network they logged in with
 * (they hold their own GroupConfig and pool). Keys bound to sockets or the TUN at start
 * (listen, tls, state, tun, mtu, dtls, admin, metrics) keep their old value until a restart and
 * are reported as `restartNeeded`.
 */
import { readFileSync } from 'node:fs';
import { formatCidr, formatIpv4, networkOf, prefixToMask, type Ipv4Cidr } from '../protocol/ipv4.js';
import { profileManifest } from '../protocol/profile.js';
import { loadConfig, type GatewayConfig } from './config.js';
import type { ServedProfile } from './http-connection.js';
import { IpPool } from './ip-pool.js';

/** A reload that cannot be applied although the file is valid (e.g. a pool still in use). */
export class ReloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReloadError';
  }
}

export interface ReloadPlan {
  /** the config to run with: the new one, with restart-only keys kept at their old values */
  config: GatewayConfig;
  profile: ServedProfile | null;
  /** group name -> pool; pools whose subnet did not change are the same objects (leases kept) */
  pools: Map<string, IpPool>;
  /** pool subnets to add to the TUN device */
  newSubnets: Ipv4Cidr[];
  /** top-level keys whose value changed and were applied */
  changed: string[];
  /** keys that changed but need a restart */
  restartNeeded: string[];
}

const RESTART_KEYS = ['listen', 'tls', 'state', 'runAsUser', 'runAsGroup', 'tun', 'workers', 'mtu', 'dtls', 'admin', 'metrics', 'cluster'] as const;

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const m = prefixToMask(Math.min(a.prefix, b.prefix));
  return ((a.address & m) >>> 0) === ((b.address & m) >>> 0);
}

export function readProfile(file: string | undefined): ServedProfile | null {
  if (!file) return null;
  const content = readFileSync(file);
  const m = profileManifest(file, content);
  return { uri: m.uri, sha1: m.sha1, content };
}

/**
 * Reload step 1, in the privileged process: the config file and the profile read and validated
 * again. Throws ConfigError (names the key) or ReloadError.
 */
export function readForReload(cur: GatewayConfig): { config: GatewayConfig; profile: ServedProfile | null } {
  if (!cur.file) throw new ReloadError('the gateway runs on the embedded defaults (no --config file): nothing to re-read');
  const config = loadConfig(cur.file);
  try {
    return { config, profile: readProfile(config.profile) };
  } catch (e) {
    throw new ReloadError(`profile: cannot read ${config.profile}: ${(e as Error).message}`);
  }
}

/**
 * Decides what a reload changes, from the running config `cur` and the one just read (`next`,
 * with its `profile`). `livePools`: every pool that may hold leases (the current groups' and
 * those of live sessions). Throws ReloadError.
 */
export function planReload(cur: GatewayConfig, next: GatewayConfig, profile: ServedProfile | null, livePools: Iterable<IpPool>): ReloadPlan {
  const restartNeeded: string[] = [];
  const effective: GatewayConfig = { ...next };
  const keep = effective as unknown as Record<string, unknown>;
  const old = cur as unknown as Record<string, unknown>;
  for (const k of RESTART_KEYS) {
    if (!(k in old)) continue;
    if (!same(old[k], keep[k])) restartNeeded.push(k);
    keep[k] = old[k];
  }
  const changed = Object.keys(keep).filter((k) => !RESTART_KEYS.includes(k as (typeof RESTART_KEYS)[number]) && !same(old[k], keep[k]));


  const known = new Map<string, IpPool>();
  for (const p of livePools) known.set(formatCidr(p.subnet), p);
  const pools = new Map<string, IpPool>();
  const newSubnets: Ipv4Cidr[] = [];
  const created = new Map<string, IpPool>();
  for (const g of effective.groups) {
    const key = formatCidr(g.network.address);
    let pool = known.get(key) ?? created.get(key);
    if (!pool) {
      // A new subnet must not overlap one that still has leases: two pools could hand out one address.
      for (const p of known.values()) {
        if (p.used > 0 && overlaps(p.subnet, g.network.address)) {
          throw new ReloadError(
            `groups: ${g.name}'s network ${formatIpv4(networkOf(g.network.address))}/${g.network.address.prefix} overlaps pool ${formatCidr(p.subnet)}, ` +
              `which still has ${p.used} address(es) leased; keep the old network until they end, or restart`,
          );
        }
      }
      pool = new IpPool(g.network.address);
      created.set(key, pool);
      newSubnets.push(g.network.address);
    }
    pools.set(g.name, pool);
  }
  if (!known.has(formatCidr(effective.network.address)) && !created.has(formatCidr(effective.network.address))) newSubnets.push(effective.network.address);
  return { config: effective, profile, pools, newSubnets, changed, restartNeeded };
}

export interface ReloadResult {
  ok: boolean;
  /** why it was refused (the running configuration stays) */
  error?: string;
  changed: string[];
  restartNeeded: string[];
}
