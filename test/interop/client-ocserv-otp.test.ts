/**
 * Issue 10, client: `sslgate connect` against Debian's ocserv 1.1.6 with
 * `auth = "plain[passwd=...,otp=...]"` (password, then a TOTP code checked by liboath against an
 * oath users file). ocserv asks in three rounds: user name, password, and "Please enter your OTP
 * password." in an input named `password` of form `main` (ocserv `src/auth/plain.c`
 * plain_auth_pass). openconnect's token rule does not cover that field (`auth.c`
 * cstp_can_gen_tokencode: only `secondary_password` or `<auth id="challenge">`), so the code
 * comes from the second line of --passwd-on-stdin or from -F main:password=CODE, and a
 * --token-mode does not touch it. The codes come from Debian's oathtool, not from our generator.
 * Each login ends with a ping through the tunnel; each uses its own user, because liboath refuses
 * a code it has seen (replay).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTestbed, interopSkipReason, tempDir, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { seeded } from '../helpers/seed.js';
import { runClient, startClient, type SslgateClient } from './client-harness.js';

const skip = interopSkipReason(['ocserv', 'ocpasswd', 'oathtool', 'openssl', 'ping', 'ip']);

/** The current TOTP code of a hex secret, by oathtool (liboath, as ocserv checks it). */
const oathCode = (hex: string): string => execFileSync('oathtool', ['--totp', hex], { encoding: 'utf8' }).trim();

test('sslgate connect -> ocserv 1.1.6 plain[passwd,otp]: password + TOTP code, ping through the tunnel', { skip, timeout: 180_000 }, async (t) => {
  let tb: Testbed | undefined;
  let server: OcservServer | undefined;
  const running = new Set<SslgateClient>();
  t.after(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  const rnd = seeded('ocserv otp secrets');
  const users = ['alice', 'bob', 'carol', 'dave'].map((name) => ({ name, password: `${name}-pw`, hex: rnd.bytes(20).toString('hex') }));
  const secret = (name: string): string => users.find((u) => u.name === name)!.hex;
  // liboath's users file (mod-authn-otp's format): TYPE USER PIN KEY; "-" = no PIN. sec-mod
  // (root) rewrites it after each login to record the last code.
  const otpDir = tempDir('ocserv-otp');
  const otpFile = path.join(otpDir, 'users.oath');
  fs.writeFileSync(otpFile, users.map((u) => `HOTP/T30\t${u.name}\t-\t${u.hex}\n`).join(''), { mode: 0o600 });

  tb = await createTestbed({ tag: 'clotp' });
  server = await startOcserv(tb.gw, {
    listenHost: tb.gwAddr,
    ipv4Network: tb.poolNet(0),
    udpPort: 0,
    groups: [],
    users: users.map((u) => ({ name: u.name, password: u.password })),
    otpFile,
  });
  const prefsDir = tempDir('clotp-prefs');
  const base = { url: server.url, prefsDir, servercert: [server.pin] };

  const loginAndPing = async (c: SslgateClient): Promise<void> => {
    running.add(c);
    try {
      await c.waitTunnel();
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${c.proc.tail()}\n--- ocserv ---\n${server!.handle.tail()}`);
    }
    assert.match(c.output(), /Please enter your OTP password\./, 'the OTP round\'s <message> is shown');
    assert.ok(await tb!.cl.ping(server!.tunAddr, { count: 2, timeoutMs: 10_000 }), 'ping through the tunnel');
    const st = await c.stop();
    running.delete(c);
    assert.equal(st.code, 0, c.proc.tail());
  };

  await t.test('--passwd-on-stdin, two lines: the password, then the code', async () => {
    await loginAndPing(startClient(tb!.cl, { ...base, user: 'alice', passwords: ['alice-pw', oathCode(secret('alice'))], iface: 'sgotp0' }));
  });

  await t.test('--passwd-on-stdin with the password, -F main:password=CODE for the OTP round (as openconnect)', async () => {
    await loginAndPing(startClient(tb!.cl, { ...base, user: 'bob', passwords: ['bob-pw'], extraArgs: ['-F', `main:password=${oathCode(secret('bob'))}`], iface: 'sgotp1' }));
  });

  await t.test('--token-mode=totp does not answer ocserv\'s plain OTP round (openconnect\'s rule): a wrong secret is never used', async () => {
    // The token secret here is another user's: had it filled the OTP field, the login would fail.
    const c = startClient(tb!.cl, {
      ...base,
      user: 'carol',
      passwords: ['carol-pw', oathCode(secret('carol'))],
      extraArgs: ['--token-mode=totp', `--token-secret=0x${secret('dave')}`],
      iface: 'sgotp2',
    });
    await loginAndPing(c);
    assert.doesNotMatch(c.output(), /generated a TOTP code/);
  });

  await t.test('a wrong code: ocserv answers 401, exit 2 with its words, no tunnel', async () => {
    const good = oathCode(secret('dave'));
    const wrong = String((Number(good) + 500_000) % 1_000_000).padStart(6, '0');
    const r = await runClient(tb!.cl, { ...base, user: 'dave', passwords: ['dave-pw', wrong] });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /login failed: .*HTTP 401/);
    assert.doesNotMatch(r.stderr, /Tunnel up|\n\s+at /);
  });

  await t.test('no code on stdin: says which prompt is unanswered', async () => {
    const r = await runClient(tb!.cl, { ...base, user: 'dave', passwords: ['dave-pw'] });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /asks for "Password:" but stdin has no more lines/);
  });
});
