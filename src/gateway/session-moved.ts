/**
 * Another worker (workers > 1: `to` absent) or another node of the cluster (`to`: its client
 * reconnected there, e.g. after a VIP moved or a drain) carries a session's tunnel now. This
 * process lets go of it without touching the store: no goodbye (the client is gone), no release
 * in the store (the lease goes on there), no accounting Stop (it goes on there). Out of the
 * cache first: the closing tunnel must not write its record back over the new holder's.
 */
import type { Logger } from '../log.js';
import type { AccountingReporter } from './accounting-reporter.js';
import type { DtlsListener } from './dtls-listener.js';
import { MOVED, REPLACED } from './ops/tunnel-events.js';
import type { SessionStore } from './sessions.js';

export interface MovedDeps {
  sessions: SessionStore;
  accounting: AccountingReporter;
  dtls: DtlsListener | null;
  log: Logger;
}

export function letMovedSessionGo(d: MovedDeps, cookieHash: string, to?: string): void {
  const s = d.sessions.cached(cookieHash);
  if (!s) return;
  d.accounting.paused(s);
  d.sessions.drop(s);
  s.pool.release(cookieHash);
  const t = s.tunnel;
  if (t) {
    d.dtls?.forget(t);
    t.cstp.destroy({ kind: 'local', text: to === undefined ? REPLACED : MOVED });
  }
  if (to === undefined) d.log.info({ session: s.id, user: s.user, hadTunnel: t !== null }, 'session moved to another worker');
  else d.log.info({ session: s.id, user: s.user, node: to }, 'session moved to another node; its tunnel here closes');
}
