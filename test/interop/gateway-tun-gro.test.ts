/**
 * Issue 11, write-side GRO (native/gro.c): with TUN offloads on, runs of one TCP upload reach
 * the gateway's TUN as single GSO writes: those of a DTLS receive batch, and over TLS those of one
 * event-loop turn (router.ts fromClientRecord). Debian's openconnect, over DTLS and over TLS only,
 * uploads 8 MB (SHA-256 compared) with GRO on and with it turned off (SSLGATE_TUN_GRO=0, the
 * fallback, run with SSLGATE_TLS_USER_BUFFER=0 too: TLS read through 'data' chunks); pings at
 * the MTU edge and with IPv4 options pass in both. The gateway's counters
 * must show merged writes with GRO on and none with it off.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason, tcpTransfer } from '../helpers/netns.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { gwHost } from '../helpers/sslgate.js';
import { ctl } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);
const MB8 = 8 * 1024 * 1024;

for (const gro of [true, false]) {
  test(`openconnect -> sslgate over DTLS and TLS with write-side GRO ${gro ? 'on' : 'off (SSLGATE_TUN_GRO=0, SSLGATE_TLS_USER_BUFFER=0)'}`, { skip, timeout: 300_000 }, async (t: TestContext) => {
    const bed = await GatewayBed.open(t, gro ? 'tungro1' : 'tungro0');
    const tb = bed.tb;
    const net = tb.poolNet(0);
    const gw = await bed.startGateway({
      yaml: `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
      users: [{ name: 'alice', password: 'secret' }],
      tunOffload: true,
      // The fallbacks together: no GRO, and TLS read through Node's 'data' chunks.
      ...(gro ? {} : { env: { SSLGATE_TUN_GRO: '0', SSLGATE_TLS_USER_BUFFER: '0' } }),
    });
    const configured = await gw.waitLog(/TUN device configured"/, 10_000);
    assert.ok(Number(configured['offload']) > 0, `offloads not enabled: ${JSON.stringify(configured)}`);
    const groWrites = async (result: string): Promise<number> =>
      valueOf(parsePrometheus((await ctl(gw, ['metrics'])).stdout), 'sslgate_tun_gro_writes_total', { result });

    for (const dtls of [true, false]) {
      const over = dtls ? 'DTLS' : 'TLS only';
      const mark = gw.proc.lines.length;
      const oc = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: !dtls });
      // The TLS read path the tunnel took: the shared buffer, or 'data' chunks in the fallback run.
      const up = await gw.waitLog(/tunnel up"/, 20_000, mark);
      assert.equal(up['reads'], gro ? 'shared' : 'chunks', `TLS reads: ${JSON.stringify(up)}`);
      const tun = await oc.waitTunnel(20_000);
      if (dtls) await oc.proc.waitForLine(/Established DTLS connection/, 15_000);
      assert.ok(await bed.pingSoon(gwHost(net)), 'no ping answer');
      try {
        const before = await groWrites('segments');
        const writesBefore = await groWrites('writes');
        const up = await tcpTransfer(tb.cl, tb.gw, gwHost(net), MB8);
        assert.equal(up.bytes, MB8);
        assert.equal(up.receivedSha256, up.sentSha256, 'upload corrupted');
        const down = await tcpTransfer(tb.gw, tb.cl, tun.address, MB8);
        assert.equal(down.receivedSha256, down.sentSha256, 'download corrupted');
        const merged = (await groWrites('segments')) - before;
        const writes = (await groWrites('writes')) - writesBefore;
        t.diagnostic(`${over}: 8 MB up ${up.ms} ms; GRO merged ${merged} segments into ${writes} writes`);
        if (gro) assert.ok(merged > 0, `GRO on, but no ${over} upload segment was merged`);
        else assert.equal(merged, 0);

        // Packets GRO must leave alone: IPv4 options (record route); a large ping with DF.
        for (const [args, what] of [[['-R', '-s', '56'], 'ping -R'], [['-M', 'do', '-s', String(1300)], 'ping -M do -s 1300']] as const) {
          const r = await tb.cl.exec('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', '-w', '10', ...args, gwHost(net)], { timeoutMs: 20_000 });
          assert.equal(r.code, 0, `${what} failed:\n${r.stdout}${r.stderr}`);
        }
        const again = await tcpTransfer(tb.cl, tb.gw, gwHost(net), 1024 * 1024);
        assert.equal(again.receivedSha256, again.sentSha256, 'second upload corrupted');
      } catch (e) {
        t.diagnostic(`gateway:\n${gw.proc.tail()}\nopenconnect:\n${oc.proc.tail()}`);
        throw e;
      }
      await bed.stop(oc);
    }
  });
}
