/**
 * The cluster's side of one node, in the privileged process (which owns the RedisStore):
 *
 *   every ANNOUNCE_MS   publish this node's entry (load from the network process's last report,
 *                       cluster.address, draining) and hand the live node list to the network
 *                       process (load balancing, `ctl status`)
 *   every REAP_MS       fix what dead nodes left (RedisStore.reap: their live sessions start their
 *                       reconnect window, leases of vanished sessions are freed)
 *   on other nodes' events   a ban or unban -> this node's network process(es); a session another
 *                       node adopted -> drop its tunnel here (without a goodbye: the client is
 *                       already elsewhere)
 *   on a drain report   STATE/draining exists while this node drains: keepalived's check (or a
 *                       load balancer's) takes the node out, README "Running a cluster"
 *
 * Redis unavailable: nothing here throws; the outage is logged once when it starts and once when
 * it ends, the announce and reap simply wait for Redis to come back.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { writePrivateFile } from '../../os/safe-files.js';
import type { ClusterConfig } from '../config-cluster.js';
import type { ClusterEvent, NodeInfo } from '../state/cluster-types.js';
import type { BanRecord, SessionRecord, StateStore } from '../state/types.js';
import { RedisStore, redactedUrl } from '../state/redis-store.js';
import type { GatewayConfig } from '../config.js';
import type { PrivilegedMessage } from '../priv/messages.js';

export const ANNOUNCE_MS = 2000;
export const REAP_MS = 10_000;
/** A node entry lives this long without a refresh (several announce periods: a slow Redis round is no death). */
export const NODE_TTL_MS = 10_000;
/** The file keepalived's check looks for (in the state folder). */
export const DRAIN_FILE = 'draining';

/** What the network process reports about its load (cluster-load). */
export interface LoadReport {
  sessions: number;
  tunnels: number;
  draining: boolean;
}

export interface ClusterAgentDeps {
  store: RedisStore;
  cluster: () => ClusterConfig;
  /** limits.max-clients and the TLS port, as running */
  capacity: () => number;
  port: () => number;
  stateDir: string;
  log: Logger;
  /** the live nodes, and whether Redis answers: to the network process(es) */
  nodes: (nodes: NodeInfo[], redisUp: boolean) => void;
  /** a ban or unban made on another node: to the network process(es) */
  ban: (b: BanRecord) => void;
  unban: (kind: BanRecord['kind'], key: string) => void;
  /** another node adopted this session: this node drops its tunnel and forgets it */
  moved: (cookieHash: string, to: string) => void;
  /** Redis is back after an outage: the network process writes its sessions and leases again */
  resync: () => void;
}

export class ClusterAgent {
  private load: LoadReport = { sessions: 0, tunnels: 0, draining: false };
  private readonly reports = new Map<number, LoadReport>();
  private readonly startedAt = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private lastNodes: NodeInfo[] = [];
  private busy = false;
  private offs: Array<() => void> = [];

  constructor(private readonly d: ClusterAgentDeps) {}

  start(): void {
    // A drain does not outlive the process: a restarted node takes sessions again.
    this.setDrainFile(false);
    this.offs.push(this.d.store.onEvent((ev) => this.onEvent(ev)));
    this.offs.push(
      this.d.store.onAvailability((up, err) => {
        if (up) {
          this.d.log.info({ redis: redactedUrl(this.d.cluster().redis) }, 'cluster store (Redis) is back; sessions, leases and bans are shared again');
          this.d.resync();
          void this.tick();
        } else this.d.log.error({ err }, 'cluster store (Redis) unavailable: tunnels keep running, new logins and reconnects to other nodes fail until it is back');
        this.d.nodes(this.lastNodes, up);
      }),
    );
    void this.tick();
    this.timers.push(setInterval(() => void this.tick(), ANNOUNCE_MS));
    this.timers.push(setInterval(() => void this.reap(), REAP_MS));
    for (const t of this.timers) t.unref();
  }

  /**
   * A network process's report (cluster-load); `source` tells several network processes (workers)
   * apart: the node's load is their sum, and it drains when one does (`ctl drain` reaches the one
   * with the admin socket). A change of `draining` is announced at once.
   */
  report(l: LoadReport, source = 0): void {
    this.reports.set(source, l);
    const was = this.load.draining;
    let sessions = 0;
    let tunnels = 0;
    let draining = false;
    for (const r of this.reports.values()) {
      sessions += r.sessions;
      tunnels += r.tunnels;
      draining ||= r.draining;
    }
    this.load = { sessions, tunnels, draining };
    if (draining !== was) {
      this.setDrainFile(draining);
      this.d.log.info({ node: this.d.cluster().node }, draining ? 'draining: no new sessions; tunnels move to other nodes on their next reconnect' : 'drain ended: taking new sessions again');
      void this.tick();
    }
  }

  get draining(): boolean {
    return this.load.draining;
  }

  /** The summed load of every network process but `source` (their last reports). */
  peerLoad(source: number): { sessions: number; tunnels: number } {
    let sessions = 0;
    let tunnels = 0;
    for (const [w, r] of this.reports) {
      if (w === source) continue;
      sessions += r.sessions;
      tunnels += r.tunnels;
    }
    return { sessions, tunnels };
  }

  info(now = Date.now()): NodeInfo {
    const c = this.d.cluster();
    return { node: c.node, address: c.address, port: this.d.port(), sessions: this.load.sessions, tunnels: this.load.tunnels, capacity: this.d.capacity(), draining: this.load.draining, updatedAt: now, startedAt: this.startedAt };
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.d.store.announce(this.info());
      this.lastNodes = await this.d.store.listNodes();
      this.d.nodes(this.lastNodes, true);
    } catch {
      // Redis down: onAvailability said so; the next tick tries again.
    } finally {
      this.busy = false;
    }
  }

  private async reap(): Promise<void> {
    if (!this.d.store.available) return;
    try {
      const live = new Set((await this.d.store.listNodes()).map((n) => n.node));
      live.add(this.d.cluster().node);
      const r = await this.d.store.reap(live);
      if (r.orphaned || r.freed) this.d.log.info(r, 'cluster: sessions of nodes that are gone now wait for their clients; leases of vanished sessions freed');
    } catch (e) {
      this.d.log.debug({ err: (e as Error).message }, 'cluster reap skipped');
    }
  }

  private onEvent(ev: ClusterEvent): void {
    const self = this.d.cluster().node;
    switch (ev.type) {
      case 'ban':
        this.d.ban(ev.ban);
        break;
      case 'unban':
        this.d.unban(ev.kind, ev.key);
        break;
      case 'session-moved':
        if (ev.from === self && ev.to !== self) this.d.moved(ev.cookieHash, ev.to);
        break;
      case 'session-ended':
        break;
    }
  }

  /**
   * The privileged process's sweep of stale stored sessions (stale-sessions.ts), in a cluster:
   * only this node's records and those of nodes that are gone (another live node ends its own).
   */
  sweepable(r: SessionRecord): boolean {
    return r.node === this.d.cluster().node || !this.lastNodes.some((n) => n.node === r.node);
  }

  /** Deletes a stale record; false when another node got there first (it sends the Stop). */
  claim(cookieHash: string): Promise<boolean> {
    return this.d.store.claimSession(cookieHash);
  }

  private setDrainFile(on: boolean): void {
    const file = join(this.d.stateDir, DRAIN_FILE);
    try {
      if (on) writePrivateFile(file, `${this.d.cluster().node}\n`, 0o644);
      else if (existsSync(file) && lstatSync(file).isFile()) unlinkSync(file);
    } catch (e) {
      this.d.log.warn({ file, err: (e as Error).message }, 'cannot update the drain file (keepalived/balancer checks read it)');
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const off of this.offs) off();
    this.offs = [];
    this.setDrainFile(false);
    // Gone at once from the others' view (no redirect to a node that is leaving).
    await this.d.store.withdraw().catch(() => undefined);
  }
}

/**
 * The agent of a `serve` whose store is the cluster's Redis (null on one machine), wired to the
 * channel: node list, bans of other nodes (as the state-ban broadcasts every network process
 * understands), and sessions other nodes adopted.
 */
export function clusterAgentFor(store: StateStore, config: () => GatewayConfig, log: Logger, send: (m: PrivilegedMessage) => void): ClusterAgent | null {
  const cfg = config();
  if (!(store instanceof RedisStore) || !cfg.cluster) return null;
  return new ClusterAgent({
    store,
    cluster: () => config().cluster ?? cfg.cluster!,
    capacity: () => config().limits.maxClients,
    port: () => config().listen.port,
    stateDir: cfg.state,
    log,
    nodes: (nodes, redis) => send({ t: 'cluster-nodes', nodes, redis }),
    ban: (ban) => send({ t: 'state-ban-added', ban }),
    unban: (kind, key) => send({ t: 'state-ban-removed', kind, key }),
    moved: (cookieHash, to) => send({ t: 'cluster-drop', cookieHash, to }),
    resync: () => send({ t: 'cluster-resync' }),
  });
}
