/**
 * Which stored sessions are over (pure): the privileged process's sweep of the store, for the
 * sessions no network process carries — their tunnel was up when the gateway was killed, and the
 * client never came back. Network processes end the sessions they cache themselves (gateway.ts
 * sweep); `graceMs` lets them act first, so the two never race over a session one still holds.
 */
import type { SessionRecord } from './types.js';
import { sessionExpiry, type ExpiryReason } from './session-expiry.js';

export interface StaleSession {
  record: SessionRecord;
  why: ExpiryReason;
}

export function staleSessions(records: Iterable<SessionRecord>, now: number, cookieTimeoutSec: number, graceMs: number): StaleSession[] {
  const out: StaleSession[] = [];
  for (const r of records) {
    const why = sessionExpiry(r, now, cookieTimeoutSec, graceMs);
    if (why) out.push({ record: r, why });
  }
  return out;
}

/**
 * At start on one machine no tunnel can be up yet: a record that says "tunnel up" was cut by a
 * crash or a restart, and its reconnect window starts now. Returns the records to rewrite.
 */
export function cutByRestart(records: Iterable<SessionRecord>, node: string, now: number): SessionRecord[] {
  const out: SessionRecord[] = [];
  for (const r of records) if (r.node === node && r.disconnectedAt === null) out.push({ ...r, disconnectedAt: now });
  return out;
}
