/**
 * Step 5 on the gateway: CONNECT /CSCOSSLC/tunnel (PROTOCOL.md §4). Checks the cookie, leases the
 * address, answers with what tunnel-negotiation.ts decided (X-CSTP-*, and X-DTLS-* when the
 * client offers a DTLS mode we run) and turns the TLS socket into a CSTP channel routed by the
 * session's address.
 */
import type { TLSSocket } from 'node:tls';
import { parseConnectRequest, formatConnectResponseHeaders } from '../protocol/connect-headers.js';
import { CSTP_HEADER_LEN, CSTP_TERMINATE, DisconnectReason } from '../protocol/cstp.js';
import type { HttpRequest } from '../protocol/http.js';
import { formatResponse } from '../protocol/http.js';
import { parseIpv4 } from '../protocol/ipv4.js';
import { CstpChannel, type ChannelCloseReason } from '../tunnel/cstp-channel.js';
import type { Logger } from '../log.js';
import type { GatewayConfig } from './config.js';
import type { Router } from './router.js';
import type { Session, SessionStore } from './sessions.js';
import { randomBytes } from 'node:crypto';
import { offerLabel } from './dtls-offer.js';
import { negotiateTunnel } from './tunnel-negotiation.js';
import type { DtlsListener } from './dtls-listener.js';
import { emptyDtlsTotals, SessionTunnel } from './session-tunnel.js';
import type { GatewayEvents } from './ops/events.js';
import { noteTunnelDown, noteTunnelUp, REPLACED } from './ops/tunnel-events.js';

/**
 * What every tunnel's TLS socket is read into (cstp-channel.ts readIntoSharedBuffer): one buffer
 * for the process instead of a fresh one per chunk. Each read is decoded before the next; frames
 * split across reads are copied by the decoder, and the router copies or writes every packet
 * before it returns.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

export interface TunnelDeps {
  config: () => GatewayConfig;
  sessions: SessionStore;
  router: Router;
  /** null when DTLS is off */
  dtls: DtlsListener | null;
  log: Logger;
  endSession: (s: Session, why: string) => void;
  /** connect / disconnect / bad-cookie events (admin stream, metrics, ban points) */
  events: GatewayEvents;
  /**
   * workers > 1: the tunnel's address must be routed to this worker's TUN (priv/lease-routes.ts)
   * before the CONNECT is answered, and unrouted when the tunnel ends here. The cookie proves
   * the session is this worker's (priv/worker-routes.ts).
   */
  routes?: { route(addr: number, cookie: string): Promise<void>; unroute(addr: number): void };
  /** the TUN's MTU, when known: no packet for a client is longer (runFrame below) */
  tunMtu?: number;
  /** writes the session's record to the store (tunnel up, tunnel down); never throws */
  persist?: (s: Session) => void;
  /**
   * cluster: why this node takes no tunnel now (draining while another node can take it), or
   * null. Answered 503: openconnect tries again (only 401 stops it), by then elsewhere.
   */
  refuseTunnel?: () => string | null;
}

function refuse(sock: TLSSocket, status: number, reason: string, xReason?: string): void {
  const headers: Array<[string, string]> = xReason ? [['X-Reason', xReason]] : [];
  sock.end(formatResponse(status, reason, headers, ''));
}

/**
 * CONNECT on `sock`: the bind half of step 5. Finds the session by its cookie (asking the store
 * when this process does not have it), leases the address through the store,
 * asks tunnel-negotiation.ts what to answer, then turns the socket into the session's CSTP channel
 * (and expects its DTLS handshake). True when the socket is now a tunnel; false when the CONNECT
 * was refused (the socket ends).
 */
export async function openTunnel(sock: TLSSocket, req: HttpRequest, rest: Buffer, d: TunnelDeps, remoteAddr: string): Promise<boolean> {
  const creq = parseConnectRequest(req.headers);
  const busy = d.refuseTunnel?.() ?? null;
  if (busy) {
    d.log.info({ remote: remoteAddr, why: busy }, 'CONNECT refused: this node takes no tunnels now');
    refuse(sock, 503, 'Service Unavailable', busy);
    return false;
  }
  let s: Session | undefined;
  try {
    // A cookie this process does not carry (after a restart, another worker's) is asked of the store.
    s = await d.sessions.resolve(creq.cookie);
  } catch (e) {
    d.log.error({ remote: remoteAddr, err: (e as Error).message }, 'CONNECT: the session store did not answer');
    // Not 401: openconnect gives up on 401 (§4.2); a 503 lets it try again with the same cookie.
    refuse(sock, 503, 'Service Unavailable', 'Session store unavailable');
    return false;
  }
  if (!s) {
    d.log.warn({ remote: remoteAddr }, 'CONNECT with an invalid or expired cookie');
    d.events.emit({ type: 'auth-failure', remote: remoteAddr, reason: 'bad-cookie' });
    // openconnect stops reconnecting on 401 (§4.2); the text is ocserv's.
    refuse(sock, 401, 'Cookie is not acceptable');
    return false;
  }
  const cfg = d.config();
  // A backend's Framed-IP-Address is the session's address, whatever the client asks for; a
  // session that had an address keeps it (openconnect aborts on a new one, quirk 20).
  const framed = s.attrs.framedIp === undefined ? null : parseIpv4(s.attrs.framedIp);
  const hint = framed ?? s.address ?? creq.addressHints.map(parseIpv4).find((a): a is number => a !== null);
  let addr: number | null;
  try {
    addr = await d.sessions.lease(s, hint ?? undefined);
  } catch (e) {
    // The store cannot answer (full disk, Redis away): a session that holds an address keeps it;
    // a first CONNECT cannot get one without the store (no address may go to two holders).
    d.log.error({ session: s.id, err: (e as Error).message }, 'CONNECT: the session store could not lease; using the address the session holds');
    addr = s.address;
    if (addr === null) {
      refuse(sock, 503, 'Service Unavailable', 'No address available');
      return false;
    }
  }
  if (framed !== null && addr !== framed) {
    if (addr !== null) d.sessions.unlease(s);
    d.log.error({ session: s.id, user: s.user, address: s.attrs.framedIp, group: s.group.name }, 'the Framed-IP-Address from the auth server is not free in the group pool');
    refuse(sock, 503, 'Service Unavailable', 'Assigned address not available');
    return false;
  }
  if (addr === null) {
    d.log.error({ session: s.id, group: s.group.name }, 'address pool exhausted');
    refuse(sock, 503, 'Service Unavailable', 'No address available');
    return false;
  }
  if (sock.destroyed) return false;
  const now = Date.now();
  const old = s.tunnel;
  if (old) {
    // A reconnect replaces any older, maybe half-open, tunnel of the same session (§8.5).
    s.unbindTunnel(old, now);
    d.dtls?.forget(old);
    old.cstp.destroy({ kind: 'local', text: REPLACED });
  }
  const cipher = sock.getCipher();
  // A fresh id on every CONNECT (quirk 44).
  const dtlsId = randomBytes(32);
  const { params, offer, tlsMtu } = negotiateTunnel({
    config: cfg,
    request: creq,
    group: s.group,
    limits: s.limits,
    attrs: s.attrs,
    loginMessages: s.loginMessages,
    address: addr,
    netmask: s.pool.netmask,
    tls: { protocol: sock.getProtocol() ?? undefined, cipher: cipher?.standardName ?? cipher?.name },
    dtlsOn: d.dtls !== null,
    dtlsId,
  });

  sock.removeAllListeners('data');
  sock.setTimeout(0);
  const channel: CstpChannel = new CstpChannel(sock, {
    role: 'gateway',
    // Accept a little more than we advertised: peers may exceed the MTU (§6.9, §10.1 item 10).
    maxPayload: Math.max(tlsMtu + 256, 2048),
    // Full-MTU frames go out in runs (bulk downloads); see tunnel/cstp-send-queue.ts. The full
    // size is the smaller of the MTU the client was told (its TUN's, so its TCP MSS) and our
    // TUN's (no packet read from it is longer): the TUN's is sized for TLS 1.2 (1423 on a
    // 1500 link) while a TLS 1.3 client is told 1430, and with runFrame at 1438 the 1431-byte
    // frames of a bulk download never ran (strace: one write(2) per frame).
    runFrame: CSTP_HEADER_LEN + Math.min(params.mtu, d.tunMtu ?? params.mtu),
    dpd: cfg.dpd,
    keepalive: 0, // the client keeps NAT state alive; the gateway only probes (DPD)
    onPacket: (buf, start, end) => {
      // Data on CSTP while DTLS is up: the client fell back, answer on CSTP (ocserv, §5.6).
      tunnel.useDtls = false;
      d.router.fromClientRecord(addr, buf, start, end);
    },
    onClose: (why) => onChannelClose(s, tunnel, addr, why, d),
  });
  const tunnel = new SessionTunnel(channel);
  if (offer) {
    // PSK-NEGOTIATE: the key is the TLS exporter of this very connection (§6.7).
    const psk = offer.mode === 'psk' ? exportPsk(sock) : null;
    tunnel.dtls = { offer, idHex: dtlsId.toString('hex'), psk, channel: null, info: null, peer: null, closed: emptyDtlsTotals() };
    d.dtls!.expect(s, tunnel);
    // Debug only: the id an operator needs to match a DTLS ClientHello (it travels in clear in
    // that ClientHello's session_id, so it is no secret; the attack drill reads it from here).
    d.log.debug({ session: s.id, user: s.user, dtlsId: tunnel.dtls.idHex, dtls: offerLabel(offer) }, 'DTLS id offered');
  }
  s.bindTunnel(tunnel, creq.userAgent, now);
  d.router.attach(addr, tunnel);
  const answer = (): void => {
    channel.sendFrame(formatResponse(200, 'CONNECTED', formatConnectResponseHeaders(params)));
    channel.feed(rest);
    // 'shared': read into READ_BUFFER; 'chunks': Node's 'data' events (SSLGATE_TLS_USER_BUFFER=0, another Node)
    const reads = channel.readIntoSharedBuffer(READ_BUFFER) ? 'shared' : 'chunks';
    d.log.info({ session: s.id, user: s.user, address: params.address, mtu: params.mtu, tls: sock.getProtocol(), cipher: cipher?.name, dtls: offer ? offerLabel(offer) : 'off', reads }, 'tunnel up');
    noteTunnelUp(s, sock, remoteAddr, params.mtu, d.events);
    d.persist?.(s);
  };
  if (!d.routes) {
    answer();
    return true;
  }
  // The client sends nothing before the answer; packets for it reach this worker once routed.
  d.routes.route(addr, s.token).then(
    () => {
      if (channel.isOpen) answer();
    },
    (e: unknown) => {
      d.log.error({ session: s.id, address: params.address, err: (e as Error).message }, 'routing the tunnel address to this worker failed');
      channel.destroy({ kind: 'local', text: 'route failed' });
    },
  );
  return true;
}

function onChannelClose(s: Session, tunnel: SessionTunnel, addr: number, why: ChannelCloseReason, d: TunnelDeps): void {
  const channel = tunnel.cstp;
  if (d.router.detach(addr, tunnel)) d.routes?.unroute(addr);
  noteTunnelDown(s, channel, why, d.events, tunnel.dtls?.channel?.counters);
  d.dtls?.forget(tunnel);
  const dtlsTotals = tunnel.dtlsTotals();
  const wasLive = s.tunnelClosed(tunnel, channel.counters.rxBytes + dtlsTotals.rxBytes, channel.counters.txBytes + dtlsTotals.txBytes, Date.now(), {
    rx: channel.counters.rxPackets + dtlsTotals.rxPackets,
    tx: channel.counters.txPackets + dtlsTotals.txPackets,
  });
  if (!wasLive) return; // replaced by a reconnect
  d.persist?.(s);
  const counters = {
    rxPackets: channel.counters.rxPackets,
    txPackets: channel.counters.txPackets,
    txDrops: channel.counters.txDrops,
    dtlsRxPackets: dtlsTotals.rxPackets,
    dtlsTxPackets: dtlsTotals.txPackets,
  };
  switch (why.kind) {
    case 'peer-disconnect':
      d.log.info({ session: s.id, user: s.user, reason: `0x${why.reason.toString(16)}`, text: why.text, ...counters }, 'client disconnected');
      // 0xb0 (user) and 0x70 (local error) end the session; others (0x91 reconnect, 0xd1 pause)
      // keep it for a cookie reconnect (§5.4, quirk 22).
      if (why.reason === DisconnectReason.User || why.reason === DisconnectReason.LocalError) d.endSession(s, 'client disconnect');
      break;
    case 'protocol-error':
      d.log.warn({ session: s.id, user: s.user, err: why.error.message, ...counters }, 'tunnel closed: protocol error');
      break;
    case 'dpd-timeout':
      d.log.info({ session: s.id, user: s.user, ...counters }, 'tunnel closed: dead peer');
      break;
    case 'local':
      break;
    default:
      d.log.info({ session: s.id, user: s.user, ...counters }, 'tunnel connection closed; session kept for reconnect');
  }
}

/** Ends a live tunnel from the gateway side (shutdown, timeout, admin). */
export function terminateTunnel(s: Session, why: string): void {
  s.channel?.finish(CSTP_TERMINATE, { kind: 'local', text: why });
}

/**
 * RFC 5705 exporter with NO context (§6.7): GnuTLS peers call it without one, and in TLS 1.2
 * "no context" and "empty context" give different keys. Node's typings demand the context
 * argument, but the implementation treats an absent one as "no context".
 */
export function exportPsk(sock: TLSSocket): Buffer {
  const exporter = sock.exportKeyingMaterial as unknown as (length: number, label: string) => Buffer;
  return exporter.call(sock, 32, 'EXPORTER-openconnect-psk');
}
