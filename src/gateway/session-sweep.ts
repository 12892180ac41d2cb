/**
 * The network process's periodic check of its live sessions: the limits each logged in with
 * (session-timeout, the reconnect window: state/session-expiry.ts; idle-timeout) end them.
 * Data packets on either channel count as activity (DTLS carries most of it when up); the
 * channels do not count DPD or keepalives there.
 */
import type { GatewayConfig } from './config.js';
import type { Session, SessionStore } from './sessions.js';
import { sessionExpiry } from './state/session-expiry.js';

export function sweepSessions(sessions: SessionStore, cfg: GatewayConfig, now: number, endSession: (s: Session, why: string) => void): void {
  for (const s of [...sessions.all()]) {
    // Each session keeps the limits it logged in with (a reload applies to new sessions).
    const over = sessionExpiry(s, now, cfg.cookieTimeout);
    if (over) {
      endSession(s, over);
      continue;
    }
    const { idleTimeout } = s.limits;
    const t = s.tunnel;
    if (t) {
      s.sawDataPackets(t.cstp.counters.rxPackets + t.dtlsTotals().rxPackets, now);
      if (idleTimeout !== null && now - s.lastActivity > idleTimeout * 1000) endSession(s, 'idle timeout');
    }
  }
}
