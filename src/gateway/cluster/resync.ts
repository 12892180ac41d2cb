/**
 * The shared store is back after an outage (cluster): every session this node carries is
 * written again, and its address leased again to it. Against a Redis that kept its data this
 * changes nothing (same record, same lease: a lease is idempotent for its holder); against one
 * that came back empty it restores what this node knows, so other nodes find the cookies and no
 * new login gets an address in use here. An address another session took meanwhile cannot be
 * taken back from a live tunnel: it is logged. The stored bans are read again (their broadcast
 * may have been missed).
 */
import type { Logger } from '../../log.js';
import { formatIpv4 } from '../../protocol/ipv4.js';
import type { Session, SessionStore } from '../sessions.js';
import type { BanRecord, SessionRecord, StateStore } from '../state/types.js';

export interface ResyncDeps {
  sessions: SessionStore;
  store: StateStore;
  /** a live session's record as this node writes it */
  recordOf(s: Session): SessionRecord;
  applyBan(b: BanRecord): void;
  /** a store operation failed (counted and logged by the gateway) */
  storeFailed(op: string, err: Error): void;
  log: Logger;
}

export async function resyncStore(d: ResyncDeps): Promise<void> {
  let written = 0;
  let conflicts = 0;
  for (const s of [...d.sessions.all()]) {
    try {
      await d.store.putSession(d.recordOf(s));
      written++;
      if (s.address !== null) {
        const a = await d.store.lease(s.poolRef, s.cookieHash, s.address);
        if (a !== s.address) {
          conflicts++;
          d.log.error({ session: s.id, user: s.user, address: formatIpv4(s.address), got: a === null ? null : formatIpv4(a) }, 'cluster resync: the address of this session is held by another session in the store');
          if (a !== null) await d.store.release(s.poolRef, s.cookieHash);
        }
      }
    } catch (e) {
      d.storeFailed('resync', e as Error);
      break;
    }
  }
  // Bans other nodes made during the outage were stored there but their broadcast was lost.
  const bans = await d.store.listBans().catch((e: unknown) => {
    d.storeFailed('list-bans', e as Error);
    return [];
  });
  for (const b of bans) d.applyBan(b);
  d.log.info({ sessions: written, conflicts, bans: bans.length }, 'cluster resync: this node\'s sessions and leases written to the store again');
}
