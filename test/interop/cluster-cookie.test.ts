/**
 * Issue 12 §2 acceptance, with real openconnect 9.01 clients, a real redis-server and two gateway
 * namespaces (test/helpers/cluster-bed.ts):
 *   - a cookie from node A works on node B (openconnect --authenticate at A, --cookie at B), and
 *     `ctl sessions` on either node lists it with its node; `ctl status` shows both nodes' load;
 *   - a ban made on A (failed logins) refuses the same address on B.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason } from '../helpers/netns.js';
import { redisSkipReason } from '../helpers/redis.js';
import { ClusterBed, CLIENT_ADDR, NODE_ADDR, POOL_GW } from '../helpers/cluster-bed.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { ctl, ctlJson } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';
import type { SslgateGateway } from '../helpers/sslgate.js';
import { eventually } from '../helpers/poll.js';

const skip = interopSkipReason(['openconnect', 'redis-server']) || redisSkipReason();
const USERS = [{ name: 'alice', password: 'alice-pw-1' }, { name: 'bob', password: 'bob-pw-2' }];
// Three wrong passwords ban the address (10 points each, ban at 30), for a minute.
const EXTRA = 'dpd: 5\nban: { max-score: 30, points: { password: 10 }, ban-time: 60 }\n';

interface View { id: number; user: string; address: string | null; state: string; node?: string }

/** test/helpers/poll.ts eventually, with this file's 15 s. */
function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>): Promise<T> {
  return eventually(what, 15_000, fn);
}

/** `openconnect --authenticate`: logs in, prints COOKIE=..., exits; no tunnel. */
async function authenticate(bed: ClusterBed, host: string, user: string, password: string): Promise<string> {
  const c = startOpenconnect(bed.cl, { url: `https://${host}`, servercert: bed.pin, user, password, extraArgs: ['--authenticate'] });
  const st = await c.proc.waitExit(30_000);
  await c.stop();
  const line = c.lines.find((l) => l.text.startsWith('COOKIE='));
  assert.equal(st.code, 0, `--authenticate failed:\n${c.proc.tail()}`);
  assert.ok(line, `no COOKIE= line:\n${c.proc.tail()}`);
  return line.text.replace(/^COOKIE='?/, '').replace(/'$/, '');
}

test('cluster: a cookie from node A works on node B; sessions and status are cluster-wide', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'cookie');
  const [a, b] = [await bed.startNode(0, { users: USERS, extraYaml: EXTRA }), await bed.startNode(1, { users: USERS, extraYaml: EXTRA })];
  const clients: OpenconnectClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
  });

  const cookie = await authenticate(bed, NODE_ADDR[0], 'alice', 'alice-pw-1');
  const bMark = b.proc.lines.length;
  const atB = startOpenconnect(bed.cl, { url: `https://${NODE_ADDR[1]}`, servercert: bed.pin, cookie });
  clients.push(atB);
  const info = await atB.waitTunnel(30_000).catch((e: Error) => assert.fail(`the cookie from A was not taken by B: ${e.message}\n${atB.proc.tail()}\n--- B:\n${b.proc.tail(30)}`));
  // The client had no password to give; what proves B took the cookie is that B logged no login.
  assert.deepEqual(b.proc.lines.slice(bMark).filter((l) => /"msg":"login"/.test(l.text)).map((l) => l.text), [], 'no login at B');
  assert.ok(await bed.cl.ping(POOL_GW, { timeoutMs: 10_000 }), 'data through the tunnel at B');

  // Both nodes list the session, carried by gw2; the address is the one the tunnel has.
  for (const [gw, name] of [[a, 'A'], [b, 'B']] as Array<[SslgateGateway, string]>) {
    const list = await waitFor(`ctl sessions on ${name}`, async () => {
      const l = await ctlJson<View[]>(gw, ['sessions']);
      return l.find((v) => v.user === 'alice' && v.node === 'gw2' && v.state === 'connected') ? l : null;
    });
    const v = list.find((x) => x.user === 'alice')!;
    assert.equal(v.address, info.address, `${name}: address`);
  }
  const status = await waitFor('both nodes in ctl status', async () => {
    const s = await ctlJson<{ cluster?: { nodes: Array<{ node: string; sessions: number }> } }>(a, ['status']);
    return s.cluster && s.cluster.nodes.length === 2 && s.cluster.nodes.find((n) => n.node === 'gw2')?.sessions === 1 ? s : null;
  });
  assert.deepEqual(status.cluster!.nodes.map((n) => n.node), ['gw1', 'gw2']);
  const metrics = (await ctl(a, ['metrics'])).stdout;
  assert.match(metrics, /^sslgate_cluster_redis_up 1$/m);
  assert.match(metrics, /^sslgate_cluster_node_sessions\{node="gw2"\} 1$/m);
  assert.match(metrics, /^sslgate_cluster_draining 0$/m);
});

test('cluster: a ban made on node A refuses the address on node B', { skip }, async (t) => {
  const bed = await ClusterBed.open(t, 'ban');
  const a = await bed.startNode(0, { users: USERS, extraYaml: EXTRA });
  const b = await bed.startNode(1, { users: USERS, extraYaml: EXTRA });
  for (let i = 0; i < 3; i++) {
    const c = startOpenconnect(bed.cl, { url: `https://${NODE_ADDR[0]}`, servercert: bed.pin, user: 'bob', password: `wrong-${i}`, extraArgs: ['--authenticate'] });
    await c.proc.waitExit(30_000);
    await c.stop();
  }
  const bans = await waitFor('the ban on B', async () => {
    const l = await ctlJson<Array<{ kind: string; key: string }>>(b, ['bans']);
    return l.some((x) => x.kind === 'address' && x.key === CLIENT_ADDR) ? l : null;
  });
  assert.ok(bans.length >= 1);
  assert.ok((await ctlJson<Array<{ key: string }>>(a, ['bans'])).some((x) => x.key === CLIENT_ADDR), 'banned on A, where it was made');
  // The right password, at B: refused (the address is banned there too).
  const bannedAtB = async (): Promise<number> => valueOf(parsePrometheus((await ctl(b, ['metrics'])).stdout), 'sslgate_refused_connections_total', { reason: 'banned' });
  const refusedBefore = await bannedAtB();
  const c = startOpenconnect(bed.cl, { url: `https://${NODE_ADDR[1]}`, servercert: bed.pin, user: 'alice', password: 'alice-pw-1', noDtls: true });
  const st = await c.proc.waitExit(30_000);
  await c.stop();
  assert.notEqual(st.code, 0, `B let a banned address in:\n${c.proc.tail()}`);
  assert.ok(!c.lines.some((l) => /^Configured as/.test(l.text)));
  // Refused for the ban, not for some other failure: B counts it as a banned address at accept.
  assert.ok((await bannedAtB()) > refusedBefore, 'B did not refuse the connection as banned');
});
