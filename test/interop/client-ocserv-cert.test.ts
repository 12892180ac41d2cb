/**
 * Issue 3, item 2: certificate authentication (--certificate/--sslkey) against ocserv 1.1.6
 * configured for it (auth = certificate, cert-user-oid CN, cert-group-oid OU). ocserv is run with
 * cisco-client-compat off, so it re-checks the certificate on the CONNECT connection too (§3.2).
 * Without a certificate the client says so and names the CA the gateway accepts ([SEED] §1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, tcpTransfer, tempDir, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { runClient, startClient, type SslgateClient } from './client-harness.js';

const skip = interopSkipReason(['ocserv', 'openssl', 'ping', 'ip']);
const prefix3 = (net: string): string => net.split('.').slice(0, 3).join('.') + '.';

test('sslgate connect -> ocserv 1.1.6, certificate auth', { skip, timeout: 180_000 }, async (t) => {
  let tb: Testbed | undefined;
  let server: OcservServer | undefined;
  let c: SslgateClient | undefined;
  t.after(async () => {
    await c?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'clcert' });
  const pool = tb.poolNet(0);
  server = await startOcserv(tb.gw, {
    listenHost: tb.gwAddr,
    ipv4Network: pool,
    auth: 'certificate',
    ciscoClientCompat: false,
    udpPort: 0,
    users: [{ name: 'alice', groups: ['Employees'] }],
  });
  const cert = server.pki.clientCerts.get('alice');
  assert.ok(cert);
  const prefsDir = tempDir('clcert-prefs');
  // Trusted through the CA this time (--cafile), not a pin.
  const base = { url: server.url, prefsDir, cafile: server.caFile };

  await t.test('no certificate configured: refused, with the accepted CA named', async () => {
    const r = await runClient(tb!.cl, { ...base, authgroup: 'Employees' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /client certificate and none is configured \(use --certificate\/--sslkey\)/);
    assert.match(r.stderr, /issued by: CN=sslgate test client CA/);
  });

  await t.test('--certificate/--sslkey: tunnel, group from the certificate, ping, TCP intact, clean exit', async () => {
    c = startClient(tb!.cl, { ...base, certFile: cert.certFile, keyFile: cert.keyFile, authgroup: 'Employees', iface: 'sgcert0' });
    const up = await c.waitTunnel();
    t.diagnostic(`certificate login: tunnel up ${up.ms} ms after spawn`);
    assert.ok(up.address.startsWith(prefix3(pool)), up.address);
    assert.match(c.output(), /certificate verified/, 'trusted through --cafile');
    assert.match(c.output(), /Logged in \(group Employees\)/);
    await server!.handle.waitForLine(/Loading group configuration .*\/Employees'/, 5000);
    assert.ok(await tb!.cl.ping(server!.tunAddr, { count: 3, timeoutMs: 10_000 }));
    const r = await tcpTransfer(tb!.cl, tb!.gw, server!.tunAddr, 4 * 1024 * 1024);
    assert.equal(r.receivedSha256, r.sentSha256);
    const st = await c.stop();
    c = undefined;
    assert.equal(st.code, 0);
  });
});
