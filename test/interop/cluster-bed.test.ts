/**
 * The cluster test bed itself (test/helpers/cluster-bed.ts): the segment, Redis reachable from both
 * gateway namespaces, and keepalived moving the VIP when its holder dies. The cluster tests rely
 * on each of these; a broken bed must fail here, with a clear message, not there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason } from '../helpers/netns.js';
import { redisSkipReason } from '../helpers/redis.js';
import { keepalivedSkipReason, holdsVip } from '../helpers/keepalived.js';
import { ClusterBed, SWITCH_ADDR, VIP } from '../helpers/cluster-bed.js';

const skip = interopSkipReason(['redis-server', 'keepalived']) || redisSkipReason() || keepalivedSkipReason();

test('cluster bed: Redis on the segment; the VIP moves to the other node when its holder dies', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'bed');
  for (const n of bed.nodes) {
    const r = await n.ns.exec('redis-cli', ['-h', SWITCH_ADDR, '-p', String(bed.redis.port), 'ping'], { timeoutMs: 5000 });
    assert.equal(r.stdout.trim(), 'PONG', `${n.name} reaches Redis`);
  }
  bed.startVrrp();
  // A node killed without a goodbye may keep the address on its (downed) link: ask the one that should hold it.
  const waitHolder = async (i: number, ms: number): Promise<void> => {
    const n = bed.nodes[i]!;
    const until = Date.now() + ms;
    while (Date.now() < until && !(await holdsVip(n.ns, 'lan0', VIP))) await new Promise((r) => setTimeout(r, 200));
    assert.ok(await holdsVip(n.ns, 'lan0', VIP), `${n.name} should hold the VIP; keepalived said:\n${bed.nodes.map((x) => x.keepalived?.proc.tail(10)).join('\n')}`);
  };
  await waitHolder(0, 20_000);
  assert.ok(!(await holdsVip(bed.nodes[1]!.ns, 'lan0', VIP)), 'only one holder');
  assert.ok(await bed.cl.ping(VIP, { timeoutMs: 5000 }), 'the VIP answers');
  await bed.killNode(0);
  await waitHolder(1, 15_000);
  assert.ok(await bed.cl.ping(VIP, { timeoutMs: 5000 }), 'the VIP answers from the other node');
});
