/**
 * The StateStore in this process's memory: unit tests, and the reference the other stores are
 * tested against (test/unit/state-store.test.ts runs one table of cases on every store).
 * Nothing survives the process. Leases use the same IpPool the gateway always used, one per
 * pool subnet (PoolRef.cidr), so two groups sharing a subnet share its addresses.
 */
import { parseIpv4Cidr } from '../../protocol/ipv4.js';
import { IpPool } from '../ip-pool.js';
import type { BanRecord, PoolRef, SessionRecord, StateStore } from './types.js';

/** Records are copied in and out: a caller changing its object must not change the store. */
function copy<T>(v: T): T {
  return structuredClone(v);
}

export class MemoryStore implements StateStore {
  readonly kind = 'memory' as const;
  private lastId = 0;
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly pools = new Map<string, IpPool>();
  private readonly bans = new Map<string, BanRecord>();
  private closed = false;

  private open(): void {
    if (this.closed) throw new Error('the state store is closed');
  }

  nextSessionId(): Promise<number> {
    this.open();
    return Promise.resolve(++this.lastId);
  }

  putSession(r: SessionRecord): Promise<void> {
    this.open();
    this.sessions.set(r.cookieHash, copy(r));
    if (r.id > this.lastId) this.lastId = r.id;
    return Promise.resolve();
  }

  getSession(cookieHash: string): Promise<SessionRecord | null> {
    this.open();
    const r = this.sessions.get(cookieHash);
    return Promise.resolve(r ? copy(r) : null);
  }

  deleteSession(cookieHash: string): Promise<void> {
    this.open();
    this.sessions.delete(cookieHash);
    return Promise.resolve();
  }

  listSessions(): Promise<SessionRecord[]> {
    this.open();
    return Promise.resolve([...this.sessions.values()].map(copy).sort((a, b) => a.id - b.id));
  }

  private pool(p: PoolRef): IpPool {
    let pool = this.pools.get(p.cidr);
    if (!pool) {
      const c = parseIpv4Cidr(p.cidr);
      if (!c) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(p.cidr)}`);
      pool = new IpPool(c);
      this.pools.set(p.cidr, pool);
    }
    return pool;
  }

  lease(pool: PoolRef, holder: string, hint?: number): Promise<number | null> {
    this.open();
    return Promise.resolve(this.pool(pool).lease(holder, hint));
  }

  leasedTo(pool: PoolRef, holder: string): Promise<number | null> {
    this.open();
    const p = this.pools.get(pool.cidr);
    if (!p) return Promise.resolve(null);
    return Promise.resolve(p.addressOf(holder) ?? null);
  }

  release(pool: PoolRef, holder: string): Promise<void> {
    this.open();
    this.pool(pool).release(holder);
    return Promise.resolve();
  }

  putBan(b: BanRecord): Promise<void> {
    this.open();
    this.bans.set(`${b.kind}\n${b.key}`, copy(b));
    return Promise.resolve();
  }

  deleteBan(kind: BanRecord['kind'], key: string): Promise<void> {
    this.open();
    this.bans.delete(`${kind}\n${key}`);
    return Promise.resolve();
  }

  listBans(): Promise<BanRecord[]> {
    this.open();
    const now = Date.now();
    return Promise.resolve([...this.bans.values()].filter((b) => b.until > now).map(copy));
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
