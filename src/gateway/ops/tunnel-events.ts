/**
 * What tunnel-setup reports to operations, in one call each: a tunnel came up (the session's link
 * facts for `ctl sessions`, a `connect` event) and a tunnel connection closed (a `disconnect`
 * event with a bounded reason label and the connection's counters, which the metrics add to
 * their totals). Kept out of tunnel-setup.ts so the CONNECT code stays about the protocol.
 */
import type { TLSSocket } from 'node:tls';
import type { ChannelCloseReason, CstpChannel } from '../../tunnel/cstp-channel.js';
import { formatIpv4 } from '../../protocol/ipv4.js';
import type { Session } from '../sessions.js';
import type { GatewayEvents } from './events.js';

/** The text of an admin `disconnect` (close without TERMINATE: the client reconnects). */
export const ADMIN_DISCONNECT = 'admin disconnect';
export const REPLACED = 'replaced by a new connection';
/** cluster: another node adopted the session (the client reconnected there) */
export const MOVED = 'moved to another node';
/** cluster: `ctl drain` closes the tunnel so the client reconnects to another node */
export const DRAINED = 'node draining';

interface DtlsTotals {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
}

export function noteTunnelUp(s: Session, sock: TLSSocket, remote: string, mtu: number, events: GatewayEvents): void {
  const protocol = sock.getProtocol() ?? '';
  const cipher = sock.getCipher()?.name ?? '';
  const connects = (s.link?.connects ?? 0) + 1;
  s.link = { remote, since: Date.now(), protocol, cipher, mtu, connects };
  events.emit({
    type: 'connect',
    session: s.id,
    user: s.user,
    group: s.group.name,
    remote,
    address: s.address === null ? '' : formatIpv4(s.address),
    channel: 'TLS',
    cipher: `${protocol} ${cipher}`.trim(),
    mtu,
    reconnect: connects > 1,
  });
}

/** A small fixed set of reasons (a metrics label must not carry free text). */
export function disconnectReason(why: ChannelCloseReason): { reason: string; sessionKept: boolean } {
  switch (why.kind) {
    case 'peer-disconnect':
      // 0xb0 user logout and 0x70 local error end the session (§5.4); the rest keep it.
      if (why.reason === 0xb0) return { reason: 'client-logout', sessionKept: false };
      if (why.reason === 0x70) return { reason: 'client-error', sessionKept: false };
      return { reason: 'client-reconnect', sessionKept: true };
    case 'peer-terminate':
      return { reason: 'client-terminate', sessionKept: true };
    case 'dpd-timeout':
      return { reason: 'dpd-timeout', sessionKept: true };
    case 'protocol-error':
      return { reason: 'protocol-error', sessionKept: true };
    case 'socket-closed':
      return { reason: 'connection-lost', sessionKept: true };
    case 'local':
      if (why.text === REPLACED) return { reason: 'replaced', sessionKept: true };
      if (why.text === ADMIN_DISCONNECT) return { reason: 'admin-disconnect', sessionKept: true };
      if (why.text === DRAINED) return { reason: 'drain', sessionKept: true };
      if (why.text === MOVED) return { reason: 'moved', sessionKept: true };
      return { reason: 'session-ended', sessionKept: false };
  }
}

/** `dtls`: the counters of the tunnel's DTLS channel, if it had one (they end with the tunnel). */
export function noteTunnelDown(s: Session, channel: CstpChannel, why: ChannelCloseReason, events: GatewayEvents, dtls?: DtlsTotals | null): void {
  const { reason, sessionKept } = disconnectReason(why);
  const c = channel.counters;
  events.emit({
    type: 'disconnect',
    session: s.id,
    user: s.user,
    channel: 'TLS',
    reason,
    sessionKept,
    counters: { rxPackets: c.rxPackets, rxBytes: c.rxBytes, txPackets: c.txPackets, txBytes: c.txBytes, txDrops: c.txDrops, txWrites: c.txWrites },
    ...(dtls ? { dtlsCounters: { rxPackets: dtls.rxPackets, rxBytes: dtls.rxBytes, txPackets: dtls.txPackets, txBytes: dtls.txBytes, txDrops: 0 } } : {}),
  });
}
