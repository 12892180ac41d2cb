/**
 * Issue 6 acceptance, part 3: brute force. Ten wrong passwords from one address get it banned
 * (refused before TLS, visible in `ctl bans` and the metrics) while another address still logs
 * in as the same user; `ctl unban` lets the first address back in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, type Testbed } from '../helpers/netns.js';
import { addClientNamespace, type ExtraClient } from '../helpers/netns-extra.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { startGateway, type SslgateGateway } from '../helpers/sslgate.js';
import { ctl, ctlJson } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';
import type { Ns } from '../helpers/netns.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);

interface BanJson {
  kind: string;
  key: string;
  score: number;
  bannedUntil: string | null;
  secondsLeft: number;
}

test('brute force: 10 wrong passwords ban the address, another address still logs in', { skip, timeout: 240_000 }, async (t) => {
  let tb: Testbed | undefined;
  let other: ExtraClient | undefined;
  let gw: SslgateGateway | undefined;
  const clients: OpenconnectClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    other?.cleanup();
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'gwban' });
  other = await addClientNamespace(tb);
  const net = tb.poolNet(0);
  const gwTun = net.replace(/\.0\/24$/, '.1');
  // The defaults: 10 points a wrong password, ban at 100, for 300 s.
  gw = await startGateway(tb.gw, { listenHost: tb.gwAddr, yaml: `network:\n  address: ${gwTun}/24\n  routes: [${net}]\n`, users: [{ name: 'alice', password: 'right-pw' }] });
  const connect = (ns: Ns, password: string): OpenconnectClient => {
    const c = startOpenconnect(ns, { url: gw!.url, servercert: gw!.pin, user: 'alice', password, noDtls: true });
    clients.push(c);
    return c;
  };
  const finished = async (c: OpenconnectClient): Promise<number | null> => {
    const st = await c.proc.waitExit(30_000);
    clients.splice(clients.indexOf(c), 1);
    return st.code;
  };

  await t.test('10 wrong passwords from one address: banned, refused even with the right password', async () => {
    const t0 = Date.now();
    let banStartBound = 0;
    for (let i = 1; i <= 10; i++) {
      if (i === 10) banStartBound = Date.now(); // the ban starts after this
      const c = connect(tb!.cl, `wrong-${i}`);
      assert.notEqual(await finished(c), 0);
      assert.ok(c.lines.some((l) => l.text.includes('Login failed.')), `attempt ${i}:\n${c.proc.tail()}`);
      const current: BanJson[] = await ctlJson<BanJson[]>(gw!, ['bans']);
      assert.equal(current.length, i < 10 ? 0 : 1, `after ${i} failures: ${JSON.stringify(current)}`);
    }
    t.diagnostic(`10 failed logins took ${Date.now() - t0} ms (the gateway slows each failure down)`);
    const bans = await ctlJson<BanJson[]>(gw!, ['bans']);
    assert.equal(bans[0]!.kind, 'address');
    assert.equal(bans[0]!.key, tb!.clAddr);
    // A 300 s ban, however long the test took: the time left plus the time since the ban
    // started (at most since the 10th attempt began) is the ban length, within a second of rounding.
    const since = Math.ceil((Date.now() - banStartBound) / 1000);
    assert.ok(bans[0]!.secondsLeft <= 300 && bans[0]!.secondsLeft >= 300 - since - 1, `${JSON.stringify(bans[0])}, ${since} s after the 10th attempt began`);
    const human = await ctl(gw!, ['bans']);
    assert.match(human.stdout, new RegExp(`address\\s+${tb!.clAddr.replace(/\./g, '\\.')}`));

    const banned = connect(tb!.cl, 'right-pw');
    assert.notEqual(await finished(banned), 0, 'a banned address logged in');
    assert.ok(!banned.lines.some((l) => /^Configured as/.test(l.text)));
    const m = parsePrometheus((await ctl(gw!, ['metrics'])).stdout);
    assert.equal(valueOf(m, 'sslgate_bans', { kind: 'address' }), 1);
    assert.equal(valueOf(m, 'sslgate_bans_total', { kind: 'address' }), 1);
    assert.ok(valueOf(m, 'sslgate_refused_connections_total', { reason: 'banned' }) >= 1);
    assert.equal(valueOf(m, 'sslgate_auth_total', { result: 'failure', reason: 'bad-credentials' }), 10);
  });

  await t.test('another address logs in as the same user meanwhile', async () => {
    const c = connect(other!.ns, 'right-pw');
    const tun = await c.waitTunnel(20_000);
    assert.ok(await other!.ns.ping(gwTun, { timeoutMs: 10_000 }));
    const s = (await ctlJson<Array<{ remote: string; address: string }>>(gw!, ['sessions']))[0]!;
    assert.equal(s.remote, other!.addr);
    assert.equal(s.address, tun.address);
  });

  await t.test('ctl unban lets the address back in', async () => {
    const r = await ctl(gw!, ['unban', tb!.clAddr]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await ctlJson<BanJson[]>(gw!, ['bans']), []);
    assert.equal((await ctl(gw!, ['unban', tb!.clAddr])).code, 2, 'a second unban finds nothing');
    const c = connect(tb!.cl, 'right-pw');
    await c.waitTunnel(20_000);
  });
});
