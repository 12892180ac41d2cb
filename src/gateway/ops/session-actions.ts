/**
 * What `ctl` does to sessions, on the sessions this process carries: list them, disconnect
 * (the client may reconnect) or terminate (the client stops). With several workers, worker 0
 * runs these for the admin API and asks the other workers to run them on theirs (ctl-relay,
 * priv/ctl-messages.ts); each worker answers `answerCtlAsk()`.
 */
import type { Logger } from '../../log.js';
import type { Session } from '../sessions.js';
import type { CtlAsk } from '../priv/ctl-messages.js';
import { findSessions, sessionView, type SessionView } from './session-view.js';
import type { OpsTarget } from './target.js';
import { ADMIN_DISCONNECT } from './tunnel-events.js';
import type { OpsStats } from './stats.js';
import { workerMetrics, type WorkerMetrics } from './worker-metrics.js';

export interface DisconnectResult {
  disconnected: number[];
  notConnected: number[];
}

export interface TerminateResult {
  terminated: number[];
}

/** `disconnect`: the TLS connection closes without TERMINATE; openconnect reconnects (§5.4, §8.5). */
export function disconnectSessions(log: Logger, list: Session[]): DisconnectResult {
  const done: number[] = [];
  const skipped: number[] = [];
  for (const s of list) {
    if (!s.channel) {
      skipped.push(s.id);
      continue;
    }
    log.info({ session: s.id, user: s.user }, 'admin: disconnect (the client may reconnect)');
    s.channel.destroy({ kind: 'local', text: ADMIN_DISCONNECT });
    done.push(s.id);
  }
  return { disconnected: done, notConnected: skipped };
}

/** `terminate`: TERMINATE, session and cookie gone (openconnect stops). */
export function terminateSessions(gw: OpsTarget, log: Logger, list: Session[]): TerminateResult {
  for (const s of list) {
    log.info({ session: s.id, user: s.user }, 'admin: terminate');
    gw.endSession(s, 'terminated by admin');
  }
  return { terminated: list.map((s) => s.id) };
}

/** The sessions an ask is about, among this process's. */
export function sessionsOf(gw: OpsTarget, ask: Pick<CtlAsk, 'id' | 'user'>): Session[] {
  if (ask.id === undefined && ask.user === undefined) return [...gw.sessions.all()];
  return findSessions(gw.sessions.all(), { ...(ask.id !== undefined ? { id: ask.id } : {}), ...(ask.user !== undefined ? { user: ask.user } : {}) });
}

/**
 * This worker's answer to another worker's ctl request (relayed by the privileged process).
 * `stats`: this worker's running totals, for `metrics` (worker-metrics.ts).
 */
export function answerCtlAsk(gw: OpsTarget, log: Logger, ask: CtlAsk, stats: OpsStats): SessionView[] | DisconnectResult | TerminateResult | WorkerMetrics {
  if (ask.op === 'metrics') return workerMetrics(gw, stats);
  const list = sessionsOf(gw, ask);
  switch (ask.op) {
    case 'sessions':
      return list.sort((a, b) => a.id - b.id).map((s) => sessionView(s));
    case 'disconnect':
      return disconnectSessions(log, list);
    case 'terminate':
      return terminateSessions(gw, log, list);
  }
}
