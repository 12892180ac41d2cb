/**
 * A Session (sessions.ts) as the store keeps it (types.ts SessionRecord), and back. The traffic
 * in a record is the session's total so far (ended tunnels + the live one at this checkpoint):
 * read back after a restart it becomes the ended tunnels' total, so RADIUS accounting goes on
 * counting from there.
 */
import { sessionView } from '../ops/session-view.js';
import type { GroupConfig } from '../config.js';
import type { IpPool } from '../ip-pool.js';
import { Session } from '../sessions.js';
import type { SessionRecord } from './types.js';

export function sessionRecordOf(s: Session, node: string, now = Date.now()): SessionRecord {
  const v = sessionView(s, now);
  return {
    cookieHash: s.cookieHash,
    id: s.id,
    user: s.user,
    group: s.group.name,
    remote: s.remoteAddr,
    userAgent: s.userAgent,
    createdAt: s.createdAt,
    limits: { ...s.limits },
    attrs: s.attrs,
    methods: s.methods,
    loginMessages: s.loginMessages,
    address: s.address,
    node,
    disconnectedAt: s.tunnel ? null : (s.disconnectedAt ?? now),
    lastActivity: s.lastActivity,
    rxBytes: v.bytesIn,
    txBytes: v.bytesOut,
    rxPackets: v.packetsIn + s.closedRxPackets,
    txPackets: v.packetsOut + s.closedTxPackets,
  };
}

/** The running group and pool a record's session belongs to; undefined when the config no longer has them. */
export function recordHome(r: SessionRecord, groups: readonly GroupConfig[], pools: ReadonlyMap<string, IpPool>): { group: GroupConfig; pool: IpPool } | undefined {
  const group = groups.find((g) => g.name === r.group);
  const pool = pools.get(r.group);
  return group && pool ? { group, pool } : undefined;
}

/**
 * The Session of a stored record, for the cookie `token` that hashed to its key; undefined when
 * its group is gone from the configuration (the login was for a profile that no longer exists).
 */
export function sessionFromRecord(token: string, r: SessionRecord, groups: readonly GroupConfig[], pools: ReadonlyMap<string, IpPool>, now = Date.now()): Session | undefined {
  const home = recordHome(r, groups, pools);
  if (!home) return undefined;
  const { group, pool } = home;
  const s = new Session(r.id, token, r.user, group, pool, r.remote, r.userAgent, { ...r.limits }, r.createdAt);
  s.restoreFrom(r, now);
  if (r.address !== null && pool.contains(r.address)) pool.note(s.cookieHash, r.address);
  return s;
}
