/**
 * A network process's bans and the session store (issue 12): the stored bans hold here from
 * serve() on (made before a restart, or on another worker or node), and the bans made here go
 * to the store, so they survive a restart and hold on every worker and node. A ban lifted by
 * its time runs out by itself everywhere: only an admin's `ctl unban` is written.
 */
import type { Logger } from '../log.js';
import type { GatewayEvents } from './ops/events.js';
import type { BanRecord, StateStore } from './state/types.js';

export interface StoredBanDeps {
  store: StateStore;
  events: GatewayEvents;
  applyBan(b: BanRecord): void;
  /** a store operation failed (counted and logged by the gateway) */
  storeFailed(op: string, err: Error): void;
  log: Logger;
}

export function syncBansWithStore(d: StoredBanDeps): void {
  // Bans made before a restart (or on another worker/node) hold here too.
  void d.store.listBans().then(
    (bans) => {
      for (const b of bans) d.applyBan(b);
      if (bans.length) d.log.info({ bans: bans.length }, 'bans restored from the session store');
    },
    (e: unknown) => d.storeFailed('list-bans', e as Error),
  );
  // Bans made here go to the store, so they survive a restart and hold on every worker/node.
  d.events.subscribe((ev) => {
    if (ev.type === 'ban') void d.store.putBan({ kind: ev.kind, key: ev.key, until: Date.now() + ev.seconds * 1000 }).catch((e: unknown) => d.storeFailed('ban', e as Error));
    else if (ev.type === 'unban' && ev.by === 'admin') void d.store.deleteBan(ev.kind, ev.key).catch((e: unknown) => d.storeFailed('unban', e as Error));
  });
}
