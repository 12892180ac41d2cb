/**
 * DTLS with several workers (config `workers` > 1), after ocserv's design: openconnect sends
 * every datagram to the one DTLS port (X-DTLS-Port), where worker 0 holds the unconnected
 * socket. A ClientHello there that names another worker's session (by its DTLS id, which each
 * worker announces at CONNECT) comes here; this process binds a new UDP socket to the same port
 * (SO_REUSEADDR on both), connect()s it to the client's address and hands it to the owning worker
 * with the ClientHello. From then on the kernel delivers that client's datagrams to the connected
 * socket (a connected socket matches a datagram's source exactly and wins the lookup), so they
 * reach the owning worker directly; ocserv's main process does the same for its workers
 * (ocserv src/main.c, "forward_udp_to_owner" and the connected UDP fd passed to the worker).
 *
 * The peer's socket is bound to the address the ClientHello was sent to when the port's socket
 * is bound to 0.0.0.0 and learnt it (IP_PKTINFO, dtls-listener.ts): bound to 0.0.0.0, connect()
 * would give it the routing-chosen source, not the VIP or secondary address the client sent to
 * (openconnect drops replies from another address), and the kernel would not even deliver the
 * client's datagrams to it (a connected socket matches its local address too).
 *
 * This process never reads from those sockets: reading is stopped before the event loop can
 * run (stopReading), and its copy is closed once the worker has it.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../../log.js';
import { enlargeSocketBuffers, stopReading } from '../../os/udp-rx-batch.js';
import type { WorkerHandleMessage, WorkerReply } from './worker-messages.js';

/** Same as the port's socket (dtls-listener.ts); as root, SO_RCVBUFFORCE gets all of it. */
const SOCKET_BUFFER = 8 * 1024 * 1024;

export interface HandoffLimits {
  /** DTLS ids known at once (one per tunnel with DTLS) */
  maxIds: number;
  /** peer sockets handed out and not reported closed */
  maxPeers: number;
}

export interface HandoffTarget {
  /** a handle to worker w, on its IPC channel; resolves when sent (the handle may then be closed) */
  sendHandle(w: number, m: WorkerHandleMessage, handle: Socket): Promise<void>;
  /** a message to worker w on its framed channel */
  reply(w: number, m: WorkerReply): void;
}

export class DtlsHandoff {
  /** DTLS id (hex) -> worker whose tunnel offered it */
  private readonly idOwner = new Map<string, number>();
  /** "address:port" -> worker holding that peer's connected socket */
  private readonly peers = new Map<string, number>();
  readonly counters = { handedOff: 0, forwarded: 0, unknown: 0, refused: 0, failed: 0 };

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly target: HandoffTarget,
    private readonly log: Logger,
    private readonly limits: HandoffLimits,
  ) {}

  idChanged(id: string, up: boolean, w: number): void {
    if (!up) {
      if (this.idOwner.get(id) === w) this.idOwner.delete(id);
      return;
    }
    if (this.idOwner.size >= this.limits.maxIds && !this.idOwner.has(id)) {
      this.counters.refused++;
      return;
    }
    this.idOwner.set(id, w);
  }

  peerClosed(address: string, port: number, w: number): void {
    const key = `${address}:${port}`;
    if (this.peers.get(key) === w) this.peers.delete(key);
  }

  /** A ClientHello that worker `from` (the port's owner) does not know. */
  hello(id: string, address: string, port: number, data: string, from: number, local?: string): void {
    const w = this.idOwner.get(id);
    if (w === undefined || w === from) {
      this.counters.unknown++;
      return;
    }
    const key = `${address}:${port}`;
    const holder = this.peers.get(key);
    if (holder === w) {
      // A retransmission that reached the shared port before the connected socket existed.
      this.counters.forwarded++;
      this.target.reply(w, { t: 'dtls-forward', address, port, data });
      return;
    }
    if (holder === undefined && this.peers.size >= this.limits.maxPeers) {
      this.counters.refused++;
      return;
    }
    this.peers.set(key, w);
    // Only when the port is bound to a wildcard address: otherwise that address is the source anyway.
    const bindTo = local !== undefined && this.host === '0.0.0.0' ? local : this.host;
    this.handOff(w, key, address, port, data, bindTo).catch((e: unknown) => {
      this.counters.failed++;
      if (this.peers.get(key) === w) this.peers.delete(key);
      this.log.warn({ peer: key, worker: w, err: (e as Error).message }, 'could not hand a DTLS peer to its worker');
    });
  }

  private async handOff(w: number, key: string, address: string, port: number, data: string, bindTo: string): Promise<void> {
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ port: this.port, address: bindTo, exclusive: true }, () => {
          sock.off('error', reject);
          // bind() just started reading: stop it in the same turn, before the loop reads anything.
          if (!stopReading(sock)) reject(new Error('cannot stop reading the UDP socket'));
          else resolve();
        });
      });
      enlargeSocketBuffers(sock, SOCKET_BUFFER);
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.connect(port, address, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      await this.target.sendHandle(w, { t: 'dtls-socket', address, port, data }, sock);
      this.counters.handedOff++;
      this.log.debug({ peer: key, worker: w }, 'DTLS peer handed to its worker');
    } finally {
      sock.close();
    }
  }
}
