/**
 * The cluster as the network process sees it: the live nodes (pushed by the privileged process,
 * cluster/agent.ts, every couple of seconds), whether Redis answers, and this node's drain state.
 * It decides where a new login goes (balance.ts) and reports this node's load back.
 */
import type { ClusterConfig } from '../config-cluster.js';
import { redactedUrl } from '../state/redacted-url.js';
import type { NodeInfo } from '../state/cluster-types.js';
import type { ClusterReport } from '../priv/cluster-messages.js';
import { NODE_TTL_MS } from './agent.js';
import { balanceLogin, canTakeLogin, redirectLocation, wasRedirected, type BalanceDecision } from './balance.js';

export interface ClusterLoad {
  sessions: number;
  tunnels: number;
}

/** What a login at this node gets: go elsewhere (302), be refused (draining), or go on here. */
export type LoginRoute = { kind: 'stay' } | { kind: 'redirect'; location: string; node: string } | { kind: 'refuse'; message: string };

/**
 * How often this process checks its load and reports a change. Short: with several workers the
 * others balance on it (cluster-peers), and a login every few hundred ms must see the last one.
 * A report is a few bytes and only goes when the load changed.
 */
const REPORT_MS = 250;

export const DRAINING_MESSAGE = 'This gateway is being taken out of service and accepts no new sessions; please try again in a moment.';

export class ClusterView {
  private nodeList: NodeInfo[] = [];
  private redis = true;
  private drain = false;
  private timer: NodeJS.Timeout | null = null;
  /** logins sent to other nodes since their entry was refreshed (their count does not show them yet) */
  private readonly sentSince = new Map<string, number>();
  /** workers > 1: this node's other workers' load, as they last reported it (cluster-peers) */
  private peers: ClusterLoad = { sessions: 0, tunnels: 0 };
  /** what this process reported last (a report goes when it changes) */
  private sent: (ClusterLoad & { draining: boolean }) | null = null;

  constructor(
    readonly config: () => ClusterConfig,
    private readonly capacity: () => number,
    private readonly load: () => ClusterLoad,
    private readonly send: (r: ClusterReport) => void,
  ) {}

  get node(): string {
    return this.config().node;
  }

  get nodes(): readonly NodeInfo[] {
    return this.nodeList;
  }

  get redisUp(): boolean {
    return this.redis;
  }

  get draining(): boolean {
    return this.drain;
  }

  start(): void {
    this.report();
    this.timer = setInterval(() => this.report(), REPORT_MS);
    this.timer.unref();
  }

  /** cluster-peers from the privileged process (workers > 1). */
  setPeers(l: ClusterLoad): void {
    this.peers = l;
  }

  /** The whole node's load: this process's sessions and its other workers'. */
  nodeLoad(): ClusterLoad {
    const own = this.load();
    return { sessions: own.sessions + this.peers.sessions, tunnels: own.tunnels + this.peers.tunnels };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** cluster-nodes from the privileged process. */
  update(nodes: NodeInfo[], redis: boolean): void {
    for (const n of nodes) {
      const old = this.nodeList.find((x) => x.node === n.node);
      if (!old || n.updatedAt !== old.updatedAt) this.sentSince.delete(n.node);
    }
    this.nodeList = nodes;
    this.redis = redis;
  }

  /** `ctl drain` (true) / `ctl drain --off` (false); reported at once. */
  setDraining(on: boolean): void {
    this.drain = on;
    this.report();
  }

  /** Other nodes that would take a session now (not draining, fresh, with room). */
  takers(now = Date.now()): NodeInfo[] {
    return this.nodeList.filter((n) => canTakeLogin(n, this.node, now, NODE_TTL_MS));
  }

  /** Where a new login arriving with request path `path` goes. */
  route(path: string, now = Date.now()): LoginRoute {
    const cfg = this.config();
    // A client sent here by another node stays (no bounce on stale views), unless this node drains.
    if (!this.drain && (!cfg.balance || wasRedirected(path))) return { kind: 'stay' };
    const nodes = this.nodeList.map((n) => ({ ...n, sessions: n.sessions + (this.sentSince.get(n.node) ?? 0) }));
    const d: BalanceDecision = balanceLogin({ self: cfg.node, selfSessions: this.nodeLoad().sessions, selfCapacity: this.capacity(), balance: cfg.balance, draining: this.drain, nodes, now, staleMs: NODE_TTL_MS });
    if (d.kind === 'stay') return d;
    if (d.kind === 'refuse') return { kind: 'refuse', message: DRAINING_MESSAGE };
    this.sentSince.set(d.node.node, (this.sentSince.get(d.node.node) ?? 0) + 1);
    return { kind: 'redirect', location: redirectLocation(d.node, path), node: d.node.node };
  }

  /** This process's own load (the privileged process adds the workers up), when it changed. */
  private report(): void {
    const l = this.load();
    const last = this.sent;
    if (last && last.sessions === l.sessions && last.tunnels === l.tunnels && last.draining === this.drain) return;
    this.sent = { sessions: l.sessions, tunnels: l.tunnels, draining: this.drain };
    this.send({ t: 'cluster-load', ...this.sent });
  }

  /** For `ctl status`: the cluster and each node's load. */
  status(now = Date.now()): Record<string, unknown> {
    const cfg = this.config();
    const here = this.nodeLoad();
    return {
      node: cfg.node,
      address: cfg.address,
      balance: cfg.balance,
      draining: this.drain,
      redis: { url: redactedUrl(cfg.redis), available: this.redis },
      nodes: this.nodeList.map((n) => ({
        node: n.node,
        address: n.address,
        port: n.port,
        sessions: n.node === cfg.node ? here.sessions : n.sessions,
        tunnels: n.node === cfg.node ? here.tunnels : n.tunnels,
        capacity: n.capacity,
        load: n.capacity > 0 ? (n.node === cfg.node ? here.sessions : n.sessions) / n.capacity : null,
        draining: n.node === cfg.node ? this.drain : n.draining,
        self: n.node === cfg.node,
        lastSeenSeconds: Math.max(0, Math.round((now - n.updatedAt) / 1000)),
        upSeconds: Math.max(0, Math.round((now - n.startedAt) / 1000)),
      })),
    };
  }
}
