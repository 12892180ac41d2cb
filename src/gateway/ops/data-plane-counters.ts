/**
 * One process's data-plane and pool figures, in one flat shape that workers > 1 send to worker 0
 * (worker-metrics.ts) and the metrics add up (metrics.ts): the packet router's, the TUN's, the
 * DTLS listener's counters, the auth deadlines that expired, and the addresses each pool leases
 * here. Read at scrape time from counters the data plane keeps anyway (nothing per packet here).
 *
 * Why a sum is the gateway's figure, series by series:
 *   - every counter here is a running total of one process's own events (its TUN, its router, its
 *     DTLS sockets, its connections, its store writes; the refusals at accept of the privileged
 *     process count in worker 0's): the workers' events are disjoint (no packet crosses
 *     processes, README "Several workers"), so the gateway's total is the sum;
 *   - `pools` (a gauge): a worker notes a lease in its pool when it sets up a tunnel of the session
 *     and lets go of it when the session moves to another worker (session-moved.ts) or ends, so
 *     the workers' leases are disjoint too and their sum is what the store leases (up to a move
 *     in flight); a per-worker label would only say where the tunnels are, which
 *     `ctl sessions`' WORKER column already does.
 */
import { formatCidr } from '../../protocol/ipv4.js';
import type { OpsTarget } from './target.js';

export const COUNTER_KEYS = [
  // router.ts RouterCounters
  'tunRead',
  'noRoute',
  'spoofed',
  'tunWriteErrors',
  // os/tun.ts TunOffloadCounters, and reads too long for a slot
  'superPackets',
  'segments',
  'malformed',
  'truncated',
  'groWrites',
  'groSegments',
  // dtls-listener.ts DtlsListenerCounters
  'dtlsUnknownPeer',
  'dtlsHandshakesRefused',
  'dtlsReplaced',
  'dtlsRxBatches',
  'dtlsRxGroTrains',
  'dtlsRxDropped',
  'dtlsForwardedHellos',
  'dtlsAdoptedPeers',
  // gatekeeper.ts: connections closed because limits.auth-timeout passed, and those a worker
  // refused before TLS itself (workers > 1 the privileged process refuses most, told to worker 0)
  'authDeadlineExpired',
  'refusedBanned',
  'refusedRateLimit',
  'refusedUnauthPerAddress',
  'refusedUnauthTotal',
  // session store writes that failed (each process writes its own sessions)
  'storeErrors',
] as const;
export type CounterKey = (typeof COUNTER_KEYS)[number];
export type DataPlaneCounters = Record<CounterKey, number>;

export const zeroCounters = (): DataPlaneCounters => Object.fromEntries(COUNTER_KEYS.map((k) => [k, 0])) as DataPlaneCounters;

/** This process's counters now (zero where a part is off: no DTLS, no TUN yet). */
export function countersHere(gw: OpsTarget): DataPlaneCounters {
  const c = zeroCounters();
  const r = gw.routerCounters;
  if (r) Object.assign(c, { tunRead: r.tunRxPackets, noRoute: r.noRoute, spoofed: r.spoofed, tunWriteErrors: r.tunWriteErrors });
  const t = gw.tunCounters;
  if (t) Object.assign(c, { superPackets: t.superPackets, segments: t.segments, malformed: t.malformed, truncated: t.truncated, groWrites: t.groWrites, groSegments: t.groSegments });
  const d = gw.dtlsCounters;
  if (d) {
    Object.assign(c, {
      dtlsUnknownPeer: d.unknownPeer,
      dtlsHandshakesRefused: d.handshakesRefused,
      dtlsReplaced: d.replaced,
      dtlsRxBatches: d.rxBatches,
      dtlsRxGroTrains: d.rxGroTrains,
      dtlsRxDropped: d.rxDropped,
      dtlsForwardedHellos: d.forwardedHellos,
      dtlsAdoptedPeers: d.adoptedPeers,
    });
  }
  c.authDeadlineExpired = gw.gate.unauth.expired;
  const r0 = gw.gate.refused;
  for (const [reason, key] of REFUSED) c[key] = r0[reason] ?? 0;
  c.storeErrors = gw.storeErrors ?? 0;
  return c;
}

/** `sslgate_refused_connections_total{reason}` and `ctl status` refusedConnections: the key of each reason. */
export const REFUSED = [
  ['banned', 'refusedBanned'],
  ['rate-limit', 'refusedRateLimit'],
  ['unauth-per-address', 'refusedUnauthPerAddress'],
  ['unauth-total', 'refusedUnauthTotal'],
] as const;

/** The refusals by reason, as Gatekeeper.refused names them. */
export function refusedOf(c: Readonly<DataPlaneCounters>): Record<string, number> {
  return Object.fromEntries(REFUSED.map(([reason, key]) => [reason, c[key]]));
}

/** t += c, key by key. */
export function addCounters(t: DataPlaneCounters, c: Readonly<DataPlaneCounters>): void {
  for (const k of COUNTER_KEYS) t[k] += c[k];
}

/**
 * Key by key the larger of `old` and `now`: another worker's running totals as worker 0 keeps
 * them. A counter must never go down, also when an answer is lower than the last one (a worker
 * that lost count, or one that lies): its figure then waits until it passes the old one.
 */
export function maxCounters(old: Readonly<DataPlaneCounters> | undefined, now: Readonly<DataPlaneCounters>): DataPlaneCounters {
  const c = { ...now };
  if (old) for (const k of COUNTER_KEYS) c[k] = Math.max(old[k], now[k]);
  return c;
}

/** Addresses leased by this process, per pool (its subnet, as `sslgate_pool_addresses{pool}` names it). */
export interface PoolLeases {
  pool: string;
  leased: number;
}

export function poolLeasesHere(gw: OpsTarget): PoolLeases[] {
  return [...new Set(gw.pools.values())].map((p) => ({ pool: formatCidr(p.subnet), leased: p.used }));
}
