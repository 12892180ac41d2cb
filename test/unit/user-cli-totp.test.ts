/**
 * `sslgate user totp|expire|list` run as a person would (bin/sslgate against a temp state
 * folder): enrolment with a known secret and with a fresh one, whose terminal QR code Debian's
 * zbarimg scans back to the otpauth:// URI and whose codes from Debian's oathtool the TotpFactor
 * accepts once; removal; expiry and its end; the flags in `user list`; bad input refused with
 * the file unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTotpSecret, timeStep } from '../../src/protocol/totp.js';
import { TOTP_MESSAGES, TotpFactor } from '../../src/gateway/auth/totp-factor.js';
import { LocalMethod } from '../../src/gateway/auth/local-method.js';
import { UserStore } from '../../src/gateway/user-store.js';
import { hasCommand } from '../helpers/netns.js';
import { prerequisite } from '../helpers/prerequisites.js';
import { SSLGATE_BIN } from '../helpers/sslgate.js';
import { pixelsToPgm, terminalToPixels } from '../helpers/terminal-qr.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function stateFolder(t: { after(fn: () => void): void }): { dir: string; state: string; cli(args: string[], input?: string): Run; users(): Record<string, Record<string, unknown>> } {
  const dir = mkdtempSync(join(tmpdir(), 'sg-user-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const config = join(dir, 'gw.yaml');
  writeFileSync(config, `state: ${state}\nnetwork:\n  address: 192.168.77.1/24\ngroups:\n  - name: Employees\n`);
  return {
    dir,
    state,
    cli: (args, input) => {
      const r = spawnSync(process.execPath, [SSLGATE_BIN, ...args, '--config', config], { input: input ?? '', encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    users: () => (JSON.parse(readFileSync(join(state, 'users.json'), 'utf8')) as { users: Record<string, Record<string, unknown>> }).users,
  };
}

function ok(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** `user list` as [name, hash kind, flags] rows. */
function listed(run: (args: string[]) => Run): string[][] {
  return ok(run(['user', 'list']), 'list')
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .map((f) => [f[0]!, f[3]!, f[4]!]);
}

test('CLI: user totp --secret, --remove, expire, --clear, add/passwd --expire, and the flags in user list', (t) => {
  const s = stateFolder(t);
  ok(s.cli(['user', 'add', 'alice'], 'alice-pw\n'), 'add');
  const out = ok(s.cli(['user', 'totp', 'alice', '--secret', 'jbsw y3dp ehpk 3pxp', '--no-qr']), 'totp --secret');
  assert.equal(
    out,
    [
      'enrolled alice for TOTP',
      'secret: JBSWY3DPEHPK3PXP',
      'otpauth://totp/sslgate:alice?secret=JBSWY3DPEHPK3PXP&issuer=sslgate&algorithm=SHA1&digits=6&period=30',
      'openconnect answers the code by itself with: --token-mode=totp --token-secret=base32:JBSWY3DPEHPK3PXP',
      '',
    ].join('\n'),
  );
  assert.deepEqual(s.users()['alice']!['totp'], { secret: 'JBSWY3DPEHPK3PXP' });
  assert.deepEqual(listed(s.cli), [['alice', 'scrypt', 'totp']]);

  assert.match(ok(s.cli(['user', 'expire', 'alice']), 'expire'), /password of alice expired: to be changed at the next login/);
  assert.deepEqual(listed(s.cli), [['alice', 'scrypt', 'totp,expired']]);
  const json = JSON.parse(ok(s.cli(['user', 'list', '--json']), 'list --json')) as Array<Record<string, unknown>>;
  assert.deepEqual(json.map((u) => [u['name'], u['hash'], u['totp'], u['expired']]), [['alice', 'scrypt', true, true]]);
  assert.match(ok(s.cli(['user', 'expire', 'alice', '--clear']), 'expire --clear'), /no longer expired/);
  assert.deepEqual(listed(s.cli), [['alice', 'scrypt', 'totp']]);

  // A name that is not a local user: enrolled without a local password (RADIUS/LDAP first factor).
  assert.match(ok(s.cli(['user', 'totp', 'bob', '--secret', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', '--issuer', 'VPN Example', '--no-qr']), 'totp bob'), /new user without a local password[\s\S]*otpauth:\/\/totp\/VPN%20Example:bob\?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=VPN%20Example&/);
  assert.equal(s.users()['bob']!['hash'], '!');
  assert.deepEqual(listed(s.cli), [['alice', 'scrypt', 'totp'], ['bob', 'none', 'totp']]);
  const expireBob = s.cli(['user', 'expire', 'bob']);
  assert.equal(expireBob.code, 1);
  assert.match(expireBob.stderr, /user bob has no local password to expire/);
  // A password makes bob a local user too; the enrolment stays.
  ok(s.cli(['user', 'passwd', 'bob', '--expire'], 'bob-pw\n'), 'passwd --expire');
  assert.deepEqual(listed(s.cli), [['alice', 'scrypt', 'totp'], ['bob', 'scrypt', 'totp,expired']]);
  ok(s.cli(['user', 'passwd', 'bob'], 'bob-pw2\n'), 'passwd');
  assert.deepEqual(listed(s.cli), [['alice', 'scrypt', 'totp'], ['bob', 'scrypt', 'totp']], 'setting the password ends the expiry');
  assert.match(ok(s.cli(['user', 'add', 'carol', '--expire'], 'carol-pw\n'), 'add --expire'), /to be changed at the first login/);

  assert.match(ok(s.cli(['user', 'totp', 'alice', '--remove']), 'remove'), /removed the TOTP enrolment of alice/);
  assert.deepEqual(listed(s.cli), [['alice', 'scrypt', '-'], ['bob', 'scrypt', 'totp'], ['carol', 'scrypt', 'expired']]);
  const again = s.cli(['user', 'totp', 'alice', '--remove']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /alice is not enrolled for TOTP/);
});

test('CLI: bad input to user totp and user expire is refused and the file is unchanged', (t) => {
  const s = stateFolder(t);
  ok(s.cli(['user', 'add', 'alice'], 'alice-pw\n'), 'add');
  ok(s.cli(['user', 'totp', 'alice', '--secret', 'JBSWY3DPEHPK3PXP', '--no-qr']), 'totp');
  const file = join(s.state, 'users.json');
  const before = readFileSync(file, 'utf8');
  const cases: Array<[string[], number, RegExp]> = [
    [['user', 'totp', 'alice', '--secret', 'JBSWY3DP1HPK3PXP'], 2, /TOTP secret: character "1" at 9 is not base32/],
    [['user', 'totp', 'alice', '--secret', 'MZXW6YTBOI'], 2, /6 bytes, fewer than 10/],
    [['user', 'totp', 'alice', '--secret', 'A'.repeat(400)], 2, /longer than 256/],
    [['user', 'totp', 'alice', '--secret', ''], 2, /fewer than 10/],
    [['user', 'totp', 'alice', '--issuer', 'a:b'], 2, /issuer must not contain ':'/],
    [['user', 'totp', 'bad name'], 2, /invalid user name/],
    [['user', 'totp', 'alice', '--remove', '--secret', 'JBSWY3DPEHPK3PXP'], 2, /do not go together/],
    [['user', 'totp', 'nobody', '--remove'], 1, /no user nobody/],
    [['user', 'expire', 'nobody'], 1, /no user nobody/],
  ];
  for (const [args, code, why] of cases) {
    const r = s.cli(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, why, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'one line, no stack trace');
    assert.equal(readFileSync(file, 'utf8'), before, `${args.join(' ')} changed nothing`);
  }
});

const zbarReason = prerequisite('the QR code scanned by zbarimg', hasCommand('zbarimg') ? false : 'missing program: zbarimg (Debian package zbar-tools)');
test('CLI: user totp with a fresh secret prints a QR code that zbarimg scans back to the URI (light and dark terminals)', { skip: zbarReason }, (t) => {
  const s = stateFolder(t);
  const out = ok(s.cli(['user', 'totp', 'dora']), 'totp');
  const uri = /^(otpauth:\/\/\S+)$/m.exec(out)?.[1];
  assert.ok(uri, out);
  const secret = /^secret: ([A-Z2-7]+)$/m.exec(out)?.[1];
  assert.equal(secret?.length, 32, '20 random bytes');
  assert.equal(parseTotpSecret(secret!).length, 20);
  assert.equal(new URL(uri).searchParams.get('secret'), secret);
  assert.equal((s.users()['dora']!['totp'] as { secret: string }).secret, secret, 'the stored secret is the printed one');
  const qr = out.slice(out.indexOf(uri) + uri.length + 1, out.indexOf('openconnect answers'));
  for (const background of ['light', 'dark'] as const) {
    const image = join(s.dir, `qr-${background}.pgm`);
    writeFileSync(image, pixelsToPgm(terminalToPixels(qr, background), background));
    const scanned = spawnSync('zbarimg', ['-q', '--raw', image], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(scanned.status, 0, `zbarimg found no code on a ${background} terminal: ${scanned.stderr}`);
    assert.equal(scanned.stdout.trim(), uri, `${background} terminal`);
  }
  // A second enrolment makes another secret, and says it replaced the first.
  const out2 = ok(s.cli(['user', 'totp', 'dora', '--no-qr']), 'totp again');
  assert.match(out2, /^enrolled dora for TOTP \(replacing the earlier secret: the old authenticator entry no longer works\)$/m);
  assert.notEqual(/^secret: (\S+)$/m.exec(out2)?.[1], secret);
});

const oathReason = prerequisite('CLI-enrolled secrets checked with oathtool', hasCommand('oathtool') ? false : 'missing program: oathtool (Debian package oathtool)');
test('CLI + oathtool: a code oathtool makes from the enrolled secret passes the TotpFactor once; the expired password is changed', { skip: oathReason }, async (t) => {
  const s = stateFolder(t);
  ok(s.cli(['user', 'add', 'erin', '--expire'], 'erin-pw\n'), 'add');
  const secret = /^secret: ([A-Z2-7]+)$/m.exec(ok(s.cli(['user', 'totp', 'erin', '--no-qr']), 'totp'))![1]!;
  const at = 1_750_000_015;
  const code = execFileSync('oathtool', ['--totp', '-b', '--now', `@${at}`, secret]).toString().trim();
  const store = UserStore.inState(s.state);
  const ctx = { remote: '192.0.2.9', group: 'Employees' };
  const local = new LocalMethod({ users: store });
  assert.equal((await local.authenticate('erin', 'erin-pw', ctx)).kind, 'expired');
  assert.deepEqual(await local.changePassword('erin', 'erin-pw', 'erin-new', undefined), { kind: 'accept' });
  const factor = new TotpFactor({ users: store, now: () => at * 1000 });
  const begun = await factor.begin('erin', ctx);
  assert.equal(begun.kind, 'challenge');
  const state = (begun as { state: unknown }).state;
  assert.deepEqual(await factor.respond('erin', state, code, ctx), { kind: 'accept' });
  assert.deepEqual(await factor.respond('erin', state, code, ctx), { kind: 'reject', message: TOTP_MESSAGES.replay });
  assert.equal((s.users()['erin']!['totp'] as { lastCounter: number }).lastCounter, timeStep(at));
  assert.deepEqual(listed(s.cli), [['erin', 'scrypt', 'totp']], 'the change ended the expiry');
});
