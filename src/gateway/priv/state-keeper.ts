/**
 * The privileged process's session store (issue 12): sessions, leases and bans. It is opened
 * before any network process starts (they reach it over their channel: state-service.ts), swept
 * for stored sessions nobody came back for, joined to the cluster (cluster/agent.ts) when
 * `cluster:` is set, emptied of this node's sessions on SIGTERM and closed last.
 */
import type { Logger } from '../../log.js';
import type { AcctCause, AcctEvent, AcctRecord } from '../auth/accounting-record.js';
import { clusterAgentFor, type ClusterAgent } from '../cluster/agent.js';
import type { GatewayConfig } from '../config.js';
import { moveStateAside, openStateStore, stateNodeName } from '../state/open-store.js';
import { StoreUnavailableError } from '../state/redis-store.js';
import { StateStoreError } from '../state/sqlite-store.js';
import { cutByRestart, staleSessions } from '../state/stale-sessions.js';
import { endStoredSession, storedAcctRecord } from '../state/stored-session.js';
import type { StateStore } from '../state/types.js';
import type { ClusterReport } from './cluster-messages.js';
import type { PrivilegedMessage } from './messages.js';
import { ServeError } from './serve-error.js';
import type { StateAnswer, StateRequest } from './state-messages.js';
import { StateService } from './state-service.js';

/** How often the privileged process drops stored sessions nobody came back for. */
const STALE_SWEEP_MS = 30_000;
/** Extra time a network process gets to end its own sessions before this sweep does (gateway.ts sweeps every 5 s). */
const STALE_GRACE_MS = 60_000;

/** What the keeper needs of the privileged process. */
export interface StateHost {
  /** the running configuration */
  config(): GatewayConfig;
  /** pool subnets the network process may lease from */
  poolSubnets(): Set<string>;
  /** RADIUS accounting of a stored session that ends here */
  account(event: AcctEvent, record: AcctRecord, cause?: AcctCause): void;
  /** true once the gateway stops: no more sweeps */
  stopping(): boolean;
  readonly log: Logger;
}

export class StateKeeper {
  private current: StateStore | null = null;
  private service: StateService | null = null;
  private staleTimer: NodeJS.Timeout | null = null;
  /** with `cluster:`: the node registry, other nodes' events, drain (cluster/agent.ts) */
  private cluster: ClusterAgent | null = null;

  constructor(private readonly host: StateHost) {}

  /** the open store (null before open() and after close()) */
  get store(): StateStore | null {
    return this.current;
  }

  /**
   * The session store, before the network process exists. An unreadable file stops the start
   * with its name and the way out (never a silent reset); `--reset-state` moves it aside first.
   */
  async open(cfg: GatewayConfig, resetState: boolean): Promise<void> {
    const log = this.host.log;
    if (resetState) {
      const moved = moveStateAside(cfg);
      if (moved.length) log.warn({ moved }, 'session database moved aside (--reset-state): every session starts anew');
    }
    let store: StateStore;
    try {
      store = this.current = await openStateStore(cfg, (message) => log.warn({ store: this.current?.kind }, `skipped a stored session that cannot be used: ${message}`));
    } catch (e) {
      if (e instanceof StateStoreError) throw new ServeError(e.message);
      if (e instanceof StoreUnavailableError) throw new ServeError(`cluster.redis: ${e.message}; the cluster's sessions live there, so this node cannot start without it`);
      throw e;
    }
    this.service = new StateService(store, () => this.host.poolSubnets(), log);
    // No tunnel is up before this process starts: sessions recorded as "tunnel up" were cut by
    // a crash or a restart, and their reconnect window starts now.
    const node = stateNodeName(cfg);
    const records = await store.listSessions();
    const cut = cutByRestart(records, node, Date.now());
    for (const r of cut) await store.putSession(r);
    log.info({ store: store.kind, sessions: records.length, reconnecting: cut.length }, 'session store open');
  }

  /** Once the network processes run: the stale sweep, and the cluster agent, whose messages go to `broadcast`. */
  start(broadcast: (m: PrivilegedMessage) => void): void {
    this.staleTimer = setInterval(() => void this.sweepStale(), STALE_SWEEP_MS);
    this.staleTimer.unref();
    this.cluster = clusterAgentFor(this.current!, () => this.host.config(), this.host.log, broadcast);
    this.cluster?.start();
  }

  /** A state-* request of a network process (state-service.ts). */
  handle(m: StateRequest, reply: (a: StateAnswer) => void): void {
    if (this.service) this.service.handle(m, reply);
    else reply({ t: "state-result", id: m.id, ok: false, error: "no session store" });
  }

  /** workers > 1: the summed load of the workers other than `worker` (null without a cluster). */
  peerLoad(worker: number): { sessions: number; tunnels: number } | null {
    return this.cluster?.peerLoad(worker) ?? null;
  }

  /** A worker's load, for the cluster's node registry. */
  report(m: ClusterReport, worker: number): void {
    this.cluster?.report(m, worker);
  }

  /**
   * Stored sessions whose reconnect window (or session-timeout) passed without a network process
   * taking them: gone from the store, their lease freed, their accounting stopped.
   */
  private async sweepStale(): Promise<void> {
    const store = this.current;
    const { host } = this;
    if (!store || host.stopping()) return;
    try {
      const cluster = this.cluster;
      const cfg = host.config();
      // In a cluster each node sweeps its own records and those of nodes that are gone.
      const stale = staleSessions(await store.listSessions(), Date.now(), cfg.cookieTimeout, STALE_GRACE_MS).filter((x) => !cluster || cluster.sweepable(x.record));
      for (const { record: r, why } of stale) {
        if (cluster && !(await cluster.claim(r.cookieHash))) continue; // another node swept it
        await endStoredSession(store, host.config(), r, { deleted: cluster !== null });
        host.log.info({ session: r.id, user: r.user, why }, 'stored session ended');
        host.account('stop', storedAcctRecord(r), why === 'session timeout' ? 'session-timeout' : 'lost-carrier');
      }
    } catch (e) {
      host.log.error({ err: (e as Error).message }, 'session store sweep failed');
    }
  }

  /** Deletes this node's stored sessions (their leases freed, accounting stopped as a NAS reboot). */
  async endNodeSessions(): Promise<void> {
    const store = this.current;
    if (!store) return;
    try {
      const node = stateNodeName(this.host.config());
      for (const r of await store.listSessions()) {
        if (r.node !== node) continue;
        await endStoredSession(store, this.host.config(), r);
        this.host.account('stop', storedAcctRecord(r), 'nas-reboot');
      }
    } catch (e) {
      this.host.log.error({ err: (e as Error).message }, 'ending the stored sessions failed');
    }
  }

  async close(): Promise<void> {
    await this.cluster?.stop();
    this.cluster = null;
    if (this.staleTimer) clearInterval(this.staleTimer);
    this.staleTimer = null;
    const store = this.current;
    this.current = null;
    this.service = null;
    await store?.close().catch((e: unknown) => this.host.log.warn({ err: (e as Error).message }, 'closing the session store failed'));
  }
}
