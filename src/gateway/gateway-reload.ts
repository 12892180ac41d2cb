/**
 * SIGHUP / `ctl reload` in a network process (reload.ts plans it): the privileged process reads
 * the files again (step 1), adds the new pool subnets (step 2) and adopts the result (step 3);
 * only then does this process switch. All or nothing: on any error the running state stays.
 */
import type { Logger } from '../log.js';
import type { GatewayConfig } from './config.js';
import type { PrivilegedOps } from './gateway-resources.js';
import type { IpPool } from './ip-pool.js';
import type { GatewayEvents } from './ops/events.js';
import { planReload, type ReloadPlan, type ReloadResult } from './reload.js';
import type { SessionStore } from './sessions.js';
import type { ClientCaFiles } from './tls-client-ca.js';

/** The running gateway as a reload sees it. */
export interface ReloadTarget {
  priv: PrivilegedOps;
  config(): GatewayConfig;
  /** the pools by group name (those of live sessions stay in use until they end) */
  pools: ReadonlyMap<string, IpPool>;
  sessions: SessionStore;
  /** tls.client-ca / tls.crl read again: returns the keys whose content changed */
  renewClientCa(f: ClientCaFiles): string[];
  /** the planned config, profile and pools become the running ones */
  adopt(plan: ReloadPlan): void;
  log: Logger;
  events: GatewayEvents;
}

export async function reloadGateway(t: ReloadTarget): Promise<ReloadResult> {
  let plan: ReloadPlan;
  let users = 0;
  let next: Awaited<ReturnType<PrivilegedOps['readConfig']>>;
  try {
    next = await t.priv.readConfig();
    users = next.users;
    const live = new Set<IpPool>(t.pools.values());
    for (const s of t.sessions.all()) live.add(s.pool);
    plan = planReload(t.config(), next.config, next.profile, live);
    if (plan.newSubnets.length) await t.priv.addSubnets(plan.newSubnets);
    await t.priv.commitReload();
  } catch (e) {
    const error = (e as Error).message ?? String(e);
    t.log.error({ err: error }, 'reload refused; the running configuration stays');
    t.events.emit({ type: 'reload', ok: false, error });
    return { ok: false, error, changed: [], restartNeeded: [] };
  }
  const changed = [...plan.changed, ...(next.clientCa ? t.renewClientCa(next.clientCa) : [])];
  const logChanged = plan.changed.includes('log');
  t.adopt(plan);
  // Only a level edited in the file wins over `serve --log-level`.
  if (logChanged) t.log.level = plan.config.log.level;
  const { restartNeeded } = plan;
  t.log.info({ changed, restartNeeded, users }, 'configuration reloaded');
  t.events.emit({ type: 'reload', ok: true, restartNeeded });
  return { ok: true, changed, restartNeeded };
}
