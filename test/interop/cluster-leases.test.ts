/**
 * Issue 12 §2 acceptance: 200 logins spread across two nodes never get one address twice, also
 * when Redis is restarted in the middle; while Redis is down, tunnels keep passing packets and a
 * new login fails with a clear error; once it is back, logins work and nothing was corrupted.
 *
 * The logins are our HTTP auth flow plus CONNECT (the lease happens at CONNECT) from a light
 * client without TUN (cluster-client.ts, bench/loadgen's session), 100 towards each node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { interopSkipReason } from '../helpers/netns.js';
import { redisSkipReason } from '../helpers/redis.js';
import { ClusterBed, LightClient, NODE_ADDR } from '../helpers/cluster-bed.js';
import { startOpenconnect } from '../helpers/openconnect.js';

const skip = interopSkipReason(['openconnect', 'redis-server']) || redisSkipReason();
const USERS = [{ name: 'load', password: 'load-pw-1' }];
const EXTRA = 'limits: { max-sessions-per-user: none, connection-rate: 2000, connection-burst: 2000, max-unauth-per-address: 64 }\n';

test('cluster: 200 logins across two nodes, Redis restarted mid-run: no address leased twice', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'leases');
  await bed.startNode(0, { users: USERS, extraYaml: EXTRA });
  await bed.startNode(1, { users: USERS, extraYaml: EXTRA });
  const lc = [await LightClient.start(bed.cl, NODE_ADDR[0], 'load', 'load-pw-1'), await LightClient.start(bed.cl, NODE_ADDR[1], 'load', 'load-pw-1')];
  t.after(async () => {
    for (const c of lc) await c.stop();
  });
  const addresses: string[] = [];
  const openBoth = async (n: number): Promise<number> => {
    const r = await Promise.all(lc.map((c) => c.open(n)));
    for (const x of r) addresses.push(...x.addresses);
    t.diagnostic(`opened ${r.map((x) => `${x.ok} ok, ${x.failed} failed ${JSON.stringify(x.errors)}`).join(' | ')}`);
    return r.reduce((s, x) => s + x.ok, 0);
  };

  let ok = await openBoth(50);
  assert.equal(ok, 100, 'the first 100 logins');
  // Mid-run: Redis goes down and comes back (an operator's restart; the data is on disk, AOF)
  // while the next logins run on both nodes. Logins that hit the outage fail (and are retried).
  const round = openBoth(40);
  await new Promise((r) => setTimeout(r, 300));
  await bed.redis.restart();
  ok += await round;
  for (let tries = 0; ok < 200 && tries < 10; tries++) {
    const half = Math.ceil((200 - ok) / 2);
    ok += await openBoth(half);
  }
  assert.ok(ok >= 200, `200 sessions (have ${ok})`);

  const dup = addresses.filter((a, i) => addresses.indexOf(a) !== i);
  assert.deepEqual(dup, [], 'no address leased twice');
  // Redis's view: every client's address is leased (to one holder each: a hash field has one
  // value), and every lease belongs to a stored session. A login whose CONNECT failed during the
  // restart may hold a lease its client never used: its session ends at cookie-timeout.
  const flat = (await bed.redis.cli(['hgetall', 'sslgate:lease:10.89.0.1/24:addr'])).split('\n');
  const leased = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) leased.set(flat[i]!, flat[i + 1]!);
  const toIp = (n: string): string => [24, 16, 8, 0].map((b) => (Number(n) >>> b) & 255).join('.');
  const leasedIps = new Set([...leased.keys()].map(toIp));
  assert.deepEqual(addresses.filter((a) => !leasedIps.has(a)), [], 'every address in use is leased in Redis');
  const holders = [...new Set(leased.values())];
  assert.equal(holders.length, leased.size, 'no holder with two addresses');
  const existing = Number(await bed.redis.cli(['exists', ...holders.map((h) => `sslgate:session:${h}`)]));
  assert.equal(existing, holders.length, 'no lease without its session');
  t.diagnostic(`${leased.size} leases in Redis for ${addresses.length} sessions in use`);
  const pings = await Promise.all(lc.map((c) => c.ping()));
  assert.deepEqual(pings.map((p) => p.failed), [0, 0], 'every tunnel passes packets');
});

test('cluster: Redis down — tunnels keep running, a new login fails clearly; back — logins work', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'redisdown');
  const a = await bed.startNode(0, { users: USERS, extraYaml: EXTRA });
  await bed.startNode(1, { users: USERS, extraYaml: EXTRA });
  const lc = await LightClient.start(bed.cl, NODE_ADDR[0], 'load', 'load-pw-1');
  t.after(() => lc.stop());
  const first = await lc.open(5);
  assert.equal(first.ok, 5);

  await bed.redis.stop('SIGKILL');
  await a.waitLog(/cluster store \(Redis\) unavailable/, 20_000);
  const during = await lc.ping();
  assert.deepEqual([during.ok, during.failed], [5, 0], 'tunnels keep running without Redis');
  const c = startOpenconnect(bed.cl, { url: `https://${NODE_ADDR[0]}`, servercert: bed.pin, user: 'load', password: 'load-pw-1', noDtls: true });
  const st = await c.proc.waitExit(30_000);
  await c.stop();
  assert.notEqual(st.code, 0, 'no login without the shared store');
  const said = c.lines.map((l) => l.text).join('\n');
  t.diagnostic(`openconnect without Redis:\n${c.proc.tail(8)}`);
  assert.match(said, /session store|try again/i, 'the client is told why');

  await bed.redis.start();
  await a.waitLog(/cluster store \(Redis\) is back/, 20_000);
  const again = await lc.open(5);
  assert.equal(again.ok, 5, `logins after Redis came back: ${JSON.stringify(again.errors)}`);
  const all = [...first.addresses, ...again.addresses];
  assert.equal(new Set(all).size, 10, 'the earlier leases were kept: no address given twice');
  const after = await lc.ping();
  assert.deepEqual([after.ok, after.failed], [10, 0]);
});

test('cluster: a node whose Redis does not answer does not start, and says why', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'noredis');
  await bed.redis.stop('SIGKILL');
  await assert.rejects(bed.startNode(0, { users: USERS }), (e: unknown) => {
    const m = (e as Error).message;
    t.diagnostic(m.split('\n').find((l) => l.includes('cluster.redis')) ?? m.slice(0, 300));
    return /cluster\.redis: cannot reach Redis at redis:\/\/10\.88\.0\.2:\d+/.test(m);
  });
});

test('cluster: Redis comes back EMPTY (data lost) — the nodes write their sessions and leases again', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'redisempty');
  const a = await bed.startNode(0, { users: USERS, extraYaml: EXTRA });
  const b = await bed.startNode(1, { users: USERS, extraYaml: EXTRA });
  const lc = [await LightClient.start(bed.cl, NODE_ADDR[0], 'load', 'load-pw-1'), await LightClient.start(bed.cl, NODE_ADDR[1], 'load', 'load-pw-1')];
  t.after(async () => {
    for (const c of lc) await c.stop();
  });
  const before = (await Promise.all(lc.map((c) => c.open(20)))).flatMap((r) => r.addresses);
  assert.equal(before.length, 40);
  await bed.redis.stop('SIGKILL');
  // A Redis without persistence (or a new, empty one): its data is gone.
  fs.rmSync(path.join(bed.redis.dir, 'appendonlydir'), { recursive: true, force: true });
  fs.rmSync(path.join(bed.redis.dir, 'dump.rdb'), { force: true });
  const marks = [a.proc.lines.length, b.proc.lines.length];
  await bed.redis.start();
  await Promise.all([a.waitLog(/cluster resync/, 20_000, marks[0]), b.waitLog(/cluster resync/, 20_000, marks[1])]);
  const leased = Number(await bed.redis.cli(['hlen', 'sslgate:lease:10.89.0.1/24:addr']));
  assert.equal(leased, 40, 'every live session leased again');
  const after = (await Promise.all(lc.map((c) => c.open(20)))).flatMap((r) => r.addresses);
  assert.equal(after.length, 40);
  const all = [...before, ...after];
  assert.deepEqual(all.filter((x, i) => all.indexOf(x) !== i), [], 'no address given twice after the data loss');
  const pings = await Promise.all(lc.map((c) => c.ping()));
  assert.deepEqual(pings.map((p) => p.failed), [0, 0]);
});
