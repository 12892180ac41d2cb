/**
 * How long a shared store keeps a session record (pure). A record must outlive every moment a
 * client may still come back with its cookie, and no longer:
 *   - tunnel down: until the reconnect window (cookie-timeout) after it went down;
 *   - tunnel up: until the session timeout (+ the window) if there is one, else no expiry — the
 *     holder ends it (logout, idle, admin), and if the holder dies, the other nodes' reaper marks
 *     it disconnected as of then (RedisStore.reap), which starts the window.
 */
import type { SessionRecord } from './types.js';

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
