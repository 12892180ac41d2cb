/**
 * Brute-force protection, ocserv's ban-points model: every offence adds points to a score kept
 * per source address and per user name (a wrong password, a bad cookie, a malformed request,
 * optionally each new connection). A score that reaches its maximum bans the address (refused at
 * accept, before TLS) or locks the user name (logins refused) for `banTime` seconds. A score
 * decays to zero after `resetTime` seconds without new points. Allow-listed addresses never
 * collect points.
 *
 * This is the one store of bans (DESIGN.md §5); `ctl bans` and the metrics read it.
 */
import { cidrContains, parseIpv4, type Ipv4Cidr } from '../protocol/ipv4.js';
import type { GatewayEvent, GatewayEventBody } from './ops/events.js';
import { addressKey } from './address-key.js';

export interface BanPoints {
  password: number;
  cookie: number;
  malformed: number;
  connection: number;
}
export type PointReason = keyof BanPoints;

export interface BanPolicy {
  /** address score that triggers a ban */
  maxScore: number;
  /** user-name score that locks the name; 0 = never */
  userMaxScore: number;
  /** seconds without new points after which a score is forgotten */
  resetTime: number;
  /** seconds a ban or lock lasts */
  banTime: number;
  points: BanPoints;
  allow: Ipv4Cidr[];
}

export interface BanEntry {
  kind: 'address' | 'user';
  key: string;
  score: number;
  /** ms since the epoch, 0 when not banned */
  bannedUntil: number;
}

interface Entry {
  score: number;
  lastAt: number;
  bannedUntil: number;
}

/**
 * Past this many tracked keys, the oldest unbanned ones are forgotten (a spray must not eat
 * memory). User names are validated (at most 64 characters) before they get here; when a map is
 * full of live bans, a new key is not tracked at all rather than growing the map.
 */
const MAX_ENTRIES = 100_000;
/** Longest pause before answering a failed login (slows guessing, harmless to people). */
const MAX_DELAY_MS = 2000;

/**
 * The per-address key (address-key.ts): "::ffff:10.0.0.1" and "10.0.0.1" are one address, and
 * an IPv6 /64 is one address.
 */
export const normalizeAddr = addressKey;

export class BanGuard {
  private readonly byAddr = new Map<string, Entry>();
  private readonly byUser = new Map<string, Entry>();
  /**
   * false on workers 1..n-1 of several (workers > 1): worker 0 scores every worker's events and
   * decides the bans for the whole gateway (they reach this worker through the store, restore());
   * this guard keeps its own scores only for the pause before a failed login's answer (delayFor).
   */
  decides = true;

  constructor(
    private policy: BanPolicy,
    private readonly emit: (ev: GatewayEventBody) => void = () => undefined,
    private readonly now: () => number = Date.now,
    private readonly maxEntries: number = MAX_ENTRIES,
  ) {}

  /** A reload: new limits and allow-list apply from now on; scores and bans are kept. */
  setPolicy(p: BanPolicy): void {
    this.policy = p;
  }

  isAllowListed(addr: string): boolean {
    const a = parseIpv4(normalizeAddr(addr));
    return a !== null && this.policy.allow.some((c) => cidrContains(c, a));
  }

  /** ms left on the address's ban, or 0 */
  bannedFor(addr: string): number {
    return this.left(this.byAddr.get(normalizeAddr(addr)));
  }

  /** ms left on the user name's lock, or 0 */
  userLockedFor(user: string): number {
    return this.left(this.byUser.get(user));
  }

  /** Adds the points of one offence (or of `times` of them); true if this made a ban. */
  addPoints(addr: string, reason: PointReason, user?: string, times = 1): boolean {
    // `times` offences at once (workers > 1: a report of several connections) score as many
    // points in one step; a ban they reach starts the count again from zero, as one at a time would.
    const pts = this.policy.points[reason] * times;
    if (pts <= 0 || this.isAllowListed(addr)) return false;
    let banned = this.bump(this.byAddr, 'address', normalizeAddr(addr), pts, this.policy.maxScore);
    if (user && this.policy.userMaxScore > 0) banned = this.bump(this.byUser, 'user', user, pts, this.policy.userMaxScore) || banned;
    return banned;
  }

  /** Maps gateway events to points: the one place that decides what an offence costs. */
  readonly observe = (ev: GatewayEvent): void => {
    if (ev.type === 'auth-failure') {
      if (ev.reason === 'bad-credentials' || ev.reason === 'group-not-allowed') this.addPoints(ev.remote, 'password', ev.user);
      else if (ev.reason === 'bad-cookie') this.addPoints(ev.remote, 'cookie');
    } else if (ev.type === 'bad-request') {
      this.addPoints(ev.remote, 'malformed');
    }
  };

  /** The pause before answering a failed login: longer the closer the address is to a ban. */
  delayFor(addr: string): number {
    const e = this.byAddr.get(normalizeAddr(addr));
    if (!e || this.policy.maxScore <= 0) return 0;
    return Math.min(MAX_DELAY_MS, Math.round((MAX_DELAY_MS * this.score(e)) / this.policy.maxScore));
  }

  /** A good login clears the user name's score (the address keeps its own). */
  succeed(_addr: string, user: string): void {
    const e = this.byUser.get(user);
    if (e && e.bannedUntil <= this.now()) this.byUser.delete(user);
  }

  /** Ends a ban early (`ctl unban`); true if there was a ban or a score. */
  unban(key: string, kind: 'address' | 'user' = 'address'): boolean {
    const map = kind === 'address' ? this.byAddr : this.byUser;
    const k = kind === 'address' ? normalizeAddr(key) : key;
    const had = map.delete(k);
    if (had) this.emit({ type: 'unban', kind, key: k, by: 'admin' });
    return had;
  }

  /**
   * A ban made before a restart or elsewhere (another worker or node, through the store): it
   * holds here until `until` (ms). No event: it is not a new ban. False when it is already over.
   */
  restore(kind: 'address' | 'user', key: string, until: number): boolean {
    if (until <= this.now()) return false;
    const map = kind === 'address' ? this.byAddr : this.byUser;
    const k = kind === 'address' ? normalizeAddr(key) : key;
    const e = map.get(k);
    if (e) {
      e.bannedUntil = Math.max(e.bannedUntil, until);
      // After the ban the count starts again from zero (as bump does for a ban decided here).
      e.score = 0;
    } else {
      if (map.size >= this.maxEntries) this.evict(map);
      map.set(k, { score: 0, lastAt: this.now(), bannedUntil: until });
    }
    return true;
  }

  /** Forgets expired bans and decayed scores (slow timer). */
  sweep(): void {
    const now = this.now();
    for (const [kind, map] of [['address', this.byAddr], ['user', this.byUser]] as const) {
      for (const [key, e] of map) {
        const expired = e.bannedUntil > 0 && e.bannedUntil <= now;
        if (expired) this.emit({ type: 'unban', kind, key, by: 'expiry' });
        if ((e.bannedUntil === 0 || expired) && this.score(e) === 0) map.delete(key);
        else if (expired) e.bannedUntil = 0;
      }
    }
  }

  /** Current bans; with `scores`, also keys that have points but no ban yet. */
  list(scores = false): BanEntry[] {
    const now = this.now();
    const out: BanEntry[] = [];
    for (const [kind, map] of [['address', this.byAddr], ['user', this.byUser]] as const) {
      for (const [key, e] of map) {
        const banned = e.bannedUntil > now;
        const score = this.score(e);
        if (banned || (scores && score > 0)) out.push({ kind, key, score, bannedUntil: banned ? e.bannedUntil : 0 });
      }
    }
    return out.sort((a, b) => b.bannedUntil - a.bannedUntil || b.score - a.score);
  }

  /** Keys tracked (scores and bans), per map: bounded by `maxEntries` each. */
  tracked(): { address: number; user: number } {
    return { address: this.byAddr.size, user: this.byUser.size };
  }

  counts(): { address: number; user: number } {
    const now = this.now();
    let address = 0;
    let user = 0;
    for (const e of this.byAddr.values()) if (e.bannedUntil > now) address++;
    for (const e of this.byUser.values()) if (e.bannedUntil > now) user++;
    return { address, user };
  }

  private left(e: Entry | undefined): number {
    if (!e) return 0;
    const left = e.bannedUntil - this.now();
    return left > 0 ? left : 0;
  }

  /** The score as of now: zero once resetTime passed without new points. */
  private score(e: Entry): number {
    return this.now() - e.lastAt >= this.policy.resetTime * 1000 ? 0 : e.score;
  }

  private bump(map: Map<string, Entry>, kind: 'address' | 'user', key: string, pts: number, max: number): boolean {
    const now = this.now();
    let e = map.get(key);
    if (!e) {
      if (map.size >= this.maxEntries) this.evict(map);
      if (map.size >= this.maxEntries) return false; // all live bans: the address score still counts
      e = { score: 0, lastAt: now, bannedUntil: 0 };
      map.set(key, e);
    }
    if (e.bannedUntil > now) return false; // already banned: the ban is not prolonged
    e.score = this.score(e) + pts;
    e.lastAt = now;
    if (max <= 0 || e.score < max || !this.decides) return false;
    const score = e.score;
    e.bannedUntil = now + this.policy.banTime * 1000;
    // After the ban the count starts again from zero.
    e.score = 0;
    this.emit({ type: 'ban', kind, key, seconds: this.policy.banTime, score });
    return true;
  }

  private evict(map: Map<string, Entry>): void {
    const now = this.now();
    // Maps iterate in insertion order: the first unbanned entries are the oldest.
    let drop = Math.ceil(this.maxEntries / 10);
    for (const [key, e] of map) {
      if (drop <= 0) break;
      if (e.bannedUntil <= now) {
        map.delete(key);
        drop--;
      }
    }
  }
}
