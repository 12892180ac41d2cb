/**
 * Issue 3, item 7: the same flow against our own gateway (`sslgate serve`, issue 2): group
 * selection, login, profile download, CONNECT, real packets (ping, 20 MB TCP intact), a clean
 * disconnect — once with Debian's vpnc-script configuring the client namespace (address, routes,
 * resolv.conf, restored afterwards) and once with sslgate configuring it itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTestbed, interopSkipReason, tcpTransfer, tempDir, type Testbed } from '../helpers/netns.js';
import { VPNC_SCRIPT } from '../helpers/openconnect.js';
import { twoGroupYaml, gwHost, startGateway, type SslgateGateway } from '../helpers/sslgate.js';
import { runClient, startClient, type SslgateClient } from './client-harness.js';

const skip = interopSkipReason(['ping', 'ip'], [VPNC_SCRIPT]);
const MB20 = 20 * 1024 * 1024;
const prefix3 = (net: string): string => net.split('.').slice(0, 3).join('.') + '.';
const PROFILE_XML = `<?xml version="1.0" encoding="UTF-8"?>
<AnyConnectProfile xmlns="http://schemas.xmlsoap.org/encoding/">
  <ServerList><HostEntry><HostName>sslgate test</HostName><HostAddress>vpn.test</HostAddress></HostEntry></ServerList>
</AnyConnectProfile>
`;

test('sslgate connect -> sslgate serve (TLS)', { skip, timeout: 240_000 }, async (t) => {
  let tb: Testbed | undefined;
  let gw: SslgateGateway | undefined;
  const running = new Set<SslgateClient>();
  t.after(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'clgw' });
  const emp = tb.poolNet(0);
  const con = tb.poolNet(1);
  gw = await startGateway(tb.gw, {
    listenHost: tb.gwAddr,
    // Two network processes whatever the machine has (the default, auto, is one per CPU): the
    // downloader's fresh connection then reaches the other worker than the login, and the profile
    // must still be served (it was refused with 401 when only the login's worker knew the cookie).
    yaml: `${twoGroupYaml(emp, con)}\nworkers: 2\n`,
    files: { 'profile.xml': PROFILE_XML },
    users: [{ name: 'alice', password: 'secret' }],
  });
  const prefsDir = tempDir('clgw-prefs');
  const base = { url: gw.url, prefsDir, user: 'alice', servercert: [gw.pin] };
  const resolvBefore = (await tb.cl.exec('cat', ['/etc/resolv.conf'], { check: true })).stdout;

  await t.test('with Debian vpnc-script: Employees, DNS in resolv.conf, ping, 20 MB TCP, clean exit restores', async () => {
    const c = startClient(tb!.cl, { ...base, passwords: ['secret'], authgroup: 'Employees', script: VPNC_SCRIPT, iface: 'sgcg0' });
    running.add(c);
    const up = await c.waitTunnel();
    t.diagnostic(`sslgate->sslgate with vpnc-script: tunnel up ${up.ms} ms after spawn`);
    assert.ok(up.address.startsWith(prefix3(emp)), up.address);
    assert.match(c.output(), /Welcome to the sslgate testbed/);
    assert.match(c.output(), /Profile profile\.xml downloaded/);
    assert.equal(fs.readFileSync(path.join(prefsDir, 'Profile', 'profile.xml'), 'utf8'), PROFILE_XML);
    const resolv = (await tb!.cl.exec('cat', ['/etc/resolv.conf'], { check: true })).stdout;
    assert.match(resolv, new RegExp(`nameserver ${gwHost(emp).replace(/\./g, '\\.')}`), 'vpnc-script wrote the DNS server');
    const routes = (await tb!.cl.exec('ip', ['route'], { check: true })).stdout;
    assert.match(routes, new RegExp(`${con.replace(/\./g, '\\.')} dev sgcg0`), 'split route from the script');
    assert.ok(await tb!.cl.ping(gwHost(emp), { count: 3, timeoutMs: 10_000 }));
    const r = await tcpTransfer(tb!.cl, tb!.gw, gwHost(emp), MB20);
    t.diagnostic(`20 MB client->sslgate in ${r.ms} ms (${((r.bytes * 8) / r.ms / 1000).toFixed(0)} Mbit/s)`);
    assert.equal(r.receivedSha256, r.sentSha256);
    const st = await c.stop();
    running.delete(c);
    assert.equal(st.code, 0, c.proc.tail());
    assert.match(c.output(), /vpnc-script disconnect done/);
    assert.equal((await tb!.cl.exec('cat', ['/etc/resolv.conf'], { check: true })).stdout, resolvBefore, 'resolv.conf restored');
  });

  await t.test('without a script: Contractors by label, profile unchanged, ping, 20 MB TCP', async () => {
    const c = startClient(tb!.cl, { ...base, passwords: ['secret'], authgroup: 'External Contractors', iface: 'sgcg1' });
    running.add(c);
    const up = await c.waitTunnel();
    t.diagnostic(`sslgate->sslgate without script: tunnel up ${up.ms} ms after spawn`);
    assert.ok(up.address.startsWith(prefix3(con)), up.address);
    assert.match(c.output(), /Profile profile\.xml is up to date/);
    assert.ok(await tb!.cl.ping(gwHost(con), { count: 3, timeoutMs: 10_000 }));
    const r = await tcpTransfer(tb!.cl, tb!.gw, gwHost(con), MB20);
    assert.equal(r.receivedSha256, r.sentSha256);
    const st = await c.stop();
    running.delete(c);
    assert.equal(st.code, 0, c.proc.tail());
  });

  await t.test('--cookieonly, then --cookie-on-stdin: the tunnel without a second login', async () => {
    const r = await runClient(tb!.cl, { ...base, passwords: ['secret'], authgroup: 'Employees', extraArgs: ['--cookieonly'] });
    assert.equal(r.code, 0, r.stderr);
    const cookie = r.stdout.trim();
    assert.match(cookie, /^\S{16,}$/);
    const c = startClient(tb!.cl, { url: gw!.url, prefsDir, servercert: [gw!.pin], stdin: [cookie], iface: 'sgcg2', extraArgs: ['--cookie-on-stdin'] });
    running.add(c);
    const up = await c.waitTunnel();
    assert.ok(up.address.startsWith(prefix3(emp)), up.address);
    assert.doesNotMatch(c.output(), /Logged in/);
    assert.ok(await tb!.cl.ping(gwHost(emp), { count: 1, timeoutMs: 10_000 }));
    assert.equal((await c.stop()).code, 0);
    running.delete(c);
  });

  await t.test('wrong password: non-zero exit with the gateway\'s message', async () => {
    const r = await runClient(tb!.cl, { ...base, passwords: ['wrong'], authgroup: 'Employees' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /login failed: /);
  });
});
