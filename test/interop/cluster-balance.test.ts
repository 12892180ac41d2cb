/**
 * Issue 12 §2: load balancing as Cisco ASA's VPN load balancing does it (cluster.balance: true).
 * Every openconnect client connects to node A's address; A answers the first request of some of
 * them with a 302 to node B (the less loaded), openconnect 9.01 follows it to the other host and
 * logs in there. The logins end up on both nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason } from '../helpers/netns.js';
import { redisSkipReason } from '../helpers/redis.js';
import { ClusterBed, NODE_ADDR } from '../helpers/cluster-bed.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { ctlJson } from '../helpers/ctl.js';

const skip = interopSkipReason(['openconnect', 'redis-server']) || redisSkipReason();
const USERS = ['u1', 'u2', 'u3', 'u4'].map((name) => ({ name, password: `${name}-pw-1` }));

test('cluster: balance on — logins at node A are spread over A and B by redirects openconnect follows', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'balance');
  const a = await bed.startNode(0, { users: USERS, balance: true });
  await bed.startNode(1, { users: USERS, balance: true });
  // Both nodes in the registry before the first login.
  for (let i = 0; i < 60; i++) {
    const s = await ctlJson<{ cluster?: { nodes: unknown[] } }>(a, ['status']);
    if (s.cluster?.nodes.length === 2) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const clients: OpenconnectClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
  });
  for (const u of USERS) {
    const c = startOpenconnect(bed.cl, { url: `https://${NODE_ADDR[0]}`, servercert: bed.pin, user: u.name, password: u.password, noDtls: true, verbose: true });
    clients.push(c);
    await c.waitTunnel(30_000);
  }
  const redirected = clients.filter((c) => c.lines.some((l) => l.text.includes(`POST https://${NODE_ADDR[1]}/`)));
  const bounced = clients.filter((c) => c.lines.some((l) => l.text.includes(`Location: https://${NODE_ADDR[0]}`)));
  assert.deepEqual(bounced.map((c) => c.proc.tail(60)), [], 'no login was sent back to A in the middle (sslgate-lb cookie)');
  t.diagnostic(`${redirected.length} of ${clients.length} logins redirected to B`);
  const list = await ctlJson<Array<{ user: string; node?: string }>>(a, ['sessions']);
  const byNode = new Map<string, number>();
  for (const v of list) byNode.set(v.node ?? '?', (byNode.get(v.node ?? '?') ?? 0) + 1);
  assert.ok((byNode.get('gw1') ?? 0) >= 1 && (byNode.get('gw2') ?? 0) >= 1, `sessions on both nodes: ${JSON.stringify([...byNode])}`);
  assert.equal(redirected.length, byNode.get('gw2'), `every session on B came by a redirect openconnect followed: ${JSON.stringify(list)}\n${redirected.map((c) => c.proc.tail(120)).join('\n---\n')}`);
});
