/**
 * Reference pairing: Debian's openconnect 9.01 against Debian's ocserv 1.1.6
 * in a two-namespace testbed. It proves the harness (namespaces, ocserv and
 * openconnect helpers, traffic checks) and gives the numbers our gateway and
 * client are compared against.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, tcpTransfer, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';

const skip = interopSkipReason(['ocserv', 'ocpasswd', 'openconnect', 'openssl', 'ping', 'ip']);
const MB20 = 20 * 1024 * 1024;

test('openconnect 9.01 <-> ocserv 1.1.6 (password auth)', { skip, timeout: 120_000 }, async (t) => {
  let tb: Testbed | undefined;
  let oc: OpenconnectClient | undefined;
  t.after(async () => {
    await oc?.stop();
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'ococ' });
  const server = await startOcserv(tb.gw, {
    listenHost: tb.gwAddr,
    ipv4Network: tb.poolNet(0),
    banner: 'Welcome to the sslgate interop testbed (ocserv)',
    groups: [
      { name: 'Employees' },
      { name: 'Contractors', label: 'External Contractors', ipv4Network: tb.poolNet(1), routes: [tb.poolNet(1)], noUdp: true },
    ],
  });

  await t.test('Employees: tunnel, ping, 20 MB TCP through the tunnel, disconnect', async () => {
    const t0 = Date.now();
    oc = startOpenconnect(tb!.cl, {
      url: server.url,
      user: 'alice',
      password: 'secret',
      authgroup: 'Employees',
      servercert: server.pin,
    });
    const tun = await oc.waitTunnel(20_000);
    assert.match(tun.address, new RegExp(`^${tb!.poolNet(0).split('.').slice(0, 3).join('\\.')}\\.`));
    assert.ok(await tb!.cl.ping(server.tunAddr, { count: 1, timeoutMs: 10_000 }), `no ping reply from ${server.tunAddr}`);
    const firstPingMs = Date.now() - t0;
    t.diagnostic(`openconnect->ocserv: tunnel up ${tun.ms} ms after spawn, first ping answered after ${firstPingMs} ms, DTLS ${tun.dtls}`);
    // The banner went through vpnc-script (CISCO_BANNER) and the DNS into the namespace's resolv.conf.
    const resolv = await tb!.cl.exec('cat', ['/etc/resolv.conf'], { check: true });
    assert.match(resolv.stdout, new RegExp(`nameserver ${server.tunAddr.replace(/\./g, '\\.')}`));

    // Sink on ocserv's own TUN-side address, in the gateway namespace.
    const r = await tcpTransfer(tb!.cl, tb!.gw, server.tunAddr, MB20);
    t.diagnostic(`20 MB client->ocserv via ${tun.dtls === 'connected' ? 'DTLS' : 'CSTP (TLS)'} in ${r.ms} ms (${((r.bytes * 8) / r.ms / 1000).toFixed(0)} Mbit/s)`);
    assert.equal(r.bytes, MB20);
    assert.equal(r.receivedSha256, r.sentSha256);

    const status = await oc.stop();
    assert.equal(status.signal, null, `openconnect died by ${status.signal}`);
    await server.handle.waitForLine(/user disconnected/, 5000);
    oc = undefined;
  });

  await t.test('Contractors: own pool from config-per-group, no UDP, 20 MB over TLS only', async () => {
    oc = startOpenconnect(tb!.cl, {
      url: server.url,
      user: 'alice',
      password: 'secret',
      // openconnect 9.01 matches --authgroup against the option's label
      // ("External Contractors"), not its value ("Contractors").
      authgroup: 'External Contractors',
      servercert: server.pin,
    });
    const tun = await oc.waitTunnel(20_000);
    assert.match(tun.address, new RegExp(`^${tb!.poolNet(1).split('.').slice(0, 3).join('\\.')}\\.`));
    assert.notEqual(tun.dtls, 'connected');
    const gwTun = server.groupTunAddr('Contractors');
    assert.ok(await tb!.cl.ping(gwTun, { count: 3, timeoutMs: 10_000 }), `no ping reply from ${gwTun}`);
    const r = await tcpTransfer(tb!.cl, tb!.gw, gwTun, MB20);
    t.diagnostic(`20 MB client->ocserv over CSTP (TLS only) in ${r.ms} ms (${((r.bytes * 8) / r.ms / 1000).toFixed(0)} Mbit/s)`);
    assert.equal(r.receivedSha256, r.sentSha256);
    await oc.stop();
    oc = undefined;
  });

  await t.test('wrong password is rejected', async () => {
    oc = startOpenconnect(tb!.cl, {
      url: server.url,
      user: 'alice',
      password: 'wrong',
      authgroup: 'Employees',
      servercert: server.pin,
    });
    const status = await oc.proc.waitExit(20_000);
    assert.notEqual(status.code, 0);
    assert.ok(!oc.lines.some((l) => l.text.startsWith('Configured as')), 'tunnel must not come up');
    oc = undefined;
  });
});

test('openconnect 9.01 <-> ocserv 1.1.6 (certificate auth, DTLS)', { skip, timeout: 120_000 }, async (t) => {
  let tb: Testbed | undefined;
  let oc: OpenconnectClient | undefined;
  let server: OcservServer | undefined;
  t.after(async () => {
    await oc?.stop();
    await server?.stop();
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'occert' });
  server = await startOcserv(tb.gw, {
    listenHost: tb.gwAddr,
    ipv4Network: tb.poolNet(0),
    auth: 'certificate',
    users: [{ name: 'alice', groups: ['Employees'] }],
  });
  const cert = server.pki.clientCerts.get('alice');
  assert.ok(cert);
  oc = startOpenconnect(tb.cl, {
    url: server.url,
    authgroup: 'Employees',
    servercert: server.pin,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
  });
  const tun = await oc.waitTunnel(20_000);
  assert.equal(tun.dtls, 'connected', `DTLS expected; line: ${tun.line}`);
  assert.ok(await tb.cl.ping(server.tunAddr, { count: 3, timeoutMs: 10_000 }));
  // Group taken from the certificate's OU (cert-group-oid) and selected.
  await server.handle.waitForLine(/Loading group configuration .*\/Employees'/, 1000);
  const r = await tcpTransfer(tb.cl, tb.gw, server.tunAddr, 4 * 1024 * 1024);
  assert.equal(r.receivedSha256, r.sentSha256);

  // restart() keeps certificates (same pin) and config.
  await oc.stop();
  oc = undefined;
  await server.restart();
  oc = startOpenconnect(tb.cl, {
    url: server.url,
    authgroup: 'Employees',
    servercert: server.pin,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
  });
  await oc.waitTunnel(20_000);
});
