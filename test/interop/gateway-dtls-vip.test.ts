/**
 * DTLS through an address other than the one routing picks (a keepalived VIP, a secondary
 * address): the gateway listens on 0.0.0.0, its namespace has a second address (a /32 "VIP" on
 * its veth, routed from the client's namespace), and Debian's openconnect 9.01 connects to the
 * VIP with DTLS on. openconnect's UDP socket is connect()ed to the VIP, so it only takes replies
 * from the VIP; the gateway must answer from the address each datagram came to (IP_PKTINFO,
 * dtls-listener.ts), not from the veth's own address that routing picks.
 *
 * On: openconnect prints "Established DTLS connection", the gateway's "DTLS up" names the VIP as
 * the local address, a checksummed TCP transfer both ways and a ping go through the tunnel, and
 * the gateway's per-session DTLS counters show DTLS carried them.
 * Off (SSLGATE_UDP_PKTINFO=0, the old behaviour): the same ClientHellos reach the gateway, its
 * handshakes time out (the replies leave from the veth address and openconnect drops them) and
 * the data goes over TLS: this is the test failing without the feature.
 *
 * `workers: 2`: a TLS-only client (to the veth address) keeps worker 0 busy so the VIP client's
 * tunnel lands on worker 1; its ClientHello reaches worker 0's socket and the privileged process
 * hands worker 1 a socket connected to the client, which must be bound to the VIP
 * (dtls-handoff.ts). Off, it is bound to 0.0.0.0 and answers from the veth address: no DTLS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, execIn, interopSkipReason, tcpTransfer, type Testbed } from '../helpers/netns.js';
import { startOpenconnect, type OpenconnectClient, type TunnelInfo } from '../helpers/openconnect.js';
import { addClientNamespace, type ClientNs } from '../helpers/client-ns.js';
import { gwHost, startGateway, type SslgateGateway } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ip', 'ping']);
const MB1 = 1024 * 1024;

/** The next log record (from line `from`) whose JSON line matches `re` (fields come before "msg"). */
async function record(gw: SslgateGateway, re: RegExp, timeoutMs: number, from = 0): Promise<Record<string, unknown>> {
  const m = await gw.proc.waitForLine(re, timeoutMs, from);
  return JSON.parse(m.input ?? '{}') as Record<string, unknown>;
}

async function ip(args: string[]): Promise<void> {
  await execIn(null, 'ip', args, { check: true, timeoutMs: 10_000 });
}

for (const workers of [1, 2])
for (const pktinfo of [true, false]) {
  test(`openconnect 9.01 -> sslgate on 0.0.0.0 (workers: ${workers}) through a VIP: DTLS ${pktinfo ? 'comes up (replies from the VIP)' : 'fails with SSLGATE_UDP_PKTINFO=0'}`, { skip, timeout: 240_000 }, async (t) => {
    let tb: Testbed | undefined;
    let gw: SslgateGateway | undefined;
    let oc: OpenconnectClient | undefined;
    let filler: OpenconnectClient | undefined;
    let extra: ClientNs | undefined;
    t.after(async () => {
      await oc?.stop().catch(() => undefined);
      await filler?.stop().catch(() => undefined);
      await gw?.stop().catch(() => undefined);
      await extra?.close().catch(() => undefined);
      await tb?.cleanup();
    });
    tb = await createTestbed({ tag: `vip${workers}${pktinfo ? 'on' : 'off'}` });
    // The VIP: a second address of the gateway's namespace, not on the /30 the veth routes by,
    // so the kernel's own choice of source towards the client stays the veth address.
    const vip = `10.79.${tb.slot}.10`;
    await ip(['-n', tb.gw.name, 'addr', 'add', `${vip}/32`, 'dev', tb.gwIf]);
    await ip(['-n', tb.cl.name, 'route', 'add', `${vip}/32`, 'via', tb.gwAddr, 'dev', tb.clIf]);
    assert.ok(await tb.cl.ping(vip, { timeoutMs: 5000 }), `the client namespace cannot reach the VIP ${vip}`);
    const route = await execIn(tb.gw.name, 'ip', ['-o', 'route', 'get', tb.clAddr]);
    assert.match(route.stdout, new RegExp(`src ${tb.gwAddr.replace(/\./g, '\\.')}\\b`), `routing towards the client must pick the veth address: ${route.stdout}`);

    const net = tb.poolNet(0);
    gw = await startGateway(tb.gw, {
      listenHost: '0.0.0.0',
      yaml: `workers: ${workers}\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
      users: [
        { name: 'alice', password: 'secret' },
        { name: 'bob', password: 'secret2' },
      ],
      ...(pktinfo ? {} : { env: { SSLGATE_UDP_PKTINFO: '0' } }),
    });
    const path = await gw.waitLog(/DTLS data path"/, 10_000);
    assert.equal(path['recvmmsg'], true, `batched receive is needed for IP_PKTINFO: ${JSON.stringify(path)}`);
    assert.equal(path['pktinfo'], pktinfo, JSON.stringify(path));

    if (workers === 2) {
      // bob, TLS only, to the veth address: his tunnel holds a connection on worker 0 (ties go
      // to worker 0), so the balancer gives alice's connections to worker 1.
      extra = await addClientNamespace(tb.gw, tb.gwAddr, `vipx${pktinfo ? 1 : 0}`);
      filler = startOpenconnect(extra.ns, { url: `https://${tb.gwAddr}`, servercert: gw.pin, user: 'bob', password: 'secret2', authgroup: 'Employees', noDtls: true });
      await filler.waitTunnel(20_000);
      const bobUp = await gw.waitLog(/tunnel up"/, 10_000);
      assert.equal(Number(bobUp['worker'] ?? 0), 0, JSON.stringify(bobUp));
    }
    let tun: TunnelInfo | undefined;
    for (let attempt = 1; ; attempt++) {
      const mark = gw.proc.lines.length;
      oc = startOpenconnect(tb.cl, { url: `https://${vip}`, servercert: gw.pin, user: 'alice', password: 'secret', authgroup: 'Employees' });
      tun = await oc.waitTunnel(20_000);
      if (workers === 1) break;
      // The balancer reads the workers' load reports, which may lag a connection that just closed.
      const up = await record(gw, /"user":"alice".*"msg":"tunnel up"/, 10_000, mark);
      if (Number(up['worker']) === 1) break;
      t.diagnostic(`attempt ${attempt}: alice's tunnel is on worker ${String(up['worker'])}; again`);
      assert.ok(attempt < 4, 'alice never landed on worker 1');
      await oc.stop();
      oc = undefined;
    }
    if (pktinfo) {
      await oc.proc.waitForLine(/Established DTLS connection/, 20_000);
      const up = await gw.waitLog(/DTLS up"/, 10_000);
      // worker 1 sends on a socket bound to the VIP: the source needs no control message there
      if (workers === 1) assert.equal(up['local'], vip, `the association must answer from the VIP: ${JSON.stringify(up)}`);
      else assert.equal(Number(up['worker']), 1, JSON.stringify(up));
    } else {
      // The ClientHellos arrive (a handshake starts) but no reply reaches openconnect: the
      // gateway's handshake times out (its deadline is 10 s). A fresh gateway: any line counts.
      const failed = await gw.waitLog(/DTLS handshake failed"/, 40_000);
      assert.equal(failed['reason'], 'timeout', JSON.stringify(failed));
      // workers: 2: on worker 1, through the peer socket the privileged process handed it
      if (workers === 2) assert.equal(Number(failed['worker']), 1, JSON.stringify(failed));
      assert.ok(!oc.lines.some((l) => /Established DTLS connection/.test(l.text)), 'openconnect established DTLS without the fix');
      assert.ok(!gw.logs().some((r) => r['msg'] === 'DTLS up'), 'the gateway reported DTLS up without the fix');
    }

    const upload = await tcpTransfer(tb.cl, tb.gw, gwHost(net), MB1);
    assert.equal(upload.receivedSha256, upload.sentSha256);
    assert.equal(upload.bytes, MB1);
    const download = await tcpTransfer(tb.gw, tb.cl, tun.address, MB1);
    assert.equal(download.receivedSha256, download.sentSha256);
    assert.ok(await tb.cl.ping(gwHost(net), { count: 5, timeoutMs: 10_000 }), 'ping through the tunnel failed');

    const before = gw.proc.lines.length;
    await oc.stop();
    oc = undefined;
    const closed = await record(gw, /"user":"alice".*"msg":"client disconnected"/, 5000, before);
    assert.equal(closed['user'], 'alice');
    t.diagnostic(`session counters: ${JSON.stringify(closed)}`);
    const dtlsRx = Number(closed['dtlsRxPackets']);
    const dtlsTx = Number(closed['dtlsTxPackets']);
    if (pktinfo) {
      // 1 MiB each way is ~700 full-size segments each way plus their ACKs, and 5 pings.
      assert.ok(dtlsRx > 700, `DTLS rx packets: ${dtlsRx} (TLS rx ${closed['rxPackets']})`);
      assert.ok(dtlsTx > 700, `DTLS tx packets: ${dtlsTx} (TLS tx ${closed['txPackets']})`);
    } else {
      assert.equal(dtlsRx, 0, 'DTLS carried data without the fix');
      assert.ok(Number(closed['rxPackets']) > 700, `TLS rx packets: ${closed['rxPackets']}`);
    }
    await filler?.stop();
    filler = undefined;
    const lmark = gw.proc.lines.length;
    await gw.stop();
    // The port's socket's listener (worker 0's with workers: 2) logs its counters.
    const c = await record(gw, workers === 1 ? /"msg":"DTLS listener closed"/ : /"worker":0,.*"msg":"DTLS listener closed"/, 5000, lmark);
    t.diagnostic(`listener: ${JSON.stringify(c)}`);
    if (workers === 1) {
      assert.ok(Number(c['handshakesStarted']) > 0, 'no ClientHello reached the gateway');
      if (pktinfo) assert.ok(Number(c['handshakesOk']) > 0);
      else assert.equal(Number(c['handshakesOk']), 0);
    } else {
      // alice's ClientHello went from worker 0 to the privileged process, which handed worker 1
      // a socket for her (its handshake's outcome is asserted above, from worker 1's lines).
      assert.ok(Number(c['forwardedHellos']) > 0, 'worker 0 forwarded no ClientHello: the handoff did not run');
      assert.equal(Number(c['handshakesOk']), 0, 'worker 0 completed a handshake for worker 1\'s session');
    }
  });
}
