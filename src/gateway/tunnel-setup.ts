/**
 * Step 5 on the gateway: CONNECT /CSCOSSLC/tunnel (PROTOCOL.md §4). Checks the cookie, leases the
 * address, answers the X-CSTP-* headers openconnect needs (§4.3, §10.1 item 7) and turns the TLS
 * socket into a CSTP channel routed by the session's address. No X-DTLS-* headers yet: clients
 * then stay on TLS.
 */
import type { TLSSocket } from 'node:tls';
import { parseConnectRequest, formatConnectResponseHeaders, type TunnelParams } from '../protocol/connect-headers.js';
import { CSTP_TERMINATE, DisconnectReason } from '../protocol/cstp.js';
import type { HttpRequest } from '../protocol/http.js';
import { formatResponse } from '../protocol/http.js';
import { formatCidrDottedMask, formatIpv4, parseIpv4 } from '../protocol/ipv4.js';
import { negotiateLinkMtu, tlsCipherOverhead, tlsDataMtu } from '../protocol/mtu.js';
import { CstpChannel, type ChannelCloseReason } from '../tunnel/cstp-channel.js';
import type { Logger } from '../log.js';
import { PRODUCT, VERSION } from '../version.js';
import type { GatewayConfig } from './config.js';
import type { Router } from './router.js';
import type { Session, SessionStore } from './sessions.js';

export interface TunnelDeps {
  config: () => GatewayConfig;
  sessions: SessionStore;
  router: Router;
  log: Logger;
  endSession: (s: Session, why: string) => void;
}

function refuse(sock: TLSSocket, status: number, reason: string, xReason?: string): void {
  const headers: Array<[string, string]> = xReason ? [['X-Reason', xReason]] : [];
  sock.end(formatResponse(status, reason, headers, ''));
}

export function openTunnel(sock: TLSSocket, req: HttpRequest, rest: Buffer, d: TunnelDeps, remoteAddr: string): void {
  const creq = parseConnectRequest(req.headers);
  const s = d.sessions.byCookie(creq.cookie);
  if (!s) {
    d.log.warn({ remote: remoteAddr }, 'CONNECT with an invalid or expired cookie');
    // openconnect stops reconnecting on 401 (§4.2); the text is ocserv's.
    refuse(sock, 401, 'Cookie is not acceptable');
    return;
  }
  const cfg = d.config();
  if (s.channel) {
    // A reconnect replaces any older, maybe half-open, tunnel of the same session (§8.5).
    const old = s.channel;
    s.channel = null;
    old.destroy({ kind: 'local', text: 'replaced by a new connection' });
  }
  const hint = creq.addressHints.map(parseIpv4).find((a): a is number => a !== null);
  const addr = s.pool.lease(s.token, hint);
  if (addr === null) {
    d.log.error({ session: s.id, group: s.group.name }, 'address pool exhausted');
    refuse(sock, 503, 'Service Unavailable', 'No address available');
    return;
  }
  s.address = addr;
  const cipher = sock.getCipher();
  const link = negotiateLinkMtu(cfg.mtu, creq.baseMtu);
  const mtu = tlsDataMtu(link, tlsCipherOverhead(sock.getProtocol() ?? undefined, cipher?.standardName ?? cipher?.name));
  const net = s.group.network;
  const params: TunnelParams = {
    address: formatIpv4(addr),
    netmask: s.pool.netmask,
    serverName: `${PRODUCT} ${VERSION}`,
    dns: net.dns,
    nbns: [],
    splitDns: net.splitDns,
    splitInclude: net.routes.map(formatCidrDottedMask),
    splitExclude: net.splitExclude.map(formatCidrDottedMask),
    splitIncludeIp6: [],
    splitExcludeIp6: [],
    dpd: cfg.dpd,
    keepalive: cfg.keepalive,
    idleTimeout: cfg.idleTimeout,
    sessionTimeout: cfg.sessionTimeout,
    disconnectedTimeout: cfg.cookieTimeout,
    // Rekey by a new tunnel once a day (what ASA sends). "none" is refused by Secure Client 5.1
    // and TLS 1.3 cannot renegotiate (§8.4, quirk 25).
    rekeyMethod: 'new-tunnel',
    rekeyTime: 86400,
    mtu,
    baseMtu: link,
    tunnelAllDns: false,
    extra: [],
  };
  if (creq.hostname) params.hostname = creq.hostname;
  if (net.defaultDomain) params.defaultDomain = net.defaultDomain;
  const banner = s.group.banner ?? cfg.banner;
  if (banner) params.banner = banner;

  sock.removeAllListeners('data');
  sock.setTimeout(0);
  s.userAgent = creq.userAgent || s.userAgent;
  const channel: CstpChannel = new CstpChannel(sock, {
    role: 'gateway',
    // Accept a little more than we advertised: peers may exceed the MTU (§6.9, §10.1 item 10).
    maxPayload: Math.max(mtu + 256, 2048),
    dpd: cfg.dpd,
    keepalive: 0, // the client keeps NAT state alive; the gateway only probes (DPD)
    onPacket: (buf, start, end) => d.router.fromClient(addr, buf, start, end),
    onClose: (why) => onChannelClose(s, channel, addr, why, d),
  });
  s.channel = channel;
  s.disconnectedAt = null;
  s.lastActivity = Date.now();
  d.router.attach(addr, channel);
  channel.sendFrame(formatResponse(200, 'CONNECTED', formatConnectResponseHeaders(params)));
  channel.feed(rest);
  d.log.info({ session: s.id, user: s.user, address: params.address, mtu, tls: sock.getProtocol(), cipher: cipher?.name }, 'tunnel up');
}

function onChannelClose(s: Session, channel: CstpChannel, addr: number, why: ChannelCloseReason, d: TunnelDeps): void {
  d.router.detach(addr, channel);
  s.closedRxBytes += channel.counters.rxBytes;
  s.closedTxBytes += channel.counters.txBytes;
  if (s.channel !== channel) return; // replaced by a reconnect
  s.channel = null;
  s.disconnectedAt = Date.now();
  const counters = { rxPackets: channel.counters.rxPackets, txPackets: channel.counters.txPackets, txDrops: channel.counters.txDrops };
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
