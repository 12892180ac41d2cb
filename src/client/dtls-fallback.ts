/**
 * The session's DTLS policy across CONNECTs ([SEED] §5, §6, §6.1; PROTOCOL.md §5.6, §6.9, §6.10):
 * which MTU the TUN has, and when the user sees a "reconnect".
 *
 *   CONNECT answered with a usable DTLS mode  TUN MTU = X-DTLS-MTU (PSK-NEGOTIATE: computed from
 *                                             X-CSTP-Base-MTU, dtls-offer.ts); data over TLS
 *   DTLS established                          data over DTLS (receiving on both all the time);
 *                                             PSK: MTU lowered if the negotiated suite needs it
 *   a round of attempts failed (the fallback) TUN MTU = X-CSTP-MTU, vpnc-script reason=reconnect
 *                                             with the new INTERNAL_IP4_MTU, data stays on TLS,
 *                                             no new CONNECT; DTLS is retried later
 *   DTLS up again after a fallback            TUN MTU = the DTLS one again, reason=reconnect
 *   DTLS lost (DPD timeout, peer close)       data back on TLS at once; MTU unchanged (DTLS is
 *                                             still expected: a new round starts)
 *   CSTP reconnect (new CONNECT)              everything starts over with the new answer: new
 *                                             master secret, Session-ID/App-ID, PSK (§6.7, q. 44)
 *
 * The MTU change and the script run on the session (the host callbacks, serialised there).
 */
import { DTLS0_9, type DtlsSessionInfo } from '../dtls/index.js';
import type { CstpConnected } from './cstp-connect.js';
import { dtlsTunMtu, planLabel, type DtlsPlan } from './dtls-offer.js';
import { ClientDtls, type DtlsTotals } from './dtls-session.js';
import type { Progress } from './progress.js';

export interface DtlsFallbackHost {
  progress: Progress;
  onPacket: (buf: Buffer, start: number, end: number) => void;
  /** around each batched DTLS receive (ClientDtlsOptions) */
  rxBatchBegin?: (slab: Buffer) => void;
  rxBatchEnd?: () => void;
  /** the TUN MTU now */
  currentMtu: () => number;
  /** set the TUN MTU (ip link); with `announce` also run the vpnc-script with reason=reconnect */
  changeMtu: (mtu: number, why: string, announce: boolean) => void;
}

export class DtlsFallback {
  private dtls: ClientDtls | null = null;
  private plan: DtlsPlan | null = null;
  private psk: Buffer | null = null;
  private gateway = '';
  private linkMtu = 0;
  private cstpMtu = 0;
  /** the TUN has the DTLS MTU (DTLS expected); false after a fallback */
  private expected = false;
  private notUsed = '';
  private readonly done: DtlsTotals = { txPackets: 0, rxPackets: 0, txBytes: 0, rxBytes: 0, handshakes: 0 };

  constructor(private readonly h: DtlsFallbackHost) {}

  /** A CONNECT answer (first or reconnect): returns the TUN MTU it calls for. Stops older DTLS. */
  connectAnswer(c: CstpConnected, gateway: string): number {
    this.stop();
    this.cstpMtu = c.params.mtu;
    if (!c.dtls.ok) {
      this.plan = null;
      this.expected = false;
      this.notUsed = c.dtls.reason;
      this.h.progress.info(`DTLS not used: ${c.dtls.reason}`);
      return this.cstpMtu;
    }
    const d = c.dtls.plan;
    const id = d.appId ? `App-ID ${d.appId.toString('hex').slice(0, 8)}…` : `Session-ID ${d.sessionId!.toString('hex').slice(0, 8)}…`;
    this.h.progress.info(`DTLS answer: ${planLabel(d)}, port ${d.port}, ${id}, DPD ${d.dpd} s, keepalive ${d.keepalive} s, MTU ${d.mtu ?? '-'}`);
    this.plan = d;
    this.psk = c.psk;
    this.gateway = gateway;
    this.linkMtu = c.params.baseMtu ?? c.baseMtu;
    this.expected = true;
    return dtlsTunMtu(this.plan, this.linkMtu, gateway.includes(':'));
  }

  /** For the "Tunnel up" line. */
  get status(): string {
    const p = this.plan;
    return p ? `DTLS starting (${planLabel(p)} to ${this.gateway}:${p.port})` : `DTLS not used: ${this.notUsed}`;
  }

  /** Starts the first round (after the TUN is configured, so a fallback finds it ready). */
  start(): void {
    const plan = this.plan;
    if (!plan || this.dtls) return;
    this.dtls = new ClientDtls({
      plan,
      psk: this.psk,
      gateway: this.gateway,
      progress: this.h.progress,
      onPacket: this.h.onPacket,
      ...(this.h.rxBatchBegin ? { rxBatchBegin: this.h.rxBatchBegin } : {}),
      ...(this.h.rxBatchEnd ? { rxBatchEnd: this.h.rxBatchEnd } : {}),
      onUp: (info, ms) => this.onUp(plan, info, ms),
      onDown: (why) => this.h.progress.step(`DTLS down: ${why}; data over TLS, DTLS retried at once`),
      onFallback: (why, retryMs) => this.onFallback(why, retryMs),
    });
    this.dtls.start();
  }

  /** DTLS of the current CONNECT ends (tunnel lost, replaced, or closing). */
  stop(): void {
    const d = this.dtls;
    if (!d) return;
    this.dtls = null;
    d.stop();
    const t = d.totals();
    this.done.txPackets += t.txPackets;
    this.done.rxPackets += t.rxPackets;
    this.done.txBytes += t.txBytes;
    this.done.rxBytes += t.rxBytes;
    this.done.handshakes += t.handshakes;
  }

  /** Per packet: true if it went over DTLS. */
  sendPacket(buf: Uint8Array, off: number, len: number): boolean {
    const d = this.dtls;
    return d !== null && d.sendPacket(buf, off, len);
  }

  /** Sends the DTLS records queued by sendPacket (end of a TUN batch). */
  flush(): void {
    this.dtls?.flush();
  }

  /** Traffic over DTLS in this session (all CONNECTs). */
  totals(): DtlsTotals {
    const t = { ...this.done };
    const c = this.dtls?.totals();
    if (c) {
      t.txPackets += c.txPackets;
      t.rxPackets += c.rxPackets;
      t.txBytes += c.txBytes;
      t.rxBytes += c.rxBytes;
      t.handshakes += c.handshakes;
    }
    return t;
  }

  private onUp(plan: DtlsPlan, info: DtlsSessionInfo, ms: number): void {
    const version = info.version === DTLS0_9 ? 'DTLS 0.9' : 'DTLS 1.2';
    const d = this.dtls;
    this.h.progress.step(`DTLS up after ${ms} ms: ${planLabel(plan)}, ${version} ${info.suiteName}; data over DTLS, dtls send: ${d?.sendPath ?? '-'}`);
    const mtu = dtlsTunMtu(plan, this.linkMtu, this.gateway.includes(':'), info.suiteId);
    if (!this.expected) {
      this.expected = true;
      this.h.changeMtu(mtu, 'DTLS is up again: DTLS MTU', true);
    } else if (mtu < this.h.currentMtu()) {
      // PSK-NEGOTIATE: the suite is known only now; a bigger record overhead lowers the MTU (§6.9).
      this.h.changeMtu(mtu, `DTLS MTU for ${info.suiteName}`, false);
    }
  }

  private onFallback(why: string, retryMs: number | null): void {
    const p = this.h.progress;
    const next = retryMs === null ? 'DTLS given up for this connection' : `DTLS retried in ${Math.round(retryMs / 1000)} s`;
    if (!this.expected) {
      p.info(`DTLS: ${why}; still over TLS, ${next}`);
      return;
    }
    // [SEED] §6.1: the adapter gets X-CSTP-MTU; the user sees a "reconnect"; TLS carries on.
    this.expected = false;
    p.step(`DTLS fallback: ${why}; carrying on over TLS with X-CSTP-MTU ${this.cstpMtu}, ${next}`);
    this.h.changeMtu(this.cstpMtu, 'DTLS fallback: X-CSTP-MTU', true);
  }
}
