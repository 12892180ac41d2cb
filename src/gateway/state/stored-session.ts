/**
 * Ending a session the store holds but no network process carries (the privileged process's
 * sweep of expired records, and SIGTERM for the records of clients that had not come back).
 */
import { formatCidr, formatIpv4 } from '../../protocol/ipv4.js';
import { acctSessionId, type AcctRecord } from '../auth/accounting-record.js';
import type { GatewayConfig } from '../config.js';
import type { SessionRecord, StateStore } from './types.js';

/**
 * Deletes the record (unless a cluster claim already did: `deleted`) and frees its lease in the
 * pool of its group.
 */
export async function endStoredSession(store: StateStore, cfg: GatewayConfig, r: SessionRecord, o: { deleted?: boolean } = {}): Promise<void> {
  if (!o.deleted) await store.deleteSession(r.cookieHash);
  const pool = cfg.groups.find((g) => g.name === r.group)?.network.address;
  if (pool) await store.release({ name: r.group, cidr: formatCidr(pool) }, r.cookieHash);
}

/** The accounting record of a stored session: what accounting-reporter.ts would send for it. */
export function storedAcctRecord(r: SessionRecord, now = Date.now()): AcctRecord {
  const rec: AcctRecord = {
    sessionId: acctSessionId(r.id, r.createdAt),
    user: r.user,
    group: r.group,
    remote: r.remote,
    sessionTime: Math.max(0, Math.floor((now - r.createdAt) / 1000)),
    inOctets: r.rxBytes,
    outOctets: r.txBytes,
    inPackets: r.rxPackets,
    outPackets: r.txPackets,
  };
  if (r.address !== null) rec.framedIp = formatIpv4(r.address);
  if (r.attrs.radiusClass) rec.radiusClass = r.attrs.radiusClass;
  return rec;
}
