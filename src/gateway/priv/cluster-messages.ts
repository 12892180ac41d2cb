/**
 * The `cluster-*` messages of the privileged channel (issue 12 §2). The privileged process owns
 * the RedisStore and the node registry (cluster/agent.ts); the network process reports its load
 * and drain state and learns the live nodes (load balancing, `ctl status`) and which of its
 * sessions another node adopted. As for every message from the network process, the privileged
 * side accepts only these shapes with bounded numbers.
 */
import type { NodeInfo } from '../state/cluster-types.js';
import { BOUNDS, Checker } from './validate.js';

/** network process -> privileged process (fire and forget) */
export type ClusterReport = { t: 'cluster-load'; sessions: number; tunnels: number; draining: boolean };

/** privileged process -> network process */
export type ClusterNotice =
  /** the live nodes (this one included) and whether Redis answers */
  | { t: 'cluster-nodes'; nodes: NodeInfo[]; redis: boolean }
  /**
   * workers > 1: the load of this node's other workers, as they last reported it, so that a
   * worker balances and reports on the whole node's load, not only its own share
   */
  | { t: 'cluster-peers'; sessions: number; tunnels: number }
  /** another node (`to`) adopted this session: drop its tunnel here, keep nothing */
  | { t: 'cluster-drop'; cookieHash: string; to: string }
  /**
   * Redis is back after an outage: write every session this node carries, and its lease, again
   * (a Redis that came back without its data learns them anew; one that kept them is unchanged).
   */
  | { t: 'cluster-resync' };

const check: Checker = new Checker('network process sent an invalid cluster message');

/** Validates a `cluster-*` frame from the network process. Throws ChannelProtocolError. */
export function parseClusterReport(v: Record<string, unknown>): ClusterReport {
  if (v['t'] !== 'cluster-load') check.fail(`unknown type ${JSON.stringify(String(v['t']).slice(0, 40))}`);
  check.onlyKeys(v, ['t', 'sessions', 'tunnels', 'draining']);
  return {
    t: 'cluster-load',
    sessions: check.int(v['sessions'], 'sessions', 0, BOUNDS.liveCount),
    tunnels: check.int(v['tunnels'], 'tunnels', 0, BOUNDS.liveCount),
    draining: check.bool(v['draining'], 'draining'),
  };
}
