/**
 * Steps 5 and 6 of the flow: the tunnel and keeping it up (PROTOCOL.md Appendix A.4:
 * CONNECT → TUNNEL(TLS) → on TLS loss RECONNECT (cookie, §8.5; same addresses required) →
 * CLOSED on 401/TERMINATE/DISCONNECT from the gateway or user exit). The reconnect attempts
 * themselves (backoff, same-address rule) are in reconnect.ts.
 *
 * Data path, both ways, with no allocation beyond the frame buffer and no promises:
 *   TUN batch → DTLS when established (dtls-session.ts: sealed into the sendmmsg slab, sent
 *   once at the end of the batch), else CstpChannel.sendPacket (header + copy, one TLS record
 *   per frame); CstpChannel.onPacket / DTLS packets (views) → TUN writes (tun-writer.ts: one
 *   writeBatch per DTLS receive batch / per event-loop turn of CSTP records).
 * The TUN has the gateway's offloads (IFF_VNET_HDR + TUNSETOFFLOAD, os/tun.ts): the kernel hands
 * over TCP/UDP super-packets, which the addon cuts into packets of the TUN's current MTU (each
 * still one CSTP frame / one DTLS record, as ocserv and openconnect require), and downloads are
 * written with write-side GRO. SSLGATE_TUN_OFFLOAD=0 (or a kernel that refuses) gives a plain TUN.
 * DPD and keepalive run in the channels on the gateway's timers (X-CSTP-DPD/-Keepalive,
 * X-DTLS-DPD/-Keepalive). DTLS comes up after CSTP and takes over without a gap; when it fails
 * or dies, data stays on / goes back to TLS (dtls-fallback.ts has the MTU and script rules).
 *
 * The TUN device, its address and the host configuration outlive reconnects: only the TLS
 * connection and the channel are replaced. While there is no channel, packets from the TUN are
 * dropped (counted), as a NIC with no link would.
 */
import type { TLSSocket } from 'node:tls';
import type { TunnelParams } from '../protocol/connect-headers.js';
import { CSTP_HEADER_LEN, CSTP_MAX_PAYLOAD, DisconnectReason } from '../protocol/cstp.js';
import { CstpChannel, type ChannelCloseReason } from '../tunnel/cstp-channel.js';
import { linkSetMtu } from '../os/ip.js';
import { envFlagOn } from '../os/env-flag.js';
import { openTun, type TunDevice } from '../os/tun.js';
import { runVpncScript } from '../os/vpnc-script.js';
import { ClientError } from './errors.js';
import type { GatewayUrl } from './gateway-url.js';
import { HostConfig } from './host-config.js';
import { HttpsConnection } from './https-connection.js';
import { logout } from './logout.js';
import { reconnectLoop } from './reconnect.js';
import type { Progress } from './progress.js';
import { cstpConnect, type CstpConnected } from './cstp-connect.js';
import { DtlsFallback } from './dtls-fallback.js';
import type { DtlsOfferOptions } from './dtls-offer.js';
import type { TlsConnector } from './tls-connect.js';
import { TunWriter } from '../tunnel/tun-writer.js';
import { vpncScriptEnv, type ScriptReason } from './vpnc-env.js';

export interface SessionOptions {
  url: GatewayUrl;
  connector: TlsConnector;
  userAgent: string;
  cookie: string;
  progress: Progress;
  /** --script; undefined = configure the host with ip(8) */
  script?: string;
  /** --interface */
  interfaceName?: string;
  /** --reconnect-timeout, seconds */
  reconnectTimeoutS: number;
  ipv6: boolean;
  /** `<session-token>` (ASA-style gateways): logged out with a POST on exit (§2.6.13) */
  sessionToken?: string;
  /** --base-mtu */
  baseMtu?: number;
  /** DTLS offer options (--dtls-ciphers, --dtls12-ciphers); null = --no-dtls */
  dtls: DtlsOfferOptions | null;
}

/** How the session ended: the CLI's exit code and the line to print. */
export interface SessionEnd {
  exitCode: number;
  message?: string;
}

export class TunnelSession {
  private tun: TunDevice | null = null;
  /** downloads into `tun` */
  private writer: TunWriter | null = null;
  /** why the TUN has no offloads ('' when it has them), for the "Tunnel up" line */
  private offloadOff = '';
  private channel: CstpChannel | null = null;
  private params: TunnelParams | null = null;
  private cstpHeaders: Array<[string, string]> = [];
  private socket: TLSSocket | null = null;
  private hostConfig: HostConfig | null = null;
  private gateway = '';
  private mtu = 0;
  private stopping = false;
  private reconnecting = false;
  private rekeyTimer: NodeJS.Timeout | null = null;
  private wakeSleep: (() => void) | null = null;
  /** MTU changes (ip link + vpnc-script) one after the other */
  private mtuChain: Promise<void> = Promise.resolve();
  private readonly dtls: DtlsFallback;
  /** CSTP traffic of channels that were replaced, and the last channel attached */
  private readonly cstpDone = { txPackets: 0, rxPackets: 0 };
  private lastCstp: CstpChannel | null = null;
  private endResolve!: (e: SessionEnd) => void;
  private ended = false;
  /** packets from the TUN dropped while no channel was up */
  dropped = 0;
  readonly done: Promise<SessionEnd>;

  constructor(private readonly o: SessionOptions) {
    this.done = new Promise((r) => (this.endResolve = r));
    this.dtls = new DtlsFallback({
      progress: o.progress,
      onPacket: this.onPacket,
      rxBatchBegin: (slab) => this.writer?.beginBatch(slab),
      rxBatchEnd: () => this.writer?.endBatch(),
      currentMtu: () => this.mtu,
      changeMtu: (mtu, why, announce) => {
        this.mtuChain = this.mtuChain.then(() => this.applyMtu(mtu, why, announce));
      },
    });
  }

  /** CONNECT (on the auth connection when still open), TUN, host configuration, channel. */
  async start(conn: HttpsConnection | null): Promise<void> {
    try {
      await this.startInner(conn);
    } catch (e) {
      // Undo whatever was set up (script disconnect, routes, TUN) before reporting.
      await this.end({ exitCode: 1 });
      throw e;
    }
  }

  private async startInner(conn: HttpsConnection | null): Promise<void> {
    const p = this.o.progress;
    // pre-init needs no tunnel parameters: with the login connection reused the gateway address
    // is known, so the script runs while CONNECT is on the wire.
    let preInit: Promise<void> | undefined;
    if (this.o.script && conn?.open && conn.socket.remoteAddress) {
      this.gateway = conn.socket.remoteAddress;
      preInit = this.script('pre-init');
      preInit.catch(() => undefined); // awaited below
    }
    const connecting = this.connect(conn, []);
    connecting.catch(() => undefined); // awaited below
    // The TUN opens while the gateway answers CONNECT (after pre-init, which may load the tun
    // module); a failed CONNECT closes it again in end().
    try {
      if (this.o.script) await (preInit ?? this.script('pre-init'));
      const offload = envFlagOn('SSLGATE_TUN_OFFLOAD');
      this.tun = openTun({ ...(this.o.interfaceName ? { name: this.o.interfaceName } : {}), offload });
      this.offloadOff = this.tun.vnetHdr ? '' : offload ? 'the kernel refused IFF_VNET_HDR/TUNSETOFFLOAD' : 'SSLGATE_TUN_OFFLOAD=0';
      this.writer = new TunWriter(this.tun);
    } catch (e) {
      void connecting.then((c) => c.socket.destroy(), () => undefined);
      const code = (e as { code?: string }).code;
      if (code === 'EPERM' || code === 'EACCES') {
        throw new ClientError(`cannot create the TUN device (${(e as Error).message}): sslgate connect needs root or CAP_NET_ADMIN`);
      }
      throw e;
    }
    const dev = this.tun.name;
    p.info(`opened TUN device ${dev}`);
    const c = await connecting;
    this.params = c.params;
    this.cstpHeaders = c.cstpHeaders;
    // [SEED] §5: the adapter comes up with X-DTLS-MTU when DTLS is expected.
    this.mtu = this.dtls.connectAnswer(c, this.gateway);
    this.attach(c);
    if (this.o.script) {
      await this.script('connect');
    } else {
      this.hostConfig = new HostConfig(dev, p);
      await this.hostConfig.apply(c.params, this.gateway, this.mtu);
    }
    const tun = this.tun;
    tun.setMtu(this.mtu); // the splitter's limit; applyMtu keeps it current
    tun.start(this.onTunBatch, (err) => void this.end({ exitCode: 1, message: `TUN device ${dev} failed: ${err.message}` }));
    // DTLS after CSTP is up and the TUN configured (so a fallback finds it ready); data flows
    // over TLS meanwhile ([SEED] §6).
    this.dtls.start();
    const prm = c.params;
    const mask = prm.netmask ? `/${prm.netmask}` : '';
    p.step(
      `Tunnel up: ${prm.address || prm.addressIp6}${mask} on ${dev}, MTU ${this.mtu}, ${this.offloadStatus()}, over TLS; ${this.dtls.status}` +
        (prm.dns.length ? `, DNS ${prm.dns.join(' ')}` : '') +
        (prm.splitInclude.length ? `, routes ${prm.splitInclude.join(' ')}` : ', all traffic'),
    );
    if (!this.o.script && prm.dns.length) p.info('DNS servers are not configured without --script (use a vpnc-script for DNS)');
  }

  /** "tun offload: on, GRO writes on|off" or "tun offload: off (why)" */
  private offloadStatus(): string {
    const t = this.tun;
    if (!t?.vnetHdr) return `tun offload: off (${this.offloadOff})`;
    return `tun offload: on, GRO writes ${t.gro ? 'on' : 'off (SSLGATE_TUN_GRO=0)'}`;
  }

  /** User exit (Ctrl-C, SIGTERM): DISCONNECT (0xb0), logout, undo, exit 0. */
  async stop(why = 'Aborted by caller'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wakeSleep?.();
    this.dtls.stop();
    const ch = this.channel;
    const sock = this.socket;
    if (ch?.isOpen && sock) {
      // The channel ends the socket once the DISCONNECT frame is written; the gateway then closes.
      const closed = new Promise<void>((r) => sock.once('close', () => r()));
      ch.disconnect(DisconnectReason.User, why);
      await Promise.race([closed, sleep(2000)]);
    }
    if (this.o.sessionToken) await logout(this.o, this.o.sessionToken);
    await this.end({ exitCode: 0, message: 'Disconnected' });
  }

  // ---------------------------------------------------------------- data path

  private readonly onTunBatch = (slab: Buffer, lens: Uint32Array, count: number): void => {
    const ch = this.channel;
    if (ch === null) {
      this.dropped += count;
      return;
    }
    const tun = this.tun!;
    const slot = tun.slot;
    const hr = tun.headroom;
    const d = this.dtls;
    for (let i = 0; i < count; i++) {
      const off = i * slot + hr;
      const len = lens[i]!;
      if (!d.sendPacket(slab, off, len)) ch.sendPacket(slab, off, len);
    }
    d.flush(); // the batch's DTLS records: one sendmmsg
  };

  /** what the CSTP channels read their TLS socket into (cstp-channel.ts readIntoSharedBuffer) */
  private readBuffer: Buffer | undefined;

  /** A packet from DTLS: in the receive slab (queued until its batch ends) or a dgram buffer. */
  private readonly onPacket = (buf: Buffer, start: number, end: number): void => {
    this.writer?.packet(buf, start, end);
  };

  /** A packet from CSTP, in the shared read buffer that the next read reuses. */
  private readonly onCstpPacket = (buf: Buffer, start: number, end: number): void => {
    this.writer?.record(buf, start, end);
  };

  // ---------------------------------------------------------------- channel lifecycle

  private attach(c: CstpConnected): void {
    const prm = c.params;
    const ch = new CstpChannel(c.socket, {
      role: 'client',
      maxPayload: CSTP_MAX_PAYLOAD,
      // Full-MTU frames go out in runs (bulk uploads); the TUN MTU may be the DTLS one, which
      // can be larger than the CSTP one, and nothing larger than runFrame may follow a run.
      runFrame: CSTP_HEADER_LEN + Math.max(prm.mtu, this.mtu),
      dpd: prm.dpd,
      keepalive: prm.keepalive,
      onPacket: this.onCstpPacket,
      onClose: (reason) => this.onChannelClose(ch, reason),
    });
    ch.feed(c.leftover);
    c.socket.resume(); // paused since CONNECT (cstp-connect.ts)
    // One read buffer for the session's TLS connections instead of a Buffer per chunk (onPacket
    // writes each packet to the TUN before it returns).
    ch.readIntoSharedBuffer((this.readBuffer ??= Buffer.allocUnsafeSlow(64 * 1024)));
    const last = this.lastCstp;
    if (last) {
      this.cstpDone.txPackets += last.counters.txPackets;
      this.cstpDone.rxPackets += last.counters.rxPackets;
    }
    this.lastCstp = ch;
    this.channel = ch;
    this.socket = c.socket;
    this.armRekey(prm);
    this.o.progress.info(`CSTP up: DPD ${prm.dpd} s, keepalive ${prm.keepalive} s, rekey ${prm.rekeyMethod ?? 'none'} ${prm.rekeyTime ?? ''}`);
  }

  private onChannelClose(ch: CstpChannel, reason: ChannelCloseReason): void {
    if (this.channel !== ch) return;
    this.channel = null;
    // DTLS belongs to this CONNECT (its keys came with it): a reconnect starts it over.
    this.dtls.stop();
    if (this.rekeyTimer) clearTimeout(this.rekeyTimer);
    if (this.stopping || this.ended) return;
    const p = this.o.progress;
    switch (reason.kind) {
      case 'local':
        return;
      case 'peer-terminate':
        void this.end({ exitCode: 1, message: 'the gateway terminated the session' });
        return;
      case 'peer-disconnect':
        // 0x91 = "reconnect now, session kept" (§5.4); anything else ends the session, as in
        // openconnect (it does not reconnect after a server DISCONNECT).
        if (reason.reason === DisconnectReason.Reconnect) {
          p.step(`The gateway asked to reconnect${reason.text ? `: ${reason.text}` : ''}`);
          void this.reconnect();
          return;
        }
        void this.end({ exitCode: 1, message: `the gateway ended the session${reason.text ? `: ${reason.text}` : ''} (reason 0x${reason.reason.toString(16)})` });
        return;
      case 'dpd-timeout':
        p.step('The gateway stopped answering (dead peer detection); reconnecting');
        void this.reconnect();
        return;
      case 'protocol-error':
        p.step(`CSTP error: ${reason.error.message}; reconnecting`);
        void this.reconnect();
        return;
      case 'socket-closed':
        p.step(`Connection to the gateway lost${reason.error ? ` (${reason.error.message})` : ''}; reconnecting`);
        void this.reconnect();
        return;
    }
  }

  /**
   * X-CSTP-Rekey-Method: we cannot renegotiate TLS from Node, so both `ssl` and `new-tunnel`
   * are done as a new tunnel connection with the cookie (openconnect's fallback, §8.4).
   */
  private armRekey(p: TunnelParams): void {
    if (this.rekeyTimer) clearTimeout(this.rekeyTimer);
    this.rekeyTimer = null;
    if (!p.rekeyTime || (p.rekeyMethod !== 'ssl' && p.rekeyMethod !== 'new-tunnel')) return;
    const ms = p.rekeyTime * 1000;
    if (ms > 0x7fffffff) return; // longer than a timer can wait: a year-long "never" (§8.4)
    this.rekeyTimer = setTimeout(() => {
      const ch = this.channel;
      if (!ch || this.stopping) return;
      this.o.progress.info('rekey: opening a new tunnel connection');
      this.channel = null;
      this.dtls.stop();
      ch.destroy({ kind: 'local', text: 'rekey' });
      void this.reconnect();
    }, ms);
    this.rekeyTimer.unref();
  }

  // ---------------------------------------------------------------- reconnect (§8.5)

  private async reconnect(): Promise<void> {
    if (this.reconnecting || this.stopping) return;
    this.reconnecting = true;
    const o = this.o;
    try {
      await reconnectLoop({
        progress: o.progress,
        timeoutS: o.reconnectTimeoutS,
        lost: this.params!,
        attemptScript: o.script ? () => this.script('attempt-reconnect') : null,
        stopping: () => this.stopping,
        sleep: (ms) => this.sleep(ms),
        connect: (hints) => this.connect(null, hints),
        resume: (c) => this.resume(c),
        takeDropped: () => {
          const n = this.dropped;
          this.dropped = 0;
          return n;
        },
        end: (e) => this.end(e),
      });
    } finally {
      this.reconnecting = false;
    }
  }

  /** A reconnect's new connection: attach it (before any await: the socket is not paused). */
  private async resume(c: CstpConnected): Promise<void> {
    this.params = c.params;
    this.cstpHeaders = c.cstpHeaders;
    const mtu = this.dtls.connectAnswer(c, this.gateway);
    this.attach(c);
    // The new answer's MTU (DTLS expected again: the DTLS one), on the TUN with or without a
    // script (Debian's vpnc-script does nothing on reason=reconnect), queued behind any MTU
    // change still pending from the previous CONNECT's DTLS.
    await (this.mtuChain = this.mtuChain.then(() => this.applyMtu(mtu, 'new CONNECT answer', false)));
    if (this.o.script) await this.script('reconnect').catch((e: Error) => this.o.progress.warn(e.message));
    this.dtls.start();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeSleep = done;
    });
  }

  // ---------------------------------------------------------------- pieces

  /** A verified connection (the given one if still open) and CONNECT on it. */
  private async connect(conn: HttpsConnection | null, hints: string[]): Promise<CstpConnected> {
    const p = this.o.progress;
    let c = conn;
    if (!c || !c.open) {
      c?.destroy();
      const t = await this.o.connector.connect(this.o.url);
      p.info(`connected to ${this.o.url.hostHeader} for the tunnel (${t.protocol}, ${t.handshakeMs} ms)`);
      c = new HttpsConnection(t.socket, p);
    } else {
      p.info('reusing the login connection for CONNECT');
    }
    const res = await cstpConnect({
      conn: c,
      url: this.o.url,
      userAgent: this.o.userAgent,
      cookie: this.o.cookie,
      ipv6: this.o.ipv6,
      addressHints: hints,
      ...(this.o.baseMtu !== undefined ? { baseMtu: this.o.baseMtu } : {}),
      dtls: this.o.dtls,
    });
    this.gateway = (res.socket as TLSSocket).remoteAddress ?? this.o.url.host;
    p.info(`CONNECT answered: address ${res.params.address}/${res.params.netmask}, MTU ${res.params.mtu} (base ${res.baseMtu} sent)`);
    return res;
  }

  private async script(reason: ScriptReason): Promise<void> {
    const p = this.o.progress;
    const vars = vpncScriptEnv({
      reason,
      tundev: this.tun?.name ?? this.o.interfaceName ?? '',
      gateway: this.gateway,
      pid: process.pid,
      logLevel: Math.min(3, Math.max(0, p.verbosity + 1)),
      ...(this.params && reason !== 'pre-init' ? { params: this.params, mtu: this.mtu, cstpOptions: this.cstpHeaders } : {}),
    });
    const t0 = Date.now();
    await runVpncScript(this.o.script!, vars, { onLine: (l) => p.info(`script: ${l}`) });
    p.info(`vpnc-script ${reason} done in ${Date.now() - t0} ms`);
  }

  /** The TUN MTU for DTLS/TLS ([SEED] §6.1), from DtlsFallback; runs on `mtuChain`. */
  private async applyMtu(mtu: number, why: string, announce: boolean): Promise<void> {
    const tun = this.tun;
    if (this.ended || !tun) return;
    const p = this.o.progress;
    if (mtu !== this.mtu) {
      const from = this.mtu;
      this.mtu = mtu;
      // Super-packets are cut to the smaller MTU while the link changes: the kernel may still
      // build segments for the old one (lowering), or not yet for the new one (raising).
      tun.setMtu(Math.min(from, mtu));
      await linkSetMtu(tun.name, mtu).catch((e: Error) => p.warn(`cannot set the MTU of ${tun.name}: ${e.message}`));
      if (this.mtu === mtu) tun.setMtu(mtu);
      p.step(`TUN ${tun.name} MTU ${from} -> ${mtu} (${why})`);
    }
    // The "reconnect" the user sees in the seed: the script hears about the new MTU.
    if (announce && this.o.script && !this.ended) await this.script('reconnect').catch((e: Error) => p.warn(e.message));
  }

  /** One line of packet counts per channel, so a run shows what carried the data. */
  private trafficSummary(): void {
    const c = this.lastCstp?.counters;
    const d = this.dtls.totals();
    const o = this.tun?.offloadCounters;
    this.o.progress.info(
      `traffic: TLS tx ${this.cstpDone.txPackets + (c?.txPackets ?? 0)} rx ${this.cstpDone.rxPackets + (c?.rxPackets ?? 0)} packets; ` +
        `DTLS tx ${d.txPackets} rx ${d.rxPackets} packets (${d.txBytes} / ${d.rxBytes} bytes), ${d.handshakes} DTLS handshakes; ` +
        `TUN super-packets ${o?.superPackets ?? 0} cut into ${o?.segments ?? 0}, ${o?.malformed ?? 0} malformed, ` +
        `GRO writes ${o?.groWrites ?? 0} of ${o?.groSegments ?? 0} packets, ${this.writer?.writeErrors ?? 0} TUN write errors`,
    );
  }

  /** Ends the session once: undo the host configuration, close the TUN, resolve done. */
  private async end(e: SessionEnd): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.stopping = true;
    this.wakeSleep?.();
    if (this.rekeyTimer) clearTimeout(this.rekeyTimer);
    this.dtls.stop();
    const ch = this.channel;
    this.channel = null;
    if (ch?.isOpen) ch.destroy({ kind: 'local', text: 'session end' });
    const p = this.o.progress;
    this.trafficSummary();
    if (this.o.script && this.tun) await this.script('disconnect').catch((err: Error) => p.warn(err.message));
    if (this.hostConfig) await this.hostConfig.restore();
    this.tun?.close();
    this.tun = null;
    this.writer = null;
    this.endResolve(e);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
