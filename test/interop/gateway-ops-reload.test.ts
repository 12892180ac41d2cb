/**
 * Issue 6 acceptance, part 2: live reload and per-user session limits, with real openconnect
 * clients. A reload that adds a route reaches the next client and not the connected one, and
 * both keep passing traffic; a broken config (ctl reload or SIGHUP) is refused and the gateway
 * keeps serving on the old one; `max-sessions-per-user: 1` holds with two clients of one user,
 * in both overflow modes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createTestbed, interopSkipReason, type Testbed } from '../helpers/netns.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { startGateway, type SslgateGateway } from '../helpers/sslgate.js';
import { ctl, ctlJson } from '../helpers/ctl.js';
import { eventually } from '../helpers/poll.js';
import type { SessionView } from '../../src/gateway/ops/session-view.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);

test('live reload and session limits', { skip, timeout: 240_000 }, async (t) => {
  let tb: Testbed | undefined;
  let gw: SslgateGateway | undefined;
  const clients: OpenconnectClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'gwreload' });
  const net = tb.poolNet(0);
  const extra = tb.poolNet(7); // a route only: nothing answers there, clients just get it
  const gwTun = net.replace(/\.0\/24$/, '.1');
  // alice holds three sessions at once below: more than the default max-sessions-per-user (2).
  const yaml = (routes: string[], banner: string, limits = 'limits: { max-sessions-per-user: none }\n'): string =>
    `network:\n  address: ${gwTun}/24\n  routes: [${routes.join(', ')}]\ngroups:\n  - name: Employees\nbanner: ${banner}\n${limits}`;
  gw = await startGateway(tb.gw, { listenHost: tb.gwAddr, yaml: yaml([net], 'Banner one'), users: [{ name: 'alice', password: 'pw-a' }, { name: 'bob', password: 'pw-b' }] });
  // startGateway's file = these first lines + our YAML; a reload test rewrites the YAML part.
  const head = `listen: ${tb.gwAddr}:443\nstate: ./state\ntun: { name: sgw%d }\n`;
  assert.ok(fs.readFileSync(gw.configFile, 'utf8').startsWith(head), 'config layout of startGateway changed');
  const writeConfig = (body: string): void => fs.writeFileSync(gw!.configFile, head + body + '\n');
  const connect = (user: string, password: string): OpenconnectClient => {
    const c = startOpenconnect(tb!.cl, { url: gw!.url, servercert: gw!.pin, user, password, noDtls: true });
    clients.push(c);
    return c;
  };
  const stop = async (c: OpenconnectClient): Promise<void> => {
    await c.stop();
    clients.splice(clients.indexOf(c), 1);
  };
  const routesOf = async (c: OpenconnectClient): Promise<string> => (await tb!.cl.exec('ip', ['-4', 'route', 'show', 'dev', c.iface])).stdout;
  /** a ping bound to the client's TUN: each tunnel on its own, whichever holds the route */
  const pingVia = async (c: OpenconnectClient): Promise<boolean> =>
    (await tb!.cl.exec('ping', ['-n', '-q', '-c', '1', '-W', '3', '-I', c.iface, gwTun], { timeoutMs: 10_000 })).code === 0;
  const sessions = (user?: string): Promise<SessionView[]> => ctlJson<SessionView[]>(gw!, user ? ['sessions', '--user', user] : ['sessions']);

  const c1 = connect('alice', 'pw-a');
  const t1 = await c1.waitTunnel(20_000);
  let c2!: OpenconnectClient;

  await t.test('a reload that adds a route reaches the next client, not the connected one; both pass traffic', async () => {
    writeConfig(yaml([net, extra], 'Banner two'));
    const r = await ctl(gw!, ['reload']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^reloaded; changed: .*network/);
    t.diagnostic(`ctl reload: ${r.ms} ms`);
    c2 = connect('alice', 'pw-a');
    const t2 = await c2.waitTunnel(20_000);
    // waitTunnel returns at the address; vpnc-script adds the routes a moment later.
    let seen = '';
    await eventually(() => `the new client to get ${extra}; its routes:\n${seen}`, 15_000, async () => (seen = await routesOf(c2)).includes(extra));
    assert.ok(!(await routesOf(c1)).includes(extra), 'the connected client got the new route');
    assert.ok(c2.lines.some((l) => l.text.includes('Banner two')));
    assert.ok(!c1.lines.some((l) => l.text.includes('Banner two')));
    const list = await sessions();
    assert.deepEqual(list.find((s) => s.address === t1.address)?.routes, [net]);
    assert.deepEqual(list.find((s) => s.address === t2.address)?.routes, [net, extra]);
    assert.ok(await pingVia(c1), 'the connected client lost its traffic');
    assert.ok(await pingVia(c2), 'the new client passes no traffic');
  });

  await t.test('a broken config is refused (ctl reload and SIGHUP); the gateway keeps serving', async () => {
    writeConfig(yaml([net, '10.0.0.0/99'], 'Banner three'));
    const r = await ctl(gw!, ['reload']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /reload refused.*network\.routes\[1\]: expected an IPv4 CIDR/);
    const j = await ctl(gw!, ['reload', '--json']);
    assert.equal(j.code, 1);
    assert.equal((JSON.parse(j.stdout) as { ok: boolean }).ok, false);
    const mark = gw!.proc.lines.length;
    gw!.proc.signal('SIGHUP');
    const refused = await gw!.waitLog(/reload refused/, 10_000, mark);
    assert.match(String(refused['err']), /network\.routes\[1\]/);
    assert.ok(gw!.proc.running);
    assert.ok(await pingVia(c1));
    assert.ok(await pingVia(c2));
    // new logins still work, on the last good configuration
    const c3 = connect('alice', 'pw-a');
    await c3.waitTunnel(20_000);
    assert.ok((await routesOf(c3)).includes(extra));
    assert.ok(c3.lines.some((l) => l.text.includes('Banner two')));
    const st = await ctlJson<{ lastReload: { ok: boolean; error: string } }>(gw!, ['status']);
    assert.equal(st.lastReload.ok, false);
    assert.match(st.lastReload.error, /network\.routes\[1\]/);
  });

  await t.test('max-sessions-per-user 1: a reload does not drop live sessions; then the oldest loses, or the newest is refused', async () => {
    writeConfig(yaml([net, extra], 'Banner two', 'limits: { max-sessions-per-user: 1 }\n'));
    assert.equal((await ctl(gw!, ['reload'])).code, 0);
    // alice has 3 sessions: the new limit applies at her next login, not now
    assert.equal((await sessions('alice')).filter((s) => s.state === 'connected').length, 3);
    for (const c of [...clients]) await stop(c);

    const d1 = connect('bob', 'pw-b');
    await d1.waitTunnel(20_000);
    const d2 = connect('bob', 'pw-b');
    const t2 = await d2.waitTunnel(20_000);
    const exit = await d1.proc.waitExit(15_000); // end-oldest: the first one is terminated
    clients.splice(clients.indexOf(d1), 1);
    assert.notEqual(exit.code, null);
    assert.ok(d1.lines.some((l) => /terminated by server/i.test(l.text)), d1.proc.tail());
    const bob = await sessions('bob');
    assert.equal(bob.length, 1);
    assert.equal(bob[0]!.address, t2.address);
    assert.ok(await pingVia(d2));

    writeConfig(yaml([net, extra], 'Banner two', 'limits: { max-sessions-per-user: 1, session-overflow: refuse-newest }\n'));
    assert.equal((await ctl(gw!, ['reload'])).code, 0);
    const d3 = connect('bob', 'pw-b');
    const st = await d3.proc.waitExit(30_000);
    clients.splice(clients.indexOf(d3), 1);
    assert.notEqual(st.code, 0);
    assert.ok(d3.lines.some((l) => l.text.includes('You already have 1 session')), d3.proc.tail());
    assert.equal((await sessions('bob')).length, 1);
    assert.ok(d2.proc.running && (await pingVia(d2)), 'the first session must survive a refused second login');
  });
});
