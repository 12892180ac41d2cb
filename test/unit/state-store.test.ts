/**
 * Issue 12: the StateStore table (state-store-cases.ts) against every store, plus what only the
 * SQLite file has: it survives a close and reopen (a restart), it keeps cookies out, and a
 * corrupt or too-new file stops with an error naming the file and the way out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MemoryStore } from '../../src/gateway/state/memory-store.js';
import { SCHEMA_VERSION, SqliteStore, StateStoreError } from '../../src/gateway/state/sqlite-store.js';
import { StoreDataError } from '../../src/gateway/state/session-codec.js';
import type { StateStore } from '../../src/gateway/state/types.js';
import { hashOf, sampleRecord, STORE_CASES } from './state-store-cases.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sslgate-state-'));
}

/** Each store kind: a fresh, empty store and its disposal. RedisStore adds itself here. */
export const STORE_FACTORIES: Array<{ kind: string; open(): Promise<{ store: StateStore; dispose(): Promise<void> }> }> = [
  { kind: 'memory', open: () => Promise.resolve({ store: new MemoryStore(), dispose: () => Promise.resolve() }) },
  {
    kind: 'sqlite',
    open: () => {
      const dir = tempDir();
      const store = new SqliteStore(join(dir, 'sessions.db'));
      return Promise.resolve({
        store,
        dispose: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      });
    },
  },
];

for (const f of STORE_FACTORIES) {
  for (const c of STORE_CASES) {
    test(`${f.kind} store: ${c.name}`, async () => {
      const { store, dispose } = await f.open();
      try {
        await c.run(store);
      } finally {
        await dispose();
      }
    });
  }
}

test('sqlite store: sessions, leases, ids and bans survive a close and reopen', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    let s = new SqliteStore(file);
    const id = await s.nextSessionId();
    const r = sampleRecord({ id, address: 0x0a3c0003 });
    await s.putSession(r);
    const a = await s.lease({ name: 'Employees', cidr: '10.60.0.1/24' }, r.cookieHash, 0x0a3c0003);
    const until = Date.now() + 60_000;
    await s.putBan({ kind: 'address', key: '192.0.2.9', until });
    // No close: a kill -9 does not close either (the WAL holds the commits).
    s = new SqliteStore(file);
    assert.deepEqual(await s.getSession(r.cookieHash), r);
    assert.equal(await s.lease({ name: 'Employees', cidr: '10.60.0.1/24' }, r.cookieHash), a);
    assert.ok((await s.nextSessionId()) > id);
    assert.deepEqual(await s.listBans(), [{ kind: 'address', key: '192.0.2.9', until }]);
    await s.close();
    assert.equal(statSync(file).mode & 0o777, 0o600, 'the database is private to root');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: a tampered row is a clear error when asked for, skipped with a line when listed; never a session', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    const warnings: string[] = [];
    let s = new SqliteStore(file, (m) => warnings.push(m));
    const good = sampleRecord({ id: await s.nextSessionId() });
    const bad = sampleRecord({ cookieHash: hashOf('cookie-b'), id: await s.nextSessionId() });
    const notJson = sampleRecord({ cookieHash: hashOf('cookie-c'), id: await s.nextSessionId() });
    for (const r of [good, bad, notJson]) await s.putSession(r);
    await s.close();
    // Another program edits the file: a user name far beyond any bound, an extra field, and a row that is not JSON.
    const db = new Database(file);
    db.prepare('UPDATE sessions SET record = ? WHERE cookie_hash = ?').run(JSON.stringify({ ...bad, user: 'u'.repeat(5000), shell: 'x' }), bad.cookieHash);
    db.prepare('UPDATE sessions SET record = ? WHERE cookie_hash = ?').run('{"cookieHash":', notJson.cookieHash);
    db.close();
    s = new SqliteStore(file, (m) => warnings.push(m));
    assert.deepEqual(await s.getSession(good.cookieHash), good);
    await assert.rejects(s.getSession(bad.cookieHash), (e: unknown) => e instanceof StoreDataError && e.message.includes(file) && /unexpected key "shell"|field user/.test(e.message));
    await assert.rejects(s.getSession(notJson.cookieHash), (e: unknown) => e instanceof StoreDataError && /not JSON/.test(e.message));
    assert.deepEqual(await s.listSessions(), [good], 'only the good record lists');
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes(bad.cookieHash.slice(0, 16))), 'the line names the row');
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: the cookie itself is nowhere in the file', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    const cookie = 'SECRET-COOKIE-VALUE-0123456789abcdef';
    const s = new SqliteStore(file);
    await s.putSession(sampleRecord({ cookieHash: hashOf(cookie), id: await s.nextSessionId() }));
    await s.lease({ name: 'Employees', cidr: '10.60.0.1/24' }, hashOf(cookie));
    await s.close();
    for (const f of [file, `${file}-wal`]) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f);
      } catch {
        continue;
      }
      assert.equal(bytes.includes(Buffer.from(cookie)), false, `${f} holds the cookie`);
    }
    assert.ok(readFileSync(file).includes(Buffer.from(hashOf(cookie))), 'the hash is the key');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: a corrupt file stops with the file name and the way out, and is left as it was', () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    const junk = Buffer.from('this is not an SQLite database, it was overwritten by accident\n'.repeat(100));
    writeFileSync(file, junk, { mode: 0o600 });
    assert.throws(
      () => new SqliteStore(file),
      (e: unknown) => e instanceof StateStoreError && e.message.includes(file) && /--reset-state/.test(e.message) && /not a database/i.test(e.message),
    );
    assert.deepEqual(readFileSync(file), junk, 'never a silent reset');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: a file made by a newer schema stops with a clear error', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    await new SqliteStore(file).close();
    const db = new Database(file);
    db.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    db.close();
    assert.throws(() => new SqliteStore(file), (e: unknown) => e instanceof StateStoreError && e.message.includes(file) && /newer sslgate/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: two handles on one file never lease one address twice', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sessions.db');
    const a = new SqliteStore(file);
    const b = new SqliteStore(file);
    const pool = { name: 'Employees', cidr: '10.60.0.1/28' };
    const got = new Map<number, string>();
    for (let i = 0; i < 13; i++) {
      const [s, h] = i % 2 ? [a, `a${i}`] : [b, `b${i}`];
      const addr = await s.lease(pool, h);
      assert.notEqual(addr, null);
      assert.equal(got.has(addr!), false, `address ${addr} twice`);
      got.set(addr!, h);
    }
    assert.equal(await a.lease(pool, 'late'), null, '14 hosts less the own address, all out');
    await a.close();
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
