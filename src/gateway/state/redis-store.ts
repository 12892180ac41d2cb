/**
 * The StateStore of a cluster (config `cluster: { redis: ... }`): every node's privileged process
 * opens one, and they share sessions, address leases and bans through one Redis. It is also the
 * cluster's ClusterBus: the node registry (each node's load, refreshed with a TTL) and a pub/sub
 * channel for what every node must act on at once (bans, sessions that moved).
 *
 * Keys (all under `prefix`, default "sslgate:"):
 *   session-id                    INCR counter: cluster-unique session ids
 *   session:<cookieHash>          JSON SessionRecord, PX = the reconnect window (session-expiry.ts)
 *   sessions                      SET of cookie hashes (listSessions; pruned of expired records)
 *   lease:<cidr>:addr / :holder   HASHes address -> holder and holder -> address, one pair per pool
 *   lease:<cidr>:cursor           where the next free-address search starts
 *   lease-pool                    HASH holder -> pool key (the reaper frees leases of vanished sessions)
 *   bans                          ZSET "kind:key" scored by the ban's end (ms)
 *   node:<name>                   JSON NodeInfo, PX = nodeTtlMs;  nodes: SET of names
 *   events                        pub/sub channel of ClusterEvents (JSON)
 *
 * Redis down: commands fail at once with StoreUnavailableError (no offline queue: a login must
 * not hang on a queue that may never drain) while ioredis keeps reconnecting; `onAvailability`
 * tells the gateway when Redis goes and comes back. Every write is one atomic command or script,
 * so a Redis that dies mid-way leaves either the old or the new state, never half of one.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { createHash } from 'node:crypto';
import type { ClusterBus, ClusterEvent, NodeInfo } from './cluster-types.js';
import { leasable, poolRange } from '../ip-pool.js';
import { CAS_SESSION, LEASE, PUT_SESSION, RELEASE } from './redis-scripts.js';
import { redactedUrl } from './redacted-url.js';
import { decodeSession, encodeSession, StoreDataError, warnBadRecord, type BadRecordHandler } from './session-codec.js';
import { sessionTtlMs } from './session-expiry.js';
import type { BanRecord, PoolRef, SessionRecord, StateStore } from './types.js';

/** Redis cannot be reached (or did not answer in time): the operation did not happen. */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

export interface RedisStoreOptions {
  /** redis://[user:pass@]host:port[/db] (cluster.redis) */
  url: string;
  /** this node's name (cluster.node): event origin, registry entry */
  node: string;
  /** the reconnect window (cookie-timeout) in ms: how long a record outlives its tunnel */
  reconnectWindowMs: number;
  /** key prefix (tests use one per run) */
  prefix?: string;
  /**
   * Kept this long past the reconnect window (default 2 min): a gateway's sweep ends such
   * sessions first (store delete, accounting Stop); Redis expiring them is the backstop for a
   * cluster that lost every node.
   */
  ttlSlackMs?: number;
  /** a node entry not refreshed within this is gone (default 15 s) */
  nodeTtlMs?: number;
  /** a command not answered within this fails (default 2 s) */
  commandTimeoutMs?: number;
  /** how long open() waits for the first connection (default 5 s) */
  connectTimeoutMs?: number;
  /** a record that listSessions skips because it fails decodeSession (default: a line on stderr) */
  onBadRecord?: BadRecordHandler;
}

/** Session records read per MGET. */
const BATCH = 500;

export { redactedUrl };


function isEvent(v: unknown): v is ClusterEvent {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  if (typeof o['origin'] !== 'string') return false;
  switch (o['type']) {
    case 'ban': {
      const b = o['ban'] as Record<string, unknown> | null;
      return typeof b === 'object' && b !== null && (b['kind'] === 'address' || b['kind'] === 'user') && typeof b['key'] === 'string' && typeof b['until'] === 'number';
    }
    case 'unban':
      return (o['kind'] === 'address' || o['kind'] === 'user') && typeof o['key'] === 'string';
    case 'session-moved':
      return typeof o['cookieHash'] === 'string' && typeof o['from'] === 'string' && typeof o['to'] === 'string';
    case 'session-ended':
      return typeof o['cookieHash'] === 'string';
    default:
      return false;
  }
}

export class RedisStore implements StateStore, ClusterBus {
  readonly kind = 'redis' as const;
  readonly node: string;
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly p: string;
  private readonly windowMs: number;
  private readonly slackMs: number;
  private readonly nodeTtlMs: number;
  private readonly where: string;
  private readonly listeners = new Set<(ev: ClusterEvent) => void>();
  private readonly availability = new Set<(up: boolean, err?: string) => void>();
  private readonly shas = new Map<string, string>();
  private up = false;
  private closed = false;

  private readonly onBadRecord: BadRecordHandler;

  private constructor(o: RedisStoreOptions) {
    this.node = o.node;
    this.p = o.prefix ?? 'sslgate:';
    this.windowMs = o.reconnectWindowMs;
    this.slackMs = o.ttlSlackMs ?? 120_000;
    this.nodeTtlMs = o.nodeTtlMs ?? 15_000;
    this.where = `Redis at ${redactedUrl(o.url)}`;
    this.onBadRecord = o.onBadRecord ?? warnBadRecord;
    const common: RedisOptions = {
      lazyConnect: true,
      connectTimeout: o.connectTimeoutMs ?? 5000,
      // Reconnect for ever, at most every 2 s: Redis coming back must be noticed.
      retryStrategy: (times: number) => Math.min(times * 200, 2000),
      connectionName: `sslgate-${o.node}`,
    };
    this.redis = new Redis(o.url, {
      ...common,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: o.commandTimeoutMs ?? 2000,
    });
    // The subscriber keeps its queue: SUBSCRIBE is re-sent by ioredis after a reconnect.
    this.sub = new Redis(o.url, { ...common });
    this.redis.on('ready', () => this.setUp(true));
    this.redis.on('error', (e: Error) => this.setUp(false, e.message));
    // 'close' comes on every lost connection (a restarted Redis may come back before any error).
    this.redis.on('close', () => this.setUp(false, 'connection closed'));
    this.redis.on('end', () => this.setUp(false, 'connection closed'));
    this.sub.on('error', () => undefined); // the command connection reports the outage
    this.sub.on('message', (_ch: string, text: string) => this.onMessage(text));
  }

  /** Connects; throws StoreUnavailableError naming the URL when Redis does not answer. */
  static async open(o: RedisStoreOptions): Promise<RedisStore> {
    const s = new RedisStore(o);
    // connect() rejects with "Connection is closed."; the error event before it says why (ECONNREFUSED ...).
    let cause = '';
    const onError = (e: Error): void => {
      cause ||= e.message;
    };
    s.redis.on('error', onError);
    try {
      await s.redis.connect();
      await s.sub.connect();
      await s.sub.subscribe(`${s.p}events`);
    } catch (e) {
      s.redis.disconnect();
      s.sub.disconnect();
      throw new StoreUnavailableError(`cannot reach ${s.where}: ${(cause || (e as Error).message).replace(/\.$/, '')}`);
    } finally {
      s.redis.off('error', onError);
    }
    return s;
  }

  /** Redis went away (up=false, with the error) or came back; called on changes only. */
  onAvailability(fn: (up: boolean, err?: string) => void): () => void {
    this.availability.add(fn);
    return () => this.availability.delete(fn);
  }

  get available(): boolean {
    return this.up;
  }

  private setUp(up: boolean, err?: string): void {
    if (this.closed || up === this.up) return;
    this.up = up;
    for (const fn of this.availability) fn(up, err);
  }

  /** Runs a command, turning connection failures into StoreUnavailableError. */
  private async run<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof StoreDataError) throw e;
      const msg = (e as Error).message;
      // Redis answered with an error (a script bug, a wrong type): not an outage.
      if (/^(ERR|WRONGTYPE|NOSCRIPT|BUSY|OOM|READONLY)/.test(msg)) throw new Error(`${this.where}: ${what}: ${msg}`);
      throw new StoreUnavailableError(`${this.where} is unavailable (${what}: ${msg})`);
    }
  }

  /** EVALSHA, loading the script on the first use (and again after a Redis restart: NOSCRIPT). */
  private async script(lua: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    let sha = this.shas.get(lua);
    if (!sha) {
      sha = createHash('sha1').update(lua).digest('hex');
      this.shas.set(lua, sha);
    }
    try {
      return await this.redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!/NOSCRIPT/.test((e as Error).message)) throw e;
      return this.redis.eval(lua, keys.length, ...keys, ...args);
    }
  }

  private sessionKey(cookieHash: string): string {
    return `${this.p}session:${cookieHash}`;
  }

  private poolKeys(pool: PoolRef): { addr: string; holder: string; cursor: string; id: string } {
    const id = `${this.p}lease:${pool.cidr}`;
    return { addr: `${id}:addr`, holder: `${id}:holder`, cursor: `${id}:cursor`, id };
  }

  // ------------------------------------------------------------------ sessions

  nextSessionId(): Promise<number> {
    return this.run('nextSessionId', () => this.redis.incr(`${this.p}session-id`));
  }

  private ttlOf(r: SessionRecord, now: number): number | '' {
    const ttl = sessionTtlMs(r, this.windowMs, now);
    return ttl === null ? '' : ttl + this.slackMs;
  }

  async putSession(r: SessionRecord): Promise<void> {
    const ttl = this.ttlOf(r, Date.now());
    const old = (await this.run('putSession', () =>
      this.script(PUT_SESSION, [this.sessionKey(r.cookieHash), `${this.p}sessions`, `${this.p}session-id`], [encodeSession(r), ttl, r.cookieHash, r.id]),
    )) as string | null;
    if (old === null) return;
    // Another node held the session's tunnel: tell it to let go (a client that reconnected
    // elsewhere, e.g. after the VIP moved or a drain). Its record is ours now.
    let prev: SessionRecord;
    try {
      prev = decodeSession(old, this.sessionKey(r.cookieHash));
    } catch {
      return;
    }
    if (prev.node !== r.node && r.node === this.node) {
      await this.publish({ type: 'session-moved', origin: this.node, cookieHash: r.cookieHash, from: prev.node, to: r.node }).catch(() => undefined);
    }
  }

  async getSession(cookieHash: string): Promise<SessionRecord | null> {
    const key = this.sessionKey(cookieHash);
    const text = await this.run('getSession', () => this.redis.get(key));
    return text === null ? null : decodeSession(text, key);
  }

  async deleteSession(cookieHash: string): Promise<void> {
    await this.run('deleteSession', () => this.redis.multi().del(this.sessionKey(cookieHash)).srem(`${this.p}sessions`, cookieHash).exec());
  }

  /** Every live record, in id order. */
  /**
   * Deletes the record if it is still there; true for the one caller that deleted it (several
   * nodes may sweep the sessions of a dead node: one of them sends the accounting Stop).
   */
  async claimSession(cookieHash: string): Promise<boolean> {
    const res = await this.run('claimSession', () => this.redis.multi().del(this.sessionKey(cookieHash)).srem(`${this.p}sessions`, cookieHash).exec());
    return res?.[0]?.[1] === 1;
  }

  async listSessions(): Promise<SessionRecord[]> {
    return (await this.readAll()).map((x) => x.record).sort((a, b) => a.id - b.id);
  }

  /** Every live record with its stored text (the reaper's compare-and-set needs it). */
  private async readAll(): Promise<Array<{ record: SessionRecord; text: string }>> {
    const hashes = await this.run('listSessions', () => this.redis.smembers(`${this.p}sessions`));
    const out: Array<{ record: SessionRecord; text: string }> = [];
    const gone: string[] = [];
    for (let i = 0; i < hashes.length; i += BATCH) {
      const chunk = hashes.slice(i, i + BATCH);
      const texts = await this.run('listSessions', () => this.redis.mget(...chunk.map((h) => this.sessionKey(h))));
      chunk.forEach((h, j) => {
        const t = texts[j];
        if (t === null || t === undefined) gone.push(h);
        else {
          // One bad value (another program's, a tamperer's) is skipped and named; the others still list.
          try {
            out.push({ record: decodeSession(t, this.sessionKey(h)), text: t });
          } catch (e) {
            if (!(e instanceof StoreDataError)) throw e;
            this.onBadRecord(e.message);
          }
        }
      });
    }
    // Expired records leave their index entry behind; drop it (harmless if one came back).
    if (gone.length) await this.run('listSessions', () => this.redis.srem(`${this.p}sessions`, ...gone));
    return out;
  }

  // ------------------------------------------------------------------ leases

  async lease(pool: PoolRef, holder: string, hint?: number): Promise<number | null> {
    const r = poolRange(pool.cidr);
    const k = this.poolKeys(pool);
    const h = hint !== undefined && leasable(r, hint) ? String(hint) : '';
    const a = await this.run('lease', () => this.script(LEASE, [k.addr, k.holder, k.cursor, `${this.p}lease-pool`], [holder, r.first, r.last, r.own, h, k.id]));
    return a === null ? null : Number(a);
  }

  async leasedTo(pool: PoolRef, holder: string): Promise<number | null> {
    const a = await this.run('leased-to', () => this.redis.hget(this.poolKeys(pool).holder, holder));
    return a === null ? null : Number(a);
  }

  async release(pool: PoolRef, holder: string): Promise<void> {
    const k = this.poolKeys(pool);
    await this.run('release', () => this.script(RELEASE, [k.addr, k.holder, `${this.p}lease-pool`], [holder]));
  }

  /** Every lease of a pool, address -> holder (tests, `ctl`). */
  async leases(pool: PoolRef): Promise<Map<number, string>> {
    const all = await this.run('leases', () => this.redis.hgetall(this.poolKeys(pool).addr));
    return new Map(Object.entries(all).map(([a, h]) => [Number(a), h]));
  }

  // ------------------------------------------------------------------ bans

  async putBan(b: BanRecord): Promise<void> {
    await this.run('putBan', () => this.redis.zadd(`${this.p}bans`, b.until, `${b.kind}:${b.key}`));
    await this.publish({ type: 'ban', origin: this.node, ban: b }).catch(() => undefined);
  }

  async deleteBan(kind: BanRecord['kind'], key: string): Promise<void> {
    await this.run('deleteBan', () => this.redis.zrem(`${this.p}bans`, `${kind}:${key}`));
    await this.publish({ type: 'unban', origin: this.node, kind, key }).catch(() => undefined);
  }

  async listBans(): Promise<BanRecord[]> {
    const now = Date.now();
    const k = `${this.p}bans`;
    const res = await this.run('listBans', () => this.redis.multi().zremrangebyscore(k, '-inf', now).zrange(k, 0, -1, 'WITHSCORES').exec());
    const flat = (res?.[1]?.[1] ?? []) as string[];
    const out: BanRecord[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const m = /^(address|user):(.*)$/s.exec(flat[i]!);
      if (m) out.push({ kind: m[1] as BanRecord['kind'], key: m[2]!, until: Number(flat[i + 1]) });
    }
    return out;
  }

  // ------------------------------------------------------------------ nodes and events

  async announce(info: NodeInfo): Promise<void> {
    await this.run('announce', () =>
      this.redis.multi().set(`${this.p}node:${info.node}`, JSON.stringify(info), 'PX', this.nodeTtlMs).sadd(`${this.p}nodes`, info.node).exec(),
    );
  }

  async withdraw(): Promise<void> {
    await this.run('withdraw', () => this.redis.multi().del(`${this.p}node:${this.node}`).srem(`${this.p}nodes`, this.node).exec());
  }

  async listNodes(): Promise<NodeInfo[]> {
    const names = await this.run('listNodes', () => this.redis.smembers(`${this.p}nodes`));
    if (names.length === 0) return [];
    const texts = await this.run('listNodes', () => this.redis.mget(...names.map((n) => `${this.p}node:${n}`)));
    const out: NodeInfo[] = [];
    const gone: string[] = [];
    names.forEach((n, i) => {
      const t = texts[i];
      if (t === null || t === undefined) gone.push(n);
      else {
        try {
          out.push(JSON.parse(t) as NodeInfo);
        } catch {
          gone.push(n);
        }
      }
    });
    if (gone.length) await this.run('listNodes', () => this.redis.srem(`${this.p}nodes`, ...gone));
    return out.sort((a, b) => a.node.localeCompare(b.node));
  }

  async publish(ev: ClusterEvent): Promise<void> {
    await this.run('publish', () => this.redis.publish(`${this.p}events`, JSON.stringify(ev)));
  }

  onEvent(fn: (ev: ClusterEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private onMessage(text: string): void {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return;
    }
    if (!isEvent(v) || v.origin === this.node) return;
    for (const fn of this.listeners) fn(v);
  }

  // ------------------------------------------------------------------ reaper

  /**
   * What dead nodes leave behind, fixed by any live node (idempotent, safe to run on several):
   *   - a session whose tunnel was on a node that is gone counts as disconnected from now on,
   *     so its reconnect window starts (and its record then expires with it);
   *   - a lease whose session record is gone (expired or deleted without a release) is freed.
   * `liveNodes`: names from listNodes(). Returns what it changed.
   */
  async reap(liveNodes: Set<string>, now = Date.now()): Promise<{ orphaned: number; freed: number }> {
    let orphaned = 0;
    for (const { record, text } of await this.readAll()) {
      if (record.disconnectedAt !== null || liveNodes.has(record.node)) continue;
      const next: SessionRecord = { ...record, disconnectedAt: now };
      const ttl = this.ttlOf(next, now);
      const ok = await this.run('reap', () => this.script(CAS_SESSION, [this.sessionKey(record.cookieHash)], [text, encodeSession(next), ttl]));
      if (ok === 1) orphaned++;
    }
    let freed = 0;
    const holders = await this.run('reap', () => this.redis.hgetall(`${this.p}lease-pool`));
    const entries = Object.entries(holders);
    for (let i = 0; i < entries.length; i += BATCH) {
      const chunk = entries.slice(i, i + BATCH);
      const exists = await this.run('reap', () => {
        const m = this.redis.multi();
        for (const [h] of chunk) m.exists(this.sessionKey(h));
        return m.exec();
      });
      for (let j = 0; j < chunk.length; j++) {
        if (exists?.[j]?.[1] === 1) continue;
        const [holder, poolId] = chunk[j]!;
        const k = { addr: `${poolId}:addr`, holder: `${poolId}:holder` };
        const r = await this.run('reap', () => this.script(RELEASE, [k.addr, k.holder, `${this.p}lease-pool`], [holder]));
        if (r === 1) freed++;
      }
    }
    return { orphaned, freed };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.redis.quit(), this.sub.quit()]);
    this.redis.disconnect();
    this.sub.disconnect();
  }
}
