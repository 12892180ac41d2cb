/**
 * workers > 1: the TLS port's listener in the privileged process. It accepts here (paused: this
 * process reads nothing from a client), refuses before TLS what one network process would
 * refuse (gatekeeper.ts: banned addresses, then the rate and the unauthenticated caps of
 * conn-admission.ts) and hands every other connection to the least-loaded worker (balance.ts).
 * Refusals are told to worker 0, whose metrics and `ctl status` count them; so are the admitted
 * connections' addresses when `ban.points.connection` scores them: worker 0 keeps the ban scores
 * of the whole gateway (gatekeeper.ts), and only this process sees every connection.
 */
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { Logger } from '../../log.js';
import { cidrContains, parseIpv4 } from '../../protocol/ipv4.js';
import { dupFd } from '../../os/tun.js';
import { addressKey } from '../address-key.js';
import type { GatewayConfig } from '../config.js';
import type { BanRecord } from '../state/types.js';
import { AddressBans } from './address-bans.js';
import { pickWorker, type WorkerLoad } from './balance.js';
import { ConnectionAdmission, type AcceptRefusal, type AdmissionLimits } from './conn-admission.js';
import type { PrivilegedMessage } from './messages.js';
import { TurnTally } from './turn-tally.js';

/** How often workers > 1 forget full rate buckets and connections whose report never came. */
const ADMISSION_SWEEP_MS = 5_000;

/**
 * Addresses per conn-points message: under a flood of many addresses one loop turn sends several
 * messages, each well under the channel's 64 KiB frame (an address key is at most ~45 characters).
 */
export const MAX_POINTS_ADDRESSES = 512;

/** The limits conn-admission.ts counts, from a (re)loaded config. */
function admissionLimits(cfg: GatewayConfig): AdmissionLimits {
  const l = cfg.limits;
  return { rate: l.connectionRate, burst: l.connectionBurst, maxPerAddress: l.maxUnauthPerAddress, maxTotal: l.maxUnauthConnections, deadlineMs: l.authTimeout * 1000 };
}

/** The ban allow-list (ban.allow), as BanGuard.isAllowListed reads it. */
function isAllowListed(cfg: GatewayConfig, addr: string): boolean {
  const a = parseIpv4(addressKey(addr));
  return a !== null && cfg.ban.allow.some((c) => cidrContains(c, a));
}

/** What the acceptor needs of the privileged process. */
export interface AcceptHost {
  /** the running configuration (its ban allow-list) */
  config(): GatewayConfig;
  /** every worker's load, by index; a handed connection counts in `handed` */
  loads(): WorkerLoad[];
  /** true once the gateway stops: nothing is handed any more */
  stopping(): boolean;
  /** hands the paused connection to worker `i` as its connection `id` */
  hand(i: number, id: number, sock: Socket): Promise<void>;
  /** tells worker 0 (metrics, `ctl status`) */
  tellFirst(m: PrivilegedMessage): void;
  readonly log: Logger;
}

export class ConnectionAcceptor {
  private tcp: TcpServer | null = null;
  /** connection rate and unauthenticated caps, counted once for every worker (conn-admission.ts) */
  private readonly admission: ConnectionAdmission;
  /** address bans seen going by, refused at accept before the rate counts (address-bans.ts) */
  private readonly addressBans = new AddressBans();
  private sweepTimer: NodeJS.Timeout | null;
  /** refusals at accept, told to worker 0 once per loop turn (its metrics count them) */
  private readonly refused = new TurnTally<AcceptRefusal>((by) => this.host.tellFirst({ t: 'conn-refused', counts: Object.fromEntries(by) }));
  /** admitted connections per address key, told to worker 0 once per loop turn (ban.points.connection) */
  private readonly points = new TurnTally<string>((by) => this.host.tellFirst({ t: 'conn-points', remotes: [...by] }), MAX_POINTS_ADDRESSES);

  constructor(cfg: GatewayConfig, private readonly host: AcceptHost) {
    this.admission = new ConnectionAdmission(admissionLimits(cfg), (addr) => isAllowListed(this.host.config(), addr));
    this.sweepTimer = setInterval(() => {
      this.addressBans.sweep();
      const lost = this.admission.sweep();
      if (lost) this.host.log.warn({ connections: lost }, 'handed connections never reported done by their worker; no longer counted');
    }, ADMISSION_SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Accepts on the TLS port the privileged process bound (`listenFd`). */
  async listen(listenFd: number): Promise<void> {
    const tcp = createTcpServer({ pauseOnConnect: true }, (sock) => this.handConnection(sock));
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      // On a duplicate: closing this server (stop, ctl restart) must leave the port to the next process.
      tcp.listen({ fd: dupFd(listenFd) }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    tcp.on('error', (err) => this.host.log.error({ err: err.message }, 'listener error'));
  }

  /** A reload's new limits. */
  setLimits(cfg: GatewayConfig): void {
    this.admission.setLimits(admissionLimits(cfg));
  }

  /** A worker reported handed connections that became tunnels or closed. */
  done(ids: readonly number[], worker: number): void {
    this.admission.done(ids, worker);
  }

  /** A worker exited: its connections no longer count. */
  workerGone(worker: number): void {
    this.admission.workerGone(worker);
  }

  /** A ban going by: refused at accept from now on. */
  banSeen(b: BanRecord): void {
    this.addressBans.add(b);
  }

  unbanSeen(kind: BanRecord['kind'], key: string): void {
    this.addressBans.remove(kind, key);
  }

  /** Stops accepting (the port stays bound: listen() accepts on a duplicate). */
  close(): void {
    this.tcp?.close();
  }

  stopSweeping(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  private handConnection(sock: Socket): void {
    const loads = this.host.loads();
    const i = pickWorker(loads);
    const load = loads[i];
    if (!load || this.host.stopping()) {
      sock.destroy();
      return;
    }
    // Before TLS, in the order one network process checks (gatekeeper.ts): banned addresses,
    // over-rate ones and those over their unauthenticated connections are closed here.
    const remote = sock.remoteAddress ?? '';
    const admission = this.admission;
    const a = this.addressBans.banned(remote) ? { why: 'banned' as const } : admission.admit(remote, i);
    if ('why' in a) {
      this.host.log.debug({ remote, why: a.why }, 'connection refused');
      this.refusedAtAccept(a.why);
      sock.destroy();
      return;
    }
    load.handed++;
    this.scoreConnection(remote);
    this.host.log.debug({ worker: i, remote, loads: loads.map((o) => ({ c: o.connections, inFlight: o.handed - o.accepted })) }, 'connection handed to a worker');
    this.host.hand(i, a.id, sock).catch(() => {
      admission.done([a.id], i);
      sock.destroy();
    });
  }

  /**
   * `ban.points.connection` (workers > 1): worker 0 scores every admitted connection, as one
   * network process scores its own (gatekeeper.ts admit): told once per loop turn, per address.
   * Nothing is kept or sent while the points are 0 (the default) or the address is allow-listed.
   */
  private scoreConnection(remote: string): void {
    const cfg = this.host.config();
    if (cfg.ban.points.connection <= 0 || isAllowListed(cfg, remote)) return;
    this.points.add(addressKey(remote));
  }

  /** Worker 0 counts refusals for the metrics and `ctl status`: told once per loop turn. */
  private refusedAtAccept(why: AcceptRefusal): void {
    this.refused.add(why);
  }
}
