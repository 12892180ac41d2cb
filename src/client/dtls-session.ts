/**
 * The client's DTLS channel next to CSTP (PROTOCOL.md §5.6, §6; [SEED] §6): a connected UDP
 * socket to the gateway's address and X-DTLS-Port, a DtlsClient for the mode the gateway chose,
 * and a DtlsChannel (src/tunnel) for timers, DPD/keepalive and the data path. Rounds of
 * attempts, fallback and retries follow dtls-schedule.ts; what the TUN MTU and the vpnc-script
 * do about them is the session's business (session.ts), told through the callbacks.
 *
 * Created only after the CONNECT answer (never UDP before it: ocserv #706, §10.4 item 9).
 * Data: `sendPacket` is true only while an association is established; the session sends
 * everything else over CSTP, and packets arriving on either channel go to the TUN. Per packet:
 * no allocation beyond the record buffer, no promise, no logging.
 */
import { createSocket, type Socket } from 'node:dgram';
import { DtlsClient, type DtlsClientOptions, type DtlsSessionInfo } from '../dtls/index.js';
import { envFlagOn } from '../os/env-flag.js';
import { UdpBatchSender } from '../os/udp-batch.js';
import { UdpBatchReceiver } from '../os/udp-rx-batch.js';
import { DtlsChannel, type DtlsCloseReason } from '../tunnel/dtls-channel.js';
import { planLabel, type DtlsPlan } from './dtls-offer.js';
import { DTLS_ATTEMPTS, DTLS_RETRY_LATER_MS, dtlsRoundTimers } from './dtls-schedule.js';
import type { Progress } from './progress.js';

/** Socket buffers: a burst of full-size datagrams must not overflow the default ~200 kB. */
const SOCKET_BUFFER = 4 * 1024 * 1024;

export interface ClientDtlsOptions {
  plan: DtlsPlan;
  /** PSK-NEGOTIATE: the TLS exporter of the CONNECT connection (§6.7) */
  psk: Buffer | null;
  /** the gateway's IP address as the TLS connection reached it */
  gateway: string;
  progress: Progress;
  onPacket: (buf: Buffer, start: number, end: number) => void;
  /**
   * Around each batched receive: the packets onPacket gets in between that lie in `slab` keep
   * their bytes until rxBatchEnd (the session writes them to the TUN together, tun-writer.ts).
   */
  rxBatchBegin?: (slab: Buffer) => void;
  rxBatchEnd?: () => void;
  /** DTLS carries data from now on; `ms` since the round started */
  onUp: (info: DtlsSessionInfo, ms: number) => void;
  /** an established association ended: data is back on CSTP */
  onDown: (why: string) => void;
  /** a round ended without DTLS ([SEED] §6.1 fallback); retryMs null = DTLS given up */
  onFallback: (why: string, retryMs: number | null) => void;
}

export interface DtlsTotals {
  txPackets: number;
  rxPackets: number;
  txBytes: number;
  rxBytes: number;
  /** associations established */
  handshakes: number;
}

export class ClientDtls {
  private sock: Socket | null = null;
  /** recvmmsg + UDP_GRO reading of `sock` (the gateway's batched receive, os/udp-rx-batch.ts); null: dgram 'message' */
  private rx: UdpBatchReceiver | null = null;
  /** sendmmsg (+ UDP GSO) output of `sock` for data records; null: one dgram.send per record */
  private tx: UdpBatchSender | null = null;
  /** why data records go out one dgram.send each (for the log), when tx is null */
  private txOff = '';
  private channel: DtlsChannel | null = null;
  /** the channel while established: the per-packet path looks only at this */
  private live: DtlsChannel | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private round = 0;
  private attempts = 0;
  private roundStart = 0;
  private lastAttemptAt = 0;
  /** some datagram came back in this round (then a failure is not "no answer") */
  private answered = false;
  private refusedLogged = false;
  private readonly closedTotals: DtlsTotals = { txPackets: 0, rxPackets: 0, txBytes: 0, rxBytes: 0, handshakes: 0 };

  constructor(private readonly o: ClientDtlsOptions) {}

  /** First round, right away. */
  start(): void {
    this.startRound();
  }

  get up(): boolean {
    return this.live !== null;
  }

  /** One IP packet over DTLS; false when no association is up (send it over CSTP). */
  sendPacket(buf: Uint8Array, off: number, len: number): boolean {
    const ch = this.live;
    return ch !== null && ch.sendPacket(buf, off, len);
  }

  /**
   * Sends the data records queued since the last flush (one sendmmsg): the session calls it at
   * the end of each TUN batch, so no record waits for the microtask the sender would otherwise
   * flush in.
   */
  flush(): void {
    this.tx?.flush();
  }

  /** How data records leave, for the log: 'batched (sendmmsg, UDP GSO on)' or 'per-packet (why)'. */
  get sendPath(): string {
    const tx = this.tx;
    return tx ? `batched (sendmmsg, UDP GSO ${tx.gso ? 'on' : 'off'})` : `per-packet (${this.txOff})`;
  }

  /** Traffic over DTLS so far, every association of this CONNECT. */
  totals(): DtlsTotals {
    const t = { ...this.closedTotals };
    const c = this.channel?.counters;
    if (c) {
      t.txPackets += c.txPackets;
      t.rxPackets += c.rxPackets;
      t.txBytes += c.txBytes;
      t.rxBytes += c.rxBytes;
    }
    return t;
  }

  /** Ends DTLS for good (tunnel closing or replaced): close_notify if up, socket closed. */
  stop(text = 'closed'): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.tx?.flush(); // queued data before the close_notify
    const ch = this.channel;
    if (ch?.isOpen) ch.close(text); // onClose(local) folds its counters in
    this.closeSocket();
  }

  // ---------------------------------------------------------------- rounds

  private startRound(): void {
    this.timer = null;
    if (this.stopped) return;
    this.round++;
    this.attempts = 0;
    this.answered = false;
    this.refusedLogged = false;
    const { gateway, plan } = this.o;
    const sock = createSocket({ type: gateway.includes(':') ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
    this.sock = sock;
    // Without an 'error' listener an ICMP port unreachable (ECONNREFUSED on a connected socket)
    // would crash the process (NODE-DATAPLANE.md G3).
    sock.on('error', (e) => this.onSocketError(sock, e));
    sock.on('message', (msg: Buffer) => {
      if (sock !== this.sock) return;
      this.answered = true;
      this.channel?.handleDatagram(msg);
    });
    sock.connect(plan.port, gateway, () => {
      if (sock === this.sock && !this.stopped) this.openChannel(sock);
    });
  }

  private openChannel(sock: Socket): void {
    const { plan, psk } = this.o;
    const s = plan.setup;
    const opts: DtlsClientOptions =
      s.mode === 'psk'
        ? { role: 'client', mode: 'psk', psk: psk!, appId: plan.appId!, ...dtlsRoundTimers() }
        : { role: 'client', mode: 'resume', version: s.version, suite: s.suite, sessionId: plan.sessionId!, masterSecret: plan.masterSecret, ...dtlsRoundTimers() };
    let ep: DtlsClient;
    try {
      ep = new DtlsClient(opts);
    } catch (e) {
      this.giveUp(`cannot set up DTLS (${planLabel(plan)}): ${(e as Error).message}`);
      return;
    }
    // Data records go out with one sendmmsg per TUN batch, as on the gateway (NODE-DATAPLANE.md
    // §5); null (plain dgram.send) with SSLGATE_UDP_TX_BATCH=0, without the native addon or over IPv6.
    const wanted = envFlagOn('SSLGATE_UDP_TX_BATCH');
    const batch = wanted ? UdpBatchSender.create(sock) : null;
    const sink = batch?.sinkFor(this.o.gateway, plan.port) ?? null;
    this.tx = sink ? batch : null;
    this.txOff = !wanted ? 'SSLGATE_UDP_TX_BATCH=0' : batch ? 'not an IPv4 peer' : 'no sendmmsg: no native addon, or an IPv6 socket';
    const ch: DtlsChannel = new DtlsChannel({
      endpoint: ep,
      role: 'client',
      sink,
      send: (d) => this.send(sock, d),
      dpd: plan.dpd,
      keepalive: plan.keepalive,
      onPacket: this.o.onPacket,
      onEstablished: (info) => this.onEstablished(ch, info),
      onClose: (why) => this.onClose(ch, why),
    });
    this.channel = ch;
    this.roundStart = Date.now();
    ch.start();
  }

  private send(sock: Socket, d: Buffer): void {
    // Until the gateway answered, every datagram of a round is a ClientHello (re)transmission.
    if (!this.answered && this.live === null) this.noteAttempt();
    try {
      sock.send(d);
    } catch {
      // socket already closed: the datagram is lost, as UDP allows
    }
  }

  private noteAttempt(): void {
    const now = Date.now();
    const n = ++this.attempts;
    if (n === 1) this.roundStart = now; // the round's clock starts with its first ClientHello
    const { gateway, plan } = this.o;
    const retry = n === 1 ? '' : ` (retry ${n - 1}, ${now - this.lastAttemptAt} ms after attempt ${n - 1})`;
    this.lastAttemptAt = now;
    this.o.progress.info(`DTLS attempt ${n} of ${DTLS_ATTEMPTS}: ClientHello to ${gateway}:${plan.port}${retry}, round ${this.round} +${now - this.roundStart} ms`);
  }

  private onSocketError(sock: Socket, e: Error): void {
    if (sock !== this.sock) return;
    const code = (e as NodeJS.ErrnoException).code;
    if (this.channel === null) {
      // connect(2) itself failed: this round cannot even send.
      this.closeSocket();
      this.fallback(`cannot open UDP to ${this.o.gateway}:${this.o.plan.port} (${e.message})`, DTLS_RETRY_LATER_MS);
      return;
    }
    // ICMP port unreachable etc.: the ClientHello counts as not answered; the schedule goes on.
    if (code === 'ECONNREFUSED' && !this.refusedLogged) {
      this.refusedLogged = true;
      this.o.progress.info(`DTLS: ${this.o.gateway}:${this.o.plan.port} refused UDP (ICMP port unreachable)`);
    } else if (code !== 'ECONNREFUSED') {
      this.o.progress.debug(`DTLS socket: ${e.message}`);
    }
  }

  private onEstablished(ch: DtlsChannel, info: DtlsSessionInfo): void {
    if (ch !== this.channel || this.stopped) return;
    this.live = ch;
    this.closedTotals.handshakes++;
    this.batchReceive();
    this.o.onUp(info, Date.now() - this.roundStart);
  }

  /**
   * Once the association is up, downloads are read with recvmmsg + UDP_GRO: one JS call per batch
   * instead of one 'message' (and one Buffer) per datagram. Not during the handshake: the poller
   * takes ICMP errors as soft, and an unreachable port must still be reported (onSocketError).
   * Null (SSLGATE_UDP_RX_BATCH=0, no addon, IPv6): dgram keeps reading.
   */
  private batchReceive(): void {
    const sock = this.sock;
    if (!sock || this.rx) return;
    const rx = UdpBatchReceiver.create(sock);
    if (!rx) return;
    this.rx = rx;
    this.o.progress.info(`DTLS receive batched (recvmmsg, UDP GRO ${rx.gro ? 'on' : 'off'})`);
    rx.start(
      (slab, offs, lens, _addrs, _ports, count) => {
        if (sock !== this.sock) return;
        const o = this.o;
        o.rxBatchBegin?.(slab);
        try {
          for (let i = 0; i < count; i++) this.channel?.handleDatagramAt(slab, offs[i]!, offs[i]! + lens[i]!);
        } finally {
          o.rxBatchEnd?.();
        }
      },
      (err) => this.o.progress.debug(`DTLS socket: ${err.message}`),
    );
  }

  private onClose(ch: DtlsChannel, why: DtlsCloseReason): void {
    if (ch !== this.channel) return;
    const wasUp = this.live === ch;
    this.live = null;
    this.channel = null;
    const c = ch.counters;
    const t = this.closedTotals;
    t.txPackets += c.txPackets;
    t.rxPackets += c.rxPackets;
    t.txBytes += c.txBytes;
    t.rxBytes += c.rxBytes;
    this.closeSocket();
    if (this.stopped || why.kind === 'local') return;
    if (wasUp) {
      this.o.onDown(describe(why, this.o.plan.dpd));
      // Silence (DPD): the path may come back any moment, start over now. The gateway closing
      // on purpose: give it a minute (dtls-schedule.ts).
      if (why.kind === 'dpd-timeout') this.startRound();
      else this.later(DTLS_RETRY_LATER_MS);
      return;
    }
    if (why.kind === 'handshake-failed' && why.reason === 'resume-refused') {
      // A full handshake instead of the resumption: possible MITM; openconnect gives up too (§6.3).
      this.giveUp(`${why.message}; DTLS disabled for this connection`);
      return;
    }
    const secs = ((Date.now() - this.roundStart) / 1000).toFixed(1);
    const text =
      why.kind === 'handshake-failed' && why.reason === 'timeout' && !this.answered
        ? `the gateway did not answer the DTLS ClientHello (${this.attempts} attempts in ${secs} s)`
        : `DTLS handshake failed after ${secs} s: ${describe(why, this.o.plan.dpd)}`;
    this.fallback(text, DTLS_RETRY_LATER_MS);
  }

  private fallback(why: string, retryMs: number): void {
    this.o.onFallback(why, retryMs);
    this.later(retryMs);
  }

  private giveUp(why: string): void {
    this.o.onFallback(why, null);
    this.stopped = true;
    this.closeSocket();
  }

  private later(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.startRound(), ms);
    this.timer.unref();
  }

  private closeSocket(): void {
    this.rx?.close();
    this.rx = null;
    // Before the socket: the sender writes on its fd number, which close() frees.
    this.tx?.close();
    this.tx = null;
    const s = this.sock;
    this.sock = null;
    if (!s) return;
    try {
      s.close();
    } catch {
      // already closed
    }
  }
}

function describe(why: DtlsCloseReason, dpd: number): string {
  switch (why.kind) {
    case 'handshake-failed':
      return why.message;
    case 'dpd-timeout':
      return `no DTLS traffic from the gateway for ${2 * dpd} s (dead peer detection)`;
    case 'peer-closed':
      return 'the gateway closed DTLS';
    case 'peer-disconnect':
      return `the gateway sent DISCONNECT on DTLS (reason 0x${why.reason.toString(16)})`;
    case 'local':
      return why.text;
  }
}
