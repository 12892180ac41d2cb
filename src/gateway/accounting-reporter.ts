/**
 * RADIUS accounting from the network process's side: it has the sessions and their counters, so
 * it decides when to report (Start at login, Interim-Update every `accounting.interim` seconds or
 * the server's Acct-Interim-Interval, Stop with the cause when the session ends) and hands each
 * record to the privileged process, which holds the RADIUS secret and sends it.
 */
import type { Logger } from '../log.js';
import { formatIpv4 } from '../protocol/ipv4.js';
import { acctSessionId, terminateCause, type AcctCause, type AcctEvent, type AcctRecord } from './auth/accounting-record.js';
import type { GatewayConfig } from './config.js';
import { sessionView } from './ops/session-view.js';
import type { Session } from './sessions.js';

export interface AccountingDeps {
  config: () => GatewayConfig;
  report: (event: AcctEvent, record: AcctRecord, cause?: AcctCause) => void;
  log: Logger;
}

export class AccountingReporter {
  private readonly timers = new Map<Session, NodeJS.Timeout>();

  constructor(private readonly d: AccountingDeps) {}

  /** A login created `s`. */
  started(s: Session): void {
    const acct = this.d.config().accounting;
    if (!acct) return;
    this.d.report('start', this.record(s));
    this.interim(s, acct.interim);
  }

  /**
   * `s` came back from the store (a restart, another worker): its Start went out when it logged
   * in, so only the Interim-Updates go on, from the totals the store kept.
   */
  resumed(s: Session): void {
    const acct = this.d.config().accounting;
    if (!acct || this.timers.has(s)) return;
    this.interim(s, acct.interim);
  }

  /** `s` went on in another worker or cluster node (it reports from now on): no Stop here. */
  paused(s: Session): void {
    const t = this.timers.get(s);
    if (t) clearInterval(t);
    this.timers.delete(s);
  }

  /** A handover to the next process: the sessions go on there, no Stop here. */
  pauseAll(): void {
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
  }

  private interim(s: Session, configured: number): void {
    // The server's Acct-Interim-Interval (RFC 2869 §5.16) wins over the configured interval.
    const every = Math.max(1, s.attrs.acctInterim ?? configured);
    const t = setInterval(() => this.d.report('interim', this.record(s)), every * 1000);
    t.unref();
    this.timers.set(s, t);
  }

  /** `s` ended for `why` (the gateway's words, see endSession). */
  ended(s: Session, why: string): void {
    const t = this.timers.get(s);
    if (!t) return;
    clearInterval(t);
    this.timers.delete(s);
    this.d.report('stop', this.record(s), terminateCause(why));
  }

  /** The gateway stops: every running session ends as a NAS reboot. */
  stopAll(): void {
    for (const s of [...this.timers.keys()]) this.ended(s, 'gateway shutting down');
  }

  private record(s: Session): AcctRecord {
    const v = sessionView(s);
    const rec: AcctRecord = {
      sessionId: acctSessionId(s.id, s.createdAt),
      user: s.user,
      group: s.group.name,
      remote: s.remoteAddr,
      sessionTime: Math.max(0, Math.floor((Date.now() - s.createdAt) / 1000)),
      inOctets: v.bytesIn,
      outOctets: v.bytesOut,
      // the view's packets are the live tunnel's; the bytes already cover every tunnel
      inPackets: v.packetsIn + s.closedRxPackets,
      outPackets: v.packetsOut + s.closedTxPackets,
    };
    if (s.address !== null) rec.framedIp = formatIpv4(s.address);
    // The Start goes at login, before a tunnel leases an address: one the server assigned
    // (Framed-IP-Address) is already known and is the one the tunnel will get.
    else if (s.attrs.framedIp) rec.framedIp = s.attrs.framedIp;
    if (s.attrs.radiusClass) rec.radiusClass = s.attrs.radiusClass;
    return rec;
  }
}
