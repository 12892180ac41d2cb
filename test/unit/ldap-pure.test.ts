/**
 * The pure parts of the LDAP method (src/gateway/auth/ldap/): filter escaping (RFC 4515), DN
 * escaping and canonical form (RFC 4514), group-map, the Password Policy control decoder and
 * the expired/invalid verdicts, option checks. Random inputs come from the logged seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EqualityFilter, FilterParser, SubstringFilter } from 'ldapts';
import { checkFilterTemplate, escapeFilterValue, fillFilter } from '../../src/gateway/auth/ldap/filter.js';
import { DN_LIMITS, DnSyntaxError, escapeDnValue, fillDnTemplate, normalizeDn, parseDn } from '../../src/gateway/auth/ldap/dn.js';
import { GroupMap } from '../../src/gateway/auth/ldap/group-map.js';
import { parsePpolicyValue, verdictOfFailure, verdictOfSuccess } from '../../src/gateway/auth/ldap/password-policy.js';
import { LdapConfigError, resolveLdapOptions, type LdapLog, type LdapMethodOptions } from '../../src/gateway/auth/ldap/options.js';
import { createLogger } from '../../src/log.js';
import { LdapMethod, attributeValues } from '../../src/gateway/auth/ldap/ldap-method.js';
import { seeded, type SeededRandom } from '../helpers/seed.js';

/** Random strings over an alphabet that has every special of filters and DNs, spaces, UTF-8. */
const ALPHABET = [...'abcXYZ019 *()\\\0,+"\\<>;=#.-_@\t', 'é', 'ß', 'Ä', '中', '😀', ' ', ' '];
function randomString(rnd: SeededRandom, maxLen: number): string {
  let s = '';
  const n = rnd.int(maxLen + 1);
  for (let i = 0; i < n; i++) s += ALPHABET[rnd.int(ALPHABET.length)];
  return s;
}

// ---------------------------------------------------------------- filters

test('filter: the RFC 4515 specials are escaped, nothing else', () => {
  assert.equal(escapeFilterValue('a*b(c)d\\e\0f'), 'a\\2ab\\28c\\29d\\5ce\\00f');
  assert.equal(escapeFilterValue('Jörg Müller 中'), 'Jörg Müller 中');
  assert.equal(fillFilter('(uid={user})', { user: '*' }), '(uid=\\2a)');
  assert.equal(fillFilter('(&(objectClass=groupOfNames)(member={dn}))', { dn: 'cn=a\\,b,dc=x' }), '(&(objectClass=groupOfNames)(member=cn=a\\5c,b,dc=x))');
  assert.throws(() => fillFilter('(uid={usr})', { user: 'a' }), /unknown placeholder \{usr\}/);
});

test('filter: any value survives ldapts parsing as one literal equality assertion (seeded)', () => {
  const rnd = seeded('ldap filter round trip');
  for (let k = 0; k < 2000; k++) {
    const v = randomString(rnd, 24);
    const f = FilterParser.parseString(fillFilter('(uid={user})', { user: v }));
    if (v === '') {
      // "(uid=)" is an equality with an empty value, never a presence test
      assert.ok(!(f instanceof SubstringFilter), 'empty value became a substring filter');
    } else {
      assert.ok(f instanceof EqualityFilter, `${JSON.stringify(v)} -> ${f.constructor.name}`);
      assert.equal((f as EqualityFilter).attribute, 'uid');
      assert.equal((f as EqualityFilter).value, v, JSON.stringify(v));
    }
  }
});

test('filter templates: configuration check', () => {
  for (const ok of ['(uid={user})', '(&(objectClass=person)(|(uid={user})(mail={user})))', '(sAMAccountName={user})', '(cn=a\\2a{user})']) {
    assert.equal(checkFilterTemplate(ok, 'user'), null, ok);
  }
  for (const [bad, why] of [
    ['', /1-1024/],
    ['uid={user}', /in parentheses/],
    ['(uid=alice)', /must contain \{user\}/],
    ['(uid={user}))(', /in parentheses/],
    ['(uid={user}))(x=(y)', /unbalanced|single/],
    ['((uid={user})', /unbalanced/],
    ['(uid={user})(cn=x)', /single filter/],
    ['(uid={user}\\zz)', /bad escape/],
    ['(uid={user}\n)', /control/],
    ['(' + 'x'.repeat(2000) + '{user})', /1-1024/],
  ] as const) {
    assert.match(checkFilterTemplate(bad, 'user') ?? 'accepted', why, JSON.stringify(bad));
  }
});

// ---------------------------------------------------------------- DNs

test('DN: escaping a value round-trips through the parser (seeded)', () => {
  const rnd = seeded('ldap dn round trip');
  for (let k = 0; k < 2000; k++) {
    const v = randomString(rnd, 20);
    const dn = fillDnTemplate('uid={user},ou=people,dc=example,dc=org', v);
    const rdns = parseDn(dn);
    assert.equal(rdns.length, 4, dn);
    assert.deepEqual(rdns[0], [{ type: 'uid', value: v, ber: false }], dn);
  }
  assert.equal(escapeDnValue(' #a,b+c "x" <y>;\\ '), '\\ #a\\,b\\+c \\"x\\" \\<y\\>\\;\\\\\\ ');
  assert.equal(escapeDnValue('a\nb\0'), 'a\\0ab\\00');
});

test('DN: the canonical form ignores case, spaces around separators, escape spelling and RDN value order', () => {
  const same = [
    ['cn=vpn-staff,ou=groups,dc=example,dc=org', 'CN=VPN-Staff, OU=Groups , DC=example,DC=ORG'],
    ['cn=VPN  Staff,dc=x', 'cn= vpn staff ,dc=x'],
    ['cn=a\\,b,dc=x', 'cn=a\\2cb,dc=x'],
    ['cn=a\\,b,dc=x', 'cn="a,b",dc=x'],
    ['cn=é,dc=x', 'cn=\\c3\\a9,dc=x'],
    ['cn=É,dc=x', 'cn=é,dc=x'],
    ['cn=a+uid=b,dc=x', 'UID=b + CN=a,dc=x'],
    ['cn=a;dc=x', 'cn=a,dc=x'],
    ['1.2.3=#0401ff,dc=x', '1.2.3=#0401FF,dc=x'],
  ];
  for (const [a, b] of same) {
    assert.notEqual(normalizeDn(a as string), null, a);
    assert.equal(normalizeDn(a as string), normalizeDn(b as string), `${a} vs ${b}`);
  }
  const different = [
    ['cn=a,dc=x', 'cn=b,dc=x'],
    ['cn=a,dc=x', 'cn=a,dc=y'],
    ['cn=a,dc=x', 'uid=a,dc=x'],
    ['cn=a\\,dc=x', 'cn=a,dc=x'],
    ['cn=\\#a,dc=x', 'cn=#0a,dc=x'],
    ['cn=a,dc=x', 'cn=a,dc=x,dc=z'],
  ];
  for (const [a, b] of different) assert.notEqual(normalizeDn(a as string), normalizeDn(b as string), `${a} vs ${b}`);
  assert.equal(normalizeDn(''), '');
  assert.equal(normalizeDn('CN=VPN Staff, OU=Groups,DC=corp,DC=example'), 'cn=vpn staff,ou=groups,dc=corp,dc=example');
});

test('DN: malformed names are refused with DnSyntaxError (normalizeDn: null)', () => {
  for (const bad of [
    'cn', '=x', 'cn=a,', ',cn=a', 'cn=a,,dc=x', 'cn=a\\', 'cn=a\\zz', 'c n=a', 'cn=a"b', 'cn="unterminated', 'cn=#abc', 'cn=#',
    'cn=a\\ff', 'cn=a\0b', '-cn=a', 'cn=a+', 'cn=a<b',
    'cn=' + 'x'.repeat(DN_LIMITS.maxLength),
    Array.from({ length: DN_LIMITS.maxRdns + 1 }, (_, i) => `dc=d${i}`).join(','),
    'cn=a' + '+cn=b'.repeat(DN_LIMITS.maxAvasPerRdn),
  ]) {
    assert.throws(() => parseDn(bad), DnSyntaxError, JSON.stringify(bad.slice(0, 60)));
    assert.equal(normalizeDn(bad), null, JSON.stringify(bad.slice(0, 60)));
  }
});

test('DN: garbage never throws from normalizeDn, and the canonical form is a fixed point (seeded)', () => {
  const rnd = seeded('ldap dn garbage');
  for (let k = 0; k < 5000; k++) {
    // A third DN-shaped with escaped values (must parse), a third DN-shaped with raw values,
    // a third raw bytes read as UTF-8 or Latin-1.
    const kind = rnd.int(3);
    let input: string;
    if (kind < 2) {
      const parts = Array.from({ length: 1 + rnd.int(4) }, () => {
        const v = randomString(rnd, 8);
        return `${['cn', 'OU', 'dc', '2.5.4.3', 'x'][rnd.int(5)]}${rnd.int(3) === 0 ? ' ' : ''}=${kind === 0 ? escapeDnValue(v) : v}`;
      });
      input = parts.join([',', ', ', ';', '+'][rnd.int(4)] as string);
    } else {
      const bytes = rnd.bytes(rnd.int(64));
      input = rnd.int(2) === 0 ? bytes.toString('utf8') : bytes.toString('latin1');
    }
    const n = normalizeDn(input);
    if (kind === 0) assert.notEqual(n, null, `escaped DN refused: ${JSON.stringify(input)}`);
    if (n === null) continue;
    assert.equal(normalizeDn(n), n, `not a fixed point: ${JSON.stringify(input)} -> ${JSON.stringify(n)}`);
  }
});

// ---------------------------------------------------------------- group-map

test('group-map: directory DNs in any spelling map to gateway groups, in map order, each once', () => {
  const map = new GroupMap({
    'cn=vpn-staff,ou=groups,dc=example,dc=org': 'Employees',
    'CN=Admins,OU=Groups,DC=example,DC=org': 'Admins',
    'cn=vpn-contractors,ou=groups,dc=example,dc=org': 'Contractors',
    'CN=VPN-Staff, OU=groups, DC=example, DC=org': 'Staff-Extra',
  });
  assert.ok(map.restricts);
  assert.deepEqual(map.map(['cn=admins,ou=groups,dc=example,dc=org', 'CN=VPN-STAFF,OU=GROUPS,DC=EXAMPLE,DC=ORG', 'cn=other,dc=example,dc=org']), {
    groups: ['Employees', 'Admins', 'Staff-Extra'],
    ignored: 0,
  });
  assert.deepEqual(map.map([]), { groups: [], ignored: 0 });
  assert.deepEqual(map.map(['not a dn', 'cn=x,=', 'cn=vpn-contractors,ou=groups,dc=example,dc=org', 'cn=vpn-contractors,ou=groups,dc=example,dc=org']), {
    groups: ['Contractors'],
    ignored: 2,
  });
  // No map: no restriction.
  assert.deepEqual(new GroupMap(undefined).map(['cn=a,dc=x']), { groups: undefined, ignored: 0 });
  assert.deepEqual(new GroupMap({}).map(['cn=a,dc=x']), { groups: undefined, ignored: 0 });
  assert.throws(() => new GroupMap({ 'not a dn': 'X' }), /not a distinguished name/);
  assert.throws(() => new GroupMap({ '': 'X' }), /not a distinguished name/);
  assert.throws(() => new GroupMap({ 'cn=a,dc=x': ' ' }), /empty group name/);
});

test('group-map: garbage values from a directory are ignored, never thrown (seeded)', () => {
  const rnd = seeded('ldap group-map garbage');
  const map = new GroupMap({ 'cn=a,dc=x': 'A' });
  for (let k = 0; k < 1000; k++) {
    const values = Array.from({ length: rnd.int(6) }, () => rnd.bytes(rnd.int(40)).toString(rnd.int(2) ? 'utf8' : 'latin1'));
    const r = map.map(values);
    assert.ok(Array.isArray(r.groups) && r.groups.every((g) => g === 'A'));
    assert.ok(r.ignored <= values.length);
  }
});

// ---------------------------------------------------------------- password policy

test('ppolicy control: what slapd sends decodes; truncations and garbage are errors (seeded)', () => {
  const valid: Array<[number[], object]> = [
    [[0x30, 0x03, 0x81, 0x01, 0x00], { error: 0 }], // passwordExpired (slapd, bind result 49)
    [[0x30, 0x03, 0x81, 0x01, 0x02], { error: 2 }], // changeAfterReset (bind succeeds)
    [[0x30, 0x05, 0xa0, 0x03, 0x80, 0x01, 0x3c], { timeBeforeExpiration: 60 }],
    [[0x30, 0x06, 0xa0, 0x04, 0x80, 0x02, 0x01, 0x2c], { timeBeforeExpiration: 300 }],
    [[0x30, 0x05, 0xa0, 0x03, 0x81, 0x01, 0x02], { graceAuthNsRemaining: 2 }],
    [[0x30, 0x08, 0xa0, 0x03, 0x81, 0x01, 0x01, 0x81, 0x01, 0x00], { graceAuthNsRemaining: 1, error: 0 }],
    [[0x30, 0x00], {}],
    [[0x30, 0x81, 0x03, 0x81, 0x01, 0x01], { error: 1 }], // long-form length
  ];
  for (const [bytes, want] of valid) {
    const buf = Buffer.from(bytes);
    assert.deepEqual(parsePpolicyValue(buf), want, buf.toString('hex'));
    for (let cut = 0; cut < buf.length; cut++) assert.throws(() => parsePpolicyValue(buf.subarray(0, cut)), Error, `cut at ${cut}`);
  }
  for (const bad of [
    [0x31, 0x03, 0x81, 0x01, 0x00], // SET, not SEQUENCE
    [0x30, 0x03, 0x81, 0x01, 0x00, 0x00], // trailing byte
    [0x30, 0x03, 0x82, 0x01, 0x00], // unknown field
    [0x30, 0x06, 0x81, 0x01, 0x00, 0x81, 0x01, 0x00], // error twice
    [0x30, 0x08, 0x81, 0x01, 0x00, 0xa0, 0x03, 0x80, 0x01, 0x01], // warning after error
    [0x30, 0x03, 0x81, 0x01, 0xff], // negative
    [0x30, 0x02, 0x81, 0x00], // empty integer
    [0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00], // 5-byte length
    [0x30, 0x80], // indefinite length
    [0x30, 0x05, 0xa0, 0x03, 0x82, 0x01, 0x01], // unknown warning
  ]) {
    assert.throws(() => parsePpolicyValue(Buffer.from(bad)), Error, Buffer.from(bad).toString('hex'));
  }
  assert.throws(() => parsePpolicyValue(Buffer.alloc(100)), /longer than 64/);
  const rnd = seeded('ldap ppolicy garbage');
  for (let k = 0; k < 5000; k++) {
    const buf = rnd.bytes(rnd.int(20));
    if (rnd.int(2) === 0 && buf.length > 1) {
      buf[0] = 0x30;
      buf[1] = buf.length - 2;
    }
    try {
      const r = parsePpolicyValue(buf);
      for (const v of Object.values(r)) assert.ok(Number.isInteger(v) && v >= 0);
    } catch (err) {
      assert.ok(err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError), String(err));
    }
  }
});

test('bind verdicts: ppolicy control, AD data codes and server texts', () => {
  assert.deepEqual(verdictOfFailure(49, 'Invalid credentials during a bind operation.', undefined), { kind: 'invalid' });
  assert.equal(verdictOfFailure(49, '', { error: 0 }).kind, 'expired');
  assert.deepEqual(verdictOfFailure(49, '', { error: 2 }), { kind: 'expired', why: 'the password was reset and must be changed (ppolicy)', reset: true });
  assert.equal(verdictOfFailure(49, '', { error: 1 }).kind, 'locked');
  const ad = (data: string): string => `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data ${data}, v4563`;
  assert.equal(verdictOfFailure(49, ad('532'), undefined).kind, 'expired');
  assert.equal(verdictOfFailure(49, ad('773'), undefined).kind, 'expired');
  assert.equal(verdictOfFailure(49, ad('775'), undefined).kind, 'locked');
  assert.equal(verdictOfFailure(49, ad('52e'), undefined).kind, 'invalid');
  assert.equal(verdictOfFailure(49, ad('5320'), undefined).kind, 'invalid');
  assert.equal(verdictOfFailure(49, 'Password expired', undefined).kind, 'expired');
  assert.equal(verdictOfFailure(49, 'password has expired', undefined).kind, 'expired');
  assert.equal(verdictOfFailure(49, 'You must change your password', undefined).kind, 'expired');
  // Only invalidCredentials can mean expired.
  assert.equal(verdictOfFailure(53, 'password expired', { error: 0 }).kind, 'invalid');
  assert.deepEqual(verdictOfSuccess(undefined), { kind: 'ok' });
  assert.equal(verdictOfSuccess({ error: 2 }).kind, 'expired');
  assert.match((verdictOfSuccess({ timeBeforeExpiration: 3 * 86400 + 5 }) as { warning: string }).warning, /expires in 3 days/);
  assert.match((verdictOfSuccess({ graceAuthNsRemaining: 2 }) as { warning: string }).warning, /2 more logins/);
});

// ---------------------------------------------------------------- entries

test('attributeValues: case-insensitive name, buffers as UTF-8, bounded', () => {
  const entry = { dn: 'uid=a,dc=x', MemberOf: ['cn=a,dc=x', 'cn=b,dc=x', 'cn=c,dc=x'], uid: Buffer.from('Jörg'), cn: 'one' };
  assert.deepEqual(attributeValues(entry, 'memberof', 10), { values: ['cn=a,dc=x', 'cn=b,dc=x', 'cn=c,dc=x'], truncated: false });
  assert.deepEqual(attributeValues(entry, 'memberOf', 2), { values: ['cn=a,dc=x', 'cn=b,dc=x'], truncated: true });
  assert.deepEqual(attributeValues(entry, 'UID', 10), { values: ['Jörg'], truncated: false });
  assert.deepEqual(attributeValues(entry, 'cn', 10), { values: ['one'], truncated: false });
  assert.deepEqual(attributeValues(entry, 'dn', 10), { values: [], truncated: false });
  assert.deepEqual(attributeValues(entry, 'mail', 10), { values: [], truncated: false });
});

// ---------------------------------------------------------------- options

const BASE: LdapMethodOptions = {
  name: 'corp-ldap',
  url: 'ldap://127.0.0.1:3389',
  bindDn: 'cn=admin,dc=example,dc=org',
  bindPassword: 'admin',
  base: 'ou=people,dc=example,dc=org',
};

test('options: defaults', () => {
  const r = resolveLdapOptions(BASE);
  assert.equal(r.host, '127.0.0.1');
  assert.equal(r.port, 3389);
  assert.equal(r.secure, false);
  assert.equal(r.userFilter, '(uid={user})');
  assert.equal(r.groupAttribute, 'memberOf');
  assert.equal(r.groupFilter, '(&(objectClass=groupOfNames)(member={dn}))');
  assert.equal(r.timeoutMs, 5000);
  assert.equal(r.groupMap.restricts, false);
  assert.equal(resolveLdapOptions({ ...BASE, url: 'ldaps://ldap.example.org' }).port, 636);
  assert.equal(resolveLdapOptions({ ...BASE, url: 'ldap://[::1]:1389' }).host, '::1');
  const direct = resolveLdapOptions({ name: 'd', url: 'ldap://h', base: '', userDnTemplate: 'uid={user},ou=people,dc=example,dc=org' });
  assert.equal(direct.port, 389);
  assert.equal(direct.bindDn, undefined);
});

test('options: every mistake is an LdapConfigError naming the option', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslgate-ldapopt-'));
  try {
    const notPem = path.join(dir, 'not.pem');
    fs.writeFileSync(notPem, 'hello');
    const brokenPem = path.join(dir, 'broken.pem');
    fs.writeFileSync(brokenPem, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const cases: Array<[Partial<LdapMethodOptions> & Record<string, unknown>, RegExp]> = [
      [{ url: 'http://x' }, /ldap:\/\/ or ldaps:\/\//],
      [{ url: 'not a url' }, /not a URL/],
      [{ url: 'ldap://h:389/dc=x' }, /host\[:port\] only/],
      [{ url: 'ldap://user:pw@h' }, /host\[:port\] only/],
      [{ url: 'ldaps://h', startTls: true }, /start-tls is for ldap:\/\//],
      [{ caFile: path.join(dir, 'missing.pem'), startTls: true }, /ca-file .*missing\.pem/],
      [{ caFile: notPem, startTls: true }, /no PEM certificate/],
      [{ caFile: brokenPem, startTls: true }, /does not parse/],
      [{ caFile: notPem }, /needs an ldaps:\/\/ url or start-tls/],
      [{ bindDn: 'not a dn' }, /bind-dn .* not a distinguished name/],
      [{ bindPassword: '' }, /needs a bind-password/],
      [{ bindDn: undefined, bindPassword: 'x' }, /bind-password without bind-dn/],
      [{ bindDn: undefined, bindPassword: undefined }, /needs bind-dn .* or user-dn-template/],
      [{ userDnTemplate: 'uid={user},dc=x' }, /not both/],
      [{ bindDn: undefined, bindPassword: undefined, userDnTemplate: 'uid=alice,dc=x' }, /must contain \{user\}/],
      [{ bindDn: undefined, bindPassword: undefined, userDnTemplate: '{user}' }, /not a DN/],
      [{ base: 'garbage' }, /base .* not a distinguished name/],
      [{ userFilter: 'uid={user}' }, /user-filter .* in parentheses/],
      [{ groupBase: 'ou=groups,dc=x', groupFilter: '(member={user})' }, /must contain \{dn\}/],
      [{ groupAttribute: 'member of' }, /group-attribute/],
      [{ userAttribute: '' }, /user-attribute/],
      [{ groupMap: { 'x': 'A' } }, /group-map/],
      [{ timeout: 0 }, /timeout/],
      [{ timeout: 1000 }, /timeout/],
      [{ timeout: Number.NaN }, /timeout/],
      [{ maxConcurrent: 0 }, /max-concurrent/],
    ];
    for (const [change, why] of cases) {
      assert.throws(() => resolveLdapOptions({ ...BASE, ...change } as LdapMethodOptions), (err: unknown) => {
        assert.ok(err instanceof LdapConfigError, String(err));
        assert.match(err.message, /^auth-server corp-ldap \(ldap\): /);
        assert.match(err.message, why);
        return true;
      }, JSON.stringify(change));
    }
    // The constructor runs the same checks, plus ldapts's own filter parser.
    assert.throws(() => new LdapMethod({ ...BASE, userFilter: '(uid={user}' }), LdapConfigError);
    assert.throws(() => new LdapMethod({ ...BASE, userFilter: '(uid={user})(x=y)' }), /single filter/);
    assert.throws(() => new LdapMethod({ ...BASE, userFilter: '(uid={user}{other})' }), (err: unknown) => err instanceof LdapConfigError && /user-filter .*unknown placeholder/.test(err.message));
    assert.throws(() => new LdapMethod({ ...BASE, userFilter: '(uid~~{user})' }), (err: unknown) => err instanceof LdapConfigError && /user-filter/.test(err.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('options: LDAP in clear to a remote host is allowed, with a warning', () => {
  const warnings: string[] = [];
  const log = { info: () => undefined, warn: (_o: object, m: string) => void warnings.push(m) };
  resolveLdapOptions({ ...BASE, log });
  assert.equal(warnings.length, 0);
  resolveLdapOptions({ ...BASE, url: 'ldap://ldap.example.org', log });
  assert.match(warnings[0] ?? '', /in clear/);
  resolveLdapOptions({ ...BASE, url: 'ldap://ldap.example.org', startTls: true, log });
  assert.equal(warnings.length, 1);
});

test('LdapMethod: refuses without any I/O what it must never send (empty password, unusable names)', async () => {
  // Port 1 on loopback: nothing listens; a login that tried to connect would be 'error', not 'reject'.
  const m = new LdapMethod({ ...BASE, url: 'ldap://127.0.0.1:1', timeout: 1 });
  const ctx = { remote: '192.0.2.1', group: 'g' };
  for (const [user, password] of [
    ['alice', ''],
    ['', 'pw'],
    ['a\nb', 'pw'],
    ['a\0', 'pw'],
    [' alice', 'pw'],
    ['x'.repeat(257), 'pw'],
    ['alice', 'p'.repeat(1025)],
  ]) {
    assert.deepEqual(await m.authenticate(user as string, password as string, ctx), { kind: 'reject' }, JSON.stringify([user.slice(0, 10), password.length]));
  }
  // ... while a real attempt against the same dead port is a backend error.
  assert.equal((await m.authenticate('alice', 'pw', ctx)).kind, 'error');
});

test('LdapMethod logs through the gateway\'s pino logger, never the password', async () => {
  const out: string[] = [];
  const destination = { write: (line: string) => void out.push(line) };
  const log: LdapLog = createLogger({ destination, level: 'info' }); // compile-time: a pino Logger is an LdapLog
  const m = new LdapMethod({ ...BASE, bindPassword: 'search-secret', url: 'ldap://127.0.0.1:1', timeout: 1, log });
  const ctx = { remote: '192.0.2.1', group: 'g' };
  assert.deepEqual(await m.authenticate('alice', '', ctx), { kind: 'reject' });
  assert.equal((await m.authenticate('alice', 'user-secret', ctx)).kind, 'error');
  const lines = out.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(lines.some((l) => l['msg'] === 'LDAP login refused: empty password' && l['server'] === 'corp-ldap' && l['user'] === 'alice'), out.join(''));
  assert.ok(lines.some((l) => l['level'] === 'warn' && /ECONNREFUSED/.test(String(l['error']))), out.join(''));
  assert.ok(!out.join('').includes('secret'), out.join(''));
});


test('options: built from an auth-servers entry as the configuration reader shapes it (defaults filled, extra keys)', () => {
  // The shape of config.ts's LdapServerConfig: every default present, `type`, `userDn` for the template.
  const server = {
    type: 'ldap' as const,
    name: 'corp-ldap',
    url: 'ldap://127.0.0.1:3389',
    base: 'ou=people,dc=example,dc=org',
    userFilter: '(uid={user})',
    startTls: false,
    groupAttribute: 'memberOf',
    groupFilter: '(&(objectClass=groupOfNames)(member={dn}))',
    groupMap: {},
    timeout: 5,
  };
  const search = new LdapMethod({ ...server, bindDn: 'cn=admin,dc=example,dc=org', bindPassword: 'admin' });
  assert.equal(search.name, 'corp-ldap');
  const userDn = 'uid={user},ou=people,dc=example,dc=org';
  assert.ok(new LdapMethod({ ...server, base: '', userDnTemplate: userDn }));
  // An empty bind-password with a bind-dn would be an unauthenticated bind: refused at load.
  assert.throws(() => new LdapMethod({ ...server, bindDn: 'cn=admin,dc=example,dc=org', bindPassword: '' }), /needs a bind-password/);
});
