/**
 * Issue 3, item 6 (staying up, PROTOCOL.md §8.5): while connected to ocserv 1.1.6,
 *   a. the worker holding our TLS connection is killed (ocserv's TLS path restarts; the session
 *      and its cookie live on in ocserv's main process): the client reconnects with the cookie,
 *      keeps its TUN and address, and ping works again;
 *   b. the veth is cut and restored: dead-peer detection (X-CSTP-DPD from ocserv) notices, the
 *      client retries with back-off while the link is down and reconnects when it is back;
 *   c. ocserv restarts from scratch: the cookie is gone (401 on CONNECT), the client gives up
 *      at once, removes what it configured and exits non-zero;
 *   d. the link stays down longer than --reconnect-timeout: the client gives up and cleans up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, sleep, tempDir, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { startClient, type SslgateClient } from './client-harness.js';

const skip = interopSkipReason(['ocserv', 'ocpasswd', 'occtl', 'openssl', 'ping', 'ip']);
const DPD = 2;

interface OcctlUser {
  ID: number;
  IPv4: string;
  State: string;
}

test('sslgate connect -> ocserv 1.1.6: reconnect after a dropped connection', { skip, timeout: 180_000 }, async (t) => {
  let tb: Testbed | undefined;
  let server: OcservServer | undefined;
  let c: SslgateClient | undefined;
  t.after(async () => {
    await c?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'clrec' });
  server = await startOcserv(tb.gw, { listenHost: tb.gwAddr, ipv4Network: tb.poolNet(0), udpPort: 0, dpd: DPD });
  const users = async (): Promise<OcctlUser[]> => {
    const r = await tb!.gw.exec('occtl', ['-s', `${server!.dir}/occtl.sock`, '-j', 'show', 'users'], { check: true });
    return JSON.parse(r.stdout || '[]') as OcctlUser[];
  };
  const waitUser = async (timeoutMs: number, pred: (u: OcctlUser) => boolean): Promise<OcctlUser> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const u = (await users()).find(pred);
      if (u) return u;
      if (Date.now() > end) throw new Error(`no matching ocserv user within ${timeoutMs} ms: ${JSON.stringify(await users())}`);
      await sleep(200);
    }
  };

  c = startClient(tb.cl, {
    url: server.url,
    prefsDir: tempDir('clrec-prefs'),
    user: 'alice',
    passwords: ['secret'],
    authgroup: 'Employees',
    servercert: [server.pin],
    iface: 'sgrec0',
    extraArgs: ['--reconnect-timeout', '60'],
  });
  const up = await c.waitTunnel();
  assert.ok(await tb.cl.ping(server.tunAddr, { count: 1, timeoutMs: 10_000 }));
  const first = await waitUser(5000, (u) => u.State === 'connected');
  assert.equal(first.IPv4, up.address);

  await t.test('a. ocserv worker killed: reconnect with the cookie, same TUN and address, ping again', async () => {
    const from = c!.proc.lines.length;
    process.kill(first.ID, 'SIGKILL');
    const m = await c!.proc.waitForLine(/^Reconnected after (\d+) ms .*address ([0-9.]+)/, 20_000, from);
    assert.equal(m[2], up.address);
    t.diagnostic(`reconnected ${m[1]} ms after the connection dropped`);
    const again = await waitUser(5000, (u) => u.State === 'connected' && u.ID !== first.ID);
    assert.equal(again.IPv4, up.address);
    assert.ok(await tb!.cl.ping(server!.tunAddr, { count: 2, timeoutMs: 10_000 }), 'ping after reconnect');
    assert.match((await tb!.cl.exec('ip', ['-o', '-4', 'addr', 'show', 'dev', 'sgrec0'])).stdout, new RegExp(` ${up.address}/`));
  });

  await t.test('b. veth cut and restored: dead peer detected, retries, reconnect, ping again', async () => {
    const from = c!.proc.lines.length;
    await tb!.cl.exec('ip', ['link', 'set', tb!.clIf, 'down'], { check: true });
    try {
      await c!.proc.waitForLine(/stopped answering \(dead peer detection\); reconnecting/, (4 * DPD + 5) * 1000, from);
      await c!.proc.waitForLine(/Reconnect failed .* retrying for up to 60 s/, 10_000, from);
    } finally {
      await tb!.cl.exec('ip', ['link', 'set', tb!.clIf, 'up'], { check: true });
    }
    const m = await c!.proc.waitForLine(/^Reconnected after (\d+) ms \(attempt (\d+)\), address ([0-9.]+)/, 40_000, from);
    assert.equal(m[3], up.address);
    assert.ok(Number(m[2]) > 1, 'it took more than one attempt');
    t.diagnostic(`veth cut: reconnected after ${m[1]} ms and ${m[2]} attempts`);
    assert.ok(await tb!.cl.ping(server!.tunAddr, { count: 2, timeoutMs: 10_000 }), 'ping after reconnect');
  });

  await t.test('c. ocserv restarted (cookie gone): the client gives up at once, cleans up, exits 1', async () => {
    const from = c!.proc.lines.length;
    await server!.restart();
    // Usually nothing tells the client the old session died until DPD, and the reconnect then
    // gets a 401. Sometimes ocserv's worker still sends a bare DISCONNECT while it shuts down
    // (a race in the restart): the client must stop then too (§5.4: type 5 from the gateway).
    const st = await c!.proc.waitExit(30_000);
    assert.equal(st.code, 1, c!.proc.tail());
    assert.ok(
      c!.proc.lines.slice(from).some((l) => /rejected the session cookie \(HTTP 401|the gateway ended the session/.test(l.text)),
      c!.proc.tail(),
    );
    const link = await tb!.cl.exec('ip', ['link', 'show', 'sgrec0']);
    assert.notEqual(link.code, 0, 'TUN removed');
    c = undefined;
  });

  await t.test('d. link down for longer than --reconnect-timeout: the client gives up, cleans up, exits 1', async () => {
    c = startClient(tb!.cl, {
      url: server!.url,
      prefsDir: tempDir('clrec-prefs2'),
      user: 'alice',
      passwords: ['secret'],
      authgroup: 'Employees',
      servercert: [server!.pin],
      iface: 'sgrec1',
      extraArgs: ['--reconnect-timeout', '3'],
    });
    await c.waitTunnel();
    await tb!.cl.exec('ip', ['link', 'set', tb!.clIf, 'down'], { check: true });
    try {
      const st = await c.proc.waitExit((4 * DPD + 15) * 1000);
      assert.equal(st.code, 1, c.proc.tail());
      assert.match(c.output(), /gave up reconnecting after \d+ s \(--reconnect-timeout 3\)/);
    } finally {
      await tb!.cl.exec('ip', ['link', 'set', tb!.clIf, 'up'], { check: true });
    }
    assert.notEqual((await tb!.cl.exec('ip', ['link', 'show', 'sgrec1'])).code, 0, 'TUN removed');
    c = undefined;
  });
});
