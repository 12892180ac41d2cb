/**
 * The gateway's privileged process (`sslgate serve` itself), after ocserv's main + sec-mod split:
 *
 *   privileged process (root, this file)        network process (run-as-user, no capabilities)
 *   - reads the config file, users.json,         - TLS, HTTP, aggregate-auth XML, CSTP, DTLS:
 *     the TLS key, the profile                     everything from the internet
 *   - creates the TUN device, adds the pool      - sessions, pools, bans, admin API, metrics
 *     addresses (start and reload)               - asks over the channel: "is this password
 *   - checks passwords (hashes never leave it)     right?", "reload", "add these subnets"
 *   - forwards SIGHUP / SIGTERM
 *
 * The channel is a socketpair (fd 3 of the network process) carrying length-prefixed JSON
 * (frames.ts); every message from the network process is validated (messages.ts) and a bad one
 * stops the gateway. This process never reads a byte from the network.
 *
 * This file starts the network processes and answers their requests; the parts live beside it:
 * worker-tuns.ts (the TUN devices), serve-inputs.ts (the TLS port, the client CA files),
 * worker-link.ts (a network process's handshake, exit and stop), login-runner.ts (the logins),
 * reload-coordinator.ts (reloads, one worker at a time), state-keeper.ts (the session store,
 * its stale sweep, the cluster agent), and with workers > 1 connection-acceptor.ts (the TLS
 * listener, admission, hand-over) and worker-mesh-router.ts (routes, DTLS hand-off, ctl relay,
 * user locks, ops events).
 */
import { spawn } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import { closeSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../../log.js';
import { ensurePrivateDir } from '../../os/safe-files.js';
import { tlsDataMtu } from '../../protocol/mtu.js';
import type { GatewayConfig } from '../config.js';
import { readProfile } from '../reload.js';
import { loadOrCreateIdentity, type TlsIdentity } from '../tls-cert.js';
import { UserStore } from '../user-store.js';
import { AuthQueue } from './auth-queue.js';
import { AuthBackends } from '../auth/backends.js';
import { LoginRunner } from './login-runner.js';
import { listenSocket, readClientCa } from './serve-inputs.js';
import { openWorkerTuns, type WorkerTun } from './worker-tuns.js';
import type { NetworkMessage, PrivilegedMessage } from './messages.js';
import { resolveRunAs, type RunAs } from './run-as.js';
import { ServeError } from './serve-error.js';
import { handshake, stopWorker, type LinkHost, type WorkerLink } from './worker-link.js';
import { StateKeeper } from './state-keeper.js';
import { ReloadCoordinator, type PendingReload } from './reload-coordinator.js';
import { ConnectionAcceptor } from './connection-acceptor.js';
import { WorkerMeshRouter } from './worker-mesh-router.js';
import type { WorkerHandleMessage } from './worker-messages.js';
import { stateNodeName } from '../state/open-store.js';
import { missingPrivileges, networkView, profileWire, resolveWorkers, subnetsOf, tunOffloadWanted, workerTunName } from './serve-setup.js';

export { missingPrivileges, resolveWorkers, tunOffloadWanted, workerTunName };

export { ServeError };

export interface ServeOptions {
  config: GatewayConfig;
  logLevel: string;
  logFormat: 'json' | 'pretty' | 'auto';
  /** `serve --reset-state`: move an unusable session database aside and start with an empty one */
  resetState?: boolean;
}

export class PrivilegedParent {
  private config: GatewayConfig;
  private readonly log: Logger;
  private users!: UserStore;
  private identity!: TlsIdentity;
  private runAs!: RunAs;
  private tunName = '';
  private workers: WorkerLink[] = [];
  /** workers > 1: the TLS listener, which hands connections to workers (connection-acceptor.ts) */
  private acceptor: ConnectionAcceptor | null = null;
  /** workers > 1: tunnel routes, DTLS peers, ctl relay, user locks, ops events (worker-mesh-router.ts) */
  private mesh: WorkerMeshRouter | null = null;
  /** reloads, one worker at a time (reload-coordinator.ts) */
  private readonly reloads: ReloadCoordinator;
  private readonly auth = new AuthQueue();
  private backends!: AuthBackends;
  /** logins in flight, bounded (login-runner.ts) */
  private readonly logins: LoginRunner;
  private stopping = false;

  /** the network processes' pids (one per worker) */
  get networkPids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0);
  }

  get networkPid(): number {
    return this.networkPids[0] ?? 0;
  }
  /** sessions, leases, bans (issue 12), the cluster agent: opened before the network process starts (state-keeper.ts) */
  private readonly state: StateKeeper;
  /**
   * The TLS port's listening socket: bound here, accepted on only by the network process (fd 5
   * there). Kept open by this process across `ctl restart` (serve-supervisor.ts) so the port
   * never closes.
   */
  listenFd: number | null = null;

  constructor(private readonly opts: ServeOptions) {
    this.config = opts.config;
    this.log = createLogger({ level: opts.logLevel, format: opts.logFormat }).child({ proc: 'privileged' });
    this.logins = new LoginRunner(() => this.backends.engine, this.log);
    this.state = new StateKeeper({
      config: () => this.config,
      poolSubnets: () => this.poolSubnets(),
      account: (e, r, c) => this.backends?.account(e, r, c),
      stopping: () => this.stopping,
      log: this.log,
    });
    this.reloads = new ReloadCoordinator({
      config: () => this.config,
      tunName: () => this.tunName,
      readClientCa: (cfg) => readClientCa(cfg, this.log),
      adopt: (p) => this.adoptReload(p),
      followers: () => this.workers.slice(1),
      log: this.log,
    });
  }

  get userCount(): number {
    return this.users.count;
  }

  get pin(): string {
    return this.identity.pin;
  }

  get certificate(): { file: string; generated: boolean } {
    return { file: this.identity.certFile, generated: this.identity.generated };
  }

  get tun(): string {
    return this.tunName;
  }

  /** Everything up to a network process that is listening without root. Throws ServeError. */
  async start(): Promise<void> {
    const cfg = this.config;
    const lacks = missingPrivileges(cfg);
    if (lacks.length) throw new ServeError(`sslgate serve must be started as root; it lacks:\n  - ${lacks.join('\n  - ')}`);
    this.runAs = resolveRunAs(cfg.runAsUser, cfg.runAsGroup);
    const notice = (message: string): void => this.log.warn({ file: message.split(':')[0] }, message);
    ensurePrivateDir(cfg.state, notice);
    this.identity = await loadOrCreateIdentity({ ...cfg.tls, stateDir: cfg.state, subjectHost: cfg.listen.host, notice });
    this.users = UserStore.inState(cfg.state, notice);
    this.users.cacheSeconds = cfg.auth.cacheSeconds;
    this.backends = new AuthBackends({ config: () => this.config, users: () => this.users, log: this.log, queue: this.auth });
    const profile = readProfile(cfg.profile);
    const clientCa = readClientCa(cfg, this.log);
    await this.state.open(cfg, this.opts.resetState === true);

    const count = resolveWorkers(cfg.workers);
    // workers > 1: what only several workers send is answered from their first message on.
    if (count > 1) {
      this.mesh = new WorkerMeshRouter({
        workers: () => this.workers,
        config: () => this.config,
        store: () => this.state.store,
        sendHandle: (i, m, h) => this.sendHandle(i, m, h),
        connDone: (ids, i) => this.acceptor?.done(ids, i),
        log: this.log,
      });
    }
    const tunMtu = tlsDataMtu(cfg.mtu, { kind: 'aead-explicit-nonce' });
    // One TUN per worker (worker-tuns.ts); worker 0's has the pool subnets, as with one worker.
    const tuns: WorkerTun[] = [];
    try {
      await openWorkerTuns(cfg, count, tunMtu, tuns, this.log);
      this.tunName = tuns[0]!.name;

      // Next to this file: dist/src/gateway/priv/, or dist/bundle/ (scripts/bundle.mjs builds
      // network-process.js as an entry point beside the chunk this code is in).
      const entry = fileURLToPath(new URL('./network-process.js', import.meta.url));
      this.listenFd ??= listenSocket(cfg);
      const init = (i: number): PrivilegedMessage => ({
        t: 'init',
        config: networkView(cfg),
        identity: { certPem: this.identity.certPem, keyPem: this.identity.keyPem, certFile: this.identity.certFile, generated: this.identity.generated },
        clientCaPem: clientCa?.caPem ?? null,
        clientCrlPem: clientCa?.crlPem ?? null,
        profile: profileWire(profile),
        tun: { name: tuns[i]!.name, fd: 4, offload: tuns[i]!.offload, mtu: tunMtu },
        // One worker accepts on the TLS port itself; several get their connections from here.
        ...(count === 1 ? { listenFd: 5 } : {}),
        runAs: this.runAs,
        users: this.users.count,
        logLevel: this.opts.logLevel,
        logFormat: this.opts.logFormat,
        stateKind: this.state.store!.kind,
        stateNode: stateNodeName(cfg),
        ...(count > 1 ? { worker: { index: i, count } } : {}),
      });
      for (let i = 0; i < count; i++) {
        // workers > 1: an IPC channel (fd 5) carries handles: accepted connections, DTLS peers' sockets.
        const stdio: Array<'ignore' | 'inherit' | 'pipe' | 'ipc' | number> = ['ignore', 'inherit', 'inherit', 'pipe', tuns[i]!.fd];
        // One worker: the TLS port as fd 5. Several: an IPC channel (fd 5) for handles instead.
        stdio.push(count > 1 ? 'ipc' : this.listenFd!);
        const child = spawn(process.execPath, [...process.execArgv, entry], { stdio });
        this.workers.push({ index: i, child, channel: null, tun: tuns[i]!.name, load: { tunnels: 0, connections: 0, handed: 0, accepted: 0, up: false } });
        // The network process holds the TUN now; this one never reads packets.
        closeSync(tuns[i]!.fd);
        tuns[i]!.fd = -1;
      }
      const link: LinkHost = {
        workers: () => this.workers,
        stopping: () => this.stopping,
        gone: (w) => {
          this.reloads.workerGone(w.index);
          this.acceptor?.workerGone(w.index);
          this.mesh?.workerGone(w.index);
        },
        fatal: (w) => {
          for (const o of this.workers) if (o !== w) o.child.kill('SIGKILL');
          this.cleanup();
          process.exit(1);
        },
        onRequest: (m, w) => this.onRequest(m, w),
        log: this.log,
      };
      await Promise.all(this.workers.map((w) => handshake(w, init(w.index), link)));
      if (count > 1) await this.startWorkerMesh(cfg);
      // What the cluster says (other nodes' bans, moves, the node list) goes to every worker.
      this.state.start((m) => {
        if (m.t === 'state-ban-added') this.acceptor?.banSeen(m.ban);
        else if (m.t === 'state-ban-removed') this.acceptor?.unbanSeen(m.kind, m.key);
        for (const w of this.workers) w.channel?.send(m);
      });
    } catch (e) {
      for (const t of tuns) if (t.fd >= 0) closeSync(t.fd);
      for (const w of this.workers) w.child.kill('SIGKILL');
      this.acceptor?.close();
      throw e;
    }
  }

  /**
   * workers > 1, once every worker is up: routes for tunnel addresses, the DTLS hand-off, and
   * the TLS listener, which accepts here (paused: this process reads nothing) and hands each
   * connection to the least-loaded worker (balance.ts).
   */
  private async startWorkerMesh(cfg: GatewayConfig): Promise<void> {
    this.mesh!.start(cfg);
    const acceptor = new ConnectionAcceptor(cfg, {
      config: () => this.config,
      loads: () => this.workers.map((w) => w.load),
      stopping: () => this.stopping,
      hand: (i, id, sock) => this.sendHandle(i, { t: 'conn', id }, sock),
      tellFirst: (m) => void this.workers[0]?.channel?.send(m),
      log: this.log,
    });
    this.acceptor = acceptor;
    // Bans made before this start (a restart, another node) are refused at accept too.
    void this.state.store?.listBans().then(
      (bans) => bans.forEach((b) => acceptor.banSeen(b)),
      (e: unknown) => this.log.warn({ err: (e as Error).message }, 'reading the stored bans failed; the workers still enforce them'),
    );
    // The TLS port this process bound (listenSocket): accepted here, handed to the workers.
    await acceptor.listen(this.listenFd!);
  }

  private sendHandle(i: number, m: WorkerHandleMessage, handle: Socket | UdpSocket): Promise<void> {
    const child = this.workers[i]?.child;
    return new Promise<void>((resolve, reject) => {
      if (!child?.connected) {
        reject(new Error(`worker ${i} has no IPC channel`));
        return;
      }
      child.send(m, handle, {}, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Pool subnets the network process may lease from: the running config's and a pending reload's. */
  private poolSubnets(): Set<string> {
    const out = new Set(subnetsOf(this.config).keys());
    const pending = this.reloads.pendingConfig;
    if (pending) for (const c of subnetsOf(pending).keys()) out.add(c);
    return out;
  }

  private onRequest(m: NetworkMessage, w: WorkerLink): void {
    const reply = (a: PrivilegedMessage): void => void w.channel?.send(a);
    switch (m.t) {
      case 'auth-start':
      case 'auth-answer':
        this.logins.run(m, reply);
        break;
      case 'acct':
        this.backends.account(m.event, m.record, m.cause);
        break;
      case 'reload-read':
        this.reloads.read(m.id, w);
        break;
      case 'reload-subnets':
        this.reloads.subnets(m.id, m.cidrs, w);
        break;
      case 'reload-commit':
        this.reloads.commit(m.id, w);
        break;
      case 'ctl-relay':
        if (!this.mesh?.relayCtl(w.index, m.id, m.ask)) reply({ t: 'ctl-relayed', id: m.id, answers: [] });
        break;
      case 'ctl-answer':
        this.mesh?.ctlAnswer(w.index, m.id, m.part, m.more);
        break;
      case 'load':
      case 'route':
      case 'unroute':
      case 'dtls-id':
      case 'dtls-hello':
      case 'dtls-peer-closed':
      case 'ops-event':
      case 'conn-done':
      case 'user-lock':
      case 'user-unlock':
        if (this.mesh) this.mesh.onMessage(m, w);
        else this.log.warn({ type: m.t }, 'unexpected message from the network process');
        break;
      case 'cluster-load':
        this.state.report(m, w.index);
        // Several workers: each balances on the node's load, so each hears the others' (cluster/view.ts).
        if (this.workers.length > 1) {
          for (const o of this.workers) {
            const peers = o === w ? null : this.state.peerLoad(o.index);
            if (peers) o.channel?.send({ t: 'cluster-peers', ...peers });
          }
        }
        break;
      case 'restart':
        if (this.onRestart && !this.stopping) this.onRestart();
        else this.log.warn({}, 'restart asked for, but this gateway cannot restart itself now');
        break;
      case 'state-next-id':
      case 'state-put':
      case 'state-get':
      case 'state-delete':
      case 'state-list':
      case 'state-lease':
      case 'state-release':
      case 'state-ban':
      case 'state-unban':
      case 'state-bans':
        this.state.handle(m, (a) => reply(a));
        // A ban or lift made by one worker holds in the others too (the cluster agent tells the
        // other nodes through the store's own events).
        if (m.t === 'state-ban') this.acceptor?.banSeen(m.ban);
        else if (m.t === 'state-unban') this.acceptor?.unbanSeen(m.kind, m.key);
        if (this.workers.length > 1 && (m.t === 'state-ban' || m.t === 'state-unban')) {
          const note: PrivilegedMessage = m.t === 'state-ban' ? { t: 'state-ban-added', ban: m.ban } : { t: 'state-ban-removed', kind: m.kind, key: m.key };
          for (const o of this.workers) if (o !== w) o.channel?.send(note);
        }
        break;
      default:
        this.log.warn({ type: m.t }, 'unexpected message from the network process');
    }
  }

  /** Reload step 3: the config and user store read in step 1 become the running ones. */
  private adoptReload(p: PendingReload): void {
    this.users = p.users;
    // Keys bound at start keep their running values (reload.ts RESTART_KEYS).
    this.config = { ...p.config, state: this.config.state, tun: this.config.tun, runAsUser: this.config.runAsUser, runAsGroup: this.config.runAsGroup, file: this.config.file };
    if (p.config.log.level !== this.log.level) this.log.level = p.config.log.level;
    this.acceptor?.setLimits(this.config);
    this.backends.rebuild();
  }

  /** SIGHUP: the network process runs the reload (it knows the leases) and asks for each step; worker 0 first. */
  reload(): void {
    this.workers[0]?.channel?.send({ t: 'reload' });
  }

  /** Set by serve.ts: a `ctl restart` arrived (through the network process's admin API). */
  onRestart: (() => void) | null = null;

  /**
   * `ctl restart`: the network process records every session in the store and closes every
   * connection without a goodbye (the clients reconnect to the next process with their cookie),
   * then the store closes. No accounting Stop: the sessions go on.
   */
  async handover(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // The TLS port stays bound (the next process takes it over); only accepting here stops.
    this.acceptor?.close();
    await this.stopWorkers({ t: 'stop', signal: 'restart', keepSessions: true });
    await this.backends?.close();
    await this.state.close();
    this.cleanup();
  }

  /** Sends `m` (a stop) to every network process and waits for them to exit. */
  private async stopWorkers(m: PrivilegedMessage): Promise<void> {
    await Promise.all(this.workers.map((w) => stopWorker(w, m)));
  }

  /** SIGTERM/SIGINT: the network process says goodbye to every client, then both exit. */
  async stop(signal: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.acceptor?.close();
    await this.stopWorkers({ t: 'stop', signal });
    // SIGTERM/SIGINT: the gateway goes away and its sessions with it, also those whose client had
    // not come back since a restart (the network process ended the ones it carried). Not on a
    // failed start: a port in use must not cost every user their session.
    if (signal === 'SIGTERM' || signal === 'SIGINT') await this.state.endNodeSessions();
    // Accounting Stop records the network process sent on its way out still go to the server.
    await this.backends?.close();
    await this.state.close();
    this.cleanup();
  }

  /** The admin socket sits in the root-only state folder: the network process cannot remove it. */
  private cleanup(): void {
    this.acceptor?.stopSweeping();
    const sock = this.config.admin.socket;
    if (sock && existsSync(sock) && lstatSync(sock).isSocket()) {
      try {
        unlinkSync(sock);
      } catch {
        // gone already
      }
    }
  }
}
