/**
 * What a worker (one of several network processes, config `workers` > 1) needs from the
 * privileged process beyond PrivilegedOps: load reports for the connection balancer, tunnel
 * routes to its TUN, and the DTLS peers of its sessions. priv/network-process.ts implements it
 * over the channel (priv/worker-messages.ts); with one network process there is none.
 */
import type { DtlsWorkerHooks } from './dtls-listener.js';
import type { CtlRelayFn } from './ops/ctl-relay.js';

export interface WorkerMesh extends DtlsWorkerHooks {
  /** 0 .. count-1; worker 0 owns the DTLS port's unconnected socket and the admin/metrics listeners */
  readonly index: number;
  readonly count: number;
  /** live tunnels and open TLS connections changed (reported at most once per loop turn) */
  load(tunnels: number, connections: number, accepted: number): void;
  /**
   * the tunnel of the session whose webvpn cookie is `cookie`, with address `addr`, is up here
   * (the others drop the session); the cookie proves the session is this worker's
   */
  route(addr: number, cookie: string): Promise<void>;
  unroute(addr: number): void;
  /** the handed connection `id` became a tunnel or closed (priv/conn-admission.ts; batched per loop turn) */
  connDone(id: number): void;
  /**
   * holds `user`'s lock in the privileged process (priv/user-locks.ts) for a login that counts the
   * user's sessions: resolves to its release, or null when refused (too many logins wait) or
   * not granted in time
   */
  userLock(user: string): Promise<(() => void) | null>;
  /** asks the other workers about their sessions, or to end some (priv/ctl-relay.ts) */
  ctl: CtlRelayFn;
}
