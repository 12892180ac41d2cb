/** Human output of the cluster parts of `sslgate ctl` (status, drain). */
import { duration, keyValues, table } from './ctl-format.js';

export interface ClusterStatusJson {
  node: string;
  address: string;
  balance: boolean;
  draining: boolean;
  redis: { url: string; available: boolean };
  nodes: Array<{ node: string; address: string; port: number; sessions: number; tunnels: number; capacity: number; load: number | null; draining: boolean; self: boolean; lastSeenSeconds: number; upSeconds: number }>;
}

export function clusterText(c: ClusterStatusJson): string {
  const head = keyValues([
    ['cluster node', `${c.node} (${c.address})${c.draining ? ', DRAINING: no new sessions' : ''}`],
    ['redis', `${c.redis.url} ${c.redis.available ? 'available' : 'UNAVAILABLE: tunnels keep running, new logins fail'}`],
    ['load balancing', c.balance ? 'on (logins may be redirected to the least-loaded node)' : 'off'],
  ]);
  const rows = c.nodes.map((n) => [
    n.node + (n.self ? ' *' : ''),
    n.port === 443 ? n.address : `${n.address}:${n.port}`,
    String(n.sessions),
    String(n.tunnels),
    String(n.capacity),
    n.load === null ? '-' : `${(n.load * 100).toFixed(1)}%`,
    n.draining ? 'draining' : 'active',
    duration(n.upSeconds),
    `${n.lastSeenSeconds}s ago`,
  ]);
  return head + '\n' + (table(['NODE', 'ADDRESS', 'SESSIONS', 'TUNNELS', 'CAPACITY', 'LOAD', 'STATE', 'UP', 'SEEN'], rows) || 'no node has announced itself yet\n');
}
