/**
 * The DTLS channel (PROTOCOL.md §6): one DTLS association over UDP carrying the same packets as
 * CSTP, with a 1-byte type header instead of CSTP's 8 bytes (§6.1). Shared by gateway and client.
 *
 * The DTLS state machine is pure (src/dtls); this class owns what it cannot: the clock, the
 * retransmission timer, the UDP send function, and liveness (DPD/keepalive on the DTLS path,
 * §8.1-8.2, liveness.ts).
 *
 * Data path. Until 'established' every datagram goes through the endpoint. From then on the
 * channel protects records itself with the endpoint's exported traffic keys (native AEAD /
 * CBC+HMAC when the addon is built, src/os/dtls-record-addon.ts), so the per-packet path never
 * touches the handshake code:
 *   out: 1. the type byte and the packet are copied into a slot of the sink's slab (gateway:
 *        one sendmmsg per TUN batch) or into one new buffer  2. sealed in place with the next
 *        sequence number  3. queued / sent.  No other allocation, no closures, no promises.
 *   in:  application_data records of the current epoch and version are opened in place (own
 *        replay window) and handed on as (datagram, start, end). Every other record (handshake
 *        retransmissions, alerts, other epochs, garbage) still goes to `endpoint.handleDatagram`,
 *        so retransmission and close_notify keep working.
 * The sealer continues the endpoint's write sequence (`nextWriteSeq`). Records the endpoint
 * still produces afterwards (its last flight retransmitted, close_notify) would reuse sequence
 * numbers (and, for AES-GCM, nonces) the sealer already used, so they are re-sealed with fresh
 * sequence numbers before they leave (`resequence`).
 */
import { clearResult, createResult, type DtlsClient, type DtlsResult, type DtlsServer, type DtlsSessionInfo, type DtlsFailReason, type DropReason, type DtlsTrafficKeys } from '../dtls/index.js';
import { ContentType } from '../dtls/constants.js';
import { createRecordProtection, type RecordProtection } from '../dtls/record-cipher.js';
import { getSuite } from '../dtls/suites.js';
import { OPEN_REPLAY, type RecordOpener, type RecordSealer } from '../dtls/record-sealer.js';
import { createRecordOpener, createRecordSealer } from '../os/dtls-record-addon.js';
import type { DatagramSink } from '../os/udp-batch.js';
import { Liveness } from './liveness.js';

/** AnyConnect packet types on DTLS (§5.2, §6.1). */
const DATA = 0x00;
const DPD_REQ = 0x03;
const DPD_RESP = 0x04;
const DISCONNECT = 0x05;
const KEEPALIVE = 0x07;
const COMPRESSED = 0x08;

const APP_DATA = ContentType.applicationData;
const HEADER = 13;
const EMPTY = Buffer.alloc(0);

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
  /**
   * Optional batched output for data records (the gateway's sendmmsg slab, see
   * UdpBatchSender). Without it each data record is one `send` call.
   */
  sink?: DatagramSink | null;
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
  /** started at 'established' */
  private readonly liveness: Liveness;
  private closed = false;
  // Data path after 'established' (null before, or if the suite has no exportable keys).
  private sealer: RecordSealer | null = null;
  private opener: RecordOpener | null = null;
  private keys: DtlsTrafficKeys | null = null;
  /** record header bytes 1-4 (version, epoch) every data record of this association carries */
  private hdrVersion = 0;
  private hdrEpoch = 0;
  /** the endpoint's own write protection, to re-seal records it still produces (resequence) */
  private endpointWrite: RecordProtection | null = null;
  private readonly sink: DatagramSink | null;

  constructor(private readonly opts: DtlsChannelOptions) {
    this.sink = opts.sink ?? null;
    // As on CSTP: the client probes after DPD and gives up after 2xDPD; the gateway probes
    // after 2xDPD and stops using UDP after 3xDPD (ocserv, §8.2).
    this.liveness = new Liveness(opts, this.counters, {
      sendProbe: () => this.sendControl(DPD_REQ),
      sendKeepalive: () => this.sendControl(KEEPALIVE),
      dead: () => this.stop({ kind: 'dpd-timeout' }),
    });
  }

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
    this.handleRecords(dgram, 0, dgram.length, false);
  }

  /**
   * One datagram at buf[start, end) in a receive slab that is reused after this call (batched
   * receive, os/udp-rx-batch.ts): application records are opened in place there as usual, and
   * anything the endpoint gets (handshake, alerts, other epochs) is copied first, since the
   * endpoint may keep it (reassembly, retransmission state).
   */
  handleDatagramAt(buf: Buffer, start: number, end: number): void {
    this.handleRecords(buf, start, end, true);
  }

  private handleRecords(dgram: Buffer, start: number, total: number, borrowed: boolean): void {
    if (this.closed) return;
    const op = this.opener;
    if (op === null) {
      this.toEndpoint(this.part(dgram, start, total, borrowed));
      return;
    }
    // Established: open our application records here, hand every other record to the endpoint.
    let off = start;
    while (off < total) {
      if (total - off < HEADER) {
        this.toEndpoint(this.part(dgram, off, total, borrowed));
        return;
      }
      const end = off + HEADER + ((dgram[off + 11]! << 8) | dgram[off + 12]!);
      if (end > total) {
        this.toEndpoint(this.part(dgram, off, total, borrowed)); // truncated: the endpoint counts it
        return;
      }
      if (
        dgram[off] === APP_DATA &&
        ((dgram[off + 1]! << 8) | dgram[off + 2]!) === this.hdrVersion &&
        ((dgram[off + 3]! << 8) | dgram[off + 4]!) === this.hdrEpoch
      ) {
        const n = op.open(dgram, off, end - off);
        if (n >= 0) {
          const pt = off + op.plaintextOffset;
          this.onPayload(dgram, pt, pt + n);
        } else {
          this.drop(n === OPEN_REPLAY ? 'replay' : 'bad-mac');
        }
      } else {
        this.toEndpoint(this.part(dgram, off, end, borrowed));
      }
      if (this.closed) return;
      off = end;
    }
  }

  /** dgram[start, end) for the endpoint: the buffer itself when it is all of it, a copy when borrowed. */
  private part(dgram: Buffer, start: number, end: number, borrowed: boolean): Buffer {
    if (borrowed) return Buffer.from(dgram.subarray(start, end));
    return start === 0 && end === dgram.length ? dgram : dgram.subarray(start, end);
  }

  /** Sends one IP packet over DTLS. False when the association is not up (caller uses CSTP). */
  sendPacket(buf: Uint8Array, off: number, len: number): boolean {
    const ep = this.opts.endpoint;
    if (this.closed || !ep.established) return false;
    const sealer = this.sealer;
    if (sealer !== null) {
      const room = sealer.headroom + 1 + len + sealer.tailroom;
      const sink = this.sink;
      const at = sink !== null ? sink.reserve(room) : -1;
      if (at >= 0) {
        sink!.commit(sealer.sealFrom(sink!.slab, at, buf, off, len, DATA, APP_DATA));
      } else {
        const out = Buffer.allocUnsafe(room);
        const n = sealer.sealFrom(out, 0, buf, off, len, DATA, APP_DATA);
        this.opts.send(n === room ? out : out.subarray(0, n));
      }
    } else {
      const head = ep.headroom;
      const out = Buffer.allocUnsafe(head + 1 + len + ep.tailroom);
      out[head] = DATA;
      out.set(buf.subarray(off, off + len), head + 1);
      const n = ep.protectInPlace(out, head, 1 + len);
      this.opts.send(out.subarray(0, n));
    }
    this.counters.txPackets++;
    this.counters.txBytes += len;
    return true;
  }

  /** Sends a control packet: type byte + buf[start, end). */
  private sendControl(type: number, buf: Uint8Array = EMPTY, start = 0, end = 0): void {
    const ep = this.opts.endpoint;
    if (this.closed || !ep.established) return;
    const sealer = this.sealer;
    if (sealer !== null) {
      const out = Buffer.allocUnsafe(sealer.headroom + 1 + (end - start) + sealer.tailroom);
      this.opts.send(out.subarray(0, sealer.sealFrom(out, 0, buf, start, end - start, type, APP_DATA)));
      return;
    }
    const body = Buffer.allocUnsafe(1 + end - start);
    body[0] = type;
    body.set(buf.subarray(start, end), 1);
    this.opts.send(ep.protect(body));
  }

  /** Closes the association (close_notify to the peer) and stops the timers. */
  close(text = 'closed'): void {
    if (this.closed) return;
    clearResult(this.res);
    this.opts.endpoint.close(this.res);
    for (const d of this.res.send) this.sendFromEndpoint(d);
    this.stop({ kind: 'local', text });
  }

  private toEndpoint(dgram: Buffer): void {
    clearResult(this.res);
    this.opts.endpoint.handleDatagram(dgram, Date.now(), this.res);
    this.process();
  }

  private drop(why: DropReason): void {
    this.counters.drops++;
    this.counters.lastDrop = why;
  }

  /** After 'established': take over record protection from the endpoint (see the file header). */
  private startDataPath(): void {
    const keys = this.opts.endpoint.exportTrafficKeys();
    if (!keys) return;
    try {
      this.sealer = createRecordSealer(keys);
      this.opener = createRecordOpener(keys);
    } catch {
      // A suite the record code cannot build from exported keys: keep using the endpoint.
      this.sealer = null;
      this.opener = null;
      return;
    }
    this.keys = keys;
    this.hdrVersion = keys.version;
    this.hdrEpoch = keys.epoch;
  }

  private sendFromEndpoint(d: Buffer): void {
    this.opts.send(this.sealer !== null ? this.resequence(d) : d);
  }

  /**
   * The endpoint numbers its records from its own counter, which stopped at `nextWriteSeq` when
   * the sealer took over. Re-seal its current-epoch records (rare: a retransmitted last flight,
   * close_notify) with the sealer so no sequence number, and no AEAD nonce, is used twice.
   */
  private resequence(d: Buffer): Buffer {
    const keys = this.keys!;
    const sealer = this.sealer!;
    let touched = false;
    for (let off = 0; off + HEADER <= d.length; off += HEADER + d.readUInt16BE(off + 11)) {
      if (d.readUInt16BE(off + 3) === keys.epoch) touched = true;
    }
    if (!touched) return d;
    const suite = getSuite(keys.suiteId)!;
    this.endpointWrite ??= createRecordProtection(suite, keys.write);
    const parts: Buffer[] = [];
    let off = 0;
    while (off + HEADER <= d.length) {
      const end = off + HEADER + d.readUInt16BE(off + 11);
      if (end > d.length) break;
      if (d.readUInt16BE(off + 3) !== keys.epoch) {
        parts.push(d.subarray(off, end));
      } else {
        const type = d[off]!;
        const pt = this.endpointWrite.open(type, d.readUInt16BE(off + 1), keys.epoch, d.readUIntBE(off + 5, 6), d.subarray(off + HEADER, end));
        if (pt !== null) {
          const out = Buffer.allocUnsafe(sealer.headroom + pt.length + sealer.tailroom);
          parts.push(out.subarray(0, sealer.sealFrom(out, 0, pt, 0, pt.length, -1, type)));
        }
        // (cannot fail: the endpoint sealed it with these keys; if it did, the record is not sent)
      }
      off = end;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private stop(why: DtlsCloseReason): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.liveness.stop();
    this.opts.onClose(why);
  }

  private process(): void {
    const r = this.res;
    for (const d of r.send) this.sendFromEndpoint(d);
    if (r.drops.length) {
      this.counters.drops += r.drops.length;
      this.counters.lastDrop = r.drops[r.drops.length - 1]!;
    }
    // Once the channel opens data records itself the endpoint never gets any, so it delivers
    // nothing; ignoring its deliveries keeps a record from passing two replay windows.
    if (this.opener === null) for (const p of r.deliver) this.onPayload(p, 0, p.length);
    for (const e of r.events) {
      if (e.type === 'established') {
        this.liveness.start();
        this.startDataPath();
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

  /** One application payload, buf[start, end): type byte ‖ packet or control data (§6.1). */
  private onPayload(buf: Buffer, start: number, end: number): void {
    if (end <= start) return;
    const type = buf[start]!;
    if (type === DATA) {
      this.counters.rxPackets++;
      this.counters.rxBytes += end - start - 1;
      this.opts.onPacket(buf, start + 1, end);
      return;
    }
    // On the client, the gateway's own DPD requests prove only gateway->client works; counting
    // them as liveness would hide a lost client->gateway path for 3-4xDPD (openconnect has the
    // same blind spot). Our DPD's answer, or data, is what proves the path both ways.
    if (type !== DPD_REQ || this.opts.role !== 'client') this.counters.rxControl++;
    switch (type) {
      case DPD_REQ:
        // Same length back: openconnect probes the MTU with DPD sizes (§6.9).
        this.sendControl(DPD_RESP, buf, start + 1, end);
        break;
      case DPD_RESP:
      case KEEPALIVE:
        break;
      case DISCONNECT:
        this.stop({ kind: 'peer-disconnect', reason: end - start > 1 ? buf[start + 1]! : 0 });
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
}
