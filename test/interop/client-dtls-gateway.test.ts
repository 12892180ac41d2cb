/**
 * Issue 4, client test 3: `sslgate connect` -> `sslgate serve` over DTLS in every mode our
 * gateway runs (PROTOCOL.md §6.2): PSK-NEGOTIATE (default offer), Cisco DTLS 1.2 through
 * X-DTLS12-CipherSuite (--dtls12-ciphers), OC-DTLS1_2-* and DTLS 0.9 (--dtls-ciphers). Each mode:
 * DTLS established, ping, 20 MB TCP both ways intact, and the client's and the gateway's counters
 * show the data went over DTLS. Also --no-dtls: no X-DTLS offer, TLS only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, tcpTransfer, tempDir, type Testbed } from '../helpers/netns.js';
import { gwHost, startGateway, type SslgateGateway } from '../helpers/sslgate.js';
import { startClient, type SslgateClient } from './client-harness.js';
import { traffic, waitDtlsUp } from './client-dtls-harness.js';

const skip = interopSkipReason(['ping', 'ip']);
const MB20 = 20 * 1024 * 1024;

const MODES: Array<{ name: string; args: string[]; label: RegExp; suite: RegExp }> = [
  { name: 'PSK-NEGOTIATE (default offer)', args: [], label: /^PSK-NEGOTIATE$/, suite: /^DTLS 1\.2 TLS_PSK_WITH_AES_256_GCM_SHA384$/ },
  { name: 'Cisco DTLS 1.2 ECDHE-RSA-AES256-GCM-SHA384', args: ['--dtls12-ciphers', 'ECDHE-RSA-AES256-GCM-SHA384'], label: /^DTLS 1\.2 ECDHE-RSA-AES256-GCM-SHA384$/, suite: /^DTLS 1\.2 \S*AES_256_GCM/ },
  { name: 'Cisco DTLS 1.2 AES128-GCM-SHA256', args: ['--dtls12-ciphers', 'AES128-GCM-SHA256'], label: /^DTLS 1\.2 AES128-GCM-SHA256$/, suite: /^DTLS 1\.2 \S*AES_128_GCM/ },
  { name: 'OC-DTLS1_2-AES256-GCM', args: ['--dtls-ciphers', 'OC-DTLS1_2-AES256-GCM'], label: /^DTLS 1\.2 OC-DTLS1_2-AES256-GCM$/, suite: /^DTLS 1\.2 \S*AES_256_GCM/ },
  { name: 'OC-DTLS1_2-AES128-GCM', args: ['--dtls-ciphers', 'OC-DTLS1_2-AES128-GCM'], label: /^DTLS 1\.2 OC-DTLS1_2-AES128-GCM$/, suite: /^DTLS 1\.2 \S*AES_128_GCM/ },
  { name: 'DTLS 0.9 AES256-SHA', args: ['--dtls-ciphers', 'AES256-SHA'], label: /^DTLS 0\.9 AES256-SHA$/, suite: /^DTLS 0\.9 \S*AES_256_CBC_SHA/ },
  { name: 'DTLS 0.9 AES128-SHA', args: ['--dtls-ciphers', 'AES128-SHA'], label: /^DTLS 0\.9 AES128-SHA$/, suite: /^DTLS 0\.9 \S*AES_128_CBC_SHA/ },
  { name: 'DTLS 0.9 DES-CBC3-SHA', args: ['--dtls-ciphers', 'DES-CBC3-SHA'], label: /^DTLS 0\.9 DES-CBC3-SHA$/, suite: /^DTLS 0\.9 \S*3DES/ },
];

test('sslgate connect -> sslgate serve over DTLS, every mode', { skip, timeout: 300_000 }, async (t) => {
  let tb: Testbed | undefined;
  let gw: SslgateGateway | undefined;
  const running = new Set<SslgateClient>();
  t.after(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'cldg' });
  const net = tb.poolNet(0);
  gw = await startGateway(tb.gw, {
    listenHost: tb.gwAddr,
    // allow-3des: the DES-CBC3-SHA mode below needs the opt-in (off by default, issue 9).
    yaml: `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\ndtls: { allow-3des: true }\n`,
    users: [{ name: 'alice', password: 'secret' }],
  });
  const base = { url: gw.url, prefsDir: tempDir('cldg-prefs'), user: 'alice', servercert: [gw.pin], authgroup: 'Employees', iface: 'sgdg0' };
  const results: string[] = [];

  for (const mode of MODES) {
    await t.test(mode.name, async () => {
      const c = startClient(tb!.cl, { ...base, passwords: ['secret'], extraArgs: mode.args });
      running.add(c);
      const tun = await c.waitTunnel();
      const up = await waitDtlsUp(c);
      assert.match(up.label, mode.label);
      assert.match(up.suite, mode.suite);
      assert.ok(await tb!.cl.ping(gwHost(net), { count: 3, timeoutMs: 10_000 }), `no ping answer\n${c.proc.tail()}`);
      const upl = await tcpTransfer(tb!.cl, tb!.gw, gwHost(net), MB20);
      assert.equal(upl.bytes, MB20);
      assert.equal(upl.receivedSha256, upl.sentSha256);
      const down = await tcpTransfer(tb!.gw, tb!.cl, tun.address, MB20);
      assert.equal(down.bytes, MB20);
      assert.equal(down.receivedSha256, down.sentSha256);
      const mark = gw!.proc.lines.length;
      const st = await c.stop();
      running.delete(c);
      assert.equal(st.code, 0, c.proc.tail());
      const tr = traffic(c);
      // 2 x 20 MB is ~30,000 full-size packets; nearly all of them must have gone over DTLS.
      assert.ok(tr.dtlsTx > 10_000 && tr.dtlsRx > 10_000, `client DTLS tx ${tr.dtlsTx} rx ${tr.dtlsRx} (TLS tx ${tr.tlsTx} rx ${tr.tlsRx})`);
      assert.ok(tr.tlsTx < 1000, `client sent ${tr.tlsTx} packets over TLS`);
      const closed = await gw!.waitLog(/client disconnected/, 5000, mark);
      assert.ok(Number(closed['dtlsRxPackets']) > 10_000, `gateway DTLS rx ${closed['dtlsRxPackets']}`);
      const mbit = (ms: number): string => ((MB20 * 8) / ms / 1000).toFixed(0);
      results.push(`${mode.name}: up ${mbit(upl.ms)} / down ${mbit(down.ms)} Mbit/s`);
      t.diagnostic(`${mode.name}: DTLS up ${up.suite}; 20 MB up ${mbit(upl.ms)} Mbit/s, down ${mbit(down.ms)} Mbit/s; client DTLS tx ${tr.dtlsTx} rx ${tr.dtlsRx}, TLS tx ${tr.tlsTx} rx ${tr.tlsRx}`);
    });
  }

  await t.test('--no-dtls: no X-DTLS offer, the tunnel runs over TLS only', async () => {
    const c = startClient(tb!.cl, { ...base, passwords: ['secret'], extraArgs: ['--no-dtls'] });
    running.add(c);
    await c.waitTunnel();
    assert.match(c.output(), /Tunnel up: .*over TLS; DTLS not used: disabled \(--no-dtls\)/);
    assert.ok(await tb!.cl.ping(gwHost(net), { count: 3, timeoutMs: 10_000 }));
    const st = await c.stop();
    running.delete(c);
    assert.equal(st.code, 0);
    const tr = traffic(c);
    assert.equal(tr.dtlsTx + tr.dtlsRx, 0);
    assert.doesNotMatch(c.output(), /DTLS attempt/);
  });
  t.diagnostic(results.join('; '));
});
