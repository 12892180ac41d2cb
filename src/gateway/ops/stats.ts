/**
 * Running totals the status view and the metrics share: traffic of tunnels that already closed
 * (from their `disconnect` events) plus the live channels' own counters, login tallies, and the
 * last reload. Updated by events (a few per session), read on demand.
 */
import type { GatewayEvent } from './events.js';
import type { OpsTarget } from './target.js';

export type ChannelName = 'TLS' | 'DTLS';

export interface Totals {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  txDrops: number;
  /** TLS: socket writes (runs of frames make them fewer than txPackets); DTLS: 0 */
  txWrites: number;
}

export const zeroTotals = (): Totals => ({ rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, txDrops: 0, txWrites: 0 });

export function add(t: Totals, c: Partial<Totals>): void {
  t.rxBytes += c.rxBytes ?? 0;
  t.txBytes += c.txBytes ?? 0;
  t.rxPackets += c.rxPackets ?? 0;
  t.txPackets += c.txPackets ?? 0;
  t.txDrops += c.txDrops ?? 0;
  t.txWrites += c.txWrites ?? 0;
}

export class OpsStats {
  /** closed tunnels' traffic: every worker's (their disconnect events reach worker 0) */
  readonly closed: Record<ChannelName, Totals> = { TLS: zeroTotals(), DTLS: zeroTotals() };
  /**
   * only this process's closed tunnels: with the live ones, this worker's own running total
   * (totalsHere), which the metrics add up per worker (worker-metrics.ts)
   */
  readonly closedHere: Record<ChannelName, Totals> = { TLS: zeroTotals(), DTLS: zeroTotals() };
  readonly auth = { successes: 0, failures: 0, failuresByReason: {} as Record<string, number> };
  lastReload: { time: string; ok: boolean; error?: string; restartNeeded?: string[] } | null = null;
  private readonly unsubscribe: () => void;

  constructor(private readonly gw: OpsTarget) {
    this.unsubscribe = gw.events.subscribe(this.onEvent);
  }

  private readonly onEvent = (ev: GatewayEvent): void => {
    if (ev.type === 'login') this.auth.successes++;
    else if (ev.type === 'auth-failure') {
      this.auth.failures++;
      this.auth.failuresByReason[ev.reason] = (this.auth.failuresByReason[ev.reason] ?? 0) + 1;
    } else if (ev.type === 'disconnect') {
      add(this.closed[ev.channel], ev.counters);
      if (ev.dtlsCounters) add(this.closed.DTLS, ev.dtlsCounters);
      if (ev.worker === undefined) {
        add(this.closedHere[ev.channel], ev.counters);
        if (ev.dtlsCounters) add(this.closedHere.DTLS, ev.dtlsCounters);
      }
    }
    else if (ev.type === 'reload') {
      // workers > 1: another worker's reload reaches us relayed, possibly after a newer one of our
      // own (a failed reload here, then the other worker's success of the reload before): the
      // newest reload wins, not the last message.
      if (this.lastReload && Date.parse(ev.time) < Date.parse(this.lastReload.time)) return;
      this.lastReload = { time: ev.time, ok: ev.ok };
      if (ev.error) this.lastReload.error = ev.error;
      if (ev.restartNeeded?.length) this.lastReload.restartNeeded = ev.restartNeeded;
    }
  };

  /** Totals of the tunnels open now, per channel, read from the data plane's counters. */
  live(): Record<ChannelName, Totals> {
    const live = { TLS: zeroTotals(), DTLS: zeroTotals() };
    for (const s of this.gw.sessions.all()) {
      if (s.channel) add(live.TLS, s.channel.counters);
      const d = s.tunnel?.dtls?.channel?.counters;
      if (d) add(live.DTLS, { rxBytes: d.rxBytes, txBytes: d.txBytes, rxPackets: d.rxPackets, txPackets: d.txPackets });
    }
    return live;
  }

  /** Everything since start: closed tunnels + open ones. */
  totals(): Record<ChannelName, Totals> {
    const live = this.live();
    for (const ch of ['TLS', 'DTLS'] as const) add(live[ch], this.closed[ch]);
    return live;
  }

  /** This process's traffic since it started (closed tunnels here + open ones): never goes down. */
  totalsHere(): Record<ChannelName, Totals> {
    const live = this.live();
    for (const ch of ['TLS', 'DTLS'] as const) add(live[ch], this.closedHere[ch]);
    return live;
  }

  close(): void {
    this.unsubscribe();
  }
}
