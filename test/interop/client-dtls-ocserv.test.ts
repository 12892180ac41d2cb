/**
 * Issue 4, client test 2: `sslgate connect` -> Debian's ocserv 1.1.6 over DTLS in each mode
 * ocserv offers (PROTOCOL.md §6.2, transcripts/ocserv-dtls-modes.txt): with ocserv's defaults
 * (dtls-psk and dtls-legacy on) our default offer gets PSK-NEGOTIATE, and --dtls-ciphers /
 * --dtls12-ciphers select DTLS 0.9 (AES128-SHA, AES256-SHA, DES-CBC3-SHA), OC-DTLS1_2-AES*-GCM
 * and Cisco DTLS 1.2 (AES128-GCM-SHA256, AES256-GCM-SHA384); with dtls-psk off the default offer
 * gets Cisco DTLS 1.2, with dtls-legacy off PSK-NEGOTIATE. Each: DTLS established, ping, 20 MB TCP
 * both ways intact, the client's counters show the data went over DTLS. openconnect 9.01 runs
 * the same mode against the same ocserv for a throughput comparison (diagnostic only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, tcpTransfer, tempDir, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { startClient, type SslgateClient } from './client-harness.js';
import { traffic, waitDtlsUp } from './client-dtls-harness.js';

const skip = interopSkipReason(['ocserv', 'ocpasswd', 'openconnect', 'openssl', 'ping', 'ip']);
const MB20 = 20 * 1024 * 1024;

type Server = 'default' | 'legacy-only' | 'psk-only';
interface Mode {
  server: Server;
  name: string;
  /** our options; openconnect gets the same with '=' */
  args: string[];
  label: RegExp;
  suite: RegExp;
}

const MODES: Mode[] = [
  { server: 'default', name: 'PSK-NEGOTIATE (default offer)', args: [], label: /^PSK-NEGOTIATE$/, suite: /^DTLS 1\.2 TLS_PSK_WITH_AES_256_GCM_SHA384$/ },
  { server: 'default', name: 'DTLS 0.9 AES128-SHA', args: ['--dtls-ciphers', 'AES128-SHA'], label: /^DTLS 0\.9 AES128-SHA$/, suite: /^DTLS 0\.9 TLS_RSA_WITH_AES_128_CBC_SHA$/ },
  { server: 'default', name: 'DTLS 0.9 AES256-SHA', args: ['--dtls-ciphers', 'AES256-SHA'], label: /^DTLS 0\.9 AES256-SHA$/, suite: /^DTLS 0\.9 TLS_RSA_WITH_AES_256_CBC_SHA$/ },
  { server: 'default', name: 'DTLS 0.9 DES-CBC3-SHA', args: ['--dtls-ciphers', 'DES-CBC3-SHA'], label: /^DTLS 0\.9 DES-CBC3-SHA$/, suite: /^DTLS 0\.9 TLS_RSA_WITH_3DES_EDE_CBC_SHA$/ },
  { server: 'default', name: 'OC-DTLS1_2-AES128-GCM', args: ['--dtls-ciphers', 'OC-DTLS1_2-AES128-GCM'], label: /^DTLS 1\.2 OC-DTLS1_2-AES128-GCM$/, suite: /^DTLS 1\.2 TLS_RSA_WITH_AES_128_GCM_SHA256$/ },
  { server: 'default', name: 'OC-DTLS1_2-AES256-GCM', args: ['--dtls-ciphers', 'OC-DTLS1_2-AES256-GCM'], label: /^DTLS 1\.2 OC-DTLS1_2-AES256-GCM$/, suite: /^DTLS 1\.2 TLS_RSA_WITH_AES_256_GCM_SHA384$/ },
  { server: 'default', name: 'Cisco DTLS 1.2 AES128-GCM-SHA256', args: ['--dtls12-ciphers', 'AES128-GCM-SHA256'], label: /^DTLS 1\.2 AES128-GCM-SHA256$/, suite: /^DTLS 1\.2 TLS_RSA_WITH_AES_128_GCM_SHA256$/ },
  { server: 'default', name: 'Cisco DTLS 1.2 AES256-GCM-SHA384', args: ['--dtls12-ciphers', 'AES256-GCM-SHA384'], label: /^DTLS 1\.2 AES256-GCM-SHA384$/, suite: /^DTLS 1\.2 TLS_RSA_WITH_AES_256_GCM_SHA384$/ },
  { server: 'legacy-only', name: 'dtls-psk = false: default offer gets Cisco DTLS 1.2', args: [], label: /^DTLS 1\.2 AES256-GCM-SHA384$/, suite: /^DTLS 1\.2 TLS_RSA_WITH_AES_256_GCM_SHA384$/ },
  { server: 'psk-only', name: 'dtls-legacy = false: default offer gets PSK-NEGOTIATE', args: [], label: /^PSK-NEGOTIATE$/, suite: /^DTLS 1\.2 TLS_PSK_WITH_AES_256_GCM_SHA384$/ },
];

const mbit = (ms: number): string => ((MB20 * 8) / ms / 1000).toFixed(0);

test('sslgate connect -> ocserv 1.1.6 over DTLS, every mode ocserv offers', { skip, timeout: 420_000 }, async (t) => {
  let tb: Testbed | undefined;
  const servers = new Map<Server, OcservServer>();
  const running = new Set<SslgateClient>();
  let oc: OpenconnectClient | undefined;
  t.after(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await oc?.stop().catch(() => undefined);
    for (const s of servers.values()) await s.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'cldo' });
  const pool = tb.poolNet(0);
  const server = async (kind: Server): Promise<OcservServer> => {
    let s = servers.get(kind);
    if (s) return s;
    for (const [k, other] of servers) {
      await other.stop();
      servers.delete(k);
    }
    const flags = kind === 'default' ? {} : kind === 'legacy-only' ? { dtlsPsk: false } : { dtlsLegacy: false, ciscoClientCompat: false };
    s = await startOcserv(tb!.gw, { listenHost: tb!.gwAddr, ipv4Network: pool, groups: [{ name: 'Employees' }], ...flags });
    servers.set(kind, s);
    return s;
  };
  const prefsDir = tempDir('cldo-prefs');
  const summary: string[] = [];

  for (const mode of MODES) {
    await t.test(`${mode.server}: ${mode.name}`, async () => {
      const srv = await server(mode.server);
      const c = startClient(tb!.cl, { url: srv.url, prefsDir, user: 'alice', servercert: [srv.pin], authgroup: 'Employees', iface: 'sgdo0', passwords: ['secret'], extraArgs: mode.args });
      running.add(c);
      const tun = await c.waitTunnel();
      const up = await waitDtlsUp(c);
      assert.match(up.label, mode.label);
      assert.match(up.suite, mode.suite);
      assert.ok(await tb!.cl.ping(srv.tunAddr, { count: 3, timeoutMs: 10_000 }), `no ping answer\n${c.proc.tail()}`);
      const upl = await tcpTransfer(tb!.cl, tb!.gw, srv.tunAddr, MB20);
      assert.equal(upl.bytes, MB20);
      assert.equal(upl.receivedSha256, upl.sentSha256);
      const down = await tcpTransfer(tb!.gw, tb!.cl, tun.address, MB20);
      assert.equal(down.bytes, MB20);
      assert.equal(down.receivedSha256, down.sentSha256);
      const st = await c.stop();
      running.delete(c);
      assert.equal(st.code, 0, c.proc.tail());
      const tr = traffic(c);
      assert.match(c.output(), /DTLS receive batched \(recvmmsg/, 'downloads not read with recvmmsg');
      assert.ok(tr.dtlsTx > 10_000 && tr.dtlsRx > 10_000, `client DTLS tx ${tr.dtlsTx} rx ${tr.dtlsRx} (TLS tx ${tr.tlsTx} rx ${tr.tlsRx})`);
      assert.ok(tr.tlsTx < 1000 && tr.tlsRx < 1000, `TLS tx ${tr.tlsTx} rx ${tr.tlsRx}`);
      let line = `${mode.server}/${mode.name}: sslgate up ${mbit(upl.ms)} down ${mbit(down.ms)} Mbit/s`;

      // The reference client in the same mode (its failures are reported, not failed on).
      const ocArgs = mode.args.length ? [`${mode.args[0]}=${mode.args[1]}`] : [];
      oc = startOpenconnect(tb!.cl, { url: srv.url, user: 'alice', password: 'secret', authgroup: 'Employees', servercert: srv.pin, iface: 'ocdo0', extraArgs: ocArgs });
      try {
        const otun = await oc.waitTunnel(20_000);
        await oc.proc.waitForLine(/Established DTLS connection/, 15_000);
        const ou = await tcpTransfer(tb!.cl, tb!.gw, srv.tunAddr, MB20);
        const od = await tcpTransfer(tb!.gw, tb!.cl, otun.address, MB20);
        line += `; openconnect up ${mbit(ou.ms)} down ${mbit(od.ms)} Mbit/s`;
      } catch (e) {
        line += `; openconnect failed: ${(e as Error).message.split('\n')[0]}`;
      } finally {
        await oc.stop();
        oc = undefined;
      }
      summary.push(line);
      t.diagnostic(`${line} (client DTLS tx ${tr.dtlsTx} rx ${tr.dtlsRx}, TLS tx ${tr.tlsTx} rx ${tr.tlsRx})`);
    });
  }

  await t.test('default: with batched receive turned off (SSLGATE_UDP_RX_BATCH=0), dgram reads the downloads', async () => {
    const srv = await server('default');
    const c = startClient(tb!.cl, { url: srv.url, prefsDir, user: 'alice', servercert: [srv.pin], authgroup: 'Employees', iface: 'sgdo1', passwords: ['secret'], env: { SSLGATE_UDP_RX_BATCH: '0' } });
    running.add(c);
    const tun = await c.waitTunnel();
    await waitDtlsUp(c);
    const down = await tcpTransfer(tb!.gw, tb!.cl, tun.address, MB20);
    assert.equal(down.receivedSha256, down.sentSha256);
    const upl = await tcpTransfer(tb!.cl, tb!.gw, srv.tunAddr, MB20);
    assert.equal(upl.receivedSha256, upl.sentSha256);
    const st = await c.stop();
    running.delete(c);
    assert.equal(st.code, 0, c.proc.tail());
    assert.doesNotMatch(c.output(), /DTLS receive batched/);
    const tr = traffic(c);
    assert.ok(tr.dtlsRx > 10_000, `client DTLS rx ${tr.dtlsRx}`);
  });
  t.diagnostic(summary.join(' | '));
});
