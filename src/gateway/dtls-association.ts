/**
 * One DTLS association of the gateway, pending (its handshake runs) or live, and the two
 * things made for it when its ClientHello arrives (dtls-listener.ts startHandshake): the server
 * endpoint for the session's offer, and where its datagrams go out.
 */
import { DtlsServer } from '../dtls/index.js';
import type { DtlsChannel } from '../tunnel/dtls-channel.js';
import type { DatagramSink } from '../os/udp-batch.js';
import type { UdpPort } from './dtls-peer-sockets.js';
import type { Session } from './sessions.js';
import type { SessionDtlsState, SessionTunnel } from './session-tunnel.js';

export interface Association {
  readonly session: Session;
  readonly tunnel: SessionTunnel;
  readonly d: SessionDtlsState;
  readonly channel: DtlsChannel;
  /** "address:port" */
  readonly key: string;
  readonly address: string;
  /** the address as a host-order integer (-1: IPv6) and the port, for the batched receive index */
  readonly addrInt: number;
  readonly port: number;
  /** the local address its first ClientHello was sent to (host order), its replies' source; 0 = routing picks */
  readonly local: number;
  /** false while its handshake runs (pending), true once it is the session's association */
  live: boolean;
  /** the socket it sends on */
  readonly udp: UdpPort;
}

/** The server side of the handshake the CONNECT offered: PSK (App-ID) or session resumption. */
export function serverEndpoint(d: SessionDtlsState, handshakeTimeoutMs: number): DtlsServer {
  const id = Buffer.from(d.idHex, 'hex');
  if (d.offer.mode === 'psk') return new DtlsServer({ role: 'server', mode: 'psk', psk: d.psk!, appId: id, handshakeTimeoutMs });
  return new DtlsServer({
    role: 'server',
    mode: 'resume',
    version: d.offer.version,
    suite: d.offer.suite,
    sessionId: id,
    masterSecret: d.offer.masterSecret,
    handshakeTimeoutMs,
  });
}

/**
 * How the association's datagrams leave `udp` for address:port: `sink` for data records (the
 * batched sendmmsg, or null), `send` for the rest. `src`: the source address to send from (host
 * order), 0 = the kernel picks.
 */
export function associationOutput(udp: UdpPort, address: string, port: number, src: number): { send: (dgram: Buffer) => void; sink: DatagramSink | null } {
  const { sock, batch } = udp;
  const sink = batch?.sinkFor(address, port, src) ?? null;
  // A peer's connected socket takes no address (dgram and libuv refuse one). Datagrams that
  // need a source address go through the batch (dgram cannot set one), in order with data.
  if (udp.peer !== null) return { send: (dgram) => sock.send(dgram), sink };
  if (src !== 0 && sink !== null && batch !== null) {
    return {
      send: (dgram) => {
        if (!batch.queueCopy(sink, dgram)) sock.send(dgram, port, address);
      },
      sink,
    };
  }
  return { send: (dgram) => sock.send(dgram, port, address), sink };
}
