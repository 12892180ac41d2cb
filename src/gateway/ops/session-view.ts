/**
 * What the control API shows about a session (occtl `show users` / `show session`): computed
 * from the session and its live channels' counters when asked, never kept up to date per packet.
 * Never contains the cookie.
 */
import { formatIpv4, networkOf } from '../../protocol/ipv4.js';
import { offerLabel } from '../dtls-offer.js';
import type { Session } from '../sessions.js';

export interface ChannelView {
  /** the channel data takes now */
  type: 'TLS' | 'DTLS';
  /** the TLS connection: "TLSv1.3", "TLS_AES_256_GCM_SHA384" */
  tls: { protocol: string; cipher: string };
  /**
   * negotiated DTLS, when the client asked for it: mode label, suite, established or not, and
   * the id the ClientHello carries (X-DTLS-Session-ID / App-ID, hex: in clear on the wire anyway)
   */
  dtls: { mode: string; cipher: string | null; established: boolean; id: string } | null;
  mtu: number;
}

export interface SessionView {
  id: number;
  user: string;
  group: string;
  /** connected: a tunnel is up; disconnected: waiting for a cookie reconnect (cookie-timeout) */
  state: 'connected' | 'disconnected';
  address: string | null;
  /** source address of the current (or last) tunnel connection, else of the login */
  remote: string;
  userAgent: string;
  /** ISO times: login, and the current tunnel connection */
  since: string;
  connectedSince: string | null;
  channel: ChannelView | null;
  /** split-include routes the session got (fixed at login: a reload reaches new sessions) */
  routes: string[];
  /** from the client (in) and to the client (out), over every tunnel of the session */
  bytesIn: number;
  bytesOut: number;
  /** packets of the current tunnel connection */
  packetsIn: number;
  packetsOut: number;
  /** packets dropped towards the client (queue full) in the current tunnel */
  dropsOut: number;
  reconnects: number;
  idleSeconds: number;
  idleTimeout: number | null;
  sessionTimeout: number | null;
}

function dtlsView(s: Session): ChannelView['dtls'] {
  const d = s.tunnel?.dtls;
  if (!d) return null;
  return { mode: offerLabel(d.offer), cipher: d.info?.suiteName ?? null, established: d.channel?.established === true, id: d.idHex };
}

/** Live counters of the session's tunnel (CSTP, plus DTLS when present). */
function liveCounters(s: Session): { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number; txDrops: number } {
  const c = s.channel?.counters;
  const out = { rxBytes: c?.rxBytes ?? 0, txBytes: c?.txBytes ?? 0, rxPackets: c?.rxPackets ?? 0, txPackets: c?.txPackets ?? 0, txDrops: c?.txDrops ?? 0 };
  const dc = s.tunnel?.dtls?.channel?.counters;
  if (dc) {
    out.rxBytes += dc.rxBytes;
    out.txBytes += dc.txBytes;
    out.rxPackets += dc.rxPackets;
    out.txPackets += dc.txPackets;
  }
  return out;
}

export function sessionView(s: Session, now = Date.now()): SessionView {
  const live = liveCounters(s);
  const link = s.link;
  const connected = s.channel !== null;
  return {
    id: s.id,
    user: s.user,
    group: s.group.name,
    state: connected ? 'connected' : 'disconnected',
    address: s.address === null ? null : formatIpv4(s.address),
    remote: link?.remote ?? s.remoteAddr,
    userAgent: s.userAgent,
    since: new Date(s.createdAt).toISOString(),
    connectedSince: connected && link ? new Date(link.since).toISOString() : null,
    channel:
      connected && link
        ? { type: s.tunnel?.channelName ?? 'TLS', tls: { protocol: link.protocol, cipher: link.cipher }, dtls: dtlsView(s), mtu: link.mtu }
        : null,
    // the group's, then what the auth server added (Framed-Route), as the tunnel sends them
    routes: [...s.group.network.routes.map((c) => `${formatIpv4(networkOf(c))}/${c.prefix}`), ...(s.attrs.routes ?? [])],
    bytesIn: s.closedRxBytes + live.rxBytes,
    bytesOut: s.closedTxBytes + live.txBytes,
    packetsIn: live.rxPackets,
    packetsOut: live.txPackets,
    dropsOut: live.txDrops,
    reconnects: Math.max(0, (link?.connects ?? 0) - 1),
    idleSeconds: Math.max(0, Math.round((now - s.lastActivity) / 1000)),
    idleTimeout: s.limits.idleTimeout,
    sessionTimeout: s.limits.sessionTimeout,
  };
}

/** Sessions by id or user name, for `session ID`, `disconnect user NAME`, ... */
export function findSessions(all: Iterable<Session>, by: { id?: number; user?: string }): Session[] {
  const out: Session[] = [];
  for (const s of all) if ((by.id !== undefined && s.id === by.id) || (by.user !== undefined && s.user === by.user)) out.push(s);
  return out;
}
