/**
 * Issue 10 acceptance, "an expired local password changed at login": the admin runs
 * `sslgate user expire NAME` against the running gateway's state folder and `sslgate ctl reload`;
 * Debian's openconnect then gets the `passwd-change` form (new_password + verify_password) and
 * answers it non-interactively: after --passwd-on-stdin's first line (the old password),
 * openconnect 9.01 reads one stdin line per prompt it cannot fill (main.c prompt_for_input), so
 * the new password is given twice, for "New Password:" and "Verify Password:"; openconnect sends
 * it once, as <password> (auth.c maps new_password and drops verify_password).
 *
 * Each success ends with a ping through the tunnel; then the new password logs in without the
 * form and the old one is refused. Also: the same group with `second-factor: totp` (change, then
 * the code), and a new password that is the old one again is refused with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatTotpSecret } from '../../src/protocol/totp.js';
import { ctl } from '../helpers/ctl.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { execIn, interopSkipReason, tempDir } from '../helpers/netns.js';
import type { OpenconnectClient } from '../helpers/openconnect.js';
import { seeded } from '../helpers/seed.js';
import { gwHost, SSLGATE_BIN } from '../helpers/sslgate.js';
import { runClient, startClient } from './client-harness.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);

test('expired local password: openconnect gets the new-password form, changes it and logs in', { skip, timeout: 300_000 }, async (t) => {
  const rng = seeded('gateway password change interop');
  const pw = (): string => rng.bytes(12).toString('base64').replace(/[^A-Za-z0-9]/g, 'x');
  const erin = { old: pw(), next: pw() };
  const fred = { old: pw(), next: pw(), secret: formatTotpSecret(rng.bytes(20)) };
  const gina = { old: pw() };
  const hank = { old: pw(), next: pw() };
  // XML's special characters and a space: the new password crosses openconnect's XML and ours.
  const ivy = { old: pw(), next: `${pw()} <&>"'` };
  const jack = { old: pw(), next: pw(), typo: pw() };

  const bed = await GatewayBed.open(t, 'pwchange');
  const net = bed.tb.poolNet(0);
  const yaml = `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n  - name: Secure\n    second-factor: totp\n`;
  const gw = await bed.startGateway({
    yaml,
    users: [
      { name: 'erin', password: erin.old },
      { name: 'fred', password: fred.old },
      { name: 'gina', password: gina.old },
      { name: 'hank', password: hank.old },
      { name: 'ivy', password: ivy.old },
      { name: 'jack', password: jack.old },
    ],
    beforeServe: async (configFile) => {
      const r = await execIn(null, process.execPath, [SSLGATE_BIN, 'user', 'totp', 'fred', '--secret', fred.secret, '--no-qr', '--config', configFile], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
    },
  });
  const sslgate = async (...args: string[]): Promise<string> => {
    const r = await execIn(null, process.execPath, [SSLGATE_BIN, ...args, '--config', gw.configFile], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `sslgate ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const usersFile = path.join(gw.dir, 'state', 'users.json');
  const record = (name: string): { hash: string; mustChange?: boolean } =>
    (JSON.parse(fs.readFileSync(usersFile, 'utf8')) as { users: Record<string, { hash: string; mustChange?: boolean }> }).users[name]!;

  // As an admin would on a running gateway: mark the passwords expired, then reload.
  for (const name of ['erin', 'fred', 'gina', 'hank', 'ivy', 'jack']) assert.match(await sslgate('user', 'expire', name), /expired: to be changed at the next login/);
  const reload = await ctl(gw, ['reload']);
  assert.equal(reload.code, 0, reload.stderr);

  const loginAndPing = (c: OpenconnectClient, who: string): Promise<void> => bed.loginAndPing(c, who, gwHost(net));
  const refused = (c: OpenconnectClient, who: string): Promise<string> => bed.refused(c, who, t);
  const shown = (c: OpenconnectClient, re: RegExp): boolean => c.lines.some((l) => re.test(l.text));

  await t.test('the expired password gets the new-password form; new + verify from stdin; logged in; ping', async () => {
    const hashBefore = record('erin').hash;
    const mark = gw.proc.lines.length;
    const c = bed.connect({ user: 'erin', password: erin.old, authgroup: 'Employees', noDtls: true, stdinLines: [erin.next, erin.next] });
    await loginAndPing(c, 'erin (changing the password)');
    // openconnect prompted for both fields of the form (they are read from stdin, one line each).
    assert.ok(shown(c, /New Password:/) && shown(c, /Verify Password:/), `openconnect did not show the change form:\n${c.proc.tail()}`);
    assert.ok(shown(c, /expired/i), `the reason (password expired) was not shown:\n${c.proc.tail()}`);
    await gw.waitLog(/password changed at login/, 5000, mark);
    const rec = record('erin');
    assert.notEqual(rec.hash, hashBefore, 'the new hash is stored');
    assert.equal(rec.mustChange, undefined, 'no longer expired');
  });

  await t.test('the new password logs in without the form; the old one is refused', async () => {
    const c = bed.connect({ user: 'erin', password: erin.next, authgroup: 'Employees', noDtls: true });
    await loginAndPing(c, 'erin (new password)');
    assert.ok(!shown(c, /New Password:/), 'the change form came again');
    // Nothing after the password on stdin: openconnect would read a retry's password from it.
    const old = bed.connect({ user: 'erin', password: erin.old, authgroup: 'Employees', noDtls: true });
    const out = await refused(old, 'erin (old password)');
    assert.match(out, /Login failed/);
    assert.doesNotMatch(out, /New Password:/, 'the old password was taken as the expired one');
  });

  await t.test('with second-factor: totp the change comes first, then openconnect fills the code; ping', async () => {
    const c = bed.connect({
      user: 'fred',
      password: fred.old,
      authgroup: 'Secure',
      noDtls: true,
      stdinLines: [fred.next, fred.next],
      extraArgs: ['--token-mode=totp', `--token-secret=base32:${fred.secret}`],
    });
    await loginAndPing(c, 'fred (change + TOTP)');
    assert.ok(shown(c, /New Password:/), 'no change form');
    const login = gw.logs().find((r) => r['msg'] === 'login' && r['user'] === 'fred');
    assert.deepEqual(login?.['methods'], ['local', 'totp']);
    assert.equal(record('fred').mustChange, undefined);
  });

  await t.test('a new password equal to the old one is refused with the reason; nothing changes', async () => {
    const hashBefore = record('gina').hash;
    // The form comes back with the reason; openconnect then has no stdin left and stops.
    const c = bed.connect({ user: 'gina', password: gina.old, authgroup: 'Employees', noDtls: true, stdinLines: [gina.old, gina.old] });
    const out = await refused(c, 'gina (same password again)');
    assert.match(out, /must differ from the old one/, 'the reason is shown');
    assert.equal(record('gina').hash, hashBefore);
    assert.equal(record('gina').mustChange, true, 'still expired');
  });

  await t.test('a new password with XML special characters and a space is stored as typed', async () => {
    const c = bed.connect({ user: 'ivy', password: ivy.old, authgroup: 'Employees', noDtls: true, stdinLines: [ivy.next, ivy.next] });
    await loginAndPing(c, 'ivy (changing to a password with <&>)');
    const again = bed.connect({ user: 'ivy', password: ivy.next, authgroup: 'Employees', noDtls: true });
    await loginAndPing(again, 'ivy (the new password)');
  });

  await t.test('openconnect 9.01 does not compare New and Verify: only the first reaches the gateway', async () => {
    // What openconnect really does (auth.c xmlpost_append_form_opts sends new_password as
    // <password> and drops verify_password; main.c compares nothing): the gateway cannot see a
    // typo in the second entry. Pinned here so a change in openconnect shows up.
    const c = bed.connect({ user: 'jack', password: jack.old, authgroup: 'Employees', noDtls: true, stdinLines: [jack.next, jack.typo] });
    await loginAndPing(c, 'jack (verify differs)');
    const again = bed.connect({ user: 'jack', password: jack.next, authgroup: 'Employees', noDtls: true });
    await loginAndPing(again, 'jack (the first entry is the new password)');
  });

  await t.test('sslgate connect changes the expired password from stdin (old, new; it fills verify itself); ping', async () => {
    const prefsDir = tempDir('pwchange-prefs');
    const base = { url: gw.url, prefsDir, user: 'hank', authgroup: 'Employees', servercert: [gw.pin], extraArgs: ['--no-dtls'] };
    const c = startClient(bed.tb.cl, { ...base, passwords: [hank.old, hank.next] });
    try {
      await c.waitTunnel(30_000).catch((e: Error) => assert.fail(`sslgate connect: ${e.message}\n${c.proc.tail()}\n--- gateway:\n${gw.proc.tail(20)}`));
      assert.ok(await bed.pingSoon(gwHost(net)), 'no ping through the sslgate connect tunnel');
      assert.match(c.output(), /expired/i, 'the reason is shown');
    } finally {
      await c.stop();
    }
    assert.equal(record('hank').mustChange, undefined);
    const again = startClient(bed.tb.cl, { ...base, passwords: [hank.next] });
    try {
      await again.waitTunnel(30_000).catch((e: Error) => assert.fail(`sslgate connect with the new password: ${e.message}\n${again.proc.tail()}`));
    } finally {
      await again.stop();
    }
    const old = await runClient(bed.tb.cl, { ...base, passwords: [hank.old] });
    assert.notEqual(old.code, 0, `the old password logged in:\n${old.stdout}${old.stderr}`);
    assert.match(old.stdout + old.stderr, /Login failed/);
  });
});
