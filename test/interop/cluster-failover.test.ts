/**
 * Issue 12 §2 acceptance: two nodes share a virtual IP with keepalived (VRRP). openconnect
 * clients connect to the VIP (node A holds it); node A dies (its link goes down, every process in
 * it is killed: no goodbye to anyone). keepalived moves the VIP to node B; the clients notice the
 * dead peer (DPD, 5 s here), reconnect to the same URL with their cookie and get their tunnel from
 * B with the same address — within 15 s of the kill, and without a new login.
 *
 * DTLS is on: each node listens on 0.0.0.0 and answers UDP from the address a datagram came to
 * (the VIP; IP_PKTINFO, dtls-listener.ts), so the clients' DTLS comes up through A, and again
 * through B after the failover.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason } from '../helpers/netns.js';
import { redisSkipReason } from '../helpers/redis.js';
import { holdsVip, keepalivedSkipReason } from '../helpers/keepalived.js';
import { ClusterBed, POOL_GW, VIP, until } from '../helpers/cluster-bed.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { ctlJson } from '../helpers/ctl.js';

const skip = interopSkipReason(['openconnect', 'redis-server', 'keepalived']) || redisSkipReason() || keepalivedSkipReason();
const USERS = [{ name: 'alice', password: 'alice-pw-1' }, { name: 'bob', password: 'bob-pw-2' }];
const EXTRA = 'dpd: 5\n';

interface View { user: string; address: string | null; state: string; node?: string }


test('cluster: the VIP holder dies; clients reconnect to the same URL and keep their address, no login', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'failover');
  await bed.startNode(0, { users: USERS, extraYaml: EXTRA });
  const b = await bed.startNode(1, { users: USERS, extraYaml: EXTRA });
  bed.startVrrp();
  await until('node A to hold the VIP', 20_000, () => holdsVip(bed.nodes[0]!.ns, 'lan0', VIP));

  const clients: OpenconnectClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
  });
  const before = new Map<string, string>();
  for (const u of USERS) {
    const c = startOpenconnect(bed.cl, { url: `https://${VIP}`, servercert: bed.pin, user: u.name, password: u.password });
    clients.push(c);
    before.set(u.name, (await c.waitTunnel(30_000)).address);
    await c.proc.waitForLine(/Established DTLS connection/, 20_000);
  }
  assert.ok(await bed.cl.ping(POOL_GW, { timeoutMs: 10_000 }), 'tunnels up through node A');
  const linesBefore = clients.map((c) => c.lines.length);
  const bLines = b.proc.lines.length;

  const killedAt = Date.now();
  await bed.killNode(0);
  // Every client's tunnel answers again, through B, within 15 s of the kill.
  for (const [i, c] of clients.entries()) {
    const left = 15_000 - (Date.now() - killedAt);
    await until(`client ${USERS[i]!.name} back through node B (openconnect:\n${c.proc.tail(15)})`, Math.max(left, 0), async () =>
      c.lines.slice(linesBefore[i]).some((l) => /CSTP connected|Configured as/.test(l.text)) && (await c.ns.ping(POOL_GW, { count: 1, timeoutMs: 1500 })),
    );
  }
  t.diagnostic(`data plane back ${Date.now() - killedAt} ms after the kill`);
  // DTLS again, now with B through the VIP.
  for (const [i, c] of clients.entries()) await c.proc.waitForLine(/Established DTLS connection/, 30_000, linesBefore[i]);
  t.diagnostic(`DTLS back ${Date.now() - killedAt} ms after the kill`);
  assert.ok(await holdsVip(bed.nodes[1]!.ns, 'lan0', VIP), 'node B holds the VIP');
  for (const [i, c] of clients.entries()) {
    assert.ok(c.proc.running, 'openconnect kept running');
    const after = c.lines.slice(linesBefore[i]).map((l) => l.text);
    assert.ok(!after.some((l) => /Please enter your username|Failed to obtain WebVPN cookie/.test(l)), `${USERS[i]!.name}: no new login:\n${after.join('\n')}`);
  }
  // B carries both sessions with the addresses they had on A, and logged no login for them.
  const views = await ctlJson<View[]>(b, ['sessions']);
  for (const [user, addr] of before) {
    const v = views.find((x) => x.user === user);
    assert.equal(v?.address, addr, `${user} keeps ${addr}`);
    assert.equal(v?.node, 'gw2');
  }
  const bLogins = b.proc.lines.slice(bLines).filter((l) => /"msg":"login"/.test(l.text));
  assert.deepEqual(bLogins, [], 'node B saw no login');
});
