/**
 * One load-generator session, no TUN: what a client does up to a live tunnel, then just enough
 * to keep it alive and prove it passes packets.
 *
 *   1. TLS connect                       http-link.ts
 *   2. POST init (group-select)          auth-xml-client.ts buildInit
 *   3. answer each form (username, password, group) until success; ocserv asks in two rounds,
 *      sslgate in one; cookies set on the way (webvpncontext) are sent back
 *   4. the `webvpn` cookie from Set-Cookie, else <session-token>
 *   5. CONNECT /CSCOSSLC/tunnel (new TLS connection if the gateway closed the auth one)
 *   6. CSTP: answer DPD-REQ, send keepalive/DPD when due (tick), ICMP echo through a DATA frame
 *
 * Every CSTP frame is written alone and the next only after it completed: ocserv and openconnect
 * require one frame per TLS record, and Node merges queued writes into one record.
 */
import type { TLSSocket } from 'node:tls';
import { buildAuthReply, buildInit, parseGatewayAuth, replyParts, type ClientIdentity } from '../../src/protocol/auth-xml-client.js';
import { formatConnectRequest, parseConnectResponse } from '../../src/protocol/connect-headers.js';
import {
  CSTP_DPD_REQ,
  CSTP_DPD_RESP,
  CSTP_KEEPALIVE,
  CstpDecoder,
  CstpType,
  DisconnectReason,
  encodeCstp,
  encodeDisconnect,
} from '../../src/protocol/cstp.js';
import type { HttpResponse } from '../../src/protocol/http.js';
import { formatIpv4, parseIpv4 } from '../../src/protocol/ipv4.js';
import { connectTls, HttpLink } from './http-link.js';
import { echoRequest, parseEchoReply } from './icmp.js';

export interface Target {
  host: string;
  port: number;
  user: string;
  password: string;
  group: string;
  userAgent: string;
  /** the gateway's own tunnel address: the echo target */
  echoTo: number;
}

const IDENTITY: ClientIdentity = { version: 'v9.01', deviceId: 'linux-64' };
const MAX_ROUNDS = 8;
/** Small: 10,000 decoders each keep a buffer of this size for a frame split across reads. */
const MAX_PAYLOAD = 4096;

function requestHead(method: string, path: string, t: Target, headers: Array<[string, string]>, body?: string): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${t.host}${t.port === 443 ? '' : `:${t.port}`}`, `User-Agent: ${t.userAgent}`];
  for (const [k, v] of headers) lines.push(`${k}: ${v}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return lines.join('\r\n') + '\r\n\r\n' + (body ?? '');
}

class Cookies {
  private readonly jar = new Map<string, string>();
  take(res: HttpResponse): void {
    for (const h of res.headers.getAll('set-cookie')) {
      const first = h.split(';', 1)[0] ?? '';
      const eq = first.indexOf('=');
      if (eq <= 0) continue;
      const name = first.slice(0, eq).trim();
      const value = first.slice(eq + 1).trim();
      if (value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }
  get(name: string): string | undefined {
    return this.jar.get(name);
  }
  header(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export class LoadSession {
  /** assigned tunnel address (u32), once CONNECT succeeded */
  address = 0;
  dpd = 0;
  keepalive = 0;
  lastRx = 0;
  lastTx = 0;
  closed = false;
  private sock: TLSSocket | null = null;
  private readonly queue: Buffer[] = [];
  private writing = false;
  private seq = 0;
  private pending: { seq: number; t0: number; resolve: (rttMs: number) => void } | null = null;

  constructor(readonly index: number, private readonly t: Target) {}

  /** Steps 1-5. Rejects with the reason when any step fails. */
  async establish(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const left = (): number => Math.max(1, deadline - Date.now());
    const t = this.t;
    let link = new HttpLink(await connectTls(t.host, t.port, left()));
    const cookies = new Cookies();
    const xmlHeaders = (): Array<[string, string]> => {
      const h: Array<[string, string]> = [];
      const c = cookies.header();
      if (c) h.push(['Cookie', c]);
      h.push(['Accept', '*/*'], ['X-Transcend-Version', '1'], ['X-Aggregate-Auth', '1'], ['Content-Type', 'application/xml; charset=utf-8']);
      return h;
    };
    try {
      let body = buildInit({ identity: IDENTITY, groupAccess: `https://${t.host}`, groupSelect: t.group });
      let path = '/';
      let cookie: string | undefined;
      for (let round = 0; round < MAX_ROUNDS && cookie === undefined; round++) {
        if (!link.open) link = new HttpLink(await connectTls(t.host, t.port, left()));
        const res = await link.request(requestHead('POST', path, t, xmlHeaders(), body), { timeoutMs: left() });
        cookies.take(res);
        if (res.status !== 200) throw new Error(`auth: HTTP ${res.status}`);
        const doc = parseGatewayAuth(res.body.toString('utf8'));
        if (doc.success) {
          cookie = cookies.get('webvpn') ?? doc.sessionToken;
          if (!cookie) throw new Error('auth: success without a webvpn cookie');
          break;
        }
        if (!doc.form) throw new Error(`auth: neither a form nor success${doc.error ? `: ${doc.error}` : ''}`);
        if (doc.error && round > 0) throw new Error(`auth: ${doc.error}`);
        const values = new Map([
          ['username', t.user],
          ['password', t.password],
          ['group_list', t.group],
        ]);
        body = buildAuthReply({ identity: IDENTITY, parts: replyParts(doc.form, values), ...(doc.opaque ? { opaque: doc.opaque } : {}) });
        path = doc.form.action ?? path;
      }
      if (cookie === undefined) throw new Error('auth: too many rounds');
      if (!link.open) link = new HttpLink(await connectTls(t.host, t.port, left()));
      const head = formatConnectRequest({
        host: t.host,
        userAgent: t.userAgent,
        cookie,
        hostname: `loadgen-${this.index}`,
        baseMtu: 1500,
        mtu: 1406,
      });
      const res = await link.request(head, { connect: true, timeoutMs: left() });
      if (res.status !== 200) throw new Error(`CONNECT: HTTP ${res.status} ${res.reason}`);
      const params = parseConnectResponse(res.headers);
      const addr = parseIpv4(params.address);
      if (addr === null) throw new Error(`CONNECT: no IPv4 address (${params.address})`);
      this.address = addr;
      this.dpd = params.dpd;
      this.keepalive = params.keepalive;
      this.startCstp(link.sock, link.detach());
    } catch (e) {
      link.sock.destroy();
      throw e;
    }
  }

  private startCstp(sock: TLSSocket, first: Buffer): void {
    this.sock = sock;
    this.lastRx = this.lastTx = Date.now();
    const decoder = new CstpDecoder((type, buf, start, end) => this.onFrame(type, buf, start, end), MAX_PAYLOAD);
    const onData = (chunk: Buffer): void => {
      this.lastRx = Date.now();
      if (decoder.push(chunk)) sock.destroy();
    };
    sock.on('data', onData);
    sock.on('close', () => {
      this.closed = true;
      this.pending = null;
    });
    if (first.length > 0) onData(first);
  }

  private onFrame(type: number, buf: Buffer, start: number, end: number): void {
    switch (type) {
      case CstpType.DpdReq:
        this.send(CSTP_DPD_RESP);
        break;
      case CstpType.Data: {
        const r = this.pending ? parseEchoReply(buf, start, end) : null;
        if (r && this.pending && r.id === (this.index & 0xffff) && r.seq === this.pending.seq && r.dst === this.address) {
          const p = this.pending;
          this.pending = null;
          p.resolve(performance.now() - p.t0);
        }
        break;
      }
      case CstpType.Terminate:
      case CstpType.Disconnect:
        this.sock?.destroy();
        break;
      default:
        break; // DPD-RESP, keepalive: lastRx already moved
    }
  }

  private send(frame: Buffer): void {
    const sock = this.sock;
    if (!sock || sock.destroyed) return;
    this.lastTx = Date.now();
    if (this.writing) {
      this.queue.push(frame);
      return;
    }
    this.writing = true;
    const next = (): void => {
      const f = this.queue.shift();
      if (!f || sock.destroyed) {
        this.writing = false;
        return;
      }
      sock.write(f, next);
    };
    sock.write(frame, next);
  }

  /** Keepalive when nothing was sent for `keepalive` s; DPD when nothing came for `dpd` s (as openconnect). */
  tick(now: number): void {
    if (this.closed || !this.sock) return;
    if (this.keepalive > 0 && now - this.lastTx >= this.keepalive * 1000) this.send(CSTP_KEEPALIVE);
    if (this.dpd > 0 && now - this.lastRx >= this.dpd * 1000) this.send(CSTP_DPD_REQ);
  }

  /** One ICMP echo to the gateway's tunnel address; resolves with the RTT in ms, or null on timeout. */
  ping(timeoutMs: number): Promise<number | null> {
    if (this.closed || !this.sock) return Promise.resolve(null);
    const seq = (this.seq = (this.seq + 1) & 0xffff);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending?.seq === seq) this.pending = null;
        resolve(null);
      }, timeoutMs);
      this.pending = {
        seq,
        t0: performance.now(),
        resolve: (rtt) => {
          clearTimeout(timer);
          resolve(rtt);
        },
      };
      this.send(encodeCstp(CstpType.Data, echoRequest(this.address, this.t.echoTo, this.index & 0xffff, seq)));
    });
  }

  /** DISCONNECT (user, 0xb0: the gateway ends the session) and close. */
  disconnect(): void {
    const sock = this.sock;
    if (!sock || sock.destroyed) return;
    this.send(encodeDisconnect(DisconnectReason.User, 'loadgen done'));
    // Let the frame go out, then close; destroy in any case shortly after.
    setTimeout(() => sock.end(), 10).unref();
    setTimeout(() => sock.destroy(), 2000).unref();
  }

  describe(): string {
    return `session ${this.index} ${formatIpv4(this.address)}`;
  }
}
