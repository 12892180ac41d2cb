/**
 * What the nodes of a cluster (config `cluster:`) share beyond the StateStore: a registry of the
 * live nodes with their load (for `ctl status`, load balancing and drain) and a broadcast of
 * events every node must act on at once (a ban, a session that moved to another node).
 * RedisStore implements both over Redis (keys with a TTL, pub/sub).
 */
import type { BanRecord } from './types.js';

/** One node as the others see it; refreshed by its owner, gone when it stops refreshing. */
export interface NodeInfo {
  /** cluster.node */
  node: string;
  /** cluster.address: where clients reach this node (the redirect target of load balancing) */
  address: string;
  /** the TLS port clients connect to */
  port: number;
  /** sessions whose tunnel this node carries or last carried */
  sessions: number;
  /** live tunnels */
  tunnels: number;
  /** most sessions this node takes (limits.max-clients) */
  capacity: number;
  /** `ctl drain`: takes no new sessions */
  draining: boolean;
  /** ms since the epoch of the last refresh */
  updatedAt: number;
  /** ms since the epoch: when this node started */
  startedAt: number;
}

/** Broadcast to every node; `origin` is the sending node (a node ignores its own events). */
export type ClusterEvent =
  | { type: 'ban'; origin: string; ban: BanRecord }
  | { type: 'unban'; origin: string; kind: BanRecord['kind']; key: string }
  /** `to` adopted the session (a CONNECT with its cookie): `from` drops its tunnel, keeps nothing */
  | { type: 'session-moved'; origin: string; cookieHash: string; from: string; to: string }
  /** the session was ended on `origin` (terminate, logout): every node forgets it */
  | { type: 'session-ended'; origin: string; cookieHash: string };

export interface ClusterBus {
  /** this node's name */
  readonly node: string;
  /** Publishes (or refreshes) this node's entry; it expires unless refreshed within the TTL. */
  announce(info: NodeInfo): Promise<void>;
  /** Removes this node's entry at once (clean stop). */
  withdraw(): Promise<void>;
  /** The live nodes (entries not expired), this one included. */
  listNodes(): Promise<NodeInfo[]>;
  publish(ev: ClusterEvent): Promise<void>;
  /** Events of the other nodes; returns an unsubscribe function. */
  onEvent(fn: (ev: ClusterEvent) => void): () => void;
}
