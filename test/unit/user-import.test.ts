/**
 * `sslgate user import --ocpasswd`: the ocpasswd parser, the crypt-hash verifier (fixed published
 * vectors, and hashes made in the test by openssl, libxcrypt through perl's crypt and Debian's
 * ocpasswd from passwords of the logged seed), the bounds on rounds and password length, and the
 * store's all-or-nothing import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CryptHashError, MAX_SHA_CRYPT_ROUNDS, parseCryptHash, verifyCrypt } from '../../src/gateway/crypt-hashes.js';
import { OcpasswdError, parseOcpasswd } from '../../src/gateway/ocpasswd.js';
import { hashKind, UserStore, verifyPassword } from '../../src/gateway/user-store.js';
import { hasCommand } from '../helpers/netns.js';
import { prerequisite } from '../helpers/prerequisites.js';
import { seeded } from '../helpers/seed.js';

/** A printable password of 1-40 characters from the seeded stream (no ':' or newline). */
function randomPassword(rng: ReturnType<typeof seeded>): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#%&()*+,-./;<=>?@[]^_{|}~éü€';
  const n = 1 + rng.int(40);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

function saltFrom(rng: ReturnType<typeof seeded>, n: number): string {
  const a = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let s = '';
  for (let i = 0; i < n; i++) s += a[rng.int(a.length)];
  return s;
}

// Published vectors: Drepper's "Unix crypt using SHA-256 and SHA-512" (its test section, also
// glibc's crypt tests) and md5crypt's reference ("Hello world!" with salt "saltstring"; PHP's
// crypt() documentation for rasmuslerdorf).
const KNOWN: Array<[string, string]> = [
  ['Hello world!', '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5'],
  ['Hello world!', '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA'],
  ['This is just a test', '$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5'],
  ['a very much longer text to encrypt.  This one even stretches over morethan one line.', '$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1'],
  ['Hello world!', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
  ['Hello world!', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'],
  ['Hello world!', '$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1'],
  ['rasmuslerdorf', '$1$rasmusle$rISCgZzpwk3UhDidwXvin0'],
];

test('crypt hashes: published vectors verify, a changed password does not', async () => {
  for (const [pw, hash] of KNOWN) {
    assert.equal(await verifyCrypt(pw, hash), true, hash);
    assert.equal(await verifyPassword(pw, hash), true, `verifyPassword ${hash}`);
    assert.equal(await verifyCrypt(pw + 'x', hash), false, `wrong password for ${hash}`);
    assert.equal(await verifyCrypt(pw.slice(0, -1), hash), false, `shorter password for ${hash}`);
  }
  assert.equal(hashKind(KNOWN[0]![1]), 'sha256crypt');
  assert.equal(hashKind(KNOWN[4]![1]), 'sha512crypt');
  assert.equal(hashKind(KNOWN[6]![1]), 'md5crypt');
  assert.equal(hashKind('!$5$abc$x'), 'unknown');
});

const opensslReason = prerequisite('crypt vectors from openssl', hasCommand('openssl') ? false : 'missing program: openssl');
test('crypt hashes: openssl passwd -6/-5/-1 with seeded passwords and salts', { skip: opensslReason }, async () => {
  const rng = seeded('user-import openssl');
  for (const [flag, saltLen] of [['-6', 16], ['-5', 16], ['-1', 8], ['-6', 3], ['-5', 1], ['-1', 2]] as const) {
    const pw = randomPassword(rng);
    const hash = execFileSync('openssl', ['passwd', flag, '-salt', saltFrom(rng, saltLen), '-stdin'], { input: pw + '\n' }).toString().trim();
    assert.equal(await verifyCrypt(pw, hash), true, `${hash} for ${JSON.stringify(pw)}`);
    assert.equal(await verifyCrypt(pw + pw, hash), false);
  }
});

const perlReason = prerequisite('crypt vectors from libxcrypt (perl)', hasCommand('perl') ? false : 'missing program: perl');
test('crypt hashes: libxcrypt (perl crypt) with rounds= and long passwords', { skip: perlReason }, async () => {
  const rng = seeded('user-import libxcrypt');
  const cases: Array<[string, string]> = [
    [randomPassword(rng), `$6$rounds=1000$${saltFrom(rng, 16)}`],
    [randomPassword(rng), `$5$rounds=${1000 + rng.int(20000)}$${saltFrom(rng, 9)}`],
    ['p'.repeat(200), `$6$rounds=1234$${saltFrom(rng, 5)}`], // longer than a SHA-512 block
    ['', `$5$${saltFrom(rng, 8)}`],
    ['', `$1$${saltFrom(rng, 8)}`],
    [randomPassword(rng), `$1$${saltFrom(rng, 8)}`],
  ];
  for (const [pw, setting] of cases) {
    const hash = execFileSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', '--', pw, setting]).toString();
    assert.match(hash, /^\$[156]\$/, `libxcrypt refused ${setting}`);
    assert.equal(await verifyCrypt(pw, hash), true, `${hash} for ${JSON.stringify(pw)}`);
    assert.equal(await verifyCrypt(pw + 'a', hash), false);
  }
});

const ocpasswdReason = prerequisite('crypt vectors from ocpasswd', hasCommand('ocpasswd') ? false : 'missing program: ocpasswd (ocserv)');
test('Debian ocpasswd: its file parses, its hash verifies with the right password only', { skip: ocpasswdReason }, async () => {
  const rng = seeded('user-import ocpasswd');
  const dir = mkdtempSync(join(tmpdir(), 'sg-ocpasswd-'));
  try {
    const file = join(dir, 'ocpasswd');
    const pwA = randomPassword(rng);
    const pwB = randomPassword(rng);
    execFileSync('ocpasswd', ['-c', file, '-g', 'staff,admins', 'anna'], { input: pwA + '\n' });
    execFileSync('ocpasswd', ['-c', file, 'ben'], { input: pwB + '\n' });
    const parsed = parseOcpasswd(readFileSync(file));
    assert.deepEqual(parsed.skipped, []);
    assert.deepEqual(parsed.users.map((u) => [u.name, u.groups]), [['anna', ['staff', 'admins']], ['ben', undefined]]);
    const [anna, ben] = parsed.users as [(typeof parsed.users)[0], (typeof parsed.users)[0]];
    assert.notEqual(hashKind(anna.hash), 'unknown');
    assert.equal(await verifyPassword(pwA, anna.hash), true);
    assert.equal(await verifyPassword(pwB, anna.hash), false);
    assert.equal(await verifyPassword(pwB, ben.hash), true);
    execFileSync('ocpasswd', ['-c', file, '-l', 'ben']);
    const locked = parseOcpasswd(readFileSync(file));
    assert.deepEqual(locked.skipped.map((s) => [s.name, s.reason]), [['ben', 'locked (ocpasswd -l): not imported']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ocpasswd parser: garbage lines are reported with their number and skipped', () => {
  const good5 = KNOWN[0]![1];
  const good1 = KNOWN[6]![1];
  const text = [
    '# a comment',
    `alice:staff, admins ,*:${good5}`, // 2
    'garbage without colons', // 3
    `bob:*:${good1}:extra:fields`, // 4: extra fields ignored, as ocserv does
    `carol::`, // 5: no hash
    `dave:staff:!${good5}`, // 6: locked
    `alice:other:${good1}`, // 7: duplicate
    `bad name:*:${good5}`, // 8
    `erin:*:$2y$10$abcdefghijklmnopqrstuuJ0Y8dzP3b7iF2Y2V8Z0kUe0kM9m8C2a`, // 9: bcrypt: unsupported
    `fred:*:$6$rounds=${MAX_SHA_CRYPT_ROUNDS + 1}$salt$${'a'.repeat(86)}`, // 10: too many rounds
    `gina:*:${'x'.repeat(600)}`, // 11: too long
    '', // 12 blank
    `hank::${good5}\r`, // 13: CRLF, empty groups
    '\u0000\u0001:\u0002', // 14
  ].join('\n');
  const { users, skipped } = parseOcpasswd(text);
  assert.deepEqual(
    users.map((u) => ({ line: u.line, name: u.name, groups: u.groups })),
    [
      { line: 2, name: 'alice', groups: ['staff', 'admins'] },
      { line: 4, name: 'bob', groups: undefined },
      { line: 13, name: 'hank', groups: undefined },
    ],
  );
  assert.equal(users[2]!.hash, good5, 'the carriage return is not part of the hash');
  assert.deepEqual(
    skipped.map((s) => s.line),
    [3, 5, 6, 7, 8, 9, 10, 11, 14],
  );
  const reason = (line: number): string => skipped.find((s) => s.line === line)!.reason;
  assert.match(reason(3), /malformed/);
  assert.match(reason(5), /no password hash/);
  assert.match(reason(6), /locked/);
  assert.match(reason(7), /duplicate of line 2/);
  assert.match(reason(8), /user name/);
  assert.match(reason(9), /unsupported hash/);
  assert.match(reason(10), /rounds=1000001 is above sslgate's maximum 1000000/);
  assert.match(reason(11), /longer than 510/);
  assert.match(reason(14), /malformed|user name/);
});

test('ocpasswd parser: seeded garbage never throws and never yields a user with a bad hash', () => {
  const rng = seeded('user-import garbage');
  const pieces = [':', ',', '*', '!', '$', '$5$', '$6$rounds=', '$1$', 'a', 'Z', '9', '.', '/', '\n', '\r', ' ', 'é', '\u0000'];
  for (let round = 0; round < 300; round++) {
    let text = '';
    const n = rng.int(200);
    for (let i = 0; i < n; i++) text += pieces[rng.int(pieces.length)];
    const { users } = parseOcpasswd(text);
    for (const u of users) assert.doesNotThrow(() => parseCryptHash(u.hash), `round ${round}: ${JSON.stringify(text)}`);
  }
});

test('ocpasswd parser: limits', () => {
  assert.throws(() => parseOcpasswd(Buffer.alloc(16 * 1024 * 1024 + 1, 0x61)), OcpasswdError);
});

test('crypt hashes: bounds on rounds, salt, hash length and password length', async () => {
  const hash = (rounds: number): string => `$6$rounds=${rounds}$salt$${'a'.repeat(86)}`;
  assert.throws(() => parseCryptHash(hash(999_999_999)), (e: Error) => e instanceof CryptHashError && /above sslgate's maximum 1000000/.test(e.message));
  assert.throws(() => parseCryptHash(hash(999)), /below the minimum 1000/);
  assert.throws(() => parseCryptHash(`$6$rounds=01000$salt$${'a'.repeat(86)}`), /not a number/);
  assert.throws(() => parseCryptHash(`$6$rounds=$salt$${'a'.repeat(86)}`), /not a number/);
  assert.throws(() => parseCryptHash(`$5$${'s'.repeat(17)}$${'a'.repeat(43)}`), /salt longer than 16/);
  assert.throws(() => parseCryptHash(`$1$${'s'.repeat(9)}$${'a'.repeat(22)}`), /salt longer than 8/);
  assert.throws(() => parseCryptHash(`$5$salt$${'a'.repeat(42)}`), /43 characters/);
  assert.throws(() => parseCryptHash(`$5$sa:lt$${'a'.repeat(43)}`), /salt has characters/);
  assert.throws(() => parseCryptHash('$1$rounds=1000$salt$' + 'a'.repeat(22)), /expected/);
  assert.doesNotThrow(() => parseCryptHash(hash(MAX_SHA_CRYPT_ROUNDS)));
  // A refused hash is "no" at login, without computing anything.
  assert.equal(await verifyCrypt('pw', hash(999_999_999)), false);
  assert.equal(await verifyPassword('pw', hash(999_999_999)), false);
  // Passwords above libxcrypt's 512 bytes are refused (SHA-crypt's cost grows with their square).
  const long = 'x'.repeat(513);
  assert.equal(await verifyCrypt(long, KNOWN[0]![1]), false);
});

test('UserStore: an import is one atomic write; existing users are kept unless replace; imported users log in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-import-'));
  try {
    const store = UserStore.inState(dir);
    await store.set('alice', 'scrypt-pw', ['staff']);
    const before = readFileSync(store.file, 'utf8');
    // An invalid entry anywhere refuses the whole batch and leaves the file as it was.
    assert.throws(() => store.putHashed([{ name: 'bob', hash: KNOWN[4]![1] }, { name: 'bad name', hash: KNOWN[4]![1] }], false), /invalid user name/);
    assert.equal(readFileSync(store.file, 'utf8'), before);
    assert.equal(store.get('bob'), undefined, 'memory matches the file');
    assert.throws(() => store.putHashed([{ name: 'bob', hash: 'plain' }], false), /unsupported hash/);

    const kept = store.putHashed([{ name: 'alice', hash: KNOWN[0]![1] }, { name: 'bob', hash: KNOWN[4]![1], groups: ['staff'] }], false);
    assert.deepEqual(kept, ['alice']);
    const again = UserStore.inState(dir);
    assert.equal(hashKind(again.get('alice')!.hash), 'scrypt');
    assert.equal(hashKind(again.get('bob')!.hash), 'sha512crypt');
    assert.deepEqual((await again.verify('bob', 'Hello world!'))?.groups, ['staff']);
    assert.equal(await again.verify('bob', 'Hello world?'), null);
    assert.ok(await again.verify('alice', 'scrypt-pw'));
    // Logging in keeps the crypt hash; setting the password replaces it with scrypt.
    assert.equal(UserStore.inState(dir).get('bob')!.hash, KNOWN[4]![1]);
    await again.set('bob', 'new password');
    assert.equal(hashKind(UserStore.inState(dir).get('bob')!.hash), 'scrypt');
    assert.deepEqual(UserStore.inState(dir).get('bob')!.groups, ['staff']);

    assert.deepEqual(again.putHashed([{ name: 'alice', hash: KNOWN[6]![1] }], true), []);
    assert.ok(await UserStore.inState(dir).verify('alice', 'Hello world!'));
    assert.equal(await UserStore.inState(dir).verify('alice', 'scrypt-pw'), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
