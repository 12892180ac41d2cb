/**
 * Issue 10, client: `sslgate connect` against Debian's ocserv 1.1.6 with
 * `auth = "radius[config=...]"` (radcli) in front of a real freeradius 3.2 started by the test in
 * the gateway's namespace (test/helpers/freeradius.ts). The challenge user gets an
 * Access-Challenge with a Reply-Message and a State; ocserv turns it into another `main` round
 * whose input is `secondary_password` ("Password1:"; ocserv `src/auth/radius.c`,
 * `worker-auth.c`), the field openconnect's --token-mode fills (`auth.c`
 * cstp_can_gen_tokencode). freeradius accepts the challenge's fixed code and the TOTP codes
 * around now, computed by Debian's oathtool (not by our generator). Logins end with a ping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RADIUS_USERS, defaultUsersFile, oathtoolWindow, startFreeradius, writeRadcliConfig, type Freeradius } from '../helpers/freeradius.js';
import { createTestbed, interopSkipReason, tempDir, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { runClient, startClient, type SslgateClient } from './client-harness.js';

const skip = interopSkipReason(['ocserv', 'ocpasswd', 'freeradius', 'oathtool', 'openssl', 'ping', 'ip'], ['/etc/radcli/dictionary']);

const C = RADIUS_USERS.challenge;

test('sslgate connect -> ocserv 1.1.6 radius[...] -> freeradius: password, Access-Challenge (token, stdin, -F), reject', { skip, timeout: 180_000 }, async (t) => {
  let tb: Testbed | undefined;
  let server: OcservServer | undefined;
  let radius: Freeradius | undefined;
  const running = new Set<SslgateClient>();
  t.after(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await radius?.stop().catch(() => undefined);
    await tb?.cleanup();
  });

  // The TOTP secret and the codes freeradius accepts: one step back to three ahead of now, by
  // oathtool (which also gives the base32 form the client is handed).
  const { base32, codes } = oathtoolWindow('ocserv radius totp');

  tb = await createTestbed({ tag: 'clrad' });
  radius = await startFreeradius({
    ns: tb.gw.name,
    address: '127.0.0.1',
    requireMessageAuthenticator: false, // radcli does not send one
    usersFile: defaultUsersFile({ framedIp: null }), // addresses come from ocserv's pool
    challengeCodes: [C.code, ...codes],
  });
  const radcliDir = tempDir('clrad-radcli');
  const radcliConf = writeRadcliConfig(radcliDir, { address: '127.0.0.1', authPort: radius.authPort, acctPort: radius.acctPort, secret: radius.secret });
  server = await startOcserv(tb.gw, {
    listenHost: tb.gwAddr,
    ipv4Network: tb.poolNet(0),
    udpPort: 0,
    groups: [],
    authConfig: `radius[config=${radcliConf},groupconfig=false]`,
  });
  const prefsDir = tempDir('clrad-prefs');
  const base = { url: server.url, prefsDir, servercert: [server.pin] };
  const diag = (): string => `\n--- ocserv ---\n${server!.handle.tail()}\n--- freeradius ---\n${radius!.output().split('\n').slice(-30).join('\n')}`;

  const loginAndPing = async (c: SslgateClient): Promise<void> => {
    running.add(c);
    try {
      await c.waitTunnel();
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${c.proc.tail()}${diag()}`);
    }
    assert.ok(await tb!.cl.ping(server!.tunAddr, { count: 2, timeoutMs: 10_000 }), 'ping through the tunnel');
    const st = await c.stop();
    running.delete(c);
    assert.equal(st.code, 0, c.proc.tail());
  };

  await t.test('RADIUS accept: user name and password, tunnel, ping', async () => {
    await loginAndPing(startClient(tb!.cl, { ...base, user: RADIUS_USERS.accept.user, passwords: [RADIUS_USERS.accept.password], iface: 'sgrad0' }));
  });

  await t.test('Access-Challenge answered by --token-mode=totp (secondary_password); the Reply-Message is shown', async () => {
    const c = startClient(tb!.cl, { ...base, user: C.user, passwords: [C.password], extraArgs: ['--token-mode=totp', `--token-secret=base32:${base32}`], iface: 'sgrad1' });
    await loginAndPing(c);
    assert.match(c.output(), new RegExp(C.message), 'the challenge\'s Reply-Message');
    assert.match(c.output(), /Password\d: generated a TOTP code/);
  });

  await t.test('Access-Challenge answered by the second line of --passwd-on-stdin', async () => {
    await loginAndPing(startClient(tb!.cl, { ...base, user: C.user, passwords: [C.password, C.code], iface: 'sgrad2' }));
  });

  await t.test('Access-Challenge answered by -F main:secondary_password=CODE', async () => {
    await loginAndPing(startClient(tb!.cl, { ...base, user: C.user, passwords: [C.password], extraArgs: ['-F', `main:secondary_password=${C.code}`], iface: 'sgrad3' }));
  });

  await t.test('a wrong challenge answer and a rejected user: exit 2, no tunnel', async () => {
    const accepted = new Set<string>([C.code, ...codes]);
    let bad = 0;
    while (accepted.has(String(bad).padStart(6, '0'))) bad++;
    const wrong = await runClient(tb!.cl, { ...base, user: C.user, passwords: [C.password, String(bad).padStart(6, '0')] });
    assert.equal(wrong.code, 2, wrong.stderr + diag());
    assert.match(wrong.stderr, new RegExp(C.message), 'the challenge was shown');
    assert.match(wrong.stderr, /login failed/);
    const rej = await runClient(tb!.cl, { ...base, user: RADIUS_USERS.reject.user, passwords: [RADIUS_USERS.reject.password] });
    assert.equal(rej.code, 2, rej.stderr + diag());
    assert.match(rej.stderr, /login failed/);
    for (const r of [wrong, rej]) assert.doesNotMatch(r.stderr, /Tunnel up|\n\s+at /);
  });
});
