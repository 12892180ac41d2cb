/**
 * `ctl sessions` in a cluster (pure): this node's sessions in full (session-view.ts), plus every
 * other session of the shared store as far as the store knows it (no live channel details: those
 * live on the node that carries the tunnel), each with the node that holds or last held it.
 */
import { formatIpv4 } from '../../protocol/ipv4.js';
import type { SessionView } from '../ops/session-view.js';
import type { SessionRecord } from '../state/types.js';

/**
 * worker: which network process carries it (workers > 1); source 'store': seen in the store
 * only (another node's, or a worker that did not answer in time), without live details.
 */
export type ClusterSessionView = SessionView & { node: string; worker?: number; source?: 'store' };

/** A stored session seen from another node. */
export function recordView(r: SessionRecord, now = Date.now()): ClusterSessionView {
  const connected = r.disconnectedAt === null;
  return {
    id: r.id,
    user: r.user,
    group: r.group,
    state: connected ? 'connected' : 'disconnected',
    address: r.address === null ? null : formatIpv4(r.address),
    remote: r.remote,
    userAgent: r.userAgent,
    since: new Date(r.createdAt).toISOString(),
    connectedSince: null,
    channel: null,
    routes: r.attrs.routes ?? [],
    bytesIn: r.rxBytes,
    bytesOut: r.txBytes,
    packetsIn: r.rxPackets,
    packetsOut: r.txPackets,
    dropsOut: 0,
    reconnects: 0,
    idleSeconds: Math.max(0, Math.round((now - r.lastActivity) / 1000)),
    idleTimeout: r.limits.idleTimeout,
    sessionTimeout: r.limits.sessionTimeout,
    node: r.node,
  };
}

/**
 * This node's views (node = `self`) and the store's records of every other session, by id. A
 * record this node also has is shown from here (it knows the live channel).
 */
export function clusterSessions(local: Array<SessionView & { worker?: number }>, records: SessionRecord[], self: string, filter: (v: SessionView) => boolean, now = Date.now()): ClusterSessionView[] {
  const out = new Map<number, ClusterSessionView>();
  for (const r of records) {
    const v = recordView(r, now);
    if (filter(v)) out.set(v.id, { ...v, source: 'store' });
  }
  for (const v of local) out.set(v.id, { ...v, node: self });
  return [...out.values()].sort((a, b) => a.id - b.id);
}
