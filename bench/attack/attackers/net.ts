/**
 * What every attacker needs: a TLS connection from its own source address, told apart by how it
 * ended (refused before TLS, closed, timed out), and the aggregate-auth login of a client
 * (src/protocol/auth-xml-client.ts) over bench/loadgen's HttpLink.
 */
import { connect as netConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { buildAuthReply, buildInit, parseGatewayAuth, replyParts, type ClientIdentity } from '../../../src/protocol/auth-xml-client.js';
import { HttpLink } from '../../loadgen/http-link.js';

export interface Target {
  host: string;
  port: number;
  /** this attacker's source address */
  localAddress: string;
}

export const IDENTITY: ClientIdentity = { version: 'v9.01', deviceId: 'linux-64' };
export const USER_AGENT = 'Open AnyConnect VPN Agent v9.01';

/** A TLS client socket from the attacker's source address (no certificate checks). */
export function openTls(t: Target): TLSSocket {
  const raw = netConnect({ host: t.host, port: t.port, localAddress: t.localAddress });
  const tls = connect({ socket: raw, rejectUnauthorized: false });
  raw.on('error', (e) => tls.destroy(e));
  raw.on('close', () => tls.destroy());
  return tls;
}

/** Why a TLS connection did not come up. */
export class ConnectFailure extends Error {
  constructor(readonly kind: 'refused' | 'timeout' | 'error', message: string) {
    super(message);
    this.name = 'ConnectFailure';
  }
}

/**
 * TLS to the gateway. 'refused': the TCP connection was refused, reset or closed before the TLS
 * handshake finished (the gateway closes banned and over-rate addresses right after accept).
 */
export function tlsConnect(t: Target, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = openTls(t);
    const fail = (kind: ConnectFailure['kind'], msg: string): void => {
      clearTimeout(timer);
      sock.destroy();
      reject(new ConnectFailure(kind, msg));
    };
    const timer = setTimeout(() => fail('timeout', 'TLS connect timeout'), timeoutMs);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('close');
      sock.setNoDelay(true);
      resolve(sock);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      fail(code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || /socket disconnected|socket hang up/i.test(e.message) ? 'refused' : 'error', `${code} ${e.message}`.trim());
    });
    sock.once('close', () => fail('refused', 'closed before the TLS handshake finished'));
  });
}

export function requestHead(t: Target, method: string, path: string, headers: Array<[string, string]>, body?: string): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${t.host}`, `User-Agent: ${USER_AGENT}`];
  for (const [k, v] of headers) lines.push(`${k}: ${v}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return lines.join('\r\n') + '\r\n\r\n' + (body ?? '');
}

export const XML_HEADERS: Array<[string, string]> = [
  ['Accept', '*/*'],
  ['X-Transcend-Version', '1'],
  ['X-Aggregate-Auth', '1'],
  ['Content-Type', 'application/xml; charset=utf-8'],
];

/** The first request of a login: `<config-auth type="init">`. */
export function initRequest(t: Target): string {
  return requestHead(t, 'POST', '/', XML_HEADERS, buildInit({ identity: IDENTITY, groupAccess: `https://${t.host}` }));
}

export type LoginOutcome =
  | { kind: 'success'; cookie: string; link: HttpLink }
  | { kind: 'login-failed'; message: string; status: number }
  | { kind: 'refused'; message: string }
  | { kind: 'timeout'; message: string }
  | { kind: 'error'; message: string };

/**
 * One login as a client does it (init, then the form filled in). On success the connection is
 * kept open for the CONNECT; otherwise it is closed.
 */
export async function login(t: Target, user: string, password: string, timeoutMs: number): Promise<LoginOutcome> {
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  let sock: TLSSocket;
  try {
    sock = await tlsConnect(t, left());
  } catch (e) {
    const f = e as ConnectFailure;
    return { kind: f.kind === 'refused' ? 'refused' : f.kind === 'timeout' ? 'timeout' : 'error', message: f.message };
  }
  sock.on('error', () => undefined);
  const link = new HttpLink(sock);
  let keep = false;
  try {
    let res = await link.request(initRequest(t), { timeoutMs: left() });
    if (res.status !== 200) return { kind: 'login-failed', message: `init: HTTP ${res.status}`, status: res.status };
    let doc = parseGatewayAuth(res.body.toString('utf8'));
    for (let round = 0; round < 4; round++) {
      if (doc.success) {
        const cookie = /webvpn=([^;]+)/.exec(res.headers.getAll('set-cookie').join('\n'))?.[1] ?? doc.sessionToken;
        if (!cookie) return { kind: 'error', message: 'success without a cookie' };
        keep = true;
        return { kind: 'success', cookie, link };
      }
      if (!doc.form) return { kind: 'login-failed', message: doc.error ?? 'neither a form nor success', status: res.status };
      if (doc.error && round > 0) return { kind: 'login-failed', message: doc.error, status: res.status };
      const values = new Map([
        ['username', user],
        ['password', password],
      ]);
      const body = buildAuthReply({ identity: IDENTITY, parts: replyParts(doc.form, values), ...(doc.opaque ? { opaque: doc.opaque } : {}) });
      res = await link.request(requestHead(t, 'POST', doc.form.action ?? '/', XML_HEADERS, body), { timeoutMs: left() });
      if (res.status !== 200) return { kind: 'login-failed', message: `HTTP ${res.status}`, status: res.status };
      doc = parseGatewayAuth(res.body.toString('utf8'));
    }
    return { kind: 'error', message: 'too many form rounds' };
  } catch (e) {
    const msg = (e as Error).message;
    return { kind: /timeout/i.test(msg) ? 'timeout' : 'error', message: msg };
  } finally {
    // Only a success hands the connection on.
    if (!keep) sock.destroy();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The attack window, shared by everything in an attacker process: it ends at `endAt`, or earlier
 * when the drill says so (SIGTERM: the gateway's memory reached the drill's safety cap), so an
 * attacker stopped early still reports what it saw.
 */
export const attackWindow = { endAt: Infinity, stoppedEarly: false };
const windowWaiters = new Set<() => void>();

export function windowOpen(): boolean {
  return Date.now() < attackWindow.endAt;
}

export function msLeft(): number {
  return Math.max(0, Math.min(attackWindow.endAt - Date.now(), 2_147_000_000));
}

/** Calls `fn` once when the window ends; returns a function that cancels that. */
export function onWindowEnd(fn: () => void): () => void {
  let fired = false;
  const run = (): void => {
    if (fired) return;
    fired = true;
    cancel();
    fn();
  };
  const timer = setTimeout(run, msLeft());
  windowWaiters.add(run);
  const cancel = (): void => {
    clearTimeout(timer);
    windowWaiters.delete(run);
  };
  return cancel;
}

export function endWindowNow(): void {
  attackWindow.stoppedEarly = true;
  attackWindow.endAt = Date.now();
  for (const w of [...windowWaiters]) w();
}

/**
 * After the attack window, on a connection the gateway did not close: read what waited for us
 * for up to 2 s, to see whether the gateway had sent its FIN. Returns that and the bytes read.
 */
export async function drainForFin(sock: TLSSocket): Promise<{ finSeen: boolean; unread: number }> {
  let unread = 0;
  let finSeen = false;
  sock.on('data', (d: Buffer) => (unread += d.length));
  sock.resume();
  await new Promise<void>((r) => {
    const t = setTimeout(r, 2000);
    sock.once('end', () => {
      clearTimeout(t);
      finSeen = true;
      r();
    });
    sock.once('close', () => {
      clearTimeout(t);
      r();
    });
  });
  return { finSeen, unread };
}
