/**
 * The environment a vpnc-script gets, as openconnect sets it (`script.c` prepare_script_env,
 * documented at the top of Debian's /usr/share/vpnc-scripts/vpnc-script), so Debian's
 * vpnc-scripts configure the host for us exactly as for openconnect:
 *
 *   reason            pre-init | connect | disconnect | attempt-reconnect | reconnect
 *   VPNGATEWAY        the gateway's IP as connected;  VPNPID, TUNDEV, LOG_LEVEL, IDLE_TIMEOUT
 *   INTERNAL_IP4_*    ADDRESS, MTU, NETMASK, NETMASKLEN, NETADDR, DNS (≤3), NBNS (≤3)
 *   INTERNAL_IP6_*    ADDRESS, NETMASK (address/prefix)
 *   CISCO_*           DEF_DOMAIN, BANNER, SPLIT_DNS, SPLIT_INC/EXC(_n_ADDR/_MASK/_MASKLEN),
 *                     IPV6_SPLIT_INC/EXC(_n_ADDR/_MASKLEN), CSTP_OPTIONS
 *
 * Pure: returns the variables; the runner (src/os/vpnc-script.ts) merges them into a copy of
 * the process environment after removing stale ones.
 */
import type { TunnelParams } from '../protocol/connect-headers.js';
import { formatIpv4, maskToPrefix, networkOf, parseIpv4, parseIpv4Cidr, prefixToMask } from '../protocol/ipv4.js';

export type ScriptReason = 'pre-init' | 'connect' | 'disconnect' | 'attempt-reconnect' | 'reconnect';

export interface ScriptEnvInput {
  reason: ScriptReason;
  tundev: string;
  /** VPNGATEWAY: the gateway IP we are connected to */
  gateway: string;
  pid: number;
  /** 0 error .. 3 trace (openconnect ≥9 LOG_LEVEL) */
  logLevel: number;
  /** absent before the tunnel parameters are known (pre-init) */
  params?: TunnelParams;
  /** interface MTU */
  mtu?: number;
  /** every X-CSTP-* response header, for CISCO_CSTP_OPTIONS */
  cstpOptions?: Array<[string, string]>;
}

function splitVars(env: Record<string, string>, kind: 'INC' | 'EXC', routes: string[], routes6: string[]): void {
  let n4 = 0;
  let n6 = 0;
  for (const r of [...routes, ...routes6]) {
    if (r.includes(':')) {
      const [addr, len] = r.split('/');
      env[`CISCO_IPV6_SPLIT_${kind}_${n6}_ADDR`] = addr!;
      env[`CISCO_IPV6_SPLIT_${kind}_${n6}_MASKLEN`] = len ?? '128';
      n6++;
      continue;
    }
    const c = parseIpv4Cidr(r);
    if (!c) continue; // openconnect discards a bad split route too
    // ADDR is the text before the slash, as openconnect passes it.
    env[`CISCO_SPLIT_${kind}_${n4}_ADDR`] = r.split('/')[0]!.trim();
    env[`CISCO_SPLIT_${kind}_${n4}_MASK`] = formatIpv4(prefixToMask(c.prefix));
    env[`CISCO_SPLIT_${kind}_${n4}_MASKLEN`] = String(c.prefix);
    n4++;
  }
  if (n4) env[`CISCO_SPLIT_${kind}`] = String(n4);
  if (n6) env[`CISCO_IPV6_SPLIT_${kind}`] = String(n6);
}

export function vpncScriptEnv(i: ScriptEnvInput): Record<string, string> {
  const env: Record<string, string> = {
    reason: i.reason,
    VPNGATEWAY: i.gateway,
    VPNPID: String(i.pid),
    TUNDEV: i.tundev,
    LOG_LEVEL: String(i.logLevel),
  };
  const p = i.params;
  if (!p) return env;
  if (p.idleTimeout !== null) env['IDLE_TIMEOUT'] = String(p.idleTimeout);
  if (p.banner) env['CISCO_BANNER'] = p.banner;
  env['INTERNAL_IP4_MTU'] = String(i.mtu ?? p.mtu);
  if (p.address) {
    env['INTERNAL_IP4_ADDRESS'] = p.address;
    const addr = parseIpv4(p.address);
    const mask = parseIpv4(p.netmask);
    const len = mask === null ? null : maskToPrefix(mask);
    if (addr !== null && mask !== null && len !== null) {
      env['INTERNAL_IP4_NETADDR'] = formatIpv4(networkOf({ address: addr, prefix: len }));
      env['INTERNAL_IP4_NETMASK'] = p.netmask;
      env['INTERNAL_IP4_NETMASKLEN'] = String(len);
    }
  }
  if (p.addressIp6) {
    // X-CSTP-Address-IP6 is "addr/prefix": openconnect passes it as the netmask and the address
    // before the slash.
    const [a6] = p.addressIp6.split('/');
    env['INTERNAL_IP6_ADDRESS'] = a6!;
    env['INTERNAL_IP6_NETMASK'] = p.addressIp6.includes('/') ? p.addressIp6 : `${p.addressIp6}/128`;
  }
  // openconnect keeps the first three DNS servers of either family in INTERNAL_IP4_DNS.
  if (p.dns.length) env['INTERNAL_IP4_DNS'] = p.dns.slice(0, 3).join(' ');
  if (p.nbns.length) env['INTERNAL_IP4_NBNS'] = p.nbns.slice(0, 3).join(' ');
  if (p.defaultDomain) env['CISCO_DEF_DOMAIN'] = p.defaultDomain;
  if (p.splitDns.length) env['CISCO_SPLIT_DNS'] = p.splitDns.join(',');
  splitVars(env, 'INC', p.splitInclude, p.splitIncludeIp6);
  splitVars(env, 'EXC', p.splitExclude, p.splitExcludeIp6);
  if (i.cstpOptions?.length) env['CISCO_CSTP_OPTIONS'] = i.cstpOptions.map(([k, v]) => `${k}=${v}\n`).join('');
  return env;
}
