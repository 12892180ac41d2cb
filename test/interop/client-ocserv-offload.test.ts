/**
 * Issue 11, our client's data path: `sslgate connect` -> Debian's ocserv 1.1.6 with the client's
 * fast paths on (TUN offloads: the kernel's TCP/UDP super-packets cut at the TUN's MTU, each
 * still one DTLS record / one CSTP frame; downloads written with write-side GRO; DTLS records
 * sent with sendmmsg once per TUN batch) and with them off (SSLGATE_TUN_OFFLOAD=0,
 * SSLGATE_UDP_TX_BATCH=0: a plain TUN and one dgram.send per record). Over DTLS and over TLS
 * (--no-dtls) each: TCP both ways (SHA-256 compared, large enough for TSO super-packets), UDP
 * both ways sent with UDP_SEGMENT (every datagram checked), pings at the MTU edge with DF both
 * ways, pings with IPv4 options (record route). The client's log must say which path it took
 * (so a silent fallback fails the test), and its exit counters must show super-packets cut and
 * GRO writes with offloads on, none without, and no malformed read.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, tcpTransfer, tempDir, type Ns, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { linkMtu, pingDf, udpTransfer } from '../helpers/tunnel-traffic.js';
import { startClient, type SslgateClient } from './client-harness.js';
import { traffic, waitDtlsUp } from './client-dtls-harness.js';

const skip = interopSkipReason(['ocserv', 'ocpasswd', 'openssl', 'ping', 'ip', 'python3']);
const MB8 = 8 * 1024 * 1024;

/** The client's exit counters for its TUN ("TUN super-packets N cut into M, K malformed, GRO writes W of S packets, E TUN write errors"). */
function tunCounters(c: SslgateClient): { superPackets: number; segments: number; malformed: number; groWrites: number; groSegments: number; writeErrors: number } {
  const line = c.proc.lines.map((l) => l.text).find((t) => t.startsWith('traffic: '));
  const m = /TUN super-packets (\d+) cut into (\d+), (\d+) malformed, GRO writes (\d+) of (\d+) packets, (\d+) TUN write errors/.exec(line ?? '');
  if (!m) throw new Error(`no TUN counters in the client's output:\n${c.proc.tail()}`);
  return { superPackets: Number(m[1]), segments: Number(m[2]), malformed: Number(m[3]), groWrites: Number(m[4]), groSegments: Number(m[5]), writeErrors: Number(m[6]) };
}

/** ocserv's TUN device for the one connected client (config `device = vpns`). */
async function ocservDevice(gw: Ns): Promise<string> {
  const r = await gw.exec('ip', ['-o', 'link', 'show'], { timeoutMs: 5000 });
  const m = /^\d+: (vpns\d+)[:@]/m.exec(r.stdout);
  if (!m) throw new Error(`no vpns device in the gateway namespace:\n${r.stdout}`);
  return m[1]!;
}

for (const fast of [true, false]) {
  const label = fast ? 'on' : 'off (SSLGATE_TUN_OFFLOAD=0, SSLGATE_UDP_TX_BATCH=0)';
  test(`sslgate connect -> ocserv with the client's TUN offloads and batched DTLS sends ${label}`, { skip, timeout: 400_000 }, async (t: TestContext) => {
    let tb: Testbed | undefined;
    let srv: OcservServer | undefined;
    const running = new Set<SslgateClient>();
    t.after(async () => {
      for (const c of running) await c.stop().catch(() => undefined);
      await srv?.stop().catch(() => undefined);
      await tb?.cleanup();
    });
    tb = await createTestbed({ tag: fast ? 'clof1' : 'clof0' });
    srv = await startOcserv(tb.gw, { listenHost: tb.gwAddr, ipv4Network: tb.poolNet(0), groups: [{ name: 'Employees' }] });
    const prefsDir = tempDir('clof-prefs');
    const env: Record<string, string> = fast ? {} : { SSLGATE_TUN_OFFLOAD: '0', SSLGATE_UDP_TX_BATCH: '0' };

    for (const dtls of [true, false]) {
      const over = dtls ? 'DTLS' : 'TLS only';
      await t.test(`over ${over}: TCP and UDP both ways intact, MTU-edge DF pings, IPv4 options; the log names the path`, async (st) => {
        const c = startClient(tb!.cl, {
          url: srv!.url, prefsDir, user: 'alice', servercert: [srv!.pin], authgroup: 'Employees', iface: fast ? 'sgof1' : 'sgof0',
          passwords: ['secret'], env, extraArgs: dtls ? [] : ['--no-dtls'],
        });
        running.add(c);
        try {
          const tun = await c.waitTunnel();
          const upLine = c.output().split('\n').find((l) => l.startsWith('Tunnel up: ')) ?? '';
          if (fast) assert.match(upLine, /, tun offload: on, GRO writes on,/, 'offloads not on');
          else assert.match(upLine, /, tun offload: off \(SSLGATE_TUN_OFFLOAD=0\),/);
          if (dtls) {
            const up = await waitDtlsUp(c);
            const line = c.proc.lines[up.index]!.text;
            if (fast) assert.match(line, /data over DTLS, dtls send: batched \(sendmmsg/, 'DTLS records not sent with sendmmsg');
            else assert.match(line, /data over DTLS, dtls send: per-packet \(SSLGATE_UDP_TX_BATCH=0\)/);
          }
          assert.ok(await tb!.cl.ping(srv!.tunAddr, { count: 3, timeoutMs: 10_000 }), `no ping answer\n${c.proc.tail()}`);

          const upl = await tcpTransfer(tb!.cl, tb!.gw, srv!.tunAddr, MB8);
          assert.equal(upl.bytes, MB8);
          assert.equal(upl.receivedSha256, upl.sentSha256, 'upload corrupted');
          const down = await tcpTransfer(tb!.gw, tb!.cl, tun.address, MB8);
          assert.equal(down.bytes, MB8);
          assert.equal(down.receivedSha256, down.sentSha256, 'download corrupted');

          const udpUp = await udpTransfer(tb!.cl, tb!.gw, srv!.tunAddr, 1000, 2000, `client-offload udp-up ${fast} ${dtls}`);
          const udpDown = await udpTransfer(tb!.gw, tb!.cl, tun.address, 1000, 2000, `client-offload udp-down ${fast} ${dtls}`);
          st.diagnostic(`UDP up ${JSON.stringify(udpUp)}, down ${JSON.stringify(udpDown)}`);
          for (const u of [udpUp, udpDown]) {
            assert.equal(u.corrupt, 0, 'a corrupted UDP datagram arrived');
            assert.ok(u.received > 0, 'no UDP datagram arrived');
            assert.deepEqual(u.sizes, [1000], 'datagram boundaries changed');
          }

          // MTU edge with DF, both ways: the largest packet both TUNs take.
          const clMtu = await linkMtu(tb!.cl, tun.iface);
          const gwMtu = await linkMtu(tb!.gw, await ocservDevice(tb!.gw));
          const edge = Math.min(clMtu, gwMtu) - 28;
          const p1 = await pingDf(tb!.cl, srv!.tunAddr, edge);
          assert.ok(p1.ok, `client -> ocserv ping -s ${edge} -M do failed:\n${p1.out}`);
          const p2 = await pingDf(tb!.gw, tun.address, edge);
          assert.ok(p2.ok, `ocserv -> client ping -s ${edge} -M do failed:\n${p2.out}`);
          const rr1 = await pingDf(tb!.cl, srv!.tunAddr, 56, ['-R']);
          assert.ok(rr1.ok, `ping -R client -> ocserv failed:\n${rr1.out}`);
          const rr2 = await pingDf(tb!.gw, tun.address, 56, ['-R']);
          assert.ok(rr2.ok, `ping -R ocserv -> client failed:\n${rr2.out}`);

          const stop = await c.stop();
          running.delete(c);
          assert.equal(stop.code, 0, c.proc.tail());
          const tr = traffic(c);
          const tc = tunCounters(c);
          st.diagnostic(`MTU client ${clMtu} ocserv ${gwMtu}; 8 MB up ${upl.ms} ms, down ${down.ms} ms; traffic ${JSON.stringify(tr)}; TUN ${JSON.stringify(tc)}`);
          if (dtls) assert.ok(tr.dtlsTx > 5000 && tr.dtlsRx > 5000 && tr.tlsTx < 1000 && tr.tlsRx < 1000, `the data did not go over DTLS: ${JSON.stringify(tr)}`);
          else assert.equal(tr.dtlsTx + tr.dtlsRx, 0);
          assert.equal(tc.malformed, 0, 'the client dropped malformed TUN reads');
          if (fast) {
            assert.ok(tc.superPackets > 0 && tc.segments > tc.superPackets, `offloads on, but no super-packet was cut: ${JSON.stringify(tc)}`);
            assert.ok(tc.groWrites > 0 && tc.groSegments > tc.groWrites, `offloads on, but no download segment was merged: ${JSON.stringify(tc)}`);
          } else {
            assert.equal(tc.superPackets + tc.segments + tc.groWrites + tc.groSegments, 0);
          }
          // A frame split over two TLS records, or a bad DTLS record, ends ocserv's session or the
          // association: the client would have reconnected or shaken hands again.
          assert.doesNotMatch(c.output(), /reconnecting|DTLS down|DTLS fallback/, 'the tunnel was interrupted');
          if (dtls) assert.equal(tr.handshakes, 1, 'DTLS handshook more than once');
        } catch (e) {
          st.diagnostic(`client:\n${c.proc.tail()}\nocserv:\n${srv!.handle.tail()}`);
          // Free the interface name and ocserv's lease for the next subtest.
          await c.stop().catch(() => undefined);
          running.delete(c);
          throw e;
        }
      });
    }
  });
}
