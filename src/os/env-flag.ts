/**
 * The environment switches that turn a fast path off for tests and A/B runs (SSLGATE_TUN_GRO,
 * SSLGATE_NETLINK, SSLGATE_UDP_RX_BATCH ...): one reading for all of them. Unset or anything
 * else is on; 0, false, off or no (any case, spaces ignored) is off.
 */
export function envFlagOn(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return !/^(0|false|off|no)$/i.test((env[name] ?? '').trim());
}
