/**
 * The gateway process: TLS listener, auth, sessions, address pools and the TUN data plane wired
 * together. `start()` needs root (TUN, addresses); `stop()` says goodbye to every client first.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { formatIpv4, formatCidr, networkOf, type Ipv4Cidr } from '../protocol/ipv4.js';
import { profileManifest } from '../protocol/profile.js';
import { tlsDataMtu } from '../protocol/mtu.js';
import { addrAdd, IpError, linkSetUp } from '../os/ip.js';
import { openTun, type TunDevice } from '../os/tun.js';
import type { Logger } from '../log.js';
import { AuthHandler } from './auth-handler.js';
import type { GatewayConfig } from './config.js';
import { serveConnection, type ServedProfile } from './http-connection.js';
import { IpPool } from './ip-pool.js';
import { Gatekeeper } from './gatekeeper.js';
import { GatewayEvents } from './ops/events.js';
import { planReload, type ReloadPlan, type ReloadResult } from './reload.js';
import { Router, type RouterCounters } from './router.js';
import { SessionStore, type Session } from './sessions.js';
import { loadOrCreateIdentity, type TlsIdentity } from './tls-cert.js';
import { terminateTunnel, type TunnelDeps } from './tunnel-setup.js';
import { UserStore } from './user-store.js';
import { DtlsListener } from './dtls-listener.js';

/** How often timeouts (idle, session, reconnect window) are checked. */
const SWEEP_MS = 5000;

export class Gateway {
  readonly sessions = new SessionStore();
  readonly pools = new Map<string, IpPool>();
  identity!: TlsIdentity;
  users!: UserStore;
  private server: Server | null = null;
  private tun: TunDevice | null = null;
  private router: Router | null = null;
  private dtls: DtlsListener | null = null;
  private profile: ServedProfile | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly sockets = new Set<TLSSocket>();
  /** operations (issue 6): events for ctl/metrics/bans, brute-force scores, connection rate */
  readonly events = new GatewayEvents();
  readonly startedAt = Date.now();
  /** bans, connection rate, request limits */
  gate!: Gatekeeper;
  private reloadQueue: Promise<unknown> = Promise.resolve();

  constructor(private config: GatewayConfig, private readonly log: Logger) {}

  get tunName(): string | undefined {
    return this.tun?.name;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    this.identity = await loadOrCreateIdentity({ ...cfg.tls, stateDir: cfg.state, subjectHost: cfg.listen.host });
    this.users = UserStore.inState(cfg.state);
    this.users.cacheSeconds = cfg.auth.cacheSeconds;
    this.gate = new Gatekeeper(cfg, this.events, this.log);
    this.loadProfile();
    for (const g of cfg.groups) {
      const key = formatCidr(g.network.address);
      const pool = [...this.pools.values()].find((p) => formatCidr(p.subnet) === key) ?? new IpPool(g.network.address);
      this.pools.set(g.name, pool);
    }
    await this.openDataPlane();
    if (cfg.dtls.enabled) {
      this.dtls = new DtlsListener(this.router!, this.log, {
        dpd: () => this.config.dpd,
        keepalive: () => this.config.keepalive,
        onHandshake: (session, mode, result) => this.events.emit({ type: 'dtls-handshake', session: session.id, mode, result }),
      });
      await this.dtls.listen(cfg.listen.host, cfg.dtls.port);
    }
    const deps = this.connectionDeps();
    this.gate.attach(deps, cfg);
    const tlsOpts: Parameters<typeof createServer>[0] = {
      cert: this.identity.certPem,
      key: this.identity.keyPem,
      minVersion: 'TLSv1.2',
      // No TLS session tickets: every connection here is short-lived or long-lived, never resumed.
      sessionTimeout: 300,
    };
    if (cfg.tls.clientCa) {
      // Ask for a client certificate, listing our CAs' names in the CertificateRequest (§3.2);
      // accept without one: the auth step decides.
      tlsOpts.ca = readFileSync(cfg.tls.clientCa);
      tlsOpts.requestCert = true;
      tlsOpts.rejectUnauthorized = false;
    }
    const server = createServer(tlsOpts, (sock) => {
      if (this.sockets.size >= cfg.limits.maxClients * 2) {
        sock.destroy();
        return;
      }
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      serveConnection(sock, deps);
    });
    // Banned and over-rate addresses are refused before the TLS handshake: a flood costs little.
    server.prependListener('connection', this.gate.admit);
    // A TLS handshake that fails (random bytes, wrong protocol) only costs that connection.
    server.on('tlsClientError', (err, sock) => {
      this.log.debug({ remote: sock.remoteAddress, err: err.message }, 'TLS handshake failed');
      sock.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.listen.port, cfg.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err: err.message }, 'listener error'));
    this.server = server;
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  private loadProfile(): void {
    const file = this.config.profile;
    if (!file) {
      this.profile = null;
      return;
    }
    const content = readFileSync(file);
    const m = profileManifest(file, content);
    this.profile = { uri: m.uri, sha1: m.sha1, content };
  }

  private async openDataPlane(): Promise<void> {
    const cfg = this.config;
    const tun = openTun({ name: cfg.tun.name });
    this.tun = tun;
    const subnets = new Map<string, Ipv4Cidr>();
    subnets.set(formatCidr(cfg.network.address), cfg.network.address);
    for (const g of cfg.groups) subnets.set(formatCidr(g.network.address), g.network.address);
    for (const c of subnets.values()) await addrAdd(tun.name, formatCidr(c));
    // The TUN's MTU bounds what the kernel sends us; TLS 1.2 AES-GCM is the larger overhead
    // among the ciphers we negotiate, so every client's MTU is at least this.
    await linkSetUp(tun.name, tlsDataMtu(cfg.mtu, { kind: 'aead-explicit-nonce' }));
    this.router = new Router(tun);
    this.router.start();
    this.log.info({ tun: tun.name, subnets: [...subnets.values()].map((c) => `${formatIpv4(networkOf(c))}/${c.prefix}`) }, 'data plane up');
  }

  private connectionDeps(): Parameters<typeof serveConnection>[1] {
    const endSession = (s: Session, why: string): void => this.endSession(s, why);
    const tunnel: TunnelDeps = { config: () => this.config, sessions: this.sessions, router: this.router!, dtls: this.dtls, log: this.log, endSession, events: this.events };
    const auth = new AuthHandler({
      config: () => this.config,
      users: this.users,
      sessions: this.sessions,
      guard: this.gate.guard,
      pools: this.pools,
      serverCertSha1: this.identity.sha1,
      profile: () => (this.profile ? { uri: this.profile.uri, sha1: this.profile.sha1 } : null),
      log: this.log,
      endSession,
      events: this.events,
    });
    return {
      auth,
      tunnel,
      sessions: this.sessions,
      profile: () => this.profile,
      log: this.log,
      httpLimits: this.gate.httpLimits,
      tunnelUp: this.gate.tunnelUp,
      maxCookieBytes: this.config.limits.maxCookieBytes,
      events: this.events,
    };
  }

  /** Ends a session for good: tunnel closed, address freed, cookie invalid. */
  endSession(s: Session, why: string): void {
    this.log.info({ session: s.id, user: s.user, why }, 'session ended');
    terminateTunnel(s, why);
    this.sessions.remove(s);
    this.events.emit({ type: 'session-end', session: s.id, user: s.user, reason: why });
  }

  private sweep(): void {
    const now = Date.now();
    const cfg = this.config;
    this.gate.sweep();
    for (const s of [...this.sessions.all()]) {
      // Each session keeps the limits it logged in with (a reload applies to new sessions).
      const sessionTimeout = s.sessionTimeout !== undefined ? s.sessionTimeout : cfg.sessionTimeout;
      const idleTimeout = s.idleTimeout !== undefined ? s.idleTimeout : cfg.idleTimeout;
      if (sessionTimeout !== null && now - s.createdAt > sessionTimeout * 1000) {
        this.endSession(s, 'session timeout');
        continue;
      }
      if (s.channel) {
        // Traffic on either channel counts as activity (DTLS carries most of it when up).
        const rx = s.channel.counters.rxPackets + (s.tunnel?.dtlsTotals().rxPackets ?? 0);
        if (rx !== s.idleSeenRx) {
          s.idleSeenRx = rx;
          s.lastActivity = now;
        } else if (idleTimeout !== null && now - s.lastActivity > idleTimeout * 1000) {
          this.endSession(s, 'idle timeout');
        }
      } else if (s.disconnectedAt !== null && now - s.disconnectedAt > cfg.cookieTimeout * 1000) {
        this.endSession(s, 'no tunnel within cookie-timeout');
      }
    }
  }

  get currentConfig(): GatewayConfig {
    return this.config;
  }

  get routerCounters(): RouterCounters | null {
    return this.router?.counters ?? null;
  }

  get tlsConnections(): number {
    return this.sockets.size;
  }

  /** SIGHUP / `ctl reload` (reload.ts): all or nothing; on any error the running state stays. */
  reload(): Promise<ReloadResult> {
    // One at a time: two quick SIGHUPs must not plan from the same state and both apply.
    const run = this.reloadQueue.then(() => this.reloadNow());
    this.reloadQueue = run;
    return run;
  }

  private async reloadNow(): Promise<ReloadResult> {
    let plan: ReloadPlan;
    try {
      const live = new Set<IpPool>(this.pools.values());
      for (const s of this.sessions.all()) live.add(s.pool);
      plan = planReload(this.config, live);
      for (const c of plan.newSubnets) {
        // A subnet dropped by an earlier reload may still be on the TUN: "File exists" is fine.
        if (this.tun) await addrAdd(this.tun.name, formatCidr(c)).catch((e: unknown) => { if (!(e instanceof IpError && /exists/i.test(e.stderr))) throw e; });
      }
      this.users.reload();
    } catch (e) {
      const error = (e as Error).message ?? String(e);
      this.log.error({ err: error }, 'reload refused; the running configuration stays');
      this.events.emit({ type: 'reload', ok: false, error });
      return { ok: false, error, changed: [], restartNeeded: [] };
    }
    const logChanged = plan.changed.includes('log');
    this.config = plan.config;
    this.profile = plan.profile;
    this.pools.clear();
    for (const [name, pool] of plan.pools) this.pools.set(name, pool);
    this.gate.apply(plan.config);
    this.users.cacheSeconds = plan.config.auth.cacheSeconds;
    // Only a level edited in the file wins over `serve --log-level`.
    if (logChanged) this.log.level = plan.config.log.level;
    const { changed, restartNeeded } = plan;
    this.log.info({ changed, restartNeeded, users: this.users.list().length }, 'configuration reloaded');
    this.events.emit({ type: 'reload', ok: true, restartNeeded });
    return { ok: true, changed, restartNeeded };
  }

  /** Clean shutdown: every client gets a TERMINATE, then sockets, listener and TUN close. */
  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.server?.close();
    for (const s of this.sessions.all()) terminateTunnel(s, 'gateway shutting down');
    // Give the goodbye frames a moment to reach the clients.
    const deadline = Date.now() + 1000;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const sock of this.sockets) sock.destroy();
    this.dtls?.close();
    this.dtls = null;
    this.tun?.close();
    this.tun = null;
  }
}
