/**
 * The sessions' part of a network process's shutdown (gateway.ts stop and handover): how the
 * sessions end, or are written for the next process, with a bound on how long the store may
 * take, and the moment goodbye frames get before the sockets are destroyed.
 */
import type { TLSSocket } from 'node:tls';
import type { Session, SessionStore } from './sessions.js';
import type { SessionRecord } from './state/types.js';
import { terminateTunnel } from './tunnel-setup.js';

/** How long a stopping gateway waits for the store to record the sessions' end (or handover). */
const STORE_FLUSH_MS = 5_000;

/** SIGTERM: every client gets a TERMINATE and its session ends, in the store too. */
export function endEverySession(sessions: SessionStore): Promise<void> {
  const ended: Array<Promise<void>> = [];
  for (const s of [...sessions.all()]) {
    terminateTunnel(s, 'gateway shutting down');
    ended.push(sessions.remove(s));
  }
  return withDeadline(Promise.all(ended), STORE_FLUSH_MS);
}

/** Handover: every session written to the store as it is, disconnected now (the client comes back). */
export function recordEverySession(sessions: SessionStore, recordOf: (s: Session) => SessionRecord): Promise<void> {
  const now = Date.now();
  const writes: Array<Promise<void>> = [];
  for (const s of [...sessions.all()]) {
    const r = recordOf(s);
    writes.push(sessions.persist({ ...r, disconnectedAt: r.disconnectedAt ?? now }));
  }
  return withDeadline(Promise.all(writes), STORE_FLUSH_MS);
}

/** Gives the goodbye frames a moment (1 s at most) to reach the clients: waits for the sockets to close. */
export async function waitForGoodbyes(sockets: ReadonlySet<TLSSocket>): Promise<void> {
  const deadline = Date.now() + 1000;
  while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Waits for `p`, at most `ms`: a store that hangs must not hold a shutdown forever. */
function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    void p.then(
      () => {
        clearTimeout(t);
        resolve();
      },
      () => {
        clearTimeout(t);
        resolve();
      },
    );
  });
}
