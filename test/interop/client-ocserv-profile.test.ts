/**
 * Issue 3, item 3 (the downloader, [SEED] §4): the first connection downloads the gateway's
 * profile into <prefs>/Profile/ on a fresh TLS connection; the second finds the SHA-1 unchanged
 * and does not download; a changed profile on the gateway is downloaded again; a listed profile
 * that cannot be downloaded aborts the connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTestbed, interopSkipReason, tempDir, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { runClient, startClient, type ClientOptions } from './client-harness.js';

const skip = interopSkipReason(['ocserv', 'ocpasswd', 'openssl', 'ip']);

const profile = (name: string): string => `<?xml version="1.0" encoding="UTF-8"?>
<AnyConnectProfile xmlns="http://schemas.xmlsoap.org/encoding/">
  <ServerList>
    <HostEntry><HostName>${name}</HostName><HostAddress>vpn.test</HostAddress></HostEntry>
  </ServerList>
</AnyConnectProfile>
`;

test('sslgate connect -> ocserv 1.1.6: profile download', { skip, timeout: 180_000 }, async (t) => {
  let tb: Testbed | undefined;
  let server: OcservServer | undefined;
  t.after(async () => {
    await server?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'clprof' });
  server = await startOcserv(tb.gw, { listenHost: tb.gwAddr, ipv4Network: tb.poolNet(0), udpPort: 0, debug: 4, userProfile: profile('first') });
  const prefsDir = tempDir('clprof-prefs');
  const stored = path.join(prefsDir, 'Profile', 'profile.xml');
  const opts: ClientOptions = { url: server.url, prefsDir, user: 'alice', passwords: ['secret'], authgroup: 'Employees', servercert: [server.pin], iface: 'sgprof0' };

  /** Connects, waits for the tunnel, disconnects; returns the client's output and the gateway's GETs. */
  const connectOnce = async (): Promise<{ out: string; gets: string[] }> => {
    const from = server!.serverLog.length;
    const c = startClient(tb!.cl, opts);
    try {
      await c.waitTunnel();
    } finally {
      assert.equal((await c.stop()).code, 0, c.proc.tail());
    }
    const gets = server!.serverLog.slice(from).map((l) => l.text).filter((l) => /HTTP GET \/profiles/.test(l));
    return { out: c.output(), gets };
  };

  await t.test('first connection: downloaded and stored', async () => {
    assert.ok(!fs.existsSync(stored));
    const { out, gets } = await connectOnce();
    assert.match(out, /Profile profile\.xml downloaded \(\d+ bytes\)/);
    assert.equal(fs.readFileSync(stored, 'utf8'), profile('first'));
    assert.equal(gets.length, 1, 'one GET of the profile');
  });

  await t.test('second connection: same SHA-1, not downloaded', async () => {
    const mtime = fs.statSync(stored).mtimeMs;
    const { out, gets } = await connectOnce();
    assert.match(out, /Profile profile\.xml is up to date/);
    assert.equal(gets.length, 0, 'no GET of the profile');
    assert.equal(fs.statSync(stored).mtimeMs, mtime);
  });

  await t.test('changed on the gateway: downloaded again', async () => {
    fs.writeFileSync(path.join(server!.dir, 'profile.xml'), profile('second'));
    await server!.restart(); // ocserv hashes the profile when it starts
    const { out, gets } = await connectOnce();
    assert.match(out, /Profile profile\.xml changed on the gateway; downloaded/);
    assert.equal(fs.readFileSync(stored, 'utf8'), profile('second'));
    assert.equal(gets.length, 1);
  });

  await t.test('listed but not downloadable: the connection is aborted, no tunnel', async () => {
    fs.rmSync(stored);
    // ocserv's workers run as nobody: a root-only profile file is listed but cannot be served.
    fs.chmodSync(path.join(server!.dir, 'profile.xml'), 0o600);
    try {
      const r = await runClient(tb!.cl, { ...opts, iface: 'sgprof1' });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /lists the profile .* but it could not be downloaded .* a listed profile is mandatory/);
      assert.doesNotMatch(r.stderr, /Tunnel up/);
      const link = await tb!.cl.exec('ip', ['link', 'show', 'sgprof1']);
      assert.notEqual(link.code, 0, 'no TUN device was created');
    } finally {
      fs.chmodSync(path.join(server!.dir, 'profile.xml'), 0o644);
    }
  });
});
