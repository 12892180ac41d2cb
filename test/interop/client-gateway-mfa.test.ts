/**
 * Issue 10, client: `sslgate connect` against our own gateway's local multi-step logins. A group
 * with `second-factor: totp` asks for the code in sslgate's challenge form, which
 * --token-mode=totp answers by itself with the secret `sslgate user totp` printed; a user marked
 * with `sslgate user expire` sets a new password at login from the second line of
 * --passwd-on-stdin (sent once as <password>, openconnect's mapping) and then logs in with it.
 * Each login ends with a ping through the tunnel.
 *
 * Needs the gateway side of issue 10 (auth engine, TOTP factor, expired passwords).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, execIn, interopSkipReason, tempDir, type Testbed } from '../helpers/netns.js';
import { gwHost, SSLGATE_BIN, startGateway, type SslgateGateway } from '../helpers/sslgate.js';
import { runClient, startClient, type SslgateClient } from './client-harness.js';

const skip = interopSkipReason(['ping', 'ip']);

test('sslgate connect -> sslgate serve: password + TOTP by --token-mode, an expired password changed at login', { skip, timeout: 180_000 }, async (t) => {
  let tb: Testbed | undefined;
  let gw: SslgateGateway | undefined;
  const running = new Set<SslgateClient>();
  t.after(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'clmfa' });
  const pool = tb.poolNet(0);
  let secret = '';
  gw = await startGateway(tb.gw, {
    listenHost: tb.gwAddr,
    yaml: `network:
  address: ${gwHost(pool)}/24
groups:
  - name: Employees
  - name: Otp
    second-factor: totp
`,
    users: [
      { name: 'alice', password: 'alice-pw', groups: ['Otp'] },
      { name: 'bob', password: 'bob-old', groups: ['Employees'] },
    ],
    beforeServe: async (configFile) => {
      const enrol = await execIn(null, process.execPath, [SSLGATE_BIN, 'user', 'totp', 'alice', '--config', configFile, '--no-qr'], { timeoutMs: 30_000, check: true });
      secret = /^secret: (\S+)$/m.exec(enrol.stdout)?.[1] ?? '';
      assert.ok(secret, `no secret in: ${enrol.stdout}`);
      await execIn(null, process.execPath, [SSLGATE_BIN, 'user', 'expire', 'bob', '--config', configFile], { timeoutMs: 30_000, check: true });
    },
  });
  const base = { url: gw.url, prefsDir: tempDir('clmfa-prefs'), servercert: [gw.pin] };

  const loginAndPing = async (c: SslgateClient): Promise<string> => {
    running.add(c);
    try {
      await c.waitTunnel();
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${c.proc.tail()}\n--- gateway ---\n${gw!.proc.tail()}`);
    }
    assert.ok(await tb!.cl.ping(gwHost(pool), { count: 2, timeoutMs: 10_000 }), 'ping through the tunnel');
    const st = await c.stop();
    running.delete(c);
    assert.equal(st.code, 0, c.proc.tail());
    return c.output();
  };

  await t.test('password, then the TOTP challenge answered by --token-mode=totp --token-secret=base32:…', async () => {
    const out = await loginAndPing(
      startClient(tb!.cl, { ...base, user: 'alice', authgroup: 'Otp', passwords: ['alice-pw'], extraArgs: ['--token-mode=totp', `--token-secret=base32:${secret}`], iface: 'sgmfa0' }),
    );
    assert.match(out, /generated a TOTP code/);
  });

  await t.test('without a code the challenge is named: exit 2', async () => {
    const r = await runClient(tb!.cl, { ...base, user: 'alice', authgroup: 'Otp', passwords: ['alice-pw'] });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /stdin has no more lines/);
  });

  await t.test('expired password: the new one from stdin\'s second line, then a login with it', async () => {
    const out = await loginAndPing(startClient(tb!.cl, { ...base, user: 'bob', authgroup: 'Employees', passwords: ['bob-old', 'bob-new-1'], iface: 'sgmfa1' }));
    assert.match(out, /expired/i, 'the gateway\'s words are shown');
    await loginAndPing(startClient(tb!.cl, { ...base, user: 'bob', authgroup: 'Employees', passwords: ['bob-new-1'], iface: 'sgmfa2' }));
    const old = await runClient(tb!.cl, { ...base, user: 'bob', authgroup: 'Employees', passwords: ['bob-old'] });
    assert.equal(old.code, 2, 'the old password no longer works');
  });
});
