/**
 * The `cluster:` key (issue 12): several gateways sharing sessions, address leases and bans
 * through one Redis. Without it nothing changes (the store is the one-machine store).
 *
 * ```yaml
 * cluster:
 *   redis: redis://127.0.0.1:6379   # redis:// or rediss:// (TLS); user:password@ allowed
 *   node: gw1                       # this node's name, unique in the cluster
 *   address: 10.77.0.11             # where clients reach THIS node (load-balancing redirects)
 *   balance: false                  # true: logins may be redirected to the least-loaded node
 * ```
 */
import type { Reader } from './config.js';

export interface ClusterConfig {
  redis: string;
  node: string;
  /** an IPv4 address or a host name, optionally with :port */
  address: string;
  balance: boolean;
}

const KEYS = ['redis', 'node', 'address', 'balance'];
/** A DNS name (RFC 1123 labels) or an IPv4 address, optionally with a port. */
const HOST = /^(?=.{1,253}(?::\d{1,5})?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::(\d{1,5}))?$/;

/** undefined when the file has no `cluster` key. */
export function readClusterConfig(r: Reader, v: unknown): ClusterConfig | undefined {
  if (v === undefined || v === null) return undefined;
  const o = r.obj(v, 'cluster');
  r.known(o, 'cluster', KEYS);
  const redis = r.str(o['redis'], 'cluster.redis');
  if (redis === undefined) r.fail('cluster.redis', 'required: the URL of the Redis the nodes share, e.g. redis://127.0.0.1:6379');
  let url: URL;
  try {
    url = new URL(redis);
  } catch {
    return r.fail('cluster.redis', `expected a URL like redis://127.0.0.1:6379, got ${JSON.stringify(redis)}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') r.fail('cluster.redis', `expected a redis:// or rediss:// URL, got ${JSON.stringify(redis)}`);
  if (!url.hostname) r.fail('cluster.redis', `the URL names no host: ${JSON.stringify(redis)}`);
  const node = r.str(o['node'], 'cluster.node');
  if (node === undefined) r.fail('cluster.node', "required: this node's name, unique in the cluster (e.g. gw1)");
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(node)) r.fail('cluster.node', `expected 1-64 letters, digits, dot, dash or underscore, got ${JSON.stringify(node)}`);
  const address = r.str(o['address'], 'cluster.address');
  if (address === undefined) r.fail('cluster.address', 'required: the address clients reach this node at (the target of load-balancing redirects), e.g. 10.77.0.11');
  const m = HOST.exec(address);
  if (!m || (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535))) r.fail('cluster.address', `expected an IPv4 address or host name (optionally :port), got ${JSON.stringify(address)}`);
  const balance = o['balance'];
  if (balance !== undefined && typeof balance !== 'boolean') r.fail('cluster.balance', `expected true or false, got ${JSON.stringify(balance)}`);
  return { redis, node, address, balance: balance === true };
}
