/**
 * The privileged process's side of a reload (reload.ts runs it in each network process, which
 * knows the leases): step 1 reads and checks the files again (reload-read), step 2 adds the new
 * pool subnets to the TUN (reload-subnets), step 3 adopts the result (reload-commit).
 *
 * Reloads run one worker at a time: a worker's step 1 waits while another worker is between
 * step 1 and its end. Worker 0 reloads first (SIGHUP, or `ctl reload`, which only worker 0
 * answers); when its reload is committed the other workers are told to follow, and worker 0's
 * step 3 is answered only when they have (or after FOLLOW_TIMEOUT_MS): when `ctl reload` says
 * "reloaded", every worker runs the new configuration, so the next login gets it whichever
 * worker it lands on.
 */
import type { Logger } from '../../log.js';
import type { Ipv4Cidr } from '../../protocol/ipv4.js';
import type { GatewayConfig } from '../config.js';
import { readForReload } from '../reload.js';
import type { ClientCaFiles } from '../tls-client-ca.js';
import { UserStore } from '../user-store.js';
import type { PrivilegedMessage } from './messages.js';
import { addSubnet, networkView, profileWire, subnetsOf } from './serve-setup.js';

/** How long worker 0's `ctl reload` waits for the other workers to follow (they read the same files: ms). */
export const FOLLOW_TIMEOUT_MS = 10_000;

/** A network process as a reload sees it. */
export interface ReloadWorker {
  readonly index: number;
  readonly channel: { send(m: PrivilegedMessage): boolean } | null;
}

/** Reload step 1's result, until step 3 (or the next step 1). */
export interface PendingReload {
  config: GatewayConfig;
  users: UserStore;
}

/** What the coordinator needs of the privileged process. */
export interface ReloadHost {
  /** the running configuration */
  config(): GatewayConfig;
  /** the TUN device the pool subnets go on (worker 0's) */
  tunName(): string;
  /** tls.client-ca and tls.crl, checked (throws on a bad file) */
  readClientCa(cfg: GatewayConfig): ClientCaFiles | null;
  /** step 3: the pending config and user store become the running ones */
  adopt(p: PendingReload): void;
  /** the workers other than worker 0, which follow its reload */
  followers(): ReloadWorker[];
  readonly log: Logger;
}

/** Worker 0's committed reload, answered when the followers in `waiting` have ended theirs. */
interface FollowRound {
  leader: ReloadWorker;
  id: number;
  waiting: Set<number>;
  timer: NodeJS.Timeout;
}

export class ReloadCoordinator {
  /** the worker whose reload is between step 1 and its end; others wait (waiting) */
  private owner: ReloadWorker | null = null;
  private readonly waiting: Array<{ w: ReloadWorker; start: () => void }> = [];
  private pending: PendingReload | null = null;
  private round: FollowRound | null = null;

  constructor(
    private readonly host: ReloadHost,
    private readonly followTimeoutMs = FOLLOW_TIMEOUT_MS,
  ) {}

  /** the config of a reload between step 1 and step 3 (its pool subnets may be leased already) */
  get pendingConfig(): GatewayConfig | null {
    return this.pending?.config ?? null;
  }

  /** Step 1: the files read again; waits while another worker's reload runs. */
  read(id: number, w: ReloadWorker): void {
    if (this.owner !== null && this.owner !== w) {
      this.waiting.push({ w, start: () => this.read(id, w) });
      return;
    }
    this.owner = w;
    this.pending = null;
    const running = this.host.config();
    try {
      const { config, profile } = readForReload(running);
      // The state folder is bound at start (a restart key): users come from the running one.
      const users = UserStore.inState(running.state, (message) => this.host.log.warn(message));
      users.cacheSeconds = config.auth.cacheSeconds;
      // tls is a restart key: the files at the running paths, read again (a CRL is renewed in place).
      const clientCa = this.host.readClientCa(running);
      this.pending = { config, users };
      w.channel?.send({ t: 'reload-config', id, ok: true, config: networkView(config), profile: profileWire(profile), users: users.count, clientCa });
    } catch (e) {
      w.channel?.send({ t: 'reload-failed', id, ok: false, error: (e as Error).message });
      this.ended();
    }
  }

  /** Step 2: only subnets of the file this process read: the network process cannot choose addresses. */
  subnets(id: number, cidrs: string[], w: ReloadWorker): void {
    if (this.owner !== w) w.channel?.send({ t: 'reload-failed', id, ok: false, error: 'no reload in progress' });
    else void this.addSubnets(id, cidrs, w);
  }

  /** Step 3: the pending config is adopted. */
  commit(id: number, w: ReloadWorker): void {
    if (this.owner !== w) {
      w.channel?.send({ t: 'reload-failed', id, ok: false, error: 'no reload in progress' });
      return;
    }
    const p = this.pending;
    if (!p) {
      w.channel?.send({ t: 'reload-failed', id, ok: false, error: 'no reload in progress' });
      this.ended();
      return;
    }
    this.pending = null;
    this.host.adopt(p);
    this.ended();
    if (w.index !== 0) {
      w.channel?.send({ t: 'reload-done', id, ok: true });
      return;
    }
    // Worker 0 reloaded (SIGHUP, or `ctl reload`, which only worker 0 answers): the others
    // follow, and worker 0 hears "done" when they have.
    this.finishRound();
    const waiting = new Set<number>();
    for (const o of this.host.followers()) if (o.channel?.send({ t: 'reload' })) waiting.add(o.index);
    this.round = { leader: w, id, waiting, timer: setTimeout(() => this.finishRound(), this.followTimeoutMs) };
    if (waiting.size === 0) this.finishRound();
  }

  /** A worker exited: its reload, its place in the queue and the wait for it end. */
  workerGone(index: number): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i]!.w.index === index) this.waiting.splice(i, 1);
    if (this.owner?.index === index) {
      this.pending = null;
      this.ended();
    }
    this.followed(index);
  }

  /** The running reload ended (done or failed): the next worker's may start. */
  private ended(): void {
    const owner = this.owner;
    this.owner = null;
    if (owner !== null && owner.index !== 0) this.followed(owner.index);
    this.waiting.shift()?.start();
  }

  /** A follower's reload ended (done or failed: a failure is its own event, relayed to worker 0). */
  private followed(index: number): void {
    const r = this.round;
    if (r === null || !r.waiting.delete(index)) return;
    if (r.waiting.size === 0) this.finishRound();
  }

  /** Worker 0's reload is answered: every follower ended its reload, or the wait is over. */
  private finishRound(): void {
    const r = this.round;
    if (r === null) return;
    this.round = null;
    clearTimeout(r.timer);
    if (r.waiting.size > 0) this.host.log.warn({ workers: [...r.waiting] }, `workers did not follow the reload within ${this.followTimeoutMs / 1000} s; answering it anyway`);
    r.leader.channel?.send({ t: 'reload-done', id: r.id, ok: true });
  }

  private async addSubnets(id: number, cidrs: string[], w: ReloadWorker): Promise<void> {
    const reply = (a: PrivilegedMessage): void => void w.channel?.send(a);
    const p = this.pending;
    const allowed = p ? subnetsOf(p.config) : new Map<string, Ipv4Cidr>();
    const bad = cidrs.find((c) => !allowed.has(c));
    if (bad !== undefined) {
      this.host.log.warn({ subnet: bad }, 'network process asked for a subnet that is not in the configuration; refused');
      reply({ t: 'reload-failed', id, ok: false, error: `subnet ${bad} is not in the configuration just read` });
      this.ended();
      return;
    }
    const tun = this.host.tunName();
    try {
      for (const c of cidrs) await addSubnet(tun, c);
      reply({ t: 'reload-done', id, ok: true });
    } catch (e) {
      reply({ t: 'reload-failed', id, ok: false, error: `adding a pool subnet to ${tun}: ${(e as Error).message}` });
      this.ended();
    }
  }
}
