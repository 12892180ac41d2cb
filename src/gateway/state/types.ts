/**
 * The gateway's durable, shareable state (issue 12): sessions, address leases, bans and
 * accounting checkpoints. One interface, three homes:
 *   - memory: tests and `state: none`-style runs (nothing survives);
 *   - sqlite: one machine (the default; a file in the state folder) — survives kill -9 and
 *     `sslgate ctl restart`;
 *   - redis: a cluster (`cluster: { redis: ... }`) — shared by every node.
 *
 * The store lives in the privileged process (priv/parent.ts), like ocserv's main/sec-mod keep the
 * session database: the network process(es) ask it over the channel (`state-*` messages) and keep
 * only a cache of the sessions whose tunnels they carry. So one machine with several network
 * processes (issue 11's cores) and several machines (issue 12's cluster) resolve a cookie the
 * same way: a local miss asks the store.
 *
 * The cookie itself is never stored: records are keyed by `cookieHash` (hex SHA-256 of the
 * `webvpn` cookie value), so a copy of the database cannot be replayed as a login.
 */
import type { SessionAttributes } from '../auth/types.js';

/** Limits fixed at login (sessions.ts SessionLimits, repeated here so the store has no gateway import). */
export interface StoredLimits {
  /** seconds without data from the client; null = none */
  idleTimeout: number | null;
  /** absolute lifetime in seconds; null = none */
  sessionTimeout: number | null;
}

/** What survives a restart and what the nodes of a cluster share, for one session. */
export interface SessionRecord {
  /** hex SHA-256 of the webvpn cookie: the key */
  cookieHash: string;
  /** the <session-id> and the number in logs/ctl; unique in the store (cluster-wide) */
  id: number;
  user: string;
  group: string;
  /** the login's source address */
  remote: string;
  userAgent: string;
  /** ms since the epoch */
  createdAt: number;
  limits: StoredLimits;
  attrs: SessionAttributes;
  methods: string[];
  loginMessages: string[];
  /** the leased tunnel address (IPv4 as an unsigned number); null before the first CONNECT */
  address: number | null;
  /** the node (cluster.node; the host name on one machine) holding, or last holding, its tunnel */
  node: string;
  /** ms; null while a tunnel is up (the reconnect window counts from here) */
  disconnectedAt: number | null;
  /** ms: last data from the client (idle-timeout) */
  lastActivity: number;
  /** accounting checkpoint: traffic of the session so far (ended tunnels + last checkpoint of the live one) */
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

/** A ban or user lock (ban-guard.ts), shared so a ban made on one node holds on all. */
export interface BanRecord {
  kind: 'address' | 'user';
  /** address-key.ts form for addresses; the user name for locks */
  key: string;
  /** ms since the epoch */
  until: number;
}

/** The pool an address is leased from: the group's name and its subnet (for range checks). */
export interface PoolRef {
  name: string;
  /** "10.77.0.0/24" */
  cidr: string;
}

export interface StateStore {
  readonly kind: 'memory' | 'sqlite' | 'redis';
  /** A fresh session id, unique in the store. */
  nextSessionId(): Promise<number>;
  putSession(r: SessionRecord): Promise<void>;
  getSession(cookieHash: string): Promise<SessionRecord | null>;
  deleteSession(cookieHash: string): Promise<void>;
  listSessions(): Promise<SessionRecord[]>;
  /**
   * The address leased to `holder` (a cookieHash) in `pool`, leasing one if it has none
   * (preferring `hint` when free); null when the pool is full. Never the same address to two
   * holders, across every node sharing the store.
   */
  lease(pool: PoolRef, holder: string, hint?: number): Promise<number | null>;
  release(pool: PoolRef, holder: string): Promise<void>;
  /**
   * The address leased to `holder` in `pool`, or null; never leases (the privileged process
   * checks a worker's route request against it). The three real stores have it; the network
   * process's view of the store does not.
   */
  leasedTo?(pool: PoolRef, holder: string): Promise<number | null>;
  putBan(b: BanRecord): Promise<void>;
  deleteBan(kind: BanRecord['kind'], key: string): Promise<void>;
  listBans(): Promise<BanRecord[]>;
  close(): Promise<void>;
}
