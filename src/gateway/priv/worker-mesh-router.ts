/**
 * workers > 1: the privileged process's part of the worker mesh. It answers what only several
 * workers send (worker-messages.ts) and passes between workers what one tells the others:
 *   - `load`: the balancer's numbers (balance.ts);
 *   - `route` / `unroute`: a tunnel address routed to the TUN of the worker that carries it
 *     (lease-routes.ts, checked against the store by worker-routes.ts); the other workers drop
 *     the session from their caches;
 *   - `dtls-*`: DTLS peers handed to the worker that owns their session (dtls-handoff.ts);
 *   - `user-lock` / `user-unlock`: one login of a user at a time (user-locks.ts);
 *   - `ctl-relay` / `ctl-answer`: a `ctl` request asked of every worker (ctl-relay.ts);
 *   - `ops-event`: events for the admin API and the metrics, which worker 0 answers for all;
 *   - `conn-done`: handed connections that became tunnels or closed (connection-acceptor.ts).
 * Before start() (the workers are still starting) only what needs none of these is done.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import type { Logger } from '../../log.js';
import { parseIpv4 } from '../../protocol/ipv4.js';
import type { GatewayConfig } from '../config.js';
import type { StateStore } from '../state/types.js';
import type { WorkerLoad } from './balance.js';
import type { CtlAsk } from './ctl-messages.js';
import { CtlRelay } from './ctl-relay.js';
import { DtlsHandoff } from './dtls-handoff.js';
import { LeaseRoutes } from './lease-routes.js';
import { MAX_LOGINS_IN_FLIGHT } from './limits.js';
import type { PrivilegedMessage } from './messages.js';
import { subnetsOf } from './serve-setup.js';
import { UserLocks } from './user-locks.js';
import type { WorkerHandleMessage, WorkerMessage } from './worker-messages.js';
import { routeForWorker, routeOps } from './worker-routes.js';

/**
 * Longest a login holds its user's lock (user-locks.ts): counting asks the other workers (at most
 * CTL_RELAY_TIMEOUT_MS, 3 s), end-oldest may end sessions there (3 s each) and the session is
 * recorded in the store. Past it the next login of the user goes on.
 */
const USER_LOCK_HOLD_MS = 20_000;

/** A network process as the mesh sees it. */
export interface MeshWorker {
  readonly index: number;
  readonly channel: { send(m: PrivilegedMessage): boolean } | null;
  readonly tun: string;
  readonly load: WorkerLoad;
}

/** What the router needs of the privileged process. */
export interface MeshHost {
  /** every worker, by index */
  workers(): readonly MeshWorker[];
  /** the running configuration (its pool subnets) */
  config(): GatewayConfig;
  /** the session store: a route is set only for the session it leases the address to */
  store(): StateStore | null;
  /** a handle to worker `i`, on its IPC channel */
  sendHandle(i: number, m: WorkerHandleMessage, handle: Socket | UdpSocket): Promise<void>;
  /** handed connections worker `i` reported done */
  connDone(ids: readonly number[], i: number): void;
  readonly log: Logger;
}

export class WorkerMeshRouter {
  private routes: LeaseRoutes | null = null;
  private handoff: DtlsHandoff | null = null;
  /** `ctl` requests one worker passes to the others (ctl-relay.ts) */
  private ctlRelay: CtlRelay | null = null;
  /** one login of a user at a time counts the user's sessions (user-locks.ts) */
  private userLocks: UserLocks | null = null;

  constructor(private readonly host: MeshHost) {}

  /** Once every worker is up: routes for tunnel addresses, the DTLS hand-off, the ctl relay, user locks. */
  start(cfg: GatewayConfig): void {
    const { host } = this;
    const log = host.log;
    const send = (i: number, m: PrivilegedMessage): boolean => host.workers()[i]?.channel?.send(m) ?? false;
    this.routes = new LeaseRoutes(
      host.workers().map((w) => w.tun),
      () => subnetsOf(host.config()).values(),
      routeOps(),
    );
    if (cfg.dtls.enabled) {
      const max = cfg.limits.maxClients * 4;
      this.handoff = new DtlsHandoff(cfg.listen.host, cfg.dtls.port, { sendHandle: (w, m, h) => host.sendHandle(w, m, h), reply: (w, m) => send(w, m) }, log, { maxIds: max, maxPeers: max });
    }
    this.ctlRelay = new CtlRelay(send, (fields, msg) => log.warn(fields, msg));
    this.userLocks = new UserLocks({ maxHoldMs: USER_LOCK_HOLD_MS, maxWaiting: MAX_LOGINS_IN_FLIGHT }, (user, worker) =>
      log.warn({ user, worker, ms: USER_LOCK_HOLD_MS }, 'a login held its user lock too long; the next login of the user goes on'),
    );
  }

  /** Worker `from` asks every live worker (ctl-relay.ts); false before start(). */
  relayCtl(from: number, id: number, ask: CtlAsk): boolean {
    if (!this.ctlRelay) return false;
    this.ctlRelay.relay(from, id, ask, this.host.workers().filter((o) => o.load.up).map((o) => o.index));
    return true;
  }

  /** Part of worker `from`'s answer to a relayed request. */
  ctlAnswer(from: number, id: number, part: string, more: boolean): void {
    this.ctlRelay?.answer(from, id, part, more);
  }

  /** A worker exited: its user locks go. */
  workerGone(i: number): void {
    this.userLocks?.workerGone(i);
  }

  /** What only several workers send (worker-messages.ts). */
  onMessage(m: WorkerMessage, w: MeshWorker): void {
    const { host } = this;
    switch (m.t) {
      case 'load':
        w.load.tunnels = m.tunnels;
        w.load.connections = m.connections;
        // Never more than handed: a worker cannot make itself look busier than it was made.
        w.load.accepted = Math.min(m.accepted, w.load.handed);
        break;
      case 'route': {
        const id = m.id;
        const addr = parseIpv4(m.addr)!;
        const routes = this.routes;
        if (!routes) {
          w.channel?.send({ t: 'route-done', id, ok: false, error: 'one worker: no routes' });
          break;
        }
        // Only an address the store leases to the session whose cookie the worker shows (worker-routes.ts).
        routeForWorker(routes, host.store(), subnetsOf(host.config()).values(), addr, m.cookie, w.index).then(
          ({ via, cookieHash }) => {
            host.log.info({ worker: w.index, address: m.addr, tun: w.tun, via }, 'tunnel route set');
            w.channel?.send({ t: 'route-done', id, ok: true });
            // The session may sit in another worker's cache (its login, an older tunnel): gone there.
            for (const o of host.workers()) if (o !== w) o.channel?.send({ t: 'session-moved', cookieHash });
          },
          (e: unknown) => {
            host.log.warn({ worker: w.index, address: m.addr, err: (e as Error).message }, 'tunnel route refused');
            w.channel?.send({ t: 'route-done', id, ok: false, error: (e as Error).message });
          },
        );
        break;
      }
      case 'unroute':
        void this.routes?.unroute(parseIpv4(m.addr)!, w.index);
        break;
      case 'dtls-id':
        this.handoff?.idChanged(m.id, m.up, w.index);
        break;
      case 'dtls-hello':
        this.handoff?.hello(m.id, m.address, m.port, m.data, w.index, m.local);
        break;
      case 'dtls-peer-closed':
        this.handoff?.peerClosed(m.address, m.port, w.index);
        break;
      case 'conn-done':
        host.connDone(m.ids, w.index);
        break;
      case 'user-lock': {
        const { id } = m;
        const granted = (): void => void w.channel?.send({ t: 'user-locked', id, ok: true });
        if (!this.userLocks?.lock(m.user, w.index, id, granted)) w.channel?.send({ t: 'user-locked', id, ok: false });
        break;
      }
      case 'user-unlock':
        // A withdrawn request is answered, so that its worker's wait ends.
        if (this.userLocks?.unlock(m.user, w.index, m.id)) w.channel?.send({ t: 'user-locked', id: m.id, ok: false });
        break;
      case 'ops-event':
        // Worker 0 answers for all (admin API, metrics): the others' events go there.
        if (w.index !== 0) host.workers()[0]?.channel?.send({ t: 'ops-event', worker: w.index, ev: m.ev });
        break;
    }
  }
}
