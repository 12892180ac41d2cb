/**
 * What every client connection of a network process is served with (http-connection.ts): the
 * login handler (auth-handler.ts) and the tunnel's dependencies (tunnel-setup.ts), wired to the
 * gateway's sessions, pools, limits, cluster view and worker mesh. Built once, at listen().
 */
import type { Logger } from '../log.js';
import type { AccountingReporter } from './accounting-reporter.js';
import { AuthHandler } from './auth-handler.js';
import { DRAINING_MESSAGE, type ClusterView } from './cluster/view.js';
import type { GatewayConfig } from './config.js';
import type { DtlsListener } from './dtls-listener.js';
import type { PrivilegedOps } from './gateway-resources.js';
import type { Gatekeeper } from './gatekeeper.js';
import type { ConnectionDeps, ServedProfile } from './http-connection.js';
import type { IpPool } from './ip-pool.js';
import type { GatewayEvents } from './ops/events.js';
import type { Router } from './router.js';
import type { Session, SessionStore } from './sessions.js';
import type { SessionRecord } from './state/types.js';
import type { TlsIdentity } from './tls-cert.js';
import type { TunnelDeps } from './tunnel-setup.js';
import type { WorkerMesh } from './worker-mesh.js';
import { otherWorkersSessions } from './worker-sessions.js';

/** The parts of a gateway a connection uses. */
export interface ConnectionParts {
  config(): GatewayConfig;
  sessions: SessionStore;
  router: Router;
  dtls: DtlsListener | null;
  /** the TUN's MTU (res.tunMtu), if known */
  tunMtu: number | null;
  mesh: WorkerMesh | null;
  cluster: ClusterView | null;
  priv: PrivilegedOps;
  accounting: AccountingReporter;
  gate: Gatekeeper;
  pools: Map<string, IpPool>;
  identity: TlsIdentity;
  profile(): ServedProfile | null;
  /** tls.client-ca is set */
  clientCerts: boolean;
  recordOf(s: Session): SessionRecord;
  endSession(s: Session, why: string): Promise<void>;
  refuseTunnel(): string | null;
  events: GatewayEvents;
  log: Logger;
}

export function connectionDeps(p: ConnectionParts): ConnectionDeps {
  const endSession = (s: Session, why: string): void => void p.endSession(s, why);
  // Only a session still in the cache: a tunnel that closes because its session ended must not
  // write the record back after the delete.
  const persist = (s: Session): void => {
    if (p.sessions.holds(s)) void p.sessions.persist(p.recordOf(s));
  };
  const tunnel: TunnelDeps = { config: p.config, sessions: p.sessions, router: p.router, dtls: p.dtls, log: p.log, endSession, events: p.events, persist, refuseTunnel: p.refuseTunnel, ...(p.tunMtu ? { tunMtu: p.tunMtu } : {}) };
  const { mesh, cluster } = p;
  if (mesh) tunnel.routes = { route: (a, h) => mesh.route(a, h), unroute: (a) => mesh.unroute(a) };
  const auth = new AuthHandler({
    config: p.config,
    auth: p.priv,
    sessions: p.sessions,
    loggedIn: (s) => p.accounting.started(s),
    record: (s) => p.recordOf(s),
    ...(cluster
      ? {
          route: (path: string) => cluster.route(path),
          refuseSession: () => (cluster.draining ? DRAINING_MESSAGE : null),
        }
      : {}),
    ...(mesh ? { elsewhere: otherWorkersSessions(mesh, p.log) } : {}),
    guard: p.gate.guard,
    pools: p.pools,
    serverCertSha1: p.identity.sha1,
    profile: () => {
      const profile = p.profile();
      return profile ? { uri: profile.uri, sha1: profile.sha1 } : null;
    },
    log: p.log,
    endSession,
    events: p.events,
  });
  return {
    auth,
    tunnel,
    sessions: p.sessions,
    profile: p.profile,
    log: p.log,
    httpLimits: p.gate.httpLimits,
    tunnelUp: p.gate.tunnelUp,
    maxCookieBytes: p.config().limits.maxCookieBytes,
    events: p.events,
    clientCerts: p.clientCerts,
  };
}
