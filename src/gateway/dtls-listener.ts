/**
 * The gateway's UDP side (PROTOCOL.md §6.8): one socket on the listen port.
 *
 * A datagram from an address with no association must be a ClientHello whose session id (or
 * App-ID extension) names a session whose CONNECT completed. That starts a *pending* handshake
 * for the session; only when it completes (the peer proved it holds the session's master secret
 * or PSK) does it become the session's association, found by address from then on, and only
 * then is the session's previous association (if any) closed. A new ClientHello on a live
 * association's address (rekey, client restart behind the same NAT binding) starts a pending
 * handshake the same way; until it completes, data records from that address still go to the
 * live association and handshake records to the pending one.
 *
 * Why: the session id travels in clear (X-DTLS-Session-ID / App-ID in the ClientHello), so
 * anyone who sees or guesses it can send a ClientHello naming it, from any address and port,
 * including the client's own address with a spoofed source (another port, or even the live
 * port). Such a handshake cannot complete without the keys, so it never replaces anything; it
 * only costs a bounded pending slot:
 *   - per session at most `perSession` pending handshakes (when full, a ClientHello from the
 *     address of the session's TLS connection evicts the oldest pending one, preferably one from
 *     another address; any other is refused and counted),
 *   - at most `total` pending handshakes in all,
 *   - each lives at most `timeoutMs` from its first datagram (the endpoint's handshake deadline;
 *     it retransmits its flight at 1 s, 2 s, 4 s meanwhile, so a spoofed ClientHello is answered
 *     with a few small flights at most: no useful reflection).
 * A ClientHello naming another session on an address that has a live association is refused.
 *
 * Source addresses: on a socket bound to 0.0.0.0 the kernel picks a reply's source by routing,
 * which is not the address a client sent to when that is a VIP (keepalived) or a secondary
 * address; openconnect's UDP socket is connect()ed to the address it sent to, so it drops such
 * replies and stays on TLS. So the port's socket learns each datagram's destination (IP_PKTINFO,
 * batched receive only: udp-rx-batch.ts), an association keeps the one its first ClientHello
 * came to (`local`), and everything sent to that peer (handshake flights, data, DPD) leaves from
 * it (an IP_PKTINFO cmsg on sendmmsg, udp-batch.ts). Workers > 1: a peer's connected socket is
 * bound to that address (dtls-handoff.ts). SSLGATE_UDP_PKTINFO=0 turns this off (the old
 * routing-chosen source); it is off anyway when the socket is bound to one address (the kernel
 * sends from it) and, with a line in the log, when batched receive is off (dgram does not expose
 * the destination).
 */
import { createSocket, type Socket } from 'node:dgram';
import { peekClientHelloSessionId } from '../dtls/index.js';
import { ContentType } from '../dtls/constants.js';
import { DtlsChannel, type DtlsCloseReason } from '../tunnel/dtls-channel.js';
import { recordBackend } from '../os/dtls-record-addon.js';
import { UdpBatchSender, ipv4ToInt } from '../os/udp-batch.js';
import { UdpBatchReceiver, enlargeSocketBuffers, ipv4FromInt } from '../os/udp-rx-batch.js';
import { envFlagOn } from '../os/env-flag.js';
import type { Logger } from '../log.js';
import type { Router } from './router.js';
import { LivePeers } from './dtls-live-peers.js';
import { DtlsPeerSockets, type UdpPort } from './dtls-peer-sockets.js';
import { PendingHandshakes } from './dtls-pending-handshakes.js';
import { associationOutput, serverEndpoint, type Association } from './dtls-association.js';
import type { Session } from './sessions.js';
import type { SessionTunnel } from './session-tunnel.js';

/** What the listener tells the other workers' side (workers > 1, via the privileged process). */
export interface DtlsWorkerHooks {
  /** a CONNECT offered DTLS with this id here (up), or its tunnel ended (down) */
  idChanged(idHex: string, up: boolean): void;
  /**
   * a ClientHello naming an id this worker does not know, on the unconnected socket: maybe another
   * worker's. `local`: the address it was sent to (host order; 0 = not known), for the peer socket's bind.
   */
  foreignHello(idHex: string, msg: Buffer, address: string, port: number, local: number): void;
  /** a peer socket adopted from the privileged process was closed */
  peerClosed(address: string, port: number): void;
}

export interface DtlsListenerCounters {
  rxDatagrams: number;
  /** datagrams from an address without association that were not a ClientHello for a known session */
  unknownPeer: number;
  handshakesStarted: number;
  handshakesOk: number;
  handshakesFailed: number;
  /** ClientHellos for a known session refused: pending limits, or another session's address */
  handshakesRefused: number;
  /** live associations replaced by a completed new handshake of the same session */
  replaced: number;
  /** batched receive only: recvmmsg calls that returned data */
  rxBatches: number;
  /** batched receive only: messages that were UDP GRO trains (several datagrams of one flow) */
  rxGroTrains: number;
  /** batched receive only: messages dropped unread (larger than a slot, cut control data, not IPv4) */
  rxDropped: number;
  /** workers > 1: ClientHellos passed to the privileged process for another worker, and peer sockets adopted from it */
  forwardedHellos: number;
  adoptedPeers: number;
}

/** Bounds on handshakes that have not completed yet (see the file header). */
export interface DtlsHandshakeLimits {
  perSession: number;
  total: number;
  timeoutMs: number;
}

/**
 * One handshake per session is the normal case; a few more allow a client that restarts from a
 * new port while its old attempt is still pending. 10 s covers the client's retransmissions at
 * 1, 2 and 4 s (RFC 6347 §4.2.4.1); openconnect retries with a fresh handshake after that.
 */
export const DEFAULT_HANDSHAKE_LIMITS: DtlsHandshakeLimits = { perSession: 4, total: 1024, timeoutMs: 10_000 };

/**
 * ocserv drops ~100k packets per 10 s iperf3 run at the default buffer (issue 4): ask for more.
 * dgram's own option (SO_RCVBUF) is capped at net.core.rmem_max (208 KiB by default); as root
 * (listen() runs before the privilege drop) SO_RCVBUFFORCE gets the full size.
 */
const SOCKET_BUFFER = 8 * 1024 * 1024;

/** A DTLS application_data record: the only first byte the batched fast path handles itself. */
const APP_DATA = ContentType.applicationData;

/**
 * Whether a datagram belongs to a handshake rather than to an established association: its first
 * record is a handshake or ChangeCipherSpec record, or an unencrypted (epoch 0) alert.
 */
function isHandshakeDatagram(msg: Buffer): boolean {
  if (msg.length < 13) return false;
  const type = msg[0];
  if (type === ContentType.handshake || type === ContentType.changeCipherSpec) return true;
  return type === ContentType.alert && msg[3] === 0 && msg[4] === 0;
}

/** "::ffff:10.0.0.1" (a dual-stack TLS socket) -> "10.0.0.1", to compare with a UDP source. */
function plainAddress(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export class DtlsListener {
  /**
   * The batched receivers count in their stats arrays ([1] batches, [2] dropped, [3] GRO trains):
   * the port socket's receiver plus (workers > 1) the peer sockets' shared one. Read when asked
   * (metrics, the close log), not copied on every batch.
   */
  private readonly rxStat = (i: number): number => (this.rx?.stats[i] ?? 0) + this.peers.rxStat(i);
  readonly counters: DtlsListenerCounters = (() => {
    const rxStat = this.rxStat;
    const peers = (): DtlsPeerSockets => this.peers;
    return {
      rxDatagrams: 0,
      unknownPeer: 0,
      handshakesStarted: 0,
      handshakesOk: 0,
      handshakesFailed: 0,
      handshakesRefused: 0,
      replaced: 0,
      get rxBatches(): number {
        return rxStat(1);
      },
      get rxGroTrains(): number {
        return rxStat(3);
      },
      get rxDropped(): number {
        return rxStat(2);
      },
      forwardedHellos: 0,
      get adoptedPeers(): number {
        return peers().adopted;
      },
    };
  })();
  private socket: Socket | null = null;
  /** the unconnected socket's port (null on a worker without it) */
  private main: UdpPort | null = null;
  private open = true;
  /**
   * Data records to clients go out in batches: sendmmsg(2) on this socket's fd, flushed once per
   * TUN batch (a microtask after the router's callback), instead of one dgram.send per packet
   * (NODE-DATAPLANE.md §5). Null when not possible (no addon, IPv6): then dgram.send.
   */
  private batch: UdpBatchSender | null = null;
  /** App-ID / Session-ID (hex) -> the session's tunnel, for sessions whose CONNECT completed */
  private readonly byId = new Map<string, { session: Session; tunnel: SessionTunnel }>();
  /** live associations, by source address (dtls-live-peers.ts) */
  private readonly live = new LivePeers<Association>();
  /** handshakes in progress: by "address:port" (at most one each) and per session tunnel, bounded */
  private readonly pending: PendingHandshakes<SessionTunnel, Association>;
  /** Batched receive (recvmmsg + GRO, os/udp-rx-batch.ts); null: dgram 'message' events. */
  private rx: UdpBatchReceiver | null = null;
  /** replies leave from the address each peer sent to (see the file header): send and receive sides both can */
  private sourced = false;
  private readonly limits: DtlsHandshakeLimits;
  private readonly batchReceive: boolean;

  constructor(
    private readonly router: Router,
    private readonly log: Logger,
    private readonly hooks: {
      dpd: () => number;
      keepalive: () => number;
      /** a handshake finished (for events and metrics) */
      onHandshake?: (session: Session, mode: string, result: 'ok' | 'failed' | 'timeout') => void;
    },
    limits: Partial<DtlsHandshakeLimits> = {},
    /**
     * batchReceive: config `dtls: { batch-receive }` (default true); SSLGATE_UDP_RX_BATCH=0 also
     * turns it off. workers: set when the gateway has several workers (see DtlsWorkerHooks).
     */
    options: { batchReceive?: boolean; workers?: DtlsWorkerHooks } = {},
  ) {
    this.limits = { ...DEFAULT_HANDSHAKE_LIMITS, ...limits };
    this.pending = new PendingHandshakes(this.limits);
    this.batchReceive = options.batchReceive ?? true;
    this.workers = options.workers ?? null;
    this.peers = new DtlsPeerSockets({
      log,
      batchReceive: this.batchReceive,
      onBatch: this.onBatch,
      onMessage: this.onMessage,
      closed: (address, port) => this.workers?.peerClosed(address, port),
    });
  }

  /** workers > 1: connected sockets of single peers (dtls-peer-sockets.ts) */
  private readonly peers: DtlsPeerSockets;

  private readonly workers: DtlsWorkerHooks | null;

  /**
   * Binds the port's unconnected socket (one worker does this). With several workers it is bound
   * with SO_REUSEADDR: the privileged process binds peers' connected sockets to the same port,
   * and the kernel prefers a connected socket for its peer's datagrams (ocserv does the same).
   */
  async listen(host: string, port: number): Promise<void> {
    const sock = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER, reuseAddr: this.workers !== null });
    sock.on('message', this.onMessage);
    sock.on('error', (err) => this.log.error({ err: err.message }, 'DTLS socket error'));
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, host, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    this.socket = sock;
    const bufs = enlargeSocketBuffers(sock, SOCKET_BUFFER);
    // Bound to one address, the kernel sends from it: no control data (and no cost) needed.
    const pktinfo = host === '0.0.0.0' && envFlagOn('SSLGATE_UDP_PKTINFO');
    this.batch = UdpBatchSender.create(sock, { pktinfo });
    this.rx = this.batchReceive ? UdpBatchReceiver.create(sock, { pktinfo }) : null;
    this.sourced = pktinfo && this.batch?.pktinfo === true && this.rx?.pktinfo === true;
    this.main = { sock, batch: this.batch, rx: this.rx, peer: null };
    // info, not warn: only clients that use another local address (a VIP) are affected.
    if (pktinfo && !this.sourced)
      this.log.info(
        { sendmmsg: this.batch !== null, recvmmsg: this.rx !== null },
        'DTLS replies leave from the address routing picks: clients that reach this gateway through another local address (a VIP) stay on TLS; needs batched receive and the native addon, or listen on that address',
      );
    this.rx?.start(this.onBatch, (err) => this.log.error({ err: err.message }, 'DTLS socket error'));
    this.log.info(
      {
        records: recordBackend(),
        sendmmsg: this.batch !== null,
        gso: this.batch?.gso ?? false,
        recvmmsg: this.rx !== null,
        gro: this.rx?.gro ?? false,
        pktinfo: this.sourced,
        rcvbuf: bufs?.rcvbuf,
      },
      'DTLS data path',
    );
  }

  /** The bound port (after listen). */
  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  /** Handshakes in progress now (all sessions). */
  get pendingHandshakes(): number {
    return this.pending.size;
  }

  /**
   * workers > 1: a UDP socket bound to the DTLS port and connected to one peer, made by the
   * privileged process for a ClientHello (`hello`) that names a session of this worker. The
   * peer's later datagrams arrive on it; the association sends on it. It is closed when no
   * association (live or pending) of that peer is left.
   */
  adoptPeer(sock: Socket, address: string, port: number, hello: Buffer): void {
    if (!this.open) {
      sock.close();
      return;
    }
    if (!this.peers.adopt(sock, address, port)) return;
    this.onMessage(hello, { address, port });
    // No handshake started (session gone meanwhile, limits): the socket goes at once.
    this.releasePeer(`${address}:${port}`);
  }

  /** Another datagram for a peer whose socket this worker has (it arrived on the shared port before the socket existed). */
  forwarded(msg: Buffer, address: string, port: number): void {
    if (this.open && this.peers.has(`${address}:${port}`)) this.onMessage(msg, { address, port });
  }

  /** Closes the peer socket of `key` when no association (live or pending) uses it any more. */
  private releasePeer(key: string): void {
    this.peers.release(key, this.live.get(key) !== undefined || this.pending.has(key));
  }

  close(): void {
    if (this.socket || this.peers.size) this.log.info({ ...this.counters, recvmmsg: this.rx !== null }, 'DTLS listener closed');
    this.open = false;
    for (const a of [...this.live.values(), ...this.pending.values()]) a.channel.close('gateway shutting down');
    this.peers.closeAll();
    this.live.clear();
    this.pending.clear();
    this.rx?.close();
    this.rx = null;
    this.batch?.close();
    this.batch = null;
    this.socket?.close();
    this.socket = null;
  }

  /** A CONNECT answered with DTLS: from now on a ClientHello with this id is accepted. */
  expect(session: Session, tunnel: SessionTunnel): void {
    if (!tunnel.dtls) return;
    this.byId.set(tunnel.dtls.idHex, { session, tunnel });
    this.workers?.idChanged(tunnel.dtls.idHex, true);
  }

  /** The tunnel ended: forget its id, its association and its pending handshakes. */
  forget(tunnel: SessionTunnel): void {
    const d = tunnel.dtls;
    if (!d) return;
    if (this.byId.get(d.idHex)?.tunnel === tunnel) {
      this.byId.delete(d.idHex);
      this.workers?.idChanged(d.idHex, false);
    }
    this.pending.forgetTunnel(tunnel);
    if (d.peer) {
      const a = this.live.get(d.peer);
      if (a && a.tunnel === tunnel) a.channel.close('tunnel closed');
    }
  }

  /**
   * One recvmmsg batch. The common case (an application-data datagram from a live association's
   * address) is opened in place in the slab and goes to the TUN without a copy; everything else
   * takes the dgram path's logic (onMessage) on a copy. A pending handshake on the same address
   * does not matter here: onMessage hands it only handshake datagrams (isHandshakeDatagram),
   * never one that starts with an application_data record.
   */
  private readonly onBatch = (
    slab: Buffer, offs: Uint32Array, lens: Uint32Array, addrs: Uint32Array, ports: Uint32Array, count: number, locals: Uint32Array | null,
  ): void => {
    const router = this.router;
    router.beginClientBatch(slab);
    try {
      this.dispatchBatch(slab, offs, lens, addrs, ports, count, locals);
    } finally {
      router.endClientBatch();
    }
  };

  private dispatchBatch(
    slab: Buffer, offs: Uint32Array, lens: Uint32Array, addrs: Uint32Array, ports: Uint32Array, count: number, locals: Uint32Array | null,
  ): void {
    for (let i = 0; i < count && this.open; i++) {
      const off = offs[i]!;
      const end = off + lens[i]!;
      const addr = addrs[i]!;
      const port = ports[i]!;
      const a = this.live.findInt(addr, port);
      if (a === null || end === off || slab[off] !== APP_DATA) {
        this.router.flushClientQueue(); // keep the order of packets written to the TUN
        this.onMessage(Buffer.from(slab.subarray(off, end)), { address: ipv4FromInt(addr), port }, locals !== null ? locals[i]! : 0);
        continue;
      }
      this.counters.rxDatagrams++;
      a.channel.handleDatagramAt(slab, off, end);
      if (a.channel.counters.lastDrop === 'new-handshake') {
        a.channel.counters.lastDrop = null;
        this.startHandshake(Buffer.from(slab.subarray(off, end)), a.key, { address: a.address, port }, a, locals !== null ? locals[i]! : a.local);
      }
    }
  }

  /** `local`: the address the datagram was sent to (host order), 0 when not known (dgram's 'message' path). */
  private readonly onMessage = (msg: Buffer, rinfo: { address: string; port: number }, local = 0): void => {
    this.counters.rxDatagrams++;
    // Per-packet fast path: the same peer as last time, without building its key.
    const a = this.live.find(rinfo.address, rinfo.port);
    if (a !== null) {
      const key = a.key;
      if (this.pending.size !== 0 && isHandshakeDatagram(msg)) {
        // A new handshake runs on the live association's own address: it gets the handshake
        // records, the live association keeps the data.
        const p = this.pending.get(key);
        if (p) {
          p.channel.handleDatagram(msg);
          return;
        }
      }
      a.channel.handleDatagram(msg);
      if (a.channel.counters.lastDrop === 'new-handshake') {
        a.channel.counters.lastDrop = null;
        this.startHandshake(msg, key, rinfo, a, local || a.local);
      }
      return;
    }
    // Not a live peer (cold path): the key is built here only.
    const key = `${rinfo.address}:${rinfo.port}`;
    const p = this.pending.get(key);
    if (p) {
      p.channel.handleDatagram(msg);
      return;
    }
    this.startHandshake(msg, key, rinfo, null, local);
  };

  private startHandshake(msg: Buffer, key: string, rinfo: { address: string; port: number }, liveHere: Association | null, local: number): void {
    const id = peekClientHelloSessionId(msg);
    const entry = id ? this.byId.get(id.toString('hex')) : undefined;
    const d = entry?.tunnel.dtls;
    if (!entry && id && id.length > 0 && this.workers && liveHere === null && !this.peers.has(key)) {
      // Perhaps another worker's session: the privileged process knows whose (worker-messages.ts).
      this.counters.forwardedHellos++;
      this.workers.foreignHello(id.toString('hex'), msg, rinfo.address, rinfo.port, this.sourced ? local : 0);
      return;
    }
    if (!entry || !d || !entry.tunnel.cstp.isOpen) {
      // Not a ClientHello for a session we know (or its CONNECT has not completed yet, ocserv
      // #706): drop silently; the client retransmits.
      this.counters.unknownPeer++;
      return;
    }
    const { session, tunnel } = entry;
    if (liveHere !== null && liveHere.tunnel !== tunnel) {
      // This address carries another session's association: never let a handshake for a second
      // session take it over.
      this.counters.handshakesRefused++;
      return;
    }
    if (!this.pending.makeRoom(tunnel, rinfo.address, session.link ? plainAddress(session.link.remote) : null)) {
      this.counters.handshakesRefused++;
      return;
    }
    const udp = this.peers.get(key) ?? this.main;
    if (udp === null) {
      this.counters.unknownPeer++;
      return;
    }
    // The port's socket answers from the address the peer sent to (file header); a peer's
    // connected socket is bound to it already.
    const src = udp.peer === null && this.sourced ? local : 0;
    const { send, sink } = associationOutput(udp, rinfo.address, rinfo.port, src);
    let assoc: Association;
    const channel: DtlsChannel = new DtlsChannel({
      endpoint: serverEndpoint(d, this.limits.timeoutMs),
      role: 'gateway',
      send,
      sink,
      dpd: this.hooks.dpd(),
      keepalive: 0,
      onPacket: (buf, start, end) => {
        // The client uses DTLS: answer over DTLS too.
        tunnel.useDtls = true;
        if (session.address !== null) this.router.fromClient(session.address, buf, start, end);
      },
      onEstablished: (info) => {
        this.counters.handshakesOk++;
        this.hooks.onHandshake?.(session, info.suiteName, 'ok');
        this.promote(assoc);
        d.info = info;
        // local: the address the replies leave from (the one the ClientHello came to), when set per datagram
        const from = src !== 0 ? ipv4FromInt(src) : undefined;
        this.log.info({ session: session.id, user: session.user, peer: key, local: from, dtls: info.suiteName, mode: info.mode }, 'DTLS up');
      },
      onClose: (why) => this.onAssociationClosed(assoc, why),
    });
    assoc = { session, tunnel, d, channel, key, address: rinfo.address, addrInt: ipv4ToInt(rinfo.address), port: rinfo.port, local: src, live: false, udp };
    this.counters.handshakesStarted++;
    this.log.debug({ session: session.id, peer: key, rekey: liveHere !== null }, 'DTLS handshake started');
    this.pending.add(assoc);
    channel.handleDatagram(msg);
  }

  /** A pending handshake completed: it becomes the session's association; the old one ends. */
  private promote(a: Association): void {
    this.pending.remove(a);
    const { d, tunnel } = a;
    const old = d.peer !== null ? this.live.get(d.peer) : undefined;
    a.live = true;
    d.channel = a.channel;
    d.peer = a.key;
    tunnel.useDtls = true;
    this.live.add(a);
    if (old && old !== a && old.tunnel === tunnel) {
      this.counters.replaced++;
      old.channel.close('replaced by a new handshake');
    }
  }

  private onAssociationClosed(a: Association, why: DtlsCloseReason): void {
    const { session, tunnel, d, channel, key } = a;
    if (!a.live) {
      this.pending.remove(a);
      if (why.kind === 'handshake-failed') {
        this.counters.handshakesFailed++;
        this.hooks.onHandshake?.(session, d.offer.name, why.reason === 'timeout' ? 'timeout' : 'failed');
        this.logFailure(a, why.reason, why.message);
      }
      if (a.udp.peer !== null) this.releasePeer(key);
      return;
    }
    if (why.kind !== 'local') this.log.info({ session: session.id, peer: key, why: why.kind }, 'DTLS closed; data goes over TLS');
    d.closed.rxPackets += channel.counters.rxPackets;
    d.closed.txPackets += channel.counters.txPackets;
    d.closed.rxBytes += channel.counters.rxBytes;
    d.closed.txBytes += channel.counters.txBytes;
    if (d.channel === channel) {
      d.channel = null;
      d.info = null;
      d.peer = null;
      tunnel.useDtls = false;
    }
    this.live.remove(a);
    if (a.udp.peer !== null) this.releasePeer(key);
  }

  private logFailure(a: Association, reason: string, message: string): void {
    const quiet = this.pending.failureToLog(a.tunnel, Date.now());
    if (quiet === null) return;
    this.log.warn({ session: a.session.id, peer: a.key, reason, err: message, alsoFailedUnlogged: quiet }, 'DTLS handshake failed');
  }
}
