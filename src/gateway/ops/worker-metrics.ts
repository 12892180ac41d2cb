/**
 * workers > 1: the metrics worker 0 serves cover every worker's sessions and traffic. On each
 * scrape worker 0 asks the others (the ctl relay, priv/ctl-relay.ts, which waits at most 3 s)
 * for a small summary: session counts by group/state/channel, open TLS and unauthenticated
 * connections, and the worker's own traffic since it started (its closed tunnels plus the open
 * ones, read in one go in that process, so the sum never goes down when a tunnel closes: the
 * closed tunnel's bytes move from "open" to "closed" inside one process).
 *
 * A worker that does not answer in time is marked (`sslgate_worker_answered{worker} 0`); its
 * session gauges are left out of that scrape, and its traffic counts with its last answer (a
 * counter must not go down, so a stale value is better than none). The answer comes from a
 * process that parses the internet: checked here, bounded, else that worker counts as silent.
 */
import type { Logger } from '../../log.js';
import type { Session } from '../sessions.js';
import { askOthers, type CtlRelayFn } from './ctl-relay.js';
import { add, zeroTotals, type ChannelName, type OpsStats, type Totals } from './stats.js';
import type { OpsTarget } from './target.js';

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
}

/** Groups come from the config (at most a few hundred); far more is not a real answer. */
const MAX_SESSION_ROWS = 10_000;
const MAX_GROUP_CHARS = 256;

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
  return { sessions: sessionCounts(gw.sessions.all()), tlsConnections: gw.tlsConnections, unauthenticated: gw.gate.unauth.count(), traffic: stats.totalsHere() };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const TOTAL_KEYS = ['rxBytes', 'txBytes', 'rxPackets', 'txPackets', 'txDrops', 'txWrites'] as const;

function checkTotals(v: unknown): Totals | null {
  if (!isObj(v) || !TOTAL_KEYS.every((k) => count(v[k]))) return null;
  const t = zeroTotals();
  for (const k of TOTAL_KEYS) t[k] = v[k] as number;
  return t;
}

function checkRow(v: unknown): SessionCount | null {
  if (!isObj(v)) return null;
  const { group, state, channel, n } = v;
  if (typeof group !== 'string' || group.length > MAX_GROUP_CHARS || !count(n)) return null;
  if (state !== 'connected' && state !== 'disconnected') return null;
  if (channel !== 'TLS' && channel !== 'DTLS' && channel !== 'none') return null;
  return { group, state, channel, n };
}

/** Another worker's answer, or null when it is not one. */
export function checkWorkerMetrics(v: unknown): WorkerMetrics | null {
  if (!isObj(v) || !Array.isArray(v['sessions']) || v['sessions'].length > MAX_SESSION_ROWS) return null;
  if (!count(v['tlsConnections']) || !count(v['unauthenticated']) || !isObj(v['traffic'])) return null;
  const sessions: SessionCount[] = [];
  for (const x of v['sessions']) {
    const r = checkRow(x);
    if (!r) return null;
    sessions.push(r);
  }
  const tls = checkTotals(v['traffic']['TLS']);
  const dtls = checkTotals(v['traffic']['DTLS']);
  if (!tls || !dtls) return null;
  return { sessions, tlsConnections: v['tlsConnections'], unauthenticated: v['unauthenticated'], traffic: { TLS: tls, DTLS: dtls } };
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
      this.last.set(worker, value);
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
}
