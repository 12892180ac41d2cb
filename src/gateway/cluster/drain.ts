/**
 * `ctl drain` on a cluster node (network process): no new sessions here (logins are sent to
 * other nodes, or refused when there is none); after the grace period (time for keepalived or a
 * load balancer to take the node out: STATE/draining exists from the start) every tunnel closes
 * WITHOUT a goodbye, so its client reconnects with its cookie — through the VIP or balancer, to
 * another node, which adopts the session with its address.
 */
import type { Logger } from '../../log.js';
import { DRAINED } from '../ops/tunnel-events.js';
import type { SessionStore } from '../sessions.js';
import type { ClusterView } from './view.js';

/** How long `ctl drain` waits, by default, before closing tunnels (health checks move the VIP first). */
export const DRAIN_GRACE_SECONDS = 5;

/** What `ctl drain` answers. */
export interface DrainState {
  node: string;
  draining: boolean;
  tunnels: number;
  closingIn: number | null;
}

export class NodeDrain {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly cluster: ClusterView,
    private readonly sessions: SessionStore,
    /** live tunnels on this node now */
    private readonly tunnels: () => number,
    private readonly log: Logger,
  ) {}

  /** Starts the drain (`on`), or ends it. */
  set(on: boolean, graceSeconds = DRAIN_GRACE_SECONDS): DrainState {
    this.stop();
    this.cluster.setDraining(on);
    const tunnels = this.tunnels();
    this.log.info({ node: this.cluster.node, draining: on, tunnels, graceSeconds: on ? graceSeconds : undefined }, on ? 'drain: no new sessions; tunnels close after the grace period' : 'drain ended');
    if (on) {
      this.timer = setTimeout(() => {
        this.timer = null;
        let n = 0;
        for (const s of this.sessions.all()) {
          if (!s.channel) continue;
          s.channel.destroy({ kind: 'local', text: DRAINED });
          n++;
        }
        this.log.info({ tunnels: n }, 'drain: tunnels closed; their clients reconnect to another node');
      }, graceSeconds * 1000);
      this.timer.unref();
    }
    return { node: this.cluster.node, draining: on, tunnels, closingIn: on ? graceSeconds : null };
  }

  /** Why this node takes no tunnel now (draining, and another node can take it), or null. */
  refuseTunnel(): string | null {
    const c = this.cluster;
    return c.draining && c.takers().length > 0 ? 'gateway draining' : null;
  }

  /** The pending close of the tunnels, if any, is called off. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
