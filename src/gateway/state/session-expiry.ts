/**
 * When a session is over (pure), and how long a shared store keeps its record.
 *
 * sessionExpiry() is THE rule, for a live session (gateway.ts sweep), a stored one whose cookie
 * comes back (gateway.ts restoreSession) and the store's leftovers (stale-sessions.ts):
 *   - past its session timeout (the limit it logged in with), counted from the login;
 *   - its tunnel down for longer than the reconnect window (cookie-timeout).
 * The idle timeout is not here: only the process carrying the tunnel sees traffic.
 *
 * How long a shared store keeps a session record: A record must outlive every moment a
 * client may still come back with its cookie, and no longer:
 *   - tunnel down: until the reconnect window (cookie-timeout) after it went down;
 *   - tunnel up: until the session timeout (+ the window) if there is one, else no expiry — the
 *     holder ends it (logout, idle, admin), and if the holder dies, the other nodes' reaper marks
 *     it disconnected as of then (RedisStore.reap), which starts the window.
 */
import type { SessionRecord } from './types.js';

/** What sessionExpiry reads: a SessionRecord or a live Session both have it. */
export interface ExpiryFacts {
  readonly createdAt: number;
  readonly limits: { readonly sessionTimeout: number | null };
  /** when the tunnel went down (ms); null while one is up */
  readonly disconnectedAt: number | null;
}

export type ExpiryReason = 'session timeout' | 'no tunnel within cookie-timeout';

/**
 * Why the session is over at `now`, or null while it is not. `graceMs` is added to both limits
 * (the privileged process's sweep lets the network processes act first).
 */
export function sessionExpiry(s: ExpiryFacts, now: number, cookieTimeoutSec: number, graceMs = 0): ExpiryReason | null {
  const { sessionTimeout } = s.limits;
  if (sessionTimeout !== null && now - s.createdAt > sessionTimeout * 1000 + graceMs) return 'session timeout';
  if (s.disconnectedAt !== null && now - s.disconnectedAt > cookieTimeoutSec * 1000 + graceMs) return 'no tunnel within cookie-timeout';
  return null;
}

/** ms until the record may go, at least 1000; null: keep it until someone deletes it. */
export function sessionTtlMs(r: SessionRecord, reconnectWindowMs: number, now: number): number | null {
  const floor = (ms: number): number => Math.max(1000, Math.ceil(ms));
  const hardEnd = r.limits.sessionTimeout === null ? null : r.createdAt + r.limits.sessionTimeout * 1000;
  if (r.disconnectedAt !== null) {
    const windowEnd = r.disconnectedAt + reconnectWindowMs;
    return floor((hardEnd === null ? windowEnd : Math.min(windowEnd, hardEnd)) - now);
  }
  return hardEnd === null ? null : floor(hardEnd + reconnectWindowMs - now);
}
