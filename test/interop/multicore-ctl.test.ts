/**
 * Issue 11, `workers: 2` behaves like one gateway for admins: Debian openconnect clients in their
 * own namespaces, their sessions on both workers (worker 0 answers `sslgate ctl`):
 *   - `ctl sessions --json` shows live details (channel, bytes) of the other worker's sessions;
 *   - `ctl disconnect ID` of a session on worker 1 closes its connection (openconnect reconnects);
 *   - `ctl terminate user NAME` ends the user's sessions on both workers (openconnect exits);
 *   - max-sessions-per-user (refuse-newest) holds across workers: a third login is refused;
 *   - each tunnel's /32 is in the kernel's table towards its worker's TUN, set over rtnetlink
 *     (the privileged process says how), and with SSLGATE_NETLINK=0 with ip(8).
 * With the relay off (the old code) the disconnect answers 404, the sessions list has no live
 * channel for worker 1, the terminate leaves worker 1's client running, and the third login is
 * admitted by the worker that holds one of the two sessions.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason, type Ns } from '../helpers/netns.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { addClientNamespace, type ClientNs } from '../helpers/client-ns.js';
import { startOpenconnect, type OpenconnectClient, type TunnelInfo } from '../helpers/openconnect.js';
import { gwHost, type SslgateGateway } from '../helpers/sslgate.js';
import { ctl, ctlJson } from '../helpers/ctl.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip', 'python3']);

interface Client {
  name: string;
  user: string;
  ns: Ns;
  oc: OpenconnectClient;
  tun: TunnelInfo;
}

interface View {
  id: number;
  user: string;
  address: string | null;
  state: string;
  worker?: number;
  source?: string;
  channel: { type: string } | null;
  bytesIn: number;
  bytesOut: number;
}

/** worker of each live tunnel address, from the gateway's "tunnel up" lines (the last per address) */
function placement(gw: SslgateGateway): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of gw.logs()) if (l['msg'] === 'tunnel up' && typeof l['address'] === 'string') m.set(l['address'], Number(l['worker'] ?? 0));
  return m;
}

/** The first log record `pred` accepts, waiting for it (the gateway's output is read asynchronously). */
async function waitRecord(gw: SslgateGateway, pred: (l: Record<string, unknown>) => boolean, what: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const hit = gw.logs().find(pred);
    if (hit) return hit;
    if (Date.now() > until) throw new Error(`no log record: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('workers: 2 -> ctl sessions/disconnect/terminate reach every worker; the per-user limit holds across workers; routes over rtnetlink', { skip, timeout: 600_000 }, async (t: TestContext) => {
  const bed = await GatewayBed.open(t, 'mcctl');
  const extra: ClientNs[] = [];
  const clients: Client[] = [];
  t.after(async () => {
    for (const c of clients) await c.oc.stop().catch(() => undefined);
    for (const x of extra) await x.close().catch(() => undefined);
  });
  const tb = bed.tb;
  const net = tb.poolNet(0);
  const gw = await bed.startGateway({
    yaml: `workers: 2\nlimits: { max-sessions-per-user: 2, session-overflow: refuse-newest }\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
    users: [
      { name: 'alice', password: 'secret-a' },
      { name: 'bob', password: 'secret-b' },
    ],
  });
  const configured = await gw.waitLog(/TUN device configured"/, 10_000);
  const tuns = configured['workerTuns'] as string[];
  assert.equal(tuns.length, 2, JSON.stringify(configured));
  const spaces: Ns[] = [tb.cl];
  for (let i = 1; i < 4; i++) {
    const x = await addClientNamespace(tb.gw, tb.gwAddr, `mcc${i}`);
    extra.push(x);
    spaces.push(x.ns);
  }
  const withTails = async (st: TestContext, body: () => Promise<void>): Promise<void> => {
    try {
      await body();
    } catch (e) {
      st.diagnostic(`gateway:\n${gw.proc.tail(80)}\n${clients.map((c) => `openconnect ${c.name}:\n${c.oc.proc.tail(12)}`).join('\n')}`);
      throw e;
    }
  };
  const connect = async (name: string, user: string, password: string, ns: Ns): Promise<Client> => {
    const oc = startOpenconnect(ns, { url: gw.url, servercert: gw.pin, user, password, authgroup: 'Employees', noDtls: name !== 'alice1' });
    try {
      const tun = await oc.waitTunnel(60_000);
      const c = { name, user, ns, oc, tun };
      clients.push(c);
      return c;
    } catch (e) {
      await oc.stop().catch(() => undefined);
      throw e;
    }
  };

  await t.test('alice twice and bob: alice has a session on each worker; each /32 set over rtnetlink', (st) =>
    withTails(st, async () => {
      // One after the other: the balancer gives each new connection to the worker with fewer.
      await connect('alice1', 'alice', 'secret-a', spaces[0]!);
      await connect('alice2', 'alice', 'secret-a', spaces[1]!);
      await connect('bob', 'bob', 'secret-b', spaces[2]!);
      const where = placement(gw);
      st.diagnostic(`placement: ${JSON.stringify([...where])}`);
      const alice = clients.filter((c) => c.user === 'alice').map((c) => where.get(c.tun.address));
      assert.deepEqual([...alice].sort(), [0, 1], "alice's two sessions are on both workers");
      for (const c of clients) {
        const w = where.get(c.tun.address)!;
        const set = await waitRecord(gw, (l) => l['msg'] === 'tunnel route set' && l['address'] === c.tun.address, `route of ${c.tun.address}`);
        assert.equal(set['via'], 'rtnetlink', `${c.name}: ${JSON.stringify(set)}`);
        assert.equal(set['worker'], w);
        const r = await tb.gw.exec('ip', ['-4', 'route', 'show', `${c.tun.address}/32`]);
        assert.match(r.stdout, new RegExp(`dev ${tuns[w]} `), `${c.name}: the kernel routes ${c.tun.address} to ${tuns[w]}: ${r.stdout}`);
      }
    }),
  );

  await t.test('max-sessions-per-user holds across workers: a third login of alice is refused', (st) =>
    withTails(st, async () => {
      const mark = gw.proc.lines.length;
      const oc = startOpenconnect(spaces[3]!, { url: gw.url, servercert: gw.pin, user: 'alice', password: 'secret-a', authgroup: 'Employees', noDtls: true });
      try {
        const refused = await gw.waitLog(/login refused: limit reached/, 60_000, mark);
        assert.equal(refused['reason'], 'max-sessions');
        assert.equal(refused['user'], 'alice');
        assert.ok(!oc.lines.some((l) => /^Configured as/.test(l.text)), 'the third login got a tunnel');
      } finally {
        await oc.stop().catch(() => undefined);
      }
    }),
  );

  await t.test('ctl sessions shows live details of both workers (channel, bytes)', (st) =>
    withTails(st, async () => {
      for (const c of clients) assert.ok(await c.ns.ping(gwHost(net), { count: 3, timeoutMs: 5000 }), `${c.name}: no ping through the tunnel`);
      const list = await ctlJson<View[]>(gw, ['sessions']);
      st.diagnostic(JSON.stringify(list.map((v) => [v.id, v.user, v.worker, v.source, v.channel?.type, v.bytesIn, v.bytesOut])));
      assert.equal(list.length, clients.length, JSON.stringify(list));
      const where = placement(gw);
      for (const c of clients) {
        const v = list.find((x) => x.address === c.tun.address);
        assert.ok(v, `${c.name} not listed`);
        assert.equal(v.worker, where.get(c.tun.address), `${c.name}: worker`);
        assert.equal(v.source, undefined, `${c.name}: shown from the store, not live`);
        assert.ok(v.channel !== null, `${c.name}: no live channel`);
        assert.ok(v.bytesIn > 0 && v.bytesOut > 0, `${c.name}: no live bytes: ${JSON.stringify(v)}`);
      }
      const table = await ctl(gw, ['sessions']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /WORKER/);
    }),
  );

  await t.test('ctl disconnect ID of a session on worker 1: its connection closes, openconnect reconnects', (st) =>
    withTails(st, async () => {
      const where = placement(gw);
      const list = await ctlJson<View[]>(gw, ['sessions']);
      const target = clients.find((c) => where.get(c.tun.address) === 1)!;
      const id = list.find((v) => v.address === target.tun.address)!.id;
      const ocMark = target.oc.lines.length;
      const gwMark = gw.proc.lines.length;
      const r = await ctlJson<{ disconnected: number[]; worker: Record<string, number[]> }>(gw, ['disconnect', String(id)]);
      assert.deepEqual(r.disconnected, [id], JSON.stringify(r));
      assert.deepEqual(r.worker['1'], [id], JSON.stringify(r));
      const done = await gw.waitLog(/admin: disconnect/, 10_000, gwMark);
      assert.equal(done['worker'], 1);
      assert.equal(done['session'], id);
      await target.oc.proc.waitForLine(/CSTP connected|Connected as|Configured as/, 60_000, ocMark);
      assert.ok(target.oc.proc.running, 'openconnect exited instead of reconnecting');
      // unknown ids are still 404 (the same error as with one worker)
      const none = await ctl(gw, ['disconnect', '999999']);
      assert.notEqual(none.code, 0);
      assert.match(none.stderr + none.stdout, /no session 999999/);
    }),
  );

  await t.test('ctl terminate user alice ends her sessions on both workers', (st) =>
    withTails(st, async () => {
      const where = placement(gw);
      const alice = clients.filter((c) => c.user === 'alice');
      st.diagnostic(`alice on workers ${alice.map((c) => where.get(c.tun.address)).join(', ')}`);
      const r = await ctlJson<{ terminated: number[]; worker: Record<string, number[]> }>(gw, ['terminate', 'user', 'alice']);
      assert.equal(r.terminated.length, 2, JSON.stringify(r));
      for (const c of alice) {
        const status = await c.oc.proc.waitExit(30_000);
        st.diagnostic(`${c.name} exited: ${JSON.stringify(status)}`);
      }
      const left = await ctlJson<View[]>(gw, ['sessions']);
      assert.deepEqual(left.map((v) => v.user), ['bob'], JSON.stringify(left));
    }),
  );
});

test('workers: 2 with SSLGATE_NETLINK=0: tunnel routes are set with ip(8)', { skip, timeout: 300_000 }, async (t: TestContext) => {
  const bed = await GatewayBed.open(t, 'mcnl0');
  const tb = bed.tb;
  const net = tb.poolNet(0);
  const gw = await bed.startGateway({
    yaml: `workers: 2\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
    users: [{ name: 'carol', password: 'secret-c' }],
    env: { SSLGATE_NETLINK: '0' },
  });
  const oc = startOpenconnect(tb.cl, { url: gw.url, servercert: gw.pin, user: 'carol', password: 'secret-c', authgroup: 'Employees', noDtls: true });
  t.after(async () => void (await oc.stop().catch(() => undefined)));
  const tun = await oc.waitTunnel(60_000);
  const set = await gw.waitLog(/tunnel route set/, 10_000);
  assert.equal(set['via'], 'ip', JSON.stringify(set));
  assert.equal(set['address'], tun.address);
  const r = await tb.gw.exec('ip', ['-4', 'route', 'show', `${tun.address}/32`]);
  assert.match(r.stdout, new RegExp(`dev ${String(set['tun'])} `), r.stdout);
  assert.ok(await tb.cl.ping(gwHost(net), { count: 2, timeoutMs: 5000 }), 'no ping through the tunnel');
});
