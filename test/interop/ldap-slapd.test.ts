/**
 * LdapMethod against Debian's slapd (OpenLDAP 2.5), started by this file (test/helpers/slapd.ts):
 * search-then-bind and direct bind, groups through memberOf and through a group-of-names search,
 * group-map spelled differently from the directory, expired passwords (ppolicy), StartTLS and
 * ldaps with the right and a wrong CA; then servers that misbehave (hang, flood, talk garbage):
 * each login fails as 'error' and the next login against slapd still works.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { LdapMethod, type LdapMethodOptions } from '../../src/gateway/auth/ldap/ldap-method.js';
import type { LoginContext, MethodResult } from '../../src/gateway/auth/types.js';
import { tempDir } from '../helpers/netns.js';
import { makePki } from '../helpers/ocserv.js';
import { seeded } from '../helpers/seed.js';
import { ADMIN_DN, ADMIN_PASSWORD, DEFAULT_USERS, GROUPS_DN, PEOPLE_DN, slapdSkipReason, startSlapd, type Slapd } from '../helpers/slapd.js';

const skip = slapdSkipReason();
const ctx: LoginContext = { remote: '192.0.2.7', group: 'Employees' };

// Spelled unlike slapd's memberOf values (case, spaces): the map must still match.
const GROUP_MAP = {
  'cn=vpn-staff,ou=groups,dc=example,dc=org': 'Employees',
  'CN=VPN-Contractors, OU=Groups, DC=example, DC=org': 'Contractors',
};

/** A logger that keeps every line, to check what was logged (and that no password was). */
function memoryLog(): { lines: string[]; log: LdapMethodOptions['log'] } {
  const lines: string[] = [];
  const put = (level: string) => (obj: object, msg: string) => lines.push(JSON.stringify({ level, ...obj, msg }));
  return { lines, log: { info: put('info'), warn: put('warn') } };
}

function assertNoPasswordLogged(lines: string[]): void {
  const all = lines.join('\n');
  for (const u of DEFAULT_USERS) assert.ok(!all.includes(u.password), `password of ${u.uid} in the log:\n${all}`);
  assert.ok(!all.includes(`"${ADMIN_PASSWORD}"`), 'bind password in the log');
}

function searchOptions(s: Slapd, extra: Partial<LdapMethodOptions> = {}): LdapMethodOptions {
  return {
    name: 'corp-ldap',
    url: s.url,
    bindDn: ADMIN_DN,
    bindPassword: ADMIN_PASSWORD,
    base: PEOPLE_DN,
    groupMap: GROUP_MAP,
    timeout: 10,
    ...extra,
  };
}

async function slapd(t: TestContext, opts: Parameters<typeof startSlapd>[0] = {}): Promise<Slapd> {
  const s = await startSlapd(opts);
  t.after(() => s.stop());
  return s;
}

function accepted(r: MethodResult): Extract<MethodResult, { kind: 'accept' }> {
  assert.equal(r.kind, 'accept', `expected accept, got ${JSON.stringify(r)}`);
  return r as Extract<MethodResult, { kind: 'accept' }>;
}

test('search-then-bind: each user gets the gateway groups of their directory groups', { skip }, async (t) => {
  const s = await slapd(t);
  const mem = memoryLog();
  const m = new LdapMethod(searchOptions(s, { log: mem.log }));

  const alice = accepted(await m.authenticate('alice', 'alice-pw', ctx));
  assert.deepEqual(alice.groups, ['Employees']);
  assert.equal(alice.user, 'alice');
  const bob = accepted(await m.authenticate('bob', 'bob-pw', ctx));
  assert.deepEqual(bob.groups, ['Contractors']);
  // In no mapped group: authenticated, but no profile allowed.
  assert.deepEqual(accepted(await m.authenticate('carol', 'carol-pw', ctx)).groups, []);
  // uid matches case-insensitively; the session gets the directory's spelling.
  assert.equal(accepted(await m.authenticate('ALICE', 'alice-pw', ctx)).user, 'alice');

  assert.deepEqual(await m.authenticate('alice', 'bob-pw', ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate('nobody', 'alice-pw', ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate('alice', '', ctx), { kind: 'reject' }, 'an empty password is an unauthenticated bind: never sent');
  // Filter metacharacters are matched literally: no wildcard, no injected clause.
  assert.deepEqual(await m.authenticate('*', 'alice-pw', ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate('al*', 'alice-pw', ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate('alice)(uid=*', 'alice-pw', ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate('x)(|(uid=alice)', 'alice-pw', ctx), { kind: 'reject' });

  assert.ok(mem.lines.some((l) => l.includes('"reason":"wrong password"')), mem.lines.join('\n'));
  assert.ok(mem.lines.some((l) => l.includes('"reason":"no such user"')), mem.lines.join('\n'));
  assertNoPasswordLogged(mem.lines);

  // Without group-map the method does not restrict.
  const open = new LdapMethod(searchOptions(s, { groupMap: undefined }));
  assert.equal(accepted(await open.authenticate('bob', 'bob-pw', ctx)).groups, undefined);
});

test('search-then-bind: a filter matching two entries refuses the login', { skip }, async (t) => {
  const s = await slapd(t);
  const m = new LdapMethod(searchOptions(s, { userFilter: '(|(uid={user})(uid=bob))' }));
  assert.deepEqual(await m.authenticate('alice', 'alice-pw', ctx), { kind: 'reject' });
  // and a bad search-account password is the server side's fault: 'error', not 'reject'
  const bad = new LdapMethod(searchOptions(s, { bindPassword: 'not-admin' }));
  assert.equal((await bad.authenticate('alice', 'alice-pw', ctx)).kind, 'error');
});

test('direct bind with user-dn-template: groups read from the own entry', { skip }, async (t) => {
  const s = await slapd(t);
  const mem = memoryLog();
  const m = new LdapMethod({
    name: 'corp-ldap-direct',
    url: s.url,
    base: PEOPLE_DN,
    userDnTemplate: `uid={user},${PEOPLE_DN}`,
    groupMap: GROUP_MAP,
    timeout: 10,
    log: mem.log,
  });
  const alice = accepted(await m.authenticate('alice', 'alice-pw', ctx));
  assert.deepEqual(alice.groups, ['Employees']);
  assert.deepEqual(accepted(await m.authenticate('bob', 'bob-pw', ctx)).groups, ['Contractors']);
  assert.deepEqual(await m.authenticate('alice', 'wrong', ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate('nobody', 'x', ctx), { kind: 'reject' });
  // DN metacharacters in the name are escaped into the template, not interpreted.
  assert.deepEqual(await m.authenticate('alice,ou=people', 'alice-pw', ctx), { kind: 'reject' });
  assertNoPasswordLogged(mem.lines);
});

test('expired password (ppolicy): expired, not accepted, not a plain reject', { skip }, async (t) => {
  const s = await slapd(t);
  for (const direct of [false, true]) {
    const m = new LdapMethod(direct ? { name: 'd', url: s.url, base: PEOPLE_DN, userDnTemplate: `uid={user},${PEOPLE_DN}`, timeout: 10 } : searchOptions(s));
    const old = await m.authenticate('old', 'old-pw', ctx);
    assert.equal(old.kind, 'expired', JSON.stringify(old));
    assert.equal((old as { canChange: boolean }).canChange, false);
    // a reset password (pwdReset + pwdMustChange): the bind succeeds, but the user must change it
    assert.equal((await m.authenticate('fresh', 'fresh-pw', ctx)).kind, 'expired');
    // the wrong password to an expired account says nothing about the expiry
    assert.deepEqual(await m.authenticate('old', 'wrong', ctx), { kind: 'reject' });
  }
});

test('group-of-names search where memberOf is absent', { skip }, async (t) => {
  const s = await slapd(t, { memberOf: false });
  // Without the overlay there is no memberOf: nobody is in a mapped group ...
  const byAttribute = new LdapMethod(searchOptions(s));
  assert.deepEqual(accepted(await byAttribute.authenticate('alice', 'alice-pw', ctx)).groups, []);
  // ... and the group search finds them.
  const bySearch = new LdapMethod(searchOptions(s, { groupBase: GROUPS_DN }));
  assert.deepEqual(accepted(await bySearch.authenticate('alice', 'alice-pw', ctx)).groups, ['Employees']);
  assert.deepEqual(accepted(await bySearch.authenticate('bob', 'bob-pw', ctx)).groups, ['Contractors']);
  assert.deepEqual(accepted(await bySearch.authenticate('carol', 'carol-pw', ctx)).groups, []);
  assert.deepEqual(await bySearch.authenticate('bob', 'alice-pw', ctx), { kind: 'reject' });
  // direct bind: the group search runs as the user
  const direct = new LdapMethod({
    name: 'd', url: s.url, base: PEOPLE_DN, userDnTemplate: `uid={user},${PEOPLE_DN}`, groupBase: GROUPS_DN, groupMap: GROUP_MAP, timeout: 10,
  });
  assert.deepEqual(accepted(await direct.authenticate('bob', 'bob-pw', ctx)).groups, ['Contractors']);
});

test('StartTLS and ldaps: verified against the CA; another CA is refused', { skip }, async (t) => {
  const s = await slapd(t, { tls: true });
  assert.ok(s.caFile && s.ldapsUrl);
  const otherDir = tempDir('ldapca');
  const other = await makePki(otherDir, '127.0.0.1', [], 'ec');

  const startTls = new LdapMethod(searchOptions(s, { startTls: true, caFile: s.caFile }));
  assert.deepEqual(accepted(await startTls.authenticate('alice', 'alice-pw', ctx)).groups, ['Employees']);
  const ldaps = new LdapMethod(searchOptions(s, { url: s.ldapsUrl, caFile: s.caFile }));
  assert.deepEqual(accepted(await ldaps.authenticate('bob', 'bob-pw', ctx)).groups, ['Contractors']);
  assert.deepEqual(await ldaps.authenticate('bob', 'wrong', ctx), { kind: 'reject' });

  for (const [what, o] of [
    ['StartTLS, wrong CA', { startTls: true, caFile: other.caFile }],
    ['ldaps, wrong CA', { url: s.ldapsUrl, caFile: other.caFile }],
    ['StartTLS, system CAs', { startTls: true }],
    ['ldaps, system CAs', { url: s.ldapsUrl }],
  ] as const) {
    const mem = memoryLog();
    const m = new LdapMethod(searchOptions(s, { ...o, log: mem.log }));
    const r = await m.authenticate('alice', 'alice-pw', ctx);
    assert.equal(r.kind, 'error', `${what}: ${JSON.stringify(r)}`);
    assert.ok(mem.lines.some((l) => /certificate|self.signed|issuer/i.test(l)), `${what}: no certificate error logged:\n${mem.lines.join('\n')}`);
    assertNoPasswordLogged(mem.lines);
  }
  assert.equal(path.basename(s.caFile), 'ca.pem');
});

/** A TCP server on 127.0.0.1 whose connections get `behave(socket)`; closed when `t` ends. */
async function badServer(t: TestContext, behave: (s: net.Socket) => void): Promise<{ url: string; accepted: () => number; allClosed: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let waiter: (() => void) | undefined;
  const server = net.createServer((sock) => {
    accepted++;
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => {
      sockets.delete(sock);
      if (sockets.size === 0) waiter?.();
    });
    behave(sock);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return {
    url: `ldap://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    accepted: () => accepted,
    // Resolves once every accepted connection is closed (the test's timeout bounds the wait).
    allClosed: () => (sockets.size === 0 ? Promise.resolve() : new Promise<void>((r) => (waiter = r))),
  };
}

test('a server that accepts and never answers: error within the timeout, connection dropped, next login fine', { skip }, async (t) => {
  const s = await slapd(t);
  const hang = await badServer(t, (sock) => sock.resume()); // reads (to see our FIN), never answers
  for (const variant of [{}, { startTls: true }, { url: hang.url.replace('ldap:', 'ldaps:') }, { bindDn: undefined, bindPassword: undefined, userDnTemplate: `uid={user},${PEOPLE_DN}` }]) {
    const mem = memoryLog();
    const m = new LdapMethod(searchOptions(s, { url: hang.url, timeout: 1, log: mem.log, ...variant }));
    const r = await m.authenticate('alice', 'alice-pw', ctx);
    assert.equal(r.kind, 'error', `${JSON.stringify(variant)}: ${JSON.stringify(r)}`);
    assert.ok(mem.lines.some((l) => l.includes('no answer within 1 s')), mem.lines.join('\n'));
    assertNoPasswordLogged(mem.lines);
  }
  // Each login reached the server once, and every hung connection was dropped by us.
  assert.equal(hang.accepted(), 4);
  await hang.allClosed();
  // max-concurrent: while one login hangs, the next fails at once instead of piling up sockets.
  const one = new LdapMethod(searchOptions(s, { url: hang.url, timeout: 1, maxConcurrent: 1 }));
  const first = one.authenticate('alice', 'alice-pw', ctx);
  const second = await one.authenticate('bob', 'bob-pw', ctx);
  assert.deepEqual(second, { kind: 'error', message: 'The directory corp-ldap is busy; try again.' });
  assert.equal((await first).kind, 'error');
  assert.equal(hang.accepted(), 5);
  await hang.allClosed();
  // The process goes on: the real directory still answers.
  assert.deepEqual(accepted(await new LdapMethod(searchOptions(s)).authenticate('alice', 'alice-pw', ctx)).groups, ['Employees']);
});

test('a server that floods or talks garbage: error, bounded, next login fine', { skip }, async (t) => {
  const s = await slapd(t);
  // A BER SEQUENCE announcing 2 GiB, then an endless stream: cut off at LDAP_LIMITS.maxBytes.
  const flood = await badServer(t, (sock) => {
    sock.write(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]));
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const pump = (): void => {
      while (!sock.destroyed && sock.write(chunk));
      if (!sock.destroyed) sock.once('drain', pump);
    };
    pump();
  });
  const mem = memoryLog();
  const r = await new LdapMethod(searchOptions(s, { url: flood.url, timeout: 60, log: mem.log })).authenticate('alice', 'alice-pw', ctx);
  assert.equal(r.kind, 'error', JSON.stringify(r));
  assert.ok(mem.lines.some((l) => l.includes('more than')), mem.lines.join('\n'));

  const rnd = seeded('ldap garbage server');
  const garbage = await badServer(t, (sock) => {
    sock.once('data', () => sock.end(rnd.bytes(1 + rnd.int(4096))));
  });
  for (let i = 0; i < 5; i++) {
    const g = await new LdapMethod(searchOptions(s, { url: garbage.url, timeout: 2 })).authenticate('alice', 'alice-pw', ctx);
    assert.equal(g.kind, 'error', JSON.stringify(g));
  }
  assert.deepEqual(accepted(await new LdapMethod(searchOptions(s)).authenticate('bob', 'bob-pw', ctx)).groups, ['Contractors']);
});
