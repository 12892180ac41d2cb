/**
 * workers > 1: the load this network process reports to the balancer (priv/balance.ts): how many
 * connections the privileged process handed it so far, and how many TLS connections are open and
 * not yet ended by this side. Reported once per loop turn, however many came and went.
 */
import type { Socket as TcpSocket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import type { WorkerMesh } from './worker-mesh.js';

export class HandedConnections {
  /** connections handed over by the privileged process so far */
  private accepted = 0;
  /** TLS connections open and not yet ended by this side (the balancer's load) */
  private working = 0;
  /** per connection ("address:port"), what takes it out of `working` */
  private readonly uncount = new Map<string, () => void>();
  private dirty = false;

  constructor(
    private readonly mesh: WorkerMesh,
    /** live tunnels now */
    private readonly tunnels: () => number,
    private readonly log: Logger,
  ) {}

  /**
   * A connection handed over. Counted from here (not from the TLS handshake's end): a burst of
   * connections must not look like none to the balancer while their handshakes run.
   */
  handed(sock: TcpSocket): void {
    this.accepted++;
    this.working++;
    this.changed();
    const key = `${sock.remoteAddress}:${sock.remotePort}`;
    let counted = true;
    const gone = (): void => {
      if (!counted) return;
      counted = false;
      this.working--;
      this.changed();
    };
    this.uncount.set(key, gone);
    sock.once('close', () => {
      gone();
      if (this.uncount.get(key) === gone) this.uncount.delete(key);
    });
  }

  /**
   * The TLS socket of a handed connection. A connection this side has ended is on its way out,
   * even while its peer keeps it half-open (seen with openconnect after its BYE: FIN-WAIT-2 here).
   */
  tlsSocket(sock: TLSSocket): void {
    const gone = this.uncount.get(`${sock.remoteAddress}:${sock.remotePort}`);
    if (gone) sock.once('finish', gone);
  }

  /** Tells the balancer once per loop turn. */
  private changed(): void {
    if (this.dirty) return;
    this.dirty = true;
    setImmediate(() => {
      this.dirty = false;
      const tunnels = this.tunnels();
      this.mesh.load(tunnels, this.working, this.accepted);
      this.log.debug({ tunnels, connections: this.working, accepted: this.accepted, tracked: this.uncount.size }, 'load reported');
    });
  }
}
