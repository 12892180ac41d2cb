/**
 * One accounting report about a session, as the network process (which has the counters) hands
 * it to the privileged process (which has the RADIUS secret). RFC 2866 names in comments.
 */

export const ACCT_EVENTS = ['start', 'interim', 'stop'] as const;
export type AcctEvent = (typeof ACCT_EVENTS)[number];

/** Acct-Terminate-Cause (RFC 2866 §5.10) of a stop. */
export const ACCT_CAUSES = ['user-request', 'lost-carrier', 'idle-timeout', 'session-timeout', 'admin-reset', 'nas-request', 'nas-reboot', 'port-error'] as const;
export type AcctCause = (typeof ACCT_CAUSES)[number];

export interface AcctRecord {
  /** Acct-Session-Id: unique per session */
  sessionId: string;
  user: string;
  group: string;
  /** Calling-Station-Id */
  remote: string;
  /** Framed-IP-Address, once the tunnel has one */
  framedIp?: string;
  /** Class values from the Access-Accept, base64 (RFC 2865 §5.25: echoed unchanged) */
  radiusClass?: string[];
  /** Acct-Session-Time, seconds */
  sessionTime: number;
  /** from the client (Acct-Input-Octets / -Gigawords), to the client (Acct-Output-*) */
  inOctets: number;
  outOctets: number;
  inPackets: number;
  outPackets: number;
  /** seconds until the next interim the server asked for (informational) */
  interim?: number;
}

/** Why a session ended (the gateway's words) -> Acct-Terminate-Cause. */
/**
 * Acct-Session-Id of a session: its id and creation time, so it stays the same across restarts
 * and workers (the store keeps both) and differs between gateways that reuse an id.
 */
export function acctSessionId(id: number, createdAt: number): string {
  return `${id.toString(16).padStart(8, '0')}-${createdAt.toString(16)}`;
}

export function terminateCause(why: string): AcctCause {
  const w = why.toLowerCase();
  if (w.includes('logout') || w.includes('disconnect request') || w.includes('client disconnect') || w.includes('replaced by a newer login')) return 'user-request';
  if (w.includes('idle')) return 'idle-timeout';
  if (w.includes('session timeout') || w.includes('session-timeout')) return 'session-timeout';
  if (w.includes('admin') || w.includes('ctl')) return 'admin-reset';
  if (w.includes('shutdown') || w.includes('shutting down') || w.includes('stopping') || w.includes('restart')) return 'nas-reboot';
  if (w.includes('reconnect window') || w.includes('cookie') || w.includes('dead peer') || w.includes('lost')) return 'lost-carrier';
  return 'nas-request';
}
