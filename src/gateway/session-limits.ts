/**
 * Admission of a new session at login: the gateway-wide `max-clients` and the per-user
 * `max-sessions-per-user` (Cisco's vpn-simultaneous-logins). When a user is at the limit,
 * `session-overflow` decides who loses: `end-oldest` (Cisco: the new login wins, the oldest
 * session is terminated) or `refuse-newest` (ocserv max-same-clients: the new login is refused).
 * Reconnects with a cookie are not logins and never count here.
 */
import type { GatewayConfig, GroupConfig } from './config.js';
import type { Session } from './sessions.js';
import type { SessionAttributes } from './auth/types.js';

export type Admission =
  | { ok: true; evict: Session[] }
  | { ok: false; reason: 'max-clients' | 'max-sessions'; message: string };

export function admitSession(cfg: GatewayConfig, sessions: Iterable<Session>, total: number, user: string): Admission {
  const max = cfg.limits.maxSessionsPerUser;
  let evict: Session[] = [];
  if (max !== null) {
    const mine = [...sessions].filter((s) => s.user === user).sort((a, b) => a.createdAt - b.createdAt || a.id - b.id);
    if (mine.length >= max) {
      if (cfg.limits.sessionOverflow === 'refuse-newest') {
        return { ok: false, reason: 'max-sessions', message: `You already have ${mine.length} session${mine.length === 1 ? '' : 's'} (at most ${max}); disconnect one first.` };
      }
      evict = mine.slice(0, mine.length - max + 1);
    }
  }
  if (total - evict.length >= cfg.limits.maxClients) {
    return { ok: false, reason: 'max-clients', message: 'The gateway has reached its maximum number of clients; try again later.' };
  }
  return { ok: true, evict };
}

/** The timeouts a new session keeps for its life: the group's, else the gateway's. */
export function sessionTimeouts(cfg: GatewayConfig, group: GroupConfig, attrs: SessionAttributes = {}): { idleTimeout: number | null; sessionTimeout: number | null } {
  // A backend's value (RADIUS Session-Timeout / Idle-Timeout) wins over the configuration.
  return {
    idleTimeout: attrs.idleTimeout !== undefined ? attrs.idleTimeout : group.idleTimeout !== undefined ? group.idleTimeout : cfg.idleTimeout,
    sessionTimeout: attrs.sessionTimeout !== undefined ? attrs.sessionTimeout : group.sessionTimeout !== undefined ? group.sessionTimeout : cfg.sessionTimeout,
  };
}
