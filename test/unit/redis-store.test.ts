/**
 * RedisStore against a real redis-server (test/helpers/redis.ts starts one in a temp folder on its
 * own port). Two stores on one Redis stand for two cluster nodes: leases never collide, ids are
 * unique, bans and session moves reach the other node, a Redis restart loses nothing (AOF) and an
 * outage gives a clear error instead of a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RedisStore, StoreUnavailableError } from '../../src/gateway/state/redis-store.js';
import { poolRange } from '../../src/gateway/ip-pool.js';
import { sessionTtlMs } from '../../src/gateway/state/session-expiry.js';
import { decodeSession, encodeSession, StoreDataError } from '../../src/gateway/state/session-codec.js';
import type { ClusterEvent } from '../../src/gateway/state/cluster-types.js';
import type { PoolRef, SessionRecord } from '../../src/gateway/state/types.js';
import { redisSkipReason, startRedis, type RedisServer } from '../helpers/redis.js';
import { seeded } from '../helpers/seed.js';
import { parseIpv4 } from '../../src/protocol/ipv4.js';
import { STORE_CASES } from './state-store-cases.js';

const skip = redisSkipReason();

function record(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    cookieHash: randomBytes(32).toString('hex'),
    id: 1,
    user: 'alice',
    group: 'Employees',
    remote: '10.0.0.9',
    userAgent: 'Open AnyConnect VPN Agent v9.01',
    createdAt: now,
    limits: { idleTimeout: null, sessionTimeout: null },
    attrs: {},
    methods: ['local'],
    loginMessages: [],
    address: null,
    node: 'gw1',
    disconnectedAt: now,
    lastActivity: now,
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    ...over,
  };
}

async function pair(redis: RedisServer, prefix: string, windowMs = 60_000): Promise<[RedisStore, RedisStore]> {
  // No slack past the window: the expiry test waits for it.
  const a = await RedisStore.open({ url: redis.url, node: 'gw1', prefix, reconnectWindowMs: windowMs, ttlSlackMs: 0 });
  const b = await RedisStore.open({ url: redis.url, node: 'gw2', prefix, reconnectWindowMs: windowMs, ttlSlackMs: 0 });
  return [a, b];
}

function nextEvent(s: RedisStore, type: ClusterEvent['type']): Promise<ClusterEvent> {
  return new Promise((resolve) => {
    const off = s.onEvent((ev) => {
      if (ev.type !== type) return;
      off();
      resolve(ev);
    });
  });
}

test('pool range: host addresses minus the gateway own, as IpPool', () => {
  assert.deepEqual(poolRange('10.1.2.1/24'), { first: parseIpv4('10.1.2.1'), last: parseIpv4('10.1.2.254'), own: parseIpv4('10.1.2.1') });
  assert.deepEqual(poolRange('10.1.2.0/31'), { first: parseIpv4('10.1.2.0'), last: parseIpv4('10.1.2.1'), own: parseIpv4('10.1.2.0') });
  assert.throws(() => poolRange('nope'), /not an IPv4 CIDR/);
});

test('session TTL: the reconnect window after the tunnel went down; none while up without session-timeout', () => {
  const now = 1_000_000;
  assert.equal(sessionTtlMs(record({ disconnectedAt: now - 10_000 }), 60_000, now), 50_000);
  assert.equal(sessionTtlMs(record({ disconnectedAt: now - 90_000 }), 60_000, now), 1000, 'past the window: the floor, not a negative TTL');
  assert.equal(sessionTtlMs(record({ disconnectedAt: null }), 60_000, now), null);
  assert.equal(sessionTtlMs(record({ disconnectedAt: null, createdAt: now, limits: { idleTimeout: null, sessionTimeout: 100 } }), 60_000, now), 160_000);
  assert.equal(sessionTtlMs(record({ disconnectedAt: now, createdAt: now, limits: { idleTimeout: null, sessionTimeout: 10 } }), 60_000, now), 10_000, 'the session timeout cuts the window');
});

test('session codec: a malformed record is named, not half-read', () => {
  const r = record();
  assert.deepEqual(decodeSession(encodeSession(r), 'k'), r);
  assert.throws(() => decodeSession('{', 'sslgate:session:x'), (e: unknown) => e instanceof StoreDataError && /sslgate:session:x: not JSON/.test(e.message));
  assert.throws(() => decodeSession(JSON.stringify({ ...r, address: 'x' }), 'k'), /field address/);
  assert.throws(() => decodeSession(JSON.stringify({ ...r, methods: [1] }), 'k'), /field methods/);
});

test('session codec: seeded garbage and mutated records decode to the same record or throw StoreDataError', () => {
  const rnd = seeded('session codec garbage');
  const r = record({ attrs: { framedIp: '10.60.0.5', dns: ['10.0.0.53'], radiusClass: ['YQ=='] }, limits: { idleTimeout: 600, sessionTimeout: 3600 } });
  const text = encodeSession(r);
  const keys = Object.keys(r);
  const junk: unknown[] = [null, -1, 1.5, '', 'x'.repeat(70_000), [], {}, true, 2 ** 53, '10.0.0.01', { framedIp: 'evil' }, ['a'.repeat(3000)]];
  for (let i = 0; i < 2000; i++) {
    let input: string;
    switch (rnd.int(3)) {
      case 0: // a field replaced by junk
        input = JSON.stringify({ ...r, [keys[rnd.int(keys.length)]!]: junk[rnd.int(junk.length)] });
        break;
      case 1: { // the text cut or a byte flipped
        const b = Buffer.from(text);
        if (rnd.int(2) === 0) input = b.subarray(0, rnd.int(b.length)).toString();
        else {
          b[rnd.int(b.length)] = rnd.int(256);
          input = b.toString('latin1');
        }
        break;
      }
      default: // random bytes
        input = rnd.bytes(rnd.int(200)).toString('latin1');
    }
    try {
      const out = decodeSession(input, 'k');
      assert.deepEqual(out, JSON.parse(input), 'what decodes is exactly what was stored');
    } catch (e) {
      assert.ok(e instanceof StoreDataError, `${String(e)} for ${input.slice(0, 120)}`);
    }
  }
});

test('RedisStore: two nodes on one Redis', { skip }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop('SIGKILL'));
  const prefix = `t${randomBytes(3).toString('hex')}:`;
  const [a, b] = await pair(redis, prefix);
  t.after(async () => {
    await a.close();
    await b.close();
  });

  await t.test('session ids are unique across nodes', async () => {
    const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).nextSessionId()));
    assert.equal(new Set(ids).size, ids.length);
  });

  await t.test('a session put by one node is read by the other; deleted for both', async () => {
    const r = record({ address: 0x0a000005, attrs: { framedIp: '10.0.0.5' } });
    await a.putSession(r);
    assert.deepEqual(await b.getSession(r.cookieHash), r);
    assert.ok((await b.listSessions()).some((x) => x.cookieHash === r.cookieHash));
    await b.deleteSession(r.cookieHash);
    assert.equal(await a.getSession(r.cookieHash), null);
    assert.ok(!(await a.listSessions()).some((x) => x.cookieHash === r.cookieHash));
  });

  await t.test('a disconnected record expires with the reconnect window; a live one stays', async () => {
    const [c, unused] = await pair(redis, `${prefix}ttl:`, 1500);
    t.after(async () => {
      await c.close();
      await unused.close();
    });
    const gone = record({ disconnectedAt: Date.now() });
    const live = record({ disconnectedAt: null });
    await c.putSession(gone);
    await c.putSession(live);
    const pttl = Number(await redis.cli(['pttl', `${prefix}ttl:session:${gone.cookieHash}`]));
    assert.ok(pttl > 0 && pttl <= 1500, `pttl ${pttl}`);
    assert.equal(await redis.cli(['pttl', `${prefix}ttl:session:${live.cookieHash}`]), '-1');
    // Wait for Redis to expire it (a wait limit, not a timing assertion).
    for (let i = 0; i < 100 && (await c.getSession(gone.cookieHash)) !== null; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await c.getSession(gone.cookieHash), null);
    const listed = await c.listSessions();
    assert.deepEqual(listed.map((x) => x.cookieHash), [live.cookieHash]);
  });

  await t.test('leases: concurrent requests from both nodes never share an address; full pool gives null', async () => {
    const pool: PoolRef = { name: 'Employees', cidr: '10.200.0.1/26' }; // 62 hosts minus own = 61
    const rnd = seeded('redis lease holders');
    const holders = Array.from({ length: 80 }, () => rnd.bytes(16).toString('hex'));
    const got = await Promise.all(holders.map((h, i) => (i % 2 ? a : b).lease(pool, h)));
    const addrs = got.filter((x): x is number => x !== null);
    assert.equal(addrs.length, 61);
    assert.equal(new Set(addrs).size, 61, 'no address twice');
    assert.ok(!addrs.includes(parseIpv4('10.200.0.1')!), 'never the gateway own address');
    assert.equal(got.filter((x) => x === null).length, 19);
    // The same holder asking again (another node, a reconnect) keeps its address.
    const i = got.findIndex((x) => x !== null);
    assert.equal(await a.lease(pool, holders[i]!), got[i]);
    assert.equal(await b.lease(pool, holders[i]!, parseIpv4('10.200.0.60')!), got[i], 'a hint does not move an existing lease');
    // Released by one node, leasable by the other, preferring a free hint.
    await b.release(pool, holders[i]!);
    assert.equal(await a.lease(pool, 'newcomer', got[i]!), got[i]);
    const leases = await a.leases(pool);
    assert.equal(leases.size, 61);
  });

  await t.test('a ban made on one node reaches the other (store and broadcast)', async () => {
    const until = Date.now() + 60_000;
    const seen = nextEvent(b, 'ban');
    await a.putBan({ kind: 'address', key: '203.0.113.7', until });
    assert.deepEqual(await seen, { type: 'ban', origin: 'gw1', ban: { kind: 'address', key: '203.0.113.7', until } });
    assert.deepEqual(await b.listBans(), [{ kind: 'address', key: '203.0.113.7', until }]);
    const unseen = nextEvent(a, 'unban');
    await b.deleteBan('address', '203.0.113.7');
    assert.deepEqual(await unseen, { type: 'unban', origin: 'gw2', kind: 'address', key: '203.0.113.7' });
    assert.deepEqual(await a.listBans(), []);
    await a.putBan({ kind: 'user', key: 'old', until: Date.now() - 1 });
    assert.deepEqual(await a.listBans(), [], 'expired bans are not listed');
  });

  await t.test('a node that takes over a session tells the old holder', async () => {
    const r = record({ node: 'gw1', disconnectedAt: null, address: 0x0a000009 });
    await a.putSession(r);
    const moved = nextEvent(a, 'session-moved');
    await b.putSession({ ...r, node: 'gw2' });
    assert.deepEqual(await moved, { type: 'session-moved', origin: 'gw2', cookieHash: r.cookieHash, from: 'gw1', to: 'gw2' });
  });

  await t.test('node registry: entries with load, gone when not refreshed', async () => {
    const [x, y] = [await RedisStore.open({ url: redis.url, node: 'n1', prefix: `${prefix}reg:`, reconnectWindowMs: 1000, nodeTtlMs: 800 }), await RedisStore.open({ url: redis.url, node: 'n2', prefix: `${prefix}reg:`, reconnectWindowMs: 1000, nodeTtlMs: 800 })];
    t.after(async () => {
      await x.close();
      await y.close();
    });
    const info = (node: string, sessions: number) => ({ node, address: '10.77.0.1', port: 443, sessions, tunnels: sessions, capacity: 100, draining: false, updatedAt: Date.now(), startedAt: Date.now() });
    await x.announce(info('n1', 3));
    await y.announce(info('n2', 5));
    assert.deepEqual((await x.listNodes()).map((n) => [n.node, n.sessions]), [['n1', 3], ['n2', 5]]);
    await y.withdraw();
    assert.deepEqual((await x.listNodes()).map((n) => n.node), ['n1']);
    for (let i = 0; i < 50 && (await y.listNodes()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await y.listNodes(), [], 'an entry not refreshed expires');
  });

  await t.test('reaper: sessions of a dead node start their window; leases of vanished sessions are freed', async () => {
    const [c, d] = await pair(redis, `${prefix}reap:`, 60_000);
    t.after(async () => {
      await c.close();
      await d.close();
    });
    const pool: PoolRef = { name: 'E', cidr: '10.201.0.1/24' };
    const orphan = record({ node: 'gw1', disconnectedAt: null });
    const mine = record({ node: 'gw2', disconnectedAt: null });
    await c.putSession(orphan);
    await d.putSession(mine);
    const oAddr = await c.lease(pool, orphan.cookieHash);
    await d.lease(pool, mine.cookieHash);
    await d.lease(pool, 'no-such-session');
    const r1 = await d.reap(new Set(['gw2']), 5000);
    assert.deepEqual(r1, { orphaned: 1, freed: 1 });
    assert.equal((await d.getSession(orphan.cookieHash))?.disconnectedAt, 5000);
    assert.equal((await d.getSession(mine.cookieHash))?.disconnectedAt, null);
    assert.equal(await d.lease(pool, orphan.cookieHash), oAddr, 'the orphan keeps its address for its reconnect');
    assert.deepEqual(await d.reap(new Set(['gw2'])), { orphaned: 0, freed: 0 }, 'idempotent');
  });
});

test('RedisStore: Redis restarted mid-run loses nothing; an outage fails fast and clearly', { skip }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop('SIGKILL'));
  const store = await RedisStore.open({ url: redis.url, node: 'gw1', prefix: 'r:', reconnectWindowMs: 60_000 });
  t.after(() => store.close());
  const changes: boolean[] = [];
  store.onAvailability((up) => changes.push(up));
  const pool: PoolRef = { name: 'E', cidr: '10.202.0.1/24' };
  const r = record({ disconnectedAt: null });
  await store.putSession(r);
  const addr = await store.lease(pool, r.cookieHash);
  const id = await store.nextSessionId();

  await redis.stop('SIGKILL');
  // While Redis is down: a clear error at once, never a hang. (The wait is a limit only.)
  for (let i = 0; i < 50 && store.available; i++) await new Promise((res) => setTimeout(res, 100));
  await assert.rejects(store.getSession(r.cookieHash), (e: unknown) => e instanceof StoreUnavailableError && /Redis at redis:\/\/127\.0\.0\.1:\d+\/? is unavailable/.test(e.message));
  await assert.rejects(store.lease(pool, 'other'), StoreUnavailableError);

  await redis.start();
  for (let i = 0; i < 100 && !store.available; i++) await new Promise((res) => setTimeout(res, 100));
  assert.ok(store.available, 'reconnected by itself');
  assert.deepEqual(changes, [false, true]);
  assert.deepEqual(await store.getSession(r.cookieHash), r, 'the session survived (AOF)');
  assert.equal(await store.lease(pool, r.cookieHash), addr, 'the lease survived');
  assert.notEqual(await store.lease(pool, 'other'), addr);
  assert.ok((await store.nextSessionId()) > id, 'ids keep counting up');
});

test('RedisStore.open: a clear error when nothing listens', { skip }, async () => {
  await assert.rejects(
    RedisStore.open({ url: 'redis://127.0.0.1:1', node: 'gw1', reconnectWindowMs: 1000, connectTimeoutMs: 1000 }),
    (e: unknown) => e instanceof StoreUnavailableError && /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/.test(e.message),
  );
});

test('RedisStore passes the StateStore case table (state-store-cases.ts)', { skip }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop('SIGKILL'));
  let n = 0;
  for (const c of STORE_CASES) {
    await t.test(c.name, async () => {
      // The table's records were disconnected long ago: a window of a century keeps them while it runs.
      const store = await RedisStore.open({ url: redis.url, node: 'gw1', prefix: `case${n++}:`, reconnectWindowMs: 100 * 365 * 86400_000 });
      try {
        await c.run(store);
      } finally {
        await store.close();
      }
    });
  }
});
