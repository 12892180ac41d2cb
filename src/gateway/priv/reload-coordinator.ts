/**
 * The privileged process's side of a reload (reload.ts runs it in each network process, which
 * knows the leases): step 1 reads and checks the files again (reload-read), step 2 adds the new
 * pool subnets to the TUN (reload-subnets), step 3 adopts the result (reload-commit).
 *
 * Reloads run one worker at a time: a worker's step 1 waits while another worker is between
 * step 1 and its end. Worker 0 reloads first (SIGHUP, or `ctl reload`, which only worker 0
 * answers); when its reload is committed the other workers are told to follow.
 */
import type { Logger } from '../../log.js';
import type { Ipv4Cidr } from '../../protocol/ipv4.js';
import type { GatewayConfig } from '../config.js';
import { readForReload } from '../reload.js';
import type { ClientCaFiles } from '../tls-client-ca.js';
import { UserStore } from '../user-store.js';
import type { PrivilegedMessage } from './messages.js';
import { addSubnet, networkView, profileWire, subnetsOf } from './serve-setup.js';

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

export class ReloadCoordinator {
  /** the worker whose reload is between step 1 and its end; others wait (waiting) */
  private owner: ReloadWorker | null = null;
  private readonly waiting: Array<() => void> = [];
  private pending: PendingReload | null = null;

  constructor(private readonly host: ReloadHost) {}

  /** the config of a reload between step 1 and step 3 (its pool subnets may be leased already) */
  get pendingConfig(): GatewayConfig | null {
    return this.pending?.config ?? null;
  }

  /** Step 1: the files read again; waits while another worker's reload runs. */
  read(id: number, w: ReloadWorker): void {
    if (this.owner !== null && this.owner !== w) {
      this.waiting.push(() => this.read(id, w));
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
    w.channel?.send({ t: 'reload-done', id, ok: true });
    this.ended();
    // Worker 0 reloaded (SIGHUP, or `ctl reload`, which only worker 0 answers): the others follow.
    if (w.index === 0) for (const o of this.host.followers()) o.channel?.send({ t: 'reload' });
  }

  /** The running reload ended (done or failed): the next worker's may start. */
  private ended(): void {
    this.owner = null;
    this.waiting.shift()?.();
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
