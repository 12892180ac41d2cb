/**
 * Issue 11, TUN offloads: the gateway's TUN with IFF_VNET_HDR + TUNSETOFFLOAD (the kernel hands
 * over TCP/UDP super-packets, native/gso.c cuts them) and, as the fallback, without
 * (tun.offload: false). For each, Debian's openconnect over DTLS and over TLS only carries: TCP
 * both ways with SHA-256 compared (large enough for TSO super-packets), UDP sent with
 * UDP_SEGMENT (USO super-packets) with every datagram checked, pings at the MTU edge with DF, and
 * pings with IPv4 options (record route). The gateway's counters must show super-packets were
 * cut with offloads on, and none without.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason, tcpTransfer } from '../helpers/netns.js';
import { linkMtu, pingDf, udpTransfer } from '../helpers/tunnel-traffic.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { gwHost } from '../helpers/sslgate.js';
import { ctl } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip', 'python3']);
const MB8 = 8 * 1024 * 1024;

for (const offload of [true, false]) {
  test(`openconnect -> sslgate with TUN offloads ${offload ? 'on' : 'off (fallback)'}`, { skip, timeout: 400_000 }, async (t: TestContext) => {
    const bed = await GatewayBed.open(t, offload ? 'tunoff1' : 'tunoff0');
    const tb = bed.tb;
    const net = tb.poolNet(0);
    const gw = await bed.startGateway({
      yaml: `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
      users: [{ name: 'alice', password: 'secret' }],
      tunOffload: offload,
    });
    const configured = await gw.waitLog(/TUN device configured"/, 10_000).catch(() => undefined);
    assert.ok(configured, 'no "TUN device configured" log line');
    if (offload) assert.ok(Number(configured['offload']) > 0, `offloads not enabled: ${JSON.stringify(configured)}`);
    else assert.equal(configured['offload'], 0);
    t.diagnostic(`TUN offload flags: 0x${Number(configured['offload']).toString(16)}`);
    const tunReads = async (result: string): Promise<number> =>
      valueOf(parsePrometheus((await ctl(gw, ['metrics'])).stdout), 'sslgate_tun_reads_total', { result });

    for (const dtls of [true, false]) {
      const over = dtls ? 'DTLS' : 'TLS only';
      const oc = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: !dtls });
      const tun = await oc.waitTunnel(20_000);
      if (dtls) await oc.proc.waitForLine(/Established DTLS connection/, 15_000);
      assert.ok(await bed.pingSoon(gwHost(net)), 'no ping answer');
      const withTails = async (st: TestContext, body: () => Promise<void>): Promise<void> => {
        try {
          await body();
        } catch (e) {
          st.diagnostic(`gateway:\n${gw.proc.tail()}\nopenconnect:\n${oc.proc.tail()}`);
          throw e;
        }
      };

      await t.test(`over ${over}: TCP both ways (SHA-256), MTU-edge pings with DF, IPv4 options`, (st) =>
        withTails(st, async () => {
          const superBefore = await tunReads('super-packet');
          const malformedBefore = await tunReads('malformed');
          const up = await tcpTransfer(tb.cl, tb.gw, gwHost(net), MB8);
          assert.equal(up.bytes, MB8);
          assert.equal(up.receivedSha256, up.sentSha256, 'upload corrupted');
          const tlsOut = async (): Promise<{ writes: number; packets: number }> => {
            const m = parsePrometheus((await ctl(gw, ['metrics'])).stdout);
            return { writes: valueOf(m, 'sslgate_tunnel_tls_writes_total', {}), packets: valueOf(m, 'sslgate_tunnel_packets_total', { direction: 'out', channel: 'TLS' }) };
          };
          const out0 = await tlsOut();
          const down = await tcpTransfer(tb.gw, tb.cl, tun.address, MB8);
          assert.equal(down.bytes, MB8);
          assert.equal(down.receivedSha256, down.sentSha256, 'download corrupted');
          if (!dtls) {
            // The download's full-size frames went out in runs: one write per run, not per frame
            // (tunnel/cstp-send-queue.ts). With the run size off by the TUN/TLS 1.3 MTU difference
            // (tunnel-setup.ts runFrame) every frame was its own write.
            const out1 = await tlsOut();
            const writes = out1.writes - out0.writes;
            const packets = out1.packets - out0.packets;
            st.diagnostic(`TLS download: ${packets} packets in ${writes} writes`);
            assert.ok(packets > 5000, `the download did not go over TLS (${packets} packets)`);
            // With offloads each TUN read is a super-packet of several segments, so every write
            // has at least those; without, how many queue up depends on timing: no check.
            if (offload) assert.ok(writes * 2 < packets, `frames were not written in runs: ${packets} packets in ${writes} writes`);
          }

          // MTU edge with DF, both directions: the largest packet both TUNs take.
          const clMtu = await linkMtu(tb.cl, tun.iface);
          const gwMtu = await linkMtu(tb.gw, configured['tun'] as string);
          const edge = Math.min(clMtu, gwMtu) - 28;
          const p1 = await pingDf(tb.cl, gwHost(net), edge);
          assert.ok(p1.ok, `client -> gateway ping -s ${edge} -M do failed:\n${p1.out}`);
          const p2 = await pingDf(tb.gw, tun.address, edge);
          assert.ok(p2.ok, `gateway -> client ping -s ${edge} -M do failed:\n${p2.out}`);
          // IPv4 options (record route: 40 bytes of options) both ways.
          const rr1 = await pingDf(tb.cl, gwHost(net), 56, ['-R']);
          assert.ok(rr1.ok, `ping -R client -> gateway failed:\n${rr1.out}`);
          const rr2 = await pingDf(tb.gw, tun.address, 56, ['-R']);
          assert.ok(rr2.ok, `ping -R gateway -> client failed:\n${rr2.out}`);

          const superPackets = (await tunReads('super-packet')) - superBefore;
          st.diagnostic(`MTU client ${clMtu} gateway ${gwMtu}; super-packets cut: ${superPackets}; 8 MB up ${up.ms} ms, down ${down.ms} ms`);
          if (offload) assert.ok(superPackets > 0, 'offloads on, but no super-packet came from the TUN');
          else assert.equal(superPackets, 0);
          assert.equal(await tunReads('malformed'), malformedBefore, 'the gateway dropped malformed reads');
          assert.ok(!oc.lines.some((l) => /Unexpected packet length|Unknown packet/.test(l.text)), `framing broken:\n${oc.proc.tail()}`);
        }),
      );

      // Over TLS this mixes runs of 1036-byte frames (UDP) with full-size ones: the case that once
      // split a frame over two TLS records (tunnel/cstp-send-queue.ts, test/unit/cstp-records).
      await t.test(`over ${over}: UDP both ways, gateway -> client sent with UDP_SEGMENT (USO)`, (st) =>
        withTails(st, async () => {
          const superBefore = await tunReads('super-packet');
          const udpDown = await udpTransfer(tb.gw, tb.cl, tun.address, 1000, 2000, `udp-down ${offload} ${dtls}`);
          const udpUp = await udpTransfer(tb.cl, tb.gw, gwHost(net), 1000, 2000, `udp-up ${offload} ${dtls}`);
          st.diagnostic(`UDP down ${JSON.stringify(udpDown)}, up ${JSON.stringify(udpUp)}`);
          for (const u of [udpDown, udpUp]) {
            assert.equal(u.corrupt, 0, 'a corrupted UDP datagram arrived');
            assert.ok(u.received > 0, 'no UDP datagram arrived');
            assert.deepEqual(u.sizes, [1000], 'datagram boundaries changed');
          }
          const superPackets = (await tunReads('super-packet')) - superBefore;
          st.diagnostic(`super-packets cut during UDP: ${superPackets}`);
          if (offload) assert.ok(superPackets > 0, 'offloads on, but UDP_SEGMENT sends did not reach the TUN as super-packets');
          else assert.equal(superPackets, 0);
          assert.ok(!oc.lines.some((l) => /Unexpected packet length|Unknown packet/.test(l.text)), `framing broken:\n${oc.proc.tail()}`);
        }),
      );
      await bed.stop(oc);
    }
  });
}
