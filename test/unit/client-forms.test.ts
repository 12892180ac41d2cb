/**
 * Issue 10, client: the pure parts of answering a gateway's prompts. RFC 6238 codes (published
 * vectors and Debian's oathtool on seeded secrets), --token-secret forms, -F parsing (with
 * garbage), which field openconnect's rule gives a token code, the order of stdin lines, -F
 * and the terminal, new-password forms and their wire mapping, and telling a re-asked form from
 * a new question of the same shape.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { isAskedAgain } from '../../src/client/auth-flow.js';
import { FormEntries, FormEntryError, MAX_FORM_ENTRIES, parseFormEntry } from '../../src/client/form-entries.js';
import { FormFiller, MissingInputError } from '../../src/client/forms.js';
import { Progress } from '../../src/client/progress.js';
import type { Prompter } from '../../src/client/prompts.js';
import { decodeBase32, parseTokenSecret, TokenSecretError } from '../../src/client/token-secret.js';
import { TotpError } from '../../src/protocol/totp.js';
import { isTokenField, TotpSource } from '../../src/client/token-source.js';
import { hotpCode, totpCode } from '../../src/client/totp-code.js';
import { buildAuthReply, parseGatewayAuth, replyParts, type AuthForm, type FormField } from '../../src/protocol/auth-xml-client.js';
import { prerequisite } from '../helpers/prerequisites.js';
import { seeded } from '../helpers/seed.js';

// ------------------------------------------------------------------ RFC 6238 / 4226

test('HOTP: RFC 4226 appendix D values', () => {
  const key = Buffer.from('12345678901234567890');
  const want = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  want.forEach((code, i) => assert.equal(hotpCode(key, i), code, `counter ${i}`));
});

test('TOTP: RFC 6238 appendix B values (8 digits, SHA-1/256/512), and 6 digits = the last six', () => {
  const keys = {
    sha1: Buffer.from('12345678901234567890'),
    sha256: Buffer.from('12345678901234567890123456789012'),
    sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
  } as const;
  const table: Array<[number, string, string, string]> = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  for (const [t, s1, s256, s512] of table) {
    assert.equal(totpCode(keys.sha1, t, 'sha1', 8), s1, `sha1 @${t}`);
    assert.equal(totpCode(keys.sha256, t, 'sha256', 8), s256, `sha256 @${t}`);
    assert.equal(totpCode(keys.sha512, t, 'sha512', 8), s512, `sha512 @${t}`);
    assert.equal(totpCode(keys.sha1, t), s1.slice(2));
  }
  assert.throws(() => totpCode(keys.sha1, -1), TotpError);
  assert.throws(() => hotpCode(keys.sha1, 1.5), TotpError);
  assert.throws(() => hotpCode(keys.sha1, 0, 'sha1', 9), TotpError);
});

const oathSkip = prerequisite('TOTP against oathtool', (() => {
  try {
    execFileSync('oathtool', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'oathtool is not installed (Debian package oathtool)';
  }
})());

test('TOTP: the same codes as Debian\'s oathtool for seeded secrets and times', { skip: oathSkip }, () => {
  const rnd = seeded('totp vs oathtool');
  for (let i = 0; i < 12; i++) {
    const key = rnd.bytes(10 + rnd.int(30));
    const t = 1_000_000_000 + rnd.int(1_000_000_000);
    const theirs = execFileSync('oathtool', ['--totp', '-N', `@${t}`, key.toString('hex')], { encoding: 'utf8' }).trim();
    assert.equal(totpCode(key, t), theirs, `key ${key.toString('hex')} @${t}`);
  }
});

// ------------------------------------------------------------------ --token-secret

test('--token-secret: openconnect\'s forms (base32:, 0x, sha256:, raw) and plain base32', () => {
  const rfc = Buffer.from('12345678901234567890');
  const b32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  for (const v of [`base32:${b32}`, `BASE32:${b32.toLowerCase()}`, `base32:GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ`, `base32:${b32}\n`, b32, `0x${rfc.toString('hex')}`]) {
    const s = parseTokenSecret(v);
    assert.deepEqual(s.key, rfc, v);
    assert.equal(s.algorithm, 'sha1');
  }
  assert.equal(parseTokenSecret(b32).form, 'bare-base32');
  assert.equal(parseTokenSecret(`base32:${b32}`).form, 'base32');
  // openconnect pads an odd count of hex digits with a leading 0
  assert.deepEqual(parseTokenSecret('0xabc').key, Buffer.from([0x0a, 0xbc]));
  const s256 = parseTokenSecret(`sha256:base32:${b32}`);
  assert.equal(s256.algorithm, 'sha256');
  assert.deepEqual(s256.key, rfc);
  assert.equal(parseTokenSecret('SHA512:0x00').algorithm, 'sha512');
  // Without a prefix and not plainly base32: the characters themselves, as openconnect does.
  const raw = parseTokenSecret('12345678901234567890');
  assert.equal(raw.form, 'raw');
  assert.deepEqual(raw.key, rfc);
  assert.equal(parseTokenSecret('mysecretpassword').form, 'raw'); // lower case: not taken as base32
  assert.equal(parseTokenSecret('ABCDEFGHIJKLMNOPQ').form, 'raw'); // 17 chars cannot be whole bytes
  // unpadded and padded base32 of every length give the same bytes
  for (let n = 1; n <= 12; n++) {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff));
    const enc = base32(bytes);
    assert.deepEqual(decodeBase32(enc), bytes, enc);
    assert.deepEqual(decodeBase32(enc.replace(/=+$/, '')), bytes, enc);
  }
});

/** RFC 4648 base32 with padding (the test's own encoder, to check the decoder). */
function base32(b: Buffer): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const x of b) bits += x.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += A[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  while (out.length % 8) out += '=';
  return out;
}

test('--token-secret garbage: a clear TokenSecretError, never a wrong key', () => {
  for (const [v, why] of [
    ['base32:', /empty/],
    ['base32:GEZD1NBV', /is not base32 \(A-Z, 2-7\)/],
    ['base32:GE=ZDGNBV', /"=" inside base32 text/],
    ['base32:GEZDGN', /not a whole number of bytes/],
    ['base32:GEZDGN=', /does not end an 8-character group/],
    ['0x', /empty/],
    ['0xzz', /not a hex digit/],
    ['<?xml version="1.0"?><KeyContainer/>', /PSKC/],
    ['', /empty/],
    ['sha256:', /empty/],
    ['x'.repeat(5000), /too long/],
  ] as const) {
    assert.throws(() => parseTokenSecret(v), (e: unknown) => e instanceof TokenSecretError && why.test(e.message), `${v.slice(0, 40)}`);
  }
  const rnd = seeded('token secret garbage');
  for (let i = 0; i < 300; i++) {
    const v = rnd.bytes(rnd.int(60)).toString('latin1');
    try {
      const s = parseTokenSecret(['base32:', '0x', 'sha256:', ''][i % 4] + v);
      assert.ok(s.key.length > 0);
    } catch (e) {
      assert.ok(e instanceof TokenSecretError, `unexpected ${String(e)}`);
    }
  }
});

// ------------------------------------------------------------------ -F

test('-F AUTHID:NAME=VALUE: openconnect\'s split (first "=", then first ":"), later wins', () => {
  assert.deepEqual(parseFormEntry('main:username=alice'), { authId: 'main', name: 'username', value: 'alice' });
  assert.deepEqual(parseFormEntry('challenge:password=a:b=c'), { authId: 'challenge', name: 'password', value: 'a:b=c' });
  assert.deepEqual(parseFormEntry('main:secondary_password='), { authId: 'main', name: 'secondary_password', value: '' });
  assert.deepEqual(parseFormEntry('main:x:y=1'), { authId: 'main', name: 'x:y', value: '1' });
  const e = FormEntries.parse(['main:username=a', 'main:username=b', 'challenge:username=c']);
  assert.equal(e.get('main', 'username'), 'b');
  assert.equal(e.get('challenge', 'username'), 'c');
  assert.equal(e.get('main', 'password'), undefined);
  assert.equal(e.get('Main', 'username'), undefined, 'ids are exact, as in openconnect (strcmp)');
});

test('-F garbage: FormEntryError naming the problem', () => {
  for (const [v, why] of [
    ['main', /no "NAME="/],
    ['=x', /no "NAME="/],
    ['username=alice', /no "AUTHID:"/],
    [':username=alice', /no "AUTHID:"/],
    ['main:=alice', /empty field name/],
    ['ma in:user=x', /white space or control/],
    ['main:us\u0000er=x', /white space or control/],
    ['main:user=a\nb', /control characters/],
    ['main:user=' + 'x'.repeat(5000), /too long/],
  ] as const) {
    assert.throws(() => parseFormEntry(v), (e: unknown) => e instanceof FormEntryError && why.test(e.message), JSON.stringify(v.slice(0, 30)));
  }
  assert.throws(() => FormEntries.parse(Array.from({ length: MAX_FORM_ENTRIES + 1 }, (_, i) => `main:f${i}=1`)), /too many/);
  const rnd = seeded('form entry garbage');
  for (let i = 0; i < 500; i++) {
    const v = rnd.bytes(rnd.int(40)).toString('latin1');
    try {
      const f = parseFormEntry(v);
      assert.ok(f.authId.length > 0 && f.name.length > 0 && `${f.authId}:${f.name}=${f.value}` === v);
    } catch (e) {
      assert.ok(e instanceof FormEntryError, `unexpected ${String(e)}`);
    }
  }
});

// ------------------------------------------------------------------ which field gets the OTP

const pw = (name: string, label = `${name}:`): FormField => ({ kind: 'input', type: 'password', name, label });
const txt = (name: string): FormField => ({ kind: 'input', type: 'text', name, label: `${name}:` });
const form = (authId: string, fields: FormField[], message?: string): AuthForm => ({ authId, fields, authenticationComplete: false, ...(message ? { message } : {}) });

test('token field: openconnect\'s rule (secondary_password, or a password of auth id "challenge")', () => {
  assert.equal(isTokenField({ authId: 'main' }, pw('secondary_password')), true, 'ocserv RADIUS challenge round');
  assert.equal(isTokenField({ authId: 'challenge' }, pw('password')), true, 'our gateway / ASA challenge');
  assert.equal(isTokenField({ authId: 'challenge' }, pw('answer')), true);
  assert.equal(isTokenField({ authId: 'main' }, pw('password')), false, 'ocserv plain[otp] round: not filled, as with openconnect');
  assert.equal(isTokenField({ authId: 'challenge' }, txt('username')), false);
  assert.equal(isTokenField({ authId: 'challenge' }, { kind: 'input', type: 'hidden', name: 'x', label: 'x' }), false);
  assert.equal(isTokenField({ authId: 'otp-verification' }, pw('password')), false);
});

test('TotpSource: first code now, second for the next step, then none (openconnect oath.c)', () => {
  const key = Buffer.from('12345678901234567890');
  let now = 1111111109;
  const src = new TotpSource({ key, algorithm: 'sha1', form: 'raw' }, () => now);
  assert.equal(src.next(), totpCode(key, 1111111109));
  now += 500; // the second code follows the first one's step, not the clock
  assert.equal(src.next(), totpCode(key, 1111111109 + 30));
  assert.equal(src.available, false);
  assert.equal(src.next(), undefined);
});

// ------------------------------------------------------------------ FormFiller

const quiet = (): Progress => new Progress({ verbosity: -1, dumpHttp: false, out: { write: () => true } as unknown as NodeJS.WritableStream });

function stdinPrompter(lines: string[]): Prompter & { read: number } {
  const p = {
    read: 0,
    interactive: false,
    ask: () => Promise.reject(new Error('not interactive')),
    stdinLine: () => {
      p.read++;
      return Promise.resolve(lines.shift());
    },
    close: () => undefined,
  };
  return p;
}

function ttyPrompter(answers: string[]): Prompter & { asked: string[] } {
  const p = {
    asked: [] as string[],
    interactive: true,
    ask: (label: string) => {
      p.asked.push(label);
      const a = answers.shift();
      return a === undefined ? Promise.reject(new Error(`unexpected question ${label}`)) : Promise.resolve(a);
    },
    stdinLine: () => Promise.reject(new Error('stdin is the terminal')),
    close: () => undefined,
  };
  return p;
}

// ocserv 1.1 rounds with plain[passwd,otp]: username, password, OTP (same shape as the password)
const OCSERV_USER = form('main', [txt('username'), { kind: 'select', name: 'group_list', label: 'Group:', options: [{ value: 'Employees', label: 'Employees', selected: false }] }]);
const OCSERV_PASS = form('main', [pw('password', 'Password:')], 'Please enter your password.');
const OCSERV_OTP = form('main', [pw('password', 'Password:')], 'Please enter your OTP password.');

test('--passwd-on-stdin: one line per password prompt, in order; text fields never read stdin', async () => {
  const p = stdinPrompter(['secret', '123456', 'extra']);
  const f = new FormFiller({ user: 'alice', passwordOnStdin: true, prompter: p }, quiet());
  assert.deepEqual([...(await f.fill(OCSERV_USER, 'Employees', false))], [['username', 'alice'], ['group_list', 'Employees']]);
  assert.equal(p.read, 0);
  assert.equal((await f.fill(OCSERV_PASS, undefined, false)).get('password'), 'secret');
  assert.equal((await f.fill(OCSERV_OTP, undefined, false)).get('password'), '123456');
  assert.equal(p.read, 2, 'the third line is left alone');
  await assert.rejects(f.fill(form('main', [pw('password')]), undefined, false).then(() => f.fill(form('main', [pw('password')]), undefined, false)), (e: unknown) => e instanceof MissingInputError && /no more lines/.test(e.message));
});

test('-F: the first password still comes from stdin (openconnect), later ones from -F; -F fills text fields', async () => {
  const p = stdinPrompter(['secret']);
  const entries = FormEntries.parse(['main:password=654321', 'main:realm=corp']);
  const f = new FormFiller({ user: 'alice', passwordOnStdin: true, prompter: p, formEntries: entries }, quiet());
  assert.equal((await f.fill(OCSERV_PASS, undefined, false)).get('password'), 'secret');
  assert.equal((await f.fill(OCSERV_OTP, undefined, false)).get('password'), '654321');
  assert.equal((await f.fill(form('main', [txt('realm')]), undefined, false)).get('realm'), 'corp');
  assert.equal(p.read, 1);
  // a value from -F is not sent again after a failure (it would fail again)
  await assert.rejects(f.fill(OCSERV_OTP, undefined, true), MissingInputError);
  // without stdin, -F answers the first password too; a missing text field names -F
  const g = new FormFiller({ passwordOnStdin: false, prompter: stdinPrompter([]), formEntries: entries }, quiet());
  assert.equal((await g.fill(OCSERV_PASS, undefined, false)).get('password'), '654321');
  await assert.rejects(g.fill(form('challenge', [txt('pin')]), undefined, false), (e: unknown) => e instanceof MissingInputError && /-F challenge:pin=VALUE/.test(e.message));
});

test('--token-mode: the code goes to the token field only; stdin lines stay for the other prompts', async () => {
  const key = Buffer.from('12345678901234567890');
  const now = 1234567890;
  const token = new TotpSource({ key, algorithm: 'sha1', form: 'raw' }, () => now);
  const p = stdinPrompter(['secret', 'second-line']);
  const f = new FormFiller({ user: 'alice', passwordOnStdin: true, prompter: p, token }, quiet());
  // ocserv plain[otp]: auth id main, input "password": not a token field; the stdin line answers
  assert.equal((await f.fill(OCSERV_PASS, undefined, false)).get('password'), 'secret');
  // ocserv RADIUS challenge: secondary_password
  const radius = form('main', [pw('secondary_password', 'Password2:')], 'Enter your token code');
  assert.equal((await f.fill(radius, undefined, false)).get('secondary_password'), totpCode(key, now));
  assert.equal(p.read, 1);
  // our gateway's / ASA's challenge form; a failed code gets one more try with the next step
  const challenge = form('challenge', [pw('password', 'Code:')]);
  assert.equal(f.canRetryUnattended(challenge), true);
  assert.equal((await f.fill(challenge, undefined, true)).get('password'), totpCode(key, now + 30));
  assert.equal(f.canRetryUnattended(challenge), false, 'two codes, then openconnect stops');
  // then the field is a password like any other: the next stdin line (not after a failure)
  assert.equal((await f.fill(challenge, undefined, false)).get('password'), 'second-line');
  assert.equal(f.canRetryUnattended(OCSERV_OTP), false);
});

test('challenge reply: only the challenge form\'s fields, answer -> <password>, opaque echoed, no group-select', () => {
  const doc = parseGatewayAuth(`<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-request" aggregate-auth-version="2">
<opaque is-for="sg"><auth-handle>42</auth-handle></opaque>
<auth id="challenge"><message>Enter the code</message><form><input type="password" name="answer" label="Code:"/></form></auth></config-auth>`);
  const values = new Map([['answer', '123456']]);
  const xml = buildAuthReply({ identity: { version: 'vtest', deviceId: 'linux-64' }, parts: replyParts(doc.form!, values), opaque: doc.opaque! });
  assert.match(xml, /<opaque is-for="sg"><auth-handle>42<\/auth-handle><\/opaque>/);
  assert.match(xml, /<auth><password>123456<\/password><\/auth>/);
  assert.doesNotMatch(xml, /username|group-select|answer/);
});

const CHANGE = form('passwd-change', [pw('new_password', 'New password:'), pw('verify_password', 'Confirm new password:')], 'Your password has expired');

test('new password from stdin: one line, sent once as <password>, verify_password not sent', async () => {
  const p = stdinPrompter(['old', 'N3w-pass']);
  const f = new FormFiller({ user: 'alice', passwordOnStdin: true, prompter: p }, quiet());
  await f.fill(OCSERV_PASS, undefined, false); // the login's password takes the first line
  const values = await f.fill(CHANGE, undefined, false);
  assert.equal(values.get('new_password'), 'N3w-pass');
  assert.equal(values.get('verify_password'), 'N3w-pass');
  assert.equal(p.read, 2);
  const parts = replyParts(CHANGE, values);
  assert.deepEqual(parts.auth.map((x) => [x.name, x.value]), [['password', 'N3w-pass']]);
  assert.equal(parts.groupSelect, undefined);
});

test('new password typed by a person: asked twice, must match, three tries', async () => {
  const ok = ttyPrompter(['a1', 'a2', 'b1', 'b1']);
  const f = new FormFiller({ passwordOnStdin: false, prompter: ok }, quiet());
  assert.equal((await f.fill(CHANGE, undefined, false)).get('new_password'), 'b1');
  assert.deepEqual(ok.asked, ['New password:', 'Confirm new password:', 'New password:', 'Confirm new password:']);
  assert.equal(f.prompted, true);
  const bad = ttyPrompter(['1', '2', '3', '4', '5', '6']);
  await assert.rejects(new FormFiller({ passwordOnStdin: false, prompter: bad }, quiet()).fill(CHANGE, undefined, false), (e: unknown) => e instanceof MissingInputError && /differ 3 times/.test(e.message));
  // a plain password field is asked once
  const one = ttyPrompter(['pw']);
  assert.equal((await new FormFiller({ passwordOnStdin: false, prompter: one }, quiet()).fill(OCSERV_PASS, undefined, false)).get('password'), 'pw');
  assert.deepEqual(one.asked, ['Password:']);
});

// ------------------------------------------------------------------ re-asked or a new question

test('the same form again: a failure only when it says so or repeats itself', () => {
  assert.equal(isAskedAgain('Login failed.\nPlease enter your password.', 'Please enter your password.'), true, 'ocserv wrong password');
  assert.equal(isAskedAgain('Please enter your OTP password.', 'Please enter your password.'), false, 'ocserv OTP round');
  assert.equal(isAskedAgain('Enter the next code', 'Enter your token code'), false, 'second RADIUS challenge');
  assert.equal(isAskedAgain('Please enter your password.', 'Please enter your password.'), true, 'the same question again');
  assert.equal(isAskedAgain(undefined, 'x'), true);
  assert.equal(isAskedAgain('Wrong code, try again', 'Enter your code'), true);
  assert.equal(isAskedAgain('Access denied', undefined), true);
});
