/**
 * Issue 3, items 1 and 5: `sslgate connect` against Debian's ocserv 1.1.6 with password auth and
 * two select-groups: --authgroup picks each (by value and by label), ping and a 20 MB TCP
 * transfer go through the tunnel intact, Ctrl-C disconnects cleanly; a group the gateway does
 * not offer and a wrong password fail with clear messages. Also measures connect time against
 * openconnect 9.01 on the same ocserv (diagnostics).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, tcpTransfer, tempDir, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { startOpenconnect, VPNC_SCRIPT } from '../helpers/openconnect.js';
import { median, runClient, startClient, type SslgateClient } from './client-harness.js';

const skip = interopSkipReason(['ocserv', 'ocpasswd', 'openconnect', 'openssl', 'ping', 'ip']);
const MB20 = 20 * 1024 * 1024;
const prefix3 = (net: string): string => net.split('.').slice(0, 3).join('.') + '.';

test('sslgate connect -> ocserv 1.1.6, password auth, select-groups', { skip, timeout: 240_000 }, async (t) => {
  let tb: Testbed | undefined;
  let server: OcservServer | undefined;
  const running = new Set<SslgateClient>();
  t.after(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'clpw' });
  const emp = tb.poolNet(0);
  const con = tb.poolNet(1);
  server = await startOcserv(tb.gw, {
    listenHost: tb.gwAddr,
    ipv4Network: emp,
    banner: 'Welcome to the sslgate client test (ocserv)',
    udpPort: 0,
    groups: [
      { name: 'Employees' },
      { name: 'Contractors', label: 'External Contractors', ipv4Network: con, routes: [con] },
    ],
  });
  const prefsDir = tempDir('clpw-prefs');
  const base = { url: server.url, prefsDir, user: 'alice', servercert: [server.pin] };

  for (const [group, authgroup, pool] of [
    ['Employees', 'Employees', emp],
    ['Contractors', 'External Contractors', con],
  ] as const) {
    await t.test(`--authgroup ${JSON.stringify(authgroup)}: address from the ${group} pool, ping, 20 MB TCP intact, clean exit`, async () => {
      const c = startClient(tb!.cl, { ...base, passwords: ['secret'], authgroup, iface: 'sgpw0' });
      running.add(c);
      const up = await c.waitTunnel();
      assert.ok(up.address.startsWith(prefix3(pool)), `address ${up.address} not in ${pool}`);
      assert.match(c.output(), new RegExp(`Logged in as alice \\(group ${group}\\)`));
      assert.match(c.output(), /Welcome to the sslgate client test \(ocserv\)/, 'banner shown');
      const gwTun = server!.groupTunAddr(group);
      assert.ok(await tb!.cl.ping(gwTun, { count: 3, timeoutMs: 10_000 }), `no ping answer from ${gwTun}`);
      const r = await tcpTransfer(tb!.cl, tb!.gw, gwTun, MB20);
      t.diagnostic(`${group}: tunnel up ${up.ms} ms after spawn; 20 MB client->ocserv in ${r.ms} ms (${((r.bytes * 8) / r.ms / 1000).toFixed(0)} Mbit/s)`);
      assert.equal(r.bytes, MB20);
      assert.equal(r.receivedSha256, r.sentSha256);
      const from = server!.serverLog.length;
      const st = await c.stop();
      running.delete(c);
      assert.equal(st.code, 0, `exit ${JSON.stringify(st)}\n${c.proc.tail()}`);
      await server!.handle.waitForLine(/user disconnected \(reason: user disconnected/, 5000, from);
      const link = await tb!.cl.exec('ip', ['link', 'show', 'sgpw0']);
      assert.notEqual(link.code, 0, 'the TUN device is gone after exit');
    });
  }

  await t.test('a group the gateway does not offer: error listing the offered ones', async () => {
    const r = await runClient(tb!.cl, { ...base, passwords: ['secret'], authgroup: 'Nope' });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /offers no group "Nope"; it offers: Employees, Contractors \("External Contractors"\)/);
  });

  await t.test('wrong password: non-zero exit with ocserv\'s message, no tunnel', async () => {
    const r = await runClient(tb!.cl, { ...base, passwords: ['wrong'], authgroup: 'Employees' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /login failed: Login failed\./); // ocserv 1.1 re-asks with this message instead of a 401
    assert.doesNotMatch(r.stderr, /Tunnel up|\n\s+at /, 'no tunnel, no stack trace');
  });

  await t.test('connect time: sslgate vs openconnect 9.01 against the same ocserv (diagnostic)', async () => {
    // Tool-independent: from spawn until a ping through the tunnel is answered, interleaved
    // runs, median. openconnect (--no-dtls: TLS only, like us) runs Debian's vpnc-script;
    // sslgate runs with it and without.
    const firstPing = async (t0: number): Promise<number> => {
      for (;;) {
        if ((await tb!.cl.exec('ping', ['-n', '-q', '-c', '1', '-W', '1', server!.tunAddr], { timeoutMs: 5000 })).code === 0) return Date.now() - t0;
        if (Date.now() - t0 > 30_000) throw new Error('no ping through the tunnel within 30 s');
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const runs = 3;
    const ours: number[] = [];
    const oursScript: number[] = [];
    const oursInner: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < runs; i++) {
      for (const script of [undefined, VPNC_SCRIPT]) {
        const t0 = Date.now();
        const c = startClient(tb!.cl, { ...base, passwords: ['secret'], authgroup: 'Employees', iface: 'sgpw1', ...(script ? { script } : {}) });
        running.add(c);
        try {
          (script ? oursScript : ours).push(await firstPing(t0));
        } catch (e) {
          throw new Error(`sslgate${script ? ' + vpnc-script' : ''}: ${(e as Error).message}\n${c.proc.tail()}`);
        }
        const inner = /connected in (\d+) ms/.exec(c.output())?.[1];
        if (inner && !script) oursInner.push(Number(inner));
        await c.stop();
        running.delete(c);
      }
      // The reference tool's hiccups are reported, not failed on: this suite tests sslgate.
      const t0 = Date.now();
      const oc = startOpenconnect(tb!.cl, { url: server!.url, user: 'alice', password: 'secret', authgroup: 'Employees', servercert: server!.pin, iface: 'ocpw1', noDtls: true });
      try {
        theirs.push(await firstPing(t0));
      } catch (e) {
        t.diagnostic(`openconnect run ${i + 1} failed: ${(e as Error).message}\n${oc.proc.tail(10)}`);
      } finally {
        await oc.stop();
      }
    }
    t.diagnostic(
      `spawn -> first ping through the tunnel (median of ${runs}): openconnect+vpnc-script ${median(theirs)} ms [${theirs.join(', ')}]; ` +
        `sslgate+vpnc-script ${median(oursScript)} ms [${oursScript.join(', ')}]; sslgate (ip, no script) ${median(ours)} ms [${ours.join(', ')}], ` +
        `of which in-process (TLS to tunnel configured) ${median(oursInner)} ms`,
    );
  });
});
