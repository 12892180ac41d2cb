/**
 * Issue 10 acceptance, LDAP: openconnect logs in through our gateway against Debian's slapd
 * (started by the test in the gateway's namespace, test/helpers/slapd.ts). Two users in
 * different directory groups get different profiles (group-map), a wrong password and a
 * profile the directory does not allow are refused, each login ends with a ping through the
 * tunnel; a directory that hangs fails the login cleanly and the gateway goes on serving.
 *
 * Needs the engine (main) with `auth-servers` of type ldap built as
 * `new LdapMethod({ ...s, userDnTemplate: s.userDn, log })` (auth/backends.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { interopSkipReason } from '../helpers/netns.js';
import { gwHost } from '../helpers/sslgate.js';
import { ADMIN_DN, ADMIN_PASSWORD, PEOPLE_DN, groupDn, slapdSkipReason, startSlapd } from '../helpers/slapd.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']) || slapdSkipReason();

test('openconnect -> sslgate with LDAP (slapd): group-map decides the profile', { skip, timeout: 240_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'gwldap');
  const slapd = await startSlapd({ ns: bed.tb.gw, tls: true });
  t.after(() => slapd.stop());
  const emp = bed.tb.poolNet(0);
  const con = bed.tb.poolNet(1);
  await bed.startGateway({
    users: [],
    yaml: `network:
  address: ${gwHost(emp)}/24
  routes: [${emp}, ${con}]
auth-servers:
  corp-ldap:
    type: ldap
    url: ${slapd.url}
    start-tls: true
    ca: ${slapd.caFile}
    bind-dn: ${ADMIN_DN}
    bind-password: ${ADMIN_PASSWORD}
    base: ${PEOPLE_DN}
    user-filter: (uid={user})
    group-attribute: memberOf
    timeout: 5
    group-map:
      ${groupDn('vpn-staff')}: Employees
      ${groupDn('vpn-contractors')}: Contractors
groups:
  - name: Employees
    auth: [corp-ldap]
  - name: Contractors
    label: External Contractors
    auth: [corp-ldap]
    network: { address: ${gwHost(con)}/24 }
`,
  });

  await t.test('alice (vpn-staff) gets Employees, ping through the tunnel', async () => {
    const oc = bed.connect({ user: 'alice', password: 'alice-pw', authgroup: 'Employees', noDtls: true });
    const tun = await oc.waitTunnel(30_000);
    assert.ok(tun.address.startsWith(emp.split('.').slice(0, 3).join('.') + '.'), tun.address);
    assert.ok(await bed.pingSoon(gwHost(emp)), 'no ping through the tunnel');
    await bed.stop(oc);
  });

  await t.test('bob (vpn-contractors) gets Contractors, not Employees', async () => {
    const mark1 = bed.gw.logs().length;
    const wrong = bed.connect({ user: 'bob', password: 'bob-pw', authgroup: 'Employees', noDtls: true });
    assert.notEqual((await wrong.proc.waitExit(30_000)).code, 0, wrong.proc.tail());
    await bed.stop(wrong);
    // The password was right: the directory's groups, through group-map, do not include Employees.
    // (The gateway's log is read asynchronously: wait for the line openconnect's exit followed.)
    await bed.gw.waitLog(/login failed/, 10_000, mark1);
    assert.ok(
      bed.gw.logs().some((l) => l['msg'] === 'login failed' && l['user'] === 'bob' && l['reason'] === 'group-not-allowed'),
      'bob refused for another reason than group-not-allowed',
    );
    const oc = bed.connect({ user: 'bob', password: 'bob-pw', authgroup: 'External Contractors', noDtls: true });
    const tun = await oc.waitTunnel(30_000);
    assert.ok(tun.address.startsWith(con.split('.').slice(0, 3).join('.') + '.'), tun.address);
    assert.ok(await bed.pingSoon(gwHost(con)), 'no ping through the tunnel');
    await bed.stop(oc);
    assert.ok(bed.gw.logs().some((l) => l['msg'] === 'LDAP login accepted' && l['user'] === 'bob'), 'no LDAP accept logged for bob');
  });

  await t.test('a wrong password is refused', async () => {
    const mark2 = bed.gw.logs().length;
    const bad = bed.connect({ user: 'alice', password: 'bob-pw', authgroup: 'Employees', noDtls: true });
    assert.notEqual((await bad.proc.waitExit(30_000)).code, 0);
    assert.ok(bad.lines.some((l) => l.text.includes('Login failed')), bad.proc.tail());
    await bed.stop(bad);
    await bed.gw.waitLog(/login failed/, 10_000, mark2);
    assert.ok(bed.gw.logs().some((l) => l['msg'] === 'LDAP login refused' && l['reason'] === 'wrong password'));
    assert.ok(!JSON.stringify(bed.gw.logs()).includes('bob-pw'), 'a password in the gateway log');
  });

  await t.test('an expired directory password (ppolicy) is shown as such', async () => {
    const old = bed.connect({ user: 'old', password: 'old-pw', authgroup: 'Employees', noDtls: true });
    assert.notEqual((await old.proc.waitExit(30_000)).code, 0);
    assert.ok(old.lines.some((l) => /password has expired/i.test(l.text)), old.proc.tail());
    await bed.stop(old);
  });
});

test('openconnect -> sslgate with an LDAP server that hangs: refused within the timeout, gateway keeps serving', { skip, timeout: 240_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'gwldaphang');
  const slapd = await startSlapd({ ns: bed.tb.gw });
  t.after(() => slapd.stop());
  // The hanging "directory": a TCP listener in the gateway namespace that never answers. It
  // runs as a child (the namespace's network is not ours).
  const hang = bed.tb.gw.spawn(process.execPath, ['-e', `require('net').createServer((s) => s.resume()).listen(3899, '127.0.0.1', () => console.log('listening'))`], { label: 'hang' });
  t.after(() => hang.stop('SIGKILL', 1000));
  await hang.waitForLine(/listening/, 10_000);
  const emp = bed.tb.poolNet(0);
  await bed.startGateway({
    users: [{ name: 'carol', password: 'local-pw' }],
    yaml: `network:
  address: ${gwHost(emp)}/24
  routes: [${emp}]
auth-servers:
  stuck:
    type: ldap
    url: ldap://127.0.0.1:3899
    bind-dn: ${ADMIN_DN}
    bind-password: ${ADMIN_PASSWORD}
    base: ${PEOPLE_DN}
    timeout: 2
  corp-ldap:
    type: ldap
    url: ${slapd.url}
    bind-dn: ${ADMIN_DN}
    bind-password: ${ADMIN_PASSWORD}
    base: ${PEOPLE_DN}
groups:
  - name: Stuck
    auth: [stuck]
  - name: Employees
    auth: [corp-ldap]
`,
  });
  const stuck = bed.connect({ user: 'alice', password: 'alice-pw', authgroup: 'Stuck', noDtls: true });
  assert.notEqual((await stuck.proc.waitExit(60_000)).code, 0);
  await bed.stop(stuck);
  await bed.gw.waitLog(/LDAP server failed/, 10_000);
  const line = bed.gw.logs().find((l) => l['msg'] === 'LDAP server failed; login refused');
  assert.match(String(line?.['error']), /no answer within 2 s/);
  const oc = bed.connect({ user: 'alice', password: 'alice-pw', authgroup: 'Employees', noDtls: true });
  await oc.waitTunnel(30_000);
  assert.ok(await bed.pingSoon(gwHost(emp)));
});
