/**
 * Issue 4, gateway side: Debian's openconnect 9.01 gets DTLS from our gateway in every mode it
 * can be forced into (PROTOCOL.md §6.2): PSK-NEGOTIATE (its default), DTLS 0.9 with AES128-SHA
 * and AES256-SHA, Cisco DTLS 1.2 (X-DTLS12-CipherSuite) and OC-DTLS1_2-AES256-GCM. Each mode
 * carries a ping and a 20 MB TCP transfer intact, and the gateway's counters show DTLS did it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, tcpTransfer, type Testbed } from '../helpers/netns.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { gwHost, startGateway, type SslgateGateway } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);
const MB20 = 20 * 1024 * 1024;

const MODES: Array<{ name: string; args: string[]; expect: RegExp }> = [
  { name: 'PSK-NEGOTIATE (default offer)', args: [], expect: /\(DTLS1\.2\)-\(PSK\)-\(AES-256-GCM\)/ },
  { name: 'DTLS 0.9 AES128-SHA', args: ['--dtls-ciphers=AES128-SHA'], expect: /\(DTLS0\.9\)-\(RSA\)-\(AES-128-CBC\)-\(SHA1\)/ },
  { name: 'DTLS 0.9 AES256-SHA', args: ['--dtls-ciphers=AES256-SHA'], expect: /\(DTLS0\.9\)-\(RSA\)-\(AES-256-CBC\)-\(SHA1\)/ },
  { name: 'Cisco DTLS 1.2 AES256-GCM-SHA384', args: ['--dtls12-ciphers=AES256-GCM-SHA384'], expect: /\(DTLS1\.2\)-\(RSA\)-\(AES-256-GCM\)/ },
  { name: 'OC-DTLS1_2-AES256-GCM', args: ['--dtls-ciphers=OC-DTLS1_2-AES256-GCM'], expect: /\(DTLS1\.2\)-\(RSA\)-\(AES-256-GCM\)/ },
];

test('openconnect 9.01 -> sslgate gateway over DTLS, every mode', { skip, timeout: 300_000 }, async (t) => {
  let tb: Testbed | undefined;
  let gw: SslgateGateway | undefined;
  let oc: OpenconnectClient | undefined;
  t.after(async () => {
    await oc?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'gwdtls' });
  const net = tb.poolNet(0);
  gw = await startGateway(tb.gw, {
    listenHost: tb.gwAddr,
    yaml: `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
    users: [{ name: 'alice', password: 'secret' }],
  });

  for (const mode of MODES) {
    await t.test(mode.name, async () => {
      oc = startOpenconnect(tb!.cl, { url: gw!.url, servercert: gw!.pin, user: 'alice', password: 'secret', authgroup: 'Employees', extraArgs: mode.args });
      const tun = await oc.waitTunnel(20_000);
      // "Configured as" may come before the DTLS handshake finished: wait for openconnect's line.
      const est = await oc.proc.waitForLine(/Established DTLS connection.*Ciphersuite (.*)$/, 15_000);
      assert.match(est[0], mode.expect);
      assert.ok(await tb!.cl.ping(gwHost(net), { count: 3, timeoutMs: 10_000 }), 'no ping answer');
      const up = await tcpTransfer(tb!.cl, tb!.gw, gwHost(net), MB20);
      assert.equal(up.receivedSha256, up.sentSha256);
      const down = await tcpTransfer(tb!.gw, tb!.cl, tun.address, MB20);
      assert.equal(down.receivedSha256, down.sentSha256);
      t.diagnostic(`${mode.name}: 20 MB up ${((MB20 * 8) / up.ms / 1000).toFixed(0)} Mbit/s, down ${((MB20 * 8) / down.ms / 1000).toFixed(0)} Mbit/s`);
      const mark = gw!.proc.lines.length;
      await oc.stop();
      oc = undefined;
      const closed = await gw!.waitLog(/client disconnected/, 5000, mark);
      // 2 x 20 MB is ~30,000 full-size packets; nearly all of them must have gone over DTLS.
      assert.ok(Number(closed['dtlsRxPackets']) > 10_000, `DTLS rx packets: ${closed['dtlsRxPackets']} (CSTP rx ${closed['rxPackets']})`);
      assert.ok(Number(closed['dtlsTxPackets']) > 10_000, `DTLS tx packets: ${closed['dtlsTxPackets']} (CSTP tx ${closed['txPackets']})`);
    });
  }
});
