/**
 * DTLS session-id replay: ClientHellos that name the legitimate user's live DTLS session (its
 * App-ID / session id, which travels in clear in every ClientHello), each from a new source port
 * of the attacker's address. Built by our own DTLS client (src/dtls) in PSK mode with a random
 * key: the handshake can never complete, so the attack is on the live association, which a
 * gateway must not tear down for a ClientHello alone.
 *
 * Outcome per hello, from this side: what came back (nothing, a HelloVerifyRequest, a
 * ServerHello, an alert) and whether a handshake completed (never, without the key). Whether the
 * live association survived is measured on the legitimate user's side by the drill.
 */
import { createSocket } from 'node:dgram';
import { DtlsClient } from '../../../src/dtls/index.js';
import { randomBytes } from 'node:crypto';
import { msLeft, type Target } from './net.js';

export interface DtlsReplayOptions extends Target {
  /** the live session's DTLS id (App-ID / session id), hex */
  idHex: string;
  endAt: number;
  /** one new ClientHello every this many ms */
  everyMs: number;
  /** how long each hello's socket waits for answers and drives the handshake */
  listenMs: number;
}

export interface DtlsReplayReport {
  hellos: number;
  /** hellos that got any answer */
  answered: number;
  answers: Record<'hello-verify' | 'server-hello' | 'alert' | 'other', number>;
  /** handshakes that completed (needs the key: must stay 0) */
  established: number;
  failures: Record<string, number>;
  sourcePorts: number;
}

/** DTLS record content type and, for handshake records, the first message's type. */
function classify(d: Buffer): 'hello-verify' | 'server-hello' | 'alert' | 'other' {
  if (d.length >= 14 && d[0] === 22) return d[13] === 3 ? 'hello-verify' : d[13] === 2 ? 'server-hello' : 'other';
  if (d.length >= 1 && d[0] === 21) return 'alert';
  return 'other';
}

export async function dtlsReplay(o: DtlsReplayOptions, progress: (msg: string) => void): Promise<DtlsReplayReport> {
  const rep: DtlsReplayReport = { hellos: 0, answered: 0, answers: { 'hello-verify': 0, 'server-hello': 0, alert: 0, other: 0 }, established: 0, failures: {}, sourcePorts: 0 };
  const appId = Buffer.from(o.idHex, 'hex');
  const ports = new Set<number>();
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const sock = createSocket('udp4');
      const client = new DtlsClient({ role: 'client', mode: 'psk', psk: randomBytes(32), appId, handshakeTimeoutMs: o.listenMs });
      let answered = false;
      let timer: NodeJS.Timeout | null = null;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        clearTimeout(stop);
        sock.close();
        resolve();
      };
      const stop = setTimeout(done, o.listenMs);
      const drive = (r: ReturnType<DtlsClient['start']>): void => {
        for (const d of r.send) sock.send(d, o.port, o.host);
        for (const e of r.events) {
          if (e.type === 'established') rep.established++;
          if (e.type === 'failed') rep.failures[e.reason] = (rep.failures[e.reason] ?? 0) + 1;
        }
        if (timer) clearTimeout(timer);
        timer = r.timerAt === null ? null : setTimeout(() => drive(client.onTimer(Date.now())), Math.max(0, r.timerAt - Date.now()));
      };
      sock.on('error', () => done());
      sock.on('message', (msg: Buffer) => {
        if (!answered) {
          answered = true;
          rep.answered++;
        }
        rep.answers[classify(msg)]++;
        drive(client.handleDatagram(msg, Date.now()));
      });
      sock.bind(0, o.localAddress, () => {
        ports.add(sock.address().port);
        rep.hellos++;
        drive(client.start(Date.now()));
      });
    });
  const inFlight = new Set<Promise<void>>();
  const tick = setInterval(() => progress(`${rep.hellos} hellos, ${rep.answered} answered, ${JSON.stringify(rep.answers)}`), 5000);
  try {
    while (msLeft() > o.listenMs) {
      const p = one();
      inFlight.add(p);
      void p.then(() => inFlight.delete(p));
      await new Promise((r) => setTimeout(r, o.everyMs));
    }
    await Promise.all(inFlight);
  } finally {
    clearInterval(tick);
  }
  rep.sourcePorts = ports.size;
  return rep;
}
