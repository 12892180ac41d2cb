/**
 * One table of behaviours every StateStore must have (types.ts), run against each store by
 * state-store.test.ts. A new store (RedisStore) adds its factory to that file's list (or runs
 * this table from its own test file) and gets the same cases.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseIpv4 } from '../../src/protocol/ipv4.js';
import type { PoolRef, SessionRecord, StateStore } from '../../src/gateway/state/types.js';
import { seeded } from '../helpers/seed.js';

export interface StoreCase {
  name: string;
  run(store: StateStore): Promise<void>;
}

export function hashOf(cookie: string): string {
  return createHash('sha256').update(cookie).digest('hex');
}

export function sampleRecord(over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    cookieHash: hashOf('cookie-a'),
    id: 7,
    user: 'alice',
    group: 'Employees',
    remote: '192.0.2.10',
    userAgent: 'Open AnyConnect VPN Agent v9.01',
    createdAt: 1_700_000_000_000,
    limits: { idleTimeout: 600, sessionTimeout: null },
    attrs: { framedIp: '10.60.0.5', routes: ['10.1.0.0/16'], radiusClass: ['Y2xhc3M='] },
    methods: ['local'],
    loginMessages: ['hello'],
    address: null,
    node: 'gw1',
    disconnectedAt: 1_700_000_000_000,
    lastActivity: 1_700_000_000_000,
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    ...over,
  };
}

const A = (s: string): number => parseIpv4(s)!;
/** /29: hosts .1-.6, .1 is the gateway's own: five to lease. */
const SMALL: PoolRef = { name: 'Employees', cidr: '10.60.0.1/29' };
/** Another group on the same subnet: it shares the addresses. */
const SAME_SUBNET: PoolRef = { name: 'Contractors', cidr: '10.60.0.1/29' };
const OTHER: PoolRef = { name: 'Other', cidr: '10.61.0.1/24' };

export const STORE_CASES: StoreCase[] = [
  {
    name: 'session ids are unique and increasing',
    async run(store) {
      const ids = [];
      for (let i = 0; i < 20; i++) ids.push(await store.nextSessionId());
      assert.equal(new Set(ids).size, ids.length);
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `${ids[i]} after ${ids[i - 1]}`);
    },
  },
  {
    name: 'a session record round-trips, is updated in place and deleted',
    async run(store) {
      const r = sampleRecord({ id: await store.nextSessionId() });
      await store.putSession(r);
      assert.deepEqual(await store.getSession(r.cookieHash), r);
      const moved = { ...r, address: A('10.60.0.3'), disconnectedAt: null, rxBytes: 12345, txBytes: 678, rxPackets: 9, txPackets: 4 };
      await store.putSession(moved);
      assert.deepEqual(await store.getSession(r.cookieHash), moved);
      assert.deepEqual(await store.listSessions(), [moved]);
      await store.deleteSession(r.cookieHash);
      assert.equal(await store.getSession(r.cookieHash), null);
      assert.deepEqual(await store.listSessions(), []);
      // Deleting what is gone is not an error.
      await store.deleteSession(r.cookieHash);
    },
  },
  {
    name: 'records are copies: changing a returned object does not change the store',
    async run(store) {
      const r = sampleRecord({ id: await store.nextSessionId() });
      await store.putSession(r);
      r.user = 'mallory';
      const got = (await store.getSession(r.cookieHash))!;
      assert.equal(got.user, 'alice');
      got.attrs.routes!.push('0.0.0.0/0');
      assert.deepEqual((await store.getSession(r.cookieHash))!.attrs.routes, ['10.1.0.0/16']);
    },
  },
  {
    name: 'an id written by a record is never handed out again',
    async run(store) {
      const first = await store.nextSessionId();
      await store.putSession(sampleRecord({ id: first + 100 }));
      assert.ok((await store.nextSessionId()) > first + 100);
    },
  },
  {
    name: 'listSessions gives every session in id order',
    async run(store) {
      const rnd = seeded('state-store list');
      const recs: SessionRecord[] = [];
      for (let i = 0; i < 25; i++) recs.push(sampleRecord({ cookieHash: hashOf(`c${i}-${rnd.int(1e9)}`), id: await store.nextSessionId(), user: `u${rnd.int(1000)}` }));
      for (const r of [...recs].reverse()) await store.putSession(r);
      assert.deepEqual(await store.listSessions(), recs);
    },
  },
  {
    name: 'lease: the same holder keeps its address; the hint is taken when free; the own address never',
    async run(store) {
      const a = await store.lease(SMALL, 'h1');
      assert.notEqual(a, null);
      assert.notEqual(a, A('10.60.0.1'), 'the gateway address is not leased');
      assert.equal(await store.lease(SMALL, 'h1'), a, 'same holder, same address');
      assert.equal(await store.lease(SMALL, 'h1', A('10.60.0.6')), a, 'a holder with a lease keeps it whatever the hint');
      assert.equal(await store.lease(SMALL, 'h2', A('10.60.0.6')), A('10.60.0.6'), 'a free hint is taken');
      assert.notEqual(await store.lease(SMALL, 'h3', A('10.60.0.6')), A('10.60.0.6'), 'a taken hint is not');
      assert.notEqual(await store.lease(SMALL, 'h4', A('10.60.0.1')), A('10.60.0.1'), 'the own address is no hint');
      assert.notEqual(await store.lease(SMALL, 'h5', A('10.99.0.1')), A('10.99.0.1'), 'a hint outside the pool is ignored');
    },
  },
  {
    name: 'leasedTo: the holder\'s address or null, and it never leases',
    async run(store) {
      assert.equal(await store.leasedTo!(SMALL, 'h1'), null, 'no lease yet');
      assert.equal(await store.leasedTo!(SMALL, 'h1'), null, 'asking did not lease');
      const a = await store.lease(SMALL, 'h1');
      assert.equal(await store.leasedTo!(SMALL, 'h1'), a);
      assert.equal(await store.leasedTo!(SMALL, 'h2'), null, 'another holder has none');
      await store.release(SMALL, 'h1');
      assert.equal(await store.leasedTo!(SMALL, 'h1'), null, 'released');
    },
  },
  {
    name: 'lease: a full pool answers null; a release frees the address for another holder',
    async run(store) {
      const got = new Set<number>();
      for (let i = 0; i < 5; i++) {
        const a = await store.lease(SMALL, `h${i}`);
        assert.notEqual(a, null, `lease ${i}`);
        got.add(a!);
      }
      assert.equal(got.size, 5, 'five different addresses');
      for (const a of got) assert.ok(a >= A('10.60.0.2') && a <= A('10.60.0.6'));
      assert.equal(await store.lease(SMALL, 'late'), null);
      await store.release(SMALL, 'h2');
      const again = await store.lease(SMALL, 'late');
      assert.notEqual(again, null);
      assert.ok(got.has(again!));
      // A release of a holder without a lease changes nothing.
      await store.release(SMALL, 'nobody');
      assert.equal(await store.lease(SMALL, 'late'), again);
    },
  },
  {
    name: 'lease: groups on one subnet share its addresses; other subnets are separate',
    async run(store) {
      const a = await store.lease(SMALL, 'x', A('10.60.0.4'));
      assert.equal(a, A('10.60.0.4'));
      assert.notEqual(await store.lease(SAME_SUBNET, 'y', A('10.60.0.4')), A('10.60.0.4'));
      assert.equal(await store.lease(OTHER, 'x', A('10.61.0.4')), A('10.61.0.4'), 'same holder, another pool: its own lease');
    },
  },
  {
    name: 'lease: random holders, hints and releases never give one address to two holders',
    async run(store) {
      const rnd = seeded('state-store leases');
      const pool: PoolRef = { name: 'Big', cidr: '10.62.0.1/26' };
      const held = new Map<string, number>();
      for (let i = 0; i < 300; i++) {
        const holder = `h${rnd.int(80)}`;
        if (rnd.int(4) === 0) {
          await store.release(pool, holder);
          held.delete(holder);
          continue;
        }
        const hint = rnd.int(2) ? A('10.62.0.0') + rnd.int(64) : undefined;
        const a = await store.lease(pool, holder, hint);
        if (held.has(holder)) assert.equal(a, held.get(holder));
        if (a === null) {
          assert.equal(held.size, 61, 'null only when all 61 addresses are out');
          continue;
        }
        held.set(holder, a);
        const owners = [...held.entries()].filter(([, x]) => x === a);
        assert.equal(owners.length, 1, `address ${a} held by ${owners.map(([h]) => h).join(', ')}`);
      }
    },
  },
  {
    name: 'bans: put, replace, list live ones only, delete',
    async run(store) {
      const now = Date.now();
      await store.putBan({ kind: 'address', key: '192.0.2.7', until: now + 60_000 });
      await store.putBan({ kind: 'user', key: 'bob', until: now + 30_000 });
      await store.putBan({ kind: 'user', key: 'old', until: now - 1 });
      await store.putBan({ kind: 'address', key: '192.0.2.7', until: now + 90_000 });
      const list = (await store.listBans()).sort((a, b) => a.key.localeCompare(b.key));
      assert.deepEqual(list, [
        { kind: 'address', key: '192.0.2.7', until: now + 90_000 },
        { kind: 'user', key: 'bob', until: now + 30_000 },
      ]);
      await store.deleteBan('address', '192.0.2.7');
      await store.deleteBan('address', 'never-banned');
      assert.deepEqual(await store.listBans(), [{ kind: 'user', key: 'bob', until: now + 30_000 }]);
    },
  },
];
