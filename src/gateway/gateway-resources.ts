/**
 * What a network process's Gateway (gateway.ts) is given: what the privileged process does for
 * it (PrivilegedOps, over the channel: priv/privileged-client.ts) and what it gets ready-made
 * (GatewayResources: the TUN, the TLS identity, the profile, the store, the worker mesh).
 */
import type { TunDevice } from '../os/tun.js';
import type { Ipv4Cidr } from '../protocol/ipv4.js';
import type { AcctCause, AcctEvent, AcctRecord } from './auth/accounting-record.js';
import type { Authenticator } from './auth/types.js';
import type { GatewayConfig } from './config.js';
import type { ServedProfile } from './http-connection.js';
import type { ClusterReport } from './priv/cluster-messages.js';
import type { StateStore } from './state/types.js';
import type { TlsIdentity } from './tls-cert.js';
import type { ClientCaFiles } from './tls-client-ca.js';
import type { WorkerMesh } from './worker-mesh.js';

/** What the privileged process does for the network process (priv/privileged-client.ts). */
export interface PrivilegedOps extends Authenticator {
  /** RADIUS accounting about a session (the privileged process holds the secret); never throws */
  account(event: AcctEvent, record: AcctRecord, cause?: AcctCause): void;
  /** Reload step 1: the config file, profile and user store read and validated again. */
  readConfig(): Promise<{ config: GatewayConfig; profile: ServedProfile | null; users: number; clientCa?: ClientCaFiles | null }>;
  /** Reload step 2: these pool subnets (of the config just read) go on the TUN device. */
  addSubnets(cidrs: Ipv4Cidr[]): Promise<void>;
  /** Reload step 3: the new config is adopted; the user store switches too. */
  commitReload(): Promise<void>;
  /** `ctl restart`: the privileged process hands the sessions over to a new gateway process. */
  restart?(): void;
}

/** Everything the gateway gets ready-made from the privileged process. */
export interface GatewayResources {
  identity: TlsIdentity;
  /** PEM of the CAs whose client certificates are requested (tls.client-ca) */
  clientCaPem: string | null;
  /** PEM of their revocation lists (tls.crl) */
  clientCrlPem?: string | null;
  profile: ServedProfile | null;
  /** the TUN device, already configured with the pool subnets and up */
  tun: TunDevice;
  /** the TUN's MTU: no packet read from it is longer (tunnel-setup.ts runFrame) */
  tunMtu?: number;
  priv: PrivilegedOps;
  /** config `workers` > 1: this process is one of several (worker-mesh.ts) */
  mesh?: WorkerMesh;
  /**
   * Where sessions, leases and bans live (issue 12): in `sslgate serve` the privileged process's
   * store over the channel (priv/remote-store.ts); memory when absent (tests).
   */
  store?: StateStore;
  /** this gateway's name in session records (the host name by default; cluster.node in a cluster) */
  node?: string;
  /** with `cluster:`: reports this node's load and drain state to the privileged process */
  clusterReport?: (r: ClusterReport) => void;
  /** the TLS port, already listening (bound by the privileged process); absent: listen() binds it */
  listenFd?: number;
}
