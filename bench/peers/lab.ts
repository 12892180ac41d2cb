/**
 * A lab: one testbed (gateway and client namespaces joined by a veth, test/helpers/netns.ts) with
 * one gateway in it, ours or ocserv, configured alike (same certificate, user, groups, split
 * route to the pool). Everything is removed by `close()`, or by the helper's exit handler when
 * the benchmark fails or is interrupted.
 */
import { createTestbed, type NsProcess, type Testbed } from '../../test/helpers/netns.js';
import { BENCH_USER, type BenchContext } from '../context.js';
import type { Mode } from '../modes.js';
import { netnsPids } from '../lib/proc.js';
import type { Login } from './clients.js';
import { startRefOcserv } from './ocserv.js';
import { startSslgate } from './sslgate.js';

export type GatewayKind = 'sslgate' | 'ocserv';

export interface LabOptions {
  /** short name for the namespaces */
  tag: string;
  mode?: Mode;
  /** a /16 pool (thousands of sessions) instead of a /24 */
  wide?: boolean;
  maxClients?: number;
  /** our gateway's password hashing: see peers/sslgate.ts */
  kdf?: 'default' | 'light';
  /** our gateway's credential cache: see peers/sslgate.ts */
  credentialCache?: boolean;
  /** CPUs the gateway may use (taskset list); default the gateway CPU of the run's pinning */
  cpus?: string | null;
  /** runs in the new testbed before our gateway starts (e.g. a Redis next to it); returns YAML to add */
  beforeStart?: (tb: Testbed) => Promise<string>;
  /** our gateway's `workers` (network processes); default the config's default, auto: one per CPU it is pinned to */
  workers?: number;
}

export interface Lab {
  kind: GatewayKind;
  tb: Testbed;
  login: Login;
  /** our gateway's process, or ocserv's main process */
  gateway: NsProcess;
  /** every process in the gateway namespace: the gateway (ocserv: main, sec-mod, workers) and any server started next to it */
  gatewayPids(): number[];
  close(): Promise<void>;
}

export async function startLab(ctx: BenchContext, kind: GatewayKind, o: LabOptions): Promise<Lab> {
  const tb = await createTestbed({ tag: o.tag });
  try {
    // /24: the helper's per-testbed pool. /16: 10.200-249.0.0, outside the helper's 10.100-199 range.
    const pool = o.wide ? `10.${200 + (tb.slot % 50)}.0.0/16` : tb.poolNet(0);
    const cpus = o.cpus === undefined ? ctx.pinning.gateway : o.cpus;
    const common = { listenHost: tb.gwAddr, user: BENCH_USER.user, password: BENCH_USER.password, pki: ctx.pki, cpus };
    let stop: () => Promise<void>;
    let login: Login;
    let gateway: NsProcess;
    if (kind === 'ocserv') {
      const g = await startRefOcserv(tb.gw, {
        ...common,
        pool,
        maxClients: o.maxClients ?? 64,
      });
      stop = g.stop;
      gateway = g.server.handle;
      login = { url: g.url, pin: g.pin, user: BENCH_USER.user, password: BENCH_USER.password, group: BENCH_USER.group, tunAddr: g.tunAddr };
    } else {
      const g = await startSslgate(tb.gw, {
        ...common,
        network: pool.replace(/\.0\/(\d+)$/, '.1/$1'),
        maxClients: o.maxClients ?? 1000,
        kdf: o.kdf ?? 'default',
        ...(o.credentialCache !== undefined ? { credentialCache: o.credentialCache } : {}),
        yaml: `${o.workers !== undefined ? `workers: ${o.workers}\n` : ''}${o.mode?.sslgateYaml ?? ''}${(await o.beforeStart?.(tb)) ?? ''}`,
      });
      stop = g.stop;
      gateway = g.proc;
      login = { url: g.url, pin: g.pin, user: BENCH_USER.user, password: BENCH_USER.password, group: BENCH_USER.group, tunAddr: g.tunAddr };
    }
    return {
      kind,
      tb,
      login,
      gateway,
      gatewayPids: () => netnsPids(tb.gw.name),
      async close(): Promise<void> {
        await stop().catch(() => undefined);
        await tb.cleanup();
      },
    };
  } catch (e) {
    await tb.cleanup();
    throw e;
  }
}

