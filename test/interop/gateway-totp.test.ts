/**
 * Issue 10 acceptance, TOTP as a second factor: Debian's openconnect logs in through our gateway
 * (`sslgate serve`) to a group with `second-factor: totp`, users enrolled with
 * `sslgate user totp NAME --secret ...` as an admin would.
 *
 *   - password + TOTP: `--token-mode=totp --token-secret=base32:SECRET` fills the
 *     `<auth id="challenge">` form by itself (nothing typed for the code); ping through the tunnel;
 *   - a code used twice (given on stdin: openconnect reads the challenge's answer from the next
 *     stdin line) is refused the second time, the gateway logs the replay and keeps serving;
 *   - a wrong code (a token generated from another secret) is refused with a clear message;
 *   - TOTP after a RADIUS first factor (freeradius started by the test): the user is enrolled
 *     without a local password, freeradius checks the password, the gateway the code.
 *
 * No timing thresholds: the replay check only counts when both logins ran while the code was
 * still inside the gateway's window (the test's clock is the gateway's: same machine); when the
 * machine was so slow that the step moved on, the round is inconclusive and is run again with a
 * fresh code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatTotpSecret, hotp, parseTotpSecret, timeStep } from '../../src/protocol/totp.js';
import { defaultUsersFile, RADIUS_USERS, startFreeradius, type Freeradius } from '../helpers/freeradius.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { execIn, interopSkipReason, tempDir } from '../helpers/netns.js';
import type { OpenconnectClient } from '../helpers/openconnect.js';
import { seeded } from '../helpers/seed.js';
import { gwHost, SSLGATE_BIN } from '../helpers/sslgate.js';
import { startClient } from './client-harness.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);

/** The TOTP code of time step `step` for a base32 secret (RFC 6238 defaults, as openconnect). */
const codeAt = (secret: string, step: number): string => hotp(parseTotpSecret(secret), step);
const stepNow = (): number => timeStep(Date.now() / 1000);

test('TOTP second factor: openconnect logs in with --token-mode=totp; replays and wrong codes are refused', { skip, timeout: 300_000 }, async (t) => {
  // Passwords and TOTP secrets from the logged seed (letters and digits: they go through stdin).
  const rng = seeded('gateway totp interop');
  const pw = (): string => rng.bytes(12).toString('base64').replace(/[^A-Za-z0-9]/g, 'x');
  const secret = (): string => formatTotpSecret(rng.bytes(20));
  // One user per scenario: a step accepted for one user says nothing about another's.
  const users = {
    alice: { password: pw(), secret: secret() }, // --token-mode=totp
    bob: { password: pw(), secret: secret() }, // the same code twice
    carol: { password: pw(), secret: secret() }, // a wrong code
    dave: { password: pw(), secret: secret() }, // a login after the replay
    emma: { password: pw(), secret: secret() }, // sslgate connect
  };
  const otherSecret = secret();
  const walt = { password: pw() }; // a local user never enrolled for TOTP

  // Secure is not the first group: follow-up forms (no group in the reply) must keep the login's.
  const bed = await GatewayBed.open(t, 'totp');
  const net = bed.tb.poolNet(0);
  const yaml = `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n  - name: Secure\n    second-factor: totp\n`;
  const enrolOut: string[] = [];
  const gw = await bed.startGateway({
    yaml,
    users: [...Object.entries(users).map(([name, u]) => ({ name, password: u.password })), { name: 'walt', password: walt.password }],
    beforeServe: async (configFile) => {
      for (const [name, u] of Object.entries(users)) {
        const r = await execIn(null, process.execPath, [SSLGATE_BIN, 'user', 'totp', name, '--secret', u.secret, '--no-qr', '--config', configFile], { timeoutMs: 30_000 });
        assert.equal(r.code, 0, `user totp ${name}: ${r.stderr}`);
        enrolOut.push(r.stdout);
      }
    },
  });
  // The CLI tells the admin the exact openconnect option; the test uses what it printed.
  const tokenArg = (name: keyof typeof users): string => {
    const line = enrolOut.find((o) => o.startsWith(`enrolled ${name} `)) ?? '';
    const m = /--token-secret=(base32:[A-Z2-7]+)/.exec(line);
    assert.ok(m, `user totp ${name} printed no --token-secret:\n${line}`);
    return `--token-secret=${m[1]!}`;
  };
  const usersFile = path.join(gw.dir, 'state', 'users.json');
  const lastCounter = (name: string): number | undefined =>
    (JSON.parse(fs.readFileSync(usersFile, 'utf8')) as { users: Record<string, { totp?: { lastCounter?: number } }> }).users[name]?.totp?.lastCounter;

  /** Logs in and pings the gateway through the tunnel. */
  const loginAndPing = (c: OpenconnectClient, who: string): Promise<void> => bed.loginAndPing(c, who, gwHost(net));
  const refused = (c: OpenconnectClient, who: string): Promise<string> => bed.refused(c, who, t);

  await t.test('password + TOTP: openconnect --token-mode=totp fills the code by itself; ping', async () => {
    const before = stepNow();
    const c = bed.connect({ user: 'alice', password: users.alice.password, authgroup: 'Secure', noDtls: true, extraArgs: ['--token-mode=totp', tokenArg('alice')] });
    await loginAndPing(c, 'alice');
    // The code openconnect generated was checked and its step recorded (no replay later).
    const used = lastCounter('alice');
    assert.ok(used !== undefined && used >= before - 1 && used <= stepNow() + 1, `alice's recorded step ${used}, steps ${before}..${stepNow()}`);
    const login = gw.logs().find((r) => r['msg'] === 'login' && r['user'] === 'alice');
    assert.deepEqual(login?.['methods'], ['local', 'totp'], `the login record names both factors: ${JSON.stringify(login)}`);
    // openconnect says it made the code itself (main.c / oath: "Generating OATH TOTP token code").
    assert.ok(c.lines.some((l) => /OATH TOTP token code/i.test(l.text)), `openconnect did not generate the code:\n${c.proc.tail()}`);
  });

  await t.test('the same code twice: the second login is refused as a replay, the gateway logs it', async () => {
    // openconnect without --token-mode asks for the challenge's answer on the next stdin line.
    for (let attempt = 1; ; attempt++) {
      const step = stepNow();
      const code = codeAt(users.bob.secret, step);
      t.diagnostic(`attempt ${attempt}: bob's code ${code} of step ${step}`);
      const first = bed.connect({ user: 'bob', password: users.bob.password, authgroup: 'Secure', noDtls: true, stdinLines: [code] });
      const up = await first.waitTunnel(30_000).then(() => true, () => false);
      if (!up && stepNow() > step + 1) {
        // So slow that the code left the window (step ±1) before the gateway saw it. Again.
        await bed.stop(first);
        assert.ok(attempt < 5, 'five rounds each took longer than a TOTP step');
        continue;
      }
      assert.ok(up, `bob's first login with the code failed:\n${first.proc.tail()}\n--- gateway:\n${gw.proc.tail(20)}`);
      await loginAndPing(first, 'bob (first use of the code)');
      assert.equal(lastCounter('bob'), step, 'the step of the accepted code is recorded');
      const mark = gw.proc.lines.length;
      const second = bed.connect({ user: 'bob', password: users.bob.password, authgroup: 'Secure', noDtls: true, stdinLines: [code] });
      const out = await refused(second, 'bob (same code again)');
      const logged = await gw.waitLog(/TOTP code (replayed|refused)/, 10_000, mark);
      if (logged['reason'] === 'wrong' && stepNow() > step + 1) {
        // The code left the window (step ±1) before the second login: not a replay test. Again.
        assert.ok(attempt < 5, 'five rounds each took longer than a TOTP step');
        continue;
      }
      assert.equal(logged['msg'], 'TOTP code replayed: refused', `gateway log: ${JSON.stringify(logged)}`);
      assert.equal(logged['reason'], 'replay');
      assert.equal(logged['user'], 'bob');
      assert.match(out, /already used/, `openconnect does not show the reason:\n${out}`);
      break;
    }
  });

  await t.test('the gateway keeps serving: another TOTP user logs in after the replay; ping', async () => {
    const c = bed.connect({ user: 'dave', password: users.dave.password, authgroup: 'Secure', noDtls: true, extraArgs: ['--token-mode=totp', tokenArg('dave')] });
    await loginAndPing(c, 'dave');
  });

  await t.test('a wrong code is refused with a clear message', async () => {
    const mark = gw.proc.lines.length;
    const c = bed.connect({ user: 'carol', password: users.carol.password, authgroup: 'Secure', noDtls: true, extraArgs: ['--token-mode=totp', `--token-secret=base32:${otherSecret}`] });
    const out = await refused(c, 'carol (code from another secret)');
    assert.match(out, /Wrong code/, `openconnect does not show why:\n${out}`);
    const logged = await gw.waitLog(/TOTP code refused/, 10_000, mark);
    assert.equal(logged['reason'], 'wrong');
    const failed = await gw.waitLog(/login failed/, 10_000, mark);
    assert.deepEqual([failed['user'], failed['group']], ['carol', 'Secure'], `the failure names the login's group: ${JSON.stringify(failed)}`);
    assert.equal(lastCounter('carol'), undefined, 'no step recorded for a wrong code');
  });

  await t.test('sslgate connect answers the TOTP challenge from its next stdin line; ping', async () => {
    // Our client's --token-mode=totp is not on this branch yet: the code comes from stdin here.
    const prefsDir = tempDir('totp-prefs');
    for (let attempt = 1; ; attempt++) {
      const step = stepNow();
      const c = startClient(bed.tb.cl, { url: gw.url, prefsDir, user: 'emma', passwords: [users.emma.password, codeAt(users.emma.secret, step)], authgroup: 'Secure', servercert: [gw.pin], extraArgs: ['--no-dtls'] });
      const up = await c.waitTunnel(30_000).then(() => true, () => false);
      if (!up && stepNow() > step + 1) {
        await c.stop();
        assert.ok(attempt < 5, 'five rounds each took longer than a TOTP step');
        continue;
      }
      try {
        assert.ok(up, `sslgate connect did not log in:\n${c.proc.tail()}\n--- gateway:\n${gw.proc.tail(20)}`);
        assert.ok(await bed.pingSoon(gwHost(net)), 'no ping through the sslgate connect tunnel');
      } finally {
        await c.stop();
      }
      assert.equal(lastCounter('emma'), step);
      break;
    }
  });

  await t.test('a user without an enrolment cannot log in to the TOTP group, and is told why', async () => {
    const c = bed.connect({ user: 'walt', password: walt.password, authgroup: 'Secure', noDtls: true, extraArgs: ['--token-mode=totp', `--token-secret=base32:${otherSecret}`] });
    const out = await refused(c, 'walt (not enrolled)');
    assert.match(out, /no authenticator app enrolled/);
  });

  await t.test('a right password without any code is not a login', async () => {
    // openconnect without --token-mode and nothing more on stdin cannot answer the challenge.
    const c = bed.connect({ user: 'carol', password: users.carol.password, authgroup: 'Secure', noDtls: true });
    await refused(c, 'carol (no code)');
    assert.ok(!gw.logs().some((r) => r['msg'] === 'login' && r['user'] === 'carol'), 'carol logged in without a code');
  });
});

test('TOTP after a RADIUS first factor: freeradius checks the password, the gateway the code; ping', { skip: interopSkipReason(['openconnect', 'ping', 'ip', 'freeradius']), timeout: 240_000 }, async (t) => {
  // freeradius (test/helpers/freeradius.ts) runs in the gateway's namespace, on its loopback.
  const a = RADIUS_USERS.accept;
  const r = RADIUS_USERS.reject;
  const rng = seeded('gateway totp after radius');
  const secretA = formatTotpSecret(rng.bytes(20));
  const bed = await GatewayBed.open(t, 'totprad');
  let fr: Freeradius | undefined;
  t.after(async () => {
    await fr?.stop();
  });
  // No Framed-IP-Address: the address comes from the group's pool.
  fr = await startFreeradius({ ns: bed.tb.gw.name, usersFile: defaultUsersFile({ framedIp: null }) });
  const net = bed.tb.poolNet(0);
  const yaml = [
    `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]`,
    `auth-servers:\n  corp-radius:\n    type: radius\n    address: ${fr.address}:${fr.authPort}\n    secret: ${fr.secret}\n    timeout: 3`,
    // Class "OU=Employees;Admins" allows the Employees group.
    `groups:\n  - name: Employees\n    auth: [corp-radius]\n    second-factor: totp`,
    '',
  ].join('\n');
  let enrolled = '';
  const gw = await bed.startGateway({
    yaml,
    users: [],
    beforeServe: async (configFile) => {
      // Not a local user: enrolled for TOTP only (added without a local password).
      for (const [name, s] of [[a.user, secretA], [r.user, formatTotpSecret(rng.bytes(20))]] as const) {
        const res = await execIn(null, process.execPath, [SSLGATE_BIN, 'user', 'totp', name, '--secret', s, '--no-qr', '--config', configFile], { timeoutMs: 30_000 });
        assert.equal(res.code, 0, res.stderr);
        enrolled += res.stdout;
      }
    },
  });
  assert.match(enrolled, new RegExp(`enrolled ${a.user} for TOTP \\(a new user without a local password`));

  await t.test('RADIUS password + openconnect --token-mode=totp: logged in with both factors; ping', async () => {
    const c = bed.connect({ user: a.user, password: a.password, authgroup: 'Employees', noDtls: true, extraArgs: ['--token-mode=totp', `--token-secret=base32:${secretA}`] });
    await c.waitTunnel(30_000).catch((e: Error) => assert.fail(`no tunnel: ${e.message}\n${c.proc.tail()}\n--- gateway:\n${gw.proc.tail(20)}`));
    assert.ok(await bed.pingSoon(gwHost(net)), 'no ping through the tunnel');
    await bed.stop(c);
    const login = gw.logs().find((l) => l['msg'] === 'login' && l['user'] === a.user);
    assert.deepEqual(login?.['methods'], ['corp-radius', 'totp'], JSON.stringify(login));
    assert.match(fr!.output(), new RegExp(`Login OK: \\[${a.user}\\]`), 'freeradius checked the password');
  });

  await t.test('a RADIUS reject never reaches the code: refused with the server\'s message', async () => {
    const c = bed.connect({ user: r.user, password: r.password, authgroup: 'Employees', noDtls: true, extraArgs: ['--token-mode=totp', `--token-secret=base32:${secretA}`] });
    const status = await c.proc.waitExit(30_000);
    await bed.stop(c);
    assert.notEqual(status.code, 0);
    assert.ok(c.lines.some((l) => l.text.includes(r.message)), `the Reply-Message is not shown:\n${c.proc.tail()}`);
    assert.ok(!c.lines.some((l) => /OATH TOTP token code/i.test(l.text)), 'a code was asked for after a RADIUS reject');
  });
});
