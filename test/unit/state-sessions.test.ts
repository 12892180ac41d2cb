/**
 * Issue 12, the pieces between the gateway and its store:
 *   - `state-*` messages from the network process are validated like every other message from
 *     it (bounded, exact shapes; anything else ends the channel);
 *   - the session cache finds a cookie it does not hold in the store, makes one Session of two
 *     concurrent lookups, and a restored session carries on its traffic totals (accounting);
 *   - the privileged process's sweep and start-up marking of stored sessions;
 *   - bans restored into the BanGuard.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetworkMessage } from '../../src/gateway/priv/messages.js';
import { parseConfigText } from '../../src/gateway/config.js';
import { IpPool } from '../../src/gateway/ip-pool.js';
import { hashCookie, SessionStore } from '../../src/gateway/sessions.js';
import { MemoryStore } from '../../src/gateway/state/memory-store.js';
import { sessionFromRecord, sessionRecordOf } from '../../src/gateway/state/session-record.js';
import { cutByRestart, staleSessions } from '../../src/gateway/state/stale-sessions.js';
import { sessionExpiry, type ExpiryFacts } from '../../src/gateway/state/session-expiry.js';
import { BanGuard } from '../../src/gateway/ban-guard.js';
import { sampleRecord } from './state-store-cases.js';
import { seeded } from '../helpers/seed.js';

const cfg = parseConfigText('network: {address: 10.60.0.1/24}\n', 'test', '/', null);

test('state messages: good shapes pass as they are', () => {
  const record = sampleRecord({ cookieHash: hashCookie('x') });
  const good: unknown[] = [
    { t: 'state-next-id', id: 1 },
    { t: 'state-put', id: 2, record },
    { t: 'state-get', id: 3, cookieHash: record.cookieHash },
    { t: 'state-delete', id: 4, cookieHash: record.cookieHash },
    { t: 'state-list', id: 5 },
    { t: 'state-lease', id: 6, pool: { name: 'default', cidr: '10.60.0.1/24' }, holder: record.cookieHash, hint: 0x0a3c0005 },
    { t: 'state-lease', id: 7, pool: { name: 'default', cidr: '10.60.0.1/24' }, holder: record.cookieHash },
    { t: 'state-release', id: 8, pool: { name: 'default', cidr: '10.60.0.1/24' }, holder: record.cookieHash },
    { t: 'state-ban', id: 9, ban: { kind: 'address', key: '192.0.2.1', until: 1 } },
    { t: 'state-unban', id: 10, kind: 'user', key: 'bob' },
    { t: 'state-bans', id: 11 },
    { t: 'restart' },
  ];
  for (const m of good) assert.deepEqual(parseNetworkMessage(m), m);
});

test('state messages: hostile shapes end the channel', () => {
  const record = sampleRecord({ cookieHash: hashCookie('x') });
  const bad: unknown[] = [
    { t: 'state-next-id' },
    { t: 'state-next-id', id: -1 },
    { t: 'state-list', id: 1, extra: true },
    { t: 'state-get', id: 1, cookieHash: 'not-a-hash' },
    { t: 'state-get', id: 1, cookieHash: 'A'.repeat(64) },
    { t: 'state-put', id: 1, record: { ...record, user: 'u'.repeat(5000) } },
    { t: 'state-put', id: 1, record: { ...record, id: 0 } },
    { t: 'state-put', id: 1, record: { ...record, evil: 1 } },
    { t: 'state-put', id: 1, record: { ...record, attrs: { framedIp: '10.0.0.1', shell: 'rm -rf /' } } },
    { t: 'state-put', id: 1, record: { ...record, attrs: { routes: new Array(1000).fill('10.0.0.0/8') } } },
    { t: 'state-put', id: 1, record: { ...record, address: 2 ** 33 } },
    { t: 'state-put', id: 1, record: { ...record, rxBytes: -5 } },
    { t: 'state-put', id: 1, record: { ...record, loginMessages: new Array(9).fill('m') } },
    { t: 'state-lease', id: 1, pool: { name: 'default', cidr: '10.60.0.1/24', x: 1 }, holder: record.cookieHash },
    { t: 'state-lease', id: 1, pool: { name: 'default', cidr: '10.60.0.1/24' }, holder: 'x' },
    { t: 'state-lease', id: 1, pool: { name: 'default', cidr: '10.60.0.1/24' }, holder: record.cookieHash, hint: 1.5 },
    { t: 'state-ban', id: 1, ban: { kind: 'everyone', key: 'x', until: 1 } },
    { t: 'state-unban', id: 1, kind: 'address' },
    { t: 'state-drop-tables', id: 1 },
    { t: 'restart', now: true },
  ];
  for (const m of bad) assert.throws(() => parseNetworkMessage(m), /invalid/, JSON.stringify(m).slice(0, 200));
  // Random mutations of a good record: each either validates to the same shape or throws.
  const rnd = seeded('state-messages mutations');
  const keys = Object.keys(record);
  const junk = [null, -1, 1.5, '', 'x'.repeat(70_000), [], {}, true, 2 ** 53];
  for (let i = 0; i < 300; i++) {
    const m = { ...record, [keys[rnd.int(keys.length)]!]: junk[rnd.int(junk.length)] };
    try {
      const out = parseNetworkMessage({ t: 'state-put', id: 1, record: m });
      assert.deepEqual(out, { t: 'state-put', id: 1, record: m });
    } catch (e) {
      assert.match((e as Error).message, /invalid state message/);
    }
  }
});

test('session cache: a cookie it does not hold is found in the store, once for concurrent lookups', async () => {
  const backing = new MemoryStore();
  const pool = new IpPool(cfg.network.address);
  const pools = new Map([[cfg.groups[0]!.name, pool]]);
  // The gateway before the restart: a login, a tunnel's worth of traffic recorded.
  const before = new SessionStore(backing);
  const s = await before.open('alice', cfg.groups[0]!, pool, '192.0.2.1', 'agent', { idleTimeout: null, sessionTimeout: null }, (x) => {
    x.attrs = { radiusClass: ['YQ=='] };
  }, (x) => sessionRecordOf(x, 'gw1'));
  const addr = await before.lease(s, undefined);
  s.tunnelClosed({} as never, 1000, 2000, Date.now(), { rx: 10, tx: 20 });
  await before.persist(sessionRecordOf(s, 'gw1'));
  // The gateway after it: an empty cache over the same store.
  const after = new SessionStore(backing);
  let restored = 0;
  after.restorer = (token, r) => {
    restored++;
    return sessionFromRecord(token, r, cfg.groups, pools);
  };
  assert.equal(after.byCookie(s.token), undefined);
  const [a, b] = await Promise.all([after.resolve(s.token), after.resolve(s.token)]);
  assert.ok(a);
  assert.equal(a, b, 'one Session for two concurrent CONNECTs');
  assert.equal(restored, 1);
  assert.equal(a.id, s.id);
  assert.equal(a.address, addr, 'the lease it had');
  assert.deepEqual([a.closedRxBytes, a.closedTxBytes, a.closedRxPackets, a.closedTxPackets], [1000, 2000, 10, 20], 'accounting carries on from the checkpoint');
  assert.deepEqual(a.attrs, { radiusClass: ['YQ=='] });
  assert.equal(await after.lease(a, undefined), addr, 'the store gives the holder its address again');
  assert.equal(await after.resolve('some-other-cookie'), undefined);
  // Ending it removes it from the store: the cookie is void everywhere.
  await after.remove(a);
  assert.equal(await backing.getSession(s.cookieHash), null);
  assert.equal(await new SessionStore(backing).resolve(s.token), undefined);
});

test('isKnown: a session here or in the store (another worker\'s login) is known without being taken in; invalid or unknown is not', async () => {
  const backing = new MemoryStore();
  const pool = new IpPool(cfg.network.address);
  // The login on one worker...
  const login = new SessionStore(backing);
  const s = await login.open('alice', cfg.groups[0]!, pool, '192.0.2.1', 'agent', { idleTimeout: null, sessionTimeout: null }, () => undefined, (x) => sessionRecordOf(x, 'gw1'));
  assert.equal(await login.isKnown(s.token), true, 'in its own cache');
  // ...the profile download on another: the store knows the cookie.
  const other = new SessionStore(backing);
  let restored = 0;
  other.restorer = () => {
    restored++;
    return undefined;
  };
  other.recordValid = () => true;
  assert.equal(await other.isKnown(s.token), true);
  assert.equal(restored, 0, 'not restored: that would lease its address in this worker\'s pool');
  assert.equal(other.size, 0);
  other.recordValid = () => false; // expired, or its group is gone
  assert.equal(await other.isKnown(s.token), false);
  for (const bad of [undefined, null, '', 'no-such-cookie']) assert.equal(await other.isKnown(bad), false, String(bad));
  // A store that cannot answer rejects (the caller answers 503, not 401).
  const failing = Object.assign(Object.create(backing) as MemoryStore, { getSession: () => Promise.reject(new Error('store down')) });
  await assert.rejects(new SessionStore(failing).isKnown(s.token), /store down/);
});

test('session cache: a login the store cannot record is not handed out', async () => {
  const backing = new MemoryStore();
  const failing = Object.assign(Object.create(backing) as MemoryStore, { putSession: () => Promise.reject(new Error('SQLITE_FULL: database or disk is full')) });
  const sessions = new SessionStore(failing);
  const pool = new IpPool(cfg.network.address);
  await assert.rejects(sessions.open('alice', cfg.groups[0]!, pool, '192.0.2.1', 'agent', { idleTimeout: null, sessionTimeout: null }, () => undefined, (x) => sessionRecordOf(x, 'gw1')), /SQLITE_FULL/);
  assert.equal(sessions.size, 0);
});

test('stored sessions: cut by a restart, then dropped after their reconnect window (with grace)', () => {
  const now = 10_000_000;
  const live = sampleRecord({ cookieHash: hashCookie('a'), id: 1, disconnectedAt: null, node: 'gw1' });
  const waiting = sampleRecord({ cookieHash: hashCookie('b'), id: 2, disconnectedAt: now - 1000, node: 'gw1' });
  const elsewhere = sampleRecord({ cookieHash: hashCookie('c'), id: 3, disconnectedAt: null, node: 'gw2' });
  assert.deepEqual(cutByRestart([live, waiting, elsewhere], 'gw1', now), [{ ...live, disconnectedAt: now }]);
  const old = sampleRecord({ cookieHash: hashCookie('d'), id: 4, disconnectedAt: now - 400_000 });
  const timedOut = sampleRecord({ cookieHash: hashCookie('e'), id: 5, disconnectedAt: null, createdAt: now - 7_200_000, limits: { idleTimeout: null, sessionTimeout: 3600 } });
  const graceOnly = sampleRecord({ cookieHash: hashCookie('f'), id: 6, disconnectedAt: now - 330_000 });
  const stale = staleSessions([live, waiting, old, timedOut, graceOnly], now, 300, 60_000);
  assert.deepEqual(stale.map((x) => [x.record.id, x.why]), [[4, 'no tunnel within cookie-timeout'], [5, 'session timeout']]);
});

test('session expiry: one rule (session timeout from login, reconnect window from tunnel down), with grace', () => {
  const now = 10_000_000;
  const facts = (createdAt: number, sessionTimeout: number | null, disconnectedAt: number | null): ExpiryFacts => ({ createdAt, limits: { sessionTimeout }, disconnectedAt });
  assert.equal(sessionExpiry(facts(0, null, null), now, 300), null, 'no limit, tunnel up: never');
  assert.equal(sessionExpiry(facts(now - 3_600_000, 3600, null), now, 300), null, 'exactly at the session timeout: not yet');
  assert.equal(sessionExpiry(facts(now - 3_600_001, 3600, null), now, 300), 'session timeout');
  assert.equal(sessionExpiry(facts(now, null, now - 300_000), now, 300), null, 'exactly at the window: not yet');
  assert.equal(sessionExpiry(facts(now, null, now - 300_001), now, 300), 'no tunnel within cookie-timeout');
  assert.equal(sessionExpiry(facts(now - 3_600_001, 3600, now - 300_001), now, 300), 'session timeout', 'the session timeout is named first');
  assert.equal(sessionExpiry(facts(now, null, now - 330_000), now, 300, 60_000), null, 'grace adds to the window');
  assert.equal(sessionExpiry(facts(now - 3_630_000, 3600, null), now, 300, 60_000), null, 'grace adds to the session timeout');
  // A stored record (restoreSession, the store sweep) and a live Session read the same fields.
  assert.equal(sessionExpiry(sampleRecord({ disconnectedAt: now - 400_000 }), now, 300), 'no tunnel within cookie-timeout');
});

test('bans from the store hold in the BanGuard until they end', () => {
  let now = 1_000_000;
  const g = new BanGuard({ maxScore: 10, userMaxScore: 10, resetTime: 60, banTime: 60, points: { password: 1, cookie: 1, malformed: 1, connection: 0 }, allow: [] }, () => undefined, () => now);
  assert.equal(g.restore('address', '::ffff:192.0.2.7', now + 30_000), true);
  assert.equal(g.restore('user', 'bob', now - 1), false, 'an ended ban is not restored');
  assert.equal(g.bannedFor('192.0.2.7'), 30_000, 'the address key is normalised');
  assert.equal(g.userLockedFor('bob'), 0);
  now += 30_001;
  assert.equal(g.bannedFor('192.0.2.7'), 0);
});
