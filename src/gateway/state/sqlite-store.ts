/**
 * The StateStore in an SQLite file (better-sqlite3): the default on one machine. The privileged
 * process opens it before the network process starts (priv/parent.ts) and is its only writer;
 * `sslgate ctl restart` and a start after `kill -9` open the same file and find every session.
 *
 * Durability: WAL journal with synchronous=NORMAL. A committed transaction survives the process
 * being killed (it is in the WAL file, which the next open replays); only an OS crash or power
 * loss may lose the last transactions (https://www.sqlite.org/pragma.html#pragma_synchronous).
 * The gateway writes on events (login, tunnel up/down, end, ban) and on accounting checkpoints,
 * never per packet, so this is cheap.
 *
 * Cookies are never stored: sessions are keyed by the hex SHA-256 of the cookie (types.ts).
 * Leases: one row per (pool, address), unique by PRIMARY KEY, and one per (pool, holder), unique
 * by constraint, taken inside an IMMEDIATE transaction: no address can go to two holders even if
 * two processes open the file.
 */
import { closeSync, existsSync, openSync, constants } from 'node:fs';
import Database from 'better-sqlite3';
import { leasable, poolRange, type PoolRange } from '../ip-pool.js';
import type { BanRecord, PoolRef, SessionRecord, StateStore } from './types.js';
import { decodeSession, StoreDataError, warnBadRecord, type BadRecordHandler } from './session-codec.js';

/** The schema this code writes; a file with a higher version was made by a newer sslgate. */
export const SCHEMA_VERSION = 1;

/** The file's name inside the state folder. */
export const STATE_DB_FILE = 'sessions.db';

/** A session database that cannot be used: the message names the file and the way out. */
export class StateStoreError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'StateStoreError';
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  cookie_hash TEXT PRIMARY KEY CHECK (length(cookie_hash) = 64),
  id INTEGER NOT NULL UNIQUE,
  user TEXT NOT NULL,
  record TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
  pool TEXT NOT NULL,
  address INTEGER NOT NULL,
  holder TEXT NOT NULL,
  PRIMARY KEY (pool, address),
  UNIQUE (pool, holder)
);
CREATE TABLE IF NOT EXISTS pool_cursor (pool TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bans (
  kind TEXT NOT NULL CHECK (kind IN ('address', 'user')),
  key TEXT NOT NULL,
  until INTEGER NOT NULL,
  PRIMARY KEY (kind, key)
);
`;

/** The way out printed with every "cannot use this file" error. */
export function resetAdvice(file: string): string {
  return (
    `To start with an empty session database (every user logs in again), run ` +
    `'sslgate serve --reset-state' once (it moves ${file} aside to ${file}.broken-<time>, it deletes nothing), ` +
    `or move the file away yourself; or restore it from a backup.`
  );
}

function errText(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err.code ? `${err.message ?? String(e)} [${err.code}]` : (err.message ?? String(e));
}

export class SqliteStore implements StateStore {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly ranges = new Map<string, PoolRange>();
  private readonly stmt;
  private readonly leaseTx: (pool: PoolRef, holder: string, hint: number | undefined) => number | null;

  /** Opens (creating if missing) and checks `file`. Throws StateStoreError naming the file. */
  /** `onBadRecord`: told of a row listSessions skips because it fails decodeSession (session-codec.ts). */
  constructor(
    readonly file: string,
    private readonly onBadRecord: BadRecordHandler = warnBadRecord,
  ) {
    if (!existsSync(file)) {
      // Created 0600 before SQLite opens it: the -wal and -shm files take the same mode.
      closeSync(openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
    }
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: true });
    } catch (e) {
      throw new StateStoreError(`cannot open the session database ${file}: ${errText(e)}. ${resetAdvice(file)}`, file);
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // Another process holding the write lock (a restart overlapping the old process) waits.
      db.pragma('busy_timeout = 5000');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      db.exec(SCHEMA);
      const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
      if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION);
      else if (row.version > SCHEMA_VERSION) {
        db.close();
        throw new StateStoreError(
          `the session database ${file} has schema version ${row.version}, made by a newer sslgate (this one knows version ${SCHEMA_VERSION}); run the newer sslgate, or ${resetAdvice(file)}`,
          file,
        );
      }
    } catch (e) {
      if (e instanceof StateStoreError) throw e;
      if (db.open) db.close();
      throw new StateStoreError(`the session database ${file} is unreadable: ${errText(e)}. ${resetAdvice(file)}`, file);
    }
    this.db = db;
    this.stmt = {
      nextId: db.prepare("INSERT INTO counters (name, value) VALUES ('session-id', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"),
      raiseId: db.prepare("INSERT INTO counters (name, value) VALUES ('session-id', @id) ON CONFLICT (name) DO UPDATE SET value = max(value, @id)"),
      put: db.prepare('INSERT INTO sessions (cookie_hash, id, user, record, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (cookie_hash) DO UPDATE SET id = excluded.id, user = excluded.user, record = excluded.record, updated_at = excluded.updated_at'),
      get: db.prepare('SELECT record FROM sessions WHERE cookie_hash = ?'),
      del: db.prepare('DELETE FROM sessions WHERE cookie_hash = ?'),
      list: db.prepare('SELECT cookie_hash, record FROM sessions ORDER BY id'),
      heldBy: db.prepare('SELECT address FROM leases WHERE pool = ? AND holder = ?'),
      used: db.prepare('SELECT address FROM leases WHERE pool = ?'),
      take: db.prepare('INSERT INTO leases (pool, address, holder) VALUES (?, ?, ?)'),
      release: db.prepare('DELETE FROM leases WHERE pool = ? AND holder = ?'),
      cursor: db.prepare('SELECT next FROM pool_cursor WHERE pool = ?'),
      setCursor: db.prepare('INSERT INTO pool_cursor (pool, next) VALUES (?, ?) ON CONFLICT (pool) DO UPDATE SET next = excluded.next'),
      putBan: db.prepare('INSERT INTO bans (kind, key, until) VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET until = excluded.until'),
      delBan: db.prepare('DELETE FROM bans WHERE kind = ? AND key = ?'),
      listBans: db.prepare('SELECT kind, key, until FROM bans WHERE until > ?'),
      dropExpiredBans: db.prepare('DELETE FROM bans WHERE until <= ?'),
    };
    // IMMEDIATE: the write lock is taken first, so the "is it free" reads and the insert are one step.
    this.leaseTx = db.transaction((pool: PoolRef, holder: string, hint: number | undefined) => this.leaseNow(pool, holder, hint)).immediate;
  }

  /** Every call runs synchronously; errors (SQLITE_FULL on a full disk ...) become a rejection. */
  private run<T>(f: () => T): Promise<T> {
    try {
      return Promise.resolve(f());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  nextSessionId(): Promise<number> {
    return this.run(() => (this.stmt.nextId.get() as { value: number }).value);
  }

  putSession(r: SessionRecord): Promise<void> {
    return this.run(() => {
      this.db.transaction(() => {
        this.stmt.put.run(r.cookieHash, r.id, r.user, JSON.stringify(r), Date.now());
        // An id given from outside (a record written by another process) is never handed out again.
        this.stmt.raiseId.run({ id: r.id });
      })();
    });
  }

  getSession(cookieHash: string): Promise<SessionRecord | null> {
    return this.run(() => {
      const row = this.stmt.get.get(cookieHash) as { record: string } | undefined;
      // A row another program or a tamperer wrote wrongly is a StoreDataError, never a bogus session.
      return row ? decodeSession(row.record, this.where(cookieHash)) : null;
    });
  }

  deleteSession(cookieHash: string): Promise<void> {
    return this.run(() => void this.stmt.del.run(cookieHash));
  }

  listSessions(): Promise<SessionRecord[]> {
    return this.run(() => {
      const out: SessionRecord[] = [];
      for (const row of this.stmt.list.all() as Array<{ cookie_hash: string; record: string }>) {
        // One bad row is skipped and named; the other sessions still list (and survive the restart).
        try {
          out.push(decodeSession(row.record, this.where(row.cookie_hash)));
        } catch (e) {
          if (!(e instanceof StoreDataError)) throw e;
          this.onBadRecord(e.message);
        }
      }
      return out;
    });
  }

  /** A row's name in errors: the file and the first characters of its key. */
  private where(cookieHash: string): string {
    return `${this.file} session ${String(cookieHash).slice(0, 16)}`;
  }

  /** ip-pool.ts's range: the same addresses as in memory. */
  private range(cidr: string): PoolRange {
    let r = this.ranges.get(cidr);
    if (!r) {
      r = poolRange(cidr);
      this.ranges.set(cidr, r);
    }
    return r;
  }

  private leaseNow(pool: PoolRef, holder: string, hint: number | undefined): number | null {
    const key = pool.cidr;
    const have = this.stmt.heldBy.get(key, holder) as { address: number } | undefined;
    if (have) return have.address;
    const r = this.range(key);
    const used = new Set((this.stmt.used.all(key) as Array<{ address: number }>).map((x) => x.address));
    const free = (a: number): boolean => leasable(r, a) && !used.has(a);
    if (hint !== undefined && free(hint)) {
      this.stmt.take.run(key, hint, holder);
      return hint;
    }
    const cur = this.stmt.cursor.get(key) as { next: number } | undefined;
    let a = cur && cur.next >= r.first && cur.next <= r.last ? cur.next : r.first;
    const span = r.last - r.first + 1;
    for (let i = 0; i < span; i++) {
      const next = a >= r.last ? r.first : a + 1;
      if (free(a)) {
        this.stmt.take.run(key, a, holder);
        this.stmt.setCursor.run(key, next);
        return a;
      }
      a = next;
    }
    return null;
  }

  lease(pool: PoolRef, holder: string, hint?: number): Promise<number | null> {
    return this.run(() => this.leaseTx(pool, holder, hint));
  }

  leasedTo(pool: PoolRef, holder: string): Promise<number | null> {
    return this.run(() => (this.stmt.heldBy.get(pool.cidr, holder) as { address: number } | undefined)?.address ?? null);
  }

  release(pool: PoolRef, holder: string): Promise<void> {
    return this.run(() => void this.stmt.release.run(pool.cidr, holder));
  }

  putBan(b: BanRecord): Promise<void> {
    return this.run(() => void this.stmt.putBan.run(b.kind, b.key, b.until));
  }

  deleteBan(kind: BanRecord['kind'], key: string): Promise<void> {
    return this.run(() => void this.stmt.delBan.run(kind, key));
  }

  listBans(): Promise<BanRecord[]> {
    return this.run(() => {
      const now = Date.now();
      this.stmt.dropExpiredBans.run(now);
      return this.stmt.listBans.all(now) as BanRecord[];
    });
  }

  close(): Promise<void> {
    return this.run(() => {
      if (this.db.open) this.db.close();
    });
  }
}
