/**
 * The DTLS channel (PROTOCOL.md §6): one DTLS association over UDP carrying the same packets as
 * CSTP, with a 1-byte type header instead of CSTP's 8 bytes (§6.1). Shared by gateway and client.
 *
 * The DTLS state machine is pure (src/dtls); this class owns what it cannot: the clock, the
 * retransmission timer, the UDP send function, and liveness (DPD/keepalive on the DTLS path,
 * §8.1-8.2). Outbound per packet: 1. one buffer with the record's headroom, the type byte and the
 * packet  2. protected in place  3. one datagram. No other allocation, no promises, no logging.
 */
import { clearResult, createResult, type DtlsClient, type DtlsResult, type DtlsServer, type DtlsSessionInfo, type DtlsFailReason, type DropReason } from '../dtls/index.js';

/** AnyConnect packet types on DTLS (§5.2, §6.1). */
const DATA = 0x00;
const DPD_REQ = 0x03;
const DPD_RESP = 0x04;
const DISCONNECT = 0x05;
const KEEPALIVE = 0x07;
const COMPRESSED = 0x08;

export type DtlsCloseReason =
  | { kind: 'handshake-failed'; reason: DtlsFailReason; message: string }
  | { kind: 'dpd-timeout' }
  | { kind: 'peer-closed' }
  | { kind: 'peer-disconnect'; reason: number }
  | { kind: 'local'; text: string };

export interface DtlsChannelOptions {
  endpoint: DtlsClient | DtlsServer;
  role: 'client' | 'gateway';
  /** sends one datagram to the peer */
  send: (datagram: Buffer) => void;
  /** seconds; 0 = off */
  dpd: number;
  keepalive: number;
  onPacket: (buf: Buffer, start: number, end: number) => void;
  onEstablished: (info: DtlsSessionInfo) => void;
  /** called once when the channel stops (handshake failure, DPD timeout, close) */
  onClose: (why: DtlsCloseReason) => void;
}

export interface DtlsChannelCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxControl: number;
  drops: number;
  lastDrop: DropReason | null;
}

export class DtlsChannel {
  readonly counters: DtlsChannelCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxControl: 0, drops: 0, lastDrop: null };
  private readonly res: DtlsResult = createResult();
  private handshakeTimer: NodeJS.Timeout | null = null;
  private liveTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastRxMs = Date.now();
  private lastTxMs = Date.now();
  private seenRx = 0;
  private seenTx = 0;
  private lastDpdSentMs = 0;

  constructor(private readonly opts: DtlsChannelOptions) {}

  get endpoint(): DtlsClient | DtlsServer {
    return this.opts.endpoint;
  }

  get established(): boolean {
    return !this.closed && this.opts.endpoint.established;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Client: sends the first flight. */
  start(): void {
    const ep = this.opts.endpoint;
    if (ep.role !== 'client') return;
    clearResult(this.res);
    (ep as DtlsClient).start(Date.now(), this.res);
    this.process();
  }

  /** One datagram from the peer. */
  handleDatagram(dgram: Buffer): void {
    if (this.closed) return;
    clearResult(this.res);
    this.opts.endpoint.handleDatagram(dgram, Date.now(), this.res);
    this.process();
  }

  /** Sends one IP packet over DTLS. False when the association is not up (caller uses CSTP). */
  sendPacket(buf: Uint8Array, off: number, len: number): boolean {
    const ep = this.opts.endpoint;
    if (this.closed || !ep.established) return false;
    const head = ep.headroom;
    const out = Buffer.allocUnsafe(head + 1 + len + ep.tailroom);
    out[head] = DATA;
    out.set(buf.subarray(off, off + len), head + 1);
    const n = ep.protectInPlace(out, head, 1 + len);
    this.opts.send(out.subarray(0, n));
    this.counters.txPackets++;
    this.counters.txBytes += len;
    return true;
  }

  /** Sends a control packet (type byte + payload). */
  private sendControl(type: number, payload?: Uint8Array): void {
    const ep = this.opts.endpoint;
    if (this.closed || !ep.established) return;
    const body = Buffer.allocUnsafe(1 + (payload?.length ?? 0));
    body[0] = type;
    if (payload) body.set(payload, 1);
    this.opts.send(ep.protect(body));
  }

  /** Closes the association (close_notify to the peer) and stops the timers. */
  close(text = 'closed'): void {
    if (this.closed) return;
    clearResult(this.res);
    this.opts.endpoint.close(this.res);
    for (const d of this.res.send) this.opts.send(d);
    this.stop({ kind: 'local', text });
  }

  private stop(why: DtlsCloseReason): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.liveTimer) clearTimeout(this.liveTimer);
    this.handshakeTimer = this.liveTimer = null;
    this.opts.onClose(why);
  }

  private process(): void {
    const r = this.res;
    for (const d of r.send) this.opts.send(d);
    if (r.drops.length) {
      this.counters.drops += r.drops.length;
      this.counters.lastDrop = r.drops[r.drops.length - 1]!;
    }
    for (const p of r.deliver) this.onPayload(p);
    for (const e of r.events) {
      if (e.type === 'established') {
        this.lastRxMs = Date.now();
        this.armLiveness();
        this.opts.onEstablished(e.info);
      } else if (e.type === 'failed') {
        this.stop({ kind: 'handshake-failed', reason: e.reason, message: e.message });
        return;
      } else if (e.type === 'closed') {
        this.stop({ kind: 'peer-closed' });
        return;
      }
    }
    this.armHandshakeTimer(r.timerAt);
  }

  private onPayload(p: Buffer): void {
    if (p.length === 0) return;
    const type = p[0]!;
    if (type === DATA) {
      this.counters.rxPackets++;
      this.counters.rxBytes += p.length - 1;
      this.opts.onPacket(p, 1, p.length);
      return;
    }
    this.counters.rxControl++;
    switch (type) {
      case DPD_REQ:
        // Same length back: openconnect probes the MTU with DPD sizes (§6.9).
        this.sendControl(DPD_RESP, p.subarray(1));
        break;
      case DPD_RESP:
      case KEEPALIVE:
        break;
      case DISCONNECT:
        this.stop({ kind: 'peer-disconnect', reason: p.length > 1 ? p[1]! : 0 });
        break;
      case COMPRESSED:
      default:
        break; // never negotiated / unknown: ignored, the packet is lost
    }
  }

  private armHandshakeTimer(at: number | null): void {
    if (this.handshakeTimer) {
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
    }
    if (at === null || this.closed) return;
    this.handshakeTimer = setTimeout(this.onHandshakeTimer, Math.max(0, at - Date.now()));
    this.handshakeTimer.unref();
  }

  private readonly onHandshakeTimer = (): void => {
    this.handshakeTimer = null;
    if (this.closed) return;
    clearResult(this.res);
    this.opts.endpoint.onTimer(Date.now(), this.res);
    this.process();
  };

  private armLiveness(): void {
    const periods = [this.opts.dpd, this.opts.keepalive].filter((s) => s > 0);
    if (periods.length === 0 || this.closed) return;
    const tickMs = Math.max(1000, Math.floor((Math.min(...periods) * 1000) / 4));
    this.liveTimer = setTimeout(this.onLiveTick, tickMs);
    this.liveTimer.unref();
  }

  private readonly onLiveTick = (): void => {
    this.liveTimer = null;
    if (this.closed) return;
    const now = Date.now();
    const c = this.counters;
    if (c.rxPackets + c.rxControl !== this.seenRx) {
      this.seenRx = c.rxPackets + c.rxControl;
      this.lastRxMs = now;
    }
    if (c.txPackets !== this.seenTx) {
      this.seenTx = c.txPackets;
      this.lastTxMs = now;
    }
    const { dpd, keepalive, role } = this.opts;
    const silent = now - this.lastRxMs;
    if (dpd > 0) {
      // As on CSTP: the client probes after DPD and gives up after 2xDPD; the gateway probes
      // after 2xDPD and stops using UDP after 3xDPD (ocserv, §8.2).
      const probeAfter = (role === 'client' ? 1 : 2) * dpd * 1000;
      const deadAfter = (role === 'client' ? 2 : 3) * dpd * 1000;
      if (silent >= deadAfter) {
        this.stop({ kind: 'dpd-timeout' });
        return;
      }
      if (silent >= probeAfter && now - this.lastDpdSentMs >= (dpd * 1000) / 2) {
        this.lastDpdSentMs = now;
        this.sendControl(DPD_REQ);
        this.lastTxMs = now;
      }
    }
    if (keepalive > 0 && now - this.lastTxMs >= keepalive * 1000) {
      this.sendControl(KEEPALIVE);
      this.lastTxMs = now;
    }
    this.armLiveness();
  };
}
