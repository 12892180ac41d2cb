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
import { interopSkipReason, tcpTransfer, type Ns } from '../helpers/netns.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { gwHost } from '../helpers/sslgate.js';
import { ctl } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';
import { streamKey } from '../helpers/seed.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip', 'python3']);
const MB8 = 8 * 1024 * 1024;

// Receives self-checking datagrams (4-byte index, SHA-256 of the rest, the rest) until `count`
// arrived or the sender has been quiet for 3 s; prints what it saw.
const UDP_SINK = `
import socket, hashlib, json, os, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((os.environ['ADDR'], 0))
print('READY', s.getsockname()[1], flush=True)
want = int(os.environ['COUNT']); got = set(); bad = 0; sizes = set()
s.settimeout(20)
while len(got) < want:
    try: d = s.recv(65535)
    except socket.timeout: break
    s.settimeout(3)
    sizes.add(len(d))
    if len(d) < 36 or hashlib.sha256(d[36:]).digest() != d[4:36]: bad += 1; continue
    got.add(int.from_bytes(d[:4], 'big'))
print('RESULT', json.dumps({'received': len(got), 'corrupt': bad, 'sizes': sorted(sizes)}), flush=True)
`;
// Sends COUNT datagrams of SIZE bytes, GSO_SEGS of them per sendto with UDP_SEGMENT (USO).
const UDP_SOURCE = `
import socket, hashlib, os, time
SOL_UDP, UDP_SEGMENT = 17, 103
size, count, per = int(os.environ['SIZE']), int(os.environ['COUNT']), int(os.environ['GSO_SEGS'])
seed = bytes.fromhex(os.environ['SEED'])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(SOL_UDP, UDP_SEGMENT, size)
def dgram(i):
    body = hashlib.sha256(seed + i.to_bytes(4, 'big')).digest() * ((size - 36) // 32 + 1)
    body = body[:size - 36]
    return i.to_bytes(4, 'big') + hashlib.sha256(body).digest() + body
i = 0
while i < count:
    n = min(per, count - i)
    s.sendto(b''.join(dgram(i + k) for k in range(n)), (os.environ['ADDR'], int(os.environ['PORT'])))
    i += n
    time.sleep(0.002)
print('SENT', i, flush=True)
`;

async function udpTransfer(from: Ns, to: Ns, toAddr: string, size: number, count: number, label: string): Promise<{ received: number; corrupt: number; sizes: number[] }> {
  const sink = to.spawn('python3', ['-c', UDP_SINK], { env: { ...process.env, ADDR: toAddr, COUNT: String(count) }, label: `udp-sink@${to.name}` });
  try {
    const port = (await sink.waitForLine(/^READY (\d+)$/, 10_000))[1] ?? '';
    const seed = streamKey(label).key.toString('hex');
    const r = await from.exec('python3', ['-c', UDP_SOURCE], { env: { ...process.env, ADDR: toAddr, PORT: port, SIZE: String(size), COUNT: String(count), GSO_SEGS: '8', SEED: seed }, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `udp source: ${r.stderr}`);
    const m = await sink.waitForLine(/^RESULT (.*)$/, 40_000);
    return JSON.parse(m[1] ?? '{}') as { received: number; corrupt: number; sizes: number[] };
  } finally {
    await sink.stop('SIGKILL', 2000);
  }
}

async function linkMtu(ns: Ns, iface: string): Promise<number> {
  const r = await ns.exec('ip', ['-o', 'link', 'show', 'dev', iface]);
  const m = / mtu (\d+) /.exec(r.stdout);
  assert.ok(m, `no MTU for ${iface}: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

/** ping with DF set (-M do): `size` bytes of ICMP payload, so the IP packet is size + 28. */
async function pingDf(ns: Ns, addr: string, size: number, extra: string[] = []): Promise<{ ok: boolean; out: string }> {
  const r = await ns.exec('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', '-w', '10', '-M', 'do', '-s', String(size), ...extra, addr], { timeoutMs: 20_000 });
  return { ok: r.code === 0, out: r.stdout + r.stderr };
}

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
          const down = await tcpTransfer(tb.gw, tb.cl, tun.address, MB8);
          assert.equal(down.bytes, MB8);
          assert.equal(down.receivedSha256, down.sentSha256, 'download corrupted');

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
      // split a frame over two TLS records (cstp-channel.ts takeWrite, test/unit/cstp-records).
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
