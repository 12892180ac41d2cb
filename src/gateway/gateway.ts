/**
 * The gateway's network process: TLS listener, auth, sessions, address pools and the TUN data
 * plane wired together. It runs unprivileged (priv/network-process.ts): what needs root is done
 * by the privileged process and arrives here ready-made (the TUN fd, the TLS identity, the
 * profile) or is asked for through `priv` (password checks, new pool subnets on reload).
 *
 * Start-up: listen() binds every socket while still root; serve() starts reading them once
 * root has been given up. stop() says goodbye to every client first.
 *
 * The parts live beside it: tls-listener.ts (the TLS server), connection-deps.ts (what a
 * connection is served with), session-persistence.ts (records, restore, checkpoints),
 * session-sweep.ts (timeouts), gateway-reload.ts (reload), gateway-shutdown.ts (stop, handover),
 * handed-connections.ts (workers > 1: the balancer's load), stored-bans.ts, session-moved.ts
 * (a session another worker or node took over), cluster/drain.ts and
 * cluster/resync.ts (a cluster node's drain and store resync), gateway-resources.ts (its inputs).
 */
import type { TLSSocket } from 'node:tls';
import { formatCidr } from '../protocol/ipv4.js';
import type { TunDevice, TunOffloadCounters } from '../os/tun.js';
import type { Logger } from '../log.js';
import { AccountingReporter } from './accounting-reporter.js';
import type { GatewayConfig } from './config.js';
import { serveConnection, type ConnectionDeps, type ServedProfile } from './http-connection.js';
import { connectionDeps } from './connection-deps.js';
import { IpPool } from './ip-pool.js';
import { Gatekeeper } from './gatekeeper.js';
import { GatewayEvents } from './ops/events.js';
import type { ReloadResult } from './reload.js';
import { reloadGateway } from './gateway-reload.js';
import { Router, type RouterCounters } from './router.js';
import { SessionStore, type Session } from './sessions.js';
import type { TlsIdentity } from './tls-cert.js';
import { TlsListener } from './tls-listener.js';
import { terminateTunnel } from './tunnel-setup.js';
import { endEverySession, recordEverySession, waitForGoodbyes } from './gateway-shutdown.js';
import { sweepSessions } from './session-sweep.js';
import { DtlsListener, type DtlsListenerCounters } from './dtls-listener.js';
import type { WorkerMesh } from './worker-mesh.js';
import { HandedConnections } from './handed-connections.js';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Socket as TcpSocket } from 'node:net';
import { hostname } from 'node:os';
import { MemoryStore } from './state/memory-store.js';
import { SessionPersistence } from './session-persistence.js';
import type { BanRecord, SessionRecord, StateStore } from './state/types.js';
import { ClusterView } from './cluster/view.js';
import { letMovedSessionGo } from './session-moved.js';
import { DRAIN_GRACE_SECONDS, NodeDrain, type DrainState } from './cluster/drain.js';
import { resyncStore } from './cluster/resync.js';
import { syncBansWithStore } from './stored-bans.js';
import type { GatewayResources, PrivilegedOps } from './gateway-resources.js';

export type { GatewayResources, PrivilegedOps };
export { DRAIN_GRACE_SECONDS };



/** How often timeouts (idle, session, reconnect window) are checked. */
const SWEEP_MS = 5000;

export class Gateway {
  readonly sessions: SessionStore;
  readonly store: StateStore;
  readonly node: string;
  /** records, restores, checkpoints and failed writes of the session store (session-persistence.ts) */
  private readonly persistence: SessionPersistence;
  /** with `cluster:`: the other nodes, load balancing, drain (cluster/view.ts) */
  readonly cluster: ClusterView | null;
  /** with `cluster:`: `ctl drain` (cluster/drain.ts) */
  private readonly drainControl: NodeDrain | null;
  private readonly listenFd: number | null;
  readonly pools = new Map<string, IpPool>();
  readonly identity: TlsIdentity;
  /** the TLS listener and its open connections (tls-listener.ts) */
  private tls: TlsListener | null = null;
  private tun: TunDevice | null;
  /** res.tunMtu */
  private readonly tunMtu: number | null;
  private router: Router | null = null;
  private dtls: DtlsListener | null = null;
  private profile: ServedProfile | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** operations (issue 6): events for ctl/metrics/bans, brute-force scores, connection rate */
  readonly events = new GatewayEvents();
  readonly startedAt = Date.now();
  /** bans, connection rate, request limits */
  gate!: Gatekeeper;
  private reloadQueue: Promise<unknown> = Promise.resolve();
  /** false until serve(): connections that arrive while the process still has root are dropped */
  private serving = false;
  private readonly priv: PrivilegedOps;
  private readonly accounting: AccountingReporter;
  private readonly mesh: WorkerMesh | null;
  /** workers > 1: the balancer's load (handed-connections.ts) */
  private readonly handed: HandedConnections | null;

  constructor(private config: GatewayConfig, private readonly log: Logger, res: GatewayResources) {
    this.identity = res.identity;
    this.profile = res.profile;
    this.tun = res.tun;
    this.tunMtu = res.tunMtu ?? null;
    this.priv = res.priv;
    this.mesh = res.mesh ?? null;
    this.handed = this.mesh ? new HandedConnections(this.mesh, () => this.router?.size ?? 0, log) : null;
    this.store = res.store ?? new MemoryStore();
    this.node = res.node ?? hostname();
    this.listenFd = res.listenFd ?? null;
    this.sessions = new SessionStore(this.store);
    this.persistence = new SessionPersistence({
      store: this.store,
      sessions: this.sessions,
      node: this.node,
      config: () => this.config,
      pools: this.pools,
      resumed: (s) => this.accounting.resumed(s),
      log,
    });
    this.sessions.onStoreError = (op, err) => this.storeFailed(op, err);
    this.sessions.restorer = (token, r) => this.persistence.restore(token, r);
    this.sessions.recordValid = (r) => this.persistence.valid(r);
    const report = res.clusterReport;
    this.cluster =
      config.cluster && report
        ? new ClusterView(() => this.config.cluster ?? config.cluster!, () => this.config.limits.maxClients, () => this.load(), report)
        : null;
    this.drainControl = this.cluster ? new NodeDrain(this.cluster, this.sessions, () => this.load().tunnels, this.log) : null;
    this.accounting = new AccountingReporter({ config: () => this.config, report: (e, r, c) => this.priv.account(e, r, c), log: this.log });
    this.clientCaPem = res.clientCaPem;
    this.clientCrlPem = res.clientCrlPem ?? null;
  }

  /** tls.client-ca and tls.crl as the privileged process sent them at start (the listener renews them) */
  private readonly clientCaPem: string | null;
  private readonly clientCrlPem: string | null;

  get tunName(): string | undefined {
    return this.tun?.name;
  }

  /**
   * Binds the TLS and DTLS listeners (still as root: ports below 1024). Nothing read from them is
   * parsed before serve(): the TLS listener drops connections until then, and the UDP socket's
   * datagrams are only delivered by the event loop's poll phase, which the caller does not reach
   * before it gives up root and calls serve() (priv/network-process.ts).
   */
  async listen(): Promise<void> {
    const cfg = this.config;
    this.gate = new Gatekeeper(cfg, this.events, this.log, this.mesh?.index);
    for (const g of cfg.groups) {
      const key = formatCidr(g.network.address);
      const pool = [...this.pools.values()].find((p) => formatCidr(p.subnet) === key) ?? new IpPool(g.network.address);
      this.pools.set(g.name, pool);
    }
    this.router = new Router(this.tun!);
    const mesh = this.mesh;
    if (cfg.dtls.enabled) {
      this.dtls = new DtlsListener(this.router, this.log, {
        dpd: () => this.config.dpd,
        keepalive: () => this.config.keepalive,
        onHandshake: (session, mode, result) => this.events.emit({ type: 'dtls-handshake', session: session.id, mode, result }),
      }, {}, { batchReceive: cfg.dtls.batchReceive, ...(mesh ? { workers: mesh } : {}) });
      // Several workers: only worker 0 binds the port; the others get connected peer sockets.
      if (!mesh || mesh.index === 0) await this.dtls.listen(cfg.listen.host, cfg.dtls.port);
    }
    const deps = this.connectionDeps();
    this.gate.attach(deps, cfg);
    const tls = new TlsListener({
      identity: this.identity,
      clientCaPem: this.clientCaPem,
      clientCrlPem: this.clientCrlPem,
      maxSockets: cfg.limits.maxClients * 2,
      serving: () => this.serving,
      admit: this.gate.admit,
      // The balancer's count (workers > 1): a connection this side has ended is on its way out.
      ...(this.handed ? { opened: (sock: TLSSocket) => this.handed!.tlsSocket(sock) } : {}),
      serve: (sock) => serveConnection(sock, deps),
      log: this.log,
    });
    this.tls = tls;
    // Several workers: the privileged process accepts and hands each connection over (acceptConnection).
    if (mesh) return;
    await tls.listen(this.listenFd, cfg.listen.port, cfg.listen.host);
  }

  /**
   * workers > 1: a TCP connection the privileged process accepted (paused) for this worker, as
   * its connection `id`: reported back when it becomes a tunnel or closes (conn-admission.ts).
   */
  acceptConnection(sock: TcpSocket, id: number): void {
    const mesh = this.mesh;
    // (this.gate exists: connections are handed only after `ready`, i.e. after listen())
    if (mesh) this.gate.handedOver(sock, id, (n) => mesh.connDone(n));
    if (!this.tls || !this.serving) {
      sock.destroy();
      return;
    }
    this.handed?.handed(sock);
    this.tls.emitConnection(sock);
  }

  /** workers > 1: a UDP socket connected to a DTLS peer of this worker's session, with its ClientHello. */
  adoptDtlsPeer(sock: UdpSocket, address: string, port: number, hello: Buffer): void {
    if (!this.dtls || !this.serving) {
      sock.close();
      return;
    }
    this.dtls.adoptPeer(sock, address, port, hello);
  }

  /** network processes sharing the clients (1 without a worker mesh) */
  get workerCount(): number {
    return this.mesh?.count ?? 1;
  }

  /** workers > 1: a datagram the privileged process forwarded for a peer whose socket this worker has. */
  dtlsForwarded(msg: Buffer, address: string, port: number): void {
    this.dtls?.forwarded(msg, address, port);
  }

  /** Starts the data plane and accepting clients (after root is given up). */
  serve(): void {
    this.serving = true;
    this.router!.start();
    this.log.info({ tun: this.tun!.name, ...(this.mesh ? { workers: this.mesh.count } : {}) }, 'data plane up');
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
    this.persistence.startCheckpoints();
    this.cluster?.start();
    // Bans made before a restart hold here; bans made here go to the store (stored-bans.ts).
    syncBansWithStore({ store: this.store, events: this.events, applyBan: (b) => this.applyBan(b), storeFailed: (op, err) => this.storeFailed(op, err), log: this.log });
  }

  /** This node's load for the cluster's registry. */
  private load(): { sessions: number; tunnels: number } {
    let tunnels = 0;
    for (const s of this.sessions.all()) if (s.tunnel) tunnels++;
    return { sessions: this.sessions.size, tunnels };
  }

  /** Another worker or cluster node carries this session's tunnel now: let go of it here (session-moved.ts). */
  sessionMoved(cookieHash: string, to?: string): void {
    letMovedSessionGo({ sessions: this.sessions, accounting: this.accounting, dtls: this.dtls, log: this.log }, cookieHash, to);
  }

  /** The shared store is back after an outage (cluster): this node's sessions, leases and bans again (cluster/resync.ts). */
  resyncStore(): Promise<void> {
    return resyncStore({
      sessions: this.sessions,
      store: this.store,
      recordOf: (s) => this.recordOf(s),
      applyBan: (b) => this.applyBan(b),
      storeFailed: (op, err) => this.storeFailed(op, err),
      log: this.log,
    });
  }

  /**
   * `ctl drain` (cluster/drain.ts): no new sessions here; after `graceSeconds` every tunnel closes
   * without a goodbye, so its client reconnects to another node. `on: false` ends the drain.
   */
  drain(on: boolean, graceSeconds = DRAIN_GRACE_SECONDS): DrainState {
    if (!this.drainControl) throw new Error('not a cluster node (no cluster: in the configuration)');
    return this.drainControl.set(on, graceSeconds);
  }

  /** A ban from the store (at start, or broadcast from another worker/node). */
  applyBan(b: BanRecord): void {
    this.gate.guard.restore(b.kind, b.key, b.until);
  }

  /** A ban lifted elsewhere (`ctl unban` on another worker/node). */
  liftBan(kind: BanRecord['kind'], key: string): void {
    this.gate.guard.unban(key, kind);
  }

  /** store writes that failed (a full disk, Redis away): counted, logged, tunnels keep running */
  get storeErrors(): number {
    return this.persistence.failures;
  }

  private storeFailed(op: string, err: Error): void {
    this.persistence.failed(op, err);
  }

  private recordOf(s: Session): SessionRecord {
    return this.persistence.recordOf(s);
  }

  private connectionDeps(): ConnectionDeps {
    return connectionDeps({
      config: () => this.config,
      sessions: this.sessions,
      router: this.router!,
      dtls: this.dtls,
      tunMtu: this.tunMtu,
      mesh: this.mesh,
      cluster: this.cluster,
      priv: this.priv,
      accounting: this.accounting,
      gate: this.gate,
      pools: this.pools,
      identity: this.identity,
      profile: () => this.profile,
      clientCerts: this.clientCaPem !== null,
      recordOf: (s) => this.recordOf(s),
      endSession: (s, why) => this.endSession(s, why),
      refuseTunnel: () => this.drainControl?.refuseTunnel() ?? null,
      events: this.events,
      log: this.log,
    });
  }

  /** Ends a session for good: tunnel closed, address freed, cookie invalid (in the store too). */
  endSession(s: Session, why: string): Promise<void> {
    this.log.info({ session: s.id, user: s.user, why }, 'session ended');
    // The Stop record reads the counters before the tunnel goes.
    this.accounting.ended(s, why);
    terminateTunnel(s, why);
    const stored = this.sessions.remove(s);
    this.events.emit({ type: 'session-end', session: s.id, user: s.user, reason: why });
    return stored;
  }

  private sweep(): void {
    const now = Date.now();
    this.gate.sweep();
    sweepSessions(this.sessions, this.config, now, (s, why) => void this.endSession(s, why));
  }

  /** `ctl restart` (admin API): false when this gateway cannot restart itself (no privileged process). */
  restart(): boolean {
    if (!this.priv.restart) return false;
    this.log.info({ sessions: this.sessions.size }, 'restart asked for: handing the sessions over to a new gateway process');
    this.priv.restart();
    return true;
  }

  get currentConfig(): GatewayConfig {
    return this.config;
  }

  get dtlsCounters(): Readonly<DtlsListenerCounters> | null {
    return this.dtls?.counters ?? null;
  }

  get routerCounters(): RouterCounters | null {
    return this.router?.counters ?? null;
  }

  /** The TUN's read-side counters: offloads (super-packets cut, bad ones dropped) and packets too long to read. */
  get tunCounters(): (TunOffloadCounters & { truncated: number; vnetHdr: boolean }) | null {
    return this.tun ? { ...this.tun.offloadCounters, truncated: this.tun.truncated, vnetHdr: this.tun.vnetHdr } : null;
  }

  get tlsConnections(): number {
    return this.tls?.sockets.size ?? 0;
  }

  /** SIGHUP / `ctl reload` (reload.ts): all or nothing; on any error the running state stays. */
  reload(): Promise<ReloadResult> {
    // One at a time: two quick SIGHUPs must not plan from the same state and both apply.
    const run = this.reloadQueue.then(() => this.reloadNow());
    this.reloadQueue = run;
    return run;
  }

  private reloadNow(): Promise<ReloadResult> {
    return reloadGateway({
      priv: this.priv,
      config: () => this.config,
      pools: this.pools,
      sessions: this.sessions,
      renewClientCa: (f) => this.tls?.renewClientCa(f) ?? [],
      adopt: (plan) => {
        this.config = plan.config;
        this.profile = plan.profile;
        this.pools.clear();
        for (const [name, pool] of plan.pools) this.pools.set(name, pool);
        this.gate.apply(plan.config);
      },
      log: this.log,
      events: this.events,
    });
  }

  /**
   * Clean shutdown (SIGTERM): every client gets a TERMINATE and its session ends, in the store
   * too (the gateway is going away: the cookies are void); then sockets, listener and TUN close.
   */
  async stop(): Promise<void> {
    this.stopTimers();
    this.tls?.close();
    this.accounting.stopAll();
    await endEverySession(this.sessions);
    await this.closeAll();
  }

  /**
   * Handover (`ctl restart`, or the privileged process gone): every session is written to the
   * store as it is and every connection closes WITHOUT a goodbye, so each client reconnects with
   * its cookie to the process that comes next and keeps its address. No accounting Stop: the
   * sessions go on.
   */
  async handover(): Promise<void> {
    this.stopTimers();
    this.tls?.close();
    this.accounting.pauseAll();
    await recordEverySession(this.sessions, (s) => this.recordOf(s));
    this.tls?.destroyAll();
    this.dtls?.close();
    this.dtls = null;
    this.tun?.close();
    this.tun = null;
  }

  /** Closes everything without a word to anyone and without touching the store (parent gone). */
  abandon(): void {
    this.stopTimers();
    this.tls?.close();
    this.tls?.destroyAll();
    this.dtls?.close();
    this.tun?.close();
  }

  private stopTimers(): void {
    this.cluster?.stop();
    this.drainControl?.stop();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.persistence.stopCheckpoints();
  }

  private async closeAll(): Promise<void> {
    // Give the goodbye frames a moment to reach the clients.
    if (this.tls) await waitForGoodbyes(this.tls.sockets);
    this.tls?.destroyAll();
    this.dtls?.close();
    this.dtls = null;
    this.tun?.close();
    this.tun = null;
  }
}
