/**
 * Dead peer detection and keepalive for one tunnel channel (PROTOCOL.md §8.1-8.2), shared by the
 * CSTP and DTLS channels.
 *
 * One coarse timer, ticking every quarter of the shorter period (at least 1 s). The channel's
 * per-packet path only bumps its packet counters; this reads them once per tick, and a counter
 * that moved since the last tick counts as traffic at the tick's time. So the per-packet path
 * does no clock reads and arms no timers.
 *
 * On each tick, with `silent` = time since anything was received:
 *   - DPD (dpd > 0), per role as the reference implementations do (§8.2):
 *       client (openconnect):  probe after DPD,   dead after 2×DPD
 *       gateway (ocserv):      probe after 2×DPD, dead after 3×DPD
 *     Probes are at least DPD/2 apart; a probe counts as sent traffic (for keepalive).
 *   - keepalive (keepalive > 0): sent when nothing was sent for `keepalive` seconds.
 */

export interface LivenessSettings {
  readonly role: 'client' | 'gateway';
  /** seconds; 0 = off */
  readonly dpd: number;
  /** seconds; 0 = off */
  readonly keepalive: number;
}

/** The channel's counters (they only grow), read once per tick. */
export interface LivenessCounters {
  /** data packets received */
  readonly rxPackets: number;
  /** control packets received that prove the peer alive (the DTLS client leaves out the gateway's DPD requests) */
  readonly rxControl: number;
  /** data packets sent */
  readonly txPackets: number;
}

export interface LivenessActions {
  /** Send a DPD request. */
  sendProbe(): void;
  /** Send a keepalive. */
  sendKeepalive(): void;
  /** Nothing was received for the role's dead-after time: close the channel (stop() is not needed). */
  dead(): void;
}

export class Liveness {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** ms; updated from the counters on each tick */
  private lastRxMs: number;
  private lastTxMs: number;
  private seenRx = 0;
  private seenTx = 0;
  private lastProbeMs = 0;

  /** The rx and tx clocks start now; ticks only start with start(). */
  constructor(
    private readonly settings: LivenessSettings,
    private readonly counters: LivenessCounters,
    private readonly actions: LivenessActions,
  ) {
    this.lastRxMs = this.lastTxMs = Date.now();
  }

  /** Starts ticking (no-op if both periods are 0, or after stop()); counts the peer as heard from now. */
  start(): void {
    this.lastRxMs = Date.now();
    this.arm();
  }

  /** Stops for good. Safe to call more than once, and from the callbacks. */
  stop(): void {
    this.stopped = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const { dpd, keepalive } = this.settings;
    const periods = [dpd, keepalive].filter((s) => s > 0);
    if (periods.length === 0) return;
    // Tick often enough to act within a quarter period, at most once a second.
    const tickMs = Math.max(1000, Math.floor((Math.min(...periods) * 1000) / 4));
    this.timer = setTimeout(this.onTick, tickMs);
    this.timer.unref();
  }

  private readonly onTick = (): void => {
    this.timer = null;
    if (this.stopped) return;
    const now = Date.now();
    const c = this.counters;
    const rx = c.rxPackets + c.rxControl;
    const tx = c.txPackets;
    if (rx !== this.seenRx) {
      this.seenRx = rx;
      this.lastRxMs = now;
    }
    if (tx !== this.seenTx) {
      this.seenTx = tx;
      this.lastTxMs = now;
    }
    const { dpd, keepalive, role } = this.settings;
    const a = this.actions;
    const silent = now - this.lastRxMs;
    if (dpd > 0) {
      const probeAfter = (role === 'client' ? 1 : 2) * dpd * 1000;
      const deadAfter = (role === 'client' ? 2 : 3) * dpd * 1000;
      if (silent >= deadAfter) {
        this.stop();
        a.dead();
        return;
      }
      if (silent >= probeAfter && now - this.lastProbeMs >= (dpd * 1000) / 2) {
        this.lastProbeMs = now;
        a.sendProbe();
        this.lastTxMs = now;
      }
    }
    if (keepalive > 0 && now - this.lastTxMs >= keepalive * 1000) {
      a.sendKeepalive();
      this.lastTxMs = now;
    }
    this.arm();
  };
}
