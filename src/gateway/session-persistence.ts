/**
 * A network process's sessions in the session store (issue 12), beyond what sessions.ts writes
 * itself: the record this node writes for a live session, a stored session taken up when its
 * cookie comes here (after a restart, from another worker or node), the accounting checkpoints
 * (every live tunnel's traffic written every CHECKPOINT_MS, never per packet) and the count of
 * failed writes (a full disk or Redis away costs no tunnel: counted, logged once per 10 s).
 */
import type { Logger } from '../log.js';
import type { GatewayConfig } from './config.js';
import type { IpPool } from './ip-pool.js';
import type { Session, SessionStore } from './sessions.js';
import { sessionExpiry } from './state/session-expiry.js';
import { recordHome, sessionFromRecord, sessionRecordOf } from './state/session-record.js';
import { endStoredSession } from './state/stored-session.js';
import type { SessionRecord, StateStore } from './state/types.js';

/** How often the traffic of live sessions is written to the store (accounting checkpoints). */
const CHECKPOINT_MS = 30_000;

export interface PersistenceDeps {
  store: StateStore;
  sessions: SessionStore;
  /** this gateway's name in session records */
  node: string;
  config(): GatewayConfig;
  /** the running pools by group name */
  pools: Map<string, IpPool>;
  /** a restored session's accounting goes on */
  resumed(s: Session): void;
  log: Logger;
}

export class SessionPersistence {
  /** store writes that failed (a full disk, Redis away): counted, logged, tunnels keep running */
  failures = 0;
  private lastFailureLog = 0;
  private checkpointTimer: NodeJS.Timeout | null = null;

  constructor(private readonly d: PersistenceDeps) {}

  /** A store operation failed. */
  failed(op: string, err: Error): void {
    this.failures++;
    const now = Date.now();
    // A full disk fails every write: one line per 10 s, the count in the metrics.
    if (now - this.lastFailureLog > 10_000) {
      this.lastFailureLog = now;
      this.d.log.error({ op, err: err.message, failures: this.failures }, 'session store write failed; tunnels keep running');
    }
  }

  recordOf(s: Session): SessionRecord {
    return sessionRecordOf(s, this.d.node);
  }

  /** Why a stored record no longer makes a session (restore() refuses it), or null when it does. */
  private refusal(r: SessionRecord, now: number): 'expired' | 'group gone' | null {
    const cfg = this.d.config();
    if (sessionExpiry(r, now, cfg.cookieTimeout) !== null) return 'expired';
    return recordHome(r, cfg.groups, this.d.pools) ? null : 'group gone';
  }

  /** The record still makes a session: restore() would take it. */
  valid(r: SessionRecord): boolean {
    return this.refusal(r, Date.now()) === null;
  }

  /** A stored session whose cookie came to this process (after a restart, or from another worker). */
  restore(token: string, r: SessionRecord): Session | undefined {
    const { d } = this;
    const now = Date.now();
    const cfg = d.config();
    const why = this.refusal(r, now);
    const s = why ? undefined : sessionFromRecord(token, r, cfg.groups, d.pools, now);
    if (!s) {
      d.log.info({ session: r.id, user: r.user, why: why ?? 'group gone' }, 'stored session refused');
      endStoredSession(d.store, cfg, r).catch((e: unknown) => this.failed('delete', e as Error));
      return undefined;
    }
    d.log.info({ session: s.id, user: s.user, address: r.address, node: r.node }, 'session restored from the session store');
    d.resumed(s);
    return s;
  }

  startCheckpoints(): void {
    this.checkpointTimer = setInterval(() => this.checkpoint(), CHECKPOINT_MS);
    this.checkpointTimer.unref();
  }

  stopCheckpoints(): void {
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.checkpointTimer = null;
  }

  /** Accounting checkpoint: the traffic of every live session goes to the store (not per packet). */
  private checkpoint(): Promise<void> {
    const writes: Array<Promise<void>> = [];
    for (const s of this.d.sessions.all()) if (s.tunnel) writes.push(this.d.sessions.persist(this.recordOf(s)));
    return Promise.all(writes).then(() => undefined);
  }
}
