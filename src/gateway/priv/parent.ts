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
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../../log.js';
import { addrAdd, IpError, linkSetUp } from '../../os/ip.js';
import { CAP, hasCap, readProcStatus } from '../../os/proc-status.js';
import { ensurePrivateDir } from '../../os/safe-files.js';
import { createTunInterface, listenTcpSocket } from '../../os/tun.js';
import { formatCidr, formatIpv4, networkOf, type Ipv4Cidr } from '../../protocol/ipv4.js';
import { tlsDataMtu } from '../../protocol/mtu.js';
import type { GatewayConfig } from '../config.js';
import type { ServedProfile } from '../http-connection.js';
import { readForReload, readProfile } from '../reload.js';
import { loadOrCreateIdentity, type TlsIdentity } from '../tls-cert.js';
import { ClientCaError, readClientCaFiles, type ClientCaFiles } from '../tls-client-ca.js';
import { UserStore } from '../user-store.js';
import { AuthQueue } from './auth-queue.js';
import { AuthBackends } from '../auth/backends.js';
import { Channel } from './channel.js';
import { MAX_FRAME_FROM_NETWORK, MAX_LOGINS_IN_FLIGHT } from './limits.js';
import { parseNetworkMessage, type NetworkMessage, type PrivilegedMessage, type ProfileWire } from './messages.js';
import { resolveRunAs, type RunAs } from './run-as.js';
import { moveStateAside, openStateStore, stateNodeName } from '../state/open-store.js';
import { StateStoreError } from '../state/sqlite-store.js';
import { cutByRestart, staleSessions } from '../state/stale-sessions.js';
import type { SessionRecord, StateStore } from '../state/types.js';
import { StateService } from './state-service.js';
import { clusterAgentFor, type ClusterAgent } from '../cluster/agent.js';
import { redactedUrl, StoreUnavailableError } from '../state/redis-store.js';
import type { AcctRecord } from '../auth/accounting-record.js';

/** Start-up problems worded for the person who ran `serve` (serve.ts prints them). */
export class ServeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServeError';
  }
}

export interface ServeOptions {
  config: GatewayConfig;
  logLevel: string;
  logFormat: 'json' | 'pretty' | 'auto';
  /** `serve --reset-state`: move an unusable session database aside and start with an empty one */
  resetState?: boolean;
}

/** How often the privileged process drops stored sessions nobody came back for. */
const STALE_SWEEP_MS = 30_000;
/** Extra time a network process gets to end its own sessions before this sweep does (gateway.ts sweeps every 5 s). */
const STALE_GRACE_MS = 60_000;

/** How long the network process may take to bind and give up root. */
const START_TIMEOUT_MS = 60_000;
/** How long a stopping network process gets to say goodbye to its clients. */
const STOP_TIMEOUT_MS = 10_000;

function unprivilegedPortStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  } catch {
    return 1024;
  }
}

/** What `serve` needs and this process lacks, one line each; empty when it can start. */
export function missingPrivileges(cfg: GatewayConfig, st = readProcStatus('self')): string[] {
  const lacks: string[] = [];
  const need = (cap: number, name: string, why: string): void => {
    if (!hasCap(st.capEff, cap)) lacks.push(`${name}: ${why}`);
  };
  need(CAP.NET_ADMIN, 'CAP_NET_ADMIN', `to create the TUN device (${cfg.tun.name}) and give it the pool addresses`);
  const low = Math.min(cfg.listen.port, cfg.dtls.enabled ? cfg.dtls.port : cfg.listen.port);
  if (low < unprivilegedPortStart()) need(CAP.NET_BIND_SERVICE, 'CAP_NET_BIND_SERVICE', `to bind port ${low}`);
  need(CAP.SETUID, 'CAP_SETUID', `to run the network process as run-as-user ${cfg.runAsUser}`);
  need(CAP.SETGID, 'CAP_SETGID', `to run the network process as run-as-group ${cfg.runAsGroup}`);
  need(CAP.SETPCAP, 'CAP_SETPCAP', "to empty the network process's capability bounding set");
  if (st.uid[1] !== 0) lacks.unshift(`root (uid 0; this is uid ${st.uid[1]}): the state folder ${cfg.state} and its secrets belong to root`);
  return lacks;
}

/**
 * The config as the network process gets it. The auth servers (addresses, RADIUS secrets, LDAP
 * bind passwords) are cut: logins run in this process (auth/backends.ts).
 */
/** tun.offload from the configuration, unless SSLGATE_TUN_OFFLOAD=0 (or false/off) says no. */
export function tunOffloadWanted(cfg: GatewayConfig, env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env['SSLGATE_TUN_OFFLOAD']?.trim().toLowerCase();
  if (v === '0' || v === 'false' || v === 'off' || v === 'no') return false;
  return cfg.tun.offload;
}

function networkView(cfg: GatewayConfig): unknown {
  // The Redis password stays here too: the network process only needs the node's name and address.
  const cluster = cfg.cluster ? { ...cfg.cluster, redis: redactedUrl(cfg.cluster.redis) } : undefined;
  return JSON.parse(JSON.stringify({ ...cfg, authServers: {}, ...(cluster ? { cluster } : {}) })) as unknown;
}

function profileWire(p: ServedProfile | null): ProfileWire | null {
  return p ? { uri: p.uri, sha1: p.sha1, content: p.content.toString('base64') } : null;
}

function subnetsOf(cfg: GatewayConfig): Map<string, Ipv4Cidr> {
  const m = new Map<string, Ipv4Cidr>();
  m.set(formatCidr(cfg.network.address), cfg.network.address);
  for (const g of cfg.groups) m.set(formatCidr(g.network.address), g.network.address);
  return m;
}

async function addSubnet(tun: string, c: string): Promise<void> {
  // A subnet dropped by an earlier reload may still be on the TUN: "File exists" is fine.
  await addrAdd(tun, c).catch((e: unknown) => {
    if (!(e instanceof IpError && /exists/i.test(e.stderr))) throw e;
  });
}

/** The listening socket a supervising `serve` passed on (serve-supervisor.ts), if it is for `cfg.listen`. */
function inheritedListenFd(cfg: GatewayConfig, env: NodeJS.ProcessEnv = process.env): number | null {
  const fd = Number(env['SSLGATE_LISTEN_FD']);
  if (!Number.isInteger(fd) || fd < 3) return null;
  // A config whose listen address changed binds anew (the old port stays with the supervisor).
  return env['SSLGATE_LISTEN_ADDR'] === `${cfg.listen.host}:${cfg.listen.port}` ? fd : null;
}

/** The accounting record of a stored session that ended without a network process (sweepStale). */
function storedAcctRecord(r: SessionRecord): AcctRecord {
  const rec: AcctRecord = {
    // the same Acct-Session-Id the network process used (accounting-reporter.ts)
    sessionId: `${r.id.toString(16).padStart(8, '0')}-${r.createdAt.toString(16)}`,
    user: r.user,
    group: r.group,
    remote: r.remote,
    sessionTime: Math.max(0, Math.floor((Date.now() - r.createdAt) / 1000)),
    inOctets: r.rxBytes,
    outOctets: r.txBytes,
    inPackets: r.rxPackets,
    outPackets: r.txPackets,
  };
  if (r.address !== null) rec.framedIp = formatIpv4(r.address);
  if (r.attrs.radiusClass) rec.radiusClass = r.attrs.radiusClass;
  return rec;
}

export class PrivilegedParent {
  private config: GatewayConfig;
  private readonly log: Logger;
  private users!: UserStore;
  private identity!: TlsIdentity;
  private runAs!: RunAs;
  private tunName = '';
  private child: ChildProcess | null = null;
  private channel: Channel<NetworkMessage, PrivilegedMessage> | null = null;
  private readonly auth = new AuthQueue();
  private backends!: AuthBackends;
  private loginsInFlight = 0;
  /** reload step 1's result, until step 3 (or the next step 1) */
  private pending: { config: GatewayConfig; users: UserStore } | null = null;
  private stopping = false;
  networkPid = 0;
  /** sessions, leases, bans (issue 12): opened before the network process starts */
  private store: StateStore | null = null;
  private stateService: StateService | null = null;
  private staleTimer: NodeJS.Timeout | null = null;
  /** with `cluster:`: the node registry, other nodes' events, drain (cluster/agent.ts) */
  private cluster: ClusterAgent | null = null;
  /**
   * The TLS port's listening socket: bound here, accepted on only by the network process (fd 5
   * there). Kept open by this process across `ctl restart` (serve-supervisor.ts) so the port
   * never closes.
   */
  listenFd: number | null = null;

  constructor(private readonly opts: ServeOptions) {
    this.config = opts.config;
    this.log = createLogger({ level: opts.logLevel, format: opts.logFormat }).child({ proc: 'privileged' });
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
    const clientCa = this.readClientCa(cfg);
    await this.openStore(cfg);

    const tun = createTunInterface(cfg.tun.name, false, tunOffloadWanted(cfg));
    this.tunName = tun.name;
    const tunMtu = tlsDataMtu(cfg.mtu, { kind: 'aead-explicit-nonce' });
    let tunFdOpen = true;
    try {
      const subnets = subnetsOf(cfg);
      for (const c of subnets.keys()) await addrAdd(tun.name, c);
      // The TUN's MTU bounds what the kernel sends us; TLS 1.2 AES-GCM is the larger overhead
      // among the ciphers we negotiate, so every client's MTU is at least this.
      await linkSetUp(tun.name, tunMtu);
      this.log.info({ tun: tun.name, offload: tun.offload, subnets: [...subnets.values()].map((c) => `${formatIpv4(networkOf(c))}/${c.prefix}`) }, 'TUN device configured');

      // Next to this file: dist/src/gateway/priv/, or dist/bundle/ (scripts/bundle.mjs builds
      // network-process.js as an entry point beside the chunk this code is in).
      const entry = fileURLToPath(new URL('./network-process.js', import.meta.url));
      this.listenFd ??= this.listenSocket(cfg);
      const child = spawn(process.execPath, [...process.execArgv, entry], { stdio: ['ignore', 'inherit', 'inherit', 'pipe', tun.fd, this.listenFd] });
      this.child = child;
      // The network process holds the TUN now; this one never reads packets.
      closeSync(tun.fd);
      tunFdOpen = false;
      await this.handshake(child, {
        t: 'init',
        config: networkView(cfg),
        identity: { certPem: this.identity.certPem, keyPem: this.identity.keyPem, certFile: this.identity.certFile, generated: this.identity.generated },
        clientCaPem: clientCa?.caPem ?? null,
        clientCrlPem: clientCa?.crlPem ?? null,
        profile: profileWire(profile),
        tun: { name: tun.name, fd: 4, offload: tun.offload, mtu: tunMtu },
        listenFd: 5,
        runAs: this.runAs,
        users: this.users.count,
        logLevel: this.opts.logLevel,
        logFormat: this.opts.logFormat,
        stateKind: this.store!.kind,
        stateNode: stateNodeName(cfg),
      });
      this.staleTimer = setInterval(() => void this.sweepStale(), STALE_SWEEP_MS);
      this.staleTimer.unref();
      this.cluster = clusterAgentFor(this.store!, () => this.config, this.log, (m) => this.reply(m));
      this.cluster?.start();
    } catch (e) {
      if (tunFdOpen) closeSync(tun.fd);
      this.child?.kill('SIGKILL');
      throw e;
    }
  }

  /**
   * The TLS port: the socket a supervising `serve` passed on (SSLGATE_LISTEN_FD, when it is for
   * the configured address), else a new one bound here.
   */
  private listenSocket(cfg: GatewayConfig): number {
    const inherited = inheritedListenFd(cfg);
    if (inherited !== null) return inherited;
    try {
      return listenTcpSocket(cfg.listen.host, cfg.listen.port);
    } catch (e) {
      const err = e as Error & { code?: string };
      throw new ServeError(err.code ? `${err.message} [${err.code}]` : err.message);
    }
  }

  /**
   * The session store, before the network process exists. An unreadable file stops the start
   * with its name and the way out (never a silent reset); `--reset-state` moves it aside first.
   */
  private async openStore(cfg: GatewayConfig): Promise<void> {
    if (this.opts.resetState) {
      const moved = moveStateAside(cfg);
      if (moved.length) this.log.warn({ moved }, 'session database moved aside (--reset-state): every session starts anew');
    }
    try {
      this.store = await openStateStore(cfg);
    } catch (e) {
      if (e instanceof StateStoreError) throw new ServeError(e.message);
      if (e instanceof StoreUnavailableError) throw new ServeError(`cluster.redis: ${e.message}; the cluster's sessions live there, so this node cannot start without it`);
      throw e;
    }
    this.stateService = new StateService(this.store, () => this.poolSubnets(), this.log);
    // No tunnel is up before this process starts: sessions recorded as "tunnel up" were cut by
    // a crash or a restart, and their reconnect window starts now.
    const node = stateNodeName(cfg);
    const records = await this.store.listSessions();
    const cut = cutByRestart(records, node, Date.now());
    for (const r of cut) await this.store.putSession(r);
    this.log.info({ store: this.store.kind, sessions: records.length, reconnecting: cut.length }, 'session store open');
  }

  /** Pool subnets the network process may lease from: the running config's and a pending reload's. */
  private poolSubnets(): Set<string> {
    const out = new Set(subnetsOf(this.config).keys());
    if (this.pending) for (const c of subnetsOf(this.pending.config).keys()) out.add(c);
    return out;
  }

  /**
   * Stored sessions whose reconnect window (or session-timeout) passed without a network process
   * taking them: gone from the store, their lease freed, their accounting stopped.
   */
  private async sweepStale(): Promise<void> {
    const store = this.store;
    if (!store || this.stopping) return;
    try {
      const cluster = this.cluster;
      // In a cluster each node sweeps its own records and those of nodes that are gone.
      const stale = staleSessions(await store.listSessions(), Date.now(), this.config.cookieTimeout, STALE_GRACE_MS).filter((x) => !cluster || cluster.sweepable(x.record));
      for (const { record: r, why } of stale) {
        if (cluster) {
          if (!(await cluster.claim(r.cookieHash))) continue; // another node swept it
        } else await store.deleteSession(r.cookieHash);
        const pool = this.config.groups.find((g) => g.name === r.group)?.network.address;
        if (pool) await store.release({ name: r.group, cidr: formatCidr(pool) }, r.cookieHash);
        this.log.info({ session: r.id, user: r.user, why }, 'stored session ended');
        this.backends.account('stop', storedAcctRecord(r), why === 'session timeout' ? 'session-timeout' : 'lost-carrier');
      }
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'session store sweep failed');
    }
  }

  /** tls.client-ca and tls.crl, checked (tls-client-ca.ts); a bad file stops the start with its name. */
  private readClientCa(cfg: GatewayConfig): ClientCaFiles | null {
    try {
      return readClientCaFiles(cfg.tls, (message) => this.log.warn({ file: cfg.tls.clientCa }, message));
    } catch (e) {
      if (e instanceof ClientCaError) throw new ServeError(e.message);
      throw e;
    }
  }

  private handshake(child: ChildProcess, init: PrivilegedMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ServeError(`the network process did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      let started = false;
      const settle = (err: Error | null): void => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      child.once('exit', (code, signal) => {
        this.channel?.close(null);
        if (!started) {
          settle(new ServeError(`the network process exited during start-up (${signal ?? `exit ${code}`})`));
          return;
        }
        if (this.stopping) return;
        this.log.fatal({ code, signal }, 'network process exited; the gateway stops');
        this.cleanup();
        process.exit(1);
      });
      this.channel = new Channel<NetworkMessage, PrivilegedMessage>(
        child.stdio[3] as Socket,
        MAX_FRAME_FROM_NETWORK,
        parseNetworkMessage,
        (m) => {
          if (m.t === 'ready' && !started) {
            started = true;
            this.networkPid = child.pid ?? m.pid;
            settle(null);
          } else if (m.t === 'fatal' && !started) {
            settle(new ServeError(m.code && /^E[A-Z]+$/.test(m.code) ? `${m.error} [${m.code}]` : m.error));
          } else this.onRequest(m);
        },
        (err) => {
          if (err && !this.stopping) this.log.error({ err: err.message }, 'channel to the network process closed; stopping it');
          // A network process that broke the protocol may be compromised: it goes.
          if (!this.stopping && this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
        },
      );
      this.channel.send(init);
    });
  }

  private reply(m: PrivilegedMessage): void {
    this.channel?.send(m);
  }

  private onRequest(m: NetworkMessage): void {
    switch (m.t) {
      case 'auth-start':
      case 'auth-answer': {
        const { id } = m;
        // Logins in flight are bounded here; the local password checks inside them are bounded
        // again by the AuthQueue (auth/queued-method.ts), RADIUS/LDAP by their own timeouts.
        if (this.loginsInFlight >= MAX_LOGINS_IN_FLIGHT) {
          this.reply({ t: 'auth-outcome', id, outcome: { kind: 'failure', reason: 'busy', message: 'The gateway is busy; please try again later.' } });
          break;
        }
        this.loginsInFlight++;
        const engine = this.backends.engine;
        void (m.t === 'auth-start' ? engine.start(m.req) : engine.answer(m.req))
          .then(
            (outcome) => this.reply({ t: 'auth-outcome', id, outcome }),
            (e: unknown) => {
              this.log.error({ err: (e as Error).message }, 'login check failed');
              this.reply({ t: 'auth-outcome', id, outcome: { kind: 'failure', reason: 'backend-error', message: 'The login could not be checked; please try again.' } });
            },
          )
          .finally(() => this.loginsInFlight--);
        break;
      }
      case 'acct':
        this.backends.account(m.event, m.record, m.cause);
        break;
      case 'reload-read':
        this.reloadRead(m.id);
        break;
      case 'reload-subnets':
        void this.reloadSubnets(m.id, m.cidrs);
        break;
      case 'reload-commit':
        this.reloadCommit(m.id);
        break;
      case 'cluster-load':
        this.cluster?.report(m);
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
        if (this.stateService) this.stateService.handle(m, (a) => this.reply(a));
        else this.reply({ t: 'state-result', id: m.id, ok: false, error: 'no session store' });
        break;
      default:
        this.log.warn({ type: m.t }, 'unexpected message from the network process');
    }
  }

  private reloadRead(id: number): void {
    this.pending = null;
    try {
      const { config, profile } = readForReload(this.config);
      // The state folder is bound at start (a restart key): users come from the running one.
      const users = UserStore.inState(this.config.state, (message) => this.log.warn(message));
      users.cacheSeconds = config.auth.cacheSeconds;
      // tls is a restart key: the files at the running paths, read again (a CRL is renewed in place).
      const clientCa = this.readClientCa(this.config);
      this.pending = { config, users };
      this.reply({ t: 'reload-config', id, ok: true, config: networkView(config), profile: profileWire(profile), users: users.count, clientCa });
    } catch (e) {
      this.reply({ t: 'reload-failed', id, ok: false, error: (e as Error).message });
    }
  }

  private async reloadSubnets(id: number, cidrs: string[]): Promise<void> {
    const p = this.pending;
    // Only subnets of the file this process read: the network process cannot choose addresses.
    const allowed = p ? subnetsOf(p.config) : new Map<string, Ipv4Cidr>();
    const bad = cidrs.find((c) => !allowed.has(c));
    if (bad !== undefined) {
      this.log.warn({ subnet: bad }, 'network process asked for a subnet that is not in the configuration; refused');
      this.reply({ t: 'reload-failed', id, ok: false, error: `subnet ${bad} is not in the configuration just read` });
      return;
    }
    try {
      for (const c of cidrs) await addSubnet(this.tunName, c);
      this.reply({ t: 'reload-done', id, ok: true });
    } catch (e) {
      this.reply({ t: 'reload-failed', id, ok: false, error: `adding a pool subnet to ${this.tunName}: ${(e as Error).message}` });
    }
  }

  private reloadCommit(id: number): void {
    const p = this.pending;
    if (!p) {
      this.reply({ t: 'reload-failed', id, ok: false, error: 'no reload in progress' });
      return;
    }
    this.pending = null;
    this.users = p.users;
    // Keys bound at start keep their running values (reload.ts RESTART_KEYS).
    this.config = { ...p.config, state: this.config.state, tun: this.config.tun, runAsUser: this.config.runAsUser, runAsGroup: this.config.runAsGroup, file: this.config.file };
    if (p.config.log.level !== this.log.level) this.log.level = p.config.log.level;
    this.backends.rebuild();
    this.reply({ t: 'reload-done', id, ok: true });
  }

  /** SIGHUP: the network process runs the reload (it knows the leases) and asks for each step. */
  reload(): void {
    this.channel?.send({ t: 'reload' });
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
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      this.channel?.send({ t: 'stop', signal: 'restart', keepSessions: true });
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await this.backends?.close();
    await this.closeStore();
    this.cleanup();
  }

  /** SIGTERM/SIGINT: the network process says goodbye to every client, then both exit. */
  async stop(signal: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      this.channel?.send({ t: 'stop', signal });
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    // SIGTERM/SIGINT: the gateway goes away and its sessions with it, also those whose client had
    // not come back since a restart (the network process ended the ones it carried). Not on a
    // failed start: a port in use must not cost every user their session.
    if (signal === 'SIGTERM' || signal === 'SIGINT') await this.endStoredSessions();
    // Accounting Stop records the network process sent on its way out still go to the server.
    await this.backends?.close();
    await this.closeStore();
    this.cleanup();
  }

  /** Deletes this node's stored sessions (their leases freed, accounting stopped as a NAS reboot). */
  private async endStoredSessions(): Promise<void> {
    const store = this.store;
    if (!store) return;
    try {
      const node = stateNodeName(this.config);
      for (const r of await store.listSessions()) {
        if (r.node !== node) continue;
        await store.deleteSession(r.cookieHash);
        const pool = this.config.groups.find((g) => g.name === r.group)?.network.address;
        if (pool) await store.release({ name: r.group, cidr: formatCidr(pool) }, r.cookieHash);
        this.backends?.account('stop', storedAcctRecord(r), 'nas-reboot');
      }
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'ending the stored sessions failed');
    }
  }

  private async closeStore(): Promise<void> {
    await this.cluster?.stop();
    this.cluster = null;
    if (this.staleTimer) clearInterval(this.staleTimer);
    this.staleTimer = null;
    const store = this.store;
    this.store = null;
    this.stateService = null;
    await store?.close().catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'closing the session store failed'));
  }

  /** The admin socket sits in the root-only state folder: the network process cannot remove it. */
  private cleanup(): void {
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
