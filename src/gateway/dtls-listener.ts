/**
 * The gateway's UDP side (PROTOCOL.md §6.8): one socket on the listen port. A datagram from an
 * unknown address must be a ClientHello whose session id (or App-ID extension) names a session
 * whose CONNECT completed; that creates the association, found by address from then on. A new
 * ClientHello on a known address (rekey, client restart) replaces the association.
 */
import { createSocket, type Socket } from 'node:dgram';
import { DtlsServer, peekClientHelloSessionId } from '../dtls/index.js';
import { DtlsChannel } from '../tunnel/dtls-channel.js';
import { recordBackend } from '../os/dtls-record-addon.js';
import { UdpBatchSender } from '../os/udp-batch.js';
import type { Logger } from '../log.js';
import type { Router } from './router.js';
import type { Session } from './sessions.js';
import type { SessionTunnel } from './session-tunnel.js';

interface Association {
  session: Session;
  tunnel: SessionTunnel;
  channel: DtlsChannel;
  key: string;
}

export interface DtlsListenerCounters {
  rxDatagrams: number;
  unknownPeer: number;
  handshakesStarted: number;
  handshakesOk: number;
  handshakesFailed: number;
}

/** ocserv drops ~100k packets per 10 s iperf3 run at the default buffer (issue 4): ask for more. */
const SOCKET_BUFFER = 8 * 1024 * 1024;

export class DtlsListener {
  readonly counters: DtlsListenerCounters = { rxDatagrams: 0, unknownPeer: 0, handshakesStarted: 0, handshakesOk: 0, handshakesFailed: 0 };
  private socket: Socket | null = null;
  /**
   * Data records to clients go out in batches: sendmmsg(2) on this socket's fd, flushed once per
   * TUN batch (a microtask after the router's callback), instead of one dgram.send per packet
   * (NODE-DATAPLANE.md §5). Null when not possible (no addon, IPv6): then dgram.send.
   */
  private batch: UdpBatchSender | null = null;
  /** App-ID / Session-ID (hex) -> the session's tunnel, for sessions whose CONNECT completed */
  private readonly byId = new Map<string, { session: Session; tunnel: SessionTunnel }>();
  private readonly byPeer = new Map<string, Association>();
  /** onMessage's one-entry cache of byPeer; reset whenever byPeer changes */
  private lastPeer: Association | null = null;
  private lastAddress = '';
  private lastPort = -1;

  constructor(
    private readonly router: Router,
    private readonly log: Logger,
    private readonly hooks: {
      dpd: () => number;
      keepalive: () => number;
      /** a handshake finished (for events and metrics) */
      onHandshake?: (session: Session, mode: string, result: 'ok' | 'failed' | 'timeout') => void;
    },
  ) {}

  async listen(host: string, port: number): Promise<void> {
    const sock = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
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
    this.batch = UdpBatchSender.create(sock);
    this.log.info({ records: recordBackend(), sendmmsg: this.batch !== null, gso: this.batch?.gso ?? false }, 'DTLS data path');
  }

  close(): void {
    for (const a of this.byPeer.values()) a.channel.close('gateway shutting down');
    this.byPeer.clear();
    this.lastPeer = null;
    this.batch?.close();
    this.batch = null;
    this.socket?.close();
    this.socket = null;
  }

  /** A CONNECT answered with DTLS: from now on a ClientHello with this id is accepted. */
  expect(session: Session, tunnel: SessionTunnel): void {
    if (tunnel.dtls) this.byId.set(tunnel.dtls.idHex, { session, tunnel });
  }

  /** The tunnel ended: forget its id and association. */
  forget(tunnel: SessionTunnel): void {
    const d = tunnel.dtls;
    if (!d) return;
    if (this.byId.get(d.idHex)?.tunnel === tunnel) this.byId.delete(d.idHex);
    if (d.peer) {
      const a = this.byPeer.get(d.peer);
      if (a && a.tunnel === tunnel) {
        this.byPeer.delete(d.peer);
        this.lastPeer = null;
        a.channel.close('tunnel closed');
      }
    }
  }

  private readonly onMessage = (msg: Buffer, rinfo: { address: string; port: number }): void => {
    this.counters.rxDatagrams++;
    // Per-packet fast path: the same peer as last time, without building its key.
    let a = this.lastPeer;
    let key: string;
    if (a !== null && rinfo.port === this.lastPort && rinfo.address === this.lastAddress) {
      key = a.key;
    } else {
      key = `${rinfo.address}:${rinfo.port}`;
      a = this.byPeer.get(key) ?? null;
      this.lastPeer = a;
      this.lastAddress = rinfo.address;
      this.lastPort = rinfo.port;
    }
    if (a) {
      a.channel.handleDatagram(msg);
      if (a.channel.counters.lastDrop === 'new-handshake') {
        a.channel.counters.lastDrop = null;
        this.startAssociation(msg, key, rinfo);
      }
      return;
    }
    this.startAssociation(msg, key, rinfo);
  };

  private startAssociation(msg: Buffer, key: string, rinfo: { address: string; port: number }): void {
    const id = peekClientHelloSessionId(msg);
    const entry = id ? this.byId.get(id.toString('hex')) : undefined;
    const d = entry?.tunnel.dtls;
    if (!entry || !d || !entry.tunnel.cstp.isOpen) {
      // Not a ClientHello for a session we know (or its CONNECT has not completed yet, ocserv
      // #706): drop silently; the client retransmits.
      this.counters.unknownPeer++;
      return;
    }
    const { session, tunnel } = entry;
    // One association per session: a new handshake replaces the old one (new address, rekey).
    if (d.peer && d.peer !== key) {
      const old = this.byPeer.get(d.peer);
      if (old) {
        this.byPeer.delete(d.peer);
        this.lastPeer = null;
        old.channel.close('replaced');
      }
    }
    const old = this.byPeer.get(key);
    if (old) old.channel.close('replaced');
    const endpoint =
      d.offer.mode === 'psk'
        ? new DtlsServer({ role: 'server', mode: 'psk', psk: d.psk!, appId: Buffer.from(d.idHex, 'hex') })
        : new DtlsServer({ role: 'server', mode: 'resume', version: d.offer.version, suite: d.offer.suite, sessionId: Buffer.from(d.idHex, 'hex'), masterSecret: d.offer.masterSecret });
    const sock = this.socket!;
    const channel: DtlsChannel = new DtlsChannel({
      endpoint,
      role: 'gateway',
      send: (dgram) => sock.send(dgram, rinfo.port, rinfo.address),
      sink: this.batch?.sinkFor(rinfo.address, rinfo.port) ?? null,
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
        d.info = info;
        tunnel.useDtls = true;
        this.log.info({ session: session.id, user: session.user, peer: key, dtls: info.suiteName, mode: info.mode }, 'DTLS up');
      },
      onClose: (why) => {
        if (why.kind === 'handshake-failed') {
          this.counters.handshakesFailed++;
          this.hooks.onHandshake?.(session, d.offer.name, why.reason === 'timeout' ? 'timeout' : 'failed');
          this.log.warn({ session: session.id, peer: key, reason: why.reason, err: why.message }, 'DTLS handshake failed');
        } else if (why.kind !== 'local') {
          this.log.info({ session: session.id, peer: key, why: why.kind }, 'DTLS closed; data goes over TLS');
        }
        d.closed.rxPackets += channel.counters.rxPackets;
        d.closed.txPackets += channel.counters.txPackets;
        d.closed.rxBytes += channel.counters.rxBytes;
        d.closed.txBytes += channel.counters.txBytes;
        if (d.channel === channel) {
          d.channel = null;
          d.info = null;
          tunnel.useDtls = false;
        }
        if (this.byPeer.get(key)?.channel === channel) this.byPeer.delete(key);
        this.lastPeer = null;
      },
    });
    this.counters.handshakesStarted++;
    d.channel = channel;
    d.peer = key;
    this.byPeer.set(key, { session, tunnel, channel, key });
    this.lastPeer = null;
    channel.handleDatagram(msg);
  }
}
