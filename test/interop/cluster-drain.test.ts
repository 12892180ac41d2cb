/**
 * Issue 12 §2 acceptance: `sslgate ctl drain` empties a node. Two nodes behind a keepalived VIP
 * (node A preferred); openconnect clients connected through the VIP to A. `ctl drain` on A:
 *   - A writes STATE/draining; keepalived's check sees it and moves the VIP to B;
 *   - after its grace period A closes its tunnels without a goodbye (cookies kept); the clients
 *     reconnect to the same URL, now B, which adopts their sessions with the same addresses;
 *   - a new login at A's own address is redirected to B (A takes no new session);
 *   - A's `ctl status` says draining, and A carries no session any more.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason } from '../helpers/netns.js';
import { redisSkipReason } from '../helpers/redis.js';
import { holdsVip, keepalivedSkipReason } from '../helpers/keepalived.js';
import { ClusterBed, NODE_ADDR, POOL_GW, VIP, until } from '../helpers/cluster-bed.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { ctl, ctlJson } from '../helpers/ctl.js';

const skip = interopSkipReason(['openconnect', 'redis-server', 'keepalived']) || redisSkipReason() || keepalivedSkipReason();
const USERS = [{ name: 'alice', password: 'alice-pw-1' }, { name: 'bob', password: 'bob-pw-2' }, { name: 'carol', password: 'carol-pw-3' }];

interface View { user: string; address: string | null; state: string; node?: string }


test('cluster: ctl drain empties a node; its clients move to the other node with their addresses', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'drain');
  const a = await bed.startNode(0, { users: USERS });
  const b = await bed.startNode(1, { users: USERS });
  bed.startVrrp();
  await until('node A to hold the VIP', 20_000, () => holdsVip(bed.nodes[0]!.ns, 'lan0', VIP));
  const clients: OpenconnectClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
  });
  const before = new Map<string, string>();
  for (const u of USERS.slice(0, 2)) {
    // DTLS on: through the VIP too (the node answers UDP from the address it came to, README
    // "Running a cluster")
    const c = startOpenconnect(bed.cl, { url: `https://${VIP}`, servercert: bed.pin, user: u.name, password: u.password });
    clients.push(c);
    before.set(u.name, (await c.waitTunnel(30_000)).address);
    await c.proc.waitForLine(/Established DTLS connection/, 20_000);
  }

  const linesBefore = clients.map((c) => c.lines.length);
  const r = await ctl(a, ['drain', '--grace', '3']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  t.diagnostic(r.stdout.trim());
  await until('the VIP to move to node B', 15_000, () => holdsVip(bed.nodes[1]!.ns, 'lan0', VIP));
  await until('both sessions on node B with their addresses', 60_000, async () => {
    const v = await ctlJson<View[]>(b, ['sessions']);
    return [...before].every(([user, addr]) => v.some((x) => x.user === user && x.address === addr && x.node === 'gw2' && x.state === 'connected'));
  });
  await until('node A empty', 15_000, async () => {
    const s = await ctlJson<{ sessions: { total: number }; cluster: { draining: boolean } }>(a, ['status']);
    return s.cluster.draining && s.sessions.total === 0;
  });
  assert.ok(await bed.cl.ping(POOL_GW, { timeoutMs: 10_000 }), 'the moved tunnels pass packets');
  // and their DTLS comes up again with B, through the VIP
  for (const [i, c] of clients.entries()) await c.proc.waitForLine(/Established DTLS connection/, 30_000, linesBefore[i]);
  clients.forEach((c, i) => {
    assert.ok(c.proc.running, 'openconnect kept running');
    assert.ok(!c.lines.slice(linesBefore[i]).some((l) => /Please enter your username/.test(l.text)), 'no new login');
  });

  // A new login at the draining node's own address is sent to B.
  const c = startOpenconnect(bed.cl, { url: `https://${NODE_ADDR[0]}`, servercert: bed.pin, user: 'carol', password: 'carol-pw-3', noDtls: true });
  clients.push(c);
  await c.waitTunnel(30_000);
  assert.ok(c.lines.some((l) => l.text.includes(`https://${NODE_ADDR[1]}/`)), `redirected to B:\n${c.proc.tail(30)}`);
  const onB = await ctlJson<View[]>(b, ['sessions']);
  assert.equal(onB.find((x) => x.user === 'carol')?.node, 'gw2');
});
