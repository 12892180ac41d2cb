/**
 * workers > 1: the UDP sockets this worker holds for single DTLS peers. The privileged process
 * binds a socket to the DTLS port, connect()s it to a client whose ClientHello names a session
 * of this worker, and hands it over (priv/dtls-handoff.ts); from then on the kernel delivers that
 * client's datagrams to it. This keeps those sockets by "address:port", reads them (batched when
 * possible, into the listener's handlers) and closes each one once no association (live or
 * pending) of its peer uses it. Split out of dtls-listener.ts, which decides what the datagrams mean.
 */
import type { Socket } from 'node:dgram';
import type { Logger } from '../log.js';
import { UdpBatchSender, markConnected } from '../os/udp-batch.js';
import { UdpBatchReceiver, type UdpBatchHandler } from '../os/udp-rx-batch.js';

/**
 * A UDP socket the association's datagrams go out on (and come in on): the port's unconnected
 * socket, or (workers > 1) a socket connected to one peer (DtlsPeerSockets.adopt).
 */
export interface UdpPort {
  readonly sock: Socket;
  batch: UdpBatchSender | null;
  rx: UdpBatchReceiver | null;
  /** "address:port" of the peer; null for the unconnected socket */
  readonly peer: string | null;
}

export interface PeerSocketHooks {
  log: Logger;
  /** read with recvmmsg (config `dtls: { batch-receive }`), else dgram 'message' events */
  batchReceive: boolean;
  onBatch: UdpBatchHandler;
  onMessage: (msg: Buffer, rinfo: { address: string; port: number }) => void;
  /** a peer's socket is closed: the privileged process forgets the peer */
  closed: (address: string, port: number) => void;
}

export class DtlsPeerSockets {
  private readonly ports = new Map<string, UdpPort>();
  /** stats of the batched receivers (one array shared by every peer socket's receiver) */
  private rxStats: Float64Array | null = null;
  /** sockets adopted so far */
  adopted = 0;

  constructor(private readonly h: PeerSocketHooks) {}

  /** The batched receivers' stat `i` (see UdpBatchReceiver.stats), over every peer socket. */
  rxStat(i: number): number {
    return this.rxStats?.[i] ?? 0;
  }

  get size(): number {
    return this.ports.size;
  }

  has(key: string): boolean {
    return this.ports.has(key);
  }

  get(key: string): UdpPort | undefined {
    return this.ports.get(key);
  }

  /**
   * Takes `sock`, connected to `address:port` by the privileged process, in place of any socket
   * of that peer; false (the socket closed) when dgram cannot be told it is connected.
   */
  adopt(sock: Socket, address: string, port: number): boolean {
    const key = `${address}:${port}`;
    if (!markConnected(sock, address, port)) {
      this.h.log.warn({ peer: key }, 'DTLS peer socket is not connected to its peer; dropped');
      sock.close();
      return false;
    }
    const old = this.ports.get(key);
    if (old) this.close(old);
    sock.on('error', (err) => this.h.log.debug({ peer: key, err: err.message }, 'DTLS peer socket error'));
    // Small send batches: this socket carries one peer; the big slab is for the shared port.
    const p: UdpPort = { sock, batch: UdpBatchSender.create(sock, { batch: 16 }), rx: this.h.batchReceive ? UdpBatchReceiver.create(sock, { shared: true }) : null, peer: key };
    if (p.rx) {
      this.rxStats = p.rx.stats;
      p.rx.start(this.h.onBatch, (err) => this.h.log.warn({ peer: key, err: err.message }, 'DTLS peer socket read failed'));
    } else sock.on('message', this.h.onMessage);
    this.ports.set(key, p);
    this.adopted++;
    return true;
  }

  /** Closes the socket of `key`, if this holds one, unless `inUse`. */
  release(key: string, inUse: boolean): void {
    const p = this.ports.get(key);
    if (p && !inUse) this.close(p);
  }

  closeAll(): void {
    for (const p of [...this.ports.values()]) this.close(p);
  }

  private close(p: UdpPort): void {
    if (p.peer === null || this.ports.get(p.peer) !== p) return;
    this.ports.delete(p.peer);
    p.rx?.close();
    p.batch?.close();
    p.sock.close();
    const i = p.peer.lastIndexOf(':');
    this.h.closed(p.peer.slice(0, i), Number(p.peer.slice(i + 1)));
  }
}
