/**
 * A worker's route request (workers > 1) is checked against the store's leases: a compromised
 * worker that names another session's address, with its own cookie, a made-up cookie or no
 * lease at all, is refused and nothing reaches the kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LeaseRoutes } from '../../src/gateway/priv/lease-routes.js';
import { checkRouteRequest, routeForWorker, routeOps, type RouteOps } from '../../src/gateway/priv/worker-routes.js';
import { hashCookie } from '../../src/gateway/sessions.js';
import { MemoryStore } from '../../src/gateway/state/memory-store.js';
import { formatCidr, parseIpv4, parseIpv4Cidr } from '../../src/protocol/ipv4.js';

const pool = parseIpv4Cidr('10.77.0.1/24')!;
const ref = { name: 'Employees', cidr: formatCidr(pool) };
const ip = (s: string): number => parseIpv4(s)!;
const cookie = (): string => randomBytes(32).toString('base64url');

function fakeOps(): { ops: RouteOps; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    ops: {
      replace: (a, dev) => (calls.push(`replace ${a} ${dev}`), Promise.resolve('rtnetlink' as const)),
      remove: (a, dev) => (calls.push(`remove ${a} ${dev}`), Promise.resolve()),
    },
  };
}

test('route requests: only the address the store leases to the session of the cookie shown', async () => {
  const store = new MemoryStore();
  const victim = cookie();
  const attacker = cookie();
  const a = (await store.lease(ref, hashCookie(victim)))!;
  const b = (await store.lease(ref, hashCookie(attacker)))!;
  assert.notEqual(a, b);

  const ok = await checkRouteRequest(store, [pool], a, victim);
  assert.deepEqual(ok, { ok: true, cookieHash: hashCookie(victim), pool });

  // hostile: the victim's address with the attacker's own cookie
  const stolen = await checkRouteRequest(store, [pool], a, attacker);
  assert.equal(stolen.ok, false);
  assert.match(!stolen.ok ? stolen.reason : '', /is not leased to the session of that cookie \(it holds 10\.77\.0\.\d+\)/);
  // a cookie nobody has (e.g. a guess, or a hash from a state-list presented as a cookie)
  const made = await checkRouteRequest(store, [pool], a, hashCookie(victim).slice(0, 43));
  assert.match(!made.ok ? made.reason : '', /holds no lease/);
  // outside every pool, the gateway's own address, malformed cookies, no store
  assert.match(((await checkRouteRequest(store, [pool], ip('192.0.2.7'), victim)) as { reason: string }).reason, /not a client address/);
  assert.match(((await checkRouteRequest(store, [pool], ip('10.77.0.1'), victim)) as { reason: string }).reason, /not a client address/);
  assert.match(((await checkRouteRequest(store, [pool], a, 'x y')) as { reason: string }).reason, /not one this gateway makes/);
  assert.match(((await checkRouteRequest(null, [pool], a, victim)) as { reason: string }).reason, /cannot say/);
  // a released lease routes no more
  await store.release(ref, hashCookie(victim));
  assert.equal((await checkRouteRequest(store, [pool], a, victim)).ok, false);
});

test('route requests: a refused one never reaches the kernel; an accepted one does, on the worker TUN', async () => {
  const store = new MemoryStore();
  const mine = cookie();
  const other = cookie();
  const a = (await store.lease(ref, hashCookie(other)))!;
  const m = (await store.lease(ref, hashCookie(mine)))!;
  const { ops, calls } = fakeOps();
  const routes = new LeaseRoutes(['sgw0', 'sgw0-1'], () => [pool], ops);
  await assert.rejects(routeForWorker(routes, store, [pool], a, mine, 1), /refused: .*not leased/);
  assert.deepEqual(calls, []);
  assert.deepEqual(await routeForWorker(routes, store, [pool], m, mine, 1), { via: 'rtnetlink', cookieHash: hashCookie(mine) });
  assert.deepEqual(calls, [`replace ${m} sgw0-1`]);
  // another worker cannot remove it
  await routes.unroute(m, 0);
  assert.equal(calls.length, 1);
});

test('route ops: rtnetlink requests when a configurator is there (SSLGATE_NETLINK=0 gives the ip(8) ops)', async () => {
  // No netlink configurator: the ip(8) ops (not run here: they would need root and a TUN).
  const viaIp = routeOps({ SSLGATE_NETLINK: '0' });
  assert.equal(typeof viaIp.replace, 'function');
  let applied = 0;
  const nl = {
    ifIndex: (dev: string): number => {
      if (dev === 'gone') throw new Error('no device gone');
      return 7;
    },
    apply: (): void => void applied++,
  };
  const ops = routeOps({}, nl);
  assert.equal(await ops.replace(ip('10.77.0.9'), 'sgw0-1', ip('10.77.0.1')), 'rtnetlink');
  await ops.remove(ip('10.77.0.9'), 'sgw0-1');
  assert.equal(applied, 2);
});
