/**
 * workers > 1: the metrics worker 0 serves cover every worker's sessions and traffic. On each
 * scrape worker 0 asks the others (the ctl relay, priv/ctl-relay.ts, which waits at most 3 s)
 * for a small summary: session counts by group/state/channel, open TLS and unauthenticated
 * connections, and the worker's own traffic since it started (its closed tunnels plus the open
 * ones, read in one go in that process, so the sum never goes down when a tunnel closes: the
 * closed tunnel's bytes move from "open" to "closed" inside one process); its data-plane
 * counters (router, TUN, DTLS listener, auth deadlines) and the addresses its pools lease
 * (data-plane-counters.ts says why their sums are the gateway's figures).
 *
 * A worker that does not answer in time is marked (`sslgate_worker_answered{worker} 0`); its
 * gauges (sessions, connections, leases) are left out of that scrape, and its counters (traffic,
 * data plane) count with its last answer (a counter must not go down, so a stale value is better
 * than none; for the same reason worker 0 keeps, field by field, the largest value a worker ever
 * answered). The answer comes from a process that parses the internet: checked here, strictly
 * and bounded, else that worker counts as silent.
 */
import type { Logger } from '../../log.js';
import type { Session } from '../sessions.js';
import { askOthers, type CtlRelayFn } from './ctl-relay.js';
import { add, zeroTotals, type ChannelName, type OpsStats, type Totals } from './stats.js';
import type { OpsTarget } from './target.js';
import { parseIpv4Cidr, formatCidr } from '../../protocol/ipv4.js';
import { addCounters, COUNTER_KEYS, countersHere, maxCounters, poolLeasesHere, zeroCounters, type DataPlaneCounters, type PoolLeases } from './data-plane-counters.js';

export interface SessionCount {
  group: string;
  state: 'connected' | 'disconnected';
  channel: 'TLS' | 'DTLS' | 'none';
  n: number;
}

export interface WorkerMetrics {
  sessions: SessionCount[];
  tlsConnections: number;
  unauthenticated: number;
  /** this worker's tunnel traffic since it started */
  traffic: Record<ChannelName, Totals>;
  /** this worker's router, TUN, DTLS listener and auth-deadline counters since it started */
  counters: DataPlaneCounters;
  /** addresses leased here, per pool */
  pools: PoolLeases[];
}

/** Groups come from the config (at most a few hundred); far more is not a real answer. */
const MAX_SESSION_ROWS = 10_000;
const MAX_GROUP_CHARS = 256;
/** One row per pool subnet of the config: bounded like the groups. */
const MAX_POOL_ROWS = 10_000;
/** "255.255.255.255/32" */
const MAX_CIDR_CHARS = 18;
/** A pool is at most an IPv4 /0. */
const MAX_LEASES = 2 ** 32;
/** Keys of the whole answer: exactly these, nothing else (a strict shape is easier to bound). */
const ANSWER_KEYS = ['sessions', 'tlsConnections', 'unauthenticated', 'traffic', 'counters', 'pools'];

/** Sessions by group, state and data channel (the labels of `sslgate_sessions`). */
export function sessionCounts(sessions: Iterable<Session>): SessionCount[] {
  const by = new Map<string, SessionCount>();
  for (const s of sessions) {
    const up = s.channel !== null;
    const row: Omit<SessionCount, 'n'> = { group: s.group.name, state: up ? 'connected' : 'disconnected', channel: up ? (s.tunnel?.channelName ?? 'TLS') : 'none' };
    const key = `${row.group}\0${row.state}\0${row.channel}`;
    const c = by.get(key);
    if (c) c.n++;
    else by.set(key, { ...row, n: 1 });
  }
  return [...by.values()];
}

/** This worker's answer to worker 0's `metrics` ask. */
export function workerMetrics(gw: OpsTarget, stats: OpsStats): WorkerMetrics {
  return {
    sessions: sessionCounts(gw.sessions.all()),
    tlsConnections: gw.tlsConnections,
    unauthenticated: gw.gate.unauth.count(),
    traffic: stats.totalsHere(),
    counters: countersHere(gw),
    pools: poolLeasesHere(gw),
  };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const onlyKeys = (v: Record<string, unknown>, keys: readonly string[]): boolean => Object.keys(v).length === keys.length && keys.every((k) => Object.hasOwn(v, k));
const TOTAL_KEYS = ['rxBytes', 'txBytes', 'rxPackets', 'txPackets', 'txDrops', 'txWrites'] as const;

function checkTotals(v: unknown): Totals | null {
  if (!isObj(v) || !onlyKeys(v, TOTAL_KEYS) || !TOTAL_KEYS.every((k) => count(v[k]))) return null;
  const t = zeroTotals();
  for (const k of TOTAL_KEYS) t[k] = v[k] as number;
  return t;
}

function checkCounters(v: unknown): DataPlaneCounters | null {
  if (!isObj(v) || !onlyKeys(v, COUNTER_KEYS) || !COUNTER_KEYS.every((k) => count(v[k]))) return null;
  const c = zeroCounters();
  for (const k of COUNTER_KEYS) c[k] = v[k] as number;
  return c;
}

/** A pool row: a canonical CIDR (as formatCidr writes it), at most once per answer. */
function checkPools(v: unknown): PoolLeases[] | null {
  if (!Array.isArray(v) || v.length > MAX_POOL_ROWS) return null;
  const out: PoolLeases[] = [];
  const seen = new Set<string>();
  for (const x of v) {
    if (!isObj(x) || !onlyKeys(x, ['pool', 'leased'])) return null;
    const { pool, leased } = x;
    if (typeof pool !== 'string' || pool.length > MAX_CIDR_CHARS || !count(leased) || leased > MAX_LEASES) return null;
    const c = parseIpv4Cidr(pool);
    if (!c || formatCidr(c) !== pool || seen.has(pool)) return null;
    seen.add(pool);
    out.push({ pool, leased });
  }
  return out;
}

function checkRow(v: unknown): SessionCount | null {
  if (!isObj(v) || !onlyKeys(v, ['group', 'state', 'channel', 'n'])) return null;
  const { group, state, channel, n } = v;
  if (typeof group !== 'string' || group.length > MAX_GROUP_CHARS || !count(n)) return null;
  if (state !== 'connected' && state !== 'disconnected') return null;
  if (channel !== 'TLS' && channel !== 'DTLS' && channel !== 'none') return null;
  return { group, state, channel, n };
}

/** Another worker's answer, or null when it is not one. */
export function checkWorkerMetrics(v: unknown): WorkerMetrics | null {
  if (!isObj(v) || !onlyKeys(v, ANSWER_KEYS) || !Array.isArray(v['sessions']) || v['sessions'].length > MAX_SESSION_ROWS) return null;
  if (!count(v['tlsConnections']) || !count(v['unauthenticated']) || !isObj(v['traffic']) || !onlyKeys(v['traffic'], ['TLS', 'DTLS'])) return null;
  const sessions: SessionCount[] = [];
  for (const x of v['sessions']) {
    const r = checkRow(x);
    if (!r) return null;
    sessions.push(r);
  }
  const tls = checkTotals(v['traffic']['TLS']);
  const dtls = checkTotals(v['traffic']['DTLS']);
  const counters = checkCounters(v['counters']);
  const pools = checkPools(v['pools']);
  if (!tls || !dtls || !counters || !pools) return null;
  return { sessions, tlsConnections: v['tlsConnections'], unauthenticated: v['unauthenticated'], traffic: { TLS: tls, DTLS: dtls }, counters, pools };
}

/** Worker 0's view of the other workers, refreshed before each scrape. */
export class OtherWorkers {
  /** each worker's last answer (its traffic counts even when it is silent now) */
  private readonly last = new Map<number, WorkerMetrics>();
  /** worker -> whether it answered the latest ask */
  readonly answered = new Map<number, boolean>();
  private inFlight: Promise<void> | null = null;

  constructor(private readonly relay: CtlRelayFn, private readonly log: Logger) {}

  /** Asks every other worker (concurrent scrapes share one ask). */
  refresh(): Promise<void> {
    this.inFlight ??= this.ask().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async ask(): Promise<void> {
    const r = await askOthers(this.relay, { op: 'metrics' }, checkWorkerMetrics, this.log);
    this.answered.clear();
    for (const { worker, value } of r.answers) {
      const old = this.last.get(worker);
      // Counters kept at the largest value answered (never down); gauges as answered now.
      this.last.set(worker, { ...value, traffic: old ? { TLS: maxTotals(old.traffic.TLS, value.traffic.TLS), DTLS: maxTotals(old.traffic.DTLS, value.traffic.DTLS) } : value.traffic, counters: maxCounters(old?.counters, value.counters) });
      this.answered.set(worker, true);
    }
    for (const w of r.silent) this.answered.set(w, false);
  }

  /** The answers of this scrape (silent workers left out). */
  fresh(): WorkerMetrics[] {
    const out: WorkerMetrics[] = [];
    for (const [w, ok] of this.answered) if (ok) out.push(this.last.get(w)!);
    return out;
  }

  /** Every other worker's traffic, by its last answer. */
  traffic(): Record<ChannelName, Totals> {
    const t = { TLS: zeroTotals(), DTLS: zeroTotals() };
    for (const m of this.last.values()) {
      add(t.TLS, m.traffic.TLS);
      add(t.DTLS, m.traffic.DTLS);
    }
    return t;
  }

  /** Every other worker's data-plane counters, by its last answer. */
  counters(): DataPlaneCounters {
    const c = zeroCounters();
    for (const m of this.last.values()) addCounters(c, m.counters);
    return c;
  }

  /** Addresses leased by the workers that answered this scrape, per pool. */
  leases(): Map<string, number> {
    const by = new Map<string, number>();
    for (const m of this.fresh()) for (const p of m.pools) by.set(p.pool, (by.get(p.pool) ?? 0) + p.leased);
    return by;
  }
}

/** Field by field the larger of two totals of one worker. */
function maxTotals(a: Totals, b: Totals): Totals {
  const t = zeroTotals();
  for (const k of TOTAL_KEYS) t[k] = Math.max(a[k], b[k]);
  return t;
}
