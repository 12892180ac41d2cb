/**
 * A session's live tunnel: the CSTP channel (always there) and, once its handshake completed, a
 * DTLS channel. The router hands every packet for the session to `sendPacket`, which picks the
 * channel the way ocserv does (PROTOCOL.md §5.6, §6.10): DTLS while it is up and the client uses
 * it; back to CSTP when DTLS dies or the client sends data over CSTP (it fell back).
 */
import type { CstpChannel } from '../tunnel/cstp-channel.js';
import type { DtlsChannel } from '../tunnel/dtls-channel.js';
import type { DtlsSessionInfo } from '../dtls/index.js';
import type { DtlsOffer } from './dtls-offer.js';

export interface SessionDtlsState {
  offer: DtlsOffer;
  /** App-ID or Session-ID the ClientHello carries (hex) */
  idHex: string;
  /** PSK from the TLS exporter (PSK mode) */
  psk: Buffer | null;
  channel: DtlsChannel | null;
  info: DtlsSessionInfo | null;
  peer: string | null;
  /** traffic of DTLS associations that already ended (handshake redone, replaced) */
  closed: DtlsTotals;
}

export interface DtlsTotals {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
}

export function emptyDtlsTotals(): DtlsTotals {
  return { rxPackets: 0, txPackets: 0, rxBytes: 0, txBytes: 0 };
}

export class SessionTunnel {
  /** send over DTLS (set when DTLS is up and in use) */
  useDtls = false;
  dtls: SessionDtlsState | null = null;

  constructor(readonly cstp: CstpChannel) {}

  sendPacket(buf: Uint8Array, off: number, len: number): boolean {
    if (this.useDtls) {
      const ch = this.dtls?.channel;
      if (ch && ch.sendPacket(buf, off, len)) return true;
      this.useDtls = false;
    }
    return this.cstp.sendPacket(buf, off, len);
  }

  /** Traffic carried over DTLS in this tunnel so far (all associations), both directions. */
  dtlsTotals(): DtlsTotals {
    const d = this.dtls;
    if (!d) return emptyDtlsTotals();
    const c = d.channel?.counters;
    return {
      rxPackets: d.closed.rxPackets + (c?.rxPackets ?? 0),
      txPackets: d.closed.txPackets + (c?.txPackets ?? 0),
      rxBytes: d.closed.rxBytes + (c?.rxBytes ?? 0),
      txBytes: d.closed.txBytes + (c?.txBytes ?? 0),
    };
  }

  /** "DTLS" or "TLS": the channel new packets take now. */
  get channelName(): 'DTLS' | 'TLS' {
    return this.useDtls && this.dtls?.channel?.established ? 'DTLS' : 'TLS';
  }
}
