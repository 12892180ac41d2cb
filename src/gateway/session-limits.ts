/**
 * Admission of a new session at login: the gateway-wide `max-clients` and the per-user
 * `max-sessions-per-user` (Cisco's vpn-simultaneous-logins). When a user is at the limit,
 * `session-overflow` decides who loses: `end-oldest` (Cisco: the new login wins, the oldest
 * session is terminated) or `refuse-newest` (ocserv max-same-clients: the new login is refused).
 * Reconnects with a cookie are not logins and never count here.
 *
 * With several workers (workers > 1) a user's sessions may live on any of them: `elsewhere` are
 * the user's sessions the other workers carry (asked through the ctl relay), counted with this
 * worker's so the limit holds for the whole gateway; the ones to end there come back as
 * `evictElsewhere` (ids: the caller asks their worker to terminate them).
 */
import type { GatewayConfig, GroupConfig } from './config.js';
import type { Session } from './sessions.js';
import type { SessionAttributes } from './auth/types.js';

/** A session of the user on another worker: its id and login time. */
export interface OtherSession {
  id: number;
  createdAt: number;
}

export type Admission =
  | { ok: true; evict: Session[]; evictElsewhere?: number[] }
  | { ok: false; reason: 'max-clients' | 'max-sessions'; message: string };

export function admitSession(cfg: GatewayConfig, sessions: Iterable<Session>, total: number, user: string, elsewhere: readonly OtherSession[] = []): Admission {
  const max = cfg.limits.maxSessionsPerUser;
  let evict: Session[] = [];
  const evictElsewhere: number[] = [];
  if (max !== null) {
    const local = new Set<number>();
    const mine: Array<{ id: number; createdAt: number; s?: Session }> = [];
    for (const s of sessions) {
      if (s.user !== user) continue;
      mine.push({ id: s.id, createdAt: s.createdAt, s });
      local.add(s.id);
    }
    // An id is unique in the store: one seen here and elsewhere (moving just now) counts once.
    for (const o of elsewhere) if (!local.has(o.id)) mine.push({ id: o.id, createdAt: o.createdAt });
    mine.sort((a, b) => a.createdAt - b.createdAt || a.id - b.id);
    if (mine.length >= max) {
      if (cfg.limits.sessionOverflow === 'refuse-newest') {
        return { ok: false, reason: 'max-sessions', message: `You already have ${mine.length} session${mine.length === 1 ? '' : 's'} (at most ${max}); disconnect one first.` };
      }
      for (const x of mine.slice(0, mine.length - max + 1)) {
        if (x.s) evict.push(x.s);
        else evictElsewhere.push(x.id);
      }
    }
  }
  if (total - evict.length >= cfg.limits.maxClients) {
    return { ok: false, reason: 'max-clients', message: 'The gateway has reached its maximum number of clients; try again later.' };
  }
  return evictElsewhere.length ? { ok: true, evict, evictElsewhere } : { ok: true, evict };
}

/** The timeouts a new session keeps for its life: the group's, else the gateway's. */
export function sessionTimeouts(cfg: GatewayConfig, group: GroupConfig, attrs: SessionAttributes = {}): { idleTimeout: number | null; sessionTimeout: number | null } {
  // A backend's value (RADIUS Session-Timeout / Idle-Timeout) wins over the configuration; 0
  // from a backend means no limit (as a RADIUS server writes "none").
  const fromBackend = (v: number): number | null => (v > 0 ? v : null);
  return {
    idleTimeout: attrs.idleTimeout !== undefined ? fromBackend(attrs.idleTimeout) : group.idleTimeout !== undefined ? group.idleTimeout : cfg.idleTimeout,
    sessionTimeout: attrs.sessionTimeout !== undefined ? fromBackend(attrs.sessionTimeout) : group.sessionTimeout !== undefined ? group.sessionTimeout : cfg.sessionTimeout,
  };
}
