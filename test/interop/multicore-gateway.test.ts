/**
 * Issue 11, every core used: `workers: 2` (two network processes, priv/parent.ts) with four
 * Debian openconnect clients, each in its own namespace, all at once; and `workers: 1` (the
 * fallback, one network process) with the same traffic. Two clients use DTLS, two TLS only.
 * Through every tunnel at the same time: TCP both ways with SHA-256 compared, self-checking UDP
 * both ways, pings with DF at the MTU edge both ways, pings with IPv4 options (record route).
 * With two workers the sessions must land on both (the "tunnel up" log lines name the worker),
 * and a tunnel whose TCP connection dies reconnects on the other worker with its address (the
 * CONNECT's cookie is resolved through the privileged process's state store).
 */
import { readFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason, tcpTransfer, type Ns } from '../helpers/netns.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { addClientNamespace, type ClientNs } from '../helpers/client-ns.js';
import { startOpenconnect, type OpenconnectClient, type TunnelInfo } from '../helpers/openconnect.js';
import { gwHost } from '../helpers/sslgate.js';
import { linkMtu, pingDf, udpTransfer } from '../helpers/tunnel-traffic.js';
import { ctl, ctlJson } from '../helpers/ctl.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip', 'ss', 'python3']);
const MB4 = 4 * 1024 * 1024;
const CLIENTS = 4;

interface Client {
  user: string;
  ns: Ns;
  dtls: boolean;
  oc: OpenconnectClient;
  tun: TunnelInfo;
}

for (const workers of [2, 1]) {
  test(`${CLIENTS} openconnect clients at once -> sslgate with workers: ${workers}${workers === 1 ? ' (fallback)' : ''}`, { skip, timeout: 600_000 }, async (t: TestContext) => {
    const bed = await GatewayBed.open(t, `mcore${workers}`);
    const extra: ClientNs[] = [];
    const clients: Client[] = [];
    t.after(async () => {
      for (const c of clients) await c.oc.stop().catch(() => undefined);
      for (const x of extra) await x.close().catch(() => undefined);
    });
    const tb = bed.tb;
    const net = tb.poolNet(0);
    const users = Array.from({ length: CLIENTS }, (_, i) => ({ name: `user${i}`, password: `secret${i}` }));
    const gw = await bed.startGateway({
      yaml: `workers: ${workers}\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
      users,
    });
    const configured = await gw.waitLog(/TUN device configured"/, 10_000);
    const tunNames = (configured['workerTuns'] as string[] | undefined) ?? [configured['tun'] as string];
    assert.equal(tunNames.length, workers, `TUN devices: ${JSON.stringify(configured)}`);

    const spaces: Ns[] = [tb.cl];
    for (let i = 1; i < CLIENTS; i++) {
      const x = await addClientNamespace(tb.gw, tb.gwAddr, `mcx${workers}${i}`);
      extra.push(x);
      spaces.push(x.ns);
    }
    const withTails = async (st: TestContext, body: () => Promise<void>): Promise<void> => {
      try {
        await body();
      } catch (e) {
        st.diagnostic(`gateway:\n${gw.proc.tail(60)}\n${clients.map((c) => `openconnect ${c.user}:\n${c.oc.proc.tail(15)}`).join('\n')}`);
        throw e;
      }
    };

    await t.test('all clients log in and connect at once', (st) =>
      withTails(st, async () => {
        const started = users.map((u, i) => {
          const dtls = i % 2 === 0;
          const oc = startOpenconnect(spaces[i]!, { url: gw.url, servercert: gw.pin, user: u.name, password: u.password, authgroup: 'Employees', noDtls: !dtls });
          return { user: u.name, ns: spaces[i]!, dtls, oc };
        });
        // Registered for clean-up before waiting: a client that never comes up is stopped too.
        const tunnels = await Promise.allSettled(started.map((c) => c.oc.waitTunnel(60_000)));
        tunnels.forEach((r, i) => {
          if (r.status === 'fulfilled') clients.push({ ...started[i]!, tun: r.value });
          else void started[i]!.oc.stop();
        });
        const bad = tunnels.findIndex((r) => r.status === 'rejected');
        assert.equal(bad, -1, `client ${bad} got no tunnel: ${(tunnels[bad] as PromiseRejectedResult | undefined)?.reason}`);
        for (const c of clients) if (c.dtls) await c.oc.proc.waitForLine(/Established DTLS connection/, 20_000);
        assert.equal(new Set(clients.map((c) => c.tun.address)).size, CLIENTS, 'two clients got the same address');
      }),
    );

    /** worker index of each user's live tunnel, from the gateway's "tunnel up" lines (the last per user) */
    const placement = (): Map<string, number> => {
      const m = new Map<string, number>();
      for (const l of gw.logs()) if (l['msg'] === 'tunnel up' && typeof l['user'] === 'string') m.set(l['user'], Number(l['worker'] ?? 0));
      return m;
    };

    if (workers > 1) {
      await t.test('the sessions are spread over both workers', (st) =>
        withTails(st, async () => {
          const where = placement();
          st.diagnostic(`placement: ${JSON.stringify([...where])}`);
          assert.equal(where.size, CLIENTS);
          assert.deepEqual([...new Set(where.values())].sort(), [0, 1], 'every tunnel is on one worker');
          // Worker 0 answers `ctl status` for all: the other worker's logins reach it as events.
          const until = Date.now() + 15_000;
          let status = await ctlJson<{ auth: { successes: number } }>(gw, ['status']);
          while (status.auth.successes < CLIENTS && Date.now() < until) {
            await new Promise((r) => setTimeout(r, 200));
            status = await ctlJson<{ auth: { successes: number } }>(gw, ['status']);
          }
          assert.equal(status.auth.successes, CLIENTS, `ctl status counts the logins of every worker: ${JSON.stringify(status.auth)}`);
          // `ctl sessions` lists every worker's tunnels (the others' from the store), each connected.
          const list = await ctlJson<Array<{ user: string; state: string; address: string | null }>>(gw, ['sessions']);
          assert.equal(list.length, CLIENTS, `ctl sessions: ${JSON.stringify(list)}`);
          assert.ok(list.every((v) => v.state === 'connected' && v.address !== null), `ctl sessions: ${JSON.stringify(list)}`);
        }),
      );
    }

    if (workers > 1) {
      await t.test('ctl reload runs on every worker, one after the other', (st) =>
        withTails(st, async () => {
          const mark = gw.proc.lines.length;
          const r = await ctlJson<{ ok: boolean }>(gw, ['reload']);
          assert.equal(r.ok, true, JSON.stringify(r));
          const seen = new Set<number>();
          for (let from = mark; seen.size < workers; ) {
            const l = await gw.waitLog(/configuration reloaded/, 20_000, from);
            seen.add(Number(l['worker']));
            from = gw.proc.lines.findIndex((x, i) => i >= from && x.text.includes('"msg":"configuration reloaded"')) + 1;
          }
          assert.deepEqual([...seen].sort(), [0, 1]);
        }),
      );
    }

    /** CPU seconds (user + system) each network process used so far, from /proc (a diagnostic, not a check). */
    const networkPids = (): number[] => {
      const line = gw.proc.lines.find((l) => /processes: privileged \d+ \(root\), network /.test(l.text))?.text ?? '';
      return (/network ([\d, ]+) \(/.exec(line)?.[1] ?? '').split(',').map((x) => Number(x.trim())).filter((n) => n > 0);
    };
    const cpuSeconds = (pid: number): number => {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
      } catch {
        return NaN;
      }
    };

    await t.test('every tunnel at once: TCP both ways (SHA-256), UDP both ways', (st) =>
      withTails(st, async () => {
        const pids = networkPids();
        const cpu0 = pids.map(cpuSeconds);
        await Promise.all(
          clients.map(async (c) => {
            const up = await tcpTransfer(c.ns, tb.gw, gwHost(net), MB4);
            assert.equal(up.bytes, MB4, `${c.user}: upload short`);
            assert.equal(up.receivedSha256, up.sentSha256, `${c.user}: upload corrupted`);
            const down = await tcpTransfer(tb.gw, c.ns, c.tun.address, MB4);
            assert.equal(down.bytes, MB4, `${c.user}: download short`);
            assert.equal(down.receivedSha256, down.sentSha256, `${c.user}: download corrupted`);
            const udpDown = await udpTransfer(tb.gw, c.ns, c.tun.address, 1000, 1000, `mc udp-down ${workers} ${c.user}`);
            const udpUp = await udpTransfer(c.ns, tb.gw, gwHost(net), 1000, 1000, `mc udp-up ${workers} ${c.user}`);
            for (const u of [udpDown, udpUp]) {
              assert.equal(u.corrupt, 0, `${c.user}: a corrupted UDP datagram arrived`);
              assert.ok(u.received > 0, `${c.user}: no UDP datagram arrived`);
              assert.deepEqual(u.sizes, [1000], `${c.user}: datagram boundaries changed`);
            }
            st.diagnostic(`${c.user} (${c.dtls ? 'DTLS' : 'TLS'}): 4 MB up ${up.ms} ms, down ${down.ms} ms; UDP down ${udpDown.received}/1000, up ${udpUp.received}/1000`);
          }),
        );
        st.diagnostic(`CPU seconds per network process during the transfers: ${pids.map((p, i) => `${p}: ${(cpuSeconds(p) - cpu0[i]!).toFixed(2)}`).join(', ')}`);
      }),
    );

    await t.test('every tunnel: MTU-edge pings with DF and pings with IPv4 options, both ways', (st) =>
      withTails(st, async () => {
        const where = placement();
        for (const c of clients) {
          const clMtu = await linkMtu(c.ns, c.tun.iface);
          const gwMtu = await linkMtu(tb.gw, tunNames[where.get(c.user) ?? 0]!);
          const edge = Math.min(clMtu, gwMtu) - 28;
          for (const [from, to] of [[c.ns, gwHost(net)], [tb.gw, c.tun.address]] as const) {
            const p = await pingDf(from, to, edge);
            assert.ok(p.ok, `${c.user}: ping -s ${edge} -M do to ${to} failed:\n${p.out}`);
            const rr = await pingDf(from, to, 56, ['-R']);
            assert.ok(rr.ok, `${c.user}: ping -R to ${to} failed:\n${rr.out}`);
          }
        }
        for (const c of clients) assert.ok(!c.oc.lines.some((l) => /Unexpected packet length|Unknown packet/.test(l.text)), `${c.user}: framing broken`);
      }),
    );

    if (workers > 1) {
      await t.test('a tunnel whose TCP connection dies reconnects on the other worker with its address', (st) =>
        withTails(st, async () => {
          // The balancer gives a connection to the worker with the fewest: empty the worker with
          // fewer tunnels (Y), keep at least two on the other (X), cut one of X's TCP connections
          // (ss -K, a reset both ways): openconnect reconnects with its cookie, and must land on Y.
          const where = placement();
          const on = (w: number): Client[] => clients.filter((x) => where.get(x.user) === w);
          const x = on(0).length >= on(1).length ? 0 : 1;
          const y = 1 - x;
          for (const c of on(y)) {
            await c.oc.stop();
            clients.splice(clients.indexOf(c), 1);
          }
          const onX = on(x);
          assert.ok(onX.length >= 2, `need two tunnels on worker ${x}: ${JSON.stringify([...where])}`);
          const c = onX.find((v) => v.dtls) ?? onX[0]!;
          // Y's connections may still be closing when the first reconnect comes (the balancer
          // counts them until Y reports them gone): a few cuts, each a real reconnect.
          let up: Record<string, unknown> = {};
          let ocMark = 0;
          for (let attempt = 1; attempt <= 4; attempt++) {
            ocMark = c.oc.lines.length;
            const gwMark = gw.proc.lines.length;
            const kill = await c.ns.exec('ss', ['-K', 'dst', tb.gwAddr, 'dport', '=', '443']);
            assert.equal(kill.code, 0, `ss -K: ${kill.stderr}`);
            await c.oc.proc.waitForLine(/CSTP connected/, 60_000, ocMark);
            up = await gw.waitLog(/tunnel up/, 15_000, gwMark);
            st.diagnostic(`${c.user} (${c.dtls ? 'DTLS' : 'TLS'}) was on worker ${x}; reconnect ${attempt} on worker ${String(up['worker'])}`);
            assert.equal(up['user'], c.user);
            assert.equal(up['address'], c.tun.address, 'the reconnect got another address');
            if (up['worker'] === y) break;
          }
          assert.equal(up['worker'], y, `reconnected on worker ${String(up['worker'])}`);
          if (c.dtls) await c.oc.proc.waitForLine(/Established DTLS connection/, 20_000, ocMark);
          assert.ok(c.oc.proc.running, 'openconnect exited instead of reconnecting');
          const down = await tcpTransfer(tb.gw, c.ns, c.tun.address, MB4);
          assert.equal(down.receivedSha256, down.sentSha256, 'download after the reconnect corrupted');
          const upT = await tcpTransfer(c.ns, tb.gw, gwHost(net), MB4);
          assert.equal(upT.receivedSha256, upT.sentSha256, 'upload after the reconnect corrupted');
          // The session left the old worker's cache without ending (session-moved).
          assert.ok(!gw.logs().some((l) => l['msg'] === 'session ended' && l['user'] === c.user), `${c.user}'s session ended`);
        }),
      );

      await t.test('ctl restart: new workers take every session over with the same addresses', (st) =>
        withTails(st, async () => {
          const from = gw.proc.lines.length;
          const r = await ctl(gw, ['restart']);
          assert.equal(r.code, 0, `ctl restart: ${r.stderr}${r.stdout}`);
          // The new processes write to the same output (the supervisor passes its stdio on).
          await gw.waitLog(/gateway listening/, 30_000, from);
          const back = new Map<string, Record<string, unknown>>();
          const until = Date.now() + 30_000;
          while (back.size < clients.length && Date.now() < until) {
            // only lines after the restart count
            for (const line of gw.proc.lines.slice(from)) {
              if (!line.text.includes('"msg":"tunnel up"')) continue;
              const l = JSON.parse(line.text) as Record<string, unknown>;
              back.set(String(l['user']), l);
            }
            if (back.size < clients.length) await new Promise((res) => setTimeout(res, 200));
          }
          st.diagnostic(`after the restart: ${JSON.stringify([...back].map(([u, l]) => [u, l['worker'], l['address']]))}`);
          for (const c of clients) {
            assert.equal(back.get(c.user)?.['address'], c.tun.address, `${c.user}: not back with its address`);
            let ok = false;
            for (let i = 0; i < 30 && !ok; i++) ok = await c.ns.ping(gwHost(net), { count: 1, timeoutMs: 1000 });
            assert.ok(ok, `${c.user}: no ping through the tunnel after the restart`);
            assert.ok(c.oc.proc.running, `${c.user}: openconnect exited`);
          }
        }),
      );
    }
  });
}
