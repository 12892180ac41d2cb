/**
 * Issue 10, "Migration from ocserv": an ocpasswd file made by Debian's `ocpasswd` (its $5$
 * hashes, one user with a group and one with `*`) plus `openssl passwd` lines ($6$ and $1$) and
 * a garbage line is imported with `bin/sslgate user import --ocpasswd`; then Debian's openconnect
 * logs in through our gateway with each imported password and pings through the tunnel, a wrong
 * password and a group the user was not given are refused, and the crypt hashes stay as they
 * were after the logins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashKind } from '../../src/gateway/user-store.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { execIn, interopSkipReason, tempDir } from '../helpers/netns.js';
import type { OpenconnectClient } from '../helpers/openconnect.js';
import { seeded } from '../helpers/seed.js';
import { gwHost, SSLGATE_BIN } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip', 'ocpasswd', 'openssl']);

test('ocserv migration: users imported from ocpasswd log in with openconnect', { skip, timeout: 240_000 }, async (t) => {

  // Passwords from the logged seed (letters and digits: they travel through stdin and argv).
  const rng = seeded('ocpasswd import interop');
  const pw = (): string => rng.bytes(12).toString('base64').replace(/[^A-Za-z0-9]/g, 'x');
  const users = {
    anna: { password: pw(), groups: 'Employees', kind: 'sha256crypt' }, // ocpasswd -g Employees
    ben: { password: pw(), groups: '*', kind: 'sha256crypt' }, // ocpasswd without -g
    carl: { password: pw(), groups: 'Employees', kind: 'sha512crypt' }, // openssl passwd -6
    dora: { password: pw(), groups: 'Contractors', kind: 'md5crypt' }, // openssl passwd -1
    emil: { password: pw(), groups: 'Employees,Contractors', kind: 'sha256crypt' }, // openssl passwd -5
  };
  const work = tempDir('ocpimp');
  const file = path.join(work, 'ocpasswd');
  execFileSync('ocpasswd', ['-c', file, '-g', users.anna.groups, 'anna'], { input: users.anna.password + '\n' });
  execFileSync('ocpasswd', ['-c', file, 'ben'], { input: users.ben.password + '\n' });
  const openssl = (flag: string, password: string): string =>
    execFileSync('openssl', ['passwd', flag, '-stdin'], { input: password + '\n' }).toString().trim();
  fs.appendFileSync(
    file,
    [
      `carl:${users.carl.groups}:${openssl('-6', users.carl.password)}`,
      'this line is garbage',
      `dora:${users.dora.groups}:${openssl('-1', users.dora.password)}`,
      `emil:${users.emil.groups}:${openssl('-5', users.emil.password)}`,
      '',
    ].join('\n'),
  );
  t.diagnostic(`ocpasswd file:\n${fs.readFileSync(file, 'utf8')}`);

  const bed = await GatewayBed.open(t, 'ocpimp');
  const tb = bed.tb;
  const emp = tb.poolNet(0);
  const con = tb.poolNet(1);
  const yaml = `network:\n  address: ${gwHost(emp)}/24\n  routes: [${emp}, ${con}]\ngroups:\n  - name: Employees\n  - name: Contractors\n    network: { address: ${gwHost(con)}/24 }\n`;
  let importOut = '';
  const gw = await bed.startGateway({
    yaml,
    users: [],
    beforeServe: async (configFile) => {
      const r = await execIn(null, process.execPath, [SSLGATE_BIN, 'user', 'import', '--ocpasswd', file, '--config', configFile], { timeoutMs: 30_000 });
      importOut = r.stdout + r.stderr;
      assert.equal(r.code, 0, `import failed: ${importOut}`);
      const list = await execIn(null, process.execPath, [SSLGATE_BIN, 'user', 'list', '--json', '--config', configFile], { timeoutMs: 30_000 });
      assert.equal(list.code, 0, list.stderr);
      const listed = JSON.parse(list.stdout) as Array<{ name: string; groups: string[] | null; hash: string }>;
      assert.deepEqual(
        listed.map((u) => [u.name, u.groups, u.hash]),
        Object.entries(users).map(([name, u]) => [name, u.groups === '*' ? null : u.groups.split(','), u.kind]),
      );
    },
  });
  assert.match(importOut, /imported 5 users; skipped 1 \(1 not importable, 0 existing\)/);
  assert.match(importOut, /ocpasswd:4: skipped: malformed/, 'the garbage line is reported with its number');

  const usersFile = path.join(gw.dir, 'state', 'users.json');
  const hashesBefore = fs.readFileSync(usersFile, 'utf8');
  const connect = (o: { user: string; password: string; authgroup: string }): OpenconnectClient => bed.connect({ noDtls: true, ...o });

  for (const [name, u] of Object.entries(users)) {
    const group = u.groups === '*' ? 'Employees' : u.groups.split(',').at(-1)!;
    await t.test(`${name} (${u.kind}, group ${group}) logs in and pings through the tunnel`, async () => {
      const c = connect({ user: name, password: u.password, authgroup: group });
      const info = await c.waitTunnel(30_000);
      const net = group === 'Contractors' ? con : emp;
      assert.ok(info.address.startsWith(net.split('.').slice(0, 3).join('.') + '.'), `${name} got ${info.address}, expected one in ${net}`);
      assert.ok(await bed.pingSoon(gwHost(net)), `no ping answer from ${gwHost(net)} through the tunnel of ${name}`);
      await bed.stop(c);
    });
  }

  await t.test('a wrong password and a group the user was not given are refused', async () => {
    const bad = connect({ user: 'carl', password: users.anna.password, authgroup: 'Employees' });
    const status = await bad.proc.waitExit(30_000);
    await bed.stop(bad);
    assert.notEqual(status.code, 0, 'openconnect should fail with a wrong password');
    assert.ok(bad.lines.some((l) => l.text.includes('Login failed.')), `gateway message not shown:\n${bad.proc.tail()}`);
    const wrongGroup = connect({ user: 'dora', password: users.dora.password, authgroup: 'Employees' });
    assert.notEqual((await wrongGroup.proc.waitExit(30_000)).code, 0, 'dora is only in Contractors');
    await bed.stop(wrongGroup);
  });

  await t.test('logins keep the imported crypt hashes as they were', () => {
    assert.equal(fs.readFileSync(usersFile, 'utf8'), hashesBefore);
    const stored = JSON.parse(hashesBefore) as { users: Record<string, { hash: string }> };
    for (const [name, u] of Object.entries(users)) assert.equal(hashKind(stored.users[name]!.hash), u.kind, name);
  });
});
