/**
 * The privileged side of a cluster node (cluster/agent.ts) with two nodes on a real redis-server:
 * each sees the other in the registry with its load, a ban on one reaches the other's network
 * side, a session adopted by one is dropped by the other, and a drain writes the file keepalived
 * checks. Plus the network side's view (cluster/view.ts): redirects and the drain refusal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/log.js';
import { ClusterAgent, DRAIN_FILE } from '../../src/gateway/cluster/agent.js';
import { ClusterView, DRAINING_MESSAGE } from '../../src/gateway/cluster/view.js';
import { RedisStore } from '../../src/gateway/state/redis-store.js';
import type { NodeInfo } from '../../src/gateway/state/cluster-types.js';
import type { BanRecord, SessionRecord } from '../../src/gateway/state/types.js';
import type { ClusterConfig } from '../../src/gateway/config-cluster.js';
import { parseClusterReport } from '../../src/gateway/priv/cluster-messages.js';
import { redactedUrl } from '../../src/gateway/state/redacted-url.js';
import { redisSkipReason, startRedis } from '../helpers/redis.js';

const skip = redisSkipReason();
const log = createLogger({ level: 'silent' });

function until(cond: () => boolean, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = (): void => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error('condition not met in time'));
      else setTimeout(check, 50);
    };
    check();
  });
}

test('cluster agents: registry, bans, moves and the drain file across two nodes', { skip }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop('SIGKILL'));
  const prefix = `a${randomBytes(3).toString('hex')}:`;
  const made: Array<{ agent: ClusterAgent; store: RedisStore; dir: string; nodes: NodeInfo[]; bans: BanRecord[]; moved: string[] }> = [];
  for (const name of ['gw1', 'gw2']) {
    const store = await RedisStore.open({ url: redis.url, node: name, prefix, reconnectWindowMs: 60_000 });
    const dir = mkdtempSync(join(tmpdir(), 'sslgate-agent-'));
    const cfg: ClusterConfig = { redis: redis.url, node: name, address: name === 'gw1' ? '10.88.0.11' : '10.88.0.12', balance: true };
    const rec = { store, dir, nodes: [] as NodeInfo[], bans: [] as BanRecord[], moved: [] as string[] } as (typeof made)[number];
    rec.agent = new ClusterAgent({
      store, cluster: () => cfg, capacity: () => 100, port: () => 443, stateDir: dir, log,
      nodes: (n) => { rec.nodes = n; },
      ban: (b) => rec.bans.push(b),
      unban: () => undefined,
      moved: (h) => rec.moved.push(h),
      resync: () => undefined,
    });
    made.push(rec);
  }
  t.after(async () => {
    for (const m of made) {
      await m.agent.stop();
      await m.store.close();
      rmSync(m.dir, { recursive: true, force: true });
    }
  });
  const [a, b] = made as [(typeof made)[number], (typeof made)[number]];
  a.agent.report({ sessions: 7, tunnels: 5, draining: false });
  b.agent.report({ sessions: 2, tunnels: 2, draining: false });
  a.agent.start();
  b.agent.start();
  await until(() => a.nodes.length === 2 && b.nodes.length === 2 && a.nodes.find((n) => n.node === 'gw2')?.sessions === 2);
  assert.deepEqual(a.nodes.map((n) => [n.node, n.address, n.sessions, n.tunnels, n.draining]), [['gw1', '10.88.0.11', 7, 5, false], ['gw2', '10.88.0.12', 2, 2, false]]);

  // A second network process (worker) of gw1: the node's load is the sum.
  a.agent.report({ sessions: 1, tunnels: 1, draining: false }, 1);
  await until(() => b.nodes.find((n) => n.node === 'gw1')?.sessions === 8);
  assert.equal(b.nodes.find((n) => n.node === 'gw1')?.tunnels, 6);

  const ban: BanRecord = { kind: 'address', key: '198.51.100.9', until: Date.now() + 60_000 };
  await a.store.putBan(ban);
  await until(() => b.bans.length === 1);
  assert.deepEqual(b.bans, [ban]);
  assert.deepEqual(a.bans, [], 'a node does not hear its own ban back');

  const hash = randomBytes(32).toString('hex');
  const r: SessionRecord = { cookieHash: hash, id: 1, user: 'u', group: 'g', remote: 'r', userAgent: '', createdAt: 1, limits: { idleTimeout: null, sessionTimeout: null }, attrs: {}, methods: [], loginMessages: [], address: 5, node: 'gw1', disconnectedAt: null, lastActivity: 1, rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
  await a.store.putSession(r);
  await b.store.putSession({ ...r, node: 'gw2' });
  await until(() => a.moved.length === 1);
  assert.deepEqual(a.moved, [hash]);
  assert.deepEqual(b.moved, []);

  b.agent.report({ sessions: 2, tunnels: 2, draining: true });
  assert.equal(readFileSync(join(b.dir, DRAIN_FILE), 'utf8'), 'gw2\n');
  await until(() => a.nodes.find((n) => n.node === 'gw2')?.draining === true);
  b.agent.report({ sessions: 2, tunnels: 2, draining: false });
  assert.ok(!existsSync(join(b.dir, DRAIN_FILE)));

  await b.agent.stop();
  await until(() => a.nodes.length === 1, 10_000);
});

test('cluster view: balance redirects, the mark stops a bounce, draining refuses when alone', () => {
  let sessions = 5;
  const sent: unknown[] = [];
  const cfg: ClusterConfig = { redis: 'redis://u:secret@h:1', node: 'gw1', address: '10.88.0.11', balance: true };
  const v = new ClusterView(() => cfg, () => 100, () => ({ sessions, tunnels: 1 }), (r) => sent.push(r));
  const now = Date.now();
  v.update([{ node: 'gw2', address: '10.88.0.12', port: 443, sessions: 3, tunnels: 3, capacity: 100, draining: false, updatedAt: now, startedAt: now }], true);
  assert.deepEqual(v.route('/', now), { kind: 'redirect', location: 'https://10.88.0.12/?sslgate-lb=1', node: 'gw2' });
  assert.equal(v.route('/', now).kind, 'redirect', '5 here, 4 there: one more goes');
  assert.deepEqual(v.route('/', now), { kind: 'stay' }, 'the redirected logins count for gw2 until its next refresh: 5 and 5');
  assert.deepEqual(v.route('/?sslgate-lb=1', now), { kind: 'stay' });
  sessions = 0;
  v.update([{ node: 'gw2', address: '10.88.0.12', port: 443, sessions: 3, tunnels: 3, capacity: 100, draining: true, updatedAt: now + 1, startedAt: now }], true);
  v.setDraining(true);
  assert.deepEqual(v.route('/?sslgate-lb=1', now), { kind: 'refuse', message: DRAINING_MESSAGE }, 'draining, the other drains too: refused');
  assert.deepEqual(sent.at(-1), { t: 'cluster-load', sessions: 0, tunnels: 1, draining: true });
  assert.equal((v.status(now)['redis'] as { url: string }).url, 'redis://***@h:1', 'no password in ctl status');
});

test("cluster view with several workers: the node's load is this worker's and its peers'; a report goes when the load changed", (t) => {
  let sessions = 1;
  const sent: Array<{ sessions: number }> = [];
  const cfg: ClusterConfig = { redis: 'redis://h:1', node: 'gw1', address: '10.88.0.11', balance: true };
  const v = new ClusterView(() => cfg, () => 100, () => ({ sessions, tunnels: sessions }), (r) => sent.push(r));
  const now = Date.now();
  v.update([{ node: 'gw2', address: '10.88.0.12', port: 443, sessions: 1, tunnels: 1, capacity: 100, draining: false, updatedAt: now, startedAt: now }], true);
  // Alone, this worker's 1 session and gw2's 1 look even: stay. With the other worker's 3, gw1 holds 4: go.
  assert.deepEqual(v.route('/', now), { kind: 'stay' });
  v.setPeers({ sessions: 3, tunnels: 2 });
  assert.equal(v.route('/', now).kind, 'redirect', "the other workers' sessions count for this node");
  const self = (v.status(now)['nodes'] as Array<{ self: boolean; sessions: number; tunnels: number }>).find((n) => n.self);
  assert.equal(self, undefined, 'gw1 is not in the pushed list here');
  v.update([{ node: 'gw1', address: '10.88.0.11', port: 443, sessions: 0, tunnels: 0, capacity: 100, draining: false, updatedAt: now, startedAt: now }], true);
  const me = (v.status(now)['nodes'] as Array<{ self: boolean; sessions: number; tunnels: number }>).find((n) => n.self)!;
  assert.deepEqual([me.sessions, me.tunnels], [4, 3], 'ctl status shows the whole node');
  // Reports: the first at start, then only on a change.
  t.mock.timers.enable({ apis: ['setInterval'] });
  v.start();
  t.after(() => v.stop());
  assert.equal(sent.length, 1);
  t.mock.timers.tick(1000);
  assert.equal(sent.length, 1, 'no change, no report');
  sessions = 2;
  t.mock.timers.tick(250);
  assert.deepEqual(sent.map((r) => r.sessions), [1, 2], "a change is reported, and it is this worker's own count");
});

test('redactedUrl: the one redaction of cluster.redis (ctl status, logs, the network process\'s copy)', () => {
  assert.equal(redactedUrl('redis://u:secret@h:1'), 'redis://***@h:1');
  assert.equal(redactedUrl('redis://:secret@h:1/2'), 'redis://***@h:1/2');
  assert.equal(redactedUrl(redactedUrl('rediss://u:secret@h')), 'rediss://***@h', 'redacting twice changes nothing');
  assert.equal(redactedUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  assert.equal(redactedUrl('not a url with secret@h'), '(unparsable URL)');
});

test('cluster-load messages are validated like every message from the network process', () => {
  assert.deepEqual(parseClusterReport({ t: 'cluster-load', sessions: 1, tunnels: 0, draining: false }), { t: 'cluster-load', sessions: 1, tunnels: 0, draining: false });
  assert.throws(() => parseClusterReport({ t: 'cluster-load', sessions: -1, tunnels: 0, draining: false }), /sessions/);
  assert.throws(() => parseClusterReport({ t: 'cluster-load', sessions: 1, tunnels: 0, draining: 'yes' }), /draining/);
  assert.throws(() => parseClusterReport({ t: 'cluster-load', sessions: 1, tunnels: 0, draining: false, x: 1 }), /unexpected key/);
  assert.throws(() => parseClusterReport({ t: 'cluster-nope' }), /unknown type/);
});
