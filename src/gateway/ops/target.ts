/**
 * What the operations layer (control API, metrics) needs from the running gateway. The Gateway
 * class satisfies it as is; unit tests pass a small fake.
 */
import type { BanGuard } from '../ban-guard.js';
import type { DtlsListenerCounters } from '../dtls-listener.js';
import type { GatewayConfig } from '../config.js';
import type { IpPool } from '../ip-pool.js';
import type { ReloadResult } from '../reload.js';
import type { RouterCounters } from '../router.js';
import type { TunOffloadCounters } from '../../os/tun.js';
import type { Session, SessionStore } from '../sessions.js';
import type { GatewayEvents } from './events.js';
import type { ClusterView } from '../cluster/view.js';
import type { StateStore } from '../state/types.js';

export interface OpsTarget {
  readonly sessions: SessionStore;
  readonly events: GatewayEvents;
  readonly startedAt: number;
  readonly gate: {
    readonly guard: BanGuard;
    readonly refused: Readonly<Record<string, number>>;
    /** connections not yet a tunnel: how many now, how many hit the auth deadline */
    readonly unauth: { readonly expired: number; count(): number };
  };
  /** the DTLS listener's counters; null when DTLS is off */
  readonly dtlsCounters: Readonly<DtlsListenerCounters> | null;
  readonly currentConfig: GatewayConfig;
  readonly routerCounters: RouterCounters | null;
  /** TUN read counters (offload super-packets and segments, drops) */
  readonly tunCounters: (TunOffloadCounters & { truncated: number; vnetHdr: boolean }) | null;
  readonly tlsConnections: number;
  /** group name -> pool */
  readonly pools: ReadonlyMap<string, IpPool>;
  endSession(s: Session, why: string): void;
  /** with `cluster:` (issue 12): the other nodes; null or absent on one machine */
  readonly cluster?: ClusterView | null;
  /** this node's name in the store's records (cluster.node, else the host name) */
  readonly node?: string;
  /** network processes sharing the clients (workers > 1: `ctl sessions` adds the store's records) */
  readonly workerCount?: number;
  /** where sessions live: the cluster's Redis lists every node's sessions */
  readonly store?: StateStore;
  /** `ctl drain` (cluster only) */
  drain?(on: boolean, graceSeconds?: number): unknown;
  reload(): Promise<ReloadResult>;
  /** session store writes that failed (issue 12: a full disk, Redis away) */
  readonly storeErrors?: number;
  /** `ctl restart` (issue 12): false when this gateway cannot restart itself */
  restart?(): boolean;
}
