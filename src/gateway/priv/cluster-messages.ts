/**
 * The `cluster-*` messages of the privileged channel (issue 12 §2). The privileged process owns
 * the RedisStore and the node registry (cluster/agent.ts); the network process reports its load
 * and drain state and learns the live nodes (load balancing, `ctl status`) and which of its
 * sessions another node adopted. As for every message from the network process, the privileged
 * side accepts only these shapes with bounded numbers.
 */
import type { NodeInfo } from '../state/cluster-types.js';

/** network process -> privileged process (fire and forget) */
export type ClusterReport = { t: 'cluster-load'; sessions: number; tunnels: number; draining: boolean };

/** privileged process -> network process */
export type ClusterNotice =
  /** the live nodes (this one included) and whether Redis answers */
  | { t: 'cluster-nodes'; nodes: NodeInfo[]; redis: boolean }
  /** another node (`to`) adopted this session: drop its tunnel here, keep nothing */
  | { t: 'cluster-drop'; cookieHash: string; to: string }
  /**
   * Redis is back after an outage: write every session this node carries, and its lease, again
   * (a Redis that came back without its data learns them anew; one that kept them is unchanged).
   */
  | { t: 'cluster-resync' };

export class ClusterMessageError extends Error {
  constructor(message: string) {
    super(`network process sent an invalid cluster message: ${message}`);
    this.name = 'ChannelProtocolError';
  }
}

const MAX_COUNT = 10_000_000;

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_COUNT) throw new ClusterMessageError(`${what} must be a whole number from 0 to ${MAX_COUNT}`);
  return v;
}

/** Validates a `cluster-*` frame from the network process. Throws ClusterMessageError. */
export function parseClusterReport(v: Record<string, unknown>): ClusterReport {
  if (v['t'] !== 'cluster-load') throw new ClusterMessageError(`unknown type ${JSON.stringify(String(v['t']).slice(0, 40))}`);
  for (const k of Object.keys(v)) if (!['t', 'sessions', 'tunnels', 'draining'].includes(k)) throw new ClusterMessageError(`unexpected key ${JSON.stringify(k.slice(0, 40))}`);
  if (typeof v['draining'] !== 'boolean') throw new ClusterMessageError('draining must be true or false');
  return { t: 'cluster-load', sessions: count(v['sessions'], 'sessions'), tunnels: count(v['tunnels'], 'tunnels'), draining: v['draining'] };
}
